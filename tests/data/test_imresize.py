"""MATLAB-style bicubic resizing (`transforms.imresize`), the default super-resolution degradation."""

import math

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.data import transforms


def _matlab_cubic(x):
    ax = np.abs(x)
    return ((1.5 * ax ** 3 - 2.5 * ax ** 2 + 1) * (ax <= 1)
            + (-0.5 * ax ** 3 + 2.5 * ax ** 2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _matlab_imresize_1d(signal, scale):
    """A loop-by-loop NumPy transcription of MATLAB's imresize.m `contributions` + `resizeAlongDim` (bicubic)."""
    in_length = len(signal)
    out_length = int(math.ceil(in_length * scale - 1e-9))
    kernel_width = 4.0 / scale if scale < 1 else 4.0
    out = np.zeros(out_length)
    aux = list(range(1, in_length + 1)) + list(range(in_length, 0, -1))
    for x in range(1, out_length + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - kernel_width / 2)
        total, acc = 0.0, 0.0
        for p in range(int(math.ceil(kernel_width)) + 2):
            index = left + p
            w = scale * _matlab_cubic(scale * (u - index)) if scale < 1 else _matlab_cubic(u - index)
            total += w
            acc += w * signal[aux[(index - 1) % len(aux)] - 1]
        out[x - 1] = acc / total
    return out


def _matlab_imresize(image, scale):
    rows = np.stack([_matlab_imresize_1d(image[:, j], scale) for j in range(image.shape[1])], axis=1)
    return np.stack([_matlab_imresize_1d(rows[i], scale) for i in range(rows.shape[0])], axis=0)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2.0, 3.0])
def test_imresize_matches_a_transcription_of_matlab(scale):
    image = np.random.default_rng(0).uniform(-1, 1, (24, 36)).astype(np.float64)
    expected = _matlab_imresize(image, scale)
    got = transforms.imresize(image[..., None].astype(np.float32), scale).numpy()[..., 0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_imresize_known_values():
    # Keys' cubic (a = -0.5) reproduces linear functions: away from the mirrored borders, halving a ramp 1..32
    # samples it at u = 2x - 0.5 (x = 1, 2, ...), i.e. 1.5, 3.5, 5.5, ...
    ramp = np.tile(np.arange(1, 33, dtype=np.float32)[:, None, None], (1, 4, 1))
    out = transforms.imresize(ramp, 0.5).numpy()[:, 0, 0]
    np.testing.assert_allclose(out[3:-3], 2 * np.arange(4, 14) - 0.5, atol=1e-4)
    # At the border the kernel (width 8) mirrors the image (1 1 2 3 ...): hand-computed first value of [1..32] / 2.
    u, taps = 1.5, np.arange(-2, 6)
    weights = 0.5 * _matlab_cubic(0.5 * (u - taps))
    values = np.where(taps < 1, 1 - taps, taps)  # symmetric padding: index 0 -> 1, -1 -> 2, -2 -> 3
    assert out[0] == pytest.approx(float((weights * values).sum() / weights.sum()), abs=1e-5)
    # A constant image stays constant (weights sum to one), and a 4x downscale of 32 px gives 8 px.
    flat = transforms.imresize(np.full((2, 32, 32, 3), 0.25, np.float32), 0.25).numpy()
    assert flat.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(flat, 0.25, atol=1e-6)


def test_degrade_for_sr_is_matlab_bicubic_and_differs_from_tf_at_borders():
    image = np.random.default_rng(1).uniform(-1, 1, (32, 32, 3)).astype(np.float32)
    low = transforms.degrade_for_sr(tf.constant(image), 2).numpy()
    expected = np.stack([_matlab_imresize(image[..., c].astype(np.float64), 0.5) for c in range(3)], axis=-1)
    np.testing.assert_allclose(low, np.clip(expected, -1, 1), atol=2e-5)
    tf_low = tf.image.resize(image, (16, 16), method="bicubic", antialias=True).numpy()
    # Same kernel inside, different border handling (TF renormalises instead of mirroring).
    np.testing.assert_allclose(np.clip(tf_low, -1, 1)[4:-4, 4:-4], low[4:-4, 4:-4], atol=1e-4)
    assert np.abs(np.clip(tf_low, -1, 1)[0] - low[0]).max() > 1e-3
    with pytest.raises(ValueError, match="scale"):
        transforms.degrade_for_sr(tf.constant(image), 0)


def test_imresize_in_a_graph_with_unknown_sizes():
    fn = tf.function(lambda x: transforms.upscale_bicubic(x, 3),
                     input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32)])
    image = np.random.default_rng(2).uniform(-1, 1, (1, 7, 5, 1)).astype(np.float32)
    out = fn(image).numpy()
    assert out.shape == (1, 21, 15, 1)
    np.testing.assert_allclose(out[0, ..., 0], np.clip(_matlab_imresize(image[0, ..., 0].astype(np.float64), 3.0),
                                                       -1, 1), atol=2e-5)
