"""Shared test helpers (tiny configs and synthetic dict batches)."""

import os

import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "configs", "tiny")


def tiny_config(method, overrides=()):
    from i2i_keras.config import load_config

    return load_config(os.path.join(TINY, f"{method}.yaml"), overrides=list(overrides))


def synthetic_batches(kind, size=32, channels=3, batch=2, count=4, seed=0):
    """A small dict-batch dataset of the given data kind (smooth random images in [-1, 1])."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def images(n):
        low = rng.uniform(-1, 1, (n, size // 4, size // 4, channels)).astype("float32")
        return tf.image.resize(low, (size, size)).numpy()

    n = batch * count
    if kind == "paired":
        source = images(n)
        data = {"source": source, "target": np.flip(source, axis=2).copy() * 0.8}
    elif kind == "unpaired":
        data = {"domain_a": images(n), "domain_b": images(n) * 0.5}
    else:
        raise ValueError(kind)
    return tf.data.Dataset.from_tensor_slices(data).batch(batch, drop_remainder=True)
