"""Style transfer in one command (Gatys et al., the `nst` method):
`python -m i2i_keras.stylize --content photo.jpg --style embedded:starry_night --output out.png [--steps N]`.

The settings start from `configs/nst/default.yaml` (or `--config`), then `--set section.key=value` overrides, then
the flags below. `--content` and `--style` are image specs: a file (any `tf.io.gfile` file system), an embedded
style (`embedded:starry_night`, `embedded:brick`, `embedded:grass`, `embedded:gravel`) or one file of an embedded
data set (`embedded:photos/test/astronaut_0.png`). The same optimisation with checkpoints, TensorBoard and resume
is `python -m i2i_keras.train --method nst --set model.content=... --set model.style=...`.

Exit status: 0 on success; 2 with one `error: <message>` line for bad input (a missing image, an unknown option,
absent VGG weights); 1 for anything else (a defect; its traceback is shown).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from typing import Optional


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m i2i_keras.stylize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", required=True, help="content image spec")
    p.add_argument("--style", required=True, help="style image spec (e.g. embedded:starry_night)")
    p.add_argument("--output", required=True, help="where to write the stylised PNG")
    p.add_argument("--config", help="nst config (default: configs/nst/default.yaml)")
    p.add_argument("--steps", type=int, help="optimisation steps (train.steps)")
    p.add_argument("--max-dim", type=int, help="longer side of the result in pixels (model.max_dim)")
    p.add_argument("--content-weight", type=float, help="loss_weights.g_content")
    p.add_argument("--style-weight", type=float, help="loss_weights.g_style")
    p.add_argument("--tv-weight", type=float, help="loss_weights.g_tv")
    p.add_argument("--optimizer", choices=["adam", "lbfgs"], help="optim.optimizer (lbfgs: the paper's)")
    p.add_argument("--lr", type=float, help="learning rate / L-BFGS step (optim.g_lr)")
    p.add_argument("--init", choices=["content", "style", "noise"], help="start image (model.init)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours (model.preserve_color)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    return p


def _config(args):
    from i2i_keras.config import ConfigError, default_config_path, load_config

    cfg = load_config(args.config or default_config_path("nst"), overrides=args.set, method="nst")
    cfg.model.update(content=args.content, style=args.style)
    for value, section, key in ((args.max_dim, cfg.model, "max_dim"), (args.init, cfg.model, "init"),
                                (args.content_weight, cfg.loss_weights, "g_content"),
                                (args.style_weight, cfg.loss_weights, "g_style"),
                                (args.tv_weight, cfg.loss_weights, "g_tv")):
        if value is not None:
            section[key] = value
    if args.preserve_color:
        cfg.model["preserve_color"] = True
    if args.optimizer is not None:
        cfg.optim.optimizer = args.optimizer
    if args.lr is not None:
        cfg.optim.g_lr = args.lr
    if args.steps is not None:
        cfg.train.steps = args.steps
    if cfg.train.steps <= 0:
        raise ConfigError(f"--steps must be positive. Received: {cfg.train.steps}", code="bad_value")
    return cfg


def stylize(cfg, verbose: int = 0):
    """Runs `cfg.train.steps` optimisation steps of the `nst` model `cfg` builds; returns (model, last losses)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from i2i_keras.methods.base import build_model
    from i2i_keras.training.loop import compile_model

    keras.utils.set_random_seed(cfg.train.seed)
    model = build_model(cfg)
    compile_model(model, cfg)
    # The steps only need a clock: nst's images are its own state.
    clock = tf.data.Dataset.from_tensors({"image": np.zeros((1, 16, 16, 3), np.float32)}).repeat()
    history = model.fit(clock, steps_per_epoch=cfg.train.steps, epochs=1, verbose=verbose).history
    return model, {name: float(values[-1]) for name, values in history.items()}


BUG_LINE = "i2i_keras: this is a bug, please report it with the traceback above"


def main(argv: Optional[list] = None) -> int:
    args = build_parser().parse_args(argv)
    from i2i_keras.errors import I2IError

    try:
        import tensorflow as tf

        from i2i_keras import storage
        from i2i_keras.data.transforms import to_uint8

        cfg = _config(args)
        start = time.time()
        model, logs = stylize(cfg, verbose=0 if args.quiet else 1)
        storage.write_atomic(args.output, tf.io.encode_png(to_uint8(model.result())).numpy())
    except I2IError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception:
        if args.debug:
            raise
        traceback.print_exc()
        print(BUG_LINE, file=sys.stderr)
        return 1
    print(f"stylised {args.content} with {args.style}: {cfg.train.steps} steps in {time.time() - start:.1f} s, "
          + ", ".join(f"{k}={v:.4g}" for k, v in sorted(logs.items())))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
