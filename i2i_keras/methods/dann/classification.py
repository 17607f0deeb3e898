"""What the domain-adaptation methods (DANN, PixelDA) share: a classifier judged on the target domain.

- `ClassifierMethod`: a `TranslationModel` mix-in for methods whose served product is a classifier. It adds the
  `classify` (and, with a source-only baseline, `classify_source_only`) classification modes, the class names in
  the metadata, and target accuracy in `test_step` when an evaluation batch carries ``target_label`` (the
  ``domain_adaptation`` kind's evaluation split; training batches never do).
- `mnist_classifier`: the digit classifier of the DANN paper's MNIST -> MNIST-M experiment.
- `reverse_gradient`: the gradient-reversal layer's function.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf
from keras import layers, ops

from i2i_keras.methods.base import PROBABILITIES_OUTPUT, SKIPPED_STEPS, TranslationMode

TARGET_ACCURACY = "target_accuracy"
SOURCE_ONLY_TARGET_ACCURACY = "source_only_target_accuracy"
CLASSIFY = "classify"
CLASSIFY_SOURCE_ONLY = "classify_source_only"


def class_names_of(num_classes, class_names: Optional[list]) -> list:
    """`class_names` checked (distinct strings, at least two), or "0" ... "K-1" for `num_classes` K."""
    if class_names is None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r}")
        return [str(k) for k in range(num_classes)]
    names = list(class_names)
    if len(names) < 2 or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"`class_names` must be at least two distinct non-empty strings. "
                         f"Received: class_names={class_names!r}")
    if num_classes is not None and num_classes != len(names):
        raise ValueError(f"`num_classes` must equal len(class_names) when both are given. "
                         f"Received: num_classes={num_classes!r}, class_names={names}")
    return names


@tf.custom_gradient
def _reverse(x, scale):
    def grad(upstream):
        return -ops.cast(scale, upstream.dtype) * upstream, None

    return tf.identity(x), grad


def reverse_gradient(x, scale):
    """Identity forward; the gradient times -`scale` backward (Ganin et al. 2016, eq. 13-14)."""
    return _reverse(x, ops.convert_to_tensor(scale, "float32"))


def mnist_classifier(in_channels: int, image_size: int, num_classes: int, conv_filters=(32, 48), hidden=(100, 100),
                     name: str = "classifier") -> tuple:
    """(feature extractor, label predictor) of the DANN paper's MNIST architecture (Ganin et al., JMLR 2016, fig. 4
    and sec. 5.2.2): conv 5x5 x 32, ReLU, max-pool 2; conv 5x5 x 48, ReLU, max-pool 2 ('same' padding: 28 px ->
    7x7x48 features); label predictor FC 100, ReLU, FC 100, ReLU, FC `num_classes` (logits)."""
    image = keras.Input((image_size, image_size, in_channels), name="image")
    x = image
    for k, filters in enumerate(conv_filters):
        x = layers.Conv2D(filters, 5, padding="same", activation="relu", name=f"conv{k}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{k}")(x)
    features = layers.Flatten(name="features")(x)
    extractor = keras.Model(image, features, name=f"{name}_features")
    inputs = keras.Input((features.shape[-1],), name="features")
    x = inputs
    for k, units in enumerate(hidden):
        x = layers.Dense(units, activation="relu", name=f"fc{k}")(x)
    logits = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return extractor, keras.Model(inputs, logits, name=f"{name}_labels")


def cross_entropy(labels_onehot, logits):
    """Mean softmax cross-entropy of logits against one-hot labels, in float32."""
    return ops.mean(ops.categorical_crossentropy(ops.cast(labels_onehot, "float32"), ops.cast(logits, "float32"),
                                                 from_logits=True))


def accuracy(labels_onehot, logits):
    return ops.mean(ops.cast(ops.equal(ops.argmax(logits, -1), ops.argmax(labels_onehot, -1)), "float32"))


class ClassifierMethod:
    """Mix-in (before `TranslationModel` in the bases) for a domain-adaptation method. The subclass sets
    `self.class_names`, `self.has_baseline`, and implements `classify_logits(images)` (and
    `baseline_logits(images)` when it trains a source-only baseline) on images of `classifier_size` px."""

    data_kind = "domain_adaptation"
    input_key = "target"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_domains(self) -> int:
        # The training loop sizes its check batch's label from `num_domains`: here, one entry per class.
        return self.num_classes

    def _classifier_input(self, images):
        """Any-size float images -> the classifier's input size (bilinear), as served images may have any size."""
        images = ops.cast(images, self.compute_dtype)
        size = self.classifier_size
        if images.shape[1] == size and images.shape[2] == size:
            return images
        # tf.image.resize: the sizes may be unknown until run time (served images), which ops.image.resize of some
        # Keras versions cannot take in a graph.
        return ops.cast(tf.image.resize(images, (size, size), method="bilinear"), self.compute_dtype)

    def _classify(self, images):
        return ops.softmax(ops.cast(self.classify_logits(self._classifier_input(images)), "float32"), axis=-1)

    def _classify_source_only(self, images):
        return ops.softmax(ops.cast(self.baseline_logits(self._classifier_input(images)), "float32"), axis=-1)

    def classification_modes(self) -> dict:
        modes = {CLASSIFY: TranslationMode(self._classify, description="class probabilities [batch, K]",
                                           output=PROBABILITIES_OUTPUT)}
        if self.has_baseline:
            modes[CLASSIFY_SOURCE_ONLY] = TranslationMode(
                self._classify_source_only, output=PROBABILITIES_OUTPUT,
                description="class probabilities of the source-only baseline (same run, same budget)")
        return modes

    def _create_trackers(self):
        if self._trackers:
            return
        super()._create_trackers()
        names = [TARGET_ACCURACY] + ([SOURCE_ONLY_TARGET_ACCURACY] if self.has_baseline else [])
        for name in names:
            self._trackers[name] = keras.metrics.Mean(name=name)

    def test_step(self, data):
        super().test_step(data)
        batch = self.prepare_batch(data)
        if "target_label" in batch:
            # Evaluation batches of the domain_adaptation kind carry the target's labels; training batches never.
            target = self._classifier_input(batch["target"])
            self._trackers[TARGET_ACCURACY].update_state(
                accuracy(batch["target_label"], self.classify_logits(target, training=False)))
            if self.has_baseline:
                self._trackers[SOURCE_ONLY_TARGET_ACCURACY].update_state(
                    accuracy(batch["target_label"], self.baseline_logits(target, training=False)))
        return {m.name: m.result() for m in self.metrics if m.name != SKIPPED_STEPS}

    def metadata(self) -> dict:
        return {**super().metadata(), "class_names": list(self.class_names), "num_classes": self.num_classes,
                "classifier_size": self.classifier_size}
