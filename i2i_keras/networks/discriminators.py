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
