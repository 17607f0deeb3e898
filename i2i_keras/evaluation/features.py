"""Feature networks of the evaluators and the domain judge.

- ``vgg16_relu5_3_mean_224`` (`VGGPooledFeatures`): images in [-1, 1] resized to 224x224 (bilinear, antialiased),
  gray replicated to RGB, the ImageNet VGG16 of `i2i_keras.networks.pretrained` (torchvision weights, offline
  file) tapped at relu5_3 and averaged over space -> 512 features. The Fréchet distance and KID on them are
  reported as ``fd_vgg16`` / ``kid_vgg16``: they are not FID / KID.
- ``fid_inception_2015_12_05`` (`i2i_keras.metrics.inception.FIDInceptionFeatures`): the FID Inception network's
  pool3 features (bilinear resize to 299 inside the network), with the weights file named by
  ``$I2I_KERAS_FID_WEIGHTS``; the distances on them are ``fid`` / ``kid``, comparable with published numbers
  (computed on the same number of images).
- ``random_conv_v1`` (`RandomConvFeatures`): a fixed-seed random-init conv net (64 features). Used only by the
  domain judge when the VGG16 weights are not on the machine, and named in the judge's protocol when it is.
- `DomainJudge`: the independent classifier behind ``domain_accuracy``: a softmax (multi-label: per-attribute
  logistic) regression on standardised features of the real images, trained by full-batch gradient descent with
  a fixed schedule (deterministic). It is not the model's own discriminator; it is saved beside an evaluation
  (`save`, `load`) so later runs are judged by the same classifier.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
from typing import Optional

import numpy as np
import tensorflow as tf

from i2i_keras import storage
from i2i_keras.errors import DataError
from i2i_keras.errors import WeightsUnavailable

RANDOM_CONV = "random_conv_v1"
RANDOM_CONV_SIZE = 64
VGG_POOLED = "vgg16_relu5_3_mean_224"
VGG_SIZE = 224
FEATURE_BATCH = 16


def _as_batch(image) -> tf.Tensor:
    x = tf.cast(image, tf.float32)
    return x[None] if x.shape.rank == 3 else x


def _rgb(x: tf.Tensor) -> tf.Tensor:
    return tf.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


class RandomConvFeatures:
    """``random_conv_v1``: a list of images [1, H, W, C] (or [H, W, C]) in [-1, 1] -> [N, 64] float64 features:
    64x64 bilinear resize, three 3x3 stride-2 convolutions (16, 32, 64 filters, He-normal weights drawn with
    `numpy.random.default_rng(seed)`), ReLU, global average pooling."""

    name = RANDOM_CONV

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.kernels = []
        channels = 3
        for filters in (16, 32, 64):
            fan_in = 9 * channels
            self.kernels.append(tf.constant(rng.normal(0.0, math.sqrt(2.0 / fan_in), (3, 3, channels, filters)),
                                            tf.float32))
            channels = filters
        self.description = {"name": self.name, "seed": int(seed)}

    def __call__(self, images: list) -> np.ndarray:
        rows = []
        for image in images:
            x = _rgb(tf.image.resize(_as_batch(image), [RANDOM_CONV_SIZE, RANDOM_CONV_SIZE], method="bilinear"))
            for kernel in self.kernels:
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=2, padding="SAME"))
            rows.append(tf.reduce_mean(x, axis=[1, 2])[0].numpy())
        if not rows:
            return np.zeros((0, self.kernels[-1].shape[-1]))
        return np.stack(rows).astype(np.float64)


class VGGPooledFeatures:
    """``vgg16_relu5_3_mean_224`` (see the module docstring): a list of images -> [N, 512] float64."""

    name = VGG_POOLED

    def __init__(self):
        from i2i_keras.networks import pretrained

        self.network = pretrained.VGGFeatures(network="vgg16", weights="offline", taps=("relu5_3",))
        self.description = {"name": self.name, "resize": f"{VGG_SIZE}x{VGG_SIZE} bilinear antialiased",
                            "pooling": "spatial mean of relu5_3", **dict(self.network.description)}
        self._forward = tf.function(lambda x: tf.reduce_mean(self.network(x)["relu5_3"], axis=[1, 2]),
                                    reduce_retracing=True)

    def __call__(self, images: list) -> np.ndarray:
        rows = []
        for start in range(0, len(images), FEATURE_BATCH):
            batch = [_rgb(tf.image.resize(_as_batch(image), [VGG_SIZE, VGG_SIZE], method="bilinear",
                                          antialias=True)) for image in images[start:start + FEATURE_BATCH]]
            rows.append(self._forward(tf.clip_by_value(tf.concat(batch, axis=0), -1.0, 1.0)).numpy())
        if not rows:
            return np.zeros((0, 512))
        return np.concatenate(rows).astype(np.float64)


@functools.lru_cache(maxsize=4)
def _inception(path: str):
    from i2i_keras.metrics.inception import FIDInceptionFeatures

    return FIDInceptionFeatures(path)


def inception_features() -> tuple:
    """``(FIDInceptionFeatures, None)`` with the weights file of ``$I2I_KERAS_FID_WEIGHTS``, or ``(None, reason)``
    when no usable file is named (the reason says how to get one)."""
    from i2i_keras.metrics.inception import resolve_fid_weights

    try:
        return _inception(resolve_fid_weights(None)), None
    except WeightsUnavailable as err:
        return None, str(err)


@functools.lru_cache(maxsize=1)
def _vgg_pooled() -> VGGPooledFeatures:
    return VGGPooledFeatures()


def vgg_pooled_features() -> tuple:
    """``(VGGPooledFeatures, None)``, or ``(None, reason)`` when the VGG16 weights are not on this machine (built
    once per process: the weights load once)."""
    try:
        return _vgg_pooled(), None
    except WeightsUnavailable as err:
        return None, str(err)


class DomainJudge:
    """The independent domain classifier of ``domain_accuracy`` (module docstring).

    Args:
        features: [N, D] features of the real images.
        targets: [N, K] one-hot (or multi-hot with ``multi_label``) targets.
        feature_network: the name of the features' network (saved with the judge; a judge only scores features of
            the same network).
        training_images: the encoded real images it was trained on (their digest is saved, so a report says
            whether two evaluations used the same judge).
    """

    def __init__(self, features: np.ndarray, targets: np.ndarray, multi_label: bool = False, *,
                 feature_network: str = RANDOM_CONV, training_images: Optional[list] = None,
                 steps: int = 500, learning_rate: float = 0.5, l2: float = 1e-3):
        features = np.asarray(features, np.float64)
        self.mean = features.mean(axis=0)
        self.std = features.std(axis=0) + 1e-6
        x = (features - self.mean) / self.std
        self.multi_label = bool(multi_label)
        self.feature_network = str(feature_network)
        digest = hashlib.sha256()
        for encoded in training_images or ():
            digest.update(hashlib.sha256(bytes(encoded)).digest())
        self.training_digest = digest.hexdigest()
        y = np.asarray(targets, np.float64)
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
        return self._probabilities((np.asarray(features, np.float64) - self.mean) / self.std)

    @property
    def num_classes(self) -> int:
        return int(self.w.shape[1])

    @property
    def description(self) -> dict:
        return {"classifier": "softmax regression" if not self.multi_label else "per-attribute logistic regression",
                "feature_network": self.feature_network, "classes": self.num_classes,
                "training_images_sha256": self.training_digest}

    def save(self, path: str) -> str:
        buffer = io.BytesIO()
        np.savez(buffer, w=self.w, b=self.b, mean=self.mean, std=self.std, multi_label=self.multi_label,
                 feature_network=self.feature_network, training_digest=self.training_digest)
        storage.write_atomic(path, buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str) -> "DomainJudge":
        """A judge written by `save`; DataError ``bad_judge`` when the file is not one."""
        try:
            data = np.load(io.BytesIO(storage.read_bytes(path)), allow_pickle=False)
            judge = cls.__new__(cls)
            judge.w, judge.b = np.asarray(data["w"], np.float64), np.asarray(data["b"], np.float64)
            judge.mean, judge.std = np.asarray(data["mean"], np.float64), np.asarray(data["std"], np.float64)
            judge.multi_label = bool(data["multi_label"])
            judge.feature_network = str(data["feature_network"])
            judge.training_digest = str(data["training_digest"])
        except tf.errors.NotFoundError:
            raise DataError(path, "judge file not found", code="file_not_found") from None
        except (OSError, ValueError, KeyError) as err:
            raise DataError(path, f"not a domain judge written by i2i_keras ({type(err).__name__}: {err})",
                            code="bad_judge") from None
        if judge.w.ndim != 2 or judge.b.shape != (judge.w.shape[1],) or judge.mean.shape != (judge.w.shape[0],):
            raise DataError(path, f"inconsistent judge arrays (w {judge.w.shape}, b {judge.b.shape}, mean "
                                  f"{judge.mean.shape})", code="bad_judge")
        return judge
