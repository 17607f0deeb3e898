"""The records an evaluation reads, from any data spec the library knows: a TFX Examples artifact (its
``Split-eval``), TFRecord files or a glob, an image folder in any layout the data kind reads, or ``embedded:NAME``.

Folders are listed with the ingestion planner and each example is read, validated and encoded with
`i2i_keras.data.ingestion.encode_candidate`, exactly as the pipeline ingests it, then parsed like an eval record; so
the evaluate CLI on a folder and the TFX evaluator on that folder's ingested examples see the same records. Files
that cannot make an example are skipped and counted (``FolderRecords.rejected``), never silently.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Optional

import tensorflow as tf

from i2i_keras import storage
from i2i_keras.data import files
from i2i_keras.data import ingestion
from i2i_keras.data import schema
from i2i_keras.data import sources
from i2i_keras.errors import ConfigError
from i2i_keras.errors import DataError
from i2i_keras.evaluation.exported import first_line

SPLITS = ("eval", "train", "all")
EVAL_SPLIT = "Split-eval"  # the eval split of a TFX Examples artifact


def tfrecord_records(paths: list, where: str, kind_name: str, parse: Callable, what: str = "records") -> Iterator[dict]:
    """The parsed records of TFRecord files (GZIP when the names end in .gz), lazily.

    Raises:
        DataError: unreadable files (``corrupt``), records that do not match the kind's schema (``schema_mismatch``).
    """
    compression = "GZIP" if paths[0].endswith(".gz") else ""
    iterator = iter(tf.data.TFRecordDataset(paths, compression_type=compression))
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as err:
            raise DataError(where, f"cannot read the {what} ({first_line(err)})", code="corrupt") from None
        try:
            parsed = parse(record, kind_name)
        except tf.errors.InvalidArgumentError as err:
            raise DataError(where, f"{what} do not match the {kind_name!r} schema ({first_line(err)})",
                            code="schema_mismatch") from None
        yield parsed


def eval_split_dir(examples_uri: str) -> str:
    return os.path.join(examples_uri, EVAL_SPLIT)


def read_eval_records(examples_uri: str, kind_name: str, parse: Callable[[Any, str], dict]) -> Iterator[dict]:
    """The records of ``<examples_uri>/Split-eval/*`` (GZIP when the shard names end in .gz), each parsed with
    ``parse(record, kind_name)``, lazily: an evaluator reads only what it needs.

    Raises:
        DataError: no shards (``no_eval_shards``), records that do not match the kind's schema
            (``schema_mismatch``), unreadable shards (``corrupt``).
    """
    split_dir = eval_split_dir(examples_uri)
    paths = sorted(tf.io.gfile.glob(os.path.join(split_dir, "*")))
    if not paths:
        raise DataError(split_dir, "no eval TFRecord shards", code="no_eval_shards")
    return tfrecord_records(paths, split_dir, kind_name, parse, what="eval records")


class FolderRecords:
    """The examples of an image folder's `split` as parsed records (iterate it); ``rejected`` lists the reject
    records of the files that could not make an example, ``num_candidates`` how many examples were planned."""

    def __init__(self, folder: str, kind: Any, parse: Callable, *, split: str = "eval", layout: str = "auto",
                 domains: Optional[list] = None, eval_fraction: float = 0.2,
                 max_pixels: int = files.DEFAULT_MAX_PIXELS):
        plan = ingestion.plan_folder(folder, kind, layout=layout, domains=domains, eval_fraction=eval_fraction)
        chosen = [c for c in plan.candidates if split == "all" or c.split == split]
        if not chosen:
            counts = {s: sum(c.split == s for c in plan.candidates) for s in ("train", "eval")}
            raise DataError(folder, f"no {split!r} examples for data kind {kind.name!r} (examples per split: "
                                    f"{counts}); pass --split all or another split", code="empty_eval_split")
        self.folder = folder
        self.kind = kind
        self.parse = parse
        self.candidates = chosen
        self.num_candidates = len(chosen)
        self.max_pixels = max_pixels
        self.rejected: list = list(plan.rejects)

    def __iter__(self) -> Iterator[dict]:
        for candidate in self.candidates:
            try:
                features = ingestion.encode_candidate(candidate, 1, self.max_pixels)
            except ingestion.CandidateRejected as rejected:
                self.rejected.append(rejected.record)
                continue
            yield self.parse(schema.encode_example(filename=candidate.key, **features), self.kind.name)


def open_records(spec: str, kind: Any, parse: Callable, *, split: str = "eval", layout: str = "auto",
                 domains: Optional[list] = None, max_pixels: int = files.DEFAULT_MAX_PIXELS) -> tuple:
    """Resolves `spec` for data kind `kind` -> ``(records, description)``: an iterable of parsed records (lazily
    read; an evaluator takes what it needs) and a dict saying what was read (``spec``, ``source``, ``split``; for
    folders the planned and rejected counts come from the returned `FolderRecords`).

    Raises:
        ConfigError: an unknown split.
        DataError: the spec names nothing readable (``bad_spec``), an Examples artifact without an eval split, a
            folder without examples of the split.
    """
    if split not in SPLITS:
        raise ConfigError(f"--split must be one of {list(SPLITS)}. Received: {split!r}", code="bad_value")
    folder = None
    if spec.startswith("embedded:"):
        name = spec[len("embedded:"):]
        folder = sources.embedded_path(name)
        domains = domains or kind.embedded_domains.get(name)
    elif files.is_dir(spec):
        if storage.isdir(eval_split_dir(spec)):  # a TFX Examples artifact: its eval split, as the TFX evaluator reads
            return read_eval_records(spec, kind.name, parse), {"spec": spec, "source": "examples", "split": "eval"}
        folder = spec
    if folder is not None:
        records = FolderRecords(folder, kind, parse, split=split, layout=layout, domains=domains,
                                max_pixels=max_pixels)
        return records, {"spec": spec, "source": "folder", "split": split}
    if sources.is_glob(spec) or files.is_file(spec):
        paths = sorted(tf.io.gfile.glob(spec)) if sources.is_glob(spec) else [spec]
        if not paths:
            raise DataError(spec, "the glob matches no files", code="no_files")
        return tfrecord_records(paths, spec, kind.name, parse), {"spec": spec, "source": "tfrecords", "split": None}
    raise DataError(spec, "no such folder or file, and not a glob or embedded: spec", code="bad_spec")
