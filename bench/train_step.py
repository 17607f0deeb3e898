"""Median milliseconds per training step, float32 vs mixed_bfloat16, printed as JSON.

    python bench/train_step.py [--methods pix2pix cyclegan] [--size 128] [--batch 1] [--steps 10] [--warmup 3]
                               [--policies float32 mixed_bfloat16] [--config-dir configs/tiny|paper] [--output f.json]

Each (method, policy) is built from its paper config (`configs/<method>/paper_256.yaml`, unless --config-dir points
elsewhere) at the requested size, trained on a fixed synthetic batch (timing excludes input pipelines), and timed
per step after warm-up (graph tracing). Reports median and interquartile range, and the bf16/fp32 speed ratio
measured in the same run (these machines are shared: compare ratios, not absolute numbers across runs).
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


def synthetic_batch(kind, batch, size, channels=3):
    rng = np.random.default_rng(0)
    img = lambda: tf.constant(rng.uniform(-1, 1, (batch, size, size, channels)).astype("float32"))  # noqa: E731
    if kind == "paired":
        return {"source": img(), "target": img()}
    if kind == "unpaired":
        return {"domain_a": img(), "domain_b": img()}
    raise ValueError(f"bench supports paired and unpaired methods. Received: data_kind={kind!r}")


def time_method(method, policy, size, batch, steps, warmup, config_dir):
    cfg = load_config(os.path.join(config_dir, method, "paper_256.yaml") if config_dir.endswith("configs")
                      else os.path.join(config_dir, f"{method}.yaml"))
    cfg.train.mixed_precision = policy
    if "num_downs" in cfg.model:
        # The U-Net's depth follows the size as in the paper code (unet_256 at 256 px, unet_128 at 128 px).
        cfg.model["num_downs"] = min(cfg.model["num_downs"], int(math.log2(size)))
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(0)
    model = build_model(cfg, image_size=size)
    compile_model(model, cfg)
    data = synthetic_batch(model.data_kind, batch, size)
    step = tf.function(model.train_step)
    for _ in range(warmup):
        step(data)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        logs = step(data)
        float(logs["g_total"])  # wait for the step to finish
        times.append((time.perf_counter() - start) * 1000)
    keras.config.set_dtype_policy("float32")
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    return {"median_ms": round(float(median), 2), "iqr_ms": round(float(q3 - q1), 2), "steps": steps}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", default=["pix2pix", "cyclegan"])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    p.add_argument("--config-dir", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                        "configs"))
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
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
