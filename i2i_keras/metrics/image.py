"""Image quality metrics in two conventions.

**Graph (`psnr`, `ssim`)**: TensorFlow ops on batches in [-1, 1], float32, on all channels; the training loop's
validation runs them inside `tf.function`. They compare runs of this library with each other.

**Super-resolution convention (`psnr_sr`, `ssim_sr`)**: what BasicSR and the EDSR / SRGAN papers' evaluation
compute, so numbers compare with published ones. NumPy, float64 accumulation on the 0-255 scale:

- inputs are ``uint8`` images (values 0-255, used as they are) or floating images in [-1, 1] (the library's model
  output convention, mapped by ``(x + 1) * 127.5``); any other dtype or a float outside [-1, 1] is refused.
  Published numbers are computed on images saved as uint8: pass uint8 to reproduce them exactly.
- ``crop_border`` pixels are shaved from each of the four sides before measuring (the upscaling factor, by custom).
- ``y_channel=True`` measures the luma of ITU-R BT.601 in studio swing (16-235) only, `rgb_to_y`:
  ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` with R, G, B on 0-255 (a gray image counts as R = G = B);
  ``y_channel=False`` measures every channel.
- PSNR per image: ``10 log10(255^2 / MSE)`` with the MSE over all pixels (and channels); identical images give
  ``float('inf')``, and a mean over images that holds an ``inf`` is ``inf`` (JSON writers report it as
  ``"Infinity"``).
- SSIM per image: an 11x11 Gaussian window (sigma 1.5, normalised), C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2,
  population (not sample) statistics, 'valid' filtering (no padding: the SSIM map is 10 px smaller in each
  dimension) and the map's mean; on several channels, the mean of the per-channel SSIMs.

Both return `ImageScores(mean, per_image)`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf
from keras import ops


def _to_unit(images):
    return (ops.cast(images, "float32") + 1.0) / 2.0


def psnr(prediction, truth):
    """Mean PSNR in dB over the batch, computed on [0, 1]-scaled images."""
    return ops.mean(tf.image.psnr(_to_unit(prediction), _to_unit(truth), max_val=1.0))


def ssim(prediction, truth):
    """Mean SSIM over the batch (11x11 Gaussian window), on [0, 1]-scaled images. Images must be >= 11 px."""
    return ops.mean(tf.image.ssim(_to_unit(prediction), _to_unit(truth), max_val=1.0))


# --------------------------------------------------------------------------- super-resolution convention

#: BT.601 studio-swing luma weights for R, G, B on [0, 1] (they sum to 219 = 235 - 16) and the offset.
Y_WEIGHTS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = (0.01 * 255.0) ** 2
SSIM_C2 = (0.03 * 255.0) ** 2
# A float image may carry rounding noise from the [-1, 1] arithmetic of a model (tanh, resize): this much outside
# the range is accepted and clipped, more is a caller that passed another scale (0-1 or 0-255 as float).
_RANGE_TOLERANCE = 1e-4


class ImageScores(NamedTuple):
    """A metric over a batch: `per_image` (float64 array [N]) and its `mean` (a Python float)."""

    mean: float
    per_image: np.ndarray


def _describe(array: np.ndarray) -> str:
    return f"dtype {array.dtype}, shape {tuple(array.shape)}"


def _as_0_255(images, name: str) -> np.ndarray:
    """`images` ([H, W], [H, W, C] or [N, H, W, C], C in {1, 3}; uint8 or float in [-1, 1]) -> float64 [N, H, W, C]
    on the 0-255 scale."""
    array = np.asarray(images)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(f"{name}: expected an image [H, W], [H, W, C] or a batch [N, H, W, C] with C = 1 or 3, "
                         f"got {_describe(np.asarray(images))}")
    if array.dtype == np.uint8:
        return array.astype(np.float64)
    if np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}: expected finite values in [-1, 1], got non-finite values "
                             f"({_describe(array)})")
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if low < -1.0 - _RANGE_TOLERANCE or high > 1.0 + _RANGE_TOLERANCE:
            raise ValueError(f"{name}: a float image must lie in [-1, 1] (uint8 for 0-255), got values in "
                             f"[{low:.6g}, {high:.6g}] ({_describe(array)})")
        return (np.clip(array, -1.0, 1.0) + 1.0) * 127.5
    raise ValueError(f"{name}: expected uint8 (0-255) or float (in [-1, 1]) images, got {_describe(array)}")


def rgb_to_y(images) -> np.ndarray:
    """BT.601 studio-swing luma, ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` (R, G, B on 0-255; Y in
    [16, 235]). `images`: uint8 or float in [-1, 1], [H, W, C] or [N, H, W, C] with C = 3 (C = 1 counts as
    R = G = B). Returns float64 [N, H, W, 1] on 0-255."""
    array = _as_0_255(images, "rgb_to_y")
    return _luma(array)


def _luma(array: np.ndarray) -> np.ndarray:
    weights = np.asarray(Y_WEIGHTS) / 255.0
    if array.shape[-1] == 1:
        return Y_OFFSET + array * weights.sum()
    return Y_OFFSET + np.tensordot(array, weights, axes=([-1], [0]))[..., None]


def _prepare(prediction, truth, crop_border: int, y_channel: bool, metric: str):
    p = _as_0_255(prediction, f"{metric} prediction")
    t = _as_0_255(truth, f"{metric} truth")
    if p.shape != t.shape:
        raise ValueError(f"{metric}: prediction and truth must have the same shape (as [N, H, W, C]), got "
                         f"{tuple(p.shape)} and {tuple(t.shape)}")
    if len(p) == 0:
        raise ValueError(f"{metric}: expected at least one image, got an empty batch of shape {tuple(p.shape)}")
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise ValueError(f"{metric}: crop_border must be an integer >= 0, got {crop_border!r}")
    height, width = p.shape[1:3]
    if 2 * crop_border >= min(height, width):
        raise ValueError(f"{metric}: crop_border={crop_border} shaves the whole {height}x{width} image (expected at "
                         f"most {(min(height, width) - 1) // 2} for this size)")
    if crop_border:
        p = p[:, crop_border:-crop_border, crop_border:-crop_border]
        t = t[:, crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        p, t = _luma(p), _luma(t)
    return p, t


def _scores(values: np.ndarray) -> ImageScores:
    values = np.asarray(values, np.float64)
    return ImageScores(float(values.mean()), values)


def psnr_sr(prediction, truth, crop_border: int = 0, y_channel: bool = True) -> ImageScores:
    """PSNR in dB, super-resolution convention (see the module docstring): per image, float64 on 0-255; ``inf``
    for identical images."""
    p, t = _prepare(prediction, truth, crop_border, y_channel, "psnr_sr")
    mse = np.mean((p - t) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):  # mse == 0 -> log10(inf) = inf: the defined value for identical images
        values = np.where(mse == 0.0, np.inf, 10.0 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-300)))
    return _scores(values)


def _gaussian_window() -> np.ndarray:
    offsets = np.arange(SSIM_WINDOW, dtype=np.float64) - (SSIM_WINDOW - 1) / 2.0
    kernel = np.exp(-(offsets ** 2) / (2.0 * SSIM_SIGMA ** 2))
    return kernel / kernel.sum()


def _filter_valid(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering of [N, H, W, C] along H then W (the 2-D Gaussian is the outer product)."""
    rows = np.lib.stride_tricks.sliding_window_view(images, len(kernel), axis=1) @ kernel
    return np.lib.stride_tricks.sliding_window_view(rows, len(kernel), axis=2) @ kernel


def ssim_sr(prediction, truth, crop_border: int = 0, y_channel: bool = True) -> ImageScores:
    """SSIM, super-resolution convention (see the module docstring): 11x11 Gaussian (sigma 1.5), 'valid' window,
    float64 on 0-255, per image the mean over channels. The (cropped) images must be at least 11x11."""
    p, t = _prepare(prediction, truth, crop_border, y_channel, "ssim_sr")
    if min(p.shape[1:3]) < SSIM_WINDOW:
        raise ValueError(f"ssim_sr: images after crop_border={crop_border} are {p.shape[1]}x{p.shape[2]}, the "
                         f"{SSIM_WINDOW}x{SSIM_WINDOW} window needs at least {SSIM_WINDOW}x{SSIM_WINDOW}")
    kernel = _gaussian_window()
    mu_p, mu_t = _filter_valid(p, kernel), _filter_valid(t, kernel)
    # Local (population) variances and covariance: E[x^2] - E[x]^2 under the Gaussian weights.
    var_p = _filter_valid(p * p, kernel) - mu_p ** 2
    var_t = _filter_valid(t * t, kernel) - mu_t ** 2
    cov = _filter_valid(p * t, kernel) - mu_p * mu_t
    ssim_map = ((2.0 * mu_p * mu_t + SSIM_C1) * (2.0 * cov + SSIM_C2)) / (
        (mu_p ** 2 + mu_t ** 2 + SSIM_C1) * (var_p + var_t + SSIM_C2))
    # Mean over the map per channel, then over channels (equal weights, as scikit-image and BasicSR).
    return _scores(ssim_map.mean(axis=(1, 2)).mean(axis=-1))
