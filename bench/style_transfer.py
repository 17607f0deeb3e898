"""Style-transfer speed, as JSON: seconds per Gatys (`nst`) optimisation step, and seconds per image of the
feed-forward `fast_style` and `adain` networks, at one size, per dtype policy (float32 vs mixed_bfloat16).

    python bench/style_transfer.py [--size 512] [--policies float32 mixed_bfloat16] [--steps 5] [--warmup 2]
                                   [--config-dir configs] [--output f.json]

`figures(...)` returns the JSON-able dict (for `bench/run.py`). Models come from the paper configs
(`configs/<method>/paper_*.yaml`: nst's offline paper_512 with L-BFGS, fast_style's and adain's paper_256 networks,
all with the offline VGG16) or from `--config-dir configs/tiny` (random VGG weights: the plumbing, for tests).
nst's step is one `train_step` (VGG forward and backward on the image, one L-BFGS update) at `size` x `size`;
fast_style and adain are one `translate` of a [1, size, size, 3] image (adain with a style image of the same
size). Medians after `warmup` calls (graph tracing); these machines are shared: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [p for p in (HERE, os.path.dirname(HERE)) if p not in sys.path]

import numpy as np  # noqa: E402

import train_step  # noqa: E402

METHODS = ("nst", "fast_style", "adain")


def _build(method, policy, size, config_dir):
    import keras

    from i2i_keras import build_model, load_config
    from i2i_keras.training.loop import compile_model

    cfg = load_config(train_step.config_path(method, config_dir))
    if method == "nst":
        cfg.model["max_dim"] = size
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = build_model(cfg, image_size=size if method != "nst" else cfg.data.crop_size)
        compile_model(model, cfg)
    finally:
        keras.config.set_dtype_policy("float32")
    return model


def _timed(fn, steps, warmup):
    from run import timed

    out = train_step.summary(timed(fn, steps, warmup))
    out["median_s"] = round(out["median_ms"] / 1000.0, 4)
    return out


def time_one(method, policy, size, steps, warmup, config_dir):
    """{median_ms, iqr_ms, p99_ms, n, median_s} of one nst step or one fast_style / adain image."""
    import tensorflow as tf

    model = _build(method, policy, size, config_dir)
    if method == "nst":
        clock = iter(tf.data.Dataset.from_tensors({"image": np.zeros((1, 16, 16, 3), np.float32)}).repeat())
        model.make_train_function()
        return _timed(lambda: model.train_function(clock), steps, warmup)
    image = tf.constant(np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype("float32"))
    if method == "adain":
        translate = tf.function(lambda x: model.translate(x, mode="reference", reference=x))
    else:
        translate = tf.function(lambda x: model.translate(x))
    return _timed(lambda: translate(image).numpy(), steps, warmup)


def figures(size=512, policies=("float32", "mixed_bfloat16"), steps=5, warmup=2, config_dir=train_step.CONFIGS,
            methods=METHODS) -> dict:
    """The style-transfer section: {"size", "methods": {method: {policy: timing, "bf16_speedup": ratio}}}; a
    method that cannot be built or run here (e.g. absent VGG weights) has {"error": message}."""
    out = {"size": size, "unit": {"nst": "seconds per optimisation step", "fast_style": "seconds per image",
                                  "adain": "seconds per image"}, "methods": {}}
    for method in methods:
        entry = {}
        try:
            for policy in policies:
                entry[policy] = time_one(method, policy, size, steps, warmup, config_dir)
        except Exception as e:  # reported, not raised: one section of a long benchmark run
            entry["error"] = f"{type(e).__name__}: {e}"
        if "float32" in entry and "mixed_bfloat16" in entry:
            entry["bf16_speedup"] = round(entry["float32"]["median_ms"] / entry["mixed_bfloat16"]["median_ms"], 3)
        out["methods"][method] = entry
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--config-dir", default=train_step.CONFIGS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    result = figures(args.size, tuple(args.policies), args.steps, args.warmup, args.config_dir, tuple(args.methods))
    text = json.dumps(result, indent=1)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
