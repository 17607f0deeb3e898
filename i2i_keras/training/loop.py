"""`run(cfg, output_dir, ...)`: the one training loop behind the CLI and the TFX Trainer.

Output directory layout:
    config.yaml              the resolved configuration of the run
    checkpoints/ckpt-N.npz   full-state checkpoints (+ .json manifests); `resume=True` continues from the latest
    logs/                    TensorBoard: train/ (every loss term per step), samples/ (image grids), validation
    samples/step-N.png       input | output | target grids of a fixed evaluation batch
    model.keras              the final model (weights + optimizer state)
    metrics.json             final evaluation on the evaluation split
    export/<version>/        the SavedModel; `export/` is TF Serving's model base path

`output_dir` may be a local path or a URL of any file system TensorFlow serves (gs://bucket/run, ram://run): every
file goes through `tf.io.gfile` (`i2i_keras.storage`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
import yaml

from i2i_keras.config import ExperimentConfig
from i2i_keras.errors import RunStateError
from i2i_keras.methods.base import build_model
from i2i_keras.training import callbacks as cb
from i2i_keras import storage
from i2i_keras.training import checkpoint
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


class RunDirectoryError(RunStateError):
    """The output directory cannot be used as asked.

    Codes: ``run_exists`` (holds another run; it is never overwritten), ``nothing_to_resume``, ``config_mismatch``
    (resuming with another method, model or losses), ``run_finished`` (already at `train.steps`),
    ``not_writable`` (the directory cannot be created or written).
    """

    default_code = "bad_run_directory"


def _check_output_dir(output_dir: str, resume: bool) -> Optional[str]:
    try:
        last = checkpoint.latest(storage.join(output_dir, "checkpoints"))
        has_model = storage.exists(storage.join(output_dir, "model.keras"))
    except storage.IO_ERRORS as e:  # e.g. an unknown URL scheme or a bucket that cannot be listed
        raise RunDirectoryError(f"{output_dir}: cannot be read ({storage.describe(e)})", code="not_writable") from None
    if resume:
        if last is None:
            raise RunDirectoryError(f"{output_dir}: nothing to resume (no checkpoints/ckpt-*.npz). "
                                    f"Drop --resume to start a new run there.", code="nothing_to_resume")
        return last
    if last is not None or has_model:
        raise RunDirectoryError(f"{output_dir}: already holds a training run; pass --resume to continue it or "
                                f"choose another --output (nothing was overwritten).", code="run_exists")
    return None


def _write_config(output_dir: str, config_dict: dict) -> None:
    """Creates the run directory and writes `config.yaml`: the first write of a run, so a directory that cannot be
    created or written is reported as bad run state (not as a crash) before any training."""
    try:
        storage.makedirs(output_dir)
        storage.write_atomic(storage.join(output_dir, "config.yaml"),
                             yaml.safe_dump(config_dict, sort_keys=False))
    except storage.IO_ERRORS as e:
        raise RunDirectoryError(f"{output_dir}: cannot write the run directory ({storage.describe(e)})",
                                code="not_writable") from None


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
        if cfg.data.eval_spec:
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
    model.compile(optimizer=g_opt, d_optimizer=d_opt)


def run(cfg: ExperimentConfig, output_dir: str, *, resume: bool = False, strategy=None, export: bool = True,
        verbose: Optional[int] = None, train_dataset=None, eval_dataset=None,
        extra_callbacks: Optional[list] = None) -> TrainResult:
    """Trains `cfg` into `output_dir` (see the module docstring for what is written there).

    `strategy` defaults to the current one; `train_dataset` / `eval_dataset` replace the configured data (the TFX
    Trainer passes TFRecord datasets this way). `train_dataset` may be a dataset, which must itself start at the
    resumed step and be batched as the method needs, or better a function `(batch_size, skip_batches) -> dataset`
    that gets both from here (a method with several critic steps takes `model.batches_per_step` batches per step).
    """
    from i2i_keras.export import export_for_serving

    strategy = strategy or tf.distribute.get_strategy()
    last = _check_output_dir(output_dir, resume)
    if last is not None:
        manifest = checkpoint.read_manifest(last)
        saved = manifest.get("config") or {}
        for key in ("method", "model", "loss_weights"):
            if key in saved and saved[key] != dataclasses.asdict(cfg)[key]:
                raise RunDirectoryError(f"{last}: was written with {key}={saved[key]!r}, but this run has "
                                        f"{key}={dataclasses.asdict(cfg)[key]!r}; resume with the same config.",
                                        code="config_mismatch")
        if manifest["step"] >= cfg.train.steps:
            raise RunDirectoryError(f"{output_dir}: the run is already at step {manifest['step']} "
                                    f"(train.steps={cfg.train.steps}); pass a larger --steps to train further.",
                                    code="run_finished")
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
    if last:
        start_step = checkpoint.restore(model, last)
        if cfg.optim.schedule == "constant":
            # A constant learning rate is an optimizer variable, so the checkpoint restored the old one: the config
            # of this run decides (a decaying schedule is recomputed from the config and the step anyway).
            model.optimizer.learning_rate = cfg.optim.g_lr
            if model.d_optimizer is not None:
                model.d_optimizer.learning_rate = cfg.optim.d_lr

    replicas = strategy.num_replicas_in_sync
    global_batch = cfg.train.batch_size * replicas
    if callable(train_dataset):
        train_dataset = train_dataset(global_batch * model.batches_per_step, start_step)
    if train_dataset is None or eval_dataset is None:
        train_ds, eval_ds = make_datasets(cfg, model.data_kind, global_batch, start_step, model.batches_per_step)
        train_dataset = train_ds if train_dataset is None else train_dataset
        eval_dataset = eval_ds if eval_dataset is None else eval_dataset
    sample_batch = next(iter(eval_dataset.take(1)))

    # Only now, with the model built and the data validated, is anything written.
    config_dict = dataclasses.asdict(cfg)
    _write_config(output_dir, config_dict)

    log_dir = storage.join(output_dir, "logs")
    steps_per_epoch = min(cfg.train.steps_per_epoch, cfg.train.steps)
    samples = cb.SampleGrid(sample_batch, storage.join(output_dir, "samples"), log_dir, cfg.train.sample_every)
    callbacks = [
        cb.StopAtStep(cfg.train.steps),
        cb.StepScalars(log_dir, every=max(1, min(50, steps_per_epoch))),
        samples,
        cb.FullStateCheckpoint(storage.join(output_dir, "checkpoints"), cfg.train.checkpoint_every, config_dict,
                               cfg.train.keep_checkpoints),
    ]
    callbacks += list(extra_callbacks or [])
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    fit = model.fit(train_dataset, epochs=math.ceil(cfg.train.steps / steps_per_epoch),
                    initial_epoch=start_step // steps_per_epoch, steps_per_epoch=steps_per_epoch,
                    callbacks=callbacks, verbose=verbose, shuffle=False)
    history = {k: [float(x) for x in v] for k, v in fit.history.items()}

    metrics = {}
    if cfg.train.eval_batches:
        metrics = model.evaluate(eval_dataset.take(cfg.train.eval_batches), return_dict=True, verbose=0)
        metrics = {k: float(v) for k, v in metrics.items()}
        writer = tf.summary.create_file_writer(storage.join(log_dir, "validation"))
        with writer.as_default():
            for name, value in metrics.items():
                tf.summary.scalar(name, value, step=int(model.train_steps.numpy()))
        writer.flush()
    steps_done = int(model.train_steps.numpy())
    storage.write_atomic(storage.join(output_dir, "metrics.json"),
                         json.dumps({"step": steps_done, "history": history, "evaluation": metrics}, indent=1))

    keras_path = storage.join(output_dir, "model.keras")
    # Keras 3 writes remote paths (any "scheme://") through tf.io.gfile itself; the rename makes it atomic.
    model.save(keras_path + ".tmp.keras")
    tf.io.gfile.rename(keras_path + ".tmp.keras", keras_path, overwrite=True)
    export_path = export_for_serving(model, storage.join(output_dir, "export")) if export else None
    sample_path = samples.write(steps_done) or storage.join(output_dir, "samples", f"step-{steps_done:08d}.png")
    return TrainResult(model, output_dir, steps_done, history, metrics, export_path, sample_path)


def evaluate_psnr(model, dataset, batches: int) -> float:
    """Mean PSNR of `model.translate(source)` against `target` over `batches` paired batches."""
    from i2i_keras.metrics import psnr

    values = [float(psnr(model.translate(b["source"]), b["target"])) for b in dataset.take(batches)]
    return float(np.mean(values))
