"""Runs the TFX pipeline locally: `python -m pipeline.run --method NAME --data DIR --output ROOT [options]`.

LocalDagRunner with file-based ML Metadata. Output root layout:

    ROOT/metadata.sqlite                  ML Metadata (SQLite): runs, artifacts, lineage; what caching and the
                                          latest-blessed-model resolver query
    ROOT/tfx/<pipeline>/<Component>/<output>/<execution id>/   the artifacts (Examples, Model, ModelRun, ...)
    ROOT/serving/<model name>/<version>/  pushed SavedModels (TF Serving's model base path), unless --serving-dir
    ROOT/last_run.json                    summary of the last run: artifact locations, metrics, blessing, push
    ROOT/reports/ingest_report-<time>-<execution>.json
                                          each ingestion's report (also inside its Examples artifact, which TFX
                                          deletes when ingestion fails: a failure's error line names this copy)

Bad input ends with one `error:` line on stderr and exit status 2 (`--debug` shows the traceback instead).
Beam options pass through with repeated `--beam-arg=--OPTION=VALUE` (after the DirectRunner defaults, so they
win); see pipeline/README.md for Flink, Spark and Dataflow.
"""

import argparse
import json
import os
import sys
from typing import Optional

from i2i_keras.errors import EXIT_INPUT_ERROR as EXIT_ERROR  # 2: bad input


def build_parser(prog: str = f"python -m {__package__}.run") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, help="registered method name (e.g. pix2pix, cyclegan)")
    p.add_argument("--data", required=True, help="image folder (layouts: pipeline/README.md)")
    p.add_argument("--output", required=True, help="output root: ML Metadata, artifacts, default serving dir")
    p.add_argument("--config", help="YAML config (default: configs/<method>/default.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override")
    p.add_argument("--steps", type=int, help="training steps (the Trainer's train_args.num_steps)")
    p.add_argument("--serving-dir", help="TF Serving model root; models go to DIR/<model name>/<version> "
                                         "(default: ROOT/serving)")
    p.add_argument("--model-name", default=None, help="TF Serving model name (default: i2i)")
    p.add_argument("--pipeline-name", help="TFX pipeline name (default: i2i-<method>)")
    p.add_argument("--beam-arg", action="append", default=[], metavar="--OPTION=VALUE",
                   help="Beam pipeline option for ingestion, repeatable (write --beam-arg=--runner=...)")
    p.add_argument("--eval-fraction", type=float, default=None, help="share hashed into the eval split (0.2)")
    p.add_argument("--max-reject-fraction", type=float, default=None,
                   help="fail ingestion when more inputs than this share are rejected (0.05)")
    p.add_argument("--min-image-size", type=int, help="reject smaller images (default: crop size for "
                                                      "data.preprocess=crop, else 1)")
    p.add_argument("--num-shards", type=int, default=0, help="TFRecord shards per split and group (0: automatic)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="reject images whose header declares more pixels, before decoding them (0: no limit; "
                        "default: data.max_pixels, else 50,000,000)")
    p.add_argument("--threshold", action="append", default=[], metavar="METRIC.CHECK=VALUE",
                   help="blessing threshold, e.g. psnr.lower_bound=20 or psnr.max_regression=none")
    p.add_argument("--max-eval-examples", type=int, default=None, help="images per evaluated domain (64)")
    p.add_argument("--no-cache", action="store_true", help="run every component again")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    return p


def build_pipeline(args: argparse.Namespace, *, metadata: bool = True, pipeline_root: Optional[str] = None):
    """The pipeline the arguments describe. `metadata=False` (Kubeflow) leaves ML Metadata to the orchestrator."""
    from tfx import v1 as tfx

    from i2i_keras import storage
    from i2i_keras.data import DataError
    from i2i_keras.data import files
    from i2i_keras.registry import get_method

    from . import configs
    from .pipeline import create_pipeline

    if metadata and not files.is_dir(args.data):
        # Checked here for local runs (Kubeflow lists --data inside the cluster): fail before any component starts.
        raise DataError(args.data, "data folder not found", code="folder_not_found")
    cfg = configs.resolve_experiment(args.method, args.config, args.set, args.steps)
    data_kind = get_method(cfg.method).data_kind
    name = args.pipeline_name or configs.pipeline_name_for(cfg.method)
    model_name = args.model_name or configs.MODEL_NAME
    serving_root = args.serving_dir or os.path.join(args.output, configs.SERVING_ROOT)
    connection = None
    if metadata:
        os.makedirs(args.output, exist_ok=True)
        connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(args.output, configs.METADATA_FILE))
    options = {}
    for key in ("eval_fraction", "max_reject_fraction", "max_eval_examples"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return create_pipeline(
        pipeline_name=name,
        pipeline_root=pipeline_root or os.path.join(args.output, configs.TFX_ROOT, name),
        data_root=os.path.abspath(args.data) if metadata and "://" not in args.data else args.data,
        cfg=cfg,
        serving_model_dir=os.path.join(serving_root, model_name),
        config_source={"config_path": args.config, "overrides": list(args.set)},
        thresholds=configs.merge_thresholds(data_kind, args.threshold),
        min_image_size=configs.min_image_size_for(cfg) if args.min_image_size is None else args.min_image_size,
        num_shards=args.num_shards,
        max_pixels=getattr(args, "max_pixels", None),
        report_dir=storage.join(os.path.abspath(args.output) if metadata and "://" not in args.output else args.output,
                                configs.REPORTS_ROOT),
        data_fingerprint=configs.data_fingerprint(args.data) if metadata else "",
        beam_pipeline_args=list(configs.DEFAULT_BEAM_ARGS) + list(args.beam_arg),
        metadata_connection_config=connection,
        enable_cache=not args.no_cache,
        **options,
    )


def summarize(output_root: str, pipeline_name: str) -> dict:
    """Locations and results of the latest run of `pipeline_name` recorded in `output_root`'s ML Metadata."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from . import configs

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = os.path.join(output_root, configs.METADATA_FILE)
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(connection)
    context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if context is None:
        from i2i_keras.errors import DataError

        raise DataError(output_root, f"no pipeline {pipeline_name!r} in its ML Metadata", code="unknown_pipeline")
    artifacts = store.get_artifacts_by_context(context.id)
    types = {t.id: t.name for t in store.get_artifact_types()}
    latest = {}
    for artifact in sorted(artifacts, key=lambda a: a.id):
        latest[types[artifact.type_id]] = artifact

    def uri(type_name):
        return latest[type_name].uri if type_name in latest else None

    def prop(type_name, key):
        artifact = latest.get(type_name)
        if artifact is None or key not in artifact.custom_properties:
            return None
        value = artifact.custom_properties[key]
        return value.string_value or value.int_value

    summary = {"pipeline": pipeline_name, "examples": uri("Examples"), "model": uri("Model"),
               "model_run": uri("ModelRun"), "evaluation": uri("ModelEvaluation"), "blessing": uri("ModelBlessing"),
               "blessed": bool(prop("ModelBlessing", "blessed")), "pushed": bool(prop("PushedModel", "pushed")),
               "pushed_destination": prop("PushedModel", "pushed_destination") or None}
    if summary["evaluation"]:
        with open(os.path.join(summary["evaluation"], "metrics.json"), encoding="utf-8") as f:
            report = json.load(f)
        summary["metrics"] = report["metrics"]
        summary["failed_checks"] = [f"{c['metric']}.{c['check']}" for c in report["checks"] if not c["passed"]]
    return summary


def report(args: argparse.Namespace) -> dict:
    """Writes ROOT/last_run.json and prints the run's outcome."""
    from . import configs

    summary = summarize(args.output, args.pipeline_name or configs.pipeline_name_for(args.method))
    path = os.path.join(args.output, configs.LAST_RUN_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    print(f"examples:   {summary['examples']}")
    print(f"model:      {summary['model']}")
    print(f"evaluation: {summary['evaluation']}  metrics: {summary.get('metrics')}")
    verdict = "blessed" if summary["blessed"] else f"NOT blessed (failed: {summary.get('failed_checks')})"
    pushed = f"pushed to {summary['pushed_destination']}" if summary["pushed"] else "not pushed"
    print(f"model {verdict}; {pushed}")
    print(f"summary:    {path}")
    return summary


def run_local(args: argparse.Namespace) -> int:
    """Builds and runs the pipeline with LocalDagRunner and prints the outcome; 0, or `EXIT_ERROR` after one `error:`
    line on stderr for bad input (`i2i_keras.errors.run_cli`: any other failure shows its traceback, status 1)."""
    from absl import logging as absl_logging
    from tfx import v1 as tfx

    from i2i_keras.errors import run_cli

    # TFX logs every artifact and execution at INFO; the summary at the end says what matters.
    absl_logging.set_verbosity(absl_logging.WARNING)

    def body() -> int:
        tfx.orchestration.LocalDagRunner().run(build_pipeline(args))
        report(args)
        return 0

    return run_cli(body, debug=args.debug)


def main(argv: Optional[list] = None) -> int:
    return run_local(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
