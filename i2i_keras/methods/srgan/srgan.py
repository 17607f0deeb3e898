import keras

from i2i_keras import losses
from i2i_keras.data import transforms
from i2i_keras.errors import ConfigError
from i2i_keras.layers import INFERENCE_NORMS, PixelShuffle, normalization
from i2i_keras.methods.base import check_positive_ints
from i2i_keras.methods.super_resolution import SuperResolutionModel
from i2i_keras.networks.generators import initializer
from i2i_keras.networks.pretrained import VGGFeatures
from i2i_keras.registry import register_method

NORMS = ("batch", "instance", "none")


def _norm(x, kind, name):
    layer = normalization(kind, name=name)
    return x if layer is None else layer(x)


def _prelu(x, name):
    # One slope per layer, initialised to 0.25: PyTorch's `nn.PReLU()`, as the reference.
    return keras.layers.PReLU(keras.initializers.Constant(0.25), shared_axes=[1, 2, 3], name=name)(x)


def srresnet_generator(channels=3, scale=4, num_features=64, num_blocks=16, norm="batch", name="srresnet"):
    """SRResNet (Ledig et al. 2017, fig. 4) as leftthomas/SRGAN model.py `Generator` builds it (with the paper's 16
    residual blocks): a 9x9 conv + PReLU; residual blocks conv-BN-PReLU-conv-BN with identity skips; a 3x3 conv + BN
    with a skip from the first layer; log2(scale) stages of conv to 4x features, pixel shuffle x2, PReLU; a 9x9
    conv to `channels` and tanh (output in [-1, 1]). PyTorch's default initialisation."""
    init = initializer("torch_default")

    def conv(x, filters, kernel, layer_name):
        return keras.layers.Conv2D(filters, kernel, padding="same", kernel_initializer=init, name=layer_name)(x)

    inputs = keras.Input((None, None, channels))
    head = _prelu(conv(inputs, num_features, 9, "head"), "head_prelu")
    x = head
    for i in range(num_blocks):
        y = _norm(conv(x, num_features, 3, f"block_{i}_conv1"), norm, f"block_{i}_norm1")
        y = _prelu(y, f"block_{i}_prelu")
        y = _norm(conv(y, num_features, 3, f"block_{i}_conv2"), norm, f"block_{i}_norm2")
        x = keras.layers.Add(name=f"block_{i}_add")([x, y])
    x = _norm(conv(x, num_features, 3, "body_conv"), norm, "body_norm")
    x = keras.layers.Add(name="body_skip")([head, x])
    for k in range(scale.bit_length() - 1):
        x = conv(x, num_features * 4, 3, f"upsample_{k}_conv")
        x = _prelu(PixelShuffle(2, name=f"upsample_{k}_shuffle")(x), f"upsample_{k}_prelu")
    x = conv(x, channels, 9, "tail")
    outputs = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def srgan_discriminator(channels=3, base_filters=64, norm="batch", name="srgan_discriminator"):
    """The SRGAN discriminator (paper fig. 4) as leftthomas/SRGAN model.py `Discriminator`: a 3x3 conv + LeakyReLU
    (0.2), seven 3x3 conv-BN-LeakyReLU blocks (64 s2, 128, 128 s2, 256, 256 s2, 512, 512 s2 for base 64), then the
    paper's dense 1024 - LeakyReLU - dense 1 head applied to globally average-pooled features (1x1 convs), so any
    crop size works (the paper's flattened 96 px head fixes it). Returns logits [B, 1]."""
    init = initializer("torch_default")
    inputs = keras.Input((None, None, channels))
    x = keras.layers.Conv2D(base_filters, 3, padding="same", kernel_initializer=init, name="conv0")(inputs)
    x = keras.layers.LeakyReLU(0.2, name="lrelu0")(x)
    plan = [(1, 2), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)]
    for i, (mult, stride) in enumerate(plan, start=1):
        x = keras.layers.Conv2D(base_filters * mult, 3, strides=stride, padding="same", kernel_initializer=init,
                                name=f"conv{i}")(x)
        x = _norm(x, norm, f"norm{i}")
        x = keras.layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(x)
    x = keras.layers.Conv2D(base_filters * 16, 1, kernel_initializer=init, name="dense1")(x)
    x = keras.layers.LeakyReLU(0.2, name="lrelu_dense")(x)
    x = keras.layers.Conv2D(1, 1, kernel_initializer=init, dtype="float32", name="dense2")(x)
    outputs = keras.layers.Flatten(dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@register_method("srgan")
class SRGAN(SuperResolutionModel):
    """SRGAN / SRResNet: photo-realistic single-image super-resolution (Ledig et al., CVPR 2017,
    https://arxiv.org/abs/1609.04802); networks as leftthomas/SRGAN model.py.

    Two stages, as the paper. SRResNet (`configs/srgan/srresnet_x4.yaml`): the generator alone with the MSE loss
    (`g_mse` 1, every other weight 0: no discriminator update). SRGAN (`configs/srgan/paper_x4.yaml`): the VGG
    content loss (`g_content`: squared error of VGG features at `vgg_tap`; the paper's VGG54 is VGG19 `relu5_4`,
    which needs user-given weights, `vgg_network: vgg19`, `vgg_weights: <file>` or `imagenet`; offline, VGG16's
    `relu5_3` with the offline weights) plus the adversarial loss with weight 1e-3 (`g_adv`, vanilla GAN, `d_adv`
    for the discriminator); `init_from: <SRResNet run dir>` starts the generator from the SRResNet stage as the
    paper does. The paper's content term divides the VGG features by 12.75, i.e. weight 1 / 12.75^2 on the squared
    error of raw (Caffe-preprocessed) features.

    Args:
        num_features: generator feature maps (paper 64).
        num_blocks: generator residual blocks (paper 16).
        disc_filters: discriminator base width (paper 64).
        norm: "batch" (paper), "instance" or "none", in both networks.
        inference_norm: the generator's batch-norm statistics outside training (see `layers.normalization`).
        vgg_network / vgg_weights / vgg_tap: the content loss's feature extractor (`networks.pretrained`); built
            by `compile` when `g_content` has a weight. `vgg_tap` is one tap (the paper) or a list of taps, each
            tap's squared error averaged over its elements and the taps summed (several shallow taps, e.g.
            relu1_2, relu2_2, relu3_3, keep edges and texture in a short run where one deep tap learns slowly).
        residual: add the bicubic upscaling of the input to the generator's output (the network predicts the
            missing detail, as VDSR). Not the paper (False there); an option because a short run from scratch
            reaches sharper-than-bicubic outputs far sooner (the learning test: LPIPS under bicubic's in 100 steps).
        (and `scale` (2 or 4: one or two x2 stages), `init_from`, `lr_step_size` / `lr_step_gamma` of
        `SuperResolutionModel`, and the base-class arguments)

    Loss terms: `g_mse`, `g_content`, `g_adv`, `d_adv`.

    Batch format (data kind "sr"): `{"source": low-res [B,h,w,C], "target": high-res [B,h*scale,w*scale,C]}`.

    Example:
        model = SRGAN(scale=4, num_features=16, num_blocks=2, disc_filters=8, vgg_weights=None, image_size=32)
        model.compile(keras.optimizers.Adam(1e-4, 0.9), keras.optimizers.Adam(1e-4, 0.9))
        model.fit(sr_dataset, steps_per_epoch=10)
        high_res = model.translate(low_res)           # [B, 4h, 4w, C]
    """

    supported_scales = (2, 4)
    default_loss_weights = {"g_mse": 0.0, "g_content": 1.0 / 12.75 ** 2, "g_adv": 1e-3, "d_adv": 1.0}

    def __init__(self, num_features=64, num_blocks=16, disc_filters=64, norm="batch", inference_norm="moving",
                 vgg_network="vgg16", vgg_weights="offline", vgg_tap="relu5_3", residual=False, **kwargs):
        super().__init__(**kwargs)
        check_positive_ints(num_features=num_features, num_blocks=num_blocks, disc_filters=disc_filters)
        if norm not in NORMS:
            raise ConfigError(f"`norm` must be one of {list(NORMS)}. Received: norm={norm!r}", code="bad_value")
        if inference_norm not in INFERENCE_NORMS:
            raise ConfigError(f"`inference_norm` must be one of {list(INFERENCE_NORMS)}. "
                              f"Received: inference_norm={inference_norm!r}", code="bad_value")
        self.num_features = num_features
        self.num_blocks = num_blocks
        self.disc_filters = disc_filters
        self.norm = norm
        self.inference_norm = inference_norm
        self.vgg_network = vgg_network
        self.vgg_weights = vgg_weights
        self.vgg_tap = vgg_tap
        self._taps = [vgg_tap] if isinstance(vgg_tap, str) else list(vgg_tap) if isinstance(vgg_tap, (list, tuple)) \
            else []
        if not self._taps or not all(isinstance(tap, str) for tap in self._taps):
            raise ConfigError(f"`vgg_tap` must be a tap name or a non-empty list of tap names (e.g. relu2_2). "
                              f"Received: vgg_tap={vgg_tap!r}", code="bad_value")
        self.residual = bool(residual)
        self.generator = srresnet_generator(self.in_channels, self.scale, num_features, num_blocks, norm,
                                            name="generator")
        self.discriminator = srgan_discriminator(self.out_channels, disc_filters, norm, name="discriminator")
        # The content loss's frozen feature extractor, built by `compile` (only training needs its weights, so a
        # model builds, loads and serves where they are absent); not tracked: nothing of it is checkpointed.
        self._vgg = None
        self.built = True
        # An SRResNet run starts the generator (`networks`); the discriminator starts new (the paper's second stage).
        self.initialize_from(self.init_from)

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        if self.uses("g_content") and self._vgg is None:
            self._vgg = VGGFeatures(self.vgg_network, self.vgg_weights, taps=self._taps)

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def upscale(self, low_res, training=False):
        out = self.generator(low_res, training=training if training else self._batch_statistics())
        return out + transforms.upscale_bicubic(low_res, self.scale) if self.residual else out

    def _batch_statistics(self):
        return self.inference_norm == "batch" and self.norm == "batch"

    def discriminator_losses(self, batch, outputs, training=True):
        real = self.discriminator(batch["target"], training=training)
        fake = self.discriminator(outputs["output"], training=training)
        return {"d_adv": losses.discriminator_adversarial(real, fake, "vanilla")}

    def generator_losses(self, batch, outputs, training=True):
        output, target = outputs["output"], batch["target"]
        terms = {}
        if self.uses("g_mse"):
            terms["g_mse"] = losses.mse(output, target)
        if self.uses("g_content"):
            terms["g_content"] = losses.perceptual_loss(self._vgg, output, target, self._taps, distance="l2")
        if self.uses("g_adv"):
            terms["g_adv"] = losses.generator_adversarial(self.discriminator(output, training=training), "vanilla")
        return terms

    def get_config(self):
        return {**super().get_config(), "num_features": self.num_features, "num_blocks": self.num_blocks,
                "disc_filters": self.disc_filters, "norm": self.norm, "inference_norm": self.inference_norm,
                "vgg_network": self.vgg_network, "vgg_weights": self.vgg_weights, "vgg_tap": self.vgg_tap,
                "residual": self.residual}

    def metadata(self):
        return {**super().metadata(), "inference_norm": self.inference_norm}
