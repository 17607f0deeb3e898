"""The conditioning layers shared by the style-based methods: AdaIN and latent tiling."""

import keras
import numpy as np
import pytest

from i2i_keras.layers import AdaptiveInstanceNorm, TileLatent


def _channel_stats(x):
    return x.mean(axis=(1, 2)), x.std(axis=(1, 2))


def test_adain_output_takes_the_statistics_of_the_style():
    """AdaIN(x, [std(style), mean(style)]) has, per image and channel, exactly the style's mean and std, whatever
    the content's own statistics (Huang & Belongie 2017, eq. 8)."""
    rng = np.random.default_rng(0)
    content = rng.normal(3.0, 5.0, (2, 9, 7, 4)).astype("float32") * rng.uniform(0.5, 2, (1, 1, 1, 4))
    style = rng.normal(0.0, 1.0, (2, 6, 5, 4)).astype("float32") * rng.uniform(0.1, 3, (2, 1, 1, 4)) \
        + rng.uniform(-2, 2, (2, 1, 1, 4))
    mean_s, std_s = _channel_stats(style)
    out = np.asarray(AdaptiveInstanceNorm()([content, np.concatenate([std_s, mean_s], axis=-1)]))
    mean_o, std_o = _channel_stats(out)
    np.testing.assert_allclose(mean_o, mean_s, atol=1e-5)
    np.testing.assert_allclose(std_o, std_s, rtol=1e-5)
    # The content is kept up to that affine map: the normalised output equals the normalised content.
    mean_c, std_c = _channel_stats(content)
    np.testing.assert_allclose((out - mean_o[:, None, None]) / std_o[:, None, None],
                               (content - mean_c[:, None, None]) / std_c[:, None, None], atol=1e-4)


def test_adain_params_are_scale_then_shift_per_example():
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 2)).astype("float32")
    params = np.array([[1.0, 2.0, 0.0, 10.0], [0.5, 0.5, -3.0, 3.0]], "float32")  # [gamma_0, gamma_1, beta_0, beta_1]
    mean, std = _channel_stats(np.asarray(AdaptiveInstanceNorm()([x, params])))
    np.testing.assert_allclose(mean, [[0.0, 10.0], [-3.0, 3.0]], atol=1e-5)
    np.testing.assert_allclose(std, [[1.0, 2.0], [0.5, 0.5]], rtol=1e-4)


def test_adain_in_a_model_under_mixed_precision_and_serialization():
    layer = AdaptiveInstanceNorm(epsilon=1e-3)
    assert AdaptiveInstanceNorm.from_config(layer.get_config()).epsilon == 1e-3
    keras.config.set_dtype_policy("mixed_bfloat16")
    features = keras.Input((None, None, 3))
    params = keras.Input((6,))
    model = keras.Model([features, params], AdaptiveInstanceNorm()([features, params]))
    x = np.random.default_rng(2).normal(5.0, 2.0, (1, 8, 8, 3)).astype("float32")
    out = np.asarray(model([x, np.array([[2.0, 2.0, 2.0, 1.0, 1.0, 1.0]], "float32")]), "float32")
    # Statistics are computed in float32, so the styled output is right to bfloat16 precision.
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 1.0, atol=0.05)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 2.0, rtol=0.02)


def test_tile_latent_appends_the_code_at_every_pixel():
    rng = np.random.default_rng(3)
    images = rng.normal(size=(2, 5, 7, 3)).astype("float32")
    latent = rng.normal(size=(2, 4)).astype("float32")
    out = np.asarray(TileLatent()([images, latent]))
    assert out.shape == (2, 5, 7, 7)
    np.testing.assert_array_equal(out[..., :3], images)
    for b in range(2):
        np.testing.assert_array_equal(out[b, :, :, 3:], np.broadcast_to(latent[b], (5, 7, 4)))
    assert TileLatent().compute_output_shape(((None, None, None, 3), (None, 4))) == (None, None, None, 7)


def test_tile_latent_in_a_functional_model_of_free_size():
    images = keras.Input((None, None, 1))
    latent = keras.Input((2,))
    model = keras.Model([images, latent], TileLatent()([images, latent]))
    out = np.asarray(model([np.zeros((3, 6, 4, 1), "float32"), np.array([[1, 2], [3, 4], [5, 6]], "float32")]))
    assert out.shape == (3, 6, 4, 3)
    np.testing.assert_array_equal(out[:, 2, 3, 1:], [[1, 2], [3, 4], [5, 6]])


@pytest.mark.parametrize("layer_cls", [AdaptiveInstanceNorm, TileLatent])
def test_conditioning_layers_have_no_weights(layer_cls):
    # Their parameters come from elsewhere (an MLP on the style code, the latent code itself).
    layer = layer_cls()
    layer([np.ones((1, 4, 4, 2), "float32"), np.ones((1, 4), "float32")])
    assert layer.built and layer.weights == []
