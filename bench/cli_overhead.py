"""Where the CLI's steady state differs from the bare step: alternating rounds in one process, printed as JSON.

    python bench/cli_overhead.py [--rounds 8] [--steps 12] [--method pix2pix] [--size 128] [--output f.json]

`bench/run.py`'s `cli` section compares the real CLI (a subprocess) with the bare step measured before and after it;
on a shared machine the bare step alone moves by 10% between those two measurements, more than the 5% goal. This
script measures the parts in one process, in rounds that rotate their order, and compares each part with the bare
step *of the same round*, so slow drifts of the machine cancel:

- `step`: `tf.function(model.train_step)` on one fixed batch (what `bench/train_step.py` times);
- `step_on_pipeline`: the same traced step fed by the CLI's training `tf.data` pipeline (JPEG decoding and
  augmentation run in the pipeline's threads while the step runs);
- `fit`: `model.fit` on the fixed batch repeated (Keras' fit loop, no pipeline);
- `fit_on_pipeline`: `model.fit` on the CLI's pipeline (what the CLI runs on the steps where no callback fires).

The model, config and folder are the `cli` section's: the method's paper config at `--size`, AB JPEGs made from the
embedded photos. Reports each part's median ms per step and the median over rounds of its ratio to `step`.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import run as bench_run  # noqa: E402  (bench/run.py: the folder, the CLI arguments, the batch-end timer)
import train_step  # noqa: E402

PARTS = ("step", "step_on_pipeline", "fit", "fit_on_pipeline")


def measure(args, data):
    import keras
    import numpy as np
    import tensorflow as tf

    from i2i_keras import build_model
    from i2i_keras.train import _resolve_config, build_parser
    from i2i_keras.training.loop import compile_model, make_datasets

    runner_args = bench_run.parse_args(["--method", args.method, "--cli-size", str(args.size)])
    cfg = _resolve_config(build_parser().parse_args(bench_run.cli_argv(runner_args, data, "unused")))
    keras.utils.set_random_seed(cfg.train.seed)
    model = build_model(cfg)
    compile_model(model, cfg)
    train, _ = make_datasets(cfg, model.data_kind, cfg.train.batch_size, 0, model.batches_per_step)
    pipeline = iter(train.repeat())
    fixed = next(pipeline)
    step = tf.function(model.train_step)
    fixed_ds = tf.data.Dataset.from_tensors(fixed).repeat()

    def steps(next_batch):
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            float(step(next_batch())["g_total"])  # waits for the step
            times.append(time.perf_counter() - start)
        return float(np.median(times) * 1000)

    def fit(ds):
        ends = []
        model.fit(ds, epochs=1, steps_per_epoch=args.steps + 2, callbacks=[bench_run.batch_ends(ends)], verbose=0,
                  shuffle=False)
        return float(np.median(np.diff(ends[1:])) * 1000)  # intervals between batch ends, the first one left out

    parts = {"step": lambda: steps(lambda: fixed), "step_on_pipeline": lambda: steps(lambda: next(pipeline)),
             "fit": lambda: fit(fixed_ds), "fit_on_pipeline": lambda: fit(train.repeat())}
    for warm in ("step", "fit"):  # graph tracing out of the rounds
        parts[warm]()
    rounds = {name: [] for name in PARTS}
    for r in range(args.rounds):
        order = PARTS[r % len(PARTS):] + PARTS[:r % len(PARTS)]
        for name in order:
            rounds[name].append(round(parts[name](), 2))
        print(f"cli_overhead: round {r}: " + ", ".join(f"{n} {rounds[n][-1]:.1f}" for n in PARTS), file=sys.stderr,
              flush=True)
    reference = np.array(rounds["step"])
    return {name: {"median_ms": round(float(np.median(values)), 2),
                   "vs_step_same_round": round(float(np.median(np.array(values) / reference)), 3),
                   "rounds_ms": values} for name, values in rounds.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=12, help="timed steps per part and round")
    p.add_argument("--method", default="pix2pix")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--images", type=int, default=200, help="AB JPEGs in the generated folder")
    p.add_argument("--output", help="also write the JSON here")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.steps < 2:
        p.error(f"--rounds must be >= 1 and --steps >= 2. Received: --rounds {args.rounds}, --steps {args.steps}")
    work = tempfile.mkdtemp(prefix="i2i-cli-overhead-")
    try:
        data = bench_run.paired_folder(work, args.images, args.size * 2)
        result = {"machine": bench_run.machine(), "method": args.method, "size": args.size, "rounds": args.rounds,
                  "steps": args.steps, "parts": measure(args, data)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    train_step.print_json(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
