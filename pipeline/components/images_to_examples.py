"""Ingestion without TFX: listing and splitting a data folder, the `ImagesToExamples` PTransform that validates
and encodes, the sharded writes and the report. `pipeline.components.ingest` wraps it in a TFX component; the
module docstring there describes the layouts, the splits and the rejects.

Beam workers import only this module (it is where the DoFn lives), so they load TensorFlow and the library but not
TFX: worker start-up is seconds shorter, and runners whose workers do not install TFX can run it.
"""

import dataclasses
import json
import logging
import math
import os
import time
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
import tensorflow as tf

from i2i_keras import storage
from i2i_keras.data import files
from i2i_keras.data import kinds
from i2i_keras.data import schema
from i2i_keras.data.ingestion import SPLITS  # noqa: F401  (re-exported for the component)
from i2i_keras.data.ingestion import Candidate  # noqa: F401
from i2i_keras.data.ingestion import CandidateRejected
from i2i_keras.data.ingestion import IngestPlan  # noqa: F401
from i2i_keras.data.ingestion import encode_candidate
from i2i_keras.data.ingestion import plan_folder
from i2i_keras.data.ingestion import split_of  # noqa: F401
from i2i_keras.errors import ConfigError
from i2i_keras.errors import DataError

REPORT_FILE = "ingest_report.json"
SHARD_SUFFIX = ".tfrecord.gz"
# Automatic sharding: one shard per this many examples of a (split, group); a few hundred encoded images make
# shards of tens to hundreds of MB, which readers interleave well.
EXAMPLES_PER_SHARD = 500


class IngestionError(DataError):
    """Ingestion cannot produce a usable data set; the message names the data folder and the report."""

    default_code = "ingestion_failed"


@dataclasses.dataclass(frozen=True)
class IngestOptions:
    """How to read and split a data folder.

    Args:
        data_kind: a registered data kind (`i2i_keras.data.kinds.names()`; the method's `data_kind`).
        layout: paired layout as `data.layout`: "auto", "ab" (source|target side by side) or "folders" (A/ and B/).
        domains: as `data.domains`: the two unpaired folder names, or the multi-domain folders / attributes.
        eval_fraction: share of examples hashed into the eval split when the folder has no split folders.
        max_reject_fraction: fail when more than this share of the inputs is rejected (0 fails on any reject).
        min_image_size: reject images (AB halves) whose height or width is smaller.
        num_shards: shards per (split, group); 0 picks one per `EXAMPLES_PER_SHARD` examples.
        max_pixels: reject images whose header declares more pixels (width x height), before decoding them
            (``too_many_pixels``); 0: no limit. As ``data.max_pixels``.
    """

    data_kind: str
    layout: str = "auto"
    domains: Optional[tuple] = None
    eval_fraction: float = 0.2
    max_reject_fraction: float = 0.05
    min_image_size: int = 1
    num_shards: int = 0
    max_pixels: int = files.DEFAULT_MAX_PIXELS

    def __post_init__(self):
        kinds.get(self.data_kind)  # ConfigError listing the known kinds
        if self.layout not in ("auto", "ab", "folders"):
            raise ConfigError(f"`layout` must be 'auto', 'ab' or 'folders'. Received: layout={self.layout!r}")
        if not 0.0 < self.eval_fraction < 1.0:
            raise ConfigError(f"`eval_fraction` must be in (0, 1). Received: eval_fraction={self.eval_fraction!r}")
        if not 0.0 <= self.max_reject_fraction <= 1.0:
            raise ConfigError(f"`max_reject_fraction` must be in [0, 1]. "
                             f"Received: max_reject_fraction={self.max_reject_fraction!r}")
        if self.min_image_size < 1:
            raise ConfigError(f"`min_image_size` must be >= 1. Received: min_image_size={self.min_image_size!r}")
        if self.num_shards < 0:
            raise ConfigError(f"`num_shards` must be >= 0. Received: num_shards={self.num_shards!r}")
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 0:
            raise ConfigError(f"`max_pixels` must be an integer >= 0 (0: no limit). "
                              f"Received: max_pixels={self.max_pixels!r}", code="bad_value")


def plan_ingestion(data_root: str, options: IngestOptions) -> IngestPlan:
    """Lists `data_root` as the library's folder readers resolve it for `options.data_kind` and assigns every
    example its split and shard group (`i2i_keras.data.ingestion.plan_folder`).

    Raises:
        DataError: the folder, or a folder the data kind needs, does not exist; an attributes.csv is malformed.
    """
    try:
        return plan_folder(data_root, kinds.get(options.data_kind), layout=options.layout,
                           domains=list(options.domains) if options.domains else None,
                           eval_fraction=options.eval_fraction)
    except DataError as e:
        if e.code in ("split_domains_differ", "split_layouts_differ"):
            raise IngestionError(e.path, e.reason, code=e.code) from None
        raise


# ----------------------------------------------------------------------------------------------- Beam


def classify(error: DataError) -> str:
    """The reject reason code of a DataError raised by the library's image checks (its `code`)."""
    return error.code


class _EncodeCandidate(beam.DoFn):
    """Reads and fully validates the file(s) of one Candidate; emits ``(partition, serialized Example)`` or a
    reject record on the ``rejects`` output."""

    REJECTS = "rejects"

    def __init__(self, partitions: list, min_size: int, max_pixels: int = files.DEFAULT_MAX_PIXELS):
        self._partitions = {tuple(p): i for i, p in enumerate(partitions)}
        self._min_size = int(min_size)
        self._max_pixels = int(max_pixels)

    def process(self, c: Candidate) -> Iterator:
        try:
            features = encode_candidate(c, self._min_size, self._max_pixels)
        except CandidateRejected as r:
            others = [p for p in c.paths if p != r.record["path"]]
            record = {**r.record, "key": c.key, **({"partner": others[0]} if others else {})}
            yield beam.pvalue.TaggedOutput(self.REJECTS, record)
            return
        yield self._partitions[(c.split, c.group)], schema.encode_example(filename=c.key, **features)


@beam.typehints.with_input_types(Candidate)
class ImagesToExamples(beam.PTransform):
    """Candidates -> ``{"examples": (partition index, serialized tf.train.Example), "rejects": reject dicts}``.

    `partitions` lists the (split, group) pairs; an example's partition index points into it. Images are encoded
    with `i2i_keras.data.schema.encode_example`, the schema every reader parses. `max_pixels`: images whose header
    declares more pixels are rejected before they are decoded (0: no limit).
    """

    def __init__(self, partitions: list, min_image_size: int = 1, max_pixels: int = files.DEFAULT_MAX_PIXELS):
        super().__init__()
        self._partitions = [tuple(p) for p in partitions]
        self._min_size = min_image_size
        self._max_pixels = max_pixels

    def expand(self, candidates):
        encode = _EncodeCandidate(self._partitions, self._min_size, self._max_pixels)
        results = candidates | "Encode" >> beam.ParDo(encode).with_outputs(_EncodeCandidate.REJECTS, main="examples")
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
               | "ImagesToExamples" >> ImagesToExamples(partitions, options.min_image_size, options.max_pixels))
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


def _problems(report: dict, kind: kinds.DataKind) -> list:
    """Why the written data set is unusable (empty list: usable)."""
    written = report["written"]
    if not sum(n for split in written.values() for n in split.values()):
        return ["no usable examples are left"]
    problems = []
    for split in SPLITS:
        counts = written.get(split, {})
        if not sum(counts.values()):
            problems.append(f"the {split} split is empty")
        elif kind.ingestion.every_group_in_every_split:
            problems += [f"the {split} split has no {g} images" for g in report["groups"] if not counts.get(g)]
    return problems


def report_copy_name(output_uri: str, when: Optional[float] = None) -> str:
    """``ingest_report-<UTC time>-<artifact folder name>.json``: the name of a report's copy in the reports folder
    (the artifact folder's name is the TFX execution id, so two runs in one second still get two names)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if when is None else when))
    return f"{REPORT_FILE.rsplit('.', 1)[0]}-{stamp}-{files.basename(output_uri) or 'run'}.json"


def _write_reports(report: dict, output_uri: str, report_dir: Optional[str]) -> str:
    """Writes the report into the artifact and, with `report_dir`, a copy there (each atomically, through
    `tf.io.gfile`); returns the path an error message should name: the copy, which outlives the artifact (TFX
    deletes the output artifact of a failed execution)."""
    text = json.dumps(report, indent=1) + "\n"
    path = storage.write_atomic(os.path.join(output_uri, REPORT_FILE), text)
    if report_dir:
        try:
            storage.makedirs(report_dir)
            path = storage.write_atomic(storage.join(report_dir, report_copy_name(output_uri)), text)
        except storage.IO_ERRORS as e:
            logging.warning("Could not write a copy of the ingestion report to %s (%s); it is only in %s.",
                            report_dir, storage.describe(e), path)
    return path


def run_ingestion(data_root: str, output_uri: str, options: IngestOptions, pipeline: beam.Pipeline,
                  report_dir: Optional[str] = None) -> dict:
    """Runs ingestion of `data_root` into `output_uri` on `pipeline` (not yet run; this runs it).

    Args:
        report_dir: where a copy of the report goes, named `report_copy_name` (``<output root>/reports`` for
            `pipeline.run`): a folder the orchestrator does not clean up, so the report a failure names survives
            the failed artifact. None: only the artifact's ``ingest_report.json``.

    Returns:
        The report dict, also written to ``<output_uri>/ingest_report.json`` (and its copy into `report_dir`).

    Raises:
        DataError: the data folder (or a folder it needs) is missing or an attributes.csv is malformed.
        IngestionError: too many rejects, or a split (or unpaired domain of a split) is left empty; the report is
            written first and the message names it (its copy in `report_dir` when there is one).
    """
    plan = plan_ingestion(data_root, options)
    if not plan.candidates and not plan.rejects:
        raise IngestionError(data_root, f"no images found for {options.data_kind} data (layout {plan.layout!r}; "
                             f"looked for {', '.join(files.IMAGE_EXTENSIONS)}; {len(plan.ignored)} other files)",
                             code="no_images")
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
        "label_mode": plan.label_mode,
        "written": written,
        "shards": {split: sorted(os.path.basename(f) for f in tf.io.gfile.glob(
            os.path.join(output_uri, f"Split-{split}", "*" + SHARD_SUFFIX))) for split in SPLITS},
        "rejected": {"count": len(rejects), "fraction": fraction, "max_fraction": options.max_reject_fraction,
                     "by_reason": _counts_by_reason(rejects), "files": rejects},
        "ignored": {"count": len(plan.ignored), "files": sorted(plan.ignored, key=lambda r: r["path"])},
    }
    report_path = _write_reports(report, output_uri, report_dir)
    reasons = ", ".join(f"{k}={v}" for k, v in report["rejected"]["by_reason"].items())
    if fraction > options.max_reject_fraction:
        raise IngestionError(data_root, f"{len(rejects)} of {total} inputs rejected ({fraction:.1%}), more than "
                             f"max_reject_fraction={options.max_reject_fraction:g} ({reasons}); the list is in "
                             f"{report_path}", code="too_many_rejects")
    problems = _problems(report, kinds.get(options.data_kind))
    if problems:
        detail = f"; rejected: {reasons}" if rejects else ""
        raise IngestionError(data_root, f"{'; '.join(problems)} ({len(rejects)} of {total} inputs rejected"
                             f"{detail}; eval_fraction={options.eval_fraction:g}); see {report_path}", code="empty_split")
    return report


