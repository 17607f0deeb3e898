"""Feature-space losses (perceptual, Gram style, AdaIN mean/std, total variation) against NumPy computed by hand,
with a tiny extractor of known weights; and the perceptual loss with the offline VGG16."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from i2i_keras import losses


def tiny_extractor(images):
    """Known 'weights': tap a = 2x (a 1x1 conv with weight 2), tap b = 2x2 average pooling of x^2."""
    x = ops.convert_to_tensor(images)
    return {"a": 2.0 * x, "b": ops.average_pool(x * x, pool_size=2, strides=2, padding="valid")}


def _np_taps(x):
    b, h, w, c = x.shape
    pooled = (x * x).reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
    return {"a": 2.0 * x, "b": pooled}


def _images(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def test_gram_matrix_by_hand():
    features = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)  # B=1, H=1, W=2, C=2: F = [[1, 2], [3, 4]]
    np.testing.assert_allclose(losses.gram_matrix(features), [[[10.0, 14.0], [14.0, 20.0]]] / np.float32(4.0))
    x = _images((3, 5, 7, 4), 0)
    flat = x.reshape(3, 35, 4)
    np.testing.assert_allclose(losses.gram_matrix(x), np.einsum("bnc,bnd->bcd", flat, flat) / (5 * 7 * 4),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_perceptual_loss_by_hand(distance):
    prediction, target = _images((2, 4, 6, 3), 1), _images((2, 4, 6, 3), 2)
    p, t = _np_taps(prediction), _np_taps(target)
    norm = np.abs if distance == "l1" else np.square
    want = 0.5 * norm(p["a"] - t["a"]).mean() + 3.0 * norm(p["b"] - t["b"]).mean()
    got = losses.perceptual_loss(tiny_extractor, prediction, target, ("a", "b"), layer_weights=(0.5, 3.0),
                                 distance=distance)
    assert got.dtype == "float32" and got.shape == ()
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    as_dict = losses.perceptual_loss(tiny_extractor, prediction, target, ("a", "b"), {"b": 3.0, "a": 0.5},
                                     distance=distance)
    np.testing.assert_allclose(float(as_dict), want, rtol=1e-5)
    unweighted = losses.perceptual_loss(tiny_extractor, prediction, target, "b", distance=distance)
    np.testing.assert_allclose(float(unweighted), norm(p["b"] - t["b"]).mean(), rtol=1e-5)


def test_instance_normalized_perceptual_loss_by_hand():
    """MUNIT's domain-invariant form: each feature map normalised per example and channel over space (population
    variance, eps 1e-5) before the squared distance; a per-channel affine change of the image's features (a
    "style" change) costs nothing."""
    pred, target = _images((2, 4, 6, 3), 11), _images((2, 4, 6, 3), 12)

    def norm(f):
        return (f - f.mean(axis=(1, 2), keepdims=True)) / np.sqrt(f.var(axis=(1, 2), keepdims=True) + 1e-5)

    got = losses.perceptual_loss(tiny_extractor, pred, target, ["a"], distance="l2", normalize="instance")
    expected = np.mean((norm(_np_taps(pred)["a"]) - norm(_np_taps(target)["a"])) ** 2)
    np.testing.assert_allclose(float(got), expected, rtol=1e-4)
    restyled = pred * np.array([0.5, 2.0, 1.5], np.float32) + np.array([0.1, -0.2, 0.3], np.float32)
    assert float(losses.perceptual_loss(tiny_extractor, restyled, pred, ["a"], distance="l2",
                                        normalize="instance")) < 1e-4
    with pytest.raises(ValueError, match="normalize must be None or 'instance'; received normalize='batch'"):
        losses.perceptual_loss(tiny_extractor, pred, target, ["a"], normalize="batch")


def test_perceptual_loss_gradient_goes_to_the_prediction_only():
    prediction, target = tf.constant(_images((1, 4, 4, 3), 3)), tf.constant(_images((1, 4, 4, 3), 4))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([prediction, target])
        loss = losses.perceptual_loss(tiny_extractor, prediction, target, ("a", "b"), distance="l2")
    assert float(tf.reduce_max(tf.abs(tape.gradient(loss, prediction)))) > 0
    grad_target = tape.gradient(loss, target)
    assert grad_target is None or float(tf.reduce_max(tf.abs(grad_target))) == 0.0


def test_style_loss_by_hand_with_one_style_for_the_batch():
    prediction, style = _images((3, 4, 6, 2), 5), _images((1, 4, 6, 2), 6)
    p, s = _np_taps(prediction), _np_taps(style)

    def gram(f):
        b, h, w, c = f.shape
        flat = f.reshape(b, h * w, c)
        return np.einsum("bnc,bnd->bcd", flat, flat) / (h * w * c)

    want = sum(weight * np.square(gram(p[tap]) - gram(s[tap])).mean() for tap, weight in (("a", 1.0), ("b", 0.25)))
    got = losses.style_loss(tiny_extractor, prediction, style, ("a", "b"), layer_weights={"a": 1.0, "b": 0.25})
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    assert float(losses.style_loss(tiny_extractor, style, style, ("a", "b"))) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="batch 1 or the prediction's batch 3; received batch 2"):
        losses.style_loss(tiny_extractor, prediction, np.concatenate([style, style]), ("a",))


def test_mean_std_loss_by_hand():
    prediction, style = _images((2, 4, 4, 3), 7), _images((2, 4, 4, 3), 8)
    p, s = _np_taps(prediction), _np_taps(style)
    want = 0.0
    for tap in ("a", "b"):
        p_mean, s_mean = p[tap].mean(axis=(1, 2)), s[tap].mean(axis=(1, 2))
        p_std, s_std = np.sqrt(p[tap].var(axis=(1, 2)) + 1e-5), np.sqrt(s[tap].var(axis=(1, 2)) + 1e-5)
        want += np.square(p_mean - s_mean).mean() + np.square(p_std - s_std).mean()
    np.testing.assert_allclose(float(losses.mean_std_loss(tiny_extractor, prediction, style, ("a", "b"))), want,
                               rtol=1e-5)


def test_total_variation_by_hand():
    images = np.array([[[[0.0], [1.0], [3.0]], [[2.0], [2.0], [0.0]]]], np.float32)  # 2x3, one channel
    # vertical diffs: 2, 1, -3; horizontal diffs: 1, 2, 0, -2
    np.testing.assert_allclose(float(losses.total_variation_loss(images)), 6 / 3 + 5 / 4, rtol=1e-6)
    np.testing.assert_allclose(float(losses.total_variation_loss(images, power=2)), 14 / 3 + 9 / 4, rtol=1e-6)
    assert float(losses.total_variation_loss(np.ones((2, 5, 5, 3), np.float32))) == 0.0


def test_bad_arguments_say_what_was_received():
    x = _images((1, 4, 4, 3), 9)
    with pytest.raises(ValueError, match="distance='cos'"):
        losses.perceptual_loss(tiny_extractor, x, x, ("a",), distance="cos")
    with pytest.raises(ValueError, match="2 entries for 1 taps"):
        losses.perceptual_loss(tiny_extractor, x, x, ("a",), layer_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"taps \['c'\] that are not in taps"):
        losses.style_loss(tiny_extractor, x, x, ("a",), layer_weights={"c": 1.0})
    with pytest.raises(ValueError, match=r"returned taps \['a', 'b'\]; the loss asked for \['relu1_1'\]"):
        losses.mean_std_loss(tiny_extractor, x, x, ("relu1_1",))
    with pytest.raises(ValueError, match="power=3"):
        losses.total_variation_loss(x, power=3)


def test_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")  # the autouse fixture restores float32
    x = ops.cast(_images((1, 4, 4, 3), 10), "bfloat16")
    for value in (losses.perceptual_loss(tiny_extractor, x, x * 0.5, ("a",)),
                  losses.style_loss(tiny_extractor, x, x * 0.5, ("b",)),
                  losses.mean_std_loss(tiny_extractor, x, x * 0.5, ("a",)), losses.total_variation_loss(x)):
        assert value.dtype == "float32"


def test_perceptual_loss_with_the_offline_vgg16(vgg16_offline):
    from PIL import Image

    from i2i_keras.networks.pretrained import VGGFeatures

    photos = os.path.join(os.path.dirname(losses.__file__), "data", "embedded", "photos", "test")
    photo = np.asarray(Image.open(os.path.join(photos, "rocket_0.png")).convert("RGB"),
                       np.float32)[None, :64, :64] / 127.5 - 1.0
    vgg = VGGFeatures("vgg16", taps=("relu2_2", "relu4_3"))
    rng = np.random.default_rng(11)
    values = [float(losses.perceptual_loss(vgg, np.clip(photo + rng.normal(0, s, photo.shape), -1, 1)
                                           .astype(np.float32), photo, ("relu2_2", "relu4_3")))
              for s in (0.0, 0.05, 0.2)]
    assert values[0] == pytest.approx(0.0, abs=1e-6) and 0.0 < values[1] < values[2]
    assert float(losses.style_loss(vgg, photo, photo, ("relu2_2",))) == pytest.approx(0.0, abs=1e-9)
