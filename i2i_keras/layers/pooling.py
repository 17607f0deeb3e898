import keras
from keras import ops


@keras.saving.register_keras_serializable(package="i2i_keras")
class PaddedAveragePooling2D(keras.layers.Layer):
    """PyTorch's `nn.AvgPool2d(pool_size, stride, padding, count_include_pad=False)`: `padding` pixels on each side,
    averages over the real pixels of each window only.

    Keras's `AveragePooling2D(padding="same")` pads 3x3 stride-2 windows (0, 1) on an even input, so its windows sit
    one pixel off PyTorch's symmetric (1, 1); this layer reproduces the multi-scale discriminators' downsampling of
    the MUNIT and BicycleGAN references exactly. Output size: floor((n + 2 padding - pool_size) / strides) + 1.
    """

    def __init__(self, pool_size=3, strides=2, padding=1, **kwargs):
        super().__init__(**kwargs)
        for arg, value, low in (("pool_size", pool_size, 1), ("strides", strides, 1), ("padding", padding, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"`{arg}` must be an integer >= {low}. Received: {arg}={value!r}")
        if 2 * padding > pool_size:
            raise ValueError(f"`padding` must be at most half of `pool_size` (as PyTorch requires). "
                             f"Received: padding={padding}, pool_size={pool_size}")
        self.pool_size, self.strides, self.padding = pool_size, strides, padding

    def call(self, inputs):
        p = self.padding
        paddings = [[0, 0], [p, p], [p, p], [0, 0]]
        x = ops.pad(inputs, paddings)
        # The count of real pixels per window: the same pooling over a zero-padded map of ones.
        ones = ops.pad(ops.ones_like(inputs[..., :1]), paddings)
        total = ops.average_pool(x, self.pool_size, self.strides, padding="valid")
        count = ops.average_pool(ones, self.pool_size, self.strides, padding="valid")
        return total / count

    def compute_output_shape(self, input_shape):
        def size(n):
            return None if n is None else (n + 2 * self.padding - self.pool_size) // self.strides + 1

        return (input_shape[0], size(input_shape[1]), size(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}
