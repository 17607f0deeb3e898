"""Helpers shared by the method tests: seeded tiny models, random images, and the set-up and measures of the
learning tests."""

import itertools

import keras
import numpy as np

from i2i_keras import build_model
from tests.helpers import tiny_config


def tiny_model(method, overrides=(), compiled=False):
    """`method`'s tiny-config model (with `overrides`), built after seeding every generator with 0; compiled with
    the config's optimizers when `compiled`."""
    from i2i_keras.training.loop import compile_model

    cfg = tiny_config(method, overrides)
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    if compiled:
        compile_model(model, cfg)
    return model


def random_images(seed=0, batch=2, size=32, channels=3):
    """Uniform noise images in [-1, 1], [batch, size, size, channels] float32."""
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)).astype("float32")


def learning_setup(method, overrides=(), test_batch=8):
    """The start of a learning test: (compiled seeded tiny model, training dataset, held-out test dataset) on the
    embedded real images of the model's data kind, with `overrides`; training batches hold what one train step
    consumes (`train.batch_size` x `batches_per_step`)."""
    from i2i_keras.data import make_dataset

    cfg = tiny_config(method, overrides)
    model = tiny_model(method, overrides, compiled=True)
    train = make_dataset(None, model.data_kind, cfg.data, cfg.train.batch_size * model.batches_per_step, seed=0,
                         training=True)
    test = make_dataset(None, model.data_kind, cfg.data, test_batch, seed=0, training=False, split="test")
    return model, train, test


def held_out_l1(model, test):
    """Mean |translate(source) - target| over the paired batches of `test`."""
    return float(np.mean([np.abs(np.asarray(model.translate(b["source"])) - b["target"]).mean() for b in test]))


def sample_diversity(model, images, mode, num_samples=5, seed=3):
    """Mean |x_i - x_j| over every pair of the `num_samples` random-style outputs of `mode` for each batch in
    `images` (a multi-output mode taking `num_samples` and `seed`)."""
    distances = []
    for x in images:
        out = np.asarray(model.translate(x, mode=mode, num_samples=num_samples, seed=seed))
        distances += [np.abs(out[:, i] - out[:, j]).mean() for i, j in itertools.combinations(range(num_samples), 2)]
    return float(np.mean(distances))
