"""The deterministic stream engine: a data set as a pure function of ``(seed, position)``.

A `Stream` is a sequence of epochs over raw elements (table rows of file names and labels, or serialized
records). Epoch ``e`` visits every element once in an order drawn with a stateless shuffle seeded by ``(seed, e)``,
and element ``i`` of epoch ``e`` is augmented with a stateless seed derived from ``(seed, e, i)``. Starting at
position ``n`` skips whole epochs arithmetically and reads only the rest of one epoch (for file tables that reads
file names, not images), which is what makes a resumed run see exactly the batches an uninterrupted one sees.

Sources (`i2i_keras.data.sources`) and the data kinds (`i2i_keras.data.kinds`) build streams; `readers.make_dataset`
positions, augments and batches them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import transforms

MAX_EPOCHS = 2**62

@dataclasses.dataclass
class Stream:
    """One stream of raw elements.

    ``epoch(e, seed, shuffle)`` returns the raw elements of one epoch (in a seeded order when shuffling);
    ``load(raw)`` decodes one raw element into a dict of tensors; ``count()`` is the number per epoch.
    """

    epoch: Callable
    load: Callable
    count: Callable
    name: str


def permutation(n: Any, seed: tf.Tensor) -> tf.Tensor:
    return tf.random.experimental.stateless_shuffle(tf.range(tf.cast(n, tf.int64), dtype=tf.int64), seed=seed)


def file_stream(columns: dict, load: Callable, name: str) -> Stream:
    """A stream over an in-memory table (file paths, labels); elements are row indices, loaded by gathering."""
    n = len(next(iter(columns.values())))
    table = {k: tf.constant(v) for k, v in columns.items()}

    def epoch(e, seed, shuffle):
        index = permutation(n, seed) if shuffle else tf.range(n, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices(index)

    def load_row(i):
        return load({k: tf.gather(v, i) for k, v in table.items()})

    return Stream(epoch=epoch, load=load_row, count=lambda: n, name=name)


def window_shuffle(ds: tf.data.Dataset, window: int, seed: tf.Tensor) -> tf.data.Dataset:
    """A stateless stand-in for ``Dataset.shuffle``: permutes consecutive windows of `window` elements, each with
    its own seed, so the order is a pure function of the seed (``Dataset.shuffle`` also depends on the global
    seed)."""

    @tf.autograph.experimental.do_not_convert
    def permute(k, block):
        order = permutation(tf.shape(tf.nest.flatten(block)[0])[0], transforms.sub_seed(seed, k))
        return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(lambda t: tf.gather(t, order), block))

    return ds.batch(window).enumerate().flat_map(permute)


def keep_and_shuffle(ds: tf.data.Dataset, keep: Optional[Callable], shuffle: bool, window: int, seed) -> tf.data.Dataset:
    """The common tail of a record stream's epoch: filter by `keep`, then window-shuffle when training."""
    if keep is not None:
        ds = ds.filter(keep)
    if shuffle and window > 1:
        ds = window_shuffle(ds, window, transforms.sub_seed(seed, 1))
    return ds


def cached_count(epoch: Callable, known: Optional[int] = None) -> Callable:
    """Elements per epoch: `known` when the source says so, else counted once by reading an unshuffled epoch."""
    cache = {}

    def count():
        if "n" not in cache:
            cache["n"] = known if known is not None else int(
                epoch(0, None, False).reduce(np.int64(0), lambda n, _: n + 1).numpy())
        return cache["n"]

    return count


def record_stream(
    files: list, compression: Optional[str], keep: Optional[Callable], load: Callable, window: int, name: str
) -> Stream:
    """A stream over TFRecord shards: per epoch, the shard order is permuted, shards are interleaved and records
    are permuted in windows of `window`; `keep` filters serialized records (unpaired domains)."""
    file_tensor = tf.constant(files)

    def epoch(e, seed, shuffle):
        names = file_tensor
        if shuffle:
            names = tf.gather(file_tensor, permutation(len(files), transforms.sub_seed(seed, 0)))
        read = lambda f: tf.data.TFRecordDataset(f, compression_type=compression or "")  # noqa: E731
        names_ds = tf.data.Dataset.from_tensor_slices(names)
        if shuffle:
            # Round-robin over several shards mixes them; `deterministic=True` keeps the order a function of the seed.
            cycle = min(len(files), 8)
            ds = names_ds.interleave(read, cycle_length=cycle, block_length=1, num_parallel_calls=cycle,
                                     deterministic=True)
        else:
            ds = names_ds.flat_map(read)
        return keep_and_shuffle(ds, keep, shuffle, window, seed)

    return Stream(epoch=epoch, load=load, count=cached_count(epoch), name=name)


def positioned(stream: Stream, base_seed: tf.Tensor, training: bool, start: int, augment: Callable):
    """Elements of `stream` from position `start`, loaded and augmented, as a dataset of dicts."""
    order_seed = transforms.sub_seed(base_seed, 0)
    aug_seed = transforms.sub_seed(base_seed, 1)

    def tagged_epoch(e, shuffle):
        seed = transforms.sub_seed(order_seed, e) if shuffle else None
        tag = tf.autograph.experimental.do_not_convert(lambda i, raw: (e, i, raw))
        return stream.epoch(e, seed, shuffle).enumerate().map(tag)

    if training:
        first_epoch, offset = 0, 0
        if start:
            n = stream.count()
            first_epoch, offset = divmod(start, n)
        epochs = tf.data.Dataset.range(first_epoch, MAX_EPOCHS)
        ds = epochs.flat_map(tf.autograph.experimental.do_not_convert(lambda e: tagged_epoch(e, True))).skip(offset)
    else:
        ds = tagged_epoch(tf.constant(0, tf.int64), False).skip(start)

    # No autograph: these functions branch only on Python values (tf.cond is explicit), and skipping the
    # conversion makes building a pipeline several times faster.
    @tf.autograph.experimental.do_not_convert
    def process(e, i, raw):
        return augment(stream.load(raw), transforms.sub_seed(aug_seed, e, i), training)

    return ds.map(process, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


@dataclasses.dataclass
class Plan:
    """What a spec resolved to: the streams (two for unpaired) and how to augment their elements."""

    streams: list
    augment: Callable

