"""Image quality metrics on images in [-1, 1] (PSNR and SSIM use a dynamic range of 2 over that scale)."""

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
