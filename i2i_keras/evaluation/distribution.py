"""Evaluators without a ground truth per image: distribution metrics on the features of ``random_conv_v1``
(`i2i_keras.evaluation.features`; not FID).

- unpaired: eval domain-A images are translated through the first mode (A -> B); ``frechet_distance`` between
  the features of the translations and of the real eval B images, and ``domain_accuracy``, the fraction of
  translations that a classifier trained on the real eval A vs B images calls B. Reference: the distance between
  the real A and B images, the classifier's accuracy on the real images.
- multi_domain: every eval image is translated to another domain through the first mode with one target-label
  input (an int domain index or a float label vector): one-hot labels go to the next domain; with multi-hot
  attributes, attribute ``k = i mod D`` of image ``i`` is flipped (label-vector modes) or requested (index modes).
  ``frechet_distance`` between translations and all real eval images, and ``domain_accuracy``, the fraction of
  translations that a classifier trained on the real eval images assigns to the target domain (attributes: whose
  attribute ``k`` it predicts as the target asks).
- single (style transfer and other one-domain translation; no target): ``frechet_distance`` between the outputs
  and the real eval images, and content preservation: ``ssim_to_input`` and ``l1_to_input`` of each output against
  its input (the output resized to the input's size, bilinear with antialiasing, when the sizes differ; SSIM only
  on images of at least 11 px). Reference: the distance between the two halves of the real images (when there are
  at least 4), the scale of the distance between two samples of the same images.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import tensorflow as tf

from i2i_keras import metrics as image_metrics
from i2i_keras.data import schema
from i2i_keras.errors import DataError
from i2i_keras.evaluation.base import SSIM_MIN_SIZE
from i2i_keras.evaluation.base import Evaluator
from i2i_keras.evaluation.base import decode
from i2i_keras.evaluation.base import mean_or_none
from i2i_keras.evaluation.features import FEATURE_NETWORK
from i2i_keras.evaluation.features import LinearClassifier
from i2i_keras.evaluation.features import RandomConvFeatures
from i2i_keras.evaluation.features import frechet_distance


ONEHOT = "onehot"


def _accuracy(hits: np.ndarray) -> float:
    return float(np.mean(hits)) if len(hits) else float("nan")


class _FeatureEvaluator(Evaluator):
    feature_network = FEATURE_NETWORK

    def _features(self, encoded: list, channels: int) -> np.ndarray:
        if not hasattr(self, "_network"):
            self._network = RandomConvFeatures(self.seed)
        return self._network([decode(x, channels) for x in encoded])


class UnpairedEvaluator(_FeatureEvaluator):
    """Unpaired data: records with ``image`` and ``domain`` (0: A, the source; otherwise B, the target)."""

    protocol_name = "unpaired_v1"
    description = ("eval domain-A images through the first mode (A -> B); frechet_distance of random_conv_v1 "
                   "features of the translations vs the real eval B images; domain_accuracy: fraction of "
                   "translations a linear classifier trained on the real eval A vs B images calls B")
    metric_names = ("frechet_distance", "domain_accuracy")

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
        real_a = self._features(sides[0], self.in_channels)
        # Translations and the real images they are compared with are decoded with the output domain's channels.
        self.real = self._features(sides[1], self.out_channels)
        x = np.concatenate([real_a, self.real])
        y = np.eye(2)[[0] * len(real_a) + [1] * len(self.real)]
        self.classifier = LinearClassifier(x, y)
        self.reference["frechet_distance_source_to_target"] = frechet_distance(real_a, self.real)
        self.reference["classifier_accuracy_on_real"] = _accuracy(
            self.classifier.probabilities(x).argmax(axis=1) == y.argmax(axis=1))

    @property
    def num_images(self) -> int:
        return len(self.inputs)

    def metrics(self, model: Any) -> dict:
        model.use_first_mode()
        fake = self._features(model.translate(self.inputs), self.out_channels)
        hits = self.classifier.probabilities(fake).argmax(axis=1) == 1  # every translation should look like B
        return {"frechet_distance": frechet_distance(fake, self.real), "domain_accuracy": _accuracy(hits)}


class MultiDomainEvaluator(_FeatureEvaluator):
    """Multi-domain data: records with ``image`` and ``label`` (one-hot domains or multi-hot attributes)."""

    protocol_name = "multi_domain_v1"
    description = ("every eval image to another domain through the first mode with one target-label input "
                   "(one-hot: the next domain; attributes: attribute i mod D flipped or requested); "
                   "frechet_distance of random_conv_v1 features of the translations vs all real eval images; "
                   "domain_accuracy: fraction of translations a linear classifier trained on the real eval images "
                   "assigns to the target")
    metric_names = ("frechet_distance", "domain_accuracy")

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
        self.real = self._features(images, self.out_channels)
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
        self.classifier = LinearClassifier(self.real, labels, multi_label=not self.one_hot)
        rows = np.arange(len(labels))
        if self.one_hot:
            self.target_class = (labels.argmax(axis=1) + 1) % self.depth
            hits = self.classifier.probabilities(self.real).argmax(axis=1) == labels.argmax(axis=1)
        else:
            # Attribute k = i mod D of image i: flipped (label-vector modes) or the one to turn on (index modes).
            self.target_class = rows % self.depth
            self.flipped = labels.copy()
            self.flipped[rows, self.target_class] = 1.0 - self.flipped[rows, self.target_class]
            hits = (self.classifier.probabilities(self.real) > 0.5) == (labels > 0.5)
        self.reference["classifier_accuracy_on_real"] = _accuracy(hits.reshape(-1))

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
        fake = self._features(model.translate(self.inputs, extra, name), self.out_channels)
        probabilities = self.classifier.probabilities(fake)
        rows = np.arange(len(fake))
        if self.one_hot:
            hits = probabilities.argmax(axis=1) == self.target_class
        elif kind == "vector":
            k = self.target_class
            hits = (probabilities[rows, k] > 0.5) == (self.flipped[rows, k] > 0.5)
        else:
            hits = probabilities[rows, self.target_class] > 0.5
        return {"frechet_distance": frechet_distance(fake, self.real), "domain_accuracy": _accuracy(hits)}


class SingleImageEvaluator(_FeatureEvaluator):
    """One-domain data without targets: records with ``image``."""

    protocol_name = "single_v1"
    description = ("eval images through the first mode; frechet_distance of random_conv_v1 features of the "
                   "outputs vs the real eval images; content preservation: ssim_to_input (images >= 11 px) and "
                   "l1_to_input ([-1, 1] scale) of each output vs its input (output resized to the input's size "
                   "when they differ), averaged over images")
    metric_names = ("frechet_distance", "ssim_to_input", "l1_to_input")

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
        self.real = self._features(self.inputs, self.out_channels)
        if len(self.inputs) >= 4:
            half = len(self.inputs) // 2
            self.reference["frechet_distance_between_halves"] = frechet_distance(self.real[:half], self.real[half:])

    @property
    def num_images(self) -> int:
        return len(self.inputs)

    def metrics(self, model: Any) -> dict:
        model.use_first_mode()
        outputs = [decode(x, self.out_channels) for x in model.translate(self.inputs)]
        ssim, l1 = [], []
        for output, original in zip(outputs, self.originals):
            if output.shape[1:3] != original.shape[1:3]:
                output = tf.clip_by_value(tf.image.resize(output, original.shape[1:3], method="bilinear",
                                                          antialias=True), -1.0, 1.0)
            l1.append(float(tf.reduce_mean(tf.abs(output - original))))
            if min(original.shape[1:3]) >= SSIM_MIN_SIZE:
                ssim.append(float(image_metrics.ssim(output, original)))
        return {"frechet_distance": frechet_distance(self._network(outputs), self.real),
                "ssim_to_input": mean_or_none(ssim), "l1_to_input": mean_or_none(l1)}
