"""Readers: `make_dataset` turns a data spec into a ``tf.data.Dataset`` of dict batches, one structure per data kind.

A spec is a folder, a glob of TFRecord shards, ``tfds:NAME[/CONFIG][:SPLIT]``, ``embedded:NAME`` or None (the
embedded default for the data kind); folders and shards may be on any file system ``tf.io.gfile`` knows (local,
``gs://``, ``ram://`` ...). The batch keys of each kind are declared in `i2i_keras.data.kinds` (paired:
``source``/``target``; unpaired: ``domain_a``/``domain_b``; multi_domain: ``image``/``label``/``target_label``;
single: ``image``; sr: ``source``/``target``). Images are float32 in [-1, 1]; labels float32.

The pieces: `files` (listing and validating images), `sources` (resolving a spec), `streams` (the deterministic
stream engine that makes resume exact) and the kinds' readers.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import kinds
from i2i_keras.data import sources
from i2i_keras.data import streams
from i2i_keras.data.files import IMAGE_EXTENSIONS  # noqa: F401  (public names of this module before the split)
from i2i_keras.data.files import check_image_bytes  # noqa: F401
from i2i_keras.data.files import inspect_image  # noqa: F401
from i2i_keras.data.files import inspect_images  # noqa: F401
from i2i_keras.data.files import list_images  # noqa: F401
from i2i_keras.data.files import read_attributes_csv  # noqa: F401
from i2i_keras.data.files import scan_folder  # noqa: F401
from i2i_keras.data.sources import embedded_path  # noqa: F401
from i2i_keras.errors import ConfigError


def default_spec(data_kind: str) -> str:
    """The embedded data set used when ``data.spec`` is None."""
    return kinds.get(data_kind).default_data


def make_dataset(
    spec: Optional[str],
    data_kind: str,
    cfg: Any,
    batch_size: int,
    *,
    seed: int = 0,
    training: bool = True,
    skip_batches: int = 0,
    split: str = "train",
) -> tf.data.Dataset:
    """Builds the input pipeline for one data kind.

    Args:
        spec: a folder, a glob of TFRecord shards (gzip when the names end in .gz), "tfds:NAME[/CONFIG][:SPLIT]",
            "embedded:NAME", or None for `default_spec(data_kind)`.
        data_kind: a registered data kind (`i2i_keras.data.kinds.names()`).
        cfg: a `DataConfig`.
        batch_size: the global batch size.
        seed: the stream is a pure function of (seed, position).
        training: True: augmented, reshuffled every epoch, repeated forever, whole batches only.
            False: one pass in file order, no random augmentation, last batch may be smaller.
        skip_batches: start at this batch (resume); yields exactly the batches the uninterrupted stream yields
            from there.
        split: "train", "test" or "val" for folders with split subfolders (test falls back to val and back); a
            folder without split subfolders is used whole for any split.

    How each kind's folders, records and TFDS data sets are read is declared with the kind
    (`i2i_keras.data.kinds`). TFRecord and TFDS streams shuffle within windows of ``cfg.shuffle_buffer`` elements
    (folders are fully permuted every epoch). Folders and records may be on any file system ``tf.io.gfile`` knows.

    Returns:
        A `tf.data.Dataset` of dict batches (see the module docstring).

    Raises:
        DataError: a file, folder or spec is unusable (the message names it and says why).

    Example:
    >>> ds = make_dataset("datasets/facades", "paired", cfg.data, batch_size=4)
    >>> batch = next(iter(ds))  # {"source": [4, 256, 256, 3], "target": [4, 256, 256, 3]}
    """
    kind = kinds.get(data_kind)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ConfigError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}",
                          code="bad_value")
    if skip_batches < 0:
        raise ConfigError(f"`skip_batches` must be >= 0. Received: skip_batches={skip_batches!r}", code="bad_value")
    plan = sources.plan(spec, kind, cfg, split)
    start = int(skip_batches) * int(batch_size)
    parts = []
    for salt, stream in enumerate(plan.streams):
        base_seed = tf.constant([int(seed), salt], tf.int64)
        parts.append(streams.positioned(stream, base_seed, training, start, plan.augment))
    ds = kind.reader.combine(parts)
    ds = ds.batch(int(batch_size), drop_remainder=training)
    options = tf.data.Options()
    options.deterministic = True
    # Every worker builds the same stream (a function of the seed), so multi-worker training shards it by
    # element; file-based sharding cannot see through the per-epoch structure anyway.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
