"""Functional-model factories shared by the methods."""

from i2i_keras.networks.discriminators import multiscale_discriminator, patch_discriminator
from i2i_keras.networks.generators import residual_block, resnet_generator, unet_generator
from i2i_keras.networks.style import adain_decoder, content_encoder, conv_decoder, mlp, style_encoder

__all__ = ["adain_decoder", "content_encoder", "conv_decoder", "mlp", "multiscale_discriminator",
           "patch_discriminator", "residual_block", "resnet_generator", "style_encoder", "unet_generator"]
