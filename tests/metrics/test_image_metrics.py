"""The super-resolution PSNR / SSIM (`psnr_sr`, `ssim_sr`, `rgb_to_y`) against scikit-image on Y and RGB, against
hand-computed values, with a shaved border; their input contract; and agreement with the graph `psnr`."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf
from skimage.metrics import peak_signal_noise_ratio
from skimage.metrics import structural_similarity

from i2i_keras.data import embedded_path
from i2i_keras.metrics.image import psnr
from i2i_keras.metrics.image import psnr_sr
from i2i_keras.metrics.image import rgb_to_y
from i2i_keras.metrics.image import ssim_sr

PHOTOS = os.path.join(embedded_path("photos"), "test")


def _photo(name="astronaut_0.png"):
    return tf.io.decode_png(tf.io.read_file(os.path.join(PHOTOS, name)), channels=3).numpy()


def _noisy(image, sigma, seed):
    noise = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(np.round(image.astype(np.float64) + noise), 0, 255).astype(np.uint8)


def _skimage_y(image):
    rgb = image.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


@pytest.fixture(scope="module")
def pair():
    truth = np.stack([_photo("astronaut_0.png"), _photo("chelsea_0.png")])
    prediction = np.stack([_noisy(truth[0], 8.0, 0), _noisy(truth[1], 20.0, 1)])
    return prediction, truth


def test_rgb_to_y_hand_values():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    y = rgb_to_y(pixels)[0, 0, :, 0]
    np.testing.assert_allclose(y, [16.0, 235.0, 16.0 + 65.481, 16.0 + 128.553, 16.0 + 24.966], atol=1e-12)
    # a gray image counts as R = G = B; float [-1, 1] maps to 0-255 by (x + 1) * 127.5
    assert rgb_to_y(np.full((2, 2, 1), 255, np.uint8))[0, 0, 0, 0] == pytest.approx(235.0)
    assert rgb_to_y(np.full((2, 2, 3), -1.0, np.float32))[0, 0, 0, 0] == pytest.approx(16.0)


@pytest.mark.parametrize("crop_border", [0, 4])
def test_y_channel_matches_scikit_image(pair, crop_border):
    prediction, truth = pair
    c = crop_border
    psnrs = psnr_sr(prediction, truth, crop_border=c, y_channel=True)
    ssims = ssim_sr(prediction, truth, crop_border=c, y_channel=True)
    for i in range(len(truth)):
        t, p = _skimage_y(truth[i]), _skimage_y(prediction[i])
        if c:
            t, p = t[c:-c, c:-c], p[c:-c, c:-c]
        assert psnrs.per_image[i] == pytest.approx(peak_signal_noise_ratio(t, p, data_range=255), abs=1e-6)
        expected = structural_similarity(t, p, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         data_range=255)
        assert ssims.per_image[i] == pytest.approx(expected, abs=1e-6)
    assert psnrs.mean == pytest.approx(psnrs.per_image.mean()) and ssims.mean == pytest.approx(ssims.per_image.mean())
    # the two noise levels are told apart: the noisier image scores lower on both
    assert psnrs.per_image[1] < psnrs.per_image[0] - 5.0 and ssims.per_image[1] < ssims.per_image[0]


def test_rgb_matches_scikit_image_channel_mean(pair):
    prediction, truth = pair
    psnrs = psnr_sr(prediction, truth, crop_border=2, y_channel=False)
    ssims = ssim_sr(prediction, truth, crop_border=2, y_channel=False)
    t, p = truth[0, 2:-2, 2:-2].astype(np.float64), prediction[0, 2:-2, 2:-2].astype(np.float64)
    assert psnrs.per_image[0] == pytest.approx(peak_signal_noise_ratio(t, p, data_range=255), abs=1e-6)
    expected = structural_similarity(t, p, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255, channel_axis=-1)
    assert ssims.per_image[0] == pytest.approx(expected, abs=1e-6)


def test_hand_computed_constant_images():
    truth = np.full((16, 16, 3), 100, np.uint8)
    prediction = np.full((16, 16, 3), 110, np.uint8)
    # RGB: every difference is 10 -> MSE 100
    assert psnr_sr(prediction, truth, y_channel=False).mean == pytest.approx(10 * math.log10(255 ** 2 / 100.0))
    # Y: the gray difference 10 becomes 10 * 219 / 255
    assert psnr_sr(prediction, truth).mean == pytest.approx(20 * math.log10(255.0 / (10 * 219 / 255.0)))
    # flat images: no variance, SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 110.0, 100.0, (0.01 * 255) ** 2
    assert ssim_sr(prediction, truth, y_channel=False).mean == pytest.approx((2 * a * b + c1) /
                                                                             (a * a + b * b + c1), abs=1e-12)


def test_identical_images_are_infinite_psnr_and_unit_ssim(pair):
    _, truth = pair
    scores = psnr_sr(truth, truth)
    assert scores.mean == math.inf and np.all(np.isinf(scores.per_image))
    assert ssim_sr(truth, truth).mean == pytest.approx(1.0, abs=1e-12)
    # one identical image among others: that image is inf and so is the mean
    other = truth.copy()
    other[1] = _noisy(truth[1], 5.0, 3)
    mixed = psnr_sr(other, truth)
    assert mixed.per_image[0] == math.inf and math.isfinite(mixed.per_image[1]) and mixed.mean == math.inf


def test_crop_border_shaves_each_side():
    truth = np.full((32, 32, 3), 50, np.uint8)
    prediction = truth.copy()
    prediction[:3] = prediction[-3:] = 200
    prediction[:, :3] = prediction[:, -3:] = 200
    assert math.isfinite(psnr_sr(prediction, truth, crop_border=2).mean)
    assert psnr_sr(prediction, truth, crop_border=3).mean == math.inf
    assert ssim_sr(prediction, truth, crop_border=3).mean == pytest.approx(1.0)
    assert ssim_sr(prediction, truth, crop_border=2).mean < 0.99


def test_uint8_and_float_inputs_agree(pair):
    prediction, truth = pair
    as_float = lambda images: images.astype(np.float32) / 127.5 - 1.0  # noqa: E731
    for metric in (psnr_sr, ssim_sr):
        expected = metric(prediction, truth, crop_border=4)
        got = metric(as_float(prediction), as_float(truth), crop_border=4)
        np.testing.assert_allclose(got.per_image, expected.per_image, rtol=1e-5)
    # a single [H, W, C] image is a batch of one
    single = psnr_sr(prediction[0], truth[0])
    assert single.per_image.shape == (1,)


def test_graph_psnr_agrees_with_psnr_sr_on_rgb(pair):
    prediction, truth = pair
    as_float = lambda images: images.astype(np.float32) / 127.5 - 1.0  # noqa: E731
    graph = float(psnr(as_float(prediction), as_float(truth)))
    assert graph == pytest.approx(psnr_sr(prediction, truth, y_channel=False).mean, abs=1e-3)


@pytest.mark.parametrize("prediction, truth, match", [
    (np.zeros((16, 16, 3), np.int32), np.zeros((16, 16, 3), np.int32), "expected uint8 .* got dtype int32"),
    (np.full((16, 16, 3), 200.0), np.zeros((16, 16, 3)), r"must lie in \[-1, 1\].* got values in \[200, 200\]"),
    (np.full((16, 16, 3), np.nan), np.zeros((16, 16, 3)), "non-finite"),
    (np.zeros((16, 16, 3), np.uint8), np.zeros((16, 12, 3), np.uint8), r"same shape .*\(1, 16, 16, 3\) and "
                                                                         r"\(1, 16, 12, 3\)"),
    (np.zeros((16, 16, 4), np.uint8), np.zeros((16, 16, 4), np.uint8), "C = 1 or 3, got dtype uint8, shape"),
])
def test_bad_inputs_name_what_was_received(prediction, truth, match):
    with pytest.raises(ValueError, match=match):
        psnr_sr(prediction, truth)


def test_bad_crop_and_too_small_images():
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="crop_border=8 shaves the whole 16x16 image"):
        psnr_sr(image, image, crop_border=8)
    with pytest.raises(ValueError, match="crop_border must be an integer >= 0, got -1"):
        psnr_sr(image, image, crop_border=-1)
    with pytest.raises(ValueError, match=r"are 10x10, the 11x11 window needs"):
        ssim_sr(image, image, crop_border=3)
