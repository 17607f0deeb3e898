"""Evaluators without a ground truth per image: distribution metrics, the domain judge, content preservation.

Shared by all three: ``fd_vgg16`` and ``kid_vgg16``, the Fréchet distance and the kernel inception distance
(`i2i_keras.metrics.distribution`; KID: cubic polynomial kernel, unbiased MMD^2, mean over `KID_SUBSETS` subsets
of up to `KID_SUBSET_SIZE`) between the outputs and the real images, on ``vgg16_relu5_3_mean_224`` features
(`i2i_keras.evaluation.features`; not FID). Without the VGG16 weights they are None with the reason in
``skipped``.

- unpaired: eval domain-A images are translated through the first mode (A -> B); ``fd_vgg16`` / ``kid_vgg16``
  against the real eval B images, and ``domain_accuracy``, the fraction of translations that the domain judge
  (a classifier trained on the real eval A vs B images, or a saved one) calls B; ``lpips_diversity`` for exports
  with a sampling mode (the BicycleGAN protocol, `i2i_keras.metrics.lpips.lpips_diversity`). Reference: the same
  distances between the real A and B images, the judge's accuracy on the real images.
- multi_domain: every eval image is translated to another domain through the first mode with one target-label
  input (an int domain index or a float label vector): one-hot labels go to the next domain; with multi-hot
  attributes, attribute ``k = i mod D`` of image ``i`` is flipped (label-vector modes) or requested (index modes).
  Distances against all real eval images, and ``domain_accuracy``, the fraction of translations the judge
  (trained on the real eval images and their labels) assigns to the target (attributes: whose attribute ``k`` it
  predicts as the target asks).
- single (style transfer and other one-domain translation; no target): distances between the outputs and the real
  eval images, and content preservation: ``ssim_to_input``, ``l1_to_input`` and ``lpips_to_input`` of each output
  against its input (the output resized to the input's size, bilinear with antialiasing, when the sizes differ;
  SSIM only on images of at least 11 px, LPIPS of at least 16). Reference: the distances between the two halves of
  the real images (when there are at least 4). An unconditional generator (its first mode a generation mode, no
  input image) gives as many samples as there are eval images (`ServedModel.generate`, from the evaluation seed),
  scored on the distances alone; the content metrics do not apply to it (None, reason in ``skipped``, their
  thresholds not checked).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import numpy as np
import tensorflow as tf

from i2i_keras import metrics as image_metrics
from i2i_keras.data import schema
from i2i_keras.errors import ConfigError
from i2i_keras.errors import DataError
from i2i_keras.errors import WeightsUnavailable
from i2i_keras.evaluation.base import SSIM_MIN_SIZE
from i2i_keras.evaluation.base import Evaluator
from i2i_keras.evaluation.base import decode
from i2i_keras.evaluation.base import lpips_distances
from i2i_keras.evaluation.base import lpips_model
from i2i_keras.evaluation.base import mean_or_none
from i2i_keras.evaluation.features import DomainJudge
from i2i_keras.evaluation.features import RandomConvFeatures
from i2i_keras.evaluation.features import inception_features
from i2i_keras.evaluation.features import vgg_pooled_features
from i2i_keras.metrics.distribution import frechet_distance
from i2i_keras.metrics.distribution import kernel_inception_distance

ONEHOT = "onehot"
# (Fréchet distance metric, KID metric, the features' network or the reason it is not here)
FEATURE_SETS = (("fd_vgg16", "kid_vgg16", vgg_pooled_features), ("fid", "kid", inception_features))
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
DIVERSITY_SAMPLES = 20  # per input: 19 consecutive pairs, as BicycleGAN's evaluation
DIVERSITY_INPUTS = 16


def _accuracy(hits: np.ndarray) -> float:
    return float(np.mean(hits)) if len(hits) else float("nan")


class FeatureEvaluator(Evaluator):
    """Distances on VGG16 features, the domain judge and LPIPS diversity, shared by the evaluators of this module
    and the paired ones."""

    @property
    def feature_network(self) -> Optional[str]:
        network, _ = vgg_pooled_features()
        return network.name if network is not None else None

    def _feature_sets(self) -> list:
        """``(fd name, kid name, network)`` of each feature set with a selected metric whose network's weights are
        on this machine; the others' selected metrics are recorded as skipped, with the reason."""
        ready = []
        for fd, kid, get in FEATURE_SETS:
            if not (self.wants(fd) or self.wants(kid)):
                continue
            network, reason = get()
            if network is None:
                self.skip([fd, kid], reason)
            else:
                ready.append((fd, kid, network))
        return ready

    def _features(self, images: list) -> dict:
        """Decoded images -> {fd metric name: features} for every ready feature set."""
        return {fd: network(images) for fd, _, network in self._feature_sets()}

    def _distances(self, fake: dict, real: dict) -> dict:
        """The Fréchet distance and KID of every feature set present in both `fake` and `real` (`_features`)."""
        values = {}
        for fd, kid, _ in FEATURE_SETS:
            if fd in fake and fd in real:
                values[fd] = frechet_distance(fake[fd], real[fd])
                values[kid] = float(kernel_inception_distance(fake[fd], real[fd], num_subsets=KID_SUBSETS,
                                                              subset_size=KID_SUBSET_SIZE, seed=self.seed).mean)
        return values

    def _judge_features(self, images: list) -> np.ndarray:
        """Features of the judge's network: VGG16 when its weights are here, else ``random_conv_v1``."""
        network, _ = vgg_pooled_features()
        if network is not None:
            return network(images)
        if not hasattr(self, "_random_conv"):
            self._random_conv = RandomConvFeatures(self.seed)
        return self._random_conv(images)

    def _judge_network_name(self) -> str:
        network, _ = vgg_pooled_features()
        return network.name if network is not None else RandomConvFeatures.name

    def _fit_judge(self, features: np.ndarray, targets: np.ndarray, multi_label: bool, images: list) -> None:
        """Uses the judge given to the evaluator (checked against this data) or trains one on the real images."""
        name = self._judge_network_name()
        if self.judge is not None:
            if self.judge.feature_network != name or self.judge.num_classes != targets.shape[1] or \
                    self.judge.multi_label != multi_label:
                raise ConfigError(f"the given domain judge ({self.judge.feature_network}, {self.judge.num_classes} "
                                  f"classes, multi_label={self.judge.multi_label}) cannot judge this data ({name}, "
                                  f"{targets.shape[1]} classes, multi_label={multi_label})", code="bad_judge")
            return
        self.judge = DomainJudge(features, targets, multi_label=multi_label, feature_network=name,
                                 training_images=images)

    def _diversity(self, model: Any) -> Optional[float]:
        """LPIPS diversity (BicycleGAN protocol) of the export's sampling mode; None (reason in `skipped`) when
        the export has none or LPIPS has no weights."""
        mode = model.sampling_mode()
        if mode is None:
            self.skip(["lpips_diversity"], f"the export has no sampling mode (one taking images, num_samples and "
                                           f"seed, returning several images each); modes: {model.modes}")
            return None
        if lpips_model()[0] is None:
            self.skip(["lpips_diversity"], lpips_model()[1])
            return None
        from i2i_keras.metrics.lpips import lpips_diversity

        per_input = []
        for index, encoded in enumerate(self.inputs[:DIVERSITY_INPUTS]):
            samples = [decode(x, self.out_channels)[0] for x in
                       model.sample(encoded, DIVERSITY_SAMPLES, seed=self.seed + index, mode=mode)]
            if min(samples[0].shape[:2]) < 16:
                self.skip(["lpips_diversity"], "outputs are smaller than LPIPS' 16 px")
                return None
            stack = tf.stack(samples)
            per_input.append(tf.repeat(stack, 3, axis=-1) if stack.shape[-1] == 1 else stack)
        return float(lpips_diversity(per_input))

    @property
    def protocol(self) -> dict:
        extra = {"kid": {"subsets": KID_SUBSETS, "subset_size": KID_SUBSET_SIZE, "kernel": "(x.y/d + 1)^3"},
                 "features": {fd: dict(getattr(network, "description", {"name": network.name}))
                              for fd, _, network in self._feature_sets()}}
        lpips, _ = lpips_model()
        if lpips is not None and any(self.wants(m) for m in ("lpips", "lpips_to_input", "lpips_diversity")):
            extra["lpips"] = dict(lpips.description)
        if self.judge is not None:
            extra["domain_judge"] = self.judge.description
        return {**super().protocol, **extra}


class UnpairedEvaluator(FeatureEvaluator):
    """Unpaired data: records with ``image`` and ``domain`` (0: A, the source; otherwise B, the target)."""

    protocol_name = "unpaired_v2"
    description = ("eval domain-A images through the first mode (A -> B); fd_vgg16 / kid_vgg16 (fid / kid with the "
                   "FID Inception weights) of the translations "
                   "vs the real eval B images; domain_accuracy: fraction of translations the domain judge (trained "
                   "on the real eval A vs B images) calls B; lpips_diversity: exports with a sampling mode, "
                   "20 samples of each of up to 16 inputs, LPIPS between consecutive samples")
    metric_names = ("fd_vgg16", "kid_vgg16", "fid", "kid", "domain_accuracy", "lpips_diversity")

    def _collect(self, records: Iterable[Mapping[str, Any]]) -> None:
        sides: dict = {0: [], 1: []}
        for record in records:
            side = sides[0 if int(record[schema.DOMAIN]) == 0 else 1]
            if len(side) < self.max_examples:
                side.append(record[schema.IMAGE])
            if all(len(s) >= self.max_examples for s in sides.values()):
                break
        empty = [name for name, side in (("domain A (domain=0)", sides[0]), ("domain B (domain=1)", sides[1]))
                 if not side]
        if empty:
            raise DataError(self.source, f"the eval split has no {' / '.join(empty)} examples to evaluate on",
                            code="empty_eval_split")
        self.inputs = sides[0]
        # Translations and the real images they are compared with are decoded with the output domain's channels.
        real_a = [decode(x, self.in_channels) for x in sides[0]]
        real_b = [decode(x, self.out_channels) for x in sides[1]]
        self.real = self._features(real_b)
        self.reference.update({f"{k}_source_to_target": v
                               for k, v in self._distances(self._features(real_a), self.real).items()})
        if self.wants("domain_accuracy"):
            x = np.concatenate([self._judge_features(real_a), self._judge_features(real_b)])
            y = np.eye(2)[[0] * len(real_a) + [1] * len(real_b)]
            self._fit_judge(x, y, False, sides[0] + sides[1])
            self.reference["judge_accuracy_on_real"] = _accuracy(
                self.judge.probabilities(x).argmax(axis=1) == y.argmax(axis=1))

    @property
    def num_images(self) -> int:
        return len(self.inputs)

    def metrics(self, model: Any) -> dict:
        model.use_first_mode()
        served = model.translate(self.inputs)
        self.keep_samples(getattr(model, "mode", ""), [[a, b] for a, b in zip(self.inputs, served)])
        fake = [decode(x, self.out_channels) for x in served]
        values = self._distances(self._features(fake), self.real)
        if self.wants("domain_accuracy"):
            hits = self.judge.probabilities(self._judge_features(fake)).argmax(axis=1) == 1  # all should look B
            values["domain_accuracy"] = _accuracy(hits)
        if self.wants("lpips_diversity"):
            values["lpips_diversity"] = self._diversity(model)
        return self.selected_values(values)


class MultiDomainEvaluator(FeatureEvaluator):
    """Multi-domain data: records with ``image`` and ``label`` (one-hot domains or multi-hot attributes)."""

    protocol_name = "multi_domain_v2"
    description = ("every eval image to another domain through the first mode with one target-label input "
                   "(one-hot: the next domain; attributes: attribute i mod D flipped or requested); "
                   "fd_vgg16 / kid_vgg16 of the translations vs all real eval images; domain_accuracy: fraction of "
                   "translations the domain judge (trained on the real eval images and labels) assigns to the "
                   "target")
    metric_names = ("fd_vgg16", "kid_vgg16", "fid", "kid", "domain_accuracy")

    def _collect(self, records: Iterable[Mapping[str, Any]]) -> None:
        images, labels, declared = [], [], set()
        for record in records:
            if len(images) >= self.max_examples:
                break
            mode = record.get("label_mode", b"")
            mode = mode.decode("utf-8", "replace") if isinstance(mode, bytes) else str(mode or "")
            if mode:
                declared.add(mode)
            label = np.asarray(record[schema.LABEL], np.float32).reshape(-1)
            if labels and label.shape != labels[0].shape:
                raise DataError(self.source, f"eval records have labels of different lengths ({labels[0].size} "
                                             f"and {label.size})", code="inconsistent_labels")
            images.append(record[schema.IMAGE])
            labels.append(label)
        if not images:
            raise DataError(self.source, "the eval split has no image / label examples to evaluate on",
                            code="empty_eval_split")
        if labels[0].size == 0:
            raise DataError(self.source, "eval records have empty labels", code="inconsistent_labels")
        labels = np.stack(labels)
        self.inputs = images
        real = [decode(x, self.out_channels) for x in images]
        self.real = self._features(real)
        self.depth = labels.shape[1]
        # The records' declared label convention (`label_mode`: "onehot" or "attributes") when they carry one,
        # else inferred: one-hot when every label has exactly one 1.
        if len(declared) > 1:
            raise DataError(self.source, f"eval records declare different label modes {sorted(declared)}",
                            code="inconsistent_labels")
        self.one_hot = (declared.pop() == ONEHOT) if declared else bool(np.all(labels.sum(axis=1) == 1.0))
        if self.one_hot and not np.all(labels.sum(axis=1) == 1.0):
            raise DataError(self.source, "eval records declare one-hot labels but some have not exactly one 1",
                            code="inconsistent_labels")
        rows = np.arange(len(labels))
        if self.one_hot:
            self.target_class = (labels.argmax(axis=1) + 1) % self.depth
        else:
            # Attribute k = i mod D of image i: flipped (label-vector modes) or the one to turn on (index modes).
            self.target_class = rows % self.depth
            self.flipped = labels.copy()
            self.flipped[rows, self.target_class] = 1.0 - self.flipped[rows, self.target_class]
        if self.wants("domain_accuracy"):
            features = self._judge_features(real)
            self._fit_judge(features, labels, not self.one_hot, images)
            probabilities = self.judge.probabilities(features)
            hits = (probabilities.argmax(axis=1) == labels.argmax(axis=1)) if self.one_hot else \
                ((probabilities > 0.5) == (labels > 0.5))
            self.reference["judge_accuracy_on_real"] = _accuracy(hits.reshape(-1))

    @property
    def num_images(self) -> int:
        return len(self.inputs)

    @property
    def protocol(self) -> dict:
        return {**super().protocol, "labels": ONEHOT if self.one_hot else "attributes"}

    def metrics(self, model: Any) -> dict:
        name, kind = model.use_label_mode(self.depth, "index" if self.one_hot else "vector")
        if kind == "index":
            extra = self.target_class
        else:
            extra = np.eye(self.depth, dtype=np.float32)[self.target_class] if self.one_hot else self.flipped
        served = model.translate(self.inputs, extra, name)
        self.keep_samples(getattr(model, "mode", ""), [[a, b] for a, b in zip(self.inputs, served)])
        fake = [decode(x, self.out_channels) for x in served]
        values = self._distances(self._features(fake), self.real)
        if self.wants("domain_accuracy"):
            probabilities = self.judge.probabilities(self._judge_features(fake))
            rows = np.arange(len(fake))
            if self.one_hot:
                hits = probabilities.argmax(axis=1) == self.target_class
            elif kind == "vector":
                k = self.target_class
                hits = (probabilities[rows, k] > 0.5) == (self.flipped[rows, k] > 0.5)
            else:
                hits = probabilities[rows, self.target_class] > 0.5
            values["domain_accuracy"] = _accuracy(hits)
        return self.selected_values(values)


# The single kind's metrics that compare each output with its input (not for a generator).
INPUT_METRICS = ("ssim_to_input", "l1_to_input", "lpips_to_input")


class SingleImageEvaluator(FeatureEvaluator):
    """One-domain data without targets: records with ``image``. A generator (first mode a generation mode) is
    scored by as many samples as there are eval images (seeds from the evaluator's seed) on the distribution
    metrics alone."""

    protocol_name = "single_v2"
    description = ("eval images through the first mode; fd_vgg16 / kid_vgg16 of the outputs vs the real eval "
                   "images; content preservation: ssim_to_input (images >= 11 px), l1_to_input ([-1, 1] scale) and "
                   "lpips_to_input (>= 16 px) of each output vs its input (output resized to the input's size when "
                   "they differ), averaged over images; a generator (no input image): as many samples as eval "
                   "images, from the evaluation seed, on fd_vgg16 / kid_vgg16 (fid / kid) alone")
    metric_names = ("fd_vgg16", "kid_vgg16", "fid", "kid", "ssim_to_input", "l1_to_input", "lpips_to_input")

    def _collect(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.inputs = []
        for record in records:
            if len(self.inputs) >= self.max_examples:
                break
            self.inputs.append(record[schema.IMAGE])
        if not self.inputs:
            raise DataError(self.source, "the eval split has no image examples to evaluate on",
                            code="empty_eval_split")
        # Outputs are compared with the inputs in the output's channels.
        self.originals = [decode(x, self.out_channels) for x in self.inputs]
        self.real = self._features(self.originals)
        if len(self.inputs) >= 4:
            half = len(self.inputs) // 2
            self.reference.update({f"{k}_between_halves": v for k, v in self._distances(
                {k: v[:half] for k, v in self.real.items()}, {k: v[half:] for k, v in self.real.items()}).items()})

    @property
    def num_images(self) -> int:
        return len(self.inputs)

    def metrics(self, model: Any) -> dict:
        generation = model.generation_mode() if hasattr(model, "generation_mode") else None
        if generation is not None:
            return self._generator_metrics(model, generation)
        model.use_first_mode()
        served = model.translate(self.inputs)
        self.keep_samples(getattr(model, "mode", ""), [[a, b] for a, b in zip(self.inputs, served)])
        outputs = []
        for output, original in zip((decode(x, self.out_channels) for x in served), self.originals):
            if output.shape[1:3] != original.shape[1:3]:
                output = tf.clip_by_value(tf.image.resize(output, original.shape[1:3], method="bilinear",
                                                          antialias=True), -1.0, 1.0)
            outputs.append(output)
        values: dict = {"l1_to_input": mean_or_none([float(tf.reduce_mean(tf.abs(o - i)))
                                                     for o, i in zip(outputs, self.originals)]),
                        "ssim_to_input": mean_or_none([float(image_metrics.ssim(o, i))
                                                       for o, i in zip(outputs, self.originals)
                                                       if min(i.shape[1:3]) >= SSIM_MIN_SIZE])}
        values.update(self._distances(self._features(outputs), self.real))
        if self.wants("lpips_to_input"):
            try:
                values["lpips_to_input"] = mean_or_none([d for d in lpips_distances(outputs, self.originals)
                                                         if d is not None])
            except WeightsUnavailable as err:
                self.skip(["lpips_to_input"], str(err))
        return self.selected_values(values)

    def _generator_metrics(self, model: Any, mode: str) -> dict:
        """An unconditional generator (its first mode is a generation mode): as many samples as there are eval
        images, from the evaluator's seed, against the real images; the input-relative metrics do not apply."""
        model.use(mode)
        served = model.generate(len(self.inputs), self.seed, mode)
        self.keep_samples(mode, [[x] for x in served])
        values = self._distances(self._features([decode(x, self.out_channels) for x in served]), self.real)
        self.not_for_this_model(INPUT_METRICS, f"mode {mode!r} generates images without an input image: there is "
                                               f"no input to compare each output with")
        return self.selected_values(values)

