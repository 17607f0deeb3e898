"""Pipeline file for the TFX CLI (local engine); also runnable as a script with `pipeline.run`'s arguments.

The TFX CLI runs this file with no command-line arguments, so they come from the environment variable
``I2I_PIPELINE_ARGS`` (the same flags as ``python -m pipeline.run``, shell-quoted); arguments given on the
command line are appended. Verified with TFX 1.16 (from the repository root, the venv's `tfx` on PATH):

    export I2I_PIPELINE_ARGS="--method pix2pix --data /data/facades --output /runs/facades --steps 1000"
    export LOCAL_HOME=/runs/tfx-cli          # where the CLI keeps its pipeline registry (default ~/tfx/local)
    tfx pipeline create --engine local --pipeline_path "$PWD/pipeline/local_runner.py"
    tfx run create --engine local --pipeline_name i2i-pix2pix

`tfx pipeline create` executes this file with LocalDagRunner.run patched out (it only records the pipeline's
name and root); `tfx run create` runs ``python <the path given to create>``, so give an absolute path and keep
I2I_PIPELINE_ARGS set for both commands. The pipeline name is ``i2i-<method>`` unless ``--pipeline-name``.
Unlike ``python -m pipeline.run``, this entry point prints no summary (TFX's logs tell the outcome).
"""

import importlib
import os
import shlex
import sys

ENV_ARGS = "I2I_PIPELINE_ARGS"

# Run as a script (the TFX CLI always does), this file's folder comes first on sys.path, and there
# `pipeline.py` would be imported as the top-level module `pipeline`, hiding the package. Putting the repository
# root first makes `pipeline` the package again.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
if __name__ == "__main__":
    sys.path.insert(0, _REPO_ROOT)

if __package__:  # imported as a module: `pipeline` in a checkout, `i2i_keras_pipeline` when installed
    from . import run as run_cli
else:  # run as a script (the TFX CLI): import the package by its folder's name
    run_cli = importlib.import_module(os.path.basename(os.path.dirname(os.path.realpath(__file__))) + ".run")


def main(argv: list) -> int:
    parser = run_cli.build_parser(prog=f"{ENV_ARGS}=... python pipeline/local_runner.py")
    args = parser.parse_args(shlex.split(os.environ.get(ENV_ARGS, "")) + list(argv))
    # Under `tfx pipeline create`, LocalDagRunner.run is patched to record the pipeline's name and root only.
    return run_cli.run_local(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
