"""The evaluator interface every data kind implements, and the image comparisons the evaluators share.

An evaluator is built once per evaluation from the eval records and the candidate export's metadata; it holds
everything that does not depend on the model (the real images, their features, a classifier, the targets), so the
candidate and the baseline are scored on exactly the same images:

    evaluator = kind.evaluator()(records, metadata, seed=0, max_examples=64, source="<examples>/Split-eval")
    evaluator.metrics(ServedModel(path))   # -> {metric: float or None}, the names the kind declares in `metrics`
    evaluator.reference                    # model-independent numbers for scale (may be {})
    evaluator.num_images                   # images each model translates
    evaluator.protocol                     # how the metrics are computed (name, description, feature network...)
    evaluator.incompatibility(metadata)    # why another export cannot be compared on these images, or None

`metrics` (optional) selects a subset of the kind's metrics; the others are not computed and not reported. A
selected metric that cannot be computed here (its weights are not on the machine, images too small for it) is
None in `metrics(model)` and its one-line reason is in ``evaluator.skipped``: never silently absent.

`records` is an iterable of parsed examples (`Evaluator.parse`: `i2i_keras.data.schema.parse_example` as numpy
values); an evaluator reads only as many as it needs (`max_examples` per evaluated domain). A metric is None when
it cannot be computed on these images (e.g. SSIM of images under 11 px). Problems with the data are `DataError`s
(code ``empty_eval_split``, ``inconsistent_labels``, ...), problems with the export `RequestError`s
(`i2i_keras.evaluation.exported`).
"""

from __future__ import annotations

import functools
from typing import Any, Iterable, Mapping, Optional

import numpy as np
import tensorflow as tf

from i2i_keras import metrics as image_metrics
from i2i_keras.metrics import image as sr_metrics
from i2i_keras.data import schema
from i2i_keras.data import transforms
from i2i_keras.errors import ConfigError
from i2i_keras.errors import RequestError
from i2i_keras.errors import WeightsUnavailable

SSIM_MIN_SIZE = 11  # the 11x11 Gaussian window of tf.image.ssim
LPIPS_MIN_SIZE = 16  # LPIPS' VGG16 halves the image four times before its last tap
SAMPLES_KEPT = 8  # images per evaluated model kept for a report's sample grid


def decode(encoded: bytes, channels: int) -> tf.Tensor:
    """Encoded image -> float32 [1, H, W, channels] in [-1, 1] (`transforms.decode_image`, as serving decodes)."""
    return transforms.decode_image(encoded, channels)[None]


def mean_or_none(values: list) -> Optional[float]:
    return float(np.mean(values)) if values else None


def compare(prediction: tf.Tensor, truth: tf.Tensor, crop_border: int = 0) -> dict:
    """One image [1, H, W, C] against another of the same shape: ``psnr``, ``ssim`` (None under `SSIM_MIN_SIZE`
    px) and ``l1`` (mean absolute error on the [-1, 1] scale) on all channels (`i2i_keras.metrics.psnr` / `ssim`,
    the training validation's functions), and ``psnr_y`` / ``ssim_y`` in the super-resolution convention
    (`i2i_keras.metrics.image.psnr_sr` / `ssim_sr`: BT.601 luma, 0-255, `crop_border` px shaved; the output's
    uint8 PNG values, as published numbers are measured)."""
    small = min(truth.shape[1:3]) < SSIM_MIN_SIZE
    shaved = min(truth.shape[1:3]) - 2 * crop_border
    pred_u8, truth_u8 = (transforms.to_uint8(x).numpy() for x in (prediction, truth))
    return {"psnr": float(image_metrics.psnr(prediction, truth)),
            "ssim": None if small else float(image_metrics.ssim(prediction, truth)),
            "l1": float(tf.reduce_mean(tf.abs(prediction - truth))),
            "psnr_y": None if shaved < 1 else sr_metrics.psnr_sr(pred_u8, truth_u8, crop_border=crop_border).mean,
            "ssim_y": None if shaved < SSIM_MIN_SIZE else
            sr_metrics.ssim_sr(pred_u8, truth_u8, crop_border=crop_border).mean}


@functools.lru_cache(maxsize=1)
def _lpips_model():
    from i2i_keras.metrics.lpips import LPIPS

    return LPIPS()


def lpips_model() -> tuple:
    """``(LPIPS, None)`` or ``(None, reason)`` when its VGG16 weights are not on this machine (built once)."""
    try:
        return _lpips_model(), None
    except WeightsUnavailable as err:
        return None, str(err)


def lpips_distances(first: list, second: list) -> list:
    """LPIPS between decoded images [1, H, W, C] pairwise (same shapes per pair); None for pairs under
    `LPIPS_MIN_SIZE` px. Raises WeightsUnavailable via `lpips_model`'s reason when called without weights."""
    model, reason = lpips_model()
    if model is None:
        raise WeightsUnavailable(reason)
    out = []
    for a, b in zip(first, second):
        if min(a.shape[1:3]) < LPIPS_MIN_SIZE:
            out.append(None)
            continue
        a, b = (tf.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x for x in (a, b))
        out.append(float(np.asarray(model(a, b)).reshape(-1)[0]))
    return out


def average(rows: list) -> dict:
    """Per-image score dicts -> the mean of each key over the images where it is not None (None if none)."""
    keys = rows[0].keys() if rows else ()
    return {k: mean_or_none([r[k] for r in rows if r[k] is not None]) for k in keys}


class Evaluator:
    """Base of the evaluators (see the module docstring for the interface).

    Subclasses set `protocol_name`, `description`, `metric_names` (and `feature_network` when they use one) and
    implement `_collect(records)` (keep what they need from the records, raise `DataError` when that is nothing),
    `metrics(model)` and `num_images`.
    """

    protocol_name = "evaluator"
    description = ""
    metric_names: tuple = ()
    feature_network: Optional[str] = None

    def __init__(self, records: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any], seed: int = 0,
                 max_examples: int = 64, source: str = "eval split", metrics: Optional[Iterable[str]] = None,
                 judge: Optional[Any] = None):
        if metrics is not None:
            metrics = list(metrics)
            unknown = sorted(set(metrics) - set(self.metric_names))
            if unknown or not metrics:
                raise ConfigError(f"metrics {unknown or metrics} are not metrics of this evaluation; its metrics: "
                                  f"{list(self.metric_names)}", code="unknown_metric")
        self.selected = None if metrics is None else set(metrics)
        self.skipped: dict = {}
        # Metrics that do not apply to an evaluated model (a generator's input-relative metrics) -> why; their
        # thresholds are not checked (`report.run_evaluation`).
        self.not_applicable: dict = {}
        self.samples: list = []  # rows of (label, [PNG bytes]) of the last `metrics` call, for reports
        self.judge = judge
        if isinstance(max_examples, bool) or not isinstance(max_examples, (int, np.integer)) or max_examples < 1:
            raise ConfigError(f"`max_examples` must be a positive integer. Received: max_examples={max_examples!r}",
                              code="bad_value")
        self.metadata = dict(metadata or {})
        self.seed = int(seed)
        self.max_examples = int(max_examples)
        self.source = str(source)
        self.data_kind = self.metadata.get("data_kind")
        self.in_channels = int(self.metadata.get("in_channels") or 3)
        self.out_channels = int(self.metadata.get("out_channels") or 3)
        self.reference: dict = {}
        self._collect(iter(records))

    # ------------------------------------------------------------------------------------------- interface

    @classmethod
    def parse(cls, serialized: Any, kind_name: str) -> dict:
        """One serialized eval record -> numpy values (`schema.parse_example` with the kind's schema)."""
        return {k: v.numpy() for k, v in schema.parse_example(serialized, kind_name).items()}

    def _collect(self, records: Iterable[Mapping[str, Any]]) -> None:
        raise NotImplementedError

    @property
    def num_images(self) -> int:
        raise NotImplementedError

    def metrics(self, model: Any) -> dict:
        raise NotImplementedError

    @property
    def protocol(self) -> dict:
        return {"name": self.protocol_name, "description": " ".join(self.description.split()),
                "feature_network": self.feature_network, "metrics": list(self.reported_metrics),
                "max_examples": self.max_examples, "seed": self.seed}

    @property
    def reported_metrics(self) -> tuple:
        return tuple(m for m in self.metric_names if self.wants(m))

    def wants(self, name: str) -> bool:
        """Whether metric `name` was selected (all of the evaluator's metrics by default)."""
        return name in self.metric_names and (self.selected is None or name in self.selected)

    def skip(self, names: Iterable[str], reason: str) -> None:
        """Records why the selected metrics among `names` cannot be computed (reported as None)."""
        for name in names:
            if self.wants(name):
                self.skipped[name] = " ".join(str(reason).split())

    def not_for_this_model(self, names: Iterable[str], reason: str) -> None:
        """Records that the selected metrics among `names` do not apply to the evaluated model (None, reason in
        `skipped` and `not_applicable`)."""
        self.skip(names, reason)
        self.not_applicable.update({name: self.skipped[name] for name in names if name in self.skipped})

    def selected_values(self, values: Mapping[str, Any]) -> dict:
        """The selected metrics of `values` (None for those it lacks: skipped ones)."""
        return {name: values.get(name) for name in self.reported_metrics}

    def keep_samples(self, label: str, rows: list) -> None:
        """Keeps the first `SAMPLES_KEPT` rows (lists of PNG bytes: input, output[, target]) for a report."""
        self.samples = [(label, list(row)) for row in rows[:SAMPLES_KEPT]]

    def incompatibility(self, metadata: Mapping[str, Any]) -> Optional[str]:
        """Why an export with `metadata` cannot be scored on these images like the candidate, or None."""
        if metadata.get("data_kind") != self.data_kind:
            return f"data kind {metadata.get('data_kind')!r} differs from {self.data_kind!r}"
        return None

    # ------------------------------------------------------------------------------------------- helpers

    @staticmethod
    def _size_mismatch(model: Any, output: tf.Tensor, expected: tf.Tensor, what: str) -> RequestError:
        return RequestError(f"{getattr(model, 'version_dir', model)}: output {tuple(output.shape[1:3])} does not "
                            f"match its {what} {tuple(expected.shape[1:3])}", code="output_size_mismatch")
