"""`run(cfg, output_dir, ...)`: the one training loop behind the CLI and the TFX Trainer.

Output directory layout:
    config.yaml              the resolved configuration of the run
    checkpoints/ckpt-N.npz   full-state checkpoints (+ .json manifests); `resume=True` continues from the latest
    logs/                    TensorBoard: train/ (every loss term per step), samples/ (image grids), validation
    samples/step-N.png       input | output | target grids of a fixed evaluation batch
    model.keras              the final model (weights + optimizer state)
    metrics.json             final evaluation on the evaluation split (strict JSON: a non-finite number is null)
    export/<version>/        the SavedModel; `export/` is TF Serving's model base path

Reliability:
- Nothing is written before the config, the model and the data have been checked against each other (one batch's
  keys and shapes against what the model expects), so bad input leaves `output_dir` untouched.
- Temporary files of an interrupted earlier process (only the loop's own: `*.tmp` of checkpoints, samples and
  sidecars, `model.keras.tmp.keras`, `export/.tmp-export-*`) are removed when a run starts or resumes.
- `resume=True` continues from the newest readable checkpoint (an unreadable newer one is passed over, with one
  log line). On a run already at `train.steps` (killed after its last checkpoint) it completes what is missing of
  metrics.json, model.keras, the export and the last sample, and changes nothing that exists: finishing is
  idempotent.
- `train.on_nonfinite`: a NaN or infinite loss stops the run with a `NonFiniteError` (``stop``), or the step's
  update is skipped (``skip_step``); a state that is not finite is never checkpointed, saved or exported.

`output_dir` may be a local path or a URL of any file system TensorFlow serves (gs://bucket/run, ram://run): every
file goes through `tf.io.gfile` (`i2i_keras.storage`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import sys
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
import yaml

from i2i_keras.config import ConfigError, ExperimentConfig, check_model_options
from i2i_keras.data import kinds
from i2i_keras.errors import RunStateError
from i2i_keras.methods.base import build_model
from i2i_keras.training import callbacks as cb
from i2i_keras import storage
from i2i_keras import strict_json
from i2i_keras.training import checkpoint, nonfinite
from i2i_keras.training.schedules import make_optimizer

logger = logging.getLogger("i2i_keras")


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    output_dir: str
    steps: int
    history: dict
    metrics: dict
    export_path: Optional[str]
    sample_path: Optional[str]
    # Steps whose update was not applied in this session (train.on_nonfinite=skip_step).
    skipped_steps: int = 0


class RunDirectoryError(RunStateError):
    """The output directory cannot be used as asked.

    Codes: ``run_exists`` (holds another run; it is never overwritten), ``nothing_to_resume``, ``config_mismatch``
    (resuming with another method, model or losses), ``run_finished`` (a checkpoint beyond `train.steps`),
    ``not_writable`` (the directory cannot be created or written), ``corrupt_file`` (an existing output of the run,
    e.g. metrics.json, cannot be read).
    """

    default_code = "bad_run_directory"


def _check_output_dir(output_dir: str, resume: bool) -> list:
    """The run's checkpoints (oldest first) when resuming; [] for a new run."""
    try:
        found = checkpoint.list_checkpoints(storage.join(output_dir, "checkpoints"))
        has_model = storage.exists(storage.join(output_dir, "model.keras"))
    except storage.IO_ERRORS as e:  # e.g. an unknown URL scheme or a bucket that cannot be listed
        raise RunDirectoryError(f"{output_dir}: cannot be read ({storage.describe(e)})", code="not_writable") from None
    if resume:
        if not found:
            raise RunDirectoryError(f"{output_dir}: nothing to resume (no checkpoints/ckpt-*.npz). "
                                    f"Drop --resume to start a new run there.", code="nothing_to_resume")
        return found
    if found or has_model:
        raise RunDirectoryError(f"{output_dir}: already holds a training run; pass --resume to continue or finish "
                                f"it, or choose another --output (nothing was overwritten).", code="run_exists")
    return []


def _write_config(output_dir: str, config_dict: dict, only_if_missing: bool = False) -> None:
    """Creates the run directory and writes `config.yaml`: the first write of a run, so a directory that cannot be
    created or written is reported as bad run state (not as a crash) before any training."""
    path = storage.join(output_dir, "config.yaml")
    try:
        storage.makedirs(output_dir)
        if only_if_missing and storage.exists(path):
            return
        storage.write_atomic(path, yaml.safe_dump(config_dict, sort_keys=False))
    except storage.IO_ERRORS as e:
        raise RunDirectoryError(f"{output_dir}: cannot write the run directory ({storage.describe(e)})",
                                code="not_writable") from None


# The loop's own temporary names (`storage.write_atomic` appends ".tmp"; `model.save` writes "model.keras.tmp.keras";
# `export_for_serving` builds in `export/.tmp-export-*`): (folder, pattern) pairs.
_TOP_TEMPORARY = re.compile(r"(config\.yaml\.tmp|metrics\.json\.tmp|model\.keras\.tmp\.keras)$")
_SAMPLE_TEMPORARY = re.compile(r"step-\d+\.png\.tmp$")


def remove_stale_temporaries(output_dir: str) -> list:
    """Deletes the temporary files an interrupted earlier process of this run left (a killed checkpoint save leaves
    `checkpoints/ckpt-N.npz.tmp`, as large as a checkpoint); returns their paths. Only the loop's own temporary
    names are touched; call it when no other process writes to the run."""
    from i2i_keras.export import TEMPORARY_PREFIX

    where = [(output_dir, _TOP_TEMPORARY), (storage.join(output_dir, "checkpoints"), checkpoint.TEMPORARY),
             (storage.join(output_dir, "samples"), _SAMPLE_TEMPORARY)]
    stale = [storage.join(folder, name) for folder, pattern in where for name in storage.listdir(folder)
             if pattern.fullmatch(name)]
    export_dir = storage.join(output_dir, "export")
    stale += [storage.join(export_dir, name) for name in storage.listdir(export_dir)
              if name.startswith(TEMPORARY_PREFIX)]
    for path in stale:
        storage.remove_quietly(path)
    if stale:
        logger.info("Removed %d temporary file(s) of an interrupted earlier process: %s", len(stale),
                    ", ".join(stale))
    return stale


def _spec_of(value):
    """(rank, last dimension or None) of a tensor or a `tf.TensorSpec`."""
    shape = tf.TensorShape(value.shape)
    if shape.rank is None:
        return None, None
    return shape.rank, (shape[-1] if shape.rank else None)


def _element_spec(dataset):
    spec = getattr(dataset, "element_spec", None)
    if isinstance(spec, (tuple, list)) and len(spec) == 1:
        spec = spec[0]
    return spec


def check_data_fits_model(model, batches: dict) -> None:
    """Compares the data's batches with what `model` expects: the batch keys of its data kind, and each entry's
    rank and last dimension (image channels, label size) against a batch of the kind built for the model
    (`DataKind.synthetic_batches` with the model's channels and domains).

    Args:
        batches: what -> a batch dict (tensors) or a dataset's element spec (dict of `tf.TensorSpec`).

    Raises:
        ConfigError: (``data_mismatch``) a key is missing or an entry has another rank or last dimension; the
            message names the key, both shapes and the model option that sets the expected size.
    """
    from i2i_keras.data import kinds

    kind = kinds.get(model.data_kind)
    domains = getattr(model, "num_domains", None) or 3
    expected = _element_spec(kind.synthetic_batches(size=32, channels=model.in_channels, batch=1, count=1,
                                                    domains=domains))
    for what, batch in batches.items():
        if not isinstance(batch, dict):
            raise ConfigError(f"the {what} data gives {type(batch).__name__} batches; {model.method_name} trains on "
                              f"dict batches with the keys {list(kind.batch_keys)}", code="data_mismatch")
        missing = [key for key in kind.batch_keys if key not in batch]
        if missing:
            raise ConfigError(f"the {what} data has no {missing[0]!r} in its batches ({sorted(batch)}); "
                              f"{model.method_name} ({kind.name} data) needs {list(kind.batch_keys)}",
                              code="data_mismatch")
        for key in kind.batch_keys:
            if key not in expected:
                continue
            rank, last = _spec_of(batch[key])
            want_rank, want_last = _spec_of(expected[key])
            if rank is None or (rank == want_rank and (last is None or last == want_last)):
                continue
            if want_rank == 4:
                hint = (f"image channels: the model has in_channels={model.in_channels}, "
                        f"out_channels={model.out_channels}; data.channels sets the data's")
            elif getattr(model, "num_domains", None) is not None:
                hint = f"one entry per domain or attribute: model.num_domains={model.num_domains}"
            else:
                hint = "the model's configuration"
            raise ConfigError(f"the {what} data does not fit {model.method_name}: batch entry {key!r} has shape "
                              f"{list(tf.TensorShape(batch[key].shape))} but the model expects rank {want_rank} with "
                              f"last dimension {want_last} ({hint}); set the model options to fit the data",
                              code="data_mismatch")


def _first_batch_spec(dataset):
    """The element spec of `dataset`, or one batch of it when the spec leaves a last dimension open."""
    spec = _element_spec(dataset)
    if isinstance(spec, dict) and all(_spec_of(s)[0] is not None and (_spec_of(s)[0] == 0 or _spec_of(s)[1]
                                                                       is not None) for s in spec.values()):
        return spec
    batch = next(iter(dataset.take(1)))
    return batch[0] if isinstance(batch, (tuple, list)) and len(batch) == 1 else batch


def make_datasets(cfg: ExperimentConfig, data_kind: str, global_batch: int, skip_batches: int,
                  batches_per_step: int = 1):
    """Training stream (resumable at `skip_batches` steps) and a one-pass evaluation dataset.

    `batches_per_step`: a method with several critic updates per step (`model.batches_per_step`) takes that many
    batches at once, so its training batches are that many times larger.
    """
    from i2i_keras.data import DataError, make_dataset

    train = make_dataset(cfg.data.spec, data_kind, cfg.data, global_batch * batches_per_step, seed=cfg.train.seed,
                         training=True, skip_batches=skip_batches, split="train")
    eval_spec = cfg.data.eval_spec or cfg.data.spec
    try:
        evaluation = make_dataset(eval_spec, data_kind, cfg.data, global_batch, seed=cfg.train.seed,
                                  training=False, split="test")
    except DataError as e:
        # Only a missing test/val split means "evaluate on the training images"; anything else wrong with the
        # evaluation data (a corrupt image in test/) is an error, never a silent switch to other images.
        if cfg.data.eval_spec or e.code != "no_split":
            raise
        logger.warning("No separate evaluation split (%s); evaluating on the training images.", e)
        evaluation = make_dataset(eval_spec, data_kind, cfg.data, global_batch, seed=cfg.train.seed,
                                  training=False, split="train")
    return train, evaluation


def compile_model(model, cfg: ExperimentConfig) -> None:
    total = cfg.train.steps
    g_opt = make_optimizer(cfg.optim.g_lr, cfg.optim, total)
    # The discriminator's schedule runs over its own update count (several per step for WGAN-GP critics).
    d_total = total * model.batches_per_step
    d_opt = make_optimizer(cfg.optim.d_lr, cfg.optim, d_total) if model.discriminator_variables() else None
    # Set before `compile`, which creates the metric that counts skipped steps.
    model.skip_nonfinite_updates = cfg.train.on_nonfinite == "skip_step"
    model.compile(optimizer=g_opt, d_optimizer=d_opt)


def run(cfg: ExperimentConfig, output_dir: str, *, resume: bool = False, strategy=None, export: bool = True,
        verbose: Optional[int] = None, train_dataset=None, eval_dataset=None,
        extra_callbacks: Optional[list] = None) -> TrainResult:
    """Trains `cfg` into `output_dir` (see the module docstring for what is written there).

    `strategy` defaults to the current one; `train_dataset` / `eval_dataset` replace the configured data (the TFX
    Trainer passes TFRecord datasets this way). `train_dataset` may be a dataset, which must itself start at the
    resumed step and be batched as the method needs, or better a function `(batch_size, skip_batches) -> dataset`
    that gets both from here (a method with several critic steps takes `model.batches_per_step` batches per step).

    With `resume` on a run whose newest readable checkpoint is at `train.steps`, nothing is trained: the missing
    final outputs are written and existing ones are left as they are.
    """
    strategy = strategy or tf.distribute.get_strategy()
    check_model_options(cfg)
    found = _check_output_dir(output_dir, resume)
    config_dict = dataclasses.asdict(cfg)
    keras.utils.set_random_seed(cfg.train.seed)
    # Layers keep the dtype policy they were built under; the global one is restored so that models built later in
    # this process are not silently mixed-precision.
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(cfg.train.mixed_precision or "float32")
    try:
        with strategy.scope():
            model = build_model(cfg)
            compile_model(model, cfg)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    start_step = 0
    if found:
        def fits(path, manifest):
            saved = manifest.get("config") or {}
            for key in ("method", "model", "loss_weights"):
                if key in saved and saved[key] != config_dict[key]:
                    raise RunDirectoryError(f"{path}: was written with {key}={saved[key]!r}, but this run has "
                                            f"{key}={config_dict[key]!r}; resume with the same config.",
                                            code="config_mismatch")
            if manifest["step"] > cfg.train.steps:
                raise RunDirectoryError(f"{output_dir}: the run is already at step {manifest['step']} "
                                        f"(train.steps={cfg.train.steps}); pass a larger --steps to train further.",
                                        code="run_finished")

        _, start_step = checkpoint.restore_newest(model, found, fits)
        if cfg.optim.schedule == "constant":
            # A constant learning rate is an optimizer variable, so the checkpoint restored the old one: the config
            # of this run decides (a decaying schedule is recomputed from the config and the step anyway).
            model.optimizer.learning_rate = cfg.optim.g_lr
            if model.d_optimizer is not None:
                model.d_optimizer.learning_rate = cfg.optim.d_lr
    finishing = start_step >= cfg.train.steps

    replicas = strategy.num_replicas_in_sync
    global_batch = cfg.train.batch_size * replicas
    if callable(train_dataset):
        train_dataset = train_dataset(global_batch * model.batches_per_step, start_step)
    if train_dataset is None or eval_dataset is None:
        train_ds, eval_ds = make_datasets(cfg, model.data_kind, global_batch, start_step, model.batches_per_step)
        train_dataset = train_ds if train_dataset is None else train_dataset
        eval_dataset = eval_ds if eval_dataset is None else eval_dataset
    sample_batch = next(iter(eval_dataset.take(1)))
    if isinstance(sample_batch, (tuple, list)) and len(sample_batch) == 1:
        sample_batch = sample_batch[0]
    check_data_fits_model(model, {"training": _first_batch_spec(train_dataset), "evaluation": sample_batch})

    # Only now, with the model built and the data validated, is anything written (or removed).
    _write_config(output_dir, config_dict, only_if_missing=finishing)
    remove_stale_temporaries(output_dir)
    log_dir = storage.join(output_dir, "logs")
    if finishing:
        return _finish(model, cfg, output_dir, eval_dataset, sample_batch, log_dir, export)

    steps_per_epoch = min(cfg.train.steps_per_epoch, cfg.train.steps)
    samples = cb.SampleGrid(sample_batch, storage.join(output_dir, "samples"), log_dir, cfg.train.sample_every)
    checkpoint_dir = storage.join(output_dir, "checkpoints")
    checkpoints = cb.FullStateCheckpoint(checkpoint_dir, cfg.train.checkpoint_every, config_dict,
                                         cfg.train.keep_checkpoints, on_nonfinite=cfg.train.on_nonfinite)
    guard = cb.NonFiniteGuard(cfg.train.on_nonfinite, checkpoint_dir, checkpoints)
    callbacks = [
        guard,  # first: a step with a non-finite loss stops before anything is written from it
        cb.StopAtStep(cfg.train.steps),
        cb.StepScalars(log_dir, every=max(1, min(50, steps_per_epoch))),
        samples,
        checkpoints,
    ]
    callbacks += list(extra_callbacks or [])
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    fit = model.fit(train_dataset, epochs=math.ceil(cfg.train.steps / steps_per_epoch),
                    initial_epoch=start_step // steps_per_epoch, steps_per_epoch=steps_per_epoch,
                    callbacks=callbacks, verbose=verbose, shuffle=False)
    history = {k: [float(x) for x in v] for k, v in fit.history.items()}
    if cfg.train.on_nonfinite == "skip_step" and guard.skipped:
        logger.warning("%d training step(s) had a non-finite loss or gradient; their updates were skipped.",
                       guard.skipped)
    return _write_outputs(model, cfg, output_dir, eval_dataset, log_dir, export, history=history,
                          samples=samples, skipped=guard.skipped if cfg.train.on_nonfinite == "skip_step" else None)


def _final_sample_path(output_dir: str, step: int) -> str:
    return storage.join(output_dir, "samples", f"step-{step:08d}.png")


def _complete_versions(export_dir: str) -> list:
    """Export versions that hold a SavedModel (a version copied only in part, without saved_model.pb, is not)."""
    from i2i_keras.export import list_versions

    return [v for v in list_versions(export_dir)
            if storage.exists(storage.join(export_dir, str(v), "saved_model.pb"))]


def _read_metrics(path: str) -> dict:
    try:
        metrics = json.loads(storage.read_text(path))
    except storage.IO_ERRORS as e:
        raise RunDirectoryError(f"{path}: cannot be read ({storage.describe(e)})", code="corrupt_file") from None
    except ValueError as e:
        raise RunDirectoryError(f"{path}: not valid JSON ({e}); delete it and resume again to recompute it",
                                code="corrupt_file") from None
    if not isinstance(metrics, dict):
        raise RunDirectoryError(f"{path}: not a metrics file (a JSON object); delete it and resume again to "
                                f"recompute it", code="corrupt_file")
    return metrics


def _finish(model, cfg, output_dir, eval_dataset, sample_batch, log_dir, export) -> TrainResult:
    """Completes a run that is at its last step: writes the final outputs that are missing, keeps the others."""
    step = int(model.train_steps.numpy())
    samples = None
    if not storage.exists(_final_sample_path(output_dir, step)):
        samples = cb.SampleGrid(sample_batch, storage.join(output_dir, "samples"), log_dir, 0)
        samples.set_model(model)
    result = _write_outputs(model, cfg, output_dir, eval_dataset, log_dir, export, history={}, samples=samples,
                            only_missing=True)
    logger.warning("%s: the run was already at step %d (train.steps=%d); completed its missing outputs, kept "
                   "the others.", output_dir, step, cfg.train.steps)
    return result


def _write_outputs(model, cfg, output_dir, eval_dataset, log_dir, export, *, history, samples,
                   only_missing=False, skipped=None) -> TrainResult:
    """metrics.json (final evaluation), model.keras, the export and the last sample; with `only_missing`, only
    those that do not exist yet (an existing one is neither rewritten nor touched)."""
    from i2i_keras.data.transforms import to_uint8
    from i2i_keras.export import export_for_serving

    steps_done = int(model.train_steps.numpy())
    nonfinite.check_finite_state(model, steps_done, "metrics.json, model.keras and the export")
    metrics_path = storage.join(output_dir, "metrics.json")
    if only_missing and storage.exists(metrics_path):
        metrics = _read_metrics(metrics_path).get("evaluation") or {}
    else:
        metrics = {}
        if cfg.train.eval_batches:
            metrics = model.evaluate(eval_dataset.take(cfg.train.eval_batches), return_dict=True, verbose=0)
            metrics = {k: float(v) for k, v in metrics.items()}
            if model.paired_metrics:
                lpips_value, reason = final_lpips(model, eval_dataset, cfg.train.eval_batches)
                if reason is None:
                    metrics["lpips"] = lpips_value
                else:
                    logger.warning("final evaluation: lpips skipped: %s", reason)
            summary_metrics = kinds.get(model.data_kind).summary_metrics
            if summary_metrics is not None:  # the kind's own figures, e.g. super-resolution's bicubic baseline
                metrics.update(summary_metrics(model, eval_dataset, cfg.train.eval_batches))
            writer = tf.summary.create_file_writer(storage.join(log_dir, "validation"))
            with writer.as_default():
                for name, value in metrics.items():
                    tf.summary.scalar(name, value, step=steps_done)
            writer.flush()
        summary = {"step": steps_done, "history": history, "evaluation": metrics}
        if skipped is not None:
            summary["skipped_steps"] = int(skipped)
        storage.write_atomic(metrics_path, strict_json.dumps(summary, indent=1))

    keras_path = storage.join(output_dir, "model.keras")
    if not (only_missing and storage.exists(keras_path)):
        # Keras 3 writes remote paths (any "scheme://") through tf.io.gfile itself; the rename makes it atomic.
        model.save(keras_path + ".tmp.keras")
        tf.io.gfile.rename(keras_path + ".tmp.keras", keras_path, overwrite=True)
    for name, image in model.final_images().items():
        path = storage.join(output_dir, name)
        if not (only_missing and storage.exists(path)):
            storage.write_atomic(path, tf.io.encode_png(to_uint8(image)).numpy())
    export_path = None
    if export and not model.translation_modes():
        logger.warning("%s is not exported: %s", cfg.method, model.not_a_translator)
    elif export:
        export_dir = storage.join(output_dir, "export")
        versions = _complete_versions(export_dir) if only_missing else []
        if versions:
            export_path = storage.join(export_dir, str(versions[-1]))
        else:
            export_path = export_for_serving(model, export_dir)
    sample_path = _final_sample_path(output_dir, steps_done)
    if samples is not None:
        sample_path = samples.write(steps_done) or sample_path
    return TrainResult(model, output_dir, steps_done, history, metrics, export_path, sample_path,
                       skipped_steps=int(skipped or 0))


def final_lpips(model, dataset, batches: int) -> tuple:
    """``(mean LPIPS, None)`` of the method's evaluation pairs (prediction vs ground truth, `evaluation_pairs`)
    over `batches` eval batches, with the metric suite's LPIPS (`i2i_keras.metrics.lpips`); ``(None, reason)``
    when its VGG16 weights are not on this machine or the images are under its 16 px minimum."""
    from i2i_keras.evaluation.base import LPIPS_MIN_SIZE
    from i2i_keras.evaluation.base import lpips_model

    lpips, reason = lpips_model()
    if lpips is None:
        return None, reason
    values = []
    for data in dataset.take(batches):
        batch = model.prepare_batch(data)
        for prediction, truth in model.evaluation_pairs(batch, model.generate(batch, training=False)):
            if min(truth.shape[1:3]) < LPIPS_MIN_SIZE:
                return None, f"images are {truth.shape[1]}x{truth.shape[2]}, under LPIPS' {LPIPS_MIN_SIZE} px"
            prediction, truth = (tf.cast(x, tf.float32) for x in (prediction, truth))
            if truth.shape[-1] == 1:
                prediction, truth = (tf.repeat(x, 3, axis=-1) for x in (prediction, truth))
            values.append(np.asarray(lpips(prediction, truth)).reshape(-1))
    return (float(np.mean(np.concatenate(values))), None) if values else (None, "no evaluation pairs")


def evaluate_psnr(model, dataset, batches: int) -> float:
    """Mean PSNR of `model.translate(source)` against `target` over `batches` paired batches."""
    from i2i_keras.metrics import psnr

    values = [float(psnr(model.translate(b["source"]), b["target"])) for b in dataset.take(batches)]
    return float(np.mean(values))
