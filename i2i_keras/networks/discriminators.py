"""Discriminator factories. Outputs are float32 logits (no sigmoid): the GAN losses pick the link function.

Convolutions pad explicitly as the PyTorch references do (`generators.conv`): a 70x70 PatchGAN gives 30x30 logits at
256 px, as `NLayerDiscriminator` does, not Keras's "same"-padded 32x32.
"""

import keras

from i2i_keras.layers import PaddedAveragePooling2D
from i2i_keras.networks.generators import _norm, check_init, conv


def _image_pyramid(images, num_scales):
    """`images`, then `num_scales - 1` more scales, each average-pooled by 2 from the one before: 3x3 stride-2
    windows padded by 1 on each side with the padding excluded from the average (`nn.AvgPool2d(3, stride=2,
    padding=[1, 1], count_include_pad=False)` in NVlabs/MUNIT `networks.py` and junyanz/BicycleGAN
    `models/networks.py`)."""
    scales = [images]
    for scale in range(1, num_scales):
        scales.append(PaddedAveragePooling2D(3, 2, 1, name=f"s{scale}_downsample")(scales[-1]))
    return scales


def patch_discriminator(in_channels=3, base_filters=64, num_layers=3, norm="batch", use_bias=None, init="gaussian",
                        name="patch_discriminator"):
    """PatchGAN: C64-C128-C256-C512 (4x4 convs, the last with stride 1) then a 1-channel 4x4 conv, every conv padded
    by 1 on each side (`NLayerDiscriminator` in junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py`).

    With num_layers=3 each output logit sees a 70x70 input patch (pix2pix sec. 3.2.2; CycleGAN uses the same) and a
    256x256 input gives 30x30 logits. The inner convolutions have a bias unless batch norm follows (`use_bias=None`,
    as the reference) or always (`use_bias=True`, BicycleGAN's `D_NLayersMulti`); the first and last always do.
    """
    check_init(init)
    bias = norm != "batch" if use_bias is None else bool(use_bias)
    inputs = keras.Input((None, None, in_channels), name="images")
    x = conv(inputs, base_filters, 4, 2, 1, init=init, name="conv0")
    x = keras.layers.LeakyReLU(0.2, name="lrelu0")(x)
    for i in range(1, num_layers + 1):
        filters = base_filters * min(2 ** i, 8)
        strides = 2 if i < num_layers else 1
        x = conv(x, filters, 4, strides, 1, use_bias=bias, init=init, name=f"conv{i}")
        x = _norm(x, norm, f"norm{i}")
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
    x = conv(x, 1, 4, 1, 1, init=init, name="logits")
    outputs = keras.layers.Activation("linear", dtype="float32", name="logits_f32")(x)
    return keras.Model(inputs, outputs, name=name)


def multiscale_discriminator(in_channels=3, base_filters=64, num_layers=4, num_scales=3, norm="none", kernel_size=4,
                             pad_mode="reflect", slope=0.2, name="multiscale_discriminator"):
    """Multi-scale discriminator (pix2pixHD, MUNIT, UNIT): `num_scales` critics, each on the input average-pooled by
    2 more than the previous one (`_image_pyramid`). Each critic: `num_layers` stride-2 convolutions of
    `kernel_size` padded by (kernel_size - 1) // 2 on each side (`pad_mode` "reflect" or "zero"), base_filters
    doubling at every layer without a cap, LeakyReLU(`slope`), `norm` from the second layer on, then a 1x1 conv to one
    logit per patch.

    MUNIT (`MsImageDis` in NVlabs/MUNIT `networks.py`, edges2shoes config): 4x4 kernels, reflection padding,
    LeakyReLU 0.2, no normalization, 3 scales. UNIT (`COCODis` in mingyuliutw/UNIT `src/trainers/cocogan_nets.py`,
    `LeakyReLUConv2d` in `common_net.py`): 3x3 kernels, zero padding, PyTorch's default LeakyReLU slope 0.01, one
    scale of 6 layers (64 ... 2048 channels).

    The model returns a list of `num_scales` logit maps (float32); the GAN losses average over the list.
    Inputs must be multiples of 2**(num_layers + num_scales - 1) to keep every scale's maps aligned.
    """
    inputs = keras.Input((None, None, in_channels), name="images")
    outputs = []
    for scale, y in enumerate(_image_pyramid(inputs, num_scales)):
        for i in range(num_layers):
            y = conv(y, base_filters * 2 ** i, kernel_size, 2, (kernel_size - 1) // 2, pad_mode=pad_mode,
                     name=f"s{scale}_conv{i}")
            if i:
                y = _norm(y, norm, f"s{scale}_norm{i}")
            y = keras.layers.LeakyReLU(slope, name=f"s{scale}_lrelu{i}")(y)
        y = keras.layers.Conv2D(1, 1, kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02),
                                name=f"s{scale}_logits")(y)
        outputs.append(keras.layers.Activation("linear", dtype="float32", name=f"s{scale}_logits_f32")(y))
    return keras.Model(inputs, outputs, name=name)


def dcgan_discriminator(in_channels=3, base_filters=64, num_layers=4, norm="batch", return_features=False,
                        use_bias=False, inference_norm="moving", name="dcgan_discriminator"):
    """DiscoGAN / DCGAN discriminator (Kim et al. 2017, sec. 2.2; `Discriminator` in SKTBrain/DiscoGAN
    `discogan/model.py`): `num_layers` 4x4 stride-2 convolutions padded by 1 (F, 2F, 4F, 8F, capped at 8F) with
    LeakyReLU 0.2, normalized from the second on, then a 4x4 stride-1 unpadded convolution to one logit, with no
    biases as the authors' code (`use_bias=False`). At 64 px with 4 layers the last feature map is 4x4 and the
    output is one logit per image [B, 1, 1, 1]; larger inputs give a map of logits. Inputs must be multiples of
    2**num_layers and at least 4 * 2**num_layers.

    `return_features=True` returns `[logits, features_1, ..., features_{num_layers-1}]`: the activations after the
    normalized layers, which the authors' code uses for its feature-matching term.
    """
    if num_layers < 1:
        raise ValueError(f"`num_layers` must be >= 1. Received: num_layers={num_layers!r}")
    inputs = keras.Input((None, None, in_channels), name="images")
    x = inputs
    features = []
    for i in range(num_layers):
        x = conv(x, base_filters * min(2 ** i, 8), 4, 2, 1, use_bias=use_bias, name=f"conv{i}")
        if i:
            x = _norm(x, norm, f"norm{i}", inference_norm)
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
        if i:
            features.append(x)
    x = conv(x, 1, 4, 1, 0, use_bias=use_bias, name="logits")
    logits = keras.layers.Activation("linear", dtype="float32", name="logits_f32")(x)
    return keras.Model(inputs, [logits, *features] if return_features else logits, name=name)


def stargan_discriminator(in_channels=3, num_domains=5, image_size=128, base_filters=64, num_layers=6,
                          name="stargan_discriminator"):
    """StarGAN discriminator (Choi et al. 2018, appendix, table 5): a PatchGAN critic with a second, domain head.

    `num_layers` 4x4 stride-2 convolutions (base_filters, doubling each layer with no cap: 64 ... 2048 for the
    paper's 6 layers at 128 px), LeakyReLU 0.01, no normalization (WGAN-GP penalises per-example gradients, which a
    batch statistic would couple). Two heads on the final [h, w] feature map (h = image_size / 2**num_layers, 2 in
    the paper):

    - source: a 3x3 stride-1 conv to one real/fake logit per patch, [B, h, w, 1];
    - domain: a conv with an h x h kernel, no padding, to `num_domains` logits, [B, num_domains].

    The domain head keeps the paper's *size-matched* kernel rather than a global average: at the training size it
    is exactly the reference's fully connected read-out of the whole final map, with its own weights for every
    position (a global average would share one weight per channel across positions, a different and weaker
    model). At a larger input the kernel slides and its logits are averaged over the positions, so any input at
    least `image_size` wide still gives [B, num_domains]; smaller inputs are refused by the convolution. The
    discriminator only sees training crops, so this never limits inference (the generator takes any size).

    Returns a Functional model `images -> [source logits, domain logits]`, both float32.
    """
    sizes = [int(image_size)]
    for _ in range(num_layers):
        sizes.append(sizes[-1] // 2)  # 4x4 stride-2 convolutions padded by 1: floor(size / 2), as PyTorch's
    if num_layers < 1 or sizes[-1] < 1 or image_size < 2 ** num_layers:
        raise ValueError(f"`image_size` must be >= 2**num_layers and num_layers >= 1. "
                         f"Received: image_size={image_size!r}, num_layers={num_layers!r}")
    # PyTorch's default initialisation (U(+-1/sqrt(fan_in))), kept by the StarGAN reference code.
    init = keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")
    inputs = keras.Input((None, None, in_channels), name="images")
    x = inputs
    for i in range(num_layers):
        x = conv(x, base_filters * 2 ** i, 4, 2, 1, init="torch_default", name=f"conv{i}")
        # LeakyReLU(0.01) written as max(x, 0.01 x): the same function and gradients, but TF's grappler remapper
        # fails ("Mutation::Apply error ... LeakyReluGrad", logged as an error) on the fused conv + LeakyRelu
        # inside the gradient penalty's double backward pass and then skips its other fusions in that graph.
        x = keras.layers.Maximum(name=f"lrelu{i}")([x, keras.layers.Rescaling(0.01, name=f"lrelu{i}_slope")(x)])
    source = conv(x, 1, 3, 1, 1, use_bias=False, init="torch_default", name="source_logits")
    domain = keras.layers.Conv2D(num_domains, sizes[-1], padding="valid", use_bias=False, kernel_initializer=init,
                                 name="domain_conv")(x)
    domain = keras.layers.GlobalAveragePooling2D(name="domain_logits")(domain)
    source = keras.layers.Activation("linear", dtype="float32", name="source_logits_f32")(source)
    domain = keras.layers.Activation("linear", dtype="float32", name="domain_logits_f32")(domain)
    return keras.Model(inputs, [source, domain], name=name)


def multiscale_patch_discriminator(in_channels=3, base_filters=64, num_layers=3, num_scales=2, norm="instance",
                                   use_bias=True, init="gaussian", name="multiscale_patch_discriminator"):
    """BicycleGAN's discriminator (`D_NLayersMulti`, `basic_256_multi`, in junyanz/BicycleGAN `models/networks.py`):
    `num_scales` PatchGANs (`patch_discriminator`, every convolution biased as the reference's), scale i on the
    input average-pooled by 2 i times (`_image_pyramid`) with round(base_filters / 2**i) filters. Returns the list
    of logit maps (float32)."""
    inputs = keras.Input((None, None, in_channels), name="images")
    outputs = []
    for scale, x in enumerate(_image_pyramid(inputs, num_scales)):
        critic = patch_discriminator(in_channels, max(1, int(round(base_filters / 2 ** scale))), num_layers, norm,
                                     use_bias=use_bias, init=init, name=f"s{scale}_patch")
        outputs.append(critic(x))
    return keras.Model(inputs, outputs, name=name)
