"""Where data comes from: a data spec resolved to a source, and the pieces every data kind reads sources with.

A spec is a folder (any file system: local, ``gs://``, ``ram://`` ...), a glob of TFRecord shards, ``tfds:NAME
[/CONFIG][:SPLIT]``, ``embedded:NAME`` or None (the data kind's embedded default). `plan` resolves it and hands
the source to the data kind's reader (`i2i_keras.data.kinds`), which knows what its examples look like.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import files
from i2i_keras.data import schema
from i2i_keras.data import streams
from i2i_keras.data import transforms
from i2i_keras.errors import DataError

EMBEDDED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "embedded")


def embedded_path(name: str) -> str:
    """The folder of embedded data set `name` (raises DataError listing the available ones)."""
    path = os.path.join(EMBEDDED_DIR, name)
    if not name or os.sep in name or not os.path.isdir(path):
        available = sorted(d for d in os.listdir(EMBEDDED_DIR) if os.path.isdir(os.path.join(EMBEDDED_DIR, d)))
        raise DataError(f"embedded:{name}", f"no such embedded data set; available: {available}",
                        code="unknown_embedded")
    return path


# ----------------------------------------------------------------------------------------------- folders


def read_image(path: tf.Tensor, cfg: Any) -> tf.Tensor:
    """Reads and decodes one image file inside a ``tf.data`` map (any file system ``tf.io`` knows)."""
    return transforms.decode_image(tf.io.read_file(path), cfg.channels)


def decoder(cfg: Any) -> Callable:
    return lambda data: transforms.decode_image(data, cfg.channels)


def swap(a, b, cfg):
    """(a, b) in the configured direction: ``data.direction="b2a"`` swaps them."""
    return (b, a) if cfg.direction == "b2a" else (a, b)


def image_table_stream(paths: list, cfg: Any, name: str, labels: Optional[np.ndarray] = None) -> streams.Stream:
    """A stream over image files (and their label rows), loading ``{"image"[, "label"]}``."""
    columns = {"path": np.array(paths)}
    if labels is not None:
        columns["label"] = labels

    def load(row):
        out = {"image": read_image(row["path"], cfg)}
        if "label" in row:
            out["label"] = row["label"]
        return out

    return streams.file_stream(columns, load, name)


def pair_table_stream(sources: list, targets: list, cfg: Any, name: str) -> streams.Stream:
    """A stream over matched source/target files, loading ``{"source", "target"}``."""
    load = lambda row: {"source": read_image(row["source"], cfg), "target": read_image(row["target"], cfg)}  # noqa: E731
    return streams.file_stream({"source": np.array(sources), "target": np.array(targets)}, load, name)


# ----------------------------------------------------------------------------------------------- TFRecords


def is_glob(spec: str) -> bool:
    return any(c in spec for c in "*?[")


@dataclasses.dataclass
class RecordSource:
    """TFRecord shards named by a spec (a glob or one file); gzip when the names end in .gz."""

    spec: str
    files: list
    compression: Optional[str]
    window: int

    @classmethod
    def open(cls, spec: str, cfg: Any) -> "RecordSource":
        names = files.glob(spec) if is_glob(spec) else [spec]
        names = [f for f in names if files.is_file(f)]
        if not names:
            raise DataError(spec, "no TFRecord files match", code="no_records")
        images = [f for f in names if os.path.splitext(f)[1].lower() in files.IMAGE_EXTENSIONS]
        if images:
            raise DataError(images[0], "a glob names TFRecord shards, not images; pass the image folder instead",
                            code="images_not_records")
        gz = [f.endswith(".gz") for f in names]
        if any(gz) and not all(gz):
            raise DataError(spec, "the glob mixes gzip (.gz) and uncompressed TFRecord files", code="mixed_compression")
        return cls(spec, names, "GZIP" if gz[0] else None, max(1, cfg.shuffle_buffer))

    def first_record(self, keep: Optional[Callable] = None) -> Optional[tf.Tensor]:
        """The first serialized record (passing `keep`), or None; DataError when the shards cannot be read."""
        ds = tf.data.TFRecordDataset(self.files, compression_type=self.compression or "")
        if keep is not None:
            ds = ds.filter(keep)
        try:
            for record in ds.take(1):
                return record
        except tf.errors.OpError as e:
            raise DataError(self.spec, f"cannot read TFRecords: {files.decoder_message(e)}",
                            code="unreadable_records") from None
        return None

    def parse_first(self, data_kind: str, keep: Optional[Callable] = None) -> dict:
        """The first record parsed with the kind's schema; DataError when there is none or it does not match."""
        first = self.first_record(keep)
        if first is None:
            raise DataError(self.spec, "the TFRecord files hold no records", code="no_records")
        try:
            return schema.parse_example(first, data_kind)
        except tf.errors.OpError as e:
            raise DataError(self.spec, f"records do not match the {data_kind!r} schema: {files.decoder_message(e)}",
                            code="schema_mismatch") from None

    def stream(self, load: Callable, keep: Optional[Callable] = None, name: Optional[str] = None) -> streams.Stream:
        return streams.record_stream(self.files, self.compression, keep, load, self.window, name or self.spec)


# ----------------------------------------------------------------------------------------------- TFDS


class TfdsSource:
    """A prepared TensorFlow Datasets data set (never downloaded). Images stay encoded (SkipDecoding): elements then
    have fixed shapes, so they can be window-shuffled, and they are decoded like every other source."""

    SPLIT_CANDIDATES = {"train": ("train",), "test": ("test", "validation"), "val": ("validation", "test")}

    def __init__(self, spec: str, cfg: Any):
        try:
            import tensorflow_datasets as tfds  # lazy: an optional dependency
        except ImportError:
            raise ImportError(
                f"Reading {spec!r} needs TensorFlow Datasets. Install it with `pip install tensorflow-datasets`."
            ) from None
        self.tfds = tfds
        self.spec = spec
        body = spec[len("tfds:"):]
        self.name, _, self.spec_split = body.partition(":")
        if not self.name:
            raise DataError(spec, "expected tfds:NAME[/CONFIG][:SPLIT]", code="bad_spec")
        try:
            self.builder = tfds.builder(self.name, data_dir=os.environ.get("TFDS_DATA_DIR"))
        except Exception as e:  # tfds raises its own DatasetNotFoundError and others; all mean "unusable spec".
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DataError(spec, f"unknown TFDS data set: {reason}", code="unknown_tfds") from None
        if not self.builder.is_prepared():
            raise DataError(
                spec,
                f"TFDS data set is not prepared in {self.builder.data_dir}; i2i_keras never downloads: prepare it once "
                f"with `tfds build {self.name}` where the internet is reachable, and set TFDS_DATA_DIR",
                code="tfds_not_prepared",
            )
        self.features = self.builder.info.features
        self.splits = self.builder.info.splits
        self.image_keys = [k for k, f in self.features.items() if isinstance(f, tfds.features.Image)]
        self.window = max(1, cfg.shuffle_buffer)
        self.cfg = cfg
        self._decoders = {k: tfds.decode.SkipDecoding() for k in self.image_keys}

    def pick_split(self, candidates) -> str:
        for s in candidates:
            if s in self.splits:
                return s
        raise DataError(self.spec, f"no split among {list(candidates)}; splits: {sorted(self.splits.keys())}",
                        code="no_split")

    def split_for(self, split: str) -> str:
        """The TFDS split that serves `split` (the spec's own split when it names one)."""
        candidates = (self.spec_split,) if self.spec_split else self.SPLIT_CANDIDATES.get(split, (split,))
        return self.pick_split(candidates)

    def image_key(self) -> str:
        key = "image" if "image" in self.image_keys else (self.image_keys or [None])[0]
        if key is None:
            raise DataError(self.spec, "the data set has no image feature", code="no_image_feature")
        return key

    def to_float(self, encoded: tf.Tensor) -> tf.Tensor:
        return transforms.decode_image(encoded, self.cfg.channels)

    def stream(self, split_name: str, load: Callable, keep: Optional[Callable] = None) -> streams.Stream:
        base = self.builder.as_dataset(split=split_name, shuffle_files=False, decoders=self._decoders)

        def epoch(e, seed, shuffle):
            return streams.keep_and_shuffle(base, keep, shuffle, self.window, seed)

        known = self.splits[split_name].num_examples if keep is None else None
        return streams.Stream(epoch=epoch, load=load, count=streams.cached_count(epoch, known),
                              name=f"{self.spec}[{split_name}]")


# ----------------------------------------------------------------------------------------------- resolution


def plan(spec: Optional[str], kind: Any, cfg: Any, split: str) -> streams.Plan:
    """Resolves `spec` for data kind `kind` (a `kinds.DataKind`) into streams and their augmentation."""
    spec = kind.default_data if spec is None else spec
    reader = kind.reader
    if spec.startswith("embedded:"):
        name = spec[len("embedded:"):]
        return reader.folder(embedded_path(name), cfg, split, embedded=name)
    if spec.startswith("tfds:"):
        return reader.tfds(TfdsSource(spec, cfg), cfg, split)
    if files.is_dir(spec):
        return reader.folder(spec, cfg, split)
    if is_glob(spec) or files.is_file(spec):
        return reader.records(RecordSource.open(spec, cfg), cfg)
    raise DataError(spec, "no such folder or file, and not a glob, tfds: or embedded: spec", code="bad_spec")
