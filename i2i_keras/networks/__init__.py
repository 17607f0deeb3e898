"""Functional-model factories shared by the methods."""

from i2i_keras.networks.discriminators import (dcgan_discriminator, multiscale_discriminator,
                                               multiscale_patch_discriminator, patch_discriminator,
                                               stargan_discriminator)
from i2i_keras.networks.generators import (encoder_decoder_generator, residual_block, residual_stack,
                                           resnet_generator, stargan_generator, unet_generator)
from i2i_keras.networks.style import adain_decoder, content_encoder, conv_decoder, mlp, style_encoder

__all__ = ["adain_decoder", "content_encoder", "conv_decoder", "dcgan_discriminator", "encoder_decoder_generator",
           "mlp", "multiscale_discriminator", "multiscale_patch_discriminator", "patch_discriminator",
           "residual_block", "residual_stack", "resnet_generator", "stargan_discriminator", "stargan_generator",
           "style_encoder", "unet_generator"]
