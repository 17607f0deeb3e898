"""`LBFGS` (the optimiser of `nst`, Gatys et al.'s choice) on a quadratic with a known minimum."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.training.lbfgs import LBFGS


def _quadratic(n=20, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, n))
    a = q @ q.T + 2.0 * np.eye(n)  # SPD, condition number ~30
    b = rng.normal(size=n)
    return a.astype("float32"), b.astype("float32"), np.linalg.solve(a, b)


def _minimise(optimizer, steps, a, b):
    x = keras.Variable(np.zeros(a.shape[0], np.float32))
    optimizer.build([x])
    a, b = tf.constant(a), tf.constant(b)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = 0.5 * tf.reduce_sum(x * tf.linalg.matvec(a, x)) - tf.reduce_sum(b * x)
        optimizer.apply([tape.gradient(value, x)], [x])

    for _ in range(steps):
        step()
    return x.numpy()


def test_lbfgs_finds_the_minimum_of_a_quadratic_far_faster_than_gradient_descent():
    a, b, minimum = _quadratic()
    lbfgs_error = np.abs(_minimise(LBFGS(1.0), 20, a, b) - minimum).max()
    step = float(1.0 / np.linalg.eigvalsh(a).max())  # the largest stable gradient-descent step (Keras 3.15: a float)
    sgd_error = np.abs(_minimise(keras.optimizers.SGD(step), 20, a, b) - minimum).max()
    assert lbfgs_error < 1e-3
    assert sgd_error > 100 * lbfgs_error


def test_lbfgs_history_is_optimizer_state_and_config_round_trips():
    optimizer = LBFGS(0.5, history_size=3)
    assert LBFGS.from_config(optimizer.get_config()).history_size == 3
    a, b, minimum = _quadratic(n=6)
    x = _minimise(optimizer, 15, a, b)
    # More pairs than history_size were offered: the buffers keep the newest 3, and the iteration still converges.
    assert np.abs(x - minimum).max() < 1e-2
    with pytest.raises(ValueError, match="history_size"):
        LBFGS(history_size=0)
