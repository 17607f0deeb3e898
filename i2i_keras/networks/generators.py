"""Generator factories. Inputs have free spatial size (None, None, C) so exported models take any size that is a
multiple of the network's downsampling factor; outputs are float32 tanh images in [-1, 1] (also under mixed
precision, where the last activation is pinned to float32).

Padding is explicit wherever the reference PyTorch code pads: `conv` pads `padding` pixels on every side (zeros or a
reflection) before an unpadded convolution, and `conv_transpose` crops an unpadded transposed convolution as
PyTorch's `padding` / `output_padding` do. Keras's `padding="same"` pads asymmetrically ((0, 1) for a 3x3 stride-2
convolution, (1, 2) for a 4x4 stride-1 one), which shifts receptive fields and changes map sizes against the
references (tests/reference/ checks layer and network outputs against PyTorch).
"""

import keras

from i2i_keras.layers import InferenceDropout, ReflectionPadding2D, TileLatent, normalization

# Kernel initialisations: "gaussian" N(0, 0.02) (pix2pix, CycleGAN, UNIT, MUNIT's discriminators); "kaiming"
# He-normal N(0, 2 / fan_in), untruncated (MUNIT's generators, `init: kaiming`); "xavier" Glorot-normal with gain
# 0.02, std = 0.02 * sqrt(2 / (fan_in + fan_out)) (BicycleGAN's `init_type: xavier`, `init_gain: 0.02`);
# "torch_default" PyTorch's own U(+-1/sqrt(fan_in)) (StarGAN keeps it). Biases start at zero except under
# "torch_default", where Keras's zeros are kept too (PyTorch draws them U(+-1/sqrt(fan_in)); see docs/fidelity.md).
INITS = ("gaussian", "kaiming", "xavier", "torch_default")


def initializer(kind="gaussian"):
    """A fresh kernel initializer of kind `INITS` (Keras's fan_in/fan_out of a Conv2DTranspose kernel match
    PyTorch's for these formulas)."""
    if kind == "gaussian":
        return keras.initializers.RandomNormal(0.0, 0.02)
    if kind == "kaiming":
        return keras.initializers.VarianceScaling(2.0, mode="fan_in", distribution="untruncated_normal")
    if kind == "xavier":
        # VarianceScaling's fan_avg std is sqrt(scale / ((fan_in + fan_out) / 2)) = gain * sqrt(2 / (in + out)).
        return keras.initializers.VarianceScaling(0.02 ** 2, mode="fan_avg", distribution="untruncated_normal")
    if kind == "torch_default":
        return keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")
    raise ValueError(f"Unknown initialisation {kind!r}; expected one of {list(INITS)}. Received: init={kind!r}")


def check_init(init):
    if init not in INITS:
        raise ValueError(f"`init` must be one of {list(INITS)}. Received: init={init!r}")


# Gaussian N(0, 0.02) weights, the initialisation of the pix2pix and CycleGAN papers.
def _init():
    return initializer("gaussian")


def _norm(x, kind, name, inference_norm="moving"):
    layer = normalization(kind, name=name, inference_norm=inference_norm)
    return x if layer is None else layer(x)


def conv(x, filters, kernel, strides=1, padding=0, pad_mode="zero", use_bias=True, init="gaussian", name="conv"):
    """PyTorch's `Conv2d(kernel, strides, padding)` (after `ReflectionPad2d(padding)` with pad_mode="reflect"):
    `padding` pixels on every side, then an unpadded convolution named `name`."""
    if pad_mode not in ("zero", "reflect"):
        raise ValueError(f"`pad_mode` must be 'zero' or 'reflect'. Received: pad_mode={pad_mode!r}")
    if padding:
        pad = ReflectionPadding2D if pad_mode == "reflect" else keras.layers.ZeroPadding2D
        x = pad(padding, name=f"{name}_pad")(x)
    return keras.layers.Conv2D(filters, kernel, strides=strides, padding="valid", use_bias=use_bias,
                               kernel_initializer=initializer(init), name=name)(x)


def conv_transpose(x, filters, kernel, strides, padding=0, output_padding=0, use_bias=True, init="gaussian",
                   name="conv_transpose"):
    """PyTorch's `ConvTranspose2d(kernel, strides, padding, output_padding)`: an unpadded transposed convolution
    ((n - 1) * strides + kernel pixels) cropped by `padding` at the start and `padding - output_padding` at the end,
    so the output has (n - 1) * strides - 2 padding + kernel + output_padding pixels, aligned as PyTorch's."""
    if not 0 <= output_padding <= padding:
        raise ValueError(f"`output_padding` must be in [0, padding]. Received: output_padding={output_padding}, "
                         f"padding={padding}")
    x = keras.layers.Conv2DTranspose(filters, kernel, strides=strides, padding="valid", use_bias=use_bias,
                                     kernel_initializer=initializer(init), name=name)(x)
    end = padding - output_padding
    if padding or end:
        x = keras.layers.Cropping2D(((padding, end), (padding, end)), name=f"{name}_crop")(x)
    return x


def unet_generator(in_channels=3, out_channels=3, base_filters=64, num_downs=8, norm="batch", dropout=0.5,
                   dropout_at_inference=False, latent_dim=0, latent_at="input", use_bias=None, init="gaussian",
                   inference_norm="moving", name="unet_generator"):
    """pix2pix U-Net: `num_downs` stride-2 4x4 convolutions, mirrored by transposed convolutions, with skips.

    Encoder C64-C128-C256-C512-C512...; decoder with dropout on the three layers after the innermost one, as the
    authors' code places it (at 256 px: the 2->4, 4->8 and 8->16 upsamplings; the paper's appendix lists
    CD512-CD512-CD512, one layer earlier). Smaller U-Nets keep min(3, num_downs - 2) dropout layers so that the noise
    source exists at every depth. `num_downs=8` maps 256x256 to a 1x1 bottleneck; inputs must be multiples of
    2**num_downs. Every convolution pads 1 pixel on each side (PyTorch's `padding=1`).

    Biases (`use_bias=None`): none before batch norm, anywhere else, as `UnetGenerator` in
    junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py` (every down convolution and every inner up
    convolution has `bias=use_bias`, use_bias = instance norm; the outermost up convolution always has one).
    `use_bias=True` gives every convolution a bias (BicycleGAN's `UnetBlock_with_z`). `inference_norm` is the batch
    norms' statistics outside training (see `layers.BatchNorm`).

    `latent_dim > 0` (BicycleGAN): the model takes `[images, z]`, z [B, latent_dim], and z is broadcast over the
    feature map and concatenated as extra channels: to the input only (`latent_at="input"`, the reference's
    `G_Unet_add_input`) or to the input of every down convolution (`latent_at="all"`, `G_Unet_add_all` in
    junyanz/BicycleGAN `models/networks.py`, where z is concatenated before the block's LeakyReLU and the skip
    carries the block input without z).
    """
    if num_downs < 2:
        raise ValueError(f"`num_downs` must be >= 2. Received: num_downs={num_downs!r}")
    if latent_at not in ("input", "all"):
        raise ValueError(f"`latent_at` must be 'input' or 'all'. Received: latent_at={latent_at!r}")
    check_init(init)
    bias = norm != "batch" if use_bias is None else bool(use_bias)
    filters = [min(base_filters * 2 ** i, base_filters * 8) for i in range(num_downs)]
    inputs = keras.Input((None, None, in_channels), name="images")
    skips = []
    x = inputs
    latent = None
    if latent_dim:
        latent = keras.Input((latent_dim,), name="latent")
        inputs = [inputs, latent]
    for i, f in enumerate(filters):
        if latent is not None and (i == 0 or latent_at == "all"):
            x = TileLatent(name="tile_latent" if i == 0 else f"down{i}_tile_latent")([x, latent])
        if i > 0:
            x = keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
        x = conv(x, f, 4, 2, 1, use_bias=bias, init=init, name=f"down{i}_conv")
        if 0 < i < num_downs - 1:  # no norm on the first layer (paper) nor on the 1x1 bottleneck
            x = _norm(x, norm, f"down{i}_norm", inference_norm)
        skips.append(x)
    num_dropout = min(3, num_downs - 2)
    for step, i in enumerate(reversed(range(num_downs - 1))):
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
        x = conv_transpose(x, filters[i], 4, 2, 1, use_bias=bias, init=init, name=f"up{i}_conv")
        x = _norm(x, norm, f"up{i}_norm", inference_norm)
        if dropout and 1 <= step <= num_dropout:
            x = InferenceDropout(dropout, always_on=dropout_at_inference, name=f"up{i}_dropout")(x)
        x = keras.layers.Concatenate(name=f"up{i}_skip")([x, skips[i]])
    x = keras.layers.ReLU(name="out_relu")(x)
    x = conv_transpose(x, out_channels, 4, 2, 1, init=init, name="out_conv")
    outputs = keras.layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def residual_block(x, filters, norm, name, init=_init, reflect=True, use_bias=None):
    """Two 3x3 convolutions (normalized, ReLU between) with a skip connection. By default reflection-padded, with
    N(0, 0.02) kernels and biases unless batch norm follows (CycleGAN / Johnson et al.); `reflect=False` zero-pads
    instead (StarGAN). `init` makes one kernel initializer per call; `use_bias=None` means `norm != "batch"`."""
    use_bias = norm != "batch" if use_bias is None else use_bias
    y = x
    for i in (1, 2):
        y = (ReflectionPadding2D(1, name=f"{name}_pad{i}") if reflect
             else keras.layers.ZeroPadding2D(1, name=f"{name}_pad{i}"))(y)
        y = keras.layers.Conv2D(filters, 3, padding="valid", use_bias=use_bias, kernel_initializer=init(),
                                name=f"{name}_conv{i}")(y)
        y = _norm(y, norm, f"{name}_norm{i}")
        if i == 1:
            y = keras.layers.ReLU(name=f"{name}_relu")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _conv7x7(x, filters, reflect, use_bias, init, name):
    """c7s1-`filters`: padded by 3 on each side (a reflection with `reflect`, else zeros), then unpadded."""
    x = (ReflectionPadding2D(3, name=f"{name}_pad") if reflect else keras.layers.ZeroPadding2D(3, name=f"{name}_pad"))(x)
    return keras.layers.Conv2D(filters, 7, padding="valid", use_bias=use_bias, kernel_initializer=init(),
                               name=f"{name}_conv")(x)


def _residual_translator(x, out_channels, base_filters, num_blocks, num_downsampling, norm, kernel_size, init,
                         use_bias, reflect, out_bias):
    """The skeleton of the ResNet and StarGAN generators (Johnson et al.): c7s1-F, `num_downsampling` stride-2
    `kernel_size` convs doubling F, `num_blocks` residual blocks, as many stride-2 transposed convs halving F back,
    c7s1-`out_channels` and tanh (float32). Every conv but the last is followed by `norm` and ReLU and has a bias iff
    `use_bias` (the last iff `out_bias`); `init` makes each kernel initializer; `reflect` picks reflection padding
    (stem, blocks, head) over zero padding. The strided convolutions pad 1 on each side and the transposed ones crop
    as PyTorch's `padding=1` (and `output_padding=1` for odd kernels: CycleGAN's 3x3), so every map is exactly the
    reference's."""
    x = _conv7x7(x, base_filters, reflect, use_bias, init, "in")
    x = _norm(x, norm, "in_norm")
    x = keras.layers.ReLU(name="in_relu")(x)
    filters = base_filters
    for i in range(num_downsampling):
        filters *= 2
        x = keras.layers.ZeroPadding2D(1, name=f"down{i}_pad")(x)
        x = keras.layers.Conv2D(filters, kernel_size, strides=2, padding="valid", use_bias=use_bias,
                                kernel_initializer=init(), name=f"down{i}_conv")(x)
        x = _norm(x, norm, f"down{i}_norm")
        x = keras.layers.ReLU(name=f"down{i}_relu")(x)
    for i in range(num_blocks):
        x = residual_block(x, filters, norm, f"res{i}", init=init, reflect=reflect, use_bias=use_bias)
    for i in range(num_downsampling):
        filters //= 2
        x = keras.layers.Conv2DTranspose(filters, kernel_size, strides=2, padding="valid", use_bias=use_bias,
                                         kernel_initializer=init(), name=f"up{i}_conv")(x)
        # (n - 1) * 2 + k pixels; PyTorch's padding 1 crops one at the start and 1 - output_padding at the end,
        # output_padding = 1 for an odd kernel (2n either way).
        end = 1 - (kernel_size % 2)
        x = keras.layers.Cropping2D(((1, end), (1, end)), name=f"up{i}_crop")(x)
        x = _norm(x, norm, f"up{i}_norm")
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    x = _conv7x7(x, out_channels, reflect, out_bias, init, "out")
    return keras.layers.Activation("tanh", dtype="float32", name="out_tanh")(x)


def resnet_generator(in_channels=3, out_channels=3, base_filters=64, num_blocks=9, num_downsampling=2,
                     norm="instance", name="resnet_generator"):
    """CycleGAN ResNet generator: c7s1-64, d128, d256, R256 x num_blocks, u128, u64, c7s1-3 (9 blocks at 256 px,
    6 below), as `ResnetGenerator` in junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py`: reflection padding
    in the stem, blocks and head; 3x3 stride-2 convolutions with padding 1; 3x3 transposed convolutions with padding
    1 and output_padding 1; biases unless batch norm follows. Inputs must be multiples of 2**num_downsampling."""
    inputs = keras.Input((None, None, in_channels), name="images")
    outputs = _residual_translator(inputs, out_channels, base_filters, num_blocks, num_downsampling, norm,
                                   kernel_size=3, init=_init, use_bias=norm != "batch", reflect=True, out_bias=True)
    return keras.Model(inputs, outputs, name=name)


def encoder_decoder_generator(in_channels=3, out_channels=3, base_filters=64, num_downs=4, norm="batch",
                              use_bias=False, inference_norm="moving", name="encoder_decoder_generator"):
    """DiscoGAN generator (Kim et al. 2017, sec. 2.2; `Generator` in SKTBrain/DiscoGAN `discogan/model.py`): an
    encoder-decoder without skips or residual blocks.

    Encoder: `num_downs` 4x4 stride-2 convolutions (F, 2F, 4F, 8F, capped at 8F) with LeakyReLU 0.2, normalized
    from the second on. Decoder: 4x4 stride-2 transposed convolutions back to F with normalization and ReLU, then a
    4x4 stride-2 transposed convolution to `out_channels` and tanh (the authors' code ends in a sigmoid on [0, 1]
    images; this library's images are in [-1, 1]). Every convolution pads 1 on each side and, as in the authors'
    code, has no bias (`use_bias=False`; True adds one to every layer). At 64 px with `num_downs=4` the bottleneck
    is 4x4x8F, the paper's setting. Inputs must be multiples of 2**num_downs.
    """
    if num_downs < 1:
        raise ValueError(f"`num_downs` must be >= 1. Received: num_downs={num_downs!r}")
    filters = [base_filters * min(2 ** i, 8) for i in range(num_downs)]
    inputs = keras.Input((None, None, in_channels), name="images")
    x = inputs
    for i, f in enumerate(filters):
        x = conv(x, f, 4, 2, 1, use_bias=use_bias, name=f"down{i}_conv")
        if i > 0:  # no normalization on the first layer (DCGAN / DiscoGAN)
            x = _norm(x, norm, f"down{i}_norm", inference_norm)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu")(x)
    for i in reversed(range(num_downs - 1)):
        x = conv_transpose(x, filters[i], 4, 2, 1, use_bias=use_bias, name=f"up{i}_conv")
        x = _norm(x, norm, f"up{i}_norm", inference_norm)
        x = keras.layers.ReLU(name=f"up{i}_relu")(x)
    x = conv_transpose(x, out_channels, 4, 2, 1, use_bias=use_bias, name="out_conv")
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
    return initializer("torch_default")


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
