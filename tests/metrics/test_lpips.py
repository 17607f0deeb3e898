"""LPIPS v0.1 (VGG) and BicycleGAN's LPIPS diversity on embedded photos, with the offline VGG16 weights."""

import os

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import weights as weights_lib
from i2i_keras.errors import WeightsUnavailable
from i2i_keras.metrics.lpips import LPIPS
from i2i_keras.metrics.lpips import MIN_SIZE
from i2i_keras.metrics.lpips import lpips_diversity

PHOTOS = os.path.join(os.path.dirname(weights_lib.__file__), "data", "embedded", "photos", "test")


def _photo(name):
    from PIL import Image

    return np.asarray(Image.open(os.path.join(PHOTOS, f"{name}.png")).convert("RGB"), np.float32) / 127.5 - 1.0


@pytest.fixture(scope="module")
def metric(vgg16_offline):
    return LPIPS()


@pytest.fixture(scope="module")
def astronaut():
    return _photo("astronaut_0")[None, :64, :64]


def _noisy(images, sigma, seed=0):
    noise = np.random.default_rng(seed).normal(0.0, sigma, images.shape)
    return np.clip(images + noise, -1.0, 1.0).astype(np.float32)


def test_identical_images_are_at_distance_zero(metric, astronaut):
    images = np.concatenate([astronaut, _noisy(astronaut, 0.3)])
    distances = metric(images, images)
    assert distances.shape == (2,) and distances.dtype == np.float32
    np.testing.assert_allclose(distances, 0.0, atol=1e-6)


def test_grows_with_gaussian_noise(metric, astronaut):
    distances = [float(metric(astronaut, _noisy(astronaut, sigma))[0]) for sigma in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert all(near < far for near, far in zip(distances, distances[1:])), distances
    assert distances[0] > 0.01 and distances[-1] > 0.4


def test_symmetric(metric, astronaut):
    other = _photo("coffee_0")[None, 10:74, 20:84]
    np.testing.assert_allclose(metric(astronaut, other), metric(other, astronaut), rtol=1e-6)


def test_matches_the_official_lpips_package(metric):
    """Reference values from the official ``lpips`` 0.1.4 package (``lpips.LPIPS(net='vgg')``, its own
    ``weights/v0.1/vgg.pth`` heads, torch 2.13 CPU) on these inputs, with the trunk given the same torchvision
    VGG16 arrays as the offline file (torchvision itself is not installable here, so its ``vgg16().features`` was
    rebuilt layer for layer with the arrays transposed to OIHW). Its heads equal the offline file's exactly."""
    crops = np.stack([_photo(name)[3:51, 7:47] for name in ("astronaut_0", "chelsea_0", "coffee_0")])
    other = _noisy(crops, 0.15)
    other[1] = _photo("coffee_0")[20:68, 30:70]
    np.testing.assert_allclose(metric(crops, other), [0.39062917, 0.6135625, 0.48235032], rtol=2e-5)


def test_batching_gray_and_tensors(vgg16_offline, astronaut):
    small_batches = LPIPS(batch_size=2)
    images = np.concatenate([astronaut] * 5)
    noisy = _noisy(images, 0.1, seed=3)
    whole = LPIPS(batch_size=16)(images, noisy)
    np.testing.assert_allclose(small_batches(images, noisy), whole, rtol=1e-5)
    assert len(set(np.round(whole, 6))) == 5  # each pair its own noise: really five separate distances
    gray = images[..., :1]
    np.testing.assert_allclose(small_batches(gray, noisy[..., :1]),
                               small_batches(np.repeat(gray, 3, -1), np.repeat(noisy[..., :1], 3, -1)), rtol=1e-5)

    @tf.function
    def loss_and_grad(a, b):
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = tf.reduce_mean(small_batches(a, b))
        return loss, tape.gradient(loss, a)

    loss, grad = loss_and_grad(tf.constant(noisy[:2]), tf.constant(images[:2]))
    np.testing.assert_allclose(float(loss), whole[:2].mean(), rtol=1e-5)
    assert float(tf.reduce_max(tf.abs(grad))) > 0


def test_bad_inputs_say_what_was_received(metric, astronaut):
    with pytest.raises(ValueError, match=r"same shape .*\(1, 64, 64, 3\) and \(1, 64, 32, 3\)"):
        metric(astronaut, astronaut[:, :, :32])
    with pytest.raises(ValueError, match=f"at least {MIN_SIZE}x{MIN_SIZE}.*received 15x64"):
        metric(astronaut[:, :15], astronaut[:, :15])
    with pytest.raises(ValueError, match="dtype uint8"):
        as_uint8 = ((astronaut + 1) * 127.5).astype(np.uint8)
        metric(as_uint8, as_uint8)
    with pytest.raises(ValueError, match=r"in \[-1, 1\]; received images_b in \[0, 247\]"):
        metric(astronaut, (astronaut + 1) * 127.5)


def test_weights_without_heads_or_absent(tmp_path, monkeypatch):
    path = tmp_path / "vgg16_no_heads.npz"
    arrays, c_in = {}, 3
    for index, c_out in enumerate(weights_lib.VGG_CHANNELS["vgg16"]):
        arrays[f"kernel_{index:02d}"] = np.zeros((3, 3, c_in, c_out), np.float32)
        arrays[f"bias_{index:02d}"] = np.zeros((c_out,), np.float32)
        c_in = c_out
    np.savez(path, **arrays)
    with pytest.raises(WeightsUnavailable) as info:
        LPIPS(weights=str(path))
    assert info.value.code == "bad_weights" and "lpips_head_0" in str(info.value)
    monkeypatch.setenv(weights_lib.WEIGHTS_DIR_ENV, str(tmp_path / "empty"))
    with pytest.raises(WeightsUnavailable, match="offline VGG16 weights not found"):
        LPIPS()


# ----------------------------------------------------------------------------------------------- diversity


def test_diversity_of_identical_samples_is_zero(metric, astronaut):
    samples = np.repeat(astronaut[None], 4, axis=1)  # [N=1, S=4, H, W, C]
    assert lpips_diversity(samples, metric) == pytest.approx(0.0, abs=1e-6)


def test_diversity_averages_consecutive_pairs_then_inputs(metric, astronaut):
    first = np.concatenate([_noisy(astronaut, s, seed=i) for i, s in enumerate((0.05, 0.2, 0.1))])  # S = 3
    second = np.concatenate([astronaut, astronaut, _noisy(astronaut, 0.3)])
    mean, per_input = lpips_diversity([first, second], metric, per_input=True)
    want = [np.mean([metric(group[i:i + 1], group[i + 1:i + 2])[0] for i in range(2)]) for group in (first, second)]
    np.testing.assert_allclose(per_input, want, rtol=1e-5)
    assert mean == pytest.approx(float(np.mean(want)), rel=1e-5) and mean > 0.05


def test_diversity_needs_two_samples_per_input(metric, astronaut):
    with pytest.raises(ValueError, match=r"S >= 2 samples per input; received shapes \[\(1, 64, 64, 3\)\]"):
        lpips_diversity([astronaut], metric)
    with pytest.raises(ValueError, match="at least one input"):
        lpips_diversity([], metric)
