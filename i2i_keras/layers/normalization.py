import keras

NORMS = ("instance", "batch", "layer", "none")


def normalization(kind, name=None):
    """Returns a normalization layer by name, or None for "none".

    "instance" is `GroupNormalization(groups=-1)` (one group per channel): Keras 3's instance norm, which replaces
    tensorflow-addons' InstanceNormalization. Affine parameters are kept, as in the CycleGAN/pix2pix code. "layer" is
    `GroupNormalization(groups=1)`: statistics over height, width and channels of each example with a per-channel
    affine, which is MUNIT's LayerNorm.
    """
    if kind == "instance":
        return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)
    if kind == "layer":
        return keras.layers.GroupNormalization(groups=1, epsilon=1e-5, name=name)
    if kind == "batch":
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)
    if kind == "none":
        return None
    raise ValueError(f"Unknown normalization {kind!r}; expected one of {list(NORMS)}. Received: norm={kind!r}")
