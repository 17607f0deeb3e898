"""Compiles the pipeline for Kubeflow Pipelines V2 (KFP 2 or Vertex AI Pipelines) into a pipeline-spec JSON file.

    python -m pipeline.kubeflow_runner --method pix2pix --data /gcs/BUCKET/facades --output gs://BUCKET/i2i \\
        --image REGISTRY/i2i-keras:TAG --output-file i2i-pix2pix.json [pipeline.run options]

Nothing runs here: `KubeflowV2DagRunner` only writes the JSON, which is then submitted to the cluster (e.g.
``google.cloud.aiplatform.PipelineJob(template_path="i2i-pix2pix.json", ...).submit()`` or the KFP UI). The image
must have this repository installed (``pip install .[pipeline]``): every component, the Trainer's
``pipeline.trainer_module.run_fn`` included, runs from it. ``--data`` is listed by the ingestion component inside
the cluster, so it must be a path the containers can read as a folder (on Vertex AI, the Cloud Storage FUSE mount
``/gcs/BUCKET/...``); ``--output`` (the pipeline root) and ``--serving-dir`` may be ``gs://`` URIs. ML Metadata
belongs to the cluster, and the ingestion's data fingerprint is left empty (the data is not readable from where
this compiles), so re-ingest changed data with a new ``--data`` folder or with caching disabled for the run.
"""

import argparse
import os
import sys
from typing import Optional

from . import run as run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = run_cli.build_parser(prog=f"python -m {__package__}.kubeflow_runner")
    parser.description = __doc__
    parser.add_argument("--image", required=True, help="container image with i2i_keras and pipeline/ installed")
    parser.add_argument("--output-file", help="pipeline JSON to write (default: <pipeline name>.json)")
    return parser


def compile_pipeline(args: argparse.Namespace) -> str:
    """Writes the KFP V2 pipeline JSON described by `args`; returns its path."""
    from tfx import v1 as tfx

    from . import configs

    pipeline = run_cli.build_pipeline(args, metadata=False)
    output_file = args.output_file or f"{args.pipeline_name or configs.pipeline_name_for(args.method)}.json"
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=args.image),
        output_dir=os.path.dirname(os.path.abspath(output_file)),
        output_filename=os.path.basename(output_file))
    runner.run(pipeline, write_out=True)
    return os.path.abspath(output_file)


def main(argv: Optional[list] = None) -> int:
    from i2i_keras.errors import run_cli as report_failures

    args = build_parser().parse_args(argv)

    def body() -> int:
        print(f"Kubeflow Pipelines V2 spec: {compile_pipeline(args)}")
        return 0

    return report_failures(body, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
