"""Training CLI: `python -m i2i_keras.train --method NAME [options]`.

Without `--config`, `configs/<method>/default.yaml` is used; without `--data`, the embedded default data set that
fits the method's data kind. `--output` may be a local folder or a URL that TensorFlow's file systems serve
(gs://bucket/run, ...). Nothing in an existing run directory is overwritten unless `--resume` continues it;
`--resume` on a run killed after its last checkpoint writes only what is missing (idempotent).

Exit status: 0 on success; 2 with one `error: <message>` line on stderr for bad input or run state (the library's
`I2IError`s: config, data, run directory, checkpoint); 1 for anything else, which is a defect: its traceback is shown,
followed by a line asking to report it. `--debug` lets every exception propagate with its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from typing import Optional


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m i2i_keras.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", help="registered method name (see --list-methods)")
    p.add_argument("--config", help="YAML config file (default: configs/<method>/default.yaml)")
    p.add_argument("--data", help="data spec: a folder, TFRecord glob, tfds:NAME, embedded:NAME (default: embedded)")
    p.add_argument("--eval-data", help="separate evaluation data spec")
    p.add_argument("--steps", type=int, help="total training steps (train.steps)")
    p.add_argument("--batch-size", type=int, help="per-replica batch size (train.batch_size)")
    p.add_argument("--image-size", type=int, help="crop size; resize size follows the papers' 286/256 ratio")
    p.add_argument("--output", help="run directory (default: runs/<method>-<time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --output from its newest readable checkpoint; a run already at its "
                        "last step gets only its missing outputs (metrics.json, model.keras, export)")
    p.add_argument("--devices", type=int,
                   help="replicas (>= 1): GPUs to use (all when omitted), or logical CPU devices when there is no GPU")
    p.add_argument("--mixed-precision", choices=["float32", "mixed_bfloat16", "mixed_float16"],
                   help="dtype policy (train.mixed_precision)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="config override, repeatable (e.g. --set loss_weights.g_l1=50)")
    p.add_argument("--no-export", action="store_true", help="skip the SavedModel export")
    p.add_argument("--list-methods", action="store_true", help="print the registered methods and exit")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    return p


def _resolve_config(args):
    from i2i_keras.config import ConfigError, default_config_path, load_config, set_image_size

    path = args.config
    if path is None:
        path = default_config_path(args.method)
    cfg = load_config(path, overrides=args.set, method=args.method)
    if args.data is not None:
        cfg.data.spec = args.data
    if args.eval_data is not None:
        cfg.data.eval_spec = args.eval_data
    if args.steps is not None:
        cfg.train.steps = args.steps
    if args.batch_size is not None:
        cfg.train.batch_size = args.batch_size
    if args.image_size is not None:
        set_image_size(cfg, args.image_size)
    if args.mixed_precision is not None:
        cfg.train.mixed_precision = args.mixed_precision
    for flag, value in (("--steps", cfg.train.steps), ("--batch-size", cfg.train.batch_size)):
        if value <= 0:
            raise ConfigError(f"{flag} must be positive. Received: {value}", code="bad_value")
    return cfg


BUG_LINE = "i2i_keras: this is a bug, please report it with the traceback above"


def main(argv: Optional[list] = None) -> int:
    args = build_parser().parse_args(argv)
    from i2i_keras.config import ConfigError
    from i2i_keras.errors import I2IError
    from i2i_keras.registry import get_method, list_methods

    if args.list_methods:
        print("\n".join(list_methods()))
        return 0
    try:
        if not args.method:
            raise ConfigError(f"--method is required. Available: {list_methods()}", code="missing_method")
        get_method(args.method)
        from i2i_keras.training.distribute import configure_devices, strategy_for

        configure_devices(args.devices)
        cfg = _resolve_config(args)
        output = args.output or os.path.join("runs", f"{args.method}-{time.strftime('%Y%m%d-%H%M%S')}")
        from i2i_keras.training.loop import run

        result = run(cfg, output, resume=args.resume, strategy=strategy_for(args.devices),
                     export=not args.no_export)
    except I2IError as e:  # bad input or run state: the message says what to change
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception:  # anything else is a defect (ours, or TensorFlow's / Keras's): never hidden as bad input
        if args.debug:
            raise
        traceback.print_exc()
        print(BUG_LINE, file=sys.stderr)
        return 1
    from i2i_keras import storage

    print(f"trained {cfg.method} for {result.steps} steps in {result.output_dir}")
    if result.metrics:
        print("evaluation: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(result.metrics.items())))
    print(f"samples:    {result.sample_path}")
    if result.export_path:
        print(f"SavedModel: {result.export_path}  (TF Serving model base path: {os.path.dirname(result.export_path)})")
    print(f"Keras model: {storage.join(result.output_dir, 'model.keras')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
