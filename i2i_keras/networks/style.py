"""Encoder / decoder factories for the latent-space methods (UNIT, MUNIT, BicycleGAN).

MUNIT (Huang et al. 2018, appendix B) at 256 px: content encoder c7s1-64, d128, d256, R256 x4 (instance norm);
style encoder c7s1-64, d128, d256, d256, d256, global average pool, fc8 (no normalization, since it would remove
the style statistics the encoder must see); decoder R256 x4 with AdaIN, u128, u64 (nearest x2 upsampling, 5x5 conv,
layer norm), c7s1-3 tanh; an MLP (3 layers of 256) maps the style code to every AdaIN scale and shift.

Weight initialisation (`init`): see `generators.INITS` ("kaiming" for MUNIT's generators, "xavier" with gain 0.02 for
BicycleGAN's networks).
"""

import keras

from i2i_keras.layers import AdaptiveInstanceNorm, ReflectionPadding2D
from i2i_keras.networks.generators import (INITS, _init, _norm, check_init, conv, conv_transpose, initializer,
                                           residual_block)

__all__ = ["INITS", "adain_decoder", "content_encoder", "conv_decoder", "initializer", "mlp", "resnet_encoder",
           "style_encoder", "unit_decoder", "unit_encoder"]


@keras.saving.register_keras_serializable(package="i2i_keras")
def leaky_relu_02(x):
    """LeakyReLU(0.2) as max(x, 0.2 x). Used right after a biased convolution: TensorFlow's grappler fuses
    Conv2D + BiasAdd + LeakyRelu in the forward pass and then fails on the LeakyReluGrad that still needs the
    unfused BiasAdd ("remapper failed: ... missing node"), which logs an error and skips the pass."""
    return keras.ops.maximum(x, 0.2 * x)


def _activation(x, activation, name):
    if activation == "relu":
        return keras.layers.ReLU(name=f"{name}_relu")(x)
    if activation == "lrelu":
        return keras.layers.Activation(leaky_relu_02, name=f"{name}_lrelu")(x)
    if activation in (None, "none"):
        return x
    raise ValueError(f"`activation` must be 'relu' or 'lrelu'. Received: activation={activation!r}")


def _conv(x, filters, kernel, strides, norm, activation, name, init="gaussian"):
    pad = (kernel - 1) // 2
    if pad:
        x = ReflectionPadding2D(pad, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(filters, kernel, strides=strides, use_bias=norm != "batch",
                            kernel_initializer=initializer(init), name=f"{name}_conv")(x)
    x = _norm(x, norm, f"{name}_norm")
    return _activation(x, activation, name)


def content_encoder(in_channels=3, base_filters=64, num_downsampling=2, num_blocks=4, norm="instance",
                    activation="relu", name="content_encoder", init="gaussian"):
    """c7s1-F, then `num_downsampling` 4x4 stride-2 convs doubling F, then `num_blocks` residual blocks.
    Output: [B, H / 2**n, W / 2**n, F * 2**n]. (MUNIT's `ContentEncoder` in NVlabs/MUNIT `networks.py`: reflection
    padding, `norm="instance"` without affine parameters as its `nn.InstanceNorm2d`, biases everywhere.)"""
    inputs = keras.Input((None, None, in_channels), name="images")
    x = _conv(inputs, base_filters, 7, 1, norm, activation, "in", init)
    filters = base_filters
    for i in range(num_downsampling):
        filters *= 2
        x = ReflectionPadding2D(1, name=f"down{i}_pad")(x)
        x = keras.layers.Conv2D(filters, 4, strides=2, use_bias=norm != "batch", kernel_initializer=initializer(init),
                                name=f"down{i}_conv")(x)
        x = _norm(x, norm, f"down{i}_norm")
        x = (keras.layers.ReLU(name=f"down{i}_relu") if activation == "relu"
             else keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu"))(x)
    for i in range(num_blocks):
        x = residual_block(x, filters, norm, f"res{i}", init=lambda: initializer(init))
    return keras.Model(inputs, x, name=name)


def style_encoder(in_channels=3, base_filters=64, num_downsampling=4, latent_dim=8, variational=False,
                  activation="relu", name="style_encoder", init="gaussian"):
    """c7s1-F, 4x4 stride-2 convs (F doubling for the first two, then constant), global average pool, then a
    linear map to `latent_dim`. No normalization. `variational=True` (BicycleGAN's encoder E) returns
    `[mu, logvar]` instead of one code. Any input size >= 2**num_downsampling works (global pooling)."""
    inputs = keras.Input((None, None, in_channels), name="images")
    x = _conv(inputs, base_filters, 7, 1, "none", activation, "in", init)
    filters = base_filters
    for i in range(num_downsampling):
        filters = filters * 2 if i < 2 else filters
        x = ReflectionPadding2D(1, name=f"down{i}_pad")(x)
        x = keras.layers.Conv2D(filters, 4, strides=2, kernel_initializer=initializer(init),
                                name=f"down{i}_conv")(x)
        x = _activation(x, activation, f"down{i}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    mu = keras.layers.Dense(latent_dim, kernel_initializer=initializer(init), name="mu")(x)
    mu = keras.layers.Activation("linear", dtype="float32", name="mu_f32")(mu)
    if not variational:
        return keras.Model(inputs, mu, name=name)
    logvar = keras.layers.Dense(latent_dim, kernel_initializer=initializer(init), name="logvar")(x)
    logvar = keras.layers.Activation("linear", dtype="float32", name="logvar_f32")(logvar)
    return keras.Model(inputs, [mu, logvar], name=name)


def mlp(in_dim, out_dim, hidden=256, num_layers=3, name="mlp", init="gaussian"):
    """`num_layers` dense layers (ReLU between, linear output)."""
    inputs = keras.Input((in_dim,), name="codes")
    x = inputs
    for i in range(num_layers - 1):
        x = keras.layers.Dense(hidden, activation="relu", kernel_initializer=initializer(init), name=f"dense{i}")(x)
    x = keras.layers.Dense(out_dim, kernel_initializer=initializer(init), name=f"dense{num_layers - 1}")(x)
    return keras.Model(inputs, x, name=name)


def adain_residual_block(x, gamma_beta_1, gamma_beta_2, filters, name, init="gaussian"):
    """Residual block whose two normalizations are AdaIN with externally given scale/shift ([B, 2F] each)."""
    y = ReflectionPadding2D(1, name=f"{name}_pad1")(x)
    y = keras.layers.Conv2D(filters, 3, kernel_initializer=initializer(init), name=f"{name}_conv1")(y)
    y = AdaptiveInstanceNorm(name=f"{name}_adain1")([y, gamma_beta_1])
    y = keras.layers.ReLU(name=f"{name}_relu")(y)
    y = ReflectionPadding2D(1, name=f"{name}_pad2")(y)
    y = keras.layers.Conv2D(filters, 3, kernel_initializer=initializer(init), name=f"{name}_conv2")(y)
    y = AdaptiveInstanceNorm(name=f"{name}_adain2")([y, gamma_beta_2])
    return keras.layers.Add(name=f"{name}_add")([x, y])


def adain_decoder(out_channels=3, in_filters=256, num_upsampling=2, num_blocks=4, style_dim=8, mlp_dim=256,
                  up_norm="layer", name="adain_decoder", init="gaussian"):
    """MUNIT decoder: inputs `[content [B,h,w,in_filters], style [B,style_dim]]` -> image [B, h*2**n, w*2**n, C].

    The style MLP (3 layers of `mlp_dim`) produces the scale and shift of all 2 x `num_blocks` AdaIN layers (the
    scale is predicted directly, as MUNIT's code does, not as 1 + delta).
    """
    content = keras.Input((None, None, in_filters), name="content")
    style = keras.Input((style_dim,), name="style")
    hidden = mlp(style_dim, mlp_dim, mlp_dim, 2, name="style_mlp", init=init)(style)
    hidden = keras.layers.ReLU(name="style_mlp_relu")(hidden)
    x = content
    for i in range(num_blocks):
        # MUNIT's last MLP layer is one linear map to all AdaIN parameters; one linear head per AdaIN layer is the
        # same function (a row block of that matrix each) without slicing layers.
        first = keras.layers.Dense(2 * in_filters, kernel_initializer=initializer(init), name=f"res{i}_params1")(hidden)
        second = keras.layers.Dense(2 * in_filters, kernel_initializer=initializer(init),
                                    name=f"res{i}_params2")(hidden)
        x = adain_residual_block(x, first, second, in_filters, name=f"res{i}", init=init)
    filters = in_filters
    for i in range(num_upsampling):
        filters //= 2
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}_resize")(x)
        x = _conv(x, filters, 5, 1, up_norm, "relu", f"up{i}", init)
    x = ReflectionPadding2D(3, name="out_pad")(x)
    x = keras.layers.Conv2D(out_channels, 7, kernel_initializer=initializer(init), name="out_conv")(x)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    return keras.Model([content, style], outputs, name=name)


def conv_decoder(out_channels=3, in_filters=256, num_upsampling=2, num_blocks=0, norm="instance", upsample="nearest",
                 name="conv_decoder"):
    """Residual blocks then `num_upsampling` x2 upsamplings halving the filters ("nearest": nearest resize + 5x5
    conv; "transpose": 4x4 transposed conv), then c7s1-C tanh. (UNIT's generators; the mirror of
    `content_encoder`.)"""
    inputs = keras.Input((None, None, in_filters), name="content")
    x = inputs
    for i in range(num_blocks):
        x = residual_block(x, in_filters, norm, name=f"res{i}")
    filters = in_filters
    for i in range(num_upsampling):
        filters //= 2
        if upsample == "nearest":
            x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{i}_resize")(x)
            x = _conv(x, filters, 5, 1, norm, "relu", f"up{i}")
        elif upsample == "transpose":
            x = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=norm != "batch",
                                             kernel_initializer=_init(), name=f"up{i}_conv")(x)
            x = _norm(x, norm, f"up{i}_norm")
            x = keras.layers.ReLU(name=f"up{i}_relu")(x)
        else:
            raise ValueError(f"`upsample` must be 'nearest' or 'transpose'. Received: upsample={upsample!r}")
    x = ReflectionPadding2D(3, name="out_pad")(x)
    x = keras.layers.Conv2D(out_channels, 7, kernel_initializer=_init(), name="out_conv")(x)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="i2i_keras")
def leaky_relu_001(x):
    """PyTorch's default `nn.LeakyReLU()` slope, 0.01, as max(x, 0.01 x) (see `leaky_relu_02` for why a function)."""
    return keras.ops.maximum(x, 0.01 * x)


def _unit_residual_blocks(x, filters, num_blocks, norm, name):
    """UNIT's `INSResBlock`s: 3x3 convolutions zero-padded by 1 with biases, instance norm, ReLU between, identity
    skip (mingyuliutw/UNIT `src/trainers/common_net.py`)."""
    for i in range(num_blocks):
        x = residual_block(x, filters, norm, f"{name}{i}", reflect=False, use_bias=True)
    return x


def unit_encoder(in_channels=3, base_filters=64, num_downsampling=2, num_blocks=3, norm="instance",
                 name="unit_encoder"):
    """A UNIT encoder's domain-specific front (`COCOResGen` in mingyuliutw/UNIT `src/trainers/cocogan_nets.py`,
    the cat2tiger config's `n_enc_front_blk: 3`, `n_enc_res_blk: 3`): a 7x7 convolution (zero padding 3, bias) with
    LeakyReLU 0.01 and no normalization, `num_downsampling` 3x3 stride-2 convolutions (padding 1, bias) doubling
    the channels with `norm` and ReLU (`ReLUINSConv2d`), then `num_blocks` residual blocks.
    Output: [B, H / 2**n, W / 2**n, F * 2**n]."""
    inputs = keras.Input((None, None, in_channels), name="images")
    x = conv(inputs, base_filters, 7, 1, 3, name="in_conv")
    x = keras.layers.Activation(leaky_relu_001, name="in_lrelu")(x)
    filters = base_filters
    for i in range(num_downsampling):
        filters *= 2
        x = conv(x, filters, 3, 2, 1, name=f"down{i}_conv")
        x = _norm(x, norm, f"down{i}_norm")
        x = keras.layers.ReLU(name=f"down{i}_relu")(x)
    x = _unit_residual_blocks(x, filters, num_blocks, norm, "res")
    return keras.Model(inputs, x, name=name)


def unit_residual_stack(filters, num_blocks=1, norm="instance", name="unit_residual_stack"):
    """UNIT's shared layers (`enc_shared` / `dec_shared` of `COCOResGen`): `num_blocks` residual blocks, called by
    both domains' streams."""
    if num_blocks < 1:
        raise ValueError(f"`num_blocks` must be >= 1. Received: num_blocks={num_blocks!r}")
    inputs = keras.Input((None, None, filters), name="features")
    return keras.Model(inputs, _unit_residual_blocks(inputs, filters, num_blocks, norm, "res"), name=name)


def unit_decoder(out_channels=3, in_filters=256, num_upsampling=2, num_blocks=3, norm="instance",
                 name="unit_decoder"):
    """A UNIT generator's domain-specific back (`COCOResGen`, `n_gen_res_blk: 3`, `n_gen_front_blk: 3`):
    `num_blocks` residual blocks, `num_upsampling` 3x3 stride-2 transposed convolutions (padding 1,
    output_padding 1, bias) halving the channels with `norm` and ReLU (`ReLUINSConvTranspose2d`), a 1x1 transposed
    convolution to `out_channels` and tanh."""
    inputs = keras.Input((None, None, in_filters), name="content")
    x = _unit_residual_blocks(inputs, in_filters, num_blocks, norm, "res")
    filters = in_filters
    for i in range(num_upsampling):
        filters //= 2
        x = conv_transpose(x, filters, 3, 2, 1, 1, name=f"up{i}_conv")
        x = _norm(x, norm, f"up{i}_norm")
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    x = conv_transpose(x, out_channels, 1, 1, name="out_conv")
    outputs = keras.layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet_encoder(in_channels=3, base_filters=64, num_blocks=5, latent_dim=8, norm="instance", init="gaussian",
                   name="resnet_encoder"):
    """BicycleGAN's encoder E (`E_ResNet` with `vaeLike=True`; `resnet_256` is num_blocks=5, in junyanz/BicycleGAN
    `models/networks.py`): a 4x4 stride-2 convolution (padding 1), then `num_blocks - 1` residual downsampling
    blocks (`BasicBlock`: norm, LeakyReLU 0.2, 3x3 conv, norm, LeakyReLU, 3x3 conv, 2x2 average pool; shortcut 2x2
    average pool then 1x1 conv) growing the channels F, 2F, 3F, 4F, 4F..., LeakyReLU, average pooling, and two
    linear heads: `[mu, logvar]`, each [B, latent_dim]. Every convolution has a bias.

    The reference pools with a fixed 8x8 window and flattens, which only fits 256 px inputs (an 8x8 map); this
    encoder averages the whole final map, the same function at 256 px and defined at every size.
    """
    check_init(init)
    if num_blocks < 1:
        raise ValueError(f"`num_blocks` must be >= 1. Received: num_blocks={num_blocks!r}")
    inputs = keras.Input((None, None, in_channels), name="images")
    x = conv(inputs, base_filters, 4, 2, 1, init=init, name="in_conv")
    filters = base_filters
    for n in range(1, num_blocks):
        inner = base_filters * min(4, n)
        filters = base_filters * min(4, n + 1)
        name_n = f"block{n}"
        y = _norm(x, norm, f"{name_n}_norm1")
        y = keras.layers.Activation(leaky_relu_02, name=f"{name_n}_lrelu1")(y)
        y = conv(y, inner, 3, 1, 1, init=init, name=f"{name_n}_conv1")
        y = _norm(y, norm, f"{name_n}_norm2")
        y = keras.layers.Activation(leaky_relu_02, name=f"{name_n}_lrelu2")(y)
        y = conv(y, filters, 3, 1, 1, init=init, name=f"{name_n}_conv2")
        y = keras.layers.AveragePooling2D(2, name=f"{name_n}_pool")(y)
        shortcut = keras.layers.AveragePooling2D(2, name=f"{name_n}_shortcut_pool")(x)
        shortcut = conv(shortcut, filters, 1, init=init, name=f"{name_n}_shortcut_conv")
        x = keras.layers.Add(name=f"{name_n}_add")([y, shortcut])
    x = keras.layers.Activation(leaky_relu_02, name="out_lrelu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    mu = keras.layers.Dense(latent_dim, kernel_initializer=initializer(init), name="mu")(x)
    logvar = keras.layers.Dense(latent_dim, kernel_initializer=initializer(init), name="logvar")(x)
    mu = keras.layers.Activation("linear", dtype="float32", name="mu_f32")(mu)
    logvar = keras.layers.Activation("linear", dtype="float32", name="logvar_f32")(logvar)
    return keras.Model(inputs, [mu, logvar], name=name)
