"""Discriminator factories. Outputs are float32 logits (no sigmoid): the GAN losses pick the link function."""

import keras

from i2i_keras.layers import normalization


def patch_discriminator(in_channels=3, base_filters=64, num_layers=3, norm="batch", name="patch_discriminator"):
    """PatchGAN: C64-C128-C256-C512 (4x4 convs, the last with stride 1) then a 1-channel 4x4 conv.

    With num_layers=3 each output logit sees a 70x70 input patch (pix2pix sec. 3.2.2; CycleGAN uses the same).
    """
    init = keras.initializers.RandomNormal(0.0, 0.02)
    inputs = keras.Input((None, None, in_channels), name="images")
    x = keras.layers.Conv2D(base_filters, 4, strides=2, padding="same", kernel_initializer=init, name="conv0")(inputs)
    x = keras.layers.LeakyReLU(0.2, name="lrelu0")(x)
    for i in range(1, num_layers + 1):
        filters = base_filters * min(2 ** i, 8)
        strides = 2 if i < num_layers else 1
        x = keras.layers.Conv2D(filters, 4, strides=strides, padding="same", use_bias=norm != "batch",
                                kernel_initializer=init, name=f"conv{i}")(x)
        layer = normalization(norm, name=f"norm{i}")
        if layer is not None:
            x = layer(x)
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
    x = keras.layers.Conv2D(1, 4, padding="same", kernel_initializer=init, name="logits")(x)
    outputs = keras.layers.Activation("linear", dtype="float32", name="logits_f32")(x)
    return keras.Model(inputs, outputs, name=name)


def multiscale_discriminator(in_channels=3, base_filters=64, num_layers=4, num_scales=3, norm="none",
                             name="multiscale_discriminator"):
    """Multi-scale discriminator (pix2pixHD, MUNIT, UNIT): `num_scales` PatchGAN-like critics, each on the input
    average-pooled by 2 more than the previous one. Each critic: `num_layers` 4x4 stride-2 convolutions
    (base_filters doubling, LeakyReLU 0.2, no normalization in MUNIT) and a 1x1 conv to one logit per patch.

    The model returns a list of `num_scales` logit maps (float32); the GAN losses average over the list.
    Inputs must be multiples of 2**(num_layers + num_scales - 1) to keep every scale's maps aligned.
    """
    init = keras.initializers.RandomNormal(0.0, 0.02)
    inputs = keras.Input((None, None, in_channels), name="images")
    outputs = []
    x = inputs
    for scale in range(num_scales):
        if scale:
            # 3x3 stride-2 average pool as in MUNIT's code (padding excluded from the average).
            x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name=f"s{scale}_downsample")(x)
        y = x
        for i in range(num_layers):
            y = keras.layers.Conv2D(base_filters * min(2 ** i, 8), 4, strides=2, padding="same",
                                    kernel_initializer=init, name=f"s{scale}_conv{i}")(y)
            layer = normalization(norm, name=f"s{scale}_norm{i}") if i else None
            if layer is not None:
                y = layer(y)
            y = keras.layers.LeakyReLU(0.2, name=f"s{scale}_lrelu{i}")(y)
        y = keras.layers.Conv2D(1, 1, kernel_initializer=init, name=f"s{scale}_logits")(y)
        outputs.append(keras.layers.Activation("linear", dtype="float32", name=f"s{scale}_logits_f32")(y))
    return keras.Model(inputs, outputs, name=name)
