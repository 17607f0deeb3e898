"""Functional-model factories shared by the methods."""

from i2i_keras.networks.discriminators import patch_discriminator
from i2i_keras.networks.generators import resnet_generator, unet_generator

__all__ = ["patch_discriminator", "resnet_generator", "unet_generator"]
