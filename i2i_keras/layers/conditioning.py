"""Conditioning layers: AdaIN (a style code sets per-channel statistics) and latent tiling (a code becomes extra
channels)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="i2i_keras")
class AdaptiveInstanceNorm(keras.layers.Layer):
    """AdaIN (Huang & Belongie 2017): `gamma * (x - mean(x)) / std(x) + beta`, statistics per example and channel
    over the spatial axes, with `gamma` and `beta` given per example (from a style code), not learnt here.

    Call with `[x, params]`: x [B, H, W, C], params [B, 2C] = concat(gamma, beta). MUNIT's decoder gets `params`
    from an MLP on the style code; with `gamma = std(style)` and `beta = mean(style)` it is style transfer's AdaIN.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x, params = inputs
        channels = ops.shape(x)[-1]
        gamma = ops.reshape(params[:, :channels], (-1, 1, 1, channels))
        beta = ops.reshape(params[:, channels:], (-1, 1, 1, channels))
        # Statistics in float32: under mixed precision a half-precision variance loses the small-contrast styles.
        x32 = ops.cast(x, "float32")
        mean = ops.mean(x32, axis=(1, 2), keepdims=True)
        var = ops.var(x32, axis=(1, 2), keepdims=True)
        normed = (x32 - mean) * ops.rsqrt(var + self.epsilon)
        out = normed * ops.cast(gamma, "float32") + ops.cast(beta, "float32")
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="i2i_keras")
class TileLatent(keras.layers.Layer):
    """`[images [B,H,W,C], z [B,D]]` -> [B,H,W,C+D]: z broadcast over every pixel and concatenated as channels
    (how BicycleGAN injects its latent code into the generator)."""

    def call(self, inputs):
        images, latent = inputs
        shape = ops.shape(images)
        latent = ops.cast(latent, images.dtype)[:, None, None, :]
        tiled = ops.broadcast_to(latent, (shape[0], shape[1], shape[2], ops.shape(latent)[-1]))
        return ops.concatenate([images, tiled], axis=-1)

    def compute_output_shape(self, input_shape):
        images, latent = input_shape
        return (*images[:-1], images[-1] + latent[-1])
