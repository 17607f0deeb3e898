"""Functional-model factories shared by the methods."""

from i2i_keras.networks.discriminators import (dcgan_discriminator, multiscale_discriminator,
                                               multiscale_patch_discriminator, patch_discriminator,
                                               stargan_discriminator)
from i2i_keras.networks.generators import (INITS, conv, conv_transpose, encoder_decoder_generator, initializer,
                                           residual_block, residual_stack, resnet_generator, stargan_generator,
                                           unet_generator)
from i2i_keras.networks.style import (adain_decoder, content_encoder, conv_decoder, mlp, resnet_encoder,
                                      style_encoder, unit_decoder, unit_encoder, unit_residual_stack)

__all__ = ["INITS", "adain_decoder", "content_encoder", "conv", "conv_decoder", "conv_transpose",
           "dcgan_discriminator", "encoder_decoder_generator", "initializer", "mlp", "multiscale_discriminator",
           "multiscale_patch_discriminator", "patch_discriminator", "residual_block", "residual_stack",
           "resnet_encoder", "resnet_generator", "stargan_discriminator", "stargan_generator", "style_encoder",
           "unet_generator", "unit_decoder", "unit_encoder", "unit_residual_stack"]
