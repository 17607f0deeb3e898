"""TFRecord schema: the only module that knows the feature keys of an i2i_keras ``tf.train.Example``.

Ingestion (Beam), training (``tf.data``), evaluation and serving all go through `encode_example` and
`parse_example`, so a key is renamed here or nowhere.

Features of one example:

| key | type | used by |
| --- | --- | --- |
| ``image`` | bytes (encoded PNG/JPEG/...) | unpaired, multi_domain, single, sr |
| ``source``, ``target`` | bytes (encoded image) | paired |
| ``domain`` | int64 (0 = domain A, 1 = domain B) | unpaired |
| ``label`` | int64 list (multi-hot over attributes, one-hot over domains) | multi_domain |
| ``label_mode`` | bytes (``onehot``: one domain per image; ``attributes``: multi-hot) | multi_domain (optional; the
  data set's label convention, which decides how training targets are sampled) |
| ``filename`` | bytes | all (optional, for tracing) |
| ``height``, ``width``, ``channels`` | int64 (of ``image`` or ``source``) | all (optional, informative) |
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np
import tensorflow as tf


IMAGE = "image"
SOURCE = "source"
TARGET = "target"
DOMAIN = "domain"
LABEL = "label"
FILENAME = "filename"
LABEL_MODE = "label_mode"
HEIGHT = "height"
WIDTH = "width"
CHANNELS = "channels"

BYTES_KEYS = (IMAGE, SOURCE, TARGET, FILENAME, LABEL_MODE)
INT_KEYS = (DOMAIN, HEIGHT, WIDTH, CHANNELS)
INT_LIST_KEYS = (LABEL,)
ALL_KEYS = BYTES_KEYS + INT_KEYS + INT_LIST_KEYS

def required_keys(data_kind: str) -> tuple:
    """The features a record of `data_kind` must carry, as the kind declares them (`DataKind.record_keys`)."""
    from i2i_keras.data import kinds  # the kinds import this module

    return tuple(kinds.get(data_kind).record_keys)


def encode_png(image: Union[np.ndarray, tf.Tensor], compression: int = -1) -> bytes:
    """Encodes a uint8 or uint16 array of shape [H, W] or [H, W, C] (C in 1..4) as PNG bytes."""
    array = np.asarray(image)
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"`image` must be uint8 or uint16. Received: image.dtype={array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"`image` must have shape [H, W] or [H, W, C] with C in 1..4. Received: shape={array.shape}")
    return tf.io.encode_png(array, compression=compression).numpy()


def _as_bytes(key: str, value: Any) -> bytes:
    if isinstance(value, tf.Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.dtype.kind in ("S", "O") and value.ndim == 0:
        value = value.item()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise ValueError(f"Feature `{key}` must be bytes or str. Received: {key} of type {type(value).__name__}")


def _as_ints(key: str, value: Any, scalar: bool) -> list:
    if isinstance(value, tf.Tensor):
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype == bool:
        array = array.astype(np.int64)
    if array.dtype.kind not in ("i", "u") or (scalar and array.ndim != 0) or (not scalar and array.ndim > 1):
        kind = "an integer" if scalar else "a list of integers"
        raise ValueError(f"Feature `{key}` must be {kind}. Received: {key}={value!r}")
    return [int(v) for v in array.reshape(-1)]


def encode_example(**features: Any) -> bytes:
    """Serializes features (see the module docstring for the keys) into a ``tf.train.Example``.

    Example:
    >>> encode_example(source=encode_png(a), target=encode_png(b), filename="x.png")
    """
    feature = {}
    for key, value in features.items():
        if value is None:
            continue
        if key in BYTES_KEYS:
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[_as_bytes(key, value)]))
        elif key in INT_KEYS:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=_as_ints(key, value, True)))
        elif key in INT_LIST_KEYS:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=_as_ints(key, value, False)))
        else:
            raise ValueError(f"Unknown feature key `{key}`. Allowed keys: {list(ALL_KEYS)}. Received: {key}={value!r}")
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _feature_spec(data_kind: str) -> dict:
    required = required_keys(data_kind)
    spec = {
        FILENAME: tf.io.FixedLenFeature([], tf.string, default_value=""),
        LABEL_MODE: tf.io.FixedLenFeature([], tf.string, default_value=""),
        HEIGHT: tf.io.FixedLenFeature([], tf.int64, default_value=0),
        WIDTH: tf.io.FixedLenFeature([], tf.int64, default_value=0),
        CHANNELS: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }
    for key in required:
        if key in BYTES_KEYS:
            spec[key] = tf.io.FixedLenFeature([], tf.string)
        elif key in INT_KEYS:
            spec[key] = tf.io.FixedLenFeature([], tf.int64)
        else:
            spec[key] = tf.io.VarLenFeature(tf.int64)
    return spec


def parse_example(serialized: tf.Tensor, data_kind: str) -> dict:
    """Parses one serialized example (a scalar string tensor) into raw tensors.

    Returns a dict with the kind's required keys (`required_keys`: encoded images stay ``tf.string``; ``domain``
    is an int64 scalar; ``label`` an int64 vector) and ``filename``, ``label_mode``, ``height``, ``width``,
    ``channels`` (empty / 0 when the example does not carry them). Works in graph mode (``tf.data`` maps, ``tf.function``).
    """
    parsed = tf.io.parse_single_example(serialized, _feature_spec(data_kind))
    if LABEL in parsed:
        parsed[LABEL] = tf.sparse.to_dense(parsed[LABEL])
    return parsed


def parse_domain(serialized: tf.Tensor) -> tf.Tensor:
    """Parses only the ``domain`` of an unpaired example (cheap filter for splitting one stream in two)."""
    return tf.io.parse_single_example(serialized, {DOMAIN: tf.io.FixedLenFeature([], tf.int64)})[DOMAIN]
