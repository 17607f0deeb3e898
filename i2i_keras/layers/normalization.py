import keras
from keras import ops

NORMS = ("instance", "instance_affine", "batch", "layer", "none")
# How a batch-norm layer normalises outside training: "moving" (Keras's and PyTorch's eval mode: the averages
# collected in training) or "batch" (the statistics of the batch being translated: PyTorch's train mode, which the
# pix2pix and DiscoGAN reference test scripts run in).
INFERENCE_NORMS = ("moving", "batch")


@keras.saving.register_keras_serializable(package="i2i_keras")
class BatchNorm(keras.layers.BatchNormalization):
    """Batch normalisation whose inference statistics are a choice (`inference_norm`, see `INFERENCE_NORMS`).

    With `inference_norm="batch"` a call with `training=False` normalises with the mean and (biased) variance of
    its own batch, exactly as PyTorch's `BatchNorm2d` in train mode does, but, unlike calling the layer with
    `training=True`, it leaves the moving averages untouched: a served model must not change its variables
    (concurrent requests would race on them, and the next request would see the previous one's statistics).
    """

    def __init__(self, inference_norm="moving", **kwargs):
        super().__init__(**kwargs)
        if inference_norm not in INFERENCE_NORMS:
            raise ValueError(f"`inference_norm` must be one of {list(INFERENCE_NORMS)}. "
                             f"Received: inference_norm={inference_norm!r}")
        self.inference_norm = inference_norm

    def call(self, inputs, training=None, mask=None):
        if training or self.inference_norm == "moving":
            return super().call(inputs, training=training, mask=mask)
        # Statistics in float32 (as the parent does under mixed precision), over every axis but the channels.
        x = ops.cast(inputs, "float32")
        axes = [i for i in range(len(inputs.shape)) if i != self.axis % len(inputs.shape)]
        mean, variance = ops.moments(x, axes=axes, keepdims=True, synchronized=self.synchronized)
        out = (x - mean) * ops.rsqrt(variance + self.epsilon)
        if self.scale:
            out = out * ops.cast(self.gamma, "float32")
        if self.center:
            out = out + ops.cast(self.beta, "float32")
        return ops.cast(out, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "inference_norm": self.inference_norm}


def normalization(kind, name=None, inference_norm="moving"):
    """Returns a normalization layer by name, or None for "none".

    - "instance": `GroupNormalization(groups=-1)` (one group per channel, Keras 3's instance norm) without affine
      parameters, as PyTorch's `nn.InstanceNorm2d` defaults and as the CycleGAN, pix2pix, BicycleGAN, MUNIT
      (content encoder) and UNIT reference networks use it.
    - "instance_affine": the same with a per-channel scale and offset (StarGAN's `affine=True`).
    - "layer": `GroupNormalization(groups=1)`: statistics over height, width and channels of each example, with a
      per-channel affine (MUNIT's LayerNorm).
    - "batch": `BatchNorm` (momentum 0.9 = PyTorch's 0.1, epsilon 1e-5 as PyTorch); `inference_norm` picks its
      statistics outside training.
    """
    if kind == "instance":
        return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, center=False, scale=False, name=name)
    if kind == "instance_affine":
        return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)
    if kind == "layer":
        return keras.layers.GroupNormalization(groups=1, epsilon=1e-5, name=name)
    if kind == "batch":
        return BatchNorm(inference_norm=inference_norm, momentum=0.9, epsilon=1e-5, name=name)
    if kind == "none":
        return None
    raise ValueError(f"Unknown normalization {kind!r}; expected one of {list(NORMS)}. Received: norm={kind!r}")
