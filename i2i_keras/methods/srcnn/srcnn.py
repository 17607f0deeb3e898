import keras
import numpy as np
from keras import ops

from i2i_keras import losses
from i2i_keras.data import transforms
from i2i_keras.errors import ConfigError
from i2i_keras.methods.super_resolution import SuperResolutionModel
from i2i_keras.registry import register_method

# MATLAB's rgb2ycbcr (ITU-R BT.601, studio swing) on [0, 1] RGB: ycbcr = offset + matrix @ rgb, the colour space
# the SRCNN paper trains and evaluates in.
_YCBCR_MATRIX = np.array([[65.481, 128.553, 24.966],
                          [-37.797, -74.203, 112.0],
                          [112.0, -93.786, -18.214]], np.float64) / 255.0
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], np.float64) / 255.0
_RGB_MATRIX = np.linalg.inv(_YCBCR_MATRIX)


def rgb_to_ycbcr(images):
    """[..., 3] RGB in [-1, 1] -> YCbCr (BT.601 studio swing) mapped from [0, 1] to [-1, 1] per channel."""
    unit = (ops.cast(images, "float32") + 1.0) / 2.0
    ycbcr = ops.matmul(unit, ops.convert_to_tensor(_YCBCR_MATRIX.T, "float32")) + _YCBCR_OFFSET.astype("float32")
    return ycbcr * 2.0 - 1.0


def ycbcr_to_rgb(images):
    """The inverse of `rgb_to_ycbcr`."""
    unit = (ops.cast(images, "float32") + 1.0) / 2.0 - _YCBCR_OFFSET.astype("float32")
    return ops.matmul(unit, ops.convert_to_tensor(_RGB_MATRIX.T, "float32")) * 2.0 - 1.0


@keras.saving.register_keras_serializable(package="i2i_keras")
class LearningRateScaledConv2D(keras.layers.Layer):
    """A 'same'-padded Conv2D whose effective learning rate is `lr_multiplier` times the optimizer's (Caffe's
    per-layer `lr_mult`, which SRCNN uses for its last layer).

    The contract's optimizer is Adam, whose step does not depend on the gradient's scale, so scaling this layer's
    gradient would change nothing. Instead the layer stores its weights divided by the multiplier, v = w / m, and
    computes with w = m * v: Adam moves v by about lr per step, hence w by m * lr, exactly an m-times learning
    rate (the "equalized learning rate" reparametrisation). Initialisers draw w; the stored v is w / m.
    """

    def __init__(self, filters, kernel_size, lr_multiplier=1.0, init_stddev=1e-3, **kwargs):
        super().__init__(**kwargs)
        if not float(lr_multiplier) > 0:
            raise ValueError(f"`lr_multiplier` must be positive. Received: lr_multiplier={lr_multiplier!r}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.lr_multiplier = float(lr_multiplier)
        self.init_stddev = float(init_stddev)

    def build(self, input_shape):
        m = self.lr_multiplier
        self.stored_kernel = self.add_weight(
            shape=(self.kernel_size, self.kernel_size, input_shape[-1], self.filters), name="stored_kernel",
            initializer=keras.initializers.RandomNormal(0.0, self.init_stddev / m))
        self.stored_bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="stored_bias")

    def call(self, x):
        m = self.lr_multiplier
        return ops.conv(x, self.stored_kernel * m, padding="same") + self.stored_bias * m

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "lr_multiplier": self.lr_multiplier, "init_stddev": self.init_stddev}


def srcnn_network(channels=1, filters=(64, 32), kernel_sizes=(9, 1, 5), last_lr_multiplier=0.1, init_stddev=1e-3,
                  name="srcnn"):
    """SRCNN's three layers (patch extraction, non-linear mapping, reconstruction): conv k1 x f1 + ReLU, conv k2 x
    f2 + ReLU, conv k3 x channels, on the bicubic-upscaled image, as yjn870/SRCNN-pytorch models.py ('same'
    padding: the output keeps the input's size; the paper's Caffe training used 'valid' convolutions and a
    smaller target). Weights N(0, init_stddev) and zero biases as the paper (0.001); the last layer learns at
    `last_lr_multiplier` times the rate (paper: 1e-5 vs 1e-4)."""
    init = keras.initializers.RandomNormal(0.0, init_stddev)
    inputs = keras.Input((None, None, channels))
    x = inputs
    for i, (f, k) in enumerate(zip(filters, kernel_sizes[:2])):
        x = keras.layers.Conv2D(f, k, padding="same", activation="relu", kernel_initializer=init,
                                name=f"conv{i + 1}")(x)
    outputs = LearningRateScaledConv2D(channels, kernel_sizes[2], last_lr_multiplier, init_stddev, dtype="float32",
                                       name="conv3")(x)
    return keras.Model(inputs, outputs, name=name)


@register_method("srcnn")
class SRCNN(SuperResolutionModel):
    """SRCNN: image super-resolution using deep convolutional networks (Dong et al., ECCV 2014 / TPAMI 2016,
    https://arxiv.org/abs/1501.00092); the network as yjn870/SRCNN-pytorch models.py.

    The low-res input is first upscaled with bicubic interpolation (MATLAB-style, `transforms.upscale_bicubic`,
    inside the model, so it serves low-res images like the other methods); the three-layer network maps that
    image to the high-res one; MSE loss. The paper's base model is 9-1-5 (`kernel_sizes: [9, 1, 5]`) with
    64 / 32 filters; its best 9-5-5 is `kernel_sizes: [9, 5, 5]`. With `y_channel` (the paper) the network sees
    and predicts only the luma Y of YCbCr (BT.601), the loss is the MSE on Y, and Cb / Cr come from the bicubic
    image; otherwise it maps all channels. The last layer's learning rate is `last_lr_multiplier` (0.1, the paper's
    1e-5 vs 1e-4) times the optimizer's, by reparametrisation (`LearningRateScaledConv2D`: exact under Adam, the
    contract's optimizer, which gradient scaling would not affect).

    Args:
        filters: (f1, f2) feature maps (paper 64, 32).
        kernel_sizes: (k1, k2, k3) (paper base 9-1-5; 9-5-5 is better in the paper's table).
        y_channel: train and predict on Y only (the paper; for RGB data).
        last_lr_multiplier: the reconstruction layer's learning-rate factor.
        init_stddev: Gaussian weight initialisation (paper 0.001).
        residual: add the bicubic image to the network's output (predict the missing detail, as VDSR). Not the
            paper (False there); an option because it trains far faster from N(0, 0.001) weights.
        (and `scale`, `init_from` of `SuperResolutionModel`, and the base-class arguments)

    Loss terms: `g_mse`.

    Batch format (data kind "sr"): `{"source": low-res [B,h,w,C], "target": high-res [B,h*scale,w*scale,C]}`.

    Example:
        model = SRCNN(scale=2, image_size=32)
        model.compile(keras.optimizers.Adam(1e-4))
        model.fit(sr_dataset, steps_per_epoch=10)
        high_res = model.translate(low_res)           # [B, 2h, 2w, C]
    """

    default_loss_weights = {"g_mse": 1.0}

    def __init__(self, filters=(64, 32), kernel_sizes=(9, 1, 5), y_channel=True, last_lr_multiplier=0.1,
                 init_stddev=1e-3, residual=False, **kwargs):
        super().__init__(**kwargs)
        filters, kernel_sizes = list(filters), list(kernel_sizes)
        if len(filters) != 2 or len(kernel_sizes) != 3 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in filters + kernel_sizes):
            raise ConfigError(f"SRCNN needs `filters` [f1, f2] and `kernel_sizes` [k1, k2, k3] of positive integers. "
                              f"Received: filters={filters!r}, kernel_sizes={kernel_sizes!r}", code="bad_value")
        for arg, value in (("last_lr_multiplier", last_lr_multiplier), ("init_stddev", init_stddev)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"`{arg}` must be a positive number. Received: {arg}={value!r}", code="bad_value")
        self.filters = filters
        self.kernel_sizes = kernel_sizes
        self.y_channel = bool(y_channel) and self.in_channels == 3
        self._y_channel_option = bool(y_channel)
        self.last_lr_multiplier = float(last_lr_multiplier)
        self.init_stddev = float(init_stddev)
        self.residual = bool(residual)
        self.generator = srcnn_network(1 if self.y_channel else self.in_channels, filters, kernel_sizes,
                                       self.last_lr_multiplier, self.init_stddev, name="generator")
        self.built = True
        self.initialize_from(self.init_from)

    def upscale(self, low_res, training=False):
        bicubic = transforms.upscale_bicubic(low_res, self.scale)
        if not self.y_channel:
            out = self.generator(bicubic, training=training)
            return out + bicubic if self.residual else out
        ycbcr = rgb_to_ycbcr(bicubic)
        luma = self.generator(ycbcr[..., :1], training=training)
        luma = luma + ycbcr[..., :1] if self.residual else luma
        return ycbcr_to_rgb(ops.concatenate([luma, ycbcr[..., 1:]], axis=-1))

    def generator_losses(self, batch, outputs, training=True):
        prediction, target = outputs["output"], batch["target"]
        if self.y_channel:
            prediction, target = rgb_to_ycbcr(prediction)[..., :1], rgb_to_ycbcr(target)[..., :1]
        return {"g_mse": losses.mse(prediction, target)}

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_sizes": self.kernel_sizes,
                "y_channel": self._y_channel_option, "last_lr_multiplier": self.last_lr_multiplier,
                "init_stddev": self.init_stddev, "residual": self.residual}

    def metadata(self):
        return {**super().metadata(), "y_channel": self.y_channel}
