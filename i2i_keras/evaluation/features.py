"""Distribution statistics without downloaded weights: random-conv features, the Fréchet distance, a linear probe.

``random_conv_v1``: images in [-1, 1] resized to 64x64 (bilinear), gray replicated to RGB, three 3x3 stride-2
convolutions with 16, 32 and 64 filters, He-normal weights drawn with `numpy.random.default_rng(seed)`, ReLU,
global average pooling -> 64 features. The Fréchet distance on it compares colour and low-level texture
statistics; it is not FID and is not comparable to published FID numbers. `LinearClassifier` is a softmax
(multi-label: per-attribute logistic) regression on standardised features, trained by full-batch gradient descent
with a fixed schedule: deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

FEATURE_NETWORK = "random_conv_v1"
FEATURE_SIZE = 64


class RandomConvFeatures:
    """``random_conv_v1``: a list of images [1, H, W, C] (or [H, W, C]) in [-1, 1] -> [N, 64] float64 features."""

    name = FEATURE_NETWORK

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
            x = tf.cast(image, tf.float32)
            if x.shape.rank == 3:
                x = x[None]
            x = tf.image.resize(x, [FEATURE_SIZE, FEATURE_SIZE], method="bilinear")
            if x.shape[-1] == 1:
                x = tf.repeat(x, 3, axis=-1)
            for kernel in self.kernels:
                x = tf.nn.relu(tf.nn.conv2d(x, kernel, strides=2, padding="SAME"))
            rows.append(tf.reduce_mean(x, axis=[1, 2])[0].numpy())
        if not rows:
            return np.zeros((0, self.kernels[-1].shape[-1]))
        return np.stack(rows).astype(np.float64)


def _covariance(x: np.ndarray) -> np.ndarray:
    return np.cov(x, rowvar=False) if len(x) > 1 else np.zeros((x.shape[1],) * 2)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [N, D]:
    ``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)``, with symmetric eigendecompositions (stable
    for the rank-deficient covariances of small sets). NaN when either set holds a non-finite feature."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = _covariance(a), _covariance(b)
    vals, vecs = np.linalg.eigh(cov_a)
    sqrt_a = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    middle = sqrt_a @ cov_b @ sqrt_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)).sum()
    value = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)
    return max(value, 0.0)


class LinearClassifier:
    """Softmax regression (``multi_label``: independent logistic regressions) on standardised features.

    Args:
        features: [N, D] training features.
        targets: [N, K] one-hot (or multi-hot with ``multi_label``) targets.
    """

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
