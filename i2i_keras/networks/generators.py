"""Generator factories. Inputs have free spatial size (None, None, C) so exported models take any size that is a
multiple of the network's downsampling factor; outputs are float32 tanh images in [-1, 1] (also under mixed
precision, where the last activation is pinned to float32)."""

import keras

from i2i_keras.layers import InferenceDropout, ReflectionPadding2D, TileLatent, normalization

# Gaussian N(0, 0.02) weights, the initialisation of the pix2pix and CycleGAN papers.
def _init():
    return keras.initializers.RandomNormal(0.0, 0.02)


def _norm(x, kind, name):
    layer = normalization(kind, name=name)
    return x if layer is None else layer(x)


def unet_generator(in_channels=3, out_channels=3, base_filters=64, num_downs=8, norm="batch", dropout=0.5,
                   dropout_at_inference=False, latent_dim=0, name="unet_generator"):
    """pix2pix U-Net: `num_downs` stride-2 4x4 convolutions, mirrored by transposed convolutions, with skips.

    Encoder C64-C128-C256-C512-C512...; decoder with dropout on the three layers after the innermost one, as the
    authors' code places it (at 256 px: the 2->4, 4->8 and 8->16 upsamplings; the paper's appendix lists
    CD512-CD512-CD512, one layer earlier). Smaller U-Nets keep min(3, num_downs - 2) dropout layers so that the noise
    source exists at every depth. `num_downs=8` maps 256x256 to a 1x1 bottleneck; inputs must be multiples of
    2**num_downs.

    `latent_dim > 0` (BicycleGAN): the model takes `[images, z]`, z [B, latent_dim], and z is broadcast over the
    image and concatenated to it as extra input channels (BicycleGAN's "add_to_input" injection).
    """
    if num_downs < 2:
        raise ValueError(f"`num_downs` must be >= 2. Received: num_downs={num_downs!r}")
    use_bias = norm != "batch"  # batch norm's offset makes a conv bias redundant
    filters = [min(base_filters * 2 ** i, base_filters * 8) for i in range(num_downs)]
    inputs = keras.Input((None, None, in_channels), name="images")
    skips = []
    x = inputs
    if latent_dim:
        latent = keras.Input((latent_dim,), name="latent")
        x = TileLatent(name="tile_latent")([inputs, latent])
        inputs = [inputs, latent]
    for i, f in enumerate(filters):
        if i > 0:
            x = keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
        x = keras.layers.Conv2D(f, 4, strides=2, padding="same", use_bias=use_bias or i in (0, num_downs - 1),
                                kernel_initializer=_init(), name=f"down{i}_conv")(x)
        if 0 < i < num_downs - 1:  # no norm on the first layer (paper) nor on the 1x1 bottleneck
            x = _norm(x, norm, f"down{i}_norm")
        skips.append(x)
    num_dropout = min(3, num_downs - 2)
    for step, i in enumerate(reversed(range(num_downs - 1))):
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
        x = keras.layers.Conv2DTranspose(filters[i], 4, strides=2, padding="same", use_bias=use_bias,
                                         kernel_initializer=_init(), name=f"up{i}_conv")(x)
        x = _norm(x, norm, f"up{i}_norm")
        if dropout and 1 <= step <= num_dropout:
            x = InferenceDropout(dropout, always_on=dropout_at_inference, name=f"up{i}_dropout")(x)
        x = keras.layers.Concatenate(name=f"up{i}_skip")([x, skips[i]])
    x = keras.layers.ReLU(name="out_relu")(x)
    x = keras.layers.Conv2DTranspose(out_channels, 4, strides=2, padding="same", kernel_initializer=_init(),
                                     name="out_conv")(x)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def residual_block(x, filters, norm, name, init=_init, reflect=True, use_bias=None):
    """Two 3x3 convolutions (normalized, ReLU between) with a skip connection. By default reflection-padded, with
    N(0, 0.02) kernels and biases unless batch norm follows (CycleGAN / Johnson et al.); `reflect=False` zero-pads
    instead (StarGAN). `init` makes one kernel initializer per call; `use_bias=None` means `norm != "batch"`."""
    use_bias = norm != "batch" if use_bias is None else use_bias
    y = x
    for i in (1, 2):
        if reflect:
            y = ReflectionPadding2D(1, name=f"{name}_pad{i}")(y)
        y = keras.layers.Conv2D(filters, 3, padding="valid" if reflect else "same", use_bias=use_bias,
                                kernel_initializer=init(), name=f"{name}_conv{i}")(y)
        y = _norm(y, norm, f"{name}_norm{i}")
        if i == 1:
            y = keras.layers.ReLU(name=f"{name}_relu")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _conv7x7(x, filters, reflect, use_bias, init, name):
    """c7s1-`filters`: reflection-padded by 3 then unpadded (`reflect`), or zero-padded ("same")."""
    if reflect:
        x = ReflectionPadding2D(3, name=f"{name}_pad")(x)
    return keras.layers.Conv2D(filters, 7, padding="valid" if reflect else "same", use_bias=use_bias,
                               kernel_initializer=init(), name=f"{name}_conv")(x)


def _residual_translator(x, out_channels, base_filters, num_blocks, num_downsampling, norm, kernel_size, init,
                         use_bias, reflect, out_bias):
    """The skeleton of the ResNet and StarGAN generators (Johnson et al.): c7s1-F, `num_downsampling` stride-2
    `kernel_size` convs doubling F, `num_blocks` residual blocks, as many stride-2 transposed convs halving F back,
    c7s1-`out_channels` and tanh (float32). Every conv but the last is followed by `norm` and ReLU and has a bias iff
    `use_bias` (the last iff `out_bias`); `init` makes each kernel initializer; `reflect` picks reflection padding
    (stem, blocks, head) over zero padding."""
    x = _conv7x7(x, base_filters, reflect, use_bias, init, "in")
    x = _norm(x, norm, "in_norm")
    x = keras.layers.ReLU(name="in_relu")(x)
    filters = base_filters
    for i in range(num_downsampling):
        filters *= 2
        x = keras.layers.Conv2D(filters, kernel_size, strides=2, padding="same", use_bias=use_bias,
                                kernel_initializer=init(), name=f"down{i}_conv")(x)
        x = _norm(x, norm, f"down{i}_norm")
        x = keras.layers.ReLU(name=f"down{i}_relu")(x)
    for i in range(num_blocks):
        x = residual_block(x, filters, norm, f"res{i}", init=init, reflect=reflect, use_bias=use_bias)
    for i in range(num_downsampling):
        filters //= 2
        x = keras.layers.Conv2DTranspose(filters, kernel_size, strides=2, padding="same", use_bias=use_bias,
                                         kernel_initializer=init(), name=f"up{i}_conv")(x)
        x = _norm(x, norm, f"up{i}_norm")
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    x = _conv7x7(x, out_channels, reflect, out_bias, init, "out")
    return keras.layers.Activation("tanh", dtype="float32", name="out_tanh")(x)


def resnet_generator(in_channels=3, out_channels=3, base_filters=64, num_blocks=9, num_downsampling=2,
                     norm="instance", name="resnet_generator"):
    """CycleGAN ResNet generator: c7s1-64, d128, d256, R256 x num_blocks, u128, u64, c7s1-3 (9 blocks at 256 px,
    6 below). Inputs must be multiples of 2**num_downsampling."""
    inputs = keras.Input((None, None, in_channels), name="images")
    outputs = _residual_translator(inputs, out_channels, base_filters, num_blocks, num_downsampling, norm,
                                   kernel_size=3, init=_init, use_bias=norm != "batch", reflect=True, out_bias=True)
    return keras.Model(inputs, outputs, name=name)


def encoder_decoder_generator(in_channels=3, out_channels=3, base_filters=64, num_downs=4, norm="batch",
                              name="encoder_decoder_generator"):
    """DiscoGAN generator (Kim et al. 2017, sec. 2.2 and the authors' `model.py`): an encoder-decoder without skips
    or residual blocks.

    Encoder: `num_downs` 4x4 stride-2 convolutions (F, 2F, 4F, 8F, capped at 8F) with LeakyReLU 0.2, normalized
    from the second on. Decoder: 4x4 stride-2 transposed convolutions back to F with normalization and ReLU, then a
    4x4 stride-2 transposed convolution to `out_channels` and tanh (the authors' code ends in a sigmoid on [0, 1]
    images; this library's images are in [-1, 1]). At 64 px with `num_downs=4` the bottleneck is 4x4x8F, the paper's
    setting. Inputs must be multiples of 2**num_downs.
    """
    if num_downs < 1:
        raise ValueError(f"`num_downs` must be >= 1. Received: num_downs={num_downs!r}")
    use_bias = norm != "batch"
    filters = [base_filters * min(2 ** i, 8) for i in range(num_downs)]
    inputs = keras.Input((None, None, in_channels), name="images")
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 4, strides=2, padding="same", use_bias=use_bias or i == 0,
                                kernel_initializer=_init(), name=f"down{i}_conv")(x)
        if i > 0:  # no normalization on the first layer (DCGAN / DiscoGAN)
            x = _norm(x, norm, f"down{i}_norm")
        x = keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
    for i in reversed(range(num_downs - 1)):
        x = keras.layers.Conv2DTranspose(filters[i], 4, strides=2, padding="same", use_bias=use_bias,
                                         kernel_initializer=_init(), name=f"up{i}_conv")(x)
        x = _norm(x, norm, f"up{i}_norm")
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    x = keras.layers.Conv2DTranspose(out_channels, 4, strides=2, padding="same", kernel_initializer=_init(),
                                     name="out_conv")(x)
    outputs = keras.layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def residual_stack(filters, num_blocks=1, norm="instance", name="residual_stack"):
    """`num_blocks` residual blocks on a feature map [B, h, w, filters] (same shape out). UNIT builds its shared
    high-level encoder layers and shared low-level generator layers from one such model each, called by both
    domains' streams."""
    if num_blocks < 1:
        raise ValueError(f"`num_blocks` must be >= 1. Received: num_blocks={num_blocks!r}")
    inputs = keras.Input((None, None, filters), name="features")
    x = inputs
    for i in range(num_blocks):
        x = residual_block(x, filters, norm, name=f"res{i}")
    return keras.Model(inputs, x, name=name)


# PyTorch's default convolution initialisation (kaiming_uniform with a=sqrt(5): U(+-1/sqrt(fan_in))), which the
# StarGAN reference code keeps; Keras's fan_in for Conv2DTranspose (out_channels * k * k) matches PyTorch's too.
def _torch_default_init():
    return keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")


def stargan_generator(in_channels=3, out_channels=3, num_domains=5, base_filters=64, num_blocks=6,
                      num_downsampling=2, norm="instance", name="stargan_generator"):
    """StarGAN generator (Choi et al. 2018, appendix, table 4): one network for every target domain.

    The target label [B, num_domains] is tiled over the image and concatenated as extra input channels
    (`TileLatent`), then c7s1-64, d128, d256 (4x4 stride-2 convs), `num_blocks` residual blocks (6 in the paper),
    u128, u64 (4x4 stride-2 transposed convs) and c7s1-C with tanh. Instance norm (affine) and ReLU follow every
    convolution but the last; convolutions have no bias (the norm's offset replaces it) and zero padding, as in the
    reference code. Inputs: `[images [B,H,W,in_channels], labels [B,num_domains]]`, H and W multiples of
    2**num_downsampling.
    """
    if num_domains < 1:
        raise ValueError(f"`num_domains` must be >= 1. Received: num_domains={num_domains!r}")
    images = keras.Input((None, None, in_channels), name="images")
    labels = keras.Input((num_domains,), name="labels")
    x = TileLatent(name="tile_labels")([images, labels])
    outputs = _residual_translator(x, out_channels, base_filters, num_blocks, num_downsampling, norm, kernel_size=4,
                                   init=_torch_default_init, use_bias=norm == "none", reflect=False, out_bias=False)
    return keras.Model([images, labels], outputs, name=name)
