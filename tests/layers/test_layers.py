import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.layers import ImagePool, InferenceDropout, ReflectionPadding2D, normalization
from i2i_keras.methods.base import pad_to_multiple


def test_reflection_padding_values_and_serialization():
    x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    layer = ReflectionPadding2D(1)
    y = np.asarray(layer(x))[0, :, :, 0]
    assert y.shape == (5, 5)
    np.testing.assert_array_equal(y[0], [4, 3, 4, 5, 4])  # row 1 mirrored above row 0
    clone = ReflectionPadding2D.from_config(layer.get_config())
    assert clone.padding == (1, 1)
    with pytest.raises(ValueError, match="padding"):
        ReflectionPadding2D(-1)


def test_instance_norm_normalises_each_channel_of_each_image():
    x = np.random.default_rng(0).normal(3.0, 5.0, (2, 8, 8, 4)).astype("float32")
    y = np.asarray(normalization("instance")(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1, atol=1e-2)
    assert normalization("none") is None
    with pytest.raises(ValueError, match="norm='group'"):
        normalization("group")


def test_inference_dropout_stays_on_only_when_asked():
    x = np.ones((1, 64, 64, 4), "float32")
    assert np.all(np.asarray(InferenceDropout(0.5)(x, training=False)) == 1)
    kept_on = np.asarray(InferenceDropout(0.5, always_on=True, seed=1)(x, training=False))
    assert 0.3 < np.mean(kept_on == 0) < 0.7


def test_image_pool_fills_then_swaps_and_is_saved_state():
    pool = ImagePool(pool_size=3, seed=0)
    pool.build((None, 4, 4, 1))
    batches = [np.full((1, 4, 4, 1), i, "float32") for i in range(40)]
    outs = [float(np.asarray(pool(b))[0, 0, 0, 0]) for b in batches]
    assert outs[:3] == [0.0, 1.0, 2.0]  # filling: images pass through and are stored
    assert int(pool.count.numpy()) == 3
    assert sorted(set(np.asarray(pool.images.numpy())[:, 0, 0, 0])) != [0.0, 1.0, 2.0]  # later images got in
    swapped = sum(o != i for i, o in enumerate(outs))
    assert 5 < swapped < 35  # about half of the queries after filling return an older image
    assert all(o <= i for i, o in enumerate(outs))  # only older images come back
    assert {v.path.split("/")[-1] for v in pool.weights} >= {"images", "count"}


def test_image_pool_in_tf_function():
    pool = ImagePool(pool_size=2, seed=0)
    pool.build((None, 4, 4, 1))
    fn = tf.function(lambda x: pool(x))
    for i in range(4):
        fn(tf.fill((2, 4, 4, 1), float(i)))
    assert int(pool.count.numpy()) == 2
    assert ImagePool(pool_size=0)(np.ones((1, 2, 2, 1), "float32")).shape == (1, 2, 2, 1)


@pytest.mark.parametrize("height,width", [(37, 45), (5, 3), (32, 32)])
def test_pad_to_multiple(height, width):
    x = tf.random.uniform((1, height, width, 2))
    padded, h, w = pad_to_multiple(x, 16)
    assert int(h) == height and int(w) == width
    assert padded.shape[1] % 16 == 0 and padded.shape[2] % 16 == 0
    np.testing.assert_array_equal(padded[:, :height, :width], x)
