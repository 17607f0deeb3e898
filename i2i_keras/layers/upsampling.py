import keras
from keras import ops


@keras.saving.register_keras_serializable(package="i2i_keras")
class PixelShuffle(keras.layers.Layer):
    """Sub-pixel upsampling (Shi et al. 2016): [B, H, W, C r^2] -> [B, H r, W r, C], with PyTorch's
    `nn.PixelShuffle` channel order (output channel c at sub-pixel (i, j) reads input channel c r^2 + i r + j), so
    convolution weights ported from PyTorch super-resolution code keep their meaning (`tf.nn.depth_to_space` reads
    channel (i r + j) C + c instead)."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ValueError(f"`factor` must be a positive integer. Received: factor={factor!r}")
        self.factor = factor

    def call(self, x):
        r = self.factor
        shape = ops.shape(x)
        channels = x.shape[-1] // (r * r)
        x = ops.reshape(x, (shape[0], shape[1], shape[2], channels, r, r))
        x = ops.transpose(x, (0, 1, 4, 2, 5, 3))
        return ops.reshape(x, (shape[0], shape[1] * r, shape[2] * r, channels))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        r = self.factor
        return (b, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
