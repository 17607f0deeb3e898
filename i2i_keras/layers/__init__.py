"""Shared layers: the building blocks every network factory uses (one definition each)."""

from i2i_keras.layers.conditioning import AdaptiveInstanceNorm, TileLatent
from i2i_keras.layers.image_pool import ImagePool
from i2i_keras.layers.normalization import INFERENCE_NORMS, NORMS, BatchNorm, normalization
from i2i_keras.layers.padding import ReflectionPadding2D
from i2i_keras.layers.pooling import PaddedAveragePooling2D
from i2i_keras.layers.regularization import InferenceDropout
from i2i_keras.layers.upsampling import PixelShuffle

__all__ = ["AdaptiveInstanceNorm", "BatchNorm", "INFERENCE_NORMS", "ImagePool", "InferenceDropout", "NORMS",
           "PaddedAveragePooling2D", "PixelShuffle", "ReflectionPadding2D", "TileLatent", "normalization"]
