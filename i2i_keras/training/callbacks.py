"""Training callbacks. Everything they need is passed in; none reads globals. Directories may be URLs (every file
goes through `tf.io.gfile`)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from i2i_keras import storage
from i2i_keras.training import checkpoint


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
    """Writes a full-state checkpoint every `every` steps and at the end of training."""

    def __init__(self, directory: str, every: int, config: dict, keep: int):
        super().__init__()
        self.directory, self.every, self.config, self.keep = directory, every, config, keep
        self.last_step = -1

    def save(self):
        step = _steps_done(self.model)
        if step != self.last_step:
            checkpoint.save(self.model, self.directory, step, self.config, self.keep)
            self.last_step = step

    def on_train_batch_end(self, batch, logs=None):
        if self.every and _steps_done(self.model) % self.every == 0:
            self.save()

    def on_train_end(self, logs=None):
        self.save()


class StopAtStep(keras.callbacks.Callback):
    """Ends `fit` when the optimizer has taken `total_steps` steps (a resumed run may start mid-epoch)."""

    def __init__(self, total_steps: int):
        super().__init__()
        self.total_steps = total_steps

    def on_train_batch_end(self, batch, logs=None):
        if _steps_done(self.model) >= self.total_steps:
            self.model.stop_training = True
