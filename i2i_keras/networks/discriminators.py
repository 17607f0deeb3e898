"""Discriminator factories. Outputs are float32 logits (no sigmoid): the GAN losses pick the link function."""

import keras

from i2i_keras.networks.generators import _norm


def _image_pyramid(images, num_scales):
    """`images`, then `num_scales - 1` more scales, each average-pooled by 2 from the one before: 3x3 stride-2
    windows with the padding excluded from the average, as MUNIT's and BicycleGAN's code downsample."""
    scales = [images]
    for scale in range(1, num_scales):
        scales.append(keras.layers.AveragePooling2D(3, strides=2, padding="same",
                                                    name=f"s{scale}_downsample")(scales[-1]))
    return scales


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
        x = _norm(x, norm, f"norm{i}")
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
    for scale, y in enumerate(_image_pyramid(inputs, num_scales)):
        for i in range(num_layers):
            y = keras.layers.Conv2D(base_filters * min(2 ** i, 8), 4, strides=2, padding="same",
                                    kernel_initializer=init, name=f"s{scale}_conv{i}")(y)
            if i:
                y = _norm(y, norm, f"s{scale}_norm{i}")
            y = keras.layers.LeakyReLU(0.2, name=f"s{scale}_lrelu{i}")(y)
        y = keras.layers.Conv2D(1, 1, kernel_initializer=init, name=f"s{scale}_logits")(y)
        outputs.append(keras.layers.Activation("linear", dtype="float32", name=f"s{scale}_logits_f32")(y))
    return keras.Model(inputs, outputs, name=name)


def dcgan_discriminator(in_channels=3, base_filters=64, num_layers=4, norm="batch", return_features=False,
                        name="dcgan_discriminator"):
    """DiscoGAN / DCGAN discriminator (Kim et al. 2017, sec. 2.2 and the authors' `model.py`): `num_layers` 4x4
    stride-2 convolutions (F, 2F, 4F, 8F, capped at 8F) with LeakyReLU 0.2, normalized from the second on, then a
    4x4 stride-1 "valid" convolution to one logit. At 64 px with 4 layers the last feature map is 4x4 and the output
    is one logit per image [B, 1, 1, 1]; larger inputs give a map of logits. Inputs must be multiples of
    2**num_layers and at least 4 * 2**num_layers.

    `return_features=True` returns `[logits, features_1, ..., features_{num_layers-1}]`: the activations after the
    normalized layers, which the authors' code uses for its feature-matching term.
    """
    if num_layers < 1:
        raise ValueError(f"`num_layers` must be >= 1. Received: num_layers={num_layers!r}")
    init = keras.initializers.RandomNormal(0.0, 0.02)
    inputs = keras.Input((None, None, in_channels), name="images")
    x = inputs
    features = []
    for i in range(num_layers):
        x = keras.layers.Conv2D(base_filters * min(2 ** i, 8), 4, strides=2, padding="same",
                                use_bias=norm != "batch" or i == 0, kernel_initializer=init, name=f"conv{i}")(x)
        if i:
            x = _norm(x, norm, f"norm{i}")
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
        if i:
            features.append(x)
    x = keras.layers.Conv2D(1, 4, padding="valid", kernel_initializer=init, name="logits")(x)
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
        sizes.append(-(-sizes[-1] // 2))  # stride-2 "same" convolutions: ceil(size / 2)
    if num_layers < 1 or sizes[-1] < 1 or image_size < 2 ** num_layers:
        raise ValueError(f"`image_size` must be >= 2**num_layers and num_layers >= 1. "
                         f"Received: image_size={image_size!r}, num_layers={num_layers!r}")
    # PyTorch's default initialisation (U(+-1/sqrt(fan_in))), kept by the StarGAN reference code.
    init = keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")
    inputs = keras.Input((None, None, in_channels), name="images")
    x = inputs
    for i in range(num_layers):
        x = keras.layers.Conv2D(base_filters * 2 ** i, 4, strides=2, padding="same", kernel_initializer=init,
                                name=f"conv{i}")(x)
        # LeakyReLU(0.01) written as max(x, 0.01 x): the same function and gradients, but TF's grappler remapper
        # fails ("Mutation::Apply error ... LeakyReluGrad", logged as an error) on the fused conv + LeakyRelu
        # inside the gradient penalty's double backward pass and then skips its other fusions in that graph.
        x = keras.layers.Maximum(name=f"lrelu{i}")([x, keras.layers.Rescaling(0.01, name=f"lrelu{i}_slope")(x)])
    source = keras.layers.Conv2D(1, 3, padding="same", use_bias=False, kernel_initializer=init,
                                 name="source_logits")(x)
    domain = keras.layers.Conv2D(num_domains, sizes[-1], padding="valid", use_bias=False, kernel_initializer=init,
                                 name="domain_conv")(x)
    domain = keras.layers.GlobalAveragePooling2D(name="domain_logits")(domain)
    source = keras.layers.Activation("linear", dtype="float32", name="source_logits_f32")(source)
    domain = keras.layers.Activation("linear", dtype="float32", name="domain_logits_f32")(domain)
    return keras.Model(inputs, [source, domain], name=name)


def multiscale_patch_discriminator(in_channels=3, base_filters=64, num_layers=3, num_scales=2, norm="instance",
                                   name="multiscale_patch_discriminator"):
    """BicycleGAN's discriminator (`D_NLayersMulti`, `basic_256_multi`): `num_scales` PatchGANs
    (`patch_discriminator`), scale i on the input average-pooled by 2 i times (3x3, stride 2, padding
    excluded from the average) with base_filters / 2**i filters. Returns the list of logit maps (float32)."""
    inputs = keras.Input((None, None, in_channels), name="images")
    outputs = []
    for scale, x in enumerate(_image_pyramid(inputs, num_scales)):
        critic = patch_discriminator(in_channels, max(1, int(round(base_filters / 2 ** scale))), num_layers, norm,
                                     name=f"s{scale}_patch")
        outputs.append(critic(x))
    return keras.Model(inputs, outputs, name=name)
