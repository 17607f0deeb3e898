"""Evaluation: the exported SavedModel (the very artifact the Pusher serves) on the eval split -> metrics + blessing.

The model is loaded with `i2i_keras.export.load_exported` and called through its first translation mode's bytes
signature (``<mode>_bytes``, the one that is also ``serving_default``), so the metrics are those of what a TF
Serving client gets back: PNG images decoded by `i2i_keras.data.transforms.decode_image`, like every input.

Metrics by data kind (read from the export's metadata):

- paired: ``psnr`` and ``ssim`` (`i2i_keras.metrics`; SSIM on images of at least 11 px) and ``l1`` (mean absolute
  error, [-1, 1] scale), each image against its ground-truth target at its own size, averaged over images.
- unpaired: eval domain-A images are translated (the first mode, A -> B); ``frechet_distance`` between the
  features of the translations and of the real eval B images, and ``domain_accuracy``, the fraction of
  translations that a classifier trained on the real eval A vs B images calls B.
- multi_domain: every eval image is translated to another domain through the first mode with one target-label
  input (an int domain index or a float label vector): one-hot labels go to the next domain; with multi-hot
  attributes, attribute ``k = i mod D`` of image ``i`` is flipped (label-vector modes) or requested (index
  modes). ``frechet_distance`` between translations and all real eval images, and ``domain_accuracy``, the
  fraction of translations that a classifier trained on the real eval images assigns to the target domain
  (attributes: whose attribute ``k`` it predicts as the target asks).

Feature network (no downloaded weights anywhere): ``random_conv_v1``, a fixed-seed random-init conv net: images
resized to 64x64 (bilinear), gray replicated to RGB, three 3x3 stride-2 convolutions with 16, 32 and 64 filters,
He-normal weights drawn with `numpy.random.default_rng(seed)`, ReLU, global average pooling -> 64 features. The
Fréchet distance on it compares colour and low-level texture statistics; it is not FID and is not comparable to
published FID numbers. The classifier is a softmax (multi-hot: per-attribute logistic) regression on the
standardised features, trained by full-batch gradient descent with a fixed schedule: deterministic.
``reference`` in the metrics JSON holds model-independent numbers for scale (the distance between the real
source and target images, the classifier's accuracy on the real images it was trained on).

Blessing: thresholds are ``{metric: {"lower_bound": x, "upper_bound": y, "max_regression": z}}``.
``max_regression`` compares with the last blessed model (the ``baseline_model`` input, resolved by TFX's
LatestBlessedModelStrategy), evaluated here on the same images: the candidate may be worse by at most ``z`` in
the metric's own units (psnr dB, ssim, l1, distance, accuracy fraction). Without a baseline those checks pass and
say so. The model is blessed when every check passes and every metric is finite. The ModelBlessing artifact gets
the custom properties the Pusher and the resolver read (``blessed``, ``current_model``, ``current_model_id``,
``baseline_model``, ``baseline_model_id``) and a ``BLESSED`` or ``NOT_BLESSED`` file, as TFX's Evaluator writes.
"""

import json
import math
import os
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf
from absl import logging
from tfx import v1 as tfx
from tfx.utils import path_utils

from i2i_keras import metrics as i2i_metrics
from i2i_keras.data import schema
from i2i_keras.data import transforms
from i2i_keras.export import BYTES_SUFFIX
from i2i_keras.export import IMAGES_KEY
from i2i_keras.export import load_exported

METRICS_FILE = "metrics.json"
# +1: higher is better, -1: lower is better.
DIRECTIONS = {"psnr": 1, "ssim": 1, "l1": -1, "frechet_distance": -1, "domain_accuracy": 1}
KIND_METRICS = {
    "paired": ("psnr", "ssim", "l1"),
    "unpaired": ("frechet_distance", "domain_accuracy"),
    "multi_domain": ("frechet_distance", "domain_accuracy"),
}
CHECKS = ("lower_bound", "upper_bound", "max_regression")
FEATURE_NETWORK = "random_conv_v1"
FEATURE_SIZE = 64
_BATCH = 8
_SSIM_MIN_SIZE = 11


class EvaluationError(ValueError):
    """The model or the eval data cannot be evaluated; the message names what and why."""


# ----------------------------------------------------------------------------------------------- thresholds


def validate_thresholds(data_kind: str, thresholds: Any) -> dict:
    """Checks a thresholds dict against the metrics of `data_kind`; returns it with float values.

    Raises:
        ValueError: an unknown metric or check, or a value that is not a number (max_regression: >= 0).
    """
    if data_kind not in KIND_METRICS:
        raise ValueError(f"`data_kind` must be one of {sorted(KIND_METRICS)}. Received: data_kind={data_kind!r}")
    if not isinstance(thresholds, dict):
        raise ValueError(f"`thresholds` must be a dict of metric -> {{check: value}}. Received: {thresholds!r}")
    allowed = KIND_METRICS[data_kind]
    out = {}
    for metric, checks in thresholds.items():
        if metric not in allowed:
            raise ValueError(f"Unknown metric {metric!r} for {data_kind} data; metrics: {list(allowed)}. "
                             f"Received: thresholds[{metric!r}]={checks!r}")
        if not isinstance(checks, dict) or not checks:
            raise ValueError(f"`thresholds[{metric!r}]` must be a non-empty dict with keys from {list(CHECKS)}. "
                             f"Received: {checks!r}")
        out[metric] = {}
        for check, value in checks.items():
            if check not in CHECKS:
                raise ValueError(f"Unknown check {check!r} for metric {metric!r}; checks: {list(CHECKS)}. "
                                 f"Received: thresholds[{metric!r}][{check!r}]={value!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"`thresholds[{metric!r}][{check!r}]` must be a finite number. Received: {value!r}")
            if check == "max_regression" and value < 0:
                raise ValueError(f"`thresholds[{metric!r}]['max_regression']` must be >= 0. Received: {value!r}")
            out[metric][check] = float(value)
    return out


def _finite(value: Optional[float]) -> bool:
    return value is not None and math.isfinite(value)


def check_blessing(metrics: dict, thresholds: dict, baseline: Optional[dict] = None) -> tuple:
    """``(blessed, checks)``: every threshold check and the finiteness of every metric, as a list of dicts."""
    checks = []
    for name, value in sorted(metrics.items()):
        # None: not computable here (e.g. SSIM of images under 11 px), which only matters when thresholded;
        # NaN or infinity: the model produced something broken.
        if value is not None and not math.isfinite(value) and name not in thresholds:
            checks.append({"metric": name, "check": "finite", "value": value, "passed": False,
                           "detail": "metric is not a finite number"})
    for name, spec in sorted(thresholds.items()):
        value = metrics.get(name)
        for check, limit in sorted(spec.items()):
            row = {"metric": name, "check": check, "threshold": limit, "value": value}
            if check == "max_regression":
                base = (baseline or {}).get(name)
                if baseline is None:
                    row.update(passed=True, detail="no blessed baseline model yet")
                elif not (_finite(value) and _finite(base)):
                    row.update(passed=False, baseline=base, detail="metric or baseline metric is not finite")
                else:
                    regression = (base - value) * DIRECTIONS[name]
                    row.update(baseline=base, regression=regression, passed=regression <= limit)
            elif not _finite(value):
                row.update(passed=False, detail="metric was not computed or is not finite")
            else:
                row["passed"] = value >= limit if check == "lower_bound" else value <= limit
            checks.append(row)
    return all(c["passed"] for c in checks), checks


# ----------------------------------------------------------------------------------------------- eval data


def read_eval_split(examples_uri: str, data_kind: str, limit: int) -> dict:
    """Encoded images of ``<examples_uri>/Split-eval``: paired ``{"source", "target"}``, unpaired ``{"a", "b"}``
    (at most `limit` each), multi_domain ``{"image", "label"}`` (at most `limit`). Encoded bytes stay as they are."""
    split_dir = os.path.join(examples_uri, "Split-eval")
    files = sorted(tf.io.gfile.glob(os.path.join(split_dir, "*")))
    if not files:
        raise EvaluationError(f"{split_dir}: no eval TFRecord shards")
    records = tf.data.TFRecordDataset(files, compression_type="GZIP" if files[0].endswith(".gz") else "")
    out: dict = {"paired": {"source": [], "target": []}, "unpaired": {"a": [], "b": []},
                 "multi_domain": {"image": [], "label": []}}[data_kind]
    for record in records:
        x = schema.parse_example(record, data_kind)
        if data_kind == "paired":
            if len(out["source"]) < limit:
                out["source"].append(x[schema.SOURCE].numpy())
                out["target"].append(x[schema.TARGET].numpy())
        elif data_kind == "unpaired":
            side = out["a" if int(x[schema.DOMAIN]) == 0 else "b"]
            if len(side) < limit:
                side.append(x[schema.IMAGE].numpy())
        elif len(out["image"]) < limit:
            out["image"].append(x[schema.IMAGE].numpy())
            out["label"].append(x[schema.LABEL].numpy().astype(np.float32))
    empty = [k for k, v in out.items() if not v]
    if empty:
        raise EvaluationError(f"{split_dir}: the eval split has no {' / '.join(empty)} examples to evaluate on")
    if data_kind == "multi_domain":
        out["label"] = np.stack(out["label"])
    return out


# ----------------------------------------------------------------------------------------------- the model


class ServedModel:
    """An export as TF Serving serves it: encoded images in, PNG bytes out, through a ``<mode>_bytes`` signature.

    The mode is the first one (the ``serving_default`` one), which for paired and unpaired methods must take the
    images alone; multi-domain evaluation picks the first mode with one target-label input (`use_label_mode`).
    """

    def __init__(self, path: str):
        self.path = path
        self.loaded, self.metadata = load_exported(path)
        self.modes = list(self.metadata.get("modes") or [])
        self.data_kind = self.metadata.get("data_kind")
        if not self.modes or self.data_kind not in KIND_METRICS:
            raise EvaluationError(f"{path}: the export's metadata names no translation mode or an unsupported data "
                                  f"kind (modes={self.modes}, data_kind={self.data_kind!r}); export it with "
                                  f"i2i_keras.export.export_for_serving")
        self.out_channels = int(self.metadata.get("out_channels") or 3)
        self._use(self.modes[0])
        if self.data_kind != "multi_domain" and self.extra:
            raise EvaluationError(f"{path}: the first translation mode {self.mode!r} takes {sorted(self.extra)} "
                                  f"besides {IMAGES_KEY!r}; {self.data_kind} evaluation needs one taking images only")

    def _use(self, mode: str) -> None:
        name = mode + BYTES_SUFFIX
        if name not in self.loaded.signatures:
            raise EvaluationError(f"{self.path}: no signature {name!r}; signatures: {sorted(self.loaded.signatures)}")
        self.mode, self.signature = mode, self.loaded.signatures[name]
        self.extra = {k: v for k, v in self.signature.structured_input_signature[1].items() if k != IMAGES_KEY}

    def _label_kind(self, depth: int) -> Optional[str]:
        """"vector" (float [batch, depth]), "index" (int [batch]) or None for the current mode's extra inputs."""
        if len(self.extra) != 1:
            return None
        spec = next(iter(self.extra.values()))
        shape = spec.shape
        if spec.dtype.is_floating and shape.rank == 2 and shape[1] in (None, depth):
            return "vector"
        if spec.dtype.is_integer and (shape.rank == 1 or (shape.rank == 2 and shape[1] in (None, 1))):
            return "index"
        return None

    def use_label_mode(self, depth: int, prefer: str) -> tuple:
        """Switches to the first mode with one target-label input of kind `prefer` ("vector" or "index"), else of
        the other kind; returns (input name, kind)."""
        found = {}
        for mode in self.modes:
            self._use(mode)
            kind = self._label_kind(depth)
            if kind and kind not in found:
                found[kind] = (mode, next(iter(self.extra)))
        if not found:
            raise EvaluationError(f"{self.path}: no translation mode takes a target label (float [batch, {depth}] "
                                  f"or int [batch]) besides {IMAGES_KEY!r}; modes: {self.modes}")
        kind = prefer if prefer in found else next(iter(found))
        mode, name = found[kind]
        self._use(mode)
        return name, kind

    def translate(self, encoded: list, extra: Optional[np.ndarray] = None, extra_name: str = "") -> list:
        """Encoded images -> the served PNG bytes, `_BATCH` at a time (`extra`: one row per image)."""
        outputs = []
        for start in range(0, len(encoded), _BATCH):
            kwargs = {IMAGES_KEY: tf.constant(encoded[start:start + _BATCH])}
            if extra is not None:
                spec = self.extra[extra_name]
                kwargs[extra_name] = tf.constant(extra[start:start + _BATCH], dtype=spec.dtype)
            outputs += list(self.signature(**kwargs)[IMAGES_KEY].numpy())
        return outputs


def _decode(encoded: bytes, channels: int) -> tf.Tensor:
    return transforms.decode_image(encoded, channels)[None]


# ----------------------------------------------------------------------------------------------- features


class RandomConvFeatures:
    """``random_conv_v1`` (see the module docstring): images in [-1, 1] -> [N, 64] features."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.kernels = []
        channels = 3
        for filters in (16, 32, 64):
            fan_in = 9 * channels
            self.kernels.append(tf.constant(rng.normal(0.0, math.sqrt(2.0 / fan_in), (3, 3, channels, filters)),
                                            tf.float32))
            channels = filters

    def __call__(self, images: list) -> np.ndarray:
        rows = []
        for image in images:
            x = tf.image.resize(tf.cast(image, tf.float32), [FEATURE_SIZE, FEATURE_SIZE], method="bilinear")
            if x.shape[-1] == 1:
                x = tf.repeat(x, 3, axis=-1)
            for kernel in self.kernels:
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=2, padding="SAME"))
            rows.append(tf.reduce_mean(x, axis=[1, 2])[0].numpy())
        return np.stack(rows).astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [N, D]:
    ``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)``, with symmetric eigendecompositions (stable
    for the rank-deficient covariances of small sets)."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.cov(a, rowvar=False) if len(a) > 1 else np.zeros((a.shape[1],) * 2)
    cov_b = np.cov(b, rowvar=False) if len(b) > 1 else np.zeros((b.shape[1],) * 2)
    vals, vecs = np.linalg.eigh(cov_a)
    sqrt_a = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)).sum()
    value = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(value, 0.0)


class LinearClassifier:
    """Softmax regression (``multi_label``: independent logistic regressions) on standardised features."""

    def __init__(self, features: np.ndarray, targets: np.ndarray, multi_label: bool = False,
                 steps: int = 500, learning_rate: float = 0.5, l2: float = 1e-3):
        self.mean = features.mean(axis=0)
        self.std = features.std(axis=0) + 1e-6
        x = (features - self.mean) / self.std
        self.multi_label = multi_label
        y = targets.astype(np.float64)
        self.w = np.zeros((x.shape[1], y.shape[1]))
        self.b = np.zeros(y.shape[1])
        for _ in range(steps):
            grad = (self._probabilities(x) - y) / len(x)
            self.w -= learning_rate * (x.T @ grad + l2 * self.w)
            self.b -= learning_rate * grad.sum(axis=0)

    def _probabilities(self, x: np.ndarray) -> np.ndarray:
        logits = np.clip(x @ self.w + self.b, -50.0, 50.0)  # exp() stays finite
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return self._probabilities((features - self.mean) / self.std)


# ----------------------------------------------------------------------------------------------- metrics


def paired_metrics(model: ServedModel, data: dict) -> dict:
    outputs = model.translate(data["source"])
    psnr, ssim, l1 = [], [], []
    for served, target in zip(outputs, data["target"]):
        prediction, truth = _decode(served, model.out_channels), _decode(target, model.out_channels)
        if prediction.shape != truth.shape:
            raise EvaluationError(f"{model.path}: output {tuple(prediction.shape[1:3])} does not match its target "
                                  f"{tuple(truth.shape[1:3])}")
        psnr.append(float(i2i_metrics.psnr(prediction, truth)))
        l1.append(float(tf.reduce_mean(tf.abs(prediction - truth))))
        if min(truth.shape[1:3]) >= _SSIM_MIN_SIZE:
            ssim.append(float(i2i_metrics.ssim(prediction, truth)))
    return {"psnr": float(np.mean(psnr)), "l1": float(np.mean(l1)),
            "ssim": float(np.mean(ssim)) if ssim else None}


class _DistributionContext:
    """What the unpaired / multi-domain metrics share between the candidate and the baseline: the real images'
    features, the classifier, and (multi-domain) the target labels."""

    def __init__(self, data_kind: str, data: dict, in_channels: int, out_channels: int, seed: int):
        self.data_kind = data_kind
        self.features = RandomConvFeatures(seed)
        # Translations and the real images they are compared with are decoded with the output domain's channels.
        self.channels = out_channels
        self.reference: dict = {}
        if data_kind == "unpaired":
            self.source = data["a"]
            real_a = self.features([_decode(x, in_channels) for x in data["a"]])
            self.real = self.features([_decode(x, out_channels) for x in data["b"]])
            x = np.concatenate([real_a, self.real])
            y = np.eye(2)[[0] * len(real_a) + [1] * len(self.real)]
            self.classifier = LinearClassifier(x, y)
            self.target_class = np.ones(len(self.source), np.int64)  # every translation should look like B
            self.reference["frechet_distance_source_to_target"] = frechet_distance(real_a, self.real)
            self.reference["classifier_accuracy_on_real"] = float(
                np.mean(self.classifier.probabilities(x).argmax(axis=1) == y.argmax(axis=1)))
            return
        labels = data["label"]
        self.source = data["image"]
        self.real = self.features([_decode(x, out_channels) for x in data["image"]])
        self.depth = labels.shape[1]
        self.one_hot = bool(np.all(labels.sum(axis=1) == 1.0))
        self.classifier = LinearClassifier(self.real, labels, multi_label=not self.one_hot)
        rows = np.arange(len(labels))
        if self.one_hot:
            self.target_class = (labels.argmax(axis=1) + 1) % self.depth
            accuracy = self.classifier.probabilities(self.real).argmax(axis=1) == labels.argmax(axis=1)
        else:
            # Attribute k = i mod D of image i: flipped (label-vector modes) or the one to turn on (index modes).
            self.target_class = rows % self.depth
            self.flipped = labels.copy()
            self.flipped[rows, self.target_class] = 1.0 - self.flipped[rows, self.target_class]
            accuracy = (self.classifier.probabilities(self.real) > 0.5) == (labels > 0.5)
        self.reference["classifier_accuracy_on_real"] = float(np.mean(accuracy))

    def metrics(self, model: ServedModel) -> dict:
        if self.data_kind == "unpaired":
            served = model.translate(self.source)
        else:
            name, kind = model.use_label_mode(self.depth, "index" if self.one_hot else "vector")
            if kind == "index":
                extra = self.target_class
            else:
                extra = np.eye(self.depth, dtype=np.float32)[self.target_class] if self.one_hot else self.flipped
            served = model.translate(self.source, extra, name)
        fake = self.features([_decode(x, self.channels) for x in served])
        probabilities = self.classifier.probabilities(fake)
        rows = np.arange(len(fake))
        if self.data_kind == "unpaired" or self.one_hot:
            hits = probabilities.argmax(axis=1) == self.target_class
        elif kind == "vector":
            k = self.target_class
            hits = (probabilities[rows, k] > 0.5) == (self.flipped[rows, k] > 0.5)
        else:
            hits = probabilities[rows, self.target_class] > 0.5
        return {"frechet_distance": frechet_distance(fake, self.real), "domain_accuracy": float(np.mean(hits))}


def evaluate_models(model_path: str, examples_uri: str, thresholds: dict, baseline_path: Optional[str] = None,
                    max_examples: int = 64, seed: int = 0) -> dict:
    """Evaluates the export at `model_path` (and the baseline export, if any) on the eval split and decides the
    blessing. Returns the metrics report (the content of metrics.json)."""
    model = ServedModel(model_path)
    thresholds = validate_thresholds(model.data_kind, thresholds)
    data = read_eval_split(examples_uri, model.data_kind, max_examples)
    if model.data_kind == "paired":
        compute: Callable = lambda m: paired_metrics(m, data)  # noqa: E731
        reference: dict = {}
        num_images = len(data["source"])
    else:
        context = _DistributionContext(model.data_kind, data, int(model.metadata.get("in_channels") or 3),
                                       model.out_channels, seed)
        compute, reference, num_images = context.metrics, context.reference, len(context.source)
    metrics = compute(model)
    baseline_report = None
    baseline_metrics = None
    if baseline_path:
        baseline = ServedModel(baseline_path)
        if baseline.data_kind != model.data_kind:
            baseline_report = {"path": baseline_path, "skipped": f"baseline data kind {baseline.data_kind!r} "
                                                                 f"differs from {model.data_kind!r}"}
        else:
            baseline_metrics = compute(baseline)
            baseline_report = {"path": baseline_path, "method": baseline.metadata.get("method"),
                               "metrics": baseline_metrics}
    blessed, checks = check_blessing(metrics, thresholds, baseline_metrics)
    return {
        "model": model_path,
        "method": model.metadata.get("method"),
        "data_kind": model.data_kind,
        "mode": model.mode,
        "signature": model.mode + BYTES_SUFFIX,
        "num_images": num_images,
        "feature_network": None if model.data_kind == "paired" else FEATURE_NETWORK,
        "metrics": metrics,
        "reference": reference,
        "baseline": baseline_report,
        "thresholds": thresholds,
        "checks": checks,
        "blessed": blessed,
    }


# ----------------------------------------------------------------------------------------------- TFX component


def _serving_path(model: Any) -> str:
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))


@tfx.dsl.components.component
def ImageEvaluator(
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
    evaluation: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ModelBlessing],
    baseline_model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model] = None,
    thresholds: tfx.dsl.components.Parameter[str] = "{}",
    max_examples: tfx.dsl.components.Parameter[int] = 64,
    seed: tfx.dsl.components.Parameter[int] = 0,
) -> None:
    """Metrics of the exported model on the eval split, and the blessing the Pusher checks (module docstring).
    `thresholds` is JSON."""
    baseline_path = _serving_path(baseline_model) if baseline_model is not None else None
    report = evaluate_models(_serving_path(model), examples.uri, json.loads(thresholds or "{}"), baseline_path,
                             max_examples=max_examples, seed=seed)
    with tf.io.gfile.GFile(os.path.join(evaluation.uri, METRICS_FILE), "w") as f:
        f.write(json.dumps(report, indent=1) + "\n")
    for name, value in report["metrics"].items():
        if _finite(value):
            evaluation.set_float_custom_property(name, value)
    blessed = bool(report["blessed"])
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w") as f:
        f.write(json.dumps({"metrics": report["metrics"], "checks": report["checks"]}, indent=1) + "\n")
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    if baseline_model is not None:
        blessing.set_string_custom_property("baseline_model", baseline_model.uri)
        blessing.set_int_custom_property("baseline_model_id", baseline_model.id)
    failed = [f"{c['metric']}.{c['check']}" for c in report["checks"] if not c["passed"]]
    logging.info("ImageEvaluator: %s %s%s", "BLESSED" if blessed else "NOT BLESSED", report["metrics"],
                 f"; failed checks: {failed}" if failed else "")
