"""The metric suite: one implementation used by the training loop's validation, the evaluate CLI, the TFX
evaluator and the tests.

- `image`: PSNR / SSIM in graph on [-1, 1] images (training validation), and the super-resolution convention on
  RGB or Y (BT.601) with a shaved border, float64 on the 0-255 scale.
"""

from i2i_keras.metrics.image import psnr
from i2i_keras.metrics.image import ssim

__all__ = ["psnr", "ssim"]
