"""pSp's GradualStyleEncoder: an IR / IR-SE residual backbone, a feature pyramid and one map2style block per style.

Written after reading eladrich/pixel2style2pixel `models/encoders/psp_encoders.py` (GradualStyleBlock,
GradualStyleEncoder), `models/encoders/helpers.py` (bottleneck_IR, bottleneck_IR_SE, SEModule, get_blocks) and
`models/psp.py`. Own code, Keras layers.

- Input layer: 3x3 conv (no bias), norm, PReLU.
- Body: four stages of IR blocks (`widths`, `blocks`; IR-50: widths 64/128/256/512, blocks 3/4/14/3), the first
  block of each stage with stride 2. An IR block is norm -> 3x3 conv -> PReLU -> 3x3 conv (the stride) -> norm
  (-> squeeze-excitation with reduction 16 in IR-SE), plus a shortcut: a 1x1 strided max-pool when the width does
  not change, else a 1x1 strided conv + norm.
- Pyramid: c1 (after stage 2), c2 (after stage 3), c3 (after stage 4, the deepest). The coarse styles come from c3;
  p2 = upsample(c3) + 1x1 conv(c2) gives the medium styles; p1 = upsample(p2) + 1x1 conv(c1) the fine ones
  (bilinear upsampling with aligned corners, as the reference's `_upsample_add`). The lateral convs map to
  `style_dim` channels (c3 too, by a 1x1 conv, when the last width is not `style_dim`: the reference's 512 is both).
- map2style (GradualStyleBlock): 3x3 stride-2 convs with leaky ReLU (0.01) from the map's side down to 1x1
  (log2(side) convs, at least one), then an equalised linear layer: one style vector of `style_dim` numbers.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from i2i_keras.layers import normalization
from i2i_keras.methods.stylegan.networks import EqualDense


def _norm(x, kind, name):
    layer = normalization(kind, name=name)
    return x if layer is None else layer(x)


def _prelu(name):
    return keras.layers.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.25), name=name)


def _squeeze_excitation(x, channels, name, reduction=16):
    """SEModule: global average -> 1x1 conv (C / 16, no bias) -> ReLU -> 1x1 conv (C, no bias) -> sigmoid -> x *."""
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    s = keras.layers.Conv2D(max(channels // reduction, 1), 1, use_bias=False, activation="relu",
                            name=f"{name}_fc1")(s)
    s = keras.layers.Conv2D(channels, 1, use_bias=False, activation="sigmoid", name=f"{name}_fc2")(s)
    return keras.layers.Multiply(name=f"{name}_scale")([x, s])


def ir_block(x, in_channels, depth, stride, norm, se, name):
    """bottleneck_IR / bottleneck_IR_SE."""
    # The reference's strided shortcuts (a 1x1 max-pool, or a 1x1 conv, of stride `stride`) only subsample: the
    # subsampling is one 1x1 max-pool for both, the conv then runs at stride 1 (the same numbers and weights). A
    # strided 1x1 Conv2D's filter gradient crashes TensorFlow's oneDNN CPU kernels (TF 2.16 and 2.21) at batch 1 with
    # a few input channels (4 or 8; heap corruption in a traced step; `tests/methods/test_psp.py` trains such a step).
    shortcut = keras.layers.MaxPooling2D(1, stride, name=f"{name}_short_pool")(x) if stride > 1 else x
    if in_channels != depth:
        shortcut = keras.layers.Conv2D(depth, 1, use_bias=False, name=f"{name}_short_conv")(shortcut)
        shortcut = _norm(shortcut, norm, f"{name}_short_norm")
    r = _norm(x, norm, f"{name}_norm1")
    r = keras.layers.Conv2D(depth, 3, padding="same", use_bias=False, name=f"{name}_conv1")(r)
    r = _prelu(f"{name}_prelu")(r)
    r = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(r)
    r = keras.layers.Conv2D(depth, 3, stride, use_bias=False, name=f"{name}_conv2")(r)
    r = _norm(r, norm, f"{name}_norm2")
    if se:
        r = _squeeze_excitation(r, depth, f"{name}_se")
    return keras.layers.Add(name=f"{name}_add")([r, shortcut])


def map2style(x, side, style_dim, name):
    """GradualStyleBlock: log2(side) (at least one) stride-2 3x3 convs + leaky ReLU to 1x1, equalised linear."""
    for k in range(max(int(math.log2(side)), 1)):
        x = keras.layers.Conv2D(style_dim, 3, 2, padding="same", name=f"{name}_conv{k}")(x)
        x = keras.layers.LeakyReLU(0.01, name=f"{name}_lrelu{k}")(x)
    x = keras.layers.Reshape((style_dim,), name=f"{name}_flat")(x)
    return EqualDense(style_dim, lr_mul=1.0, name=f"{name}_linear")(x)


@keras.saving.register_keras_serializable(package="i2i_keras")
class UpsampleAdd(keras.layers.Layer):
    """`_upsample_add(x, y)`: x resized bilinearly (align_corners=True, as the reference's F.interpolate) to y's
    height and width, plus y."""

    def call(self, inputs):
        import tensorflow as tf

        x, y = inputs
        size = tf.shape(y)[1:3]
        up = tf.compat.v1.image.resize_bilinear(tf.cast(x, "float32"), size, align_corners=True)
        return tf.cast(up, y.dtype) + y

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]


@keras.saving.register_keras_serializable(package="i2i_keras")
class StackStyles(keras.layers.Layer):
    """[B, D] style vectors -> [B, count, D]."""

    def call(self, styles):
        return ops.stack(styles, axis=1)


def style_split(num_ws: int, coarse_styles: int, medium_styles: int) -> tuple:
    """(coarse, medium, fine) style counts of `num_ws` styles: the reference's coarse_ind 3 / middle_ind 7, cut to
    the generator's styles (the fine group may be empty at small resolutions only if the others fill num_ws)."""
    coarse = min(coarse_styles, num_ws)
    medium = min(medium_styles, num_ws - coarse)
    return coarse, medium, num_ws - coarse - medium


def gradual_style_encoder(image_size: int, in_channels: int, num_ws: int, style_dim: int, widths=(64, 128, 256, 512),
                          blocks=(3, 4, 14, 3), coarse_styles: int = 3, medium_styles: int = 4, norm: str = "batch",
                          se: bool = True, name: str = "encoder") -> keras.Model:
    """images [B, size, size, in_channels] -> style codes [B, num_ws, style_dim] (before the w average is added)."""
    images = keras.Input((image_size, image_size, in_channels), name="images")
    x = keras.layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="input_conv")(images)
    x = _norm(x, norm, "input_norm")
    x = _prelu("input_prelu")(x)
    channels, taps, side = widths[0], [], image_size
    for stage, (depth, count) in enumerate(zip(widths, blocks)):
        for b in range(count):
            x = ir_block(x, channels, depth, 2 if b == 0 else 1, norm, se, name=f"stage{stage}_block{b}")
            channels = depth
        side //= 2
        taps.append((x, side))
    (c1, side1), (c2, side2), (c3, side3) = taps[1], taps[2], taps[3]
    if widths[3] != style_dim:
        # The reference's deepest width is the style size (512); another width is projected to it by a 1x1 conv.
        c3 = keras.layers.Conv2D(style_dim, 1, name="lateral3")(c3)
    coarse, medium, fine = style_split(num_ws, coarse_styles, medium_styles)
    styles = [map2style(c3, side3, style_dim, f"style{i}") for i in range(coarse)]
    p2 = UpsampleAdd(name="upsample_add2")([c3, keras.layers.Conv2D(style_dim, 1, name="lateral2")(c2)])
    styles += [map2style(p2, side2, style_dim, f"style{coarse + i}") for i in range(medium)]
    p1 = UpsampleAdd(name="upsample_add1")([p2, keras.layers.Conv2D(style_dim, 1, name="lateral1")(c1)])
    styles += [map2style(p1, side1, style_dim, f"style{coarse + medium + i}") for i in range(fine)]
    codes = StackStyles(name="stack")(styles)
    codes = keras.layers.Activation("linear", dtype="float32", name="codes")(codes)
    return keras.Model(images, codes, name=name)
