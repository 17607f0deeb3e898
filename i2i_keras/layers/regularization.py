import keras


@keras.saving.register_keras_serializable(package="i2i_keras")
class InferenceDropout(keras.layers.Dropout):
    """Dropout that can stay active at inference.

    pix2pix uses dropout as its only noise source and keeps it on at test time (paper section 2.2); this layer
    makes that a per-model choice (`always_on=True`) instead of calling the whole generator in training mode, which
    would also switch batch normalization to batch statistics.
    """

    def __init__(self, rate, always_on=False, **kwargs):
        super().__init__(rate, **kwargs)
        self.always_on = bool(always_on)

    def call(self, inputs, training=False):
        return super().call(inputs, training=bool(self.always_on) or training)

    def get_config(self):
        return {**super().get_config(), "always_on": self.always_on}
