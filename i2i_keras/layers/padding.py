import keras
from keras import ops


@keras.saving.register_keras_serializable(package="i2i_keras")
class ReflectionPadding2D(keras.layers.Layer):
    """Reflection padding of `padding` pixels on each spatial side (NHWC); avoids the border artefacts of zeros.

    Args:
        padding: int or (pad_h, pad_w).
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (padding, padding)
        if len(padding) != 2 or min(padding) < 0:
            raise ValueError(f"`padding` must be a non-negative int or a pair of them. Received: padding={padding!r}")
        self.padding = tuple(int(p) for p in padding)

    def call(self, inputs):
        ph, pw = self.padding
        return ops.pad(inputs, [[0, 0], [ph, ph], [pw, pw], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        ph, pw = self.padding
        return (b, None if h is None else h + 2 * ph, None if w is None else w + 2 * pw, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
