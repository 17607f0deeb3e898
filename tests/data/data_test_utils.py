"""Helpers for the data-layer tests (tiny images written with numpy + tf.io.encode_png)."""

import os

import numpy as np
import tensorflow as tf

from i2i_keras.config import DataConfig


def write_png(path, array):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    tf.io.write_file(str(path), tf.io.encode_png(array))
    return str(path)


def random_image(height, width, channels=3, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    high = 256 if dtype == np.uint8 else 65536
    return rng.integers(0, high, size=(height, width, channels)).astype(dtype)


def to_float(array, bits=8):
    """uint images -> float in [-1, 1], the way decode_image scales them."""
    return np.asarray(array, np.float64) / (2**bits - 1) * 2.0 - 1.0


def small_cfg(**overrides):
    values = dict(load_size=10, crop_size=8, flip=True, channels=3, shuffle_buffer=4, scale=2)
    values.update(overrides)
    return DataConfig(**values)


def take(ds, n):
    return [{k: v.numpy() for k, v in batch.items()} for batch in ds.take(n)]


def assert_batches_equal(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
