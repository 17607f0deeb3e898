"""Ingestion without TFX: listing and splitting a data folder, the `ImagesToExamples` PTransform that validates
and encodes, the sharded writes and the report. `pipeline.components.ingest` wraps it in a TFX component; the
module docstring there describes the layouts, the splits and the rejects.

Beam workers import only this module (it is where the DoFn lives), so they load TensorFlow and the library but not
TFX: worker start-up is seconds shorter, and runners whose workers do not install TFX can run it.
"""

import dataclasses
import hashlib
import json
import math
import os
from typing import Any, Iterable, Iterator, Optional, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf

from i2i_keras.data import readers
from i2i_keras.data import schema
from i2i_keras.data.errors import DataError

SPLITS = ("train", "eval")
REPORT_FILE = "ingest_report.json"
SHARD_SUFFIX = ".tfrecord.gz"
# Automatic sharding: one shard per this many examples of a (split, group); a few hundred encoded images make
# shards of tens to hundreds of MB, which readers interleave well.
EXAMPLES_PER_SHARD = 500
DATA_KINDS = ("paired", "unpaired", "multi_domain")

# Reject reason codes for the library's `check_image_bytes` messages, matched on how each message starts.
_LIBRARY_REASONS = (
    ("empty file", "empty_file"),
    ("TIFF is not supported", "unsupported_format"),
    ("not an image", "not_an_image"),
    ("corrupt or truncated", "corrupt"),
    ("unsupported channel count", "unsupported_channels"),
    ("image has no pixels", "no_pixels"),
)


class IngestionError(DataError):
    """Ingestion cannot produce a usable data set; the message names the data folder and the report."""


@dataclasses.dataclass(frozen=True)
class IngestOptions:
    """How to read and split a data folder.

    Args:
        data_kind: "paired", "unpaired" or "multi_domain" (the method's `data_kind`).
        layout: paired layout as `data.layout`: "auto", "ab" (source|target side by side) or "folders" (A/ and B/).
        domains: as `data.domains`: the two unpaired folder names, or the multi-domain folders / attributes.
        eval_fraction: share of examples hashed into the eval split when the folder has no split folders.
        max_reject_fraction: fail when more than this share of the inputs is rejected (0 fails on any reject).
        min_image_size: reject images (AB halves) whose height or width is smaller.
        num_shards: shards per (split, group); 0 picks one per `EXAMPLES_PER_SHARD` examples.
    """

    data_kind: str
    layout: str = "auto"
    domains: Optional[tuple] = None
    eval_fraction: float = 0.2
    max_reject_fraction: float = 0.05
    min_image_size: int = 1
    num_shards: int = 0

    def __post_init__(self):
        if self.data_kind not in DATA_KINDS:
            raise ValueError(f"`data_kind` must be one of {list(DATA_KINDS)}. Received: data_kind={self.data_kind!r}")
        if self.layout not in ("auto", "ab", "folders"):
            raise ValueError(f"`layout` must be 'auto', 'ab' or 'folders'. Received: layout={self.layout!r}")
        if not 0.0 < self.eval_fraction < 1.0:
            raise ValueError(f"`eval_fraction` must be in (0, 1). Received: eval_fraction={self.eval_fraction!r}")
        if not 0.0 <= self.max_reject_fraction <= 1.0:
            raise ValueError(f"`max_reject_fraction` must be in [0, 1]. "
                             f"Received: max_reject_fraction={self.max_reject_fraction!r}")
        if self.min_image_size < 1:
            raise ValueError(f"`min_image_size` must be >= 1. Received: min_image_size={self.min_image_size!r}")
        if self.num_shards < 0:
            raise ValueError(f"`num_shards` must be >= 0. Received: num_shards={self.num_shards!r}")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One example to be: the file(s) it is made from and where it goes.

    ``kind`` is "ab" (one image, source|target halves), "pair" (source file, target file) or "image".
    """

    key: str
    split: str
    group: str
    kind: str
    paths: tuple
    domain: Optional[int] = None
    label: Optional[tuple] = None


@dataclasses.dataclass
class IngestPlan:
    """What the launcher found: the candidates, the rejects and ignored files known from names alone, and the
    shard groups (in partition order)."""

    candidates: list
    rejects: list
    ignored: list
    groups: list
    layout: str
    split_source: str
    names: list


# ----------------------------------------------------------------------------------------------- planning


def _reject(path: str, reason: str, message: str, **extra: Any) -> dict:
    return {"path": path, "reason": reason, "message": " ".join(str(message).split()), **extra}


def split_of(key: str, eval_fraction: float) -> str:
    """"eval" when the sha256 of `key`, read as a fraction of 2**256, is below `eval_fraction`, else "train"."""
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest(), "big")
    return "eval" if digest / 2.0**256 < eval_fraction else "train"


def _group_names(names: list) -> list:
    """Shard file name prefixes for domain names: letters, digits, '-' and '_' only, made unique by position."""
    groups = []
    for index, name in enumerate(names):
        group = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "domain"
        groups.append(f"{group}_{index}" if group in groups else group)
    return groups


def _scan(folder: str, ignored: list) -> list:
    images, others = readers.scan_folder(folder)
    ignored.extend({"path": p, "reason": "not an image file name (extension)"} for p in others)
    return images


def _rel(path: str, folder: str) -> str:
    return os.path.relpath(path, folder).replace(os.sep, "/")


def _plan_paired(sources: dict, split: Optional[str], options: IngestOptions, plan: IngestPlan) -> None:
    def place(key):
        return split or split_of(key, options.eval_fraction)

    if sources["layout"] == "ab":
        folder = sources["folder"]
        for path in _scan(folder, plan.ignored):
            key = _rel(path, folder)
            plan.candidates.append(Candidate(key, place(key), "pairs", "ab", (path,)))
        return
    # A/ and B/ folders: pairs match by relative path without extension, as the library's folder reader matches.
    tables = []
    for side in ("source", "target"):
        folder, table = sources[side], {}
        for path in _scan(folder, plan.ignored):
            table.setdefault(os.path.splitext(_rel(path, folder))[0], []).append(path)
        tables.append(table)
    src, tgt = tables
    for stem in sorted(set(src) | set(tgt)):
        mine = src.get(stem, []) + tgt.get(stem, [])
        if len(src.get(stem, [])) > 1 or len(tgt.get(stem, [])) > 1:
            for path in mine:
                plan.rejects.append(_reject(path, "ambiguous_pair", f"{len(mine)} files share the pair name "
                                            f"{stem!r} ({', '.join(os.path.basename(p) for p in mine)})"))
        elif stem not in tgt or stem not in src:
            other = sources["target"] if stem not in tgt else sources["source"]
            plan.rejects.append(_reject(mine[0], "missing_partner", f"no partner with the same name in {other} "
                                        f"(pairs match by file name)"))
        else:
            plan.candidates.append(Candidate(stem, place(stem), "pairs", "pair", (src[stem][0], tgt[stem][0])))


def _plan_domains(sources: dict, split: Optional[str], options: IngestOptions, plan: IngestPlan) -> None:
    domains = sources["domains"]
    names = [name for name, _ in domains]
    unpaired = options.data_kind == "unpaired"
    if not plan.names:
        plan.names = names
    elif plan.names != names and not unpaired:  # unpaired folders are trainA/testA...: matched by position
        raise IngestionError(domains[0][1], f"the test split's domains {names} differ from the train split's "
                             f"{plan.names}; labels would not mean the same")
    groups = ["domain_a", "domain_b"] if unpaired else _group_names(names)
    for index, ((name, folder), group) in enumerate(zip(domains, groups)):
        if group not in plan.groups:
            plan.groups.append(group)
        label = None if unpaired else tuple(int(i == index) for i in range(len(domains)))
        for path in _scan(folder, plan.ignored):
            key = f"{name}/{_rel(path, folder)}"
            where = split or split_of(key, options.eval_fraction)
            plan.candidates.append(Candidate(key, where, group, "image", (path,),
                                             domain=index if unpaired else None, label=label))


def _plan_attributes(sources: dict, split: Optional[str], options: IngestOptions, plan: IngestPlan) -> None:
    folder, csv_path = sources["folder"], sources["csv"]

    def check_file(path, line):
        if os.path.isfile(path):
            return True
        plan.rejects.append(_reject(path, "missing_file", f"listed in {os.path.basename(csv_path)} (line {line}) "
                                    f"but not found"))
        return False

    paths, labels, names = readers.read_attributes_csv(
        csv_path, folder, list(options.domains) if options.domains else None, check_file)
    if not plan.names:
        plan.names = list(names)
    listed = {os.path.normpath(p) for p in paths}
    images, others = readers.scan_folder(folder)
    plan.ignored.extend({"path": p, "reason": "not an image file name (extension)"} for p in others
                        if os.path.normpath(p) != os.path.normpath(csv_path))
    plan.ignored.extend({"path": p, "reason": f"not listed in {os.path.basename(csv_path)}"} for p in images
                        if os.path.normpath(p) not in listed)
    if "images" not in plan.groups:
        plan.groups.append("images")
    for path, label in zip(paths, labels):
        key = _rel(path, folder)
        plan.candidates.append(Candidate(key, split or split_of(key, options.eval_fraction), "images", "image",
                                         (path,), label=tuple(int(v) for v in label)))


def plan_ingestion(data_root: str, options: IngestOptions) -> IngestPlan:
    """Lists `data_root` as the library's folder readers resolve it and assigns every example its split and group.

    Raises:
        DataError: the folder, or a folder the data kind needs, does not exist; an attributes.csv is malformed.
    """
    if not os.path.isdir(data_root):
        raise DataError(data_root, "data folder not found")
    domains = list(options.domains) if options.domains else None
    kwargs = {"layout": options.layout, "domains": domains}
    train = readers.folder_sources(data_root, options.data_kind, "train", **kwargs)
    try:
        test = readers.folder_sources(data_root, options.data_kind, "test", **kwargs)
    except DataError:
        test = None  # e.g. only a train/ folder: hash-split it like a folder without split folders
    folder_split = test is not None and test != train
    plan = IngestPlan([], [], [], ["pairs"] if options.data_kind == "paired" else [], train["layout"],
                      "folders" if folder_split else "hash", [])
    planner = {"ab": _plan_paired, "folders": _plan_paired, "domains": _plan_domains,
               "attributes": _plan_attributes}[train["layout"]]
    parts = [(train, "train"), (test, "eval")] if folder_split else [(train, None)]
    for sources, split in parts:
        if sources["layout"] != train["layout"]:
            raise IngestionError(data_root, f"the train split is laid out as {train['layout']!r} but the test split "
                                 f"as {sources['layout']!r}")
        planner(sources, split, options, plan)
    return plan


# ----------------------------------------------------------------------------------------------- Beam


def classify(error: DataError) -> str:
    """The reject reason code of a DataError raised by the library's image checks."""
    for prefix, code in _LIBRARY_REASONS:
        if error.reason.startswith(prefix):
            return code
    return "invalid_image"


def _decode_keep_depth(data: bytes) -> np.ndarray:
    """Pixels of an encoded image with its own channel count and bit depth (16-bit PNGs stay 16-bit)."""
    is_png16 = data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24 and data[24] == 16
    if is_png16:
        return tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    return tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False).numpy()


class _RejectFile(Exception):
    def __init__(self, record: dict):
        super().__init__(record["message"])
        self.record = record


class _EncodeCandidate(beam.DoFn):
    """Reads and fully validates the file(s) of one Candidate; emits ``(partition, serialized Example)`` or a
    reject record on the ``rejects`` output."""

    REJECTS = "rejects"

    def __init__(self, partitions: list, min_size: int):
        self._partitions = {tuple(p): i for i, p in enumerate(partitions)}
        self._min_size = int(min_size)

    def _read(self, path: str) -> Tuple[bytes, tuple]:
        try:
            with tf.io.gfile.GFile(path, "rb") as f:
                data = f.read()
        except (tf.errors.OpError, OSError) as e:
            raise _RejectFile(_reject(path, "unreadable", f"cannot read the file: {e}")) from None
        try:
            shape = readers.check_image_bytes(path, data)
        except DataError as e:
            raise _RejectFile(_reject(path, classify(e), e.reason)) from None
        return data, shape

    def _check_size(self, path: str, height: int, width: int, what: str = "image") -> None:
        if height < self._min_size or width < self._min_size:
            raise _RejectFile(_reject(path, "too_small", f"{what} is {height}x{width}, smaller than "
                                      f"min_image_size={self._min_size}"))

    def _features(self, c: Candidate) -> dict:
        if c.kind == "ab":
            data, (h, w, ch) = self._read(c.paths[0])
            if w % 2:
                raise _RejectFile(_reject(c.paths[0], "odd_ab_width", f"AB image width {w} is odd; an AB image is "
                                          f"source and target side by side, two halves of equal width"))
            self._check_size(c.paths[0], h, w // 2, "AB half")
            pixels = _decode_keep_depth(data)
            return {schema.SOURCE: schema.encode_png(pixels[:, : w // 2]),
                    schema.TARGET: schema.encode_png(pixels[:, w // 2:]),
                    schema.HEIGHT: h, schema.WIDTH: w // 2, schema.CHANNELS: ch}
        if c.kind == "pair":
            (src, s_shape), (tgt, t_shape) = (self._read(p) for p in c.paths)
            for path, shape in zip(c.paths, (s_shape, t_shape)):
                self._check_size(path, shape[0], shape[1])
            if s_shape[:2] != t_shape[:2]:
                raise _RejectFile(_reject(c.paths[1], "pair_size_mismatch", f"image is {t_shape[0]}x{t_shape[1]} "
                                          f"but its partner {c.paths[0]} is {s_shape[0]}x{s_shape[1]}; paired "
                                          f"images must have the same size"))
            return {schema.SOURCE: src, schema.TARGET: tgt, schema.HEIGHT: s_shape[0], schema.WIDTH: s_shape[1],
                    schema.CHANNELS: s_shape[2]}
        data, (h, w, ch) = self._read(c.paths[0])
        self._check_size(c.paths[0], h, w)
        return {schema.IMAGE: data, schema.DOMAIN: c.domain, schema.LABEL: list(c.label) if c.label else None,
                schema.HEIGHT: h, schema.WIDTH: w, schema.CHANNELS: ch}

    def process(self, c: Candidate) -> Iterator:
        try:
            features = self._features(c)
        except _RejectFile as r:
            others = [p for p in c.paths if p != r.record["path"]]
            record = {**r.record, "key": c.key, **({"partner": others[0]} if others else {})}
            yield beam.pvalue.TaggedOutput(self.REJECTS, record)
            return
        yield self._partitions[(c.split, c.group)], schema.encode_example(filename=c.key, **features)


@beam.typehints.with_input_types(Candidate)
class ImagesToExamples(beam.PTransform):
    """Candidates -> ``{"examples": (partition index, serialized tf.train.Example), "rejects": reject dicts}``.

    `partitions` lists the (split, group) pairs; an example's partition index points into it. Images are encoded
    with `i2i_keras.data.schema.encode_example`, the schema every reader parses.
    """

    def __init__(self, partitions: list, min_image_size: int = 1):
        super().__init__()
        self._partitions = [tuple(p) for p in partitions]
        self._min_size = min_image_size

    def expand(self, candidates):
        results = candidates | "Encode" >> beam.ParDo(
            _EncodeCandidate(self._partitions, self._min_size)).with_outputs(_EncodeCandidate.REJECTS, main="examples")
        return {"examples": results.examples, "rejects": results[_EncodeCandidate.REJECTS]}


def _shards(options: IngestOptions, count: int) -> int:
    return options.num_shards or max(1, math.ceil(count / EXAMPLES_PER_SHARD))


def build_ingestion(p: beam.Pipeline, plan: IngestPlan, output_uri: str, options: IngestOptions,
                    work_dir: str) -> None:
    """Adds reading, validation, encoding and the sharded writes to `p` (which the caller runs)."""
    partitions = [(split, group) for split in SPLITS for group in plan.groups]
    planned = {key: 0 for key in partitions}
    for c in plan.candidates:
        planned[(c.split, c.group)] += 1
    outputs = (p
               | "Candidates" >> beam.Create(plan.candidates, reshuffle=True)
               | "ImagesToExamples" >> ImagesToExamples(partitions, options.min_image_size))
    by_partition = outputs["examples"] | "ByPartition" >> beam.Partition(lambda kv, n: kv[0], len(partitions))
    for index, (split, group) in enumerate(partitions):
        (by_partition[index]
         | f"Values[{split}/{group}]" >> beam.Values()
         | f"Write[{split}/{group}]" >> beam.io.WriteToTFRecord(
             os.path.join(output_uri, f"Split-{split}", group), file_name_suffix=SHARD_SUFFIX,
             num_shards=_shards(options, planned[(split, group)]),
             compression_type=beam.io.filesystem.CompressionTypes.GZIP))
    (outputs["examples"]
     | "PartitionOf" >> beam.Map(lambda kv: kv[0])
     | "Count" >> beam.combiners.Count.PerElement()
     | "CountJson" >> beam.MapTuple(lambda index, n: json.dumps({"split": partitions[index][0],
                                                                  "group": partitions[index][1], "count": n}))
     | "WriteCounts" >> beam.io.WriteToText(os.path.join(work_dir, "counts"), file_name_suffix=".jsonl"))
    (outputs["rejects"]
     | "RejectJson" >> beam.Map(lambda r: json.dumps(r, sort_keys=True))
     | "WriteRejects" >> beam.io.WriteToText(os.path.join(work_dir, "rejects"), file_name_suffix=".jsonl"))


def _read_jsonl(pattern: str) -> list:
    rows = []
    for path in sorted(tf.io.gfile.glob(pattern)):
        with tf.io.gfile.GFile(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


# ----------------------------------------------------------------------------------------------- the run


def _counts_by_reason(rejects: Iterable[dict]) -> dict:
    counts: dict = {}
    for r in rejects:
        counts[r["reason"]] = counts.get(r["reason"], 0) + 1
    return dict(sorted(counts.items()))


def _problems(report: dict, data_kind: str) -> list:
    """Why the written data set is unusable (empty list: usable)."""
    written = report["written"]
    if not sum(n for split in written.values() for n in split.values()):
        return ["no usable examples are left"]
    problems = []
    for split in SPLITS:
        counts = written.get(split, {})
        if not sum(counts.values()):
            problems.append(f"the {split} split is empty")
        elif data_kind == "unpaired":
            problems += [f"the {split} split has no {g} images" for g in report["groups"] if not counts.get(g)]
    return problems


def run_ingestion(data_root: str, output_uri: str, options: IngestOptions, pipeline: beam.Pipeline) -> dict:
    """Runs ingestion of `data_root` into `output_uri` on `pipeline` (not yet run; this runs it).

    Returns:
        The report dict, also written to ``<output_uri>/ingest_report.json``.

    Raises:
        DataError: the data folder (or a folder it needs) is missing or an attributes.csv is malformed.
        IngestionError: too many rejects, or a split (or unpaired domain of a split) is left empty; the report is
            written first and the message names it.
    """
    plan = plan_ingestion(data_root, options)
    if not plan.candidates and not plan.rejects:
        raise IngestionError(data_root, f"no images found for {options.data_kind} data (layout {plan.layout!r}; "
                             f"looked for {', '.join(readers.IMAGE_EXTENSIONS)}; {len(plan.ignored)} other files)")
    work_dir = os.path.join(output_uri, ".ingest-work")
    if plan.candidates:
        with pipeline as p:
            build_ingestion(p, plan, output_uri, options, work_dir)
    rejects = plan.rejects + _read_jsonl(os.path.join(work_dir, "rejects*.jsonl"))
    rejects.sort(key=lambda r: (r["path"], r["reason"]))
    written = {split: {group: 0 for group in plan.groups} for split in SPLITS}
    for row in _read_jsonl(os.path.join(work_dir, "counts*.jsonl")):
        written[row["split"]][row["group"]] = row["count"]
    if tf.io.gfile.exists(work_dir):
        tf.io.gfile.rmtree(work_dir)
    total = len(rejects) + sum(n for s in written.values() for n in s.values())
    fraction = len(rejects) / total if total else 0.0
    report = {
        "data_root": data_root,
        "data_kind": options.data_kind,
        "layout": plan.layout,
        "split_source": plan.split_source,
        "eval_fraction": options.eval_fraction if plan.split_source == "hash" else None,
        "groups": plan.groups,
        "names": plan.names,
        "written": written,
        "shards": {split: sorted(os.path.basename(f) for f in tf.io.gfile.glob(
            os.path.join(output_uri, f"Split-{split}", "*" + SHARD_SUFFIX))) for split in SPLITS},
        "rejected": {"count": len(rejects), "fraction": fraction, "max_fraction": options.max_reject_fraction,
                     "by_reason": _counts_by_reason(rejects), "files": rejects},
        "ignored": {"count": len(plan.ignored), "files": sorted(plan.ignored, key=lambda r: r["path"])},
    }
    report_path = os.path.join(output_uri, REPORT_FILE)
    with tf.io.gfile.GFile(report_path, "w") as f:
        f.write(json.dumps(report, indent=1) + "\n")
    reasons = ", ".join(f"{k}={v}" for k, v in report["rejected"]["by_reason"].items())
    if fraction > options.max_reject_fraction:
        raise IngestionError(data_root, f"{len(rejects)} of {total} inputs rejected ({fraction:.1%}), more than "
                             f"max_reject_fraction={options.max_reject_fraction:g} ({reasons}); the list is in "
                             f"{report_path}")
    problems = _problems(report, options.data_kind)
    if problems:
        detail = f"; rejected: {reasons}" if rejects else ""
        raise IngestionError(data_root, f"{'; '.join(problems)} ({len(rejects)} of {total} inputs rejected"
                             f"{detail}; eval_fraction={options.eval_fraction:g}); see {report_path}")
    return report


