"""Encoder / decoder factories for the latent-space methods (UNIT, MUNIT, BicycleGAN).

MUNIT (Huang et al. 2018, appendix B) at 256 px: content encoder c7s1-64, d128, d256, R256 x4 (instance norm);
style encoder c7s1-64, d128, d256, d256, d256, global average pool, fc8 (no normalization, since it would remove
the style statistics the encoder must see); decoder R256 x4 with AdaIN, u128, u64 (nearest x2 upsampling, 5x5 conv,
layer norm), c7s1-3 tanh; an MLP (3 layers of 256) maps the style code to every AdaIN scale and shift.

Weight initialisation (`init`): "gaussian" is N(0, 0.02) (pix2pix/CycleGAN/UNIT, and MUNIT's discriminators);
"kaiming" is He-normal, N(0, 2 / fan_in) untruncated, which MUNIT's configs use for every generator convolution
and linear layer (`init: kaiming`, `weights_init` in its `utils.py`). Biases start at zero either way.
"""

import keras

from i2i_keras.layers import AdaptiveInstanceNorm, ReflectionPadding2D
from i2i_keras.networks.generators import _init, _norm, residual_block

INITS = ("gaussian", "kaiming")


def initializer(kind="gaussian"):
    """A fresh kernel initializer: "gaussian" N(0, 0.02) or "kaiming" (He normal, untruncated, as PyTorch's
    `kaiming_normal_(a=0, mode="fan_in")`)."""
    if kind == "gaussian":
        return _init()
    if kind == "kaiming":
        return keras.initializers.VarianceScaling(2.0, mode="fan_in", distribution="untruncated_normal")
    raise ValueError(f"Unknown initialisation {kind!r}; expected one of {list(INITS)}. Received: init={kind!r}")


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
    Output: [B, H / 2**n, W / 2**n, F * 2**n]. (MUNIT's content encoder; UNIT's domain encoders.)"""
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
