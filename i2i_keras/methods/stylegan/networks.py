"""StyleGAN / StyleGAN2 layers and network factories (mapping, synthesis, residual discriminator).

Written after reading rosinality/stylegan2-pytorch `model.py` (PixelNorm, EqualLinear, EqualConv2d,
ModulatedConv2d, NoiseInjection, ConstantInput, StyledConv, ToRGB, Generator, ConvLayer, ResBlock,
Discriminator) and NVlabs/stylegan `training/networks_stylegan.py` (G_mapping, G_synthesis: AdaIN `style_mod`
after instance norm, learned constant, per-channel noise strength `apply_noise`). Own code, TF ops.

Equalised learning rate: every weight is stored N(0, 1 / lr_mul) and scaled at run time by
lr_mul / sqrt(fan_in) (He's constant); biases are multiplied by lr_mul (the mapping network's 0.01).

Differences from the references, each chosen for this library:
- The modulated convolution scales the input activations by the style and the output by the demodulation
  coefficients (NVlabs StyleGAN2's `fused_modconv=False` form) instead of building per-sample grouped weights: the
  same function, with one shared weight, so it runs on CPUs without grouped convolutions.
- The minibatch standard deviation groups *consecutive* samples (rosinality and NVlabs group strided ones): the
  same statistic, and N replicas holding consecutive slices of the global batch see exactly one device's groups.
- Every weight is created with aggregation "only_first_replica", so the generator's EMA copy can be assigned
  inside a replica context under MirroredStrategy (the trainable copies are updated by the optimizers as usual).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

SQRT2 = math.sqrt(2.0)
INJECTIONS = ("modulated", "adain")


def blur_kernel(gain: float = 1.0) -> np.ndarray:
    """The [1, 3, 3, 1] outer-product low-pass filter of StyleGAN2 (rosinality `make_kernel`), summing to `gain`."""
    k = np.array([1.0, 3.0, 3.0, 1.0], np.float32)
    k = np.outer(k, k)
    return (k / k.sum() * gain).astype(np.float32)


def blur(x, pad0: int, pad1: int, gain: float = 1.0):
    """Pads [B,H,W,C] by (pad0, pad1) on both spatial axes and filters it with `blur_kernel(gain)` (upfirdn2d with
    up = down = 1)."""
    channels = x.shape[-1]
    kernel = tf.constant(blur_kernel(gain), dtype=x.dtype)[:, :, None, None]
    kernel = tf.tile(kernel, [1, 1, channels, 1])
    x = tf.pad(x, [[0, 0], [pad0, pad1], [pad0, pad1], [0, 0]])
    return tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "VALID")


def upsample_blur(x):
    """2x upsampling by zero insertion and the blur filter with gain 4 (rosinality `Upsample`: upfirdn2d up=2,
    pad (2, 1))."""
    shape = tf.shape(x)
    b, h, w, c = shape[0], shape[1], shape[2], x.shape[-1]
    zeros = tf.zeros_like(x)
    x = tf.stack([x, zeros], axis=3)                      # [B, H, W, 2, C]
    x = tf.stack([x, tf.zeros_like(x)], axis=2)           # [B, H, 2, W, 2, C]
    x = tf.reshape(x, [b, h * 2, w * 2, c])
    return blur(x, 2, 1, gain=4.0)


def lrelu(x):
    """Leaky ReLU (0.2) times sqrt(2) (rosinality `fused_leaky_relu`'s gain)."""
    return tf.nn.leaky_relu(x, 0.2) * SQRT2


def pixel_norm(x, axis=-1):
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=axis, keepdims=True) + 1e-8)


class StyleLayer(keras.layers.Layer):
    """Base of this module's layers: N(0, 1/lr_mul) weights, aggregation that allows replica-context EMA updates."""

    def _weight(self, shape, name, stddev=1.0, constant=None):
        init = (keras.initializers.Constant(constant) if constant is not None
                else keras.initializers.RandomNormal(0.0, stddev))
        return self.add_weight(shape=shape, initializer=init, name=name, aggregation="only_first_replica")


@keras.saving.register_keras_serializable(package="i2i_keras")
class PixelNorm(keras.layers.Layer):
    """z / sqrt(mean(z^2) + 1e-8) over the last axis (rosinality `PixelNorm`)."""

    def call(self, x):
        return pixel_norm(x)


@keras.saving.register_keras_serializable(package="i2i_keras")
class EqualDense(StyleLayer):
    """rosinality `EqualLinear`: y = x (W lr_mul / sqrt(in)) + b lr_mul, optionally leaky ReLU times sqrt(2)."""

    def __init__(self, units, lr_mul=1.0, bias_init=0.0, activate=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.lr_mul, self.bias_init, self.activate = int(units), float(lr_mul), float(bias_init), activate

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = self.lr_mul / math.sqrt(fan_in)
        self.kernel = self._weight((fan_in, self.units), "kernel", stddev=1.0 / self.lr_mul)
        self.bias = self._weight((self.units,), "bias", constant=self.bias_init)

    def call(self, x):
        y = tf.matmul(x, ops.cast(self.kernel, x.dtype) * self.scale) + ops.cast(self.bias, x.dtype) * self.lr_mul
        return lrelu(y) if self.activate else y

    def get_config(self):
        return {**super().get_config(), "units": self.units, "lr_mul": self.lr_mul, "bias_init": self.bias_init,
                "activate": self.activate}


@keras.saving.register_keras_serializable(package="i2i_keras")
class EqualConv2D(StyleLayer):
    """rosinality `ConvLayer`: [blur, stride-2] equalised conv, then bias + leaky ReLU * sqrt(2) (`activate`) or a
    plain bias (`use_bias`)."""

    def __init__(self, filters, kernel_size, downsample=False, use_bias=True, activate=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.downsample, self.use_bias, self.activate = downsample, use_bias, activate

    def build(self, input_shape):
        fan_in = int(input_shape[-1]) * self.kernel_size ** 2
        self.scale = 1.0 / math.sqrt(fan_in)
        self.kernel = self._weight((self.kernel_size, self.kernel_size, int(input_shape[-1]), self.filters), "kernel")
        self.bias = self._weight((self.filters,), "bias", constant=0.0) if (self.use_bias or self.activate) else None

    def call(self, x):
        kernel = ops.cast(self.kernel, x.dtype) * self.scale
        if self.downsample:
            p = 2 + (self.kernel_size - 1)  # (len(blur) - factor) + (kernel - 1)
            x = blur(x, (p + 1) // 2, p // 2)
            y = tf.nn.conv2d(x, kernel, 2, "VALID")
        else:
            y = tf.nn.conv2d(x, kernel, 1, "SAME")
        if self.bias is not None:
            y = y + ops.cast(self.bias, y.dtype)
        return lrelu(y) if self.activate else y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "downsample": self.downsample, "use_bias": self.use_bias, "activate": self.activate}


def modulated_conv(x, style, kernel, demodulate: bool, upsample: bool):
    """StyleGAN2's modulated convolution: conv(x * style, kernel) * demod, demod[b, o] = rsqrt(sum_{k,i}
    (kernel[k, i, o] style[b, i])^2 + 1e-8) (rosinality `ModulatedConv2d`, unfused form). `kernel` is already
    scaled; with `upsample`, a stride-2 transposed conv followed by the blur (pad 1, gain 4)."""
    x = x * style[:, None, None, :]
    if upsample:
        shape = tf.shape(x)
        out_shape = tf.stack([shape[0], shape[1] * 2 + 1, shape[2] * 2 + 1, kernel.shape[-1]])
        y = tf.nn.conv2d_transpose(x, tf.transpose(kernel, [0, 1, 3, 2]), out_shape, 2, "VALID")
        y = blur(y, 1, 1, gain=4.0)
    else:
        y = tf.nn.conv2d(x, kernel, 1, "SAME")
    if demodulate:
        energy = tf.reduce_sum(tf.square(kernel), axis=[0, 1])           # [in, out]
        demod = tf.math.rsqrt(tf.matmul(tf.square(style), energy) + 1e-8)  # [B, out]
        y = y * demod[:, None, None, :]
    return y


@keras.saving.register_keras_serializable(package="i2i_keras")
class StyledConv(StyleLayer):
    """One synthesis layer: inputs [x, w, noise] -> conv -> + strength * noise -> bias + leaky ReLU * sqrt(2).

    `injection="modulated"` (StyleGAN2, rosinality `StyledConv`): the style w -> per-input-channel scales (an
    EqualDense with bias 1) modulate and demodulate the conv; the noise strength is one number per layer.
    `injection="adain"` (StyleGAN, NVlabs `layer_epilogue`): a plain equalised conv (none with `conv=False`: the
    layer on the learned constant), noise with a per-channel strength, then instance norm and the style
    y = x_norm * (s_scale + 1) + s_bias from an EqualDense of w (`style_mod`).
    """

    def __init__(self, filters, kernel_size=3, upsample=False, injection="modulated", conv=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.upsample = int(filters), int(kernel_size), upsample
        self.injection, self.conv = injection, conv

    def build(self, input_shape):
        x_shape, w_shape, _ = input_shape
        in_ch, style_dim = int(x_shape[-1]), int(w_shape[-1])
        self.style_scale = 1.0 / math.sqrt(style_dim)
        self.kernel_scale = 1.0 / math.sqrt(in_ch * self.kernel_size ** 2)
        if self.conv:
            self.kernel = self._weight((self.kernel_size, self.kernel_size, in_ch, self.filters), "kernel")
        if self.injection == "modulated":
            self.mod_kernel = self._weight((style_dim, in_ch), "mod_kernel")
            self.mod_bias = self._weight((in_ch,), "mod_bias", constant=1.0)
            self.noise_strength = self._weight((), "noise_strength", constant=0.0)
        else:
            self.style_kernel = self._weight((style_dim, 2 * self.filters), "style_kernel")
            self.style_bias = self._weight((2 * self.filters,), "style_bias", constant=0.0)
            self.noise_strength = self._weight((self.filters,), "noise_strength", constant=0.0)
        self.bias = self._weight((self.filters,), "bias", constant=0.0)

    def call(self, inputs):
        x, w, noise = inputs
        dtype = x.dtype
        if self.injection == "modulated":
            style = tf.matmul(w, ops.cast(self.mod_kernel, dtype) * self.style_scale) + ops.cast(self.mod_bias, dtype)
            y = modulated_conv(x, style, ops.cast(self.kernel, dtype) * self.kernel_scale, True, self.upsample)
        elif not self.conv:
            y = x
        elif self.upsample:
            y = modulated_conv(x, tf.ones_like(x[:, 0, 0, :]), ops.cast(self.kernel, dtype) * self.kernel_scale,
                               False, True)
        else:
            y = tf.nn.conv2d(x, ops.cast(self.kernel, dtype) * self.kernel_scale, 1, "SAME")
        y = y + ops.cast(self.noise_strength, dtype) * ops.cast(noise, dtype)
        y = lrelu(y + ops.cast(self.bias, dtype))
        if self.injection == "adain":
            mean, var = tf.nn.moments(y, axes=[1, 2], keepdims=True)
            y = (y - mean) * tf.math.rsqrt(var + 1e-8)
            style = tf.matmul(w, ops.cast(self.style_kernel, dtype) * self.style_scale)
            style = style + ops.cast(self.style_bias, dtype)
            y = y * (style[:, None, None, :self.filters] + 1.0) + style[:, None, None, self.filters:]
        return y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "upsample": self.upsample, "injection": self.injection, "conv": self.conv}


@keras.saving.register_keras_serializable(package="i2i_keras")
class ToRGB(StyleLayer):
    """rosinality `ToRGB`: a modulated 1x1 conv without demodulation + bias, plus the upsampled previous RGB
    (inputs [x, w] or [x, w, skip]); `modulated=False` is StyleGAN's plain equalised 1x1 conv (w unused)."""

    def __init__(self, channels, modulated=True, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.modulated = int(channels), modulated

    def build(self, input_shape):
        in_ch, style_dim = int(input_shape[0][-1]), int(input_shape[1][-1])
        self.style_scale = 1.0 / math.sqrt(style_dim)
        self.kernel_scale = 1.0 / math.sqrt(in_ch)
        self.kernel = self._weight((1, 1, in_ch, self.channels), "kernel")
        if self.modulated:
            self.mod_kernel = self._weight((style_dim, in_ch), "mod_kernel")
            self.mod_bias = self._weight((in_ch,), "mod_bias", constant=1.0)
        self.bias = self._weight((self.channels,), "bias", constant=0.0)

    def call(self, inputs):
        x, w = inputs[0], inputs[1]
        dtype = x.dtype
        kernel = ops.cast(self.kernel, dtype) * self.kernel_scale
        if self.modulated:
            style = tf.matmul(w, ops.cast(self.mod_kernel, dtype) * self.style_scale) + ops.cast(self.mod_bias, dtype)
            y = modulated_conv(x, style, kernel, False, False)
        else:
            y = tf.nn.conv2d(x, kernel, 1, "SAME")
        y = y + ops.cast(self.bias, dtype)
        if len(inputs) == 3:
            y = y + upsample_blur(ops.cast(inputs[2], dtype))
        return y

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "modulated": self.modulated}


@keras.saving.register_keras_serializable(package="i2i_keras")
class ConstantInput(StyleLayer):
    """The learned 4x4 constant (rosinality `ConstantInput`), repeated over the batch of its input."""

    def __init__(self, channels, size=4, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.size = int(channels), int(size)

    def build(self, input_shape):
        self.const = self._weight((1, self.size, self.size, self.channels), "const")

    def call(self, w):
        return tf.tile(ops.cast(self.const, w.dtype), [tf.shape(w)[0], 1, 1, 1])

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "size": self.size}


@keras.saving.register_keras_serializable(package="i2i_keras")
class MinibatchStddev(keras.layers.Layer):
    """Appends `features` channels: the standard deviation over groups of `group` consecutive samples, averaged
    over channels (of each feature's slice) and positions (rosinality `Discriminator.forward`). The group is the
    largest size <= `group` that divides the batch."""

    def __init__(self, group=4, features=1, **kwargs):
        super().__init__(**kwargs)
        self.group, self.features = int(group), int(features)

    def call(self, x):
        shape = tf.shape(x)
        b, h, w, c = shape[0], shape[1], shape[2], x.shape[-1]
        sizes = tf.range(self.group, 0, -1)
        fits = tf.logical_and(tf.equal(b % sizes, 0), sizes <= b)
        g = tf.gather(sizes, tf.argmax(tf.cast(fits, tf.int32)))
        y = tf.reshape(tf.cast(x, tf.float32), [b // g, g, h, w, self.features, c // self.features])
        y = tf.sqrt(tf.math.reduce_variance(y, axis=1) + 1e-8)          # [B/g, H, W, F, C/F]
        y = tf.reduce_mean(y, axis=[1, 2, 4])                            # [B/g, F]
        y = tf.repeat(y, g, axis=0)[:, None, None, :]
        y = tf.tile(ops.cast(y, x.dtype), [1, h, w, 1])
        return tf.concat([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.features)

    def get_config(self):
        return {**super().get_config(), "group": self.group, "features": self.features}


def channels_at(resolution: int, channel_base: int, max_channels: int) -> int:
    """Feature maps at `resolution`: min(max_channels, channel_base // resolution). rosinality's table (512 up to
    32 px, then 256, 128, 64 ... times channel_multiplier 2) is channel_base 32768, max_channels 512."""
    return max(1, min(max_channels, channel_base // resolution))


def num_latents(image_size: int) -> int:
    """Per-layer styles (w's) of the synthesis network: 2 log2(size) - 2 (rosinality `n_latent`)."""
    return 2 * int(math.log2(image_size)) - 2


def noise_resolutions(image_size: int, injection: str) -> list:
    """Resolution of each noise input: StyleGAN2 has one layer at 4 px (the constant feeds a conv), StyleGAN two
    (the constant's own epilogue, then the conv); then two per resolution up to `image_size`."""
    first = [4] if injection == "modulated" else [4, 4]
    return first + [r for r in _resolutions(image_size) for _ in range(2)]


def _resolutions(image_size):
    return [2 ** i for i in range(3, int(math.log2(image_size)) + 1)]


def mapping_network(style_dim: int, layers: int, lr_mul: float, name="mapping") -> keras.Model:
    """z [B, style_dim] -> w [B, style_dim]: pixel norm, then `layers` EqualDense + leaky ReLU with lr_mul."""
    z = keras.Input((style_dim,), name="z")
    x = PixelNorm(name="pixel_norm")(z)
    for i in range(layers):
        x = EqualDense(style_dim, lr_mul=lr_mul, activate=True, name=f"fc{i}")(x)
    x = keras.layers.Activation("linear", dtype="float32", name="w")(x)
    return keras.Model(z, x, name=name)


def synthesis_network(image_size: int, style_dim: int, channel_base: int, max_channels: int, out_channels: int,
                      injection: str = "modulated", name="synthesis") -> keras.Model:
    """[ws [B, num_latents, style_dim], noise_0 .. noise_k [B, r, r, 1]] -> image [B, size, size, out_channels]
    (float32, not squashed: rosinality's output; the modes clip to [-1, 1])."""
    ch = lambda r: channels_at(r, channel_base, max_channels)  # noqa: E731
    ws = keras.Input((num_latents(image_size), style_dim), name="ws")
    noises = [keras.Input((r, r, 1), name=f"noise_{i}")
              for i, r in enumerate(noise_resolutions(image_size, injection))]
    x = ConstantInput(ch(4), name="const")(ws[:, 0])
    if injection == "modulated":
        x = StyledConv(ch(4), 3, name="conv_4")([x, ws[:, 0], noises[0]])
        skip = ToRGB(out_channels, name="to_rgb_4")([x, ws[:, 1]])
        i, n = 1, 1
        for r in _resolutions(image_size):
            x = StyledConv(ch(r), 3, upsample=True, name=f"conv_{r}_up")([x, ws[:, i], noises[n]])
            x = StyledConv(ch(r), 3, name=f"conv_{r}")([x, ws[:, i + 1], noises[n + 1]])
            skip = ToRGB(out_channels, name=f"to_rgb_{r}")([x, ws[:, i + 2], skip])
            i, n = i + 2, n + 2
        out = skip
    else:
        x = StyledConv(ch(4), injection="adain", conv=False, name="epilogue_4")([x, ws[:, 0], noises[0]])
        x = StyledConv(ch(4), 3, injection="adain", name="conv_4")([x, ws[:, 1], noises[1]])
        i = 2
        for r in _resolutions(image_size):
            x = StyledConv(ch(r), 3, upsample=True, injection="adain", name=f"conv_{r}_up")([x, ws[:, i], noises[i]])
            x = StyledConv(ch(r), 3, injection="adain", name=f"conv_{r}")([x, ws[:, i + 1], noises[i + 1]])
            i += 2
        out = ToRGB(out_channels, modulated=False, name="to_rgb")([x, ws[:, -1]])
    out = keras.layers.Activation("linear", dtype="float32", name="image")(out)
    return keras.Model([ws, *noises], out, name=name)


def residual_discriminator(image_size: int, in_channels: int, channel_base: int, max_channels: int,
                           mbstd_group: int = 4, mbstd_features: int = 1, name="discriminator") -> keras.Model:
    """rosinality `Discriminator`: 1x1 fromRGB, residual blocks (conv, blurred stride-2 conv; blurred stride-2 1x1
    skip without bias; sum / sqrt 2) down to 4 px, minibatch stddev, 3x3 conv, EqualDense + lrelu, EqualDense(1)."""
    ch = lambda r: channels_at(r, channel_base, max_channels)  # noqa: E731
    image = keras.Input((image_size, image_size, in_channels), name="image")
    x = EqualConv2D(ch(image_size), 1, name="from_rgb")(image)
    for r in reversed(_resolutions(image_size)):
        h = EqualConv2D(ch(r), 3, name=f"res_{r}_conv1")(x)
        h = EqualConv2D(ch(r // 2), 3, downsample=True, name=f"res_{r}_conv2")(h)
        skip = EqualConv2D(ch(r // 2), 1, downsample=True, use_bias=False, activate=False, name=f"res_{r}_skip")(x)
        x = keras.layers.Rescaling(1.0 / SQRT2, name=f"res_{r}_out")(keras.layers.Add()([h, skip]))
    x = MinibatchStddev(mbstd_group, mbstd_features, name="mbstd")(x)
    x = EqualConv2D(ch(4), 3, name="final_conv")(x)
    x = keras.layers.Flatten()(x)
    x = EqualDense(ch(4), activate=True, name="final_fc")(x)
    x = EqualDense(1, name="logit")(x)
    x = keras.layers.Activation("linear", dtype="float32", name="logit_f32")(x)
    return keras.Model(image, x, name=name)
