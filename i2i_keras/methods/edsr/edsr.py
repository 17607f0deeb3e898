import keras

from i2i_keras import losses
from i2i_keras.errors import ConfigError
from i2i_keras.layers import PixelShuffle
from i2i_keras.methods.base import check_positive_ints
from i2i_keras.methods.super_resolution import SuperResolutionModel
from i2i_keras.networks.generators import initializer
from i2i_keras.registry import register_method

# The DIV2K training set's mean RGB (on [0, 1]), which EDSR subtracts before its head and adds back after its tail
# (sanghyun-son/EDSR-PyTorch src/model/common.py MeanShift); gray images use the mean of the three.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def _mean_of(channels):
    return DIV2K_RGB_MEAN if channels == 3 else (sum(DIV2K_RGB_MEAN) / 3.0,)


def edsr_network(channels=3, scale=2, num_features=64, num_blocks=16, res_scale=1.0, rgb_range=255.0,
                 name="edsr"):
    """EDSR (Lim et al. 2017) as sanghyun-son/EDSR-PyTorch src/model/edsr.py builds it: mean shift, a 3x3 head, a
    body of `num_blocks` residual blocks (conv-ReLU-conv, no batch norm, the residual scaled by `res_scale`) and a
    3x3 conv with a skip from the head, then the upsampler (per factor 2: a conv to 4x the features and a pixel
    shuffle; for x3 one conv to 9x and a shuffle by 3) and a 3x3 conv to `channels`. Pixels are on [0, rgb_range] inside
    the network (255 as the reference, whose initial weights are sized for it); input and output in [-1, 1].
    PyTorch's default convolution initialisation. Layer names: `head`, `body_*`, `upsample_*`, `tail`."""
    init = initializer("torch_default")

    def conv(x, filters, layer_name):
        return keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=init, name=layer_name)(x)

    mean = _mean_of(channels)
    inputs = keras.Input((None, None, channels))
    # [-1, 1] -> [0, rgb_range] minus the mean (the reference's sub_mean on its 0-255 input).
    x = keras.layers.Rescaling(rgb_range / 2.0, [rgb_range * (0.5 - m) for m in mean], name="sub_mean")(inputs)
    head = conv(x, num_features, "head")
    x = head
    for i in range(num_blocks):
        y = conv(x, num_features, f"body_{i}_conv1")
        y = keras.layers.ReLU(name=f"body_{i}_relu")(y)
        y = conv(y, num_features, f"body_{i}_conv2")
        if res_scale != 1.0:
            y = keras.layers.Rescaling(res_scale, name=f"body_{i}_scale")(y)
        x = keras.layers.Add(name=f"body_{i}_add")([x, y])
    x = conv(x, num_features, "body_conv")
    x = keras.layers.Add(name="body_skip")([head, x])
    factors = [3] if scale == 3 else [2] * (scale.bit_length() - 1)  # 2 -> [2], 4 -> [2, 2]
    for k, factor in enumerate(factors):
        x = conv(x, num_features * factor * factor, f"upsample_{k}_conv")
        x = PixelShuffle(factor, name=f"upsample_{k}_shuffle")(x)
    x = conv(x, channels, "tail")
    # Back to [-1, 1] (the reference's add_mean), in float32 under mixed precision.
    outputs = keras.layers.Rescaling(2.0 / rgb_range, [2.0 * m - 1.0 for m in mean], dtype="float32",
                                     name="add_mean")(x)
    return keras.Model(inputs, outputs, name=name)


@register_method("edsr")
class EDSR(SuperResolutionModel):
    """EDSR: enhanced deep residual networks for single-image super-resolution (Lim et al., CVPRW 2017,
    https://arxiv.org/abs/1707.02921), as sanghyun-son/EDSR-PyTorch src/model/edsr.py and common.py.

    No batch norm; residual blocks with residual scaling; a pixel-shuffle upsampler for x2, x3, x4; the DIV2K RGB
    mean shift; L1 loss; Adam (0.9, 0.999) with the learning rate halved every `lr_step_size` steps (paper: 2e5).
    The baseline is 16 blocks x 64 features with no residual scaling, the paper's model 32 x 256 with scaling 0.1.
    As the paper, an x4 (or x3) model may start from a trained x2 run: `init_from` copies the head and the body;
    the upsampler and the tail conv (`upsample_*`, `tail`) start new.

    Args:
        num_features: feature maps (baseline 64, paper 256).
        num_blocks: residual blocks (baseline 16, paper 32).
        res_scale: residual scaling (baseline 1.0, paper 0.1).
        rgb_range: pixel range inside the network (the reference's 255).
        (and `scale`, `init_from`, `lr_step_size` / `lr_step_gamma` of `SuperResolutionModel`: the reference
        halves the rate every `--decay 200` epochs of 1000 updates; and the base-class arguments)

    Loss terms: `g_l1`.

    Batch format (data kind "sr"): `{"source": low-res [B,h,w,C], "target": high-res [B,h*scale,w*scale,C]}`.

    Example:
        model = EDSR(scale=2, num_features=16, num_blocks=2, image_size=32)
        model.compile(keras.optimizers.Adam(1e-4))
        model.fit(sr_dataset, steps_per_epoch=10)
        high_res = model.translate(low_res)           # [B, 2h, 2w, C]
    """

    default_loss_weights = {"g_l1": 1.0}
    fresh_layer_prefixes = ("upsample", "tail")

    def __init__(self, num_features=64, num_blocks=16, res_scale=1.0, rgb_range=255.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_ints(num_features=num_features, num_blocks=num_blocks)
        for arg, value, ok in (("res_scale", res_scale, lambda v: 0 < v <= 1),
                               ("rgb_range", rgb_range, lambda v: v > 0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
                raise ConfigError(f"`{arg}` is out of range (res_scale in (0, 1], rgb_range > 0). "
                                  f"Received: {arg}={value!r}", code="bad_value")
        self.num_features = num_features
        self.num_blocks = num_blocks
        self.res_scale = float(res_scale)
        self.rgb_range = float(rgb_range)
        self.generator = edsr_network(self.in_channels, self.scale, num_features, num_blocks, self.res_scale,
                                      self.rgb_range, name="generator")
        self.built = True
        self.initialize_from(self.init_from)

    def upscale(self, low_res, training=False):
        return self.generator(low_res, training=training)

    def generator_losses(self, batch, outputs, training=True):
        return {"g_l1": losses.l1(outputs["output"], batch["target"])}

    def get_config(self):
        return {**super().get_config(), "num_features": self.num_features, "num_blocks": self.num_blocks,
                "res_scale": self.res_scale, "rgb_range": self.rgb_range}

