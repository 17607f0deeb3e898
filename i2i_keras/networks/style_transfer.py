"""Feed-forward style-transfer networks: Johnson et al.'s transformer network (`fast_style`) and the AdaIN decoder
(`adain`). Both use reflection padding and nearest-neighbour upsampling followed by a convolution (no transposed
convolutions), as their references do; PyTorch's default initialisation (`init="torch_default"`)."""

import keras

from i2i_keras.networks.style import _conv


def _upsample(x, factor, name):
    return keras.layers.UpSampling2D(factor, interpolation="nearest", name=name)(x)


def transformer_net(channels=3, base_filters=32, num_blocks=5, init="torch_default", name="transformer_net"):
    """Johnson et al.'s image transformation network, as pytorch/examples fast_neural_style/neural_style/
    transformer_net.py builds it: 9x9 conv (32) -> 3x3 stride-2 convs (64, 128) -> `num_blocks` residual blocks
    (two 3x3 convs of 128, instance norm, ReLU after the first only) -> two x2 nearest upsample + 3x3 conv (64, 32)
    -> 9x9 conv to `channels`. Every conv reflection-pads by kernel // 2; instance norm has a learnt scale and
    offset (`affine=True`). The reference leaves the output unbounded (pixels 0-255, clamped when saved); here a
    tanh maps it into the library's [-1, 1] (Johnson's own Torch code ends with a scaled tanh too)."""
    inputs = keras.Input((None, None, channels), name="content")
    x = _conv(inputs, base_filters, 9, 1, "instance_affine", "relu", "conv1", init)
    x = _conv(x, base_filters * 2, 3, 2, "instance_affine", "relu", "conv2", init)
    x = _conv(x, base_filters * 4, 3, 2, "instance_affine", "relu", "conv3", init)
    for i in range(num_blocks):
        y = _conv(x, base_filters * 4, 3, 1, "instance_affine", "relu", f"res{i + 1}_a", init)
        y = _conv(y, base_filters * 4, 3, 1, "instance_affine", None, f"res{i + 1}_b", init)
        x = keras.layers.Add(name=f"res{i + 1}_add")([x, y])
    x = _conv(_upsample(x, 2, "up1"), base_filters * 2, 3, 1, "instance_affine", "relu", "deconv1", init)
    x = _conv(_upsample(x, 2, "up2"), base_filters, 3, 1, "instance_affine", "relu", "deconv2", init)
    x = _conv(x, channels, 9, 1, "none", None, "deconv3", init)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name=name)


def adain_vgg_decoder(in_channels=512, base_filters=64, out_channels=3, init="torch_default", name="decoder"):
    """The AdaIN decoder of naoto0804/pytorch-AdaIN net.py (`decoder`), the mirror of VGG19 up to relu4_1: 3x3
    reflection-padded convs with ReLU, 256 | x2, 256, 256, 256, 128 | x2, 128, 64 | x2, 64, then a 3x3 conv to
    `out_channels` without activation (widths for `base_filters=64`). The output is unbounded, as the reference's
    (which clamps when it saves); `AdaIN.translate` clips it to [-1, 1]."""
    b = base_filters
    inputs = keras.Input((None, None, in_channels), name="features")
    x = _conv(inputs, 4 * b, 3, 1, "none", "relu", "block4_1", init)
    x = _upsample(x, 2, "up3")
    for i, filters in enumerate((4 * b, 4 * b, 4 * b, 2 * b)):
        x = _conv(x, filters, 3, 1, "none", "relu", f"block3_{4 - i}", init)
    x = _upsample(x, 2, "up2")
    x = _conv(x, 2 * b, 3, 1, "none", "relu", "block2_2", init)
    x = _conv(x, b, 3, 1, "none", "relu", "block2_1", init)
    x = _upsample(x, 2, "up1")
    x = _conv(x, b, 3, 1, "none", "relu", "block1_2", init)
    x = _conv(x, out_channels, 3, 1, "none", None, "block1_1", init)
    outputs = keras.layers.Activation("linear", dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name=name)
