"""Median milliseconds per training step, float32 vs mixed_bfloat16, printed as JSON.

    python bench/train_step.py [--methods pix2pix cyclegan] [--size 128] [--batch 1] [--steps 10] [--warmup 3]
                               [--policies float32 mixed_bfloat16] [--config-dir configs/tiny|paper] [--output f.json]

Each (method, policy) is built from its paper config (`configs/<method>/paper_*.yaml`, unless --config-dir points
elsewhere, e.g. configs/tiny: `<method>.yaml`) at the requested size, trained on a fixed synthetic batch of its data
kind (timing excludes input pipelines), and timed per step after warm-up (graph tracing). Reports median and
interquartile range, and the bf16/fp32 speed ratio measured in the same run (these machines are shared: compare
ratios, not absolute numbers across runs). `bench/run.py` imports `time_method` for its training-step section.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from i2i_keras import build_model, load_config  # noqa: E402
from i2i_keras.training.loop import compile_model  # noqa: E402


CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def config_path(method, config_dir):
    """The config of `method` in `config_dir`: its paper config (``paper_*.yaml``: paper_256, or paper_128 /
    paper_64 for the methods published at that size) in a per-method folder tree like configs/, else
    ``<method>.yaml`` (configs/tiny)."""
    folder = os.path.join(config_dir, method)
    if os.path.isdir(folder):
        papers = sorted(n for n in os.listdir(folder) if n.startswith("paper_") and n.endswith(".yaml"))
        if not papers:
            raise FileNotFoundError(f"no paper_*.yaml config in {folder}; found {sorted(os.listdir(folder))}")
        return os.path.join(folder, papers[-1])
    path = os.path.join(config_dir, f"{method}.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config for {method!r} in {config_dir}: expected {folder}/paper_*.yaml or {path}")
    return path


def synthetic_batch(model, batch, size):
    """One training batch of the model's data kind (`DataKind.synthetic_batches`), `batch` rows per step (times
    the critic steps of a method that takes several batches per step); super-resolution: `size` is the target's
    side, the input's is `size / output_scale`."""
    from i2i_keras.data import kinds

    rows = batch * model.batches_per_step
    data = kinds.get(model.data_kind).synthetic_batches(size=size, channels=model.in_channels, batch=rows, count=1,
                                                        domains=getattr(model, "num_domains", None) or 3,
                                                        scale=model.output_scale)
    return next(iter(data))


def build(method, policy, size, config_dir):
    """The method's model built from its config at `size` under the dtype `policy`, compiled; and the config."""
    cfg = load_config(config_path(method, config_dir))
    cfg.train.mixed_precision = policy
    if "num_downs" in cfg.model:
        # The U-Net's depth follows the size as in the paper code (unet_256 at 256 px, unet_128 at 128 px).
        cfg.model["num_downs"] = min(cfg.model["num_downs"], int(math.log2(size)))
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = build_model(cfg, image_size=size)
        compile_model(model, cfg)
    finally:
        keras.config.set_dtype_policy("float32")
    return model, cfg


def summary(times_ms):
    """Median, interquartile range and p99 of a list of milliseconds."""
    q1, median, q3, p99 = np.percentile(times_ms, [25, 50, 75, 99])
    return {"median_ms": round(float(median), 2), "iqr_ms": round(float(q3 - q1), 2), "p99_ms": round(float(p99), 2),
            "n": len(times_ms)}


def time_method(method, policy, size, batch, steps, warmup, config_dir):
    """Median ms per training step of `method` on a fixed synthetic batch (no input pipeline), after `warmup`
    steps (graph tracing)."""
    model, _ = build(method, policy, size, config_dir)
    data = synthetic_batch(model, batch, size)
    step = tf.function(model.train_step)
    for _ in range(warmup):
        step(data)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        logs = step(data)
        float(logs["g_total"])  # wait for the step to finish
        times.append((time.perf_counter() - start) * 1000)
    result = summary(times)
    result["steps"] = result.pop("n")
    result["images_per_step"] = batch
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=["pix2pix", "cyclegan"])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    p.add_argument("--config-dir", default=CONFIGS)
    p.add_argument("--output", help="also write the JSON here")
    args = p.parse_args(argv)
    results = {"device": tf.config.list_physical_devices("GPU") and "gpu" or "cpu", "machine": platform.machine(),
               "cpus": os.cpu_count(), "tensorflow": tf.__version__, "keras": keras.__version__,
               "size": args.size, "batch": args.batch, "methods": {}}
    for method in args.methods:
        entry = {}
        for policy in args.policies:
            entry[policy] = time_method(method, policy, args.size, args.batch, args.steps, args.warmup,
                                        args.config_dir)
        if "float32" in entry and "mixed_bfloat16" in entry:
            entry["bf16_speedup"] = round(entry["float32"]["median_ms"] / entry["mixed_bfloat16"]["median_ms"], 3)
        results["methods"][method] = entry
    print_json(results, args.output)
    return 0


def print_json(results, output=None):
    """Prints `results` as indented JSON, and writes the same text to `output` when given."""
    text = json.dumps(results, indent=2)
    print(text)
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
