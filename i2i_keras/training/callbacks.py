"""Training callbacks. Everything they need is passed in; none reads globals. Directories may be URLs (every file
goes through `tf.io.gfile`)."""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from i2i_keras import storage
from i2i_keras.methods.base import SKIPPED_STEPS as SKIPPED_KEY
from i2i_keras.training import checkpoint, nonfinite

logger = logging.getLogger("i2i_keras")


def _steps_done(model) -> int:
    return int(model.train_steps.numpy())


def image_grid(columns: list) -> np.ndarray:
    """[input | output | target] columns of [B,H,W,C] images in [-1, 1] -> one uint8 [B*H, n*W, 3] grid."""
    prepared = []
    height = max(int(c.shape[1]) for c in columns)
    for images in columns:
        images = np.asarray(images, dtype=np.float32)
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        if images.shape[1] != height:  # e.g. a low-res SR input: nearest-neighbour up to the grid height
            factor = height // images.shape[1]
            images = images.repeat(factor, axis=1).repeat(factor, axis=2)
        prepared.append(images)
    rows = [np.concatenate([img[i] for img in prepared], axis=1) for i in range(prepared[0].shape[0])]
    grid = np.concatenate(rows, axis=0)
    grid = np.nan_to_num(grid, nan=-1.0, posinf=1.0, neginf=-1.0)  # a NaN pixel is black, not an invalid cast
    return np.clip(np.round((grid + 1.0) * 127.5), 0, 255).astype(np.uint8)


class SampleGrid(keras.callbacks.Callback):
    """Every `every` steps (and at the end) writes `samples/step-XXXXXXXX.png` and a TensorBoard image grid
    of the fixed `batch` (a dict batch from the evaluation data)."""

    def __init__(self, batch: dict, sample_dir: str, log_dir: str, every: int):
        super().__init__()
        self.batch = batch
        self.sample_dir = sample_dir
        self.every = every
        self.writer = tf.summary.create_file_writer(storage.join(log_dir, "samples"))
        self.last_step = -1

    def write(self, step: int) -> str:
        if step == self.last_step:
            return ""
        self.last_step = step
        grid = image_grid([np.asarray(c) for c in self.model.sample_grid(self.batch)])
        storage.makedirs(self.sample_dir)
        path = storage.join(self.sample_dir, f"step-{step:08d}.png")
        storage.write_atomic(path, tf.io.encode_png(grid).numpy())
        with self.writer.as_default():
            tf.summary.image("input|output|target", grid[None], step=step)
        self.writer.flush()
        return path

    def on_train_batch_end(self, batch, logs=None):
        step = _steps_done(self.model)
        if self.every and step % self.every == 0:
            self.write(step)

    def on_train_end(self, logs=None):
        self.write(_steps_done(self.model))


class StepScalars(keras.callbacks.Callback):
    """TensorBoard scalars of every loss term, written per step (`every` steps) against the global step."""

    def __init__(self, log_dir: str, every: int = 10):
        super().__init__()
        self.every = max(1, every)
        self.writer = tf.summary.create_file_writer(storage.join(log_dir, "train"))

    def on_train_batch_end(self, batch, logs=None):
        step = _steps_done(self.model)
        if step % self.every or not logs:
            return
        with self.writer.as_default():
            for name, value in logs.items():
                tf.summary.scalar(name, float(value), step=step)
            lr = self.model.optimizer.learning_rate
            tf.summary.scalar("g_learning_rate", float(np.asarray(lr)), step=step)

    def on_train_end(self, logs=None):
        self.writer.flush()


class FullStateCheckpoint(keras.callbacks.Callback):
    """Writes a full-state checkpoint every `every` steps and at the end of training.

    A state holding NaN or infinity is never written (`checkpoint.save` raises `NonFiniteError`). With
    ``on_nonfinite="stop"`` a periodic checkpoint of such a state is left out with one log line: the step's losses
    were finite, and `NonFiniteGuard` stops the run at the first non-finite loss, which such a state produces (the
    newest checkpoint stays the last finite one). With ``skip_step`` (skipping cannot repair a non-finite state)
    and at the end of training, the error ends the run.
    """

    def __init__(self, directory: str, every: int, config: dict, keep: int, on_nonfinite: str = "stop"):
        super().__init__()
        self.directory, self.every, self.config, self.keep = directory, every, config, keep
        self.on_nonfinite = on_nonfinite
        self.last_step = -1
        self.first_non_finite_step = None

    def save(self, final: bool = False):
        step = _steps_done(self.model)
        if step == self.last_step:
            return
        try:
            checkpoint.save(self.model, self.directory, step, self.config, self.keep)
        except nonfinite.NonFiniteError as e:
            if final or self.on_nonfinite != "stop":
                raise
            if self.first_non_finite_step is None:
                self.first_non_finite_step = step
            logger.warning("%s", e)
        self.last_step = step

    def on_train_batch_end(self, batch, logs=None):
        if self.every and _steps_done(self.model) % self.every == 0:
            self.save()

    def on_train_end(self, logs=None):
        self.save(final=True)


class NonFiniteGuard(keras.callbacks.Callback):
    """Checks the loss terms the step already logged (no extra work in the step).

    ``stop``: the first NaN or infinite term raises `NonFiniteError` (``non_finite_loss``) naming the step and the
    term(s); it is the first callback, so nothing (checkpoint, sample) is written from that step. ``skip_step``: the
    model did not apply the step's update (`TranslationModel.train_step`); its ``skipped_steps`` count grows, and
    each skipped step is logged on one line. `skipped` is the total over this session.
    """

    def __init__(self, mode: str, checkpoint_dir: str, checkpoints: "FullStateCheckpoint | None" = None):
        super().__init__()
        self.mode, self.checkpoint_dir, self.checkpoints = mode, checkpoint_dir, checkpoints
        self.skipped = 0
        self._epoch_skipped = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_skipped = 0.0  # the count is a metric: reset every epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.mode == "skip_step":
            count = float((logs or {}).get(SKIPPED_KEY, 0.0))
            if count > self._epoch_skipped:
                self.skipped += int(round(count - self._epoch_skipped))
                self._epoch_skipped = count
                logger.warning("step %d: a loss or gradient is not finite; the update was skipped (%d skipped so "
                               "far, train.on_nonfinite=skip_step).", _steps_done(self.model), self.skipped)
            return
        bad = nonfinite.non_finite_logs(logs)
        if bad:
            raise nonfinite.NonFiniteError(self._message(_steps_done(self.model), bad), code="non_finite_loss")

    def _message(self, step: int, bad: dict) -> str:
        terms = ", ".join(f"{name}={value}" for name, value in bad.items())
        last = checkpoint.latest(self.checkpoint_dir)
        kept = f"the last finite checkpoint is {last}" if last else "no checkpoint was written"
        early = getattr(self.checkpoints, "first_non_finite_step", None)
        before = (f" (the weights or optimizer state were already not finite at step {early}, so that checkpoint "
                  f"was not written)" if early is not None else "")
        return (f"step {step}: the loss {next(iter(bad))!r} is not finite ({terms}); training stopped{before}; "
                f"{kept}; nothing was exported. Lower the learning rates or loss weights, or set "
                f"train.on_nonfinite=skip_step to skip such steps.")


class StopAtStep(keras.callbacks.Callback):
    """Ends `fit` when the optimizer has taken `total_steps` steps (a resumed run may start mid-epoch)."""

    def __init__(self, total_steps: int):
        super().__init__()
        self.total_steps = total_steps

    def on_train_batch_end(self, batch, logs=None):
        if _steps_done(self.model) >= self.total_steps:
            self.model.stop_training = True
