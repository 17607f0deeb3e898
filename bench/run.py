"""The benchmark runner: one JSON file with everything `bench/README.md` reports.

    python bench/run.py [--sections train cli data inference ingest memory validation] [--size 64] [--batch 1]
                        [--policies float32] [--config-dir configs/tiny] [--output bench/results/latest.json] ...

Sections (all by default; `--sections` picks some):

- ``train``: median ms per training step of every registered method on a fixed synthetic batch
  (`train_step.time_method`: no input pipeline, no callbacks), per dtype policy.
- ``cli``: steady-state ms per step of ``python -m i2i_keras.train`` on a folder of real JPEGs (made from the
  embedded photos), input pipeline and callbacks included, against the bare step (as ``train``) of the same method,
  config (``--cli-config-dir``: the paper configs), size (``--cli-size``), batch and policy (goal: within 5%); and a
  bare ``model.fit`` of the same model and pipeline, which splits the overhead into fit + pipeline and callbacks.
- ``data``: images/s the training ``tf.data`` pipeline of the CLI delivers on that folder, against the images/s a
  training step consumes (goal: at least 10x).
- ``inference``: images/s and p50/p99 latency at batch 1 and 8 of the in-process ``model.translate``, the exported
  float signature, the exported bytes signature (PNG in, PNG out) and gRPC through ``serving.dev_server`` (goal:
  the bytes signature at batch 8 within 1.2x of the in-process model).
- ``ingest``: images/s through the pipeline's Beam ingestion (DirectRunner, multi-processing mode; in-memory mode
  and the reason when multi-processing fails here).
- ``memory``: peak memory per method at 256 px (one process per method: its peak RSS from ``getrusage`` on CPU, the
  allocator's peak from ``tf.config.experimental.get_memory_info`` on GPU), and the same for a process that only
  imports the library (the baseline).
- ``validation``: the folder readers' validation of a large folder: without the cache, first run (cache written) and
  second run (cache read), each in a fresh process.
- ``sr``: EDSR baseline x4 (``configs/edsr/paper_baseline_x4.yaml``) inference in megapixels/s, tiled against untiled
  (`tiling.tiled_vs_untiled`), float32 and mixed_bfloat16, on a ``--sr-size`` input.
- ``style``: seconds per Gatys (nst) step and per fast_style / adain image at ``--style-size``, float32 and
  mixed_bfloat16 (`style_transfer.figures`).

These machines are shared: absolute figures are noisy; the ratios measured within one run are what to compare.
Defaults fit `make bench` on 2 CPU cores in under 15 minutes; the flags make bigger runs (e.g. ``--size 256
--config-dir configs --policies float32 mixed_bfloat16``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [p for p in (HERE, ROOT) if p not in sys.path]

SECTIONS = ("train", "cli", "data", "inference", "ingest", "memory", "validation", "sr", "style")
DEFAULT_OUTPUT = os.path.join(HERE, "results", "latest.json")
# The goals: the CLI's steady state within 5% of the bare step, tf.data at least 10x what a step consumes,
# the bytes signature at batch 8 within 1.2x of the in-process model.
GOALS = {"cli_vs_step": 1.05, "data_vs_step": 10.0, "bytes_vs_in_process_batch8": 1.2}


# ----------------------------------------------------------------------------------------------- helpers


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="+", default=list(SECTIONS), metavar="SECTION",
                   help=f"sections to run, of {', '.join(SECTIONS)} (default: all)")
    p.add_argument("--methods", nargs="+", help="methods for train and memory (default: every registered method)")
    p.add_argument("--config-dir", default=os.path.join(ROOT, "configs", "tiny"),
                   help="configs/tiny (<method>.yaml, the default) or configs (the paper configs)")
    p.add_argument("--size", type=int, default=64, help="image size of train, cli and data")
    p.add_argument("--batch", type=int, default=1, help="per-step batch of train, cli and data")
    p.add_argument("--policies", nargs="+", default=["float32"], help="dtype policies of train")
    p.add_argument("--steps", type=int, default=8, help="timed training steps per method")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (graph tracing)")
    p.add_argument("--method", default="pix2pix", help="method of cli, data, inference and ingest (paired data)")
    p.add_argument("--cli-config-dir", default=os.path.join(ROOT, "configs"),
                   help="config tree of cli and data (default: the paper configs, what users train)")
    p.add_argument("--cli-size", type=int, default=128, help="image size of cli and data")
    p.add_argument("--cli-steps", type=int, default=40, help="steps of the CLI run (the first --cli-skip untimed)")
    p.add_argument("--cli-skip", type=int, default=5)
    p.add_argument("--callback-every", type=int, default=15,
                   help="the CLI run's sample_every, checkpoint_every and steps_per_epoch, so that callbacks fire "
                        "inside the timed window")
    p.add_argument("--images", type=int, default=200, help="JPEG pairs in the CLI / data / ingest folder")
    p.add_argument("--data-batches", type=int, default=100, help="batches timed in the data section")
    p.add_argument("--inference-size", type=int, default=128)
    p.add_argument("--inference-batches", nargs="+", type=int, default=[1, 8])
    p.add_argument("--inference-reps", type=int, default=20, help="timed calls per (path, batch)")
    p.add_argument("--ingest-mode", choices=["multi_processing", "in_memory"], default="multi_processing")
    p.add_argument("--memory-size", type=int, default=256)
    p.add_argument("--validation-images", type=int, default=2000)
    p.add_argument("--validation-size", type=int, default=256)
    p.add_argument("--sr-size", type=int, nargs=2, default=[192, 256], metavar=("H", "W"),
                   help="input size of the sr section (x4: the output is 4 times larger)")
    p.add_argument("--sr-tile", type=int, default=96, help="tile of the sr section, in input pixels")
    p.add_argument("--sr-overlap", type=int, default=16)
    p.add_argument("--sr-repeats", type=int, default=3)
    p.add_argument("--style-size", type=int, default=256, help="image size of the style section")
    p.add_argument("--style-steps", type=int, default=3, help="timed steps / images per method and policy")
    p.add_argument("--work-dir", help="where the generated folders go (default: a temporary folder, removed)")
    p.add_argument("--output", default=DEFAULT_OUTPUT, help="the JSON file written (default: %(default)s)")
    args = p.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; expected some of {list(SECTIONS)}")
    for name in ("size", "cli_size", "batch", "steps", "cli_steps", "images", "data_batches", "inference_size", "inference_reps",
                 "memory_size", "validation_images", "validation_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1. Received: {getattr(args, name)}")
    if args.cli_skip >= args.cli_steps - 1:
        p.error(f"--cli-skip must leave at least 2 timed steps of --cli-steps. Received: --cli-skip {args.cli_skip}, "
                f"--cli-steps {args.cli_steps}")
    return args


def machine():
    """What the figures were measured on."""
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "platform": platform.platform(),
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def ratio(a, b):
    return None if not a or not b else round(a / b, 3)


def goal(value, limit, higher_is_better=False):
    """``{"value", "goal", "met", "missed_by"}``: missed_by is how far off, as a fraction of the goal."""
    if value is None:
        return {"value": None, "goal": limit, "met": None, "missed_by": None}
    met = value >= limit if higher_is_better else value <= limit
    missed = 0.0 if met else (limit - value) / limit if higher_is_better else (value - limit) / limit
    return {"value": value, "goal": limit, "met": met, "missed_by": round(missed, 3)}


def percentiles(times_ms, images):
    import numpy as np

    p50, p99 = np.percentile(times_ms, [50, 99])
    return {"p50_ms": round(float(p50), 2), "p99_ms": round(float(p99), 2),
            "images_per_s": round(images * 1000.0 / float(p50), 2), "n": len(times_ms)}


def timed(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def child(args_list, timeout, env=None):
    """Runs ``bench/run.py --child ...`` in a fresh process; returns (its JSON answer, its stderr, seconds)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", *args_list],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"child {args_list[0]} ran past its {timeout} s limit") from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise RuntimeError(f"child {args_list[0]} exited with status {proc.returncode}: " + " | ".join(tail))
    lines = out.decode("utf-8").strip().splitlines()
    if not lines:
        raise RuntimeError(f"child {args_list[0]} printed no JSON answer")
    return json.loads(lines[-1]), err.decode("utf-8", "replace"), seconds


def run_section(results, name, fn, *a):
    start = time.perf_counter()
    try:
        results[name] = fn(*a)
    except Exception as e:  # one failing section must not lose the others' figures; the error is in the JSON
        results[name] = {"error": f"{type(e).__name__}: {e}"}
    results[name]["section_seconds"] = round(time.perf_counter() - start, 1)
    print(f"bench: {name} done in {results[name]['section_seconds']} s", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- folders


def photos():
    """The embedded photos (128x128 colour PNGs, real images) as uint8 arrays."""
    import tensorflow as tf

    from i2i_keras.data import files
    from i2i_keras.data.sources import embedded_path

    paths = files.list_images(embedded_path("photos"))
    return [tf.io.decode_png(tf.io.read_file(p), channels=3).numpy() for p in paths]


def write_jpegs(folder, count, size, paired, seed=0):
    """`count` JPEGs (quality 90) of random crops of the embedded photos resized to `size`, flipped at random;
    `paired`: side-by-side AB images (left: the luminance, right: the colour), as pix2pix's folders."""
    import numpy as np
    import tensorflow as tf

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = photos()
    for i in range(count):
        photo = sources[i % len(sources)]
        side = int(rng.integers(64, photo.shape[0] + 1))
        y, x = (int(rng.integers(0, photo.shape[d] - side + 1)) for d in (0, 1))
        crop = tf.image.resize(photo[y:y + side, x:x + side], (size, size), antialias=True)
        crop = tf.cast(tf.clip_by_value(tf.round(crop), 0, 255), tf.uint8)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if paired:
            gray = tf.repeat(tf.image.rgb_to_grayscale(crop), 3, axis=-1)
            crop = tf.concat([gray, crop], axis=1)
        tf.io.write_file(os.path.join(folder, f"{i:05d}.jpg"), tf.io.encode_jpeg(crop, quality=90))
    return folder


def paired_folder(work, count, size):
    """train/ (count AB JPEGs) and test/ (8): the layout of the CLI's folder readers and of ingestion."""
    root = os.path.join(work, f"pairs-{size}")
    if not os.path.isdir(root):
        write_jpegs(os.path.join(root, "train"), count, size, paired=True)
        write_jpegs(os.path.join(root, "test"), 8, size, paired=True, seed=1)
    return root


# ----------------------------------------------------------------------------------------------- sections


def section_train(args):
    import train_step

    from i2i_keras.registry import list_methods

    out = {"size": args.size, "batch": args.batch, "config_dir": os.path.relpath(args.config_dir, ROOT),
           "methods": {}}
    for method in args.methods or list_methods():
        print(f"bench: train {method}", file=sys.stderr, flush=True)
        entry = {}
        for policy in args.policies:
            try:
                entry[policy] = train_step.time_method(method, policy, args.size, args.batch, args.steps,
                                                       args.warmup, args.config_dir)
            except Exception as e:  # a method that cannot be benchmarked (e.g. a data kind without synthetic data)
                entry[policy] = {"error": f"{type(e).__name__}: {e}"}
        if "median_ms" in entry.get("float32", {}) and "median_ms" in entry.get("mixed_bfloat16", {}):
            entry["bf16_speedup"] = ratio(entry["float32"]["median_ms"], entry["mixed_bfloat16"]["median_ms"])
        out["methods"][method] = entry
    return out


def fresh_step_reference(args, policy="float32"):
    """The bare step's median ms of --method with the cli section's config and size (`train_step.time_method`),
    measured now."""
    import train_step

    return train_step.time_method(args.method, policy, args.cli_size, args.batch, max(args.steps, 10), args.warmup,
                                  args.cli_config_dir)["median_ms"]


def step_reference(results, args):
    """The bare step's median ms for the data section: the cli section's, else measured now."""
    return results.get("cli", {}).get("step_reference_median_ms") or fresh_step_reference(args)


def cli_argv(args, data, output):
    import math

    import train_step

    from i2i_keras import load_config

    every = str(args.callback_every)
    config = train_step.config_path(args.method, args.cli_config_dir)
    depth = load_config(config).model.get("num_downs")
    # The U-Net's depth follows the size, as `train_step.build` does for the bare step (the CLI refuses a paper
    # config's unet_256 at 128 px).
    extra = ["--set", f"model.num_downs={min(depth, int(math.log2(args.cli_size)))}"] if depth else []
    return extra + ["--method", args.method, "--config", train_step.config_path(args.method, args.cli_config_dir),
            "--data", data, "--steps", str(args.cli_steps), "--batch-size", str(args.batch),
            "--image-size", str(args.cli_size), "--output", output, "--no-export", "--mixed-precision", "float32",
            "--set", f"train.steps_per_epoch={every}", "--set", f"train.sample_every={every}",
            "--set", f"train.checkpoint_every={every}"]


def section_cli(args, work, results):
    import numpy as np
    import train_step

    data = paired_folder(work, args.images, args.cli_size * 2)
    output = os.path.join(work, "cli-run")
    shutil.rmtree(output, ignore_errors=True)
    # The bare step measured before and after the CLI runs, the faster kept: the others' load on a shared machine
    # then makes the ratio worse, never better.
    before = fresh_step_reference(args)
    answer, _, seconds = child(["cli", *cli_argv(args, data, output)], timeout=900)
    ends = answer["batch_end_times"]
    # The interval between two batch ends is one whole step as fit runs it: waiting for the next batch of the
    # input pipeline, the step, and every callback's on_train_batch_end.
    intervals = np.diff(ends[args.cli_skip:]) * 1000
    steps = np.arange(args.cli_skip + 2, len(ends) + 1)  # the step each interval ends with (1-based)
    firing = steps % args.callback_every == 0
    median = float(np.median(intervals[~firing]))
    # The same model and pipeline under a bare model.fit: splits the CLI's overhead into Keras' fit loop and the
    # input pipeline (fit vs step) and the CLI's callbacks (cli vs fit).
    fit_answer, _, _ = child(["fit", *cli_argv(args, data, os.path.join(work, "unused"))], timeout=900)
    fit_median = float(np.median(np.diff(fit_answer["batch_end_times"][args.cli_skip:]) * 1000))
    after = fresh_step_reference(args)
    reference = min(before, after)
    out = {"method": args.method, "size": args.cli_size, "batch": args.batch, "steps": args.cli_steps,
           "config": os.path.relpath(train_step.config_path(args.method, args.cli_config_dir), ROOT),
           "step_reference_before_after_ms": [before, after],
           "timed_steps": int(len(intervals)), "callback_every": args.callback_every,
           "steady_median_ms": round(median, 2), "mean_ms": round(float(np.mean(intervals)), 2),
           "callback_step_ms": [round(float(t), 2) for t in intervals[firing]],
           "fit_no_callbacks_median_ms": round(fit_median, 2), "step_reference_median_ms": reference,
           "cli_vs_step": ratio(median, reference), "fit_vs_step": ratio(fit_median, reference),
           "callbacks_ms_per_step": round(median - fit_median, 2),
           "mean_vs_step": ratio(float(np.mean(intervals)), reference),
           "startup_s": round(ends[0] - answer["process_start"], 2), "process_s": round(seconds, 1)}
    out["goal"] = goal(out["cli_vs_step"], GOALS["cli_vs_step"])
    return out


def section_data(args, work, results):
    import train_step

    from i2i_keras.train import _resolve_config, build_parser
    from i2i_keras.training.loop import make_datasets

    data = paired_folder(work, args.images, args.cli_size * 2)
    cfg = _resolve_config(build_parser().parse_args(cli_argv(args, data, os.path.join(work, "unused"))))
    model, _ = train_step.build(args.method, "float32", args.cli_size, args.cli_config_dir)
    rows = args.batch * model.batches_per_step
    train, _ = make_datasets(cfg, model.data_kind, args.batch, 0, model.batches_per_step)
    it = iter(train)
    for _ in range(5):  # the first batches fill the prefetch buffers and the shuffle window
        next(it)
    start = time.perf_counter()
    for _ in range(args.data_batches):
        batch = next(it)
    seconds = time.perf_counter() - start
    key = next(iter(batch))
    if int(batch[key].shape[0]) != rows:
        raise RuntimeError(f"the pipeline gave batches of {int(batch[key].shape[0])} rows; expected {rows}")
    delivered = args.data_batches * rows / seconds
    reference = step_reference(results, args)
    consumed = rows * 1000.0 / reference
    out = {"method": args.method, "size": args.cli_size, "batch": args.batch, "batches": args.data_batches,
           "delivered_images_per_s": round(delivered, 1), "consumed_images_per_s": round(consumed, 1),
           "step_reference_median_ms": reference, "data_vs_step": ratio(delivered, consumed)}
    out["goal"] = goal(out["data_vs_step"], GOALS["data_vs_step"], higher_is_better=True)
    return out


def section_inference(args, work):
    import numpy as np
    import tensorflow as tf
    import train_step

    from i2i_keras.export import export_for_serving

    size = args.inference_size
    model, _ = train_step.build(args.method, "float32", size, args.config_dir)
    base = os.path.join(work, "export")
    shutil.rmtree(base, ignore_errors=True)
    version_dir = export_for_serving(model, base)
    loaded = tf.saved_model.load(version_dir)
    float_name = next(n for n, f in loaded.signatures.items()
                      if n != "serving_default" and f.structured_input_signature[1].get("images") is not None
                      and f.structured_input_signature[1]["images"].dtype == tf.float32)
    float_sig, bytes_sig = loaded.signatures[float_name], loaded.signatures["serving_default"]
    pngs = [tf.io.encode_png(tf.image.resize(p, (size, size), antialias=True).numpy().round().astype("uint8"))
            .numpy() for p in photos()]
    out = {"method": args.method, "size": size, "float_signature": float_name,
           "bytes_signature": "serving_default", "paths": {}}
    paths = out["paths"]
    for name in ("in_process", "float_signature", "bytes_signature", "grpc"):
        paths[name] = {}
    from serving.server import start_server
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    import grpc

    server = start_server(model_base_path=base, model_name="bench", rest_port=None, poll_seconds=0)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}",
                                        options=[("grpc.max_receive_message_length", 256 << 20),
                                                 ("grpc.max_send_message_length", 256 << 20)])
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for batch in args.inference_batches:
            floats = np.random.default_rng(0).uniform(-1, 1, (batch, size, size, 3)).astype("float32")
            encoded = tf.constant([pngs[i % len(pngs)] for i in range(batch)])
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "bench"
            request.model_spec.signature_name = "serving_default"
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(encoded.numpy()))
            calls = {
                "in_process": lambda: np.asarray(model.translate(floats)),
                "float_signature": lambda: float_sig(images=tf.constant(floats))["images"].numpy(),
                "bytes_signature": lambda: bytes_sig(images=encoded)["images"].numpy(),
                "grpc": lambda: stub.Predict(request, timeout=120),
            }
            for name, call in calls.items():
                paths[name][f"batch_{batch}"] = percentiles(timed(call, args.inference_reps), batch)
        channel.close()
    finally:
        server.stop()
    largest = f"batch_{max(args.inference_batches)}"
    out["bytes_vs_in_process"] = {f"batch_{b}": ratio(paths["bytes_signature"][f"batch_{b}"]["p50_ms"],
                                                      paths["in_process"][f"batch_{b}"]["p50_ms"])
                                  for b in args.inference_batches}
    out["bytes_batch_scaling"] = ratio(paths["bytes_signature"][largest]["p50_ms"],
                                       paths["bytes_signature"]["batch_1"]["p50_ms"]) \
        if "batch_1" in paths["bytes_signature"] else None
    # The exported float signature runs the same graph without decoding/encoding: bytes vs float isolates what the
    # per-image bytes path (map_fn, one generator call per image) costs.
    out["bytes_vs_float"] = {f"batch_{b}": ratio(paths["bytes_signature"][f"batch_{b}"]["p50_ms"],
                                                 paths["float_signature"][f"batch_{b}"]["p50_ms"])
                             for b in args.inference_batches}
    if "batch_8" in out["bytes_vs_in_process"]:
        out["goal"] = goal(out["bytes_vs_in_process"]["batch_8"], GOALS["bytes_vs_in_process_batch8"])
    return out


def section_ingest(args, work):
    data = paired_folder(work, args.images, args.cli_size * 2)
    out = {"data_kind": "paired", "image_size": [args.cli_size, args.cli_size * 2], "images": args.images + 8, "requested_mode": args.ingest_mode}
    # Both modes when multi-processing is asked for: its worker start-up is a fixed cost that in-memory mode shows.
    modes = [args.ingest_mode] + (["in_memory"] if args.ingest_mode != "in_memory" else [])
    for mode in modes:
        target = os.path.join(work, f"ingest-{mode}")
        shutil.rmtree(target, ignore_errors=True)
        try:
            answer, _, seconds = child(["ingest", data, target, mode], timeout=600)
        except RuntimeError as e:
            out[mode] = {"error": str(e)}
            continue
        out[mode] = {"seconds": answer["seconds"], "process_s": round(seconds, 1), "written": answer["written"],
                     "rejected": answer["rejected"], "images_per_s": round(answer["written"] / answer["seconds"], 1)}
    # What one worker does per example (read, validate, decode, re-encode: `encode_candidate`), timed in-process:
    # the part of a Beam run that grows with the folder. The rest of a run's seconds is the pipeline's fixed cost.
    try:
        per_example, _, _ = child(["encode", data], timeout=600)
    except RuntimeError as e:
        out["per_example"] = {"error": str(e)}
        return out
    out["per_example"] = per_example
    workers = os.cpu_count() or 1
    for mode in modes:
        if "seconds" in out[mode]:
            share = workers if mode == "multi_processing" else 1
            variable = out[mode]["written"] * per_example["ms"] / 1000.0 / share
            out[mode]["fixed_s"] = round(max(out[mode]["seconds"] - variable, 0.0), 1)
            out[mode]["images_per_s_beyond_fixed"] = round(1000.0 * share / per_example["ms"], 1)
    return out


def section_memory(args):
    from i2i_keras.registry import list_methods

    out = {"size": args.memory_size, "batch": args.batch, "config_dir": os.path.relpath(args.config_dir, ROOT),
           "measure": None, "methods": {}}
    baseline, _, _ = child(["memory", "none", str(args.memory_size), args.config_dir, str(args.batch)], timeout=600)
    out["measure"] = baseline["measure"]
    out["baseline_peak_mib"] = baseline["peak_mib"]
    import concurrent.futures

    def measure(method):
        try:
            answer, _, _ = child(["memory", method, str(args.memory_size), args.config_dir, str(args.batch)],
                                 timeout=900)
            answer["above_baseline_mib"] = round(answer["peak_mib"] - baseline["peak_mib"], 1)
            return answer
        except RuntimeError as e:
            return {"error": str(e)}

    # Two processes at a time: each one's peak is its own (per-process RSS; on GPU they would share the allocator,
    # so there one at a time), and two halve the section's time on 2 cores.
    workers = 1 if baseline["measure"] == "gpu_allocator_peak" else 2
    methods = args.methods or list_methods()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for method, answer in zip(methods, pool.map(measure, methods)):
            out["methods"][method] = answer
    return out


def section_sr(args):
    import keras
    import tiling

    from i2i_keras import build_model, load_config

    cfg = load_config(os.path.join(ROOT, "configs", "edsr", "paper_baseline_x4.yaml"))
    out = {"config": "configs/edsr/paper_baseline_x4.yaml", "policies": {}}
    for policy in ("float32", "mixed_bfloat16"):
        keras.config.set_dtype_policy(policy)
        try:
            keras.utils.set_random_seed(0)
            model = build_model(cfg)
            out["policies"][policy] = tiling.tiled_vs_untiled(model, size=tuple(args.sr_size), tile=args.sr_tile,
                                                              overlap=args.sr_overlap, repeats=args.sr_repeats)
        finally:
            keras.config.set_dtype_policy("float32")
    fp32, bf16 = (out["policies"][p].get("untiled", {}) for p in ("float32", "mixed_bfloat16"))
    if "megapixels_per_s" in fp32 and "megapixels_per_s" in bf16:
        out["bf16_vs_fp32_untiled"] = ratio(bf16["megapixels_per_s"], fp32["megapixels_per_s"])
    return out


def section_style(args):
    import style_transfer

    return style_transfer.figures(size=args.style_size, steps=args.style_steps, warmup=1)


def section_validation(args, work):
    folder = os.path.join(work, f"validation-{args.validation_size}")
    if not os.path.isdir(folder):
        write_jpegs(folder, args.validation_images, args.validation_size, paired=False, seed=2)
    cache = os.path.join(work, "validation-cache")
    shutil.rmtree(cache, ignore_errors=True)
    env = {"I2I_KERAS_CACHE_DIR": cache}
    runs = {}
    off = {"I2I_KERAS_VALIDATION_CACHE": "0"}
    # Without the cache twice, first and last, and the faster one kept: other load on a shared machine then inflates
    # the cached runs' figures rather than the baseline they are compared with.
    for name, extra in (("no_cache", off), ("first_run", {}), ("cached_run", {}), ("no_cache_again", off)):
        answer, stderr, _ = child(["validate", folder], timeout=900, env={**env, **extra})
        runs[name] = answer
        runs[name]["progress_line_shown"] = "validating" in stderr
    again = runs.pop("no_cache_again")
    if again["seconds"] < runs["no_cache"]["seconds"]:
        runs["no_cache"] = again
    written = os.path.join(cache, "validation")
    cache_files = len([n for n in os.listdir(written) if n.endswith(".json")]) if os.path.isdir(written) else 0
    out = {"images": args.validation_images, "size": args.validation_size, "cache_files": cache_files, **runs,
           "first_run_vs_no_cache": ratio(runs["first_run"]["seconds"], runs["no_cache"]["seconds"]),
           "cached_speedup": ratio(runs["no_cache"]["seconds"], runs["cached_run"]["seconds"])}
    return out


# ----------------------------------------------------------------------------------------------- children


def peak_rss_mib():
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # KiB on Linux


def batch_ends(ends):
    """A Keras callback appending the time of each batch end to the list `ends`."""
    import keras

    class BatchEnds(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ends.append(time.time())

    return BatchEnds()


def child_cli(argv):
    """Runs the train CLI's `main` with one more callback that records when each batch ends."""
    process_start = time.time()
    from i2i_keras import train
    from i2i_keras.training import loop

    ends = []
    real_run = loop.run

    def run_with_timer(*a, **kw):
        kw["extra_callbacks"] = list(kw.get("extra_callbacks") or []) + [batch_ends(ends)]
        return real_run(*a, **kw)

    loop.run = run_with_timer  # train.main imports `run` from the module when it is called
    code = train.main(argv)
    if code != 0:
        raise SystemExit(f"the train CLI exited with status {code}")
    return {"batch_end_times": ends, "process_start": process_start}


def child_fit(argv):
    """The CLI's model and input pipeline (same arguments) under a bare `model.fit`: no callbacks but the timer."""
    import keras

    from i2i_keras import build_model
    from i2i_keras.train import _resolve_config, build_parser
    from i2i_keras.training.loop import compile_model, make_datasets

    cfg = _resolve_config(build_parser().parse_args(argv))
    keras.utils.set_random_seed(cfg.train.seed)
    model = build_model(cfg)
    compile_model(model, cfg)
    train, _ = make_datasets(cfg, model.data_kind, cfg.train.batch_size, 0, model.batches_per_step)
    ends = []
    model.fit(train, epochs=1, steps_per_epoch=cfg.train.steps, callbacks=[batch_ends(ends)], verbose=0,
              shuffle=False)
    return {"batch_end_times": ends}


def child_ingest(data, target, mode):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.components.images_to_examples import IngestOptions, run_ingestion

    options = PipelineOptions(["--runner=DirectRunner", f"--direct_running_mode={mode}",
                               f"--direct_num_workers={os.cpu_count() or 1}"])
    start = time.perf_counter()
    report = run_ingestion(data, target, IngestOptions(data_kind="paired"), beam.Pipeline(options=options))
    seconds = time.perf_counter() - start
    written = sum(n for split in report["written"].values() for n in split.values())
    return {"seconds": round(seconds, 2), "written": written, "rejected": report["rejected"]["count"]}


def child_encode(data):
    """Median ms per example of `encode_candidate` (what a Beam worker does per element) over the folder's
    candidates, after one warm-up call."""
    import numpy as np

    from i2i_keras.data import ingestion, kinds

    candidates = ingestion.plan_folder(data, kinds.get("paired")).candidates
    ingestion.encode_candidate(candidates[0])
    times = []
    for candidate in candidates:
        start = time.perf_counter()
        ingestion.encode_candidate(candidate)
        times.append(1000.0 * (time.perf_counter() - start))
    return {"examples": len(candidates), "ms": round(float(np.median(times)), 2)}


def proc_status_mib(field):
    """A memory field of /proc/self/status (VmRSS, VmHWM) in MiB, or None where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024.0, 1)  # kB
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Resets the process's peak RSS (VmHWM) to its current RSS (Linux: "5" to /proc/self/clear_refs); False where
    that is not possible. Importing TensorFlow has a peak of its own that would hide a small model's."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child_memory(method, size, config_dir, batch):
    import tensorflow as tf
    import train_step

    gpus = tf.config.list_physical_devices("GPU")
    reset = not gpus and reset_peak_rss()
    measure = "gpu_allocator_peak" if gpus else "peak_rss_after_imports" if reset else "peak_rss_of_process"
    rss_after_imports = proc_status_mib("VmRSS")
    if method != "none":  # "none": the baseline, a process that imported the library and built nothing
        model, _ = train_step.build(method, "float32", int(size), config_dir)
        data = train_step.synthetic_batch(model, int(batch), int(size))
        step = tf.function(model.train_step)
        float(step(data)["g_total"])  # one step: tracing, the optimizers' slots and every activation
    if gpus:
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    else:
        peak = (proc_status_mib("VmHWM") if reset else None) or peak_rss_mib()
    return {"measure": measure, "peak_mib": round(peak, 1), "rss_after_imports_mib": rss_after_imports}


def child_validate(folder):
    from i2i_keras.data import files

    start = time.perf_counter()
    paths = files.list_images(folder)
    shapes = files.inspect_images(paths)
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "images_per_s": round(len(shapes) / seconds, 1)}


CHILDREN = {"cli": lambda a: child_cli(a), "fit": lambda a: child_fit(a), "ingest": lambda a: child_ingest(*a), "encode": lambda a: child_encode(*a), "memory": lambda a: child_memory(*a),
            "validate": lambda a: child_validate(*a)}


# ----------------------------------------------------------------------------------------------- main


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        name, rest = argv[1], argv[2:]
        if name not in CHILDREN:
            raise SystemExit(f"unknown child {name!r}; expected one of {sorted(CHILDREN)}")
        print(json.dumps(CHILDREN[name](rest)))
        return 0
    args = parse_args(argv)
    started = time.time()
    results = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
               "arguments": {k: v for k, v in vars(args).items() if k not in ("output", "work_dir")}}
    work = args.work_dir or tempfile.mkdtemp(prefix="i2i-bench-")
    os.makedirs(work, exist_ok=True)
    try:
        sections = {"train": (section_train, args), "cli": (section_cli, args, work, results),
                    "data": (section_data, args, work, results), "inference": (section_inference, args, work),
                    "ingest": (section_ingest, args, work), "memory": (section_memory, args),
                    "validation": (section_validation, args, work), "sr": (section_sr, args),
                    "style": (section_style, args)}
        for name in SECTIONS:
            if name in args.sections:
                fn, *a = sections[name]
                run_section(results, name, fn, *a)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    results["goals"] = {
        "cli_vs_step": results.get("cli", {}).get("goal"),
        "data_vs_step": results.get("data", {}).get("goal"),
        "bytes_vs_in_process_batch8": results.get("inference", {}).get("goal"),
    }
    results["seconds"] = round(time.time() - started, 1)
    text = json.dumps(results, indent=2)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(text)
    print(f"bench: wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
