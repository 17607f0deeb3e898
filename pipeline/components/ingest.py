"""Ingestion: image folders -> validated, split, sharded GZIP TFRecords in the library's schema.

Why ``@component(use_beam=True)`` and not a custom executor: the component needs exactly what the decorator gives,
an output ``Examples`` artifact, plain parameters and a ``beam.Pipeline`` that TFX builds from the pipeline's
``beam_pipeline_args`` (the same `BaseBeamExecutor` mechanism ExampleGen uses), so a Flink, Spark, Dataflow or
portable runner is a matter of arguments. A custom executor would add a ComponentSpec, an executor class and a
component class that only restate those types. The work itself lives in `pipeline.components.images_to_examples`
(plain functions and the `ImagesToExamples` PTransform, no TFX), which tests run with an ordinary `beam.Pipeline`
and which is all that Beam workers import.

What runs where: the launcher lists the folders (names only; cheap) and decides each file's split; Beam workers
read, fully decode and validate every file and encode the examples (the expensive part), then write the shards.

Examples artifact layout (`make_dataset("<uri>/Split-train/*", data_kind, cfg.data, ...)` reads a split; the
Trainer's ``fn_args.train_files`` is exactly that glob)::

    <uri>/Split-train/<group>-00000-of-00002.tfrecord.gz
    <uri>/Split-eval/<group>-00000-of-00001.tfrecord.gz
    <uri>/ingest_report.json

``<group>`` follows from the layout the data kind declares (`i2i_keras.data.ingestion`): ``pairs`` (AB images or
matching pair folders), ``domain_a`` / ``domain_b`` (two domains; each record also carries ``domain`` 0 or 1, which
is how the reader splits the two streams), the domain folder's name (a folder per domain; one-hot labels) or
``images`` (plain images, or images listed in ``attributes.csv`` with multi-hot labels). Labelled records also
carry the data set's ``label_mode``.

Splits: when the data folder has split folders (train/ and test/ or val/, in any layout the library readers
accept) they are kept (``train`` -> Split-train, ``test``/``val`` -> Split-eval); otherwise each example goes to
eval when ``sha256(key) / 2**256 < eval_fraction``, ``key`` being its path relative to its folder (for pairs the
shared name, so both halves of a pair land together). The split of a file never depends on the runner, the
listing order or where the data is mounted.

Nothing is dropped silently: every unusable input (unreadable, empty, corrupt, TIFF, bad channel count, smaller
than ``min_image_size``, odd-width AB image, pair without partner or with halves of different sizes, two files
claiming one pair name, an ``attributes.csv`` row naming a missing file) is a *reject* with a reason code, and
files that are not images by extension are listed as *ignored*; both go to ``ingest_report.json``. Images of
formats TensorFlow cannot decode (TIFF, WebP, HEIC, AVIF) are rejects (``unsupported_format``), and so are images
whose header declares more than ``max_pixels`` pixels (``too_many_pixels``, refused before decoding). The run
fails with one line naming the report when rejects exceed ``max_reject_fraction`` of the inputs or a split (or,
for kinds that need every group in every split, a group of a split) is left empty; with ``report_dir`` the line
names the report's copy there, since TFX deletes a failed execution's artifact. A reject's reason is the
library's `DataError.code`.
"""

import json

import apache_beam as beam
from tfx import v1 as tfx
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from i2i_keras.data.files import DEFAULT_MAX_PIXELS

from .images_to_examples import SPLITS
from .images_to_examples import IngestOptions
from .images_to_examples import run_ingestion


@tfx.dsl.components.component(use_beam=True)
def ImageIngest(
    examples: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Examples],
    data_root: tfx.dsl.components.Parameter[str],
    data_kind: tfx.dsl.components.Parameter[str],
    layout: tfx.dsl.components.Parameter[str] = "auto",
    domains: tfx.dsl.components.Parameter[str] = "",
    eval_fraction: tfx.dsl.components.Parameter[float] = 0.2,
    max_reject_fraction: tfx.dsl.components.Parameter[float] = 0.05,
    min_image_size: tfx.dsl.components.Parameter[int] = 1,
    num_shards: tfx.dsl.components.Parameter[int] = 0,
    max_pixels: tfx.dsl.components.Parameter[int] = DEFAULT_MAX_PIXELS,
    report_dir: tfx.dsl.components.Parameter[str] = "",
    data_fingerprint: tfx.dsl.components.Parameter[str] = "",
    beam_pipeline: tfx.dsl.components.BeamComponentParameter[beam.Pipeline] = None,
) -> None:
    """Image folders -> Examples (Split-train, Split-eval; see the module docstring).

    `domains` is a JSON list (or ""). `max_pixels`: images declaring more pixels are rejected before decoding (0:
    no limit). `report_dir`: a folder outside the artifact (``<output root>/reports``) that also gets the report,
    as ``ingest_report-<time>-<execution>.json``: TFX deletes the Examples artifact of a failed execution, and a
    failure's one-line error names this copy. `data_fingerprint` is not read here: it is part of the execution's
    cache key, so a changed data folder is ingested again instead of being served from TFX's cache.
    """
    del data_fingerprint
    options = IngestOptions(data_kind=data_kind, layout=layout, domains=tuple(json.loads(domains)) if domains else None,
                            eval_fraction=eval_fraction, max_reject_fraction=max_reject_fraction,
                            min_image_size=min_image_size, num_shards=num_shards, max_pixels=max_pixels)
    report = run_ingestion(data_root, examples.uri, options, beam_pipeline, report_dir=report_dir or None)
    examples.split_names = artifact_utils.encode_split_names(list(SPLITS))
    examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(examples, "tfrecords_gzip")
    for split in SPLITS:
        examples.set_int_custom_property(f"num_{split}", sum(report["written"][split].values()))
    examples.set_int_custom_property("num_rejected", report["rejected"]["count"])
    examples.set_string_custom_property("data_kind", data_kind)
