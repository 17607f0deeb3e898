"""stylegan: its layers (equalised rate, pixel norm, modulated conv, minibatch stddev), lazy R1, EMA, the average w,
the generation modes (determinism, truncation, style mixing), serialisation and config errors."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import build_model
from i2i_keras.errors import ConfigError
from i2i_keras.methods.stylegan import networks
from i2i_keras.methods.stylegan.stylegan import StyleGAN
from i2i_keras.training.loop import compile_model
from tests.helpers import model_batches, tiny_config


def _tiny(overrides=()):
    cfg = tiny_config("stylegan", overrides)
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    compile_model(model, cfg)
    return model


@pytest.fixture(scope="module")
def model():
    return _tiny()


def test_equalised_dense_scales_weights_at_run_time():
    layer = networks.EqualDense(5, lr_mul=0.01, bias_init=0.0)
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    y = layer(x).numpy()
    # Stored N(0, 1/lr_mul), used times lr_mul / sqrt(fan_in): the effective weights are N(0, 1/fan_in).
    assert 50 < np.std(layer.kernel.numpy()) < 200
    layer.bias.assign(np.arange(5, dtype="float32"))
    expected = x @ (layer.kernel.numpy() * 0.01 / math.sqrt(8)) + np.arange(5) * 0.01
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-4, atol=1e-5)
    assert y.shape == (3, 5)


def test_mapping_normalises_z():
    mapping = networks.mapping_network(16, 3, 0.01)
    z = np.random.default_rng(1).normal(size=(4, 16)).astype("float32")
    # Pixel norm first: the mapping of z does not depend on z's length.
    np.testing.assert_allclose(mapping(z).numpy(), mapping(5.0 * z).numpy(), rtol=1e-4, atol=1e-5)
    assert not np.allclose(mapping(z).numpy()[0], mapping(z).numpy()[1])


@pytest.mark.parametrize("upsample", [False, True])
def test_modulated_conv_equals_per_sample_demodulated_weights(upsample):
    """The unfused form (scale activations, demodulate outputs) equals convolving each sample with its own
    modulated, demodulated kernel (rosinality's fused grouped form), and is invariant to the style's scale."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 5, 3)).astype("float32")
    style = rng.uniform(0.5, 2.0, size=(2, 3)).astype("float32")
    kernel = rng.normal(size=(3, 3, 3, 4)).astype("float32") / 3.0
    out = networks.modulated_conv(tf.constant(x), tf.constant(style), tf.constant(kernel), True, upsample).numpy()
    assert out.shape == (2, 10 if upsample else 5, 10 if upsample else 5, 4)
    for b in range(2):
        w = kernel * style[b][None, None, :, None]
        w = w / np.sqrt((w ** 2).sum(axis=(0, 1, 2)) + 1e-8)
        one = networks.modulated_conv(tf.constant(x[b:b + 1]), tf.ones((1, 3)), tf.constant(w), False, upsample)
        np.testing.assert_allclose(out[b], one.numpy()[0], rtol=1e-4, atol=1e-4)
    scaled = networks.modulated_conv(tf.constant(x), tf.constant(3.0 * style), tf.constant(kernel), True, upsample)
    np.testing.assert_allclose(scaled.numpy(), out, rtol=1e-4, atol=1e-4)


def test_minibatch_stddev_groups_consecutive_samples():
    x = np.random.default_rng(3).normal(size=(4, 2, 2, 6)).astype("float32")
    out = networks.MinibatchStddev(group=2, features=1)(x).numpy()
    assert out.shape == (4, 2, 2, 7)
    for start in (0, 2):
        expected = np.sqrt(x[start:start + 2].var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(out[start:start + 2, :, :, -1], expected, rtol=1e-5)
    # A batch of 3 is not a multiple of 2: groups of the largest size that divides it (1: a zero deviation).
    odd = networks.MinibatchStddev(group=2)(x[:3]).numpy()
    np.testing.assert_allclose(odd[..., -1], 1e-4, rtol=1e-3)


def test_synthesis_layer_counts_follow_the_resolution():
    assert networks.num_latents(32) == 8 and networks.num_latents(256) == 14
    assert networks.noise_resolutions(32, "modulated") == [4, 8, 8, 16, 16, 32, 32]
    assert networks.noise_resolutions(32, "adain") == [4, 4, 8, 8, 16, 16, 32, 32]
    assert networks.channels_at(256, 32768, 512) == 128 and networks.channels_at(16, 32768, 512) == 512


def test_lazy_r1_joins_every_interval_th_step_scaled(model):
    real = next(iter(model_batches(model)))["image"]
    outputs = model.generate({"image": real}, training=False)
    penalty = float(model.r1_penalty(real))
    assert penalty > 0
    model.train_steps.assign(0)
    due = model.discriminator_losses({"image": real}, outputs, training=True)
    np.testing.assert_allclose(float(due["d_r1"]), model.r1_interval * penalty, rtol=1e-4)
    model.train_steps.assign(model.r1_interval + 3)
    assert float(model.discriminator_losses({"image": real}, outputs, training=True)["d_r1"]) == 0.0
    # Evaluation reports the plain penalty.
    np.testing.assert_allclose(float(model.discriminator_losses({"image": real}, outputs, training=False)["d_r1"]),
                               penalty, rtol=1e-4)
    model.train_steps.assign(0)


def test_ema_generator_and_average_w_follow_training():
    model = _tiny(["model.ema_decay=0.5"])
    for ema, weight in model._ema_pairs():
        np.testing.assert_array_equal(ema.numpy(), weight.numpy())
    ema_before = [e.numpy().copy() for e, _ in model._ema_pairs()]
    model.fit(model_batches(model).repeat(), steps_per_epoch=1, epochs=1, verbose=0)
    moved = 0
    for before, (ema, weight) in zip(ema_before, model._ema_pairs()):
        np.testing.assert_allclose(ema.numpy(), 0.5 * before + 0.5 * weight.numpy(), rtol=1e-5, atol=1e-6)
        moved += not np.array_equal(ema.numpy(), weight.numpy())
    assert moved  # the EMA is not the trained generator
    assert np.abs(model.w_avg.numpy()).max() > 0
    # The modes use the EMA generator: changing the trained one changes nothing.
    before = model.sample(2, 3).numpy()
    for weight in model.synthesis.weights:
        weight.assign(weight + 1.0)
    np.testing.assert_array_equal(model.sample(2, 3).numpy(), before)


def test_generate_is_a_deterministic_function_of_its_inputs(model):
    a = model.sample(3, 11).numpy()
    assert a.shape == (3, 32, 32, 3) and a.dtype == np.float32 and a.min() >= -1 and a.max() <= 1
    np.testing.assert_array_equal(model.sample(3, 11).numpy(), a)
    np.testing.assert_array_equal(model.sample(1, 11).numpy()[0], a[0])  # sample i does not depend on N
    b = model.sample(3, 12).numpy()
    assert np.abs(a - b).mean() > 1e-3
    assert np.abs(a[0] - a[1]).mean() > 1e-3
    # The mode function (what the export serves) gives the same images.
    mode = model.translation_modes()["generate"]
    assert not mode.takes_images
    served = mode.fn(num_samples=tf.constant(3, tf.int32), seed=tf.constant(11, tf.int64),
                     truncation_psi=tf.constant(1.0))
    np.testing.assert_array_equal(served.numpy(), a)


def test_truncation_psi_zero_gives_the_same_image_for_every_seed(model):
    model.w_avg.assign(np.random.default_rng(4).normal(size=model.style_dim).astype("float32"))
    images = np.concatenate([model.sample(2, seed, truncation_psi=0.0).numpy() for seed in (1, 2, 99)])
    np.testing.assert_allclose(images, np.repeat(images[:1], len(images), axis=0), atol=1e-6)
    assert np.abs(model.sample(1, 1).numpy() - images[:1]).mean() > 1e-3  # psi = 1 is not the average
    # psi between 0 and 1 lies between the average's image and the sample, in w.
    half = model.sample(1, 1, truncation_psi=0.5).numpy()
    assert np.abs(half - images[:1]).mean() < np.abs(model.sample(1, 1).numpy() - images[:1]).mean()


def test_truncation_cutoff_keeps_later_layers():
    model = _tiny(["model.truncation_cutoff=2"])
    model.w_avg.assign(np.ones(model.style_dim, "float32"))
    ws = tf.random.normal([1, model.num_latents, model.style_dim])
    out = model.truncated(ws, 0.0).numpy()
    np.testing.assert_allclose(out[0, :2], 1.0)
    np.testing.assert_allclose(out[0, 2:], ws.numpy()[0, 2:], atol=1e-6)


def test_mix_takes_coarse_styles_from_seed_coarse(model):
    coarse, fine = model.sample(1, 5).numpy(), model.sample(1, 6).numpy()
    np.testing.assert_allclose(model.mix_styles(5, 6, model.num_latents).numpy(), coarse, atol=1e-6)
    np.testing.assert_allclose(model.mix_styles(5, 6, 0).numpy(), fine, atol=1e-6)
    mixed = model.mix_styles(5, 6, 2).numpy()
    assert np.abs(mixed - coarse).mean() > 1e-4 and np.abs(mixed - fine).mean() > 1e-4
    mode = model.translation_modes()["mix"]
    assert not mode.takes_images and set(mode.extra_inputs) == {"seed_coarse", "seed_fine", "crossover",
                                                                "truncation_psi"}
    with pytest.raises(ValueError, match="crossover=99"):
        model.mix_styles(5, 6, 99)


def test_adain_synthesis_trains_and_generates():
    model = _tiny(["model.style_injection=adain"])
    history = model.fit(model_batches(model).repeat(), steps_per_epoch=2, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert model.sample(2, 1).shape == (2, 32, 32, 3)
    # StyleGAN's per-channel noise strengths.
    assert model.synthesis.get_layer("conv_8").noise_strength.shape == (model.max_channels,)


def test_save_load_round_trip_gives_identical_samples(model, tmp_path):
    model.fit(model_batches(model).repeat(), steps_per_epoch=1, epochs=1, verbose=0)
    path = str(tmp_path / "stylegan.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, StyleGAN)
    np.testing.assert_array_equal(loaded.sample(4, 21, truncation_psi=0.7).numpy(),
                                  model.sample(4, 21, truncation_psi=0.7).numpy())
    np.testing.assert_array_equal(loaded.mix_styles(1, 2, 3).numpy(), model.mix_styles(1, 2, 3).numpy())
    np.testing.assert_array_equal(loaded.w_avg.numpy(), model.w_avg.numpy())


@pytest.mark.parametrize("override, match", [
    ("model.style_injection=film", "style_injection='film'"),
    ("data.crop_size=48", "image_size=48"),
    ("model.truncation_cutoff=9", "truncation_cutoff=9"),
    ("model.mixing_prob=1.5", "mixing_prob=1.5"),
    ("model.ema_decay=1.0", "ema_decay=1.0"),
    ("model.r1_interval=0", "r1_interval=0"),
    ("model.mapping_lr_mul=0", "mapping_lr_mul=0"),
])
def test_bad_options_raise_config_errors_naming_the_value(override, match):
    overrides = [override] + (["data.load_size=52"] if override.startswith("data.crop_size") else [])
    with pytest.raises(ConfigError, match=match):
        build_model(tiny_config("stylegan", overrides))


def test_project_with_the_pixel_loss_finds_a_generated_image(model):
    """The projector's plumbing without VGG (lpips_weight 0, pixel MSE only): a sample of the generator itself is
    reconstructed closer than the average w's image, and `reconstruct` redraws it from the returned latent."""
    from i2i_keras.methods.stylegan.projector import noise_regularization, reconstruct

    target = model.sample(2, 42).numpy()
    result = model.project(target, steps=30, lpips_weight=0.0, mse_weight=1.0, mean_samples=200)
    assert result.latent.shape == (2, model.style_dim) and result.image.shape == target.shape
    average = model.sample(1, 0, truncation_psi=0.0).numpy()
    assert np.abs(result.image - target).mean() < 0.9 * np.abs(average - target).mean()
    np.testing.assert_allclose(reconstruct(model, result.latent, result.noises), result.image, atol=1e-6)
    # The noise penalty is 0-ish for white noise and large for a smooth map.
    white = [tf.random.stateless_normal([1, 16, 16, 1], [0, 0])]
    smooth = [tf.ones([1, 16, 16, 1])]
    assert float(noise_regularization(white)) < 0.01 < float(noise_regularization(smooth))
    with pytest.raises(ValueError, match="images.shape"):
        model.project(target[:, :16], steps=1, lpips_weight=0.0, mse_weight=1.0)


def test_path_length_regularisation_is_lazy_and_tracks_its_mean():
    model = _tiny(["loss_weights.g_path=2.0", "model.path_interval=2"])
    batch = next(iter(model_batches(model)))
    outputs = model.generate(batch, training=False)
    model.train_steps.assign(1)
    assert float(model.generator_losses(batch, outputs, training=True)["g_path"]) == 0.0
    assert float(model.path_mean.numpy()) == 0.0
    model.train_steps.assign(0)
    due = float(model.generator_losses(batch, outputs, training=True)["g_path"])
    assert due > 0 and float(model.path_mean.numpy()) > 0
    history = model.fit(model_batches(model).repeat(), steps_per_epoch=3, epochs=1, verbose=0).history
    assert np.isfinite(history["g_path"][-1]) and history["g_path"][-1] > 0
