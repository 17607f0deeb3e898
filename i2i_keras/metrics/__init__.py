"""The metric suite: one implementation used by the training loop's validation, the evaluate CLI, the TFX
evaluator and the tests (README, "Metrics").

- `image`: PSNR / SSIM in graph on [-1, 1] images (training validation), and the super-resolution convention on
  RGB or Y (BT.601) with a shaved border, float64 on the 0-255 scale (`psnr_sr`, `ssim_sr`).
- `lpips`: LPIPS v0.1 (VGG16 + the official linear heads) and the BicycleGAN diversity protocol.
- `distribution`: the Fréchet distance and KID of two feature sets.
- `inception`: the FID Inception network (user-provided weights).
"""

from i2i_keras.metrics.distribution import FeatureStatistics
from i2i_keras.metrics.distribution import KernelDistance
from i2i_keras.metrics.distribution import feature_statistics
from i2i_keras.metrics.distribution import frechet_distance
from i2i_keras.metrics.distribution import kernel_inception_distance
from i2i_keras.metrics.distribution import kid_subset_size
from i2i_keras.metrics.image import ImageScores
from i2i_keras.metrics.image import psnr
from i2i_keras.metrics.image import psnr_sr
from i2i_keras.metrics.image import rgb_to_y
from i2i_keras.metrics.image import ssim
from i2i_keras.metrics.image import ssim_sr
from i2i_keras.metrics.inception import FIDInceptionFeatures
from i2i_keras.metrics.inception import resolve_fid_weights
from i2i_keras.metrics.lpips import LPIPS
from i2i_keras.metrics.lpips import lpips_diversity

__all__ = ["FIDInceptionFeatures", "FeatureStatistics", "ImageScores", "KernelDistance", "LPIPS",
           "feature_statistics", "frechet_distance", "kernel_inception_distance", "kid_subset_size",
           "lpips_diversity", "psnr", "psnr_sr", "resolve_fid_weights", "rgb_to_y", "ssim", "ssim_sr"]
