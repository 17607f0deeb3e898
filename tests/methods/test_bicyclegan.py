"""BicycleGAN-specific tests: paper defaults, the KL and latent-regression terms, who updates what, the multimodal
modes, and learning on real images.

The shared contract (fit, evaluate, export, .keras, replicas, mixed precision) is covered by test_methods.py.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import losses
from i2i_keras.methods.bicyclegan.bicyclegan import BicycleGAN, latent_regression
from i2i_keras.training.loop import compile_model
from tests.helpers import model_batches, tiny_config
from tests.methods.method_helpers import held_out_l1, learning_setup, sample_diversity, tiny_model
from tests.methods.method_helpers import random_images as _images


@pytest.fixture(scope="module")
def model():
    return tiny_model("bicyclegan")


def test_paper_defaults():
    assert BicycleGAN.default_loss_weights == {"g_adv_vae": 1.0, "g_adv_lr": 1.0, "g_l1": 10.0, "g_latent": 0.5,
                                               "g_kl": 0.01, "d_adv": 1.0}
    assert not BicycleGAN.update_discriminator_first  # update_G_and_E() then update_D() in the reference
    keras.utils.set_random_seed(0)
    paper = BicycleGAN(image_size=256)
    assert (paper.latent_dim, paper.num_downs, paper.disc_scales, paper.gan_mode) == (8, 8, 2, "lsgan")
    assert paper.size_multiple == 256


def test_network_shapes(model):
    x = _images()
    mu, logvar = model.encoder(x)
    assert tuple(mu.shape) == tuple(logvar.shape) == (2, 8)
    assert tuple(model.generator([x, np.zeros((2, 8), "float32")]).shape) == (2, 32, 32, 3)
    # Two PatchGAN scales, the coarser on the 2x average-pooled image with half the filters (D_NLayersMulti); with
    # PyTorch's padding of 1, two stride-2 and two stride-1 4x4 convolutions map n to n / 4 - 2.
    logits = model.discriminator_vae(x)
    assert [tuple(t.shape) for t in logits] == [(2, 6, 6, 1), (2, 2, 2, 1)]
    assert model.discriminator_vae.get_layer("s1_patch").get_layer("conv0").filters == 4


def test_constructor_errors_name_the_received_value():
    with pytest.raises(ValueError, match="image_size=48"):
        BicycleGAN(image_size=48, num_downs=5)
    with pytest.raises(ValueError, match="latent_dim=0"):
        BicycleGAN(image_size=32, num_downs=5, latent_dim=0)
    with pytest.raises(ValueError, match="dropout=1.5"):
        BicycleGAN(image_size=32, num_downs=5, dropout=1.5)
    with pytest.raises(ValueError, match="image_size=8, encoder_downsampling=5"):
        BicycleGAN(image_size=8, num_downs=3)
    with pytest.raises(ValueError, match="encoder='vgg'"):
        BicycleGAN(image_size=32, num_downs=5, encoder="vgg")
    with pytest.raises(ValueError, match="latent_at='output'"):
        BicycleGAN(image_size=32, num_downs=5, latent_at="output")
    with pytest.raises(ValueError, match="init='he'"):
        BicycleGAN(image_size=32, num_downs=5, init="he")
    with pytest.raises(ValueError, match="g_adv'"):
        BicycleGAN(image_size=32, num_downs=5, loss_weights={"g_adv": 1.0})


def test_kl_of_a_standard_normal_is_zero_and_matches_the_closed_form():
    assert float(losses.kl_divergence(np.zeros((3, 8), "float32"), np.zeros((3, 8), "float32"))) == 0.0
    mu = np.array([[1.0, -2.0], [0.5, 0.0]], "float32")
    sigma = np.array([[1.0, 2.0], [0.5, 3.0]], "float32")
    # KL(N(m, s^2) || N(0, 1)) = log(1 / s) + (s^2 + m^2) / 2 - 1 / 2 per dimension, summed, batch-averaged.
    per_dim = np.log(1.0 / sigma) + (sigma ** 2 + mu ** 2) / 2.0 - 0.5
    expected = per_dim.sum(axis=1).mean()
    got = float(losses.kl_divergence(mu, 2.0 * np.log(sigma)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # By hand: image 1 gives 0.5 + (3.5 - ln 2), image 2 (ln 2 - 0.25) + (4 - ln 3).
    np.testing.assert_allclose(expected, (7.75 - math.log(3.0)) / 2, rtol=1e-6)


def test_latent_regression_on_hand_made_codes():
    predicted = np.array([[1.0, -1.0], [0.0, 2.0]], "float32")
    z = np.array([[0.0, 0.0], [0.5, 0.0]], "float32")
    np.testing.assert_allclose(float(latent_regression(predicted, z)), (1 + 1 + 0.5 + 2) / 4, rtol=1e-6)
    assert float(latent_regression(z, z)) == 0.0


def test_batch_split_interleaves_rows_like_the_reference_halves():
    images = np.arange(4, dtype="float32").reshape(4, 1, 1, 1)
    def rows(n):
        return [np.asarray(part).ravel().tolist() for part in BicycleGAN._split(tf.constant(images[:n]))]

    assert rows(4) == [[0.0, 2.0], [1.0, 3.0]]
    assert rows(1) == [[0.0], [0.0]]  # a single pair serves both branches
    assert rows(3) == [[0.0, 2.0], [1.0]]


def _gradients(model, batch, term):
    variables = model.generator.trainable_variables + model.encoder.trainable_variables
    with tf.GradientTape() as tape:
        outputs = model.generate(batch, training=True)
        value = model.generator_losses(batch, outputs)[term]
    grads = tape.gradient(value, variables)
    n = len(model.generator.trainable_variables)
    norm = lambda gs: sum(0.0 if g is None else float(tf.reduce_sum(tf.square(g))) for g in gs)  # noqa: E731
    return norm(grads[:n]), norm(grads[n:])


def test_latent_regression_updates_the_generator_only(model):
    """Paper sec. 3.5 / reference `backward_G_alone`: |E(G(A, z)) - z| trains G, never E; the cVAE-GAN terms train E."""
    batch = next(iter(model_batches(model, batch=4)))
    g_norm, e_norm = _gradients(model, batch, "g_latent")
    assert g_norm > 0 and e_norm == 0.0
    # The same term through an unfrozen E would reach E's weights: the freeze is what the test above sees.
    with tf.GradientTape() as tape:
        fake = model.generator([batch["source"], tf.ones((4, 8))])
        unfrozen = latent_regression(model.encoder(fake)[0], np.ones((4, 8), "float32"))
    assert any(g is not None for g in tape.gradient(unfrozen, model.encoder.trainable_variables))
    for term in ("g_l1", "g_kl", "g_adv_vae"):
        assert _gradients(model, batch, term)[1] > 0, term
    # The cLR-GAN's adversarial term uses a random z: it cannot reach E.
    assert _gradients(model, batch, "g_adv_lr")[1] == 0.0


def test_a_step_with_only_the_latent_term_leaves_the_encoder_unchanged():
    weights = ["loss_weights.g_adv_vae=0", "loss_weights.g_adv_lr=0", "loss_weights.g_l1=0", "loss_weights.g_kl=0",
               "loss_weights.d_adv=0"]
    model = tiny_model("bicyclegan", weights, compiled=True)
    encoder = [v.numpy().copy() for v in model.encoder.trainable_variables]
    generator = [v.numpy().copy() for v in model.generator.trainable_variables]
    with pytest.warns(UserWarning, match="Gradients do not exist for variables"):  # E's: none reach it
        history = model.fit(model_batches(model).repeat(), steps_per_epoch=2, epochs=1, verbose=0).history
    assert set(history) == {"g_latent", "g_total"}
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(encoder, model.encoder.trainable_variables))
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(generator, model.generator.trainable_variables))
    assert model.discriminator_variables() == []  # no adversarial term: no discriminator is trained


def test_the_cvae_branch_encodes_the_target_and_the_clr_branch_uses_the_prior(model):
    batch = next(iter(model_batches(model, batch=4)))
    outputs = model.generate(batch, training=True)
    np.testing.assert_array_equal(outputs["target"], batch["target"][0::2])
    np.testing.assert_array_equal(outputs["target_random"], batch["target"][1::2])
    mu, logvar = model.encoder(batch["target"][0::2])
    np.testing.assert_allclose(outputs["mu"], mu, atol=1e-6)
    np.testing.assert_allclose(outputs["logvar"], logvar, atol=1e-6)
    again = model.generate(batch, training=True)
    assert not np.allclose(outputs["z_random"], again["z_random"])  # a fresh z ~ N(0, I) each step
    np.testing.assert_allclose(model.generator_losses(batch, outputs)["g_l1"],
                               np.abs(outputs["fake_encoded"] - batch["target"][0::2]).mean(), rtol=1e-5)


def test_modes_are_the_style_api(model):
    assert list(model.translation_modes()) == ["translate", "translate_sample", "translate_reference",
                                               "translate_interpolate"]
    x = _images(1)
    expected = model.generator([x, np.zeros((2, 8), "float32")])
    np.testing.assert_allclose(model.translate(x), expected, atol=1e-5)
    np.testing.assert_array_equal(model.translate(x), model.translate(x))


def test_sampled_codes_same_seed_same_outputs_different_seed_different(model):
    x = _images(2)
    one = np.asarray(model.translate(x, mode="translate_sample", num_samples=3, seed=4))
    np.testing.assert_array_equal(one, model.translate(x, mode="translate_sample", num_samples=3, seed=4))
    other = np.asarray(model.translate(x, mode="translate_sample", num_samples=3, seed=5))
    assert one.shape == (2, 3, 32, 32, 3)
    assert np.abs(one - other).max() > 1e-4
    from i2i_keras.methods.styles import random_styles

    codes = random_styles(4, 3, 8).numpy()
    np.testing.assert_allclose(one[:, 2], model.generator([x, np.repeat(codes[2:], 2, axis=0)]), atol=1e-5)


def test_interpolation_endpoints_are_the_two_random_codes(model):
    x = _images(3)
    ends = np.asarray(model.translate(x, mode="translate_sample", num_samples=2, seed=9))
    path = np.asarray(model.translate(x, mode="translate_interpolate", num_samples=4, seed=9))
    np.testing.assert_allclose(path[:, 0], ends[:, 0], atol=1e-5)
    np.testing.assert_allclose(path[:, -1], ends[:, 1], atol=1e-5)


def test_reference_mode_uses_the_encoded_mean_of_the_reference(model):
    x, ref = _images(4), _images(5, size=40)
    out = np.asarray(model.translate(x, mode="translate_reference", reference=ref))
    np.testing.assert_allclose(out, model.generator([tf.constant(x), model.encoder(ref)[0]]), atol=1e-5)
    shared = np.asarray(model.translate(x, mode="translate_reference", reference=ref[:1]))
    codes = tf.repeat(model.encoder(ref[:1])[0], 2, axis=0)
    np.testing.assert_allclose(shared, model.generator([tf.constant(x), codes]), atol=1e-5)
    with pytest.raises(ValueError, match=r"reference.shape=\(2, 8, 8, 3\)"):
        model.translate(x, mode="translate_reference", reference=_images(size=8))


def test_evaluate_scores_the_deterministic_translation(model):
    cfg = tiny_config("bicyclegan")
    compile_model(model, cfg)
    batch = next(iter(model_batches(model)))
    outputs = model.generate(batch, training=False)
    np.testing.assert_allclose(outputs["fake_mean"], model.translate(batch["source"]), atol=1e-5)
    results = model.evaluate(model_batches(model, count=1), return_dict=True, verbose=0)
    l1 = np.abs(np.asarray(model.translate(batch["source"])) - batch["target"]).mean()
    np.testing.assert_allclose(results["l1"], l1, rtol=1e-4)


def test_sample_grid(model):
    batch = next(iter(model_batches(model)))
    columns = model.sample_grid(batch)
    assert len(columns) == 6 and all(tuple(c.shape) == (2, 32, 32, 3) for c in columns)
    np.testing.assert_array_equal(columns[0], batch["source"])
    np.testing.assert_array_equal(columns[-1], batch["target"])


@pytest.mark.learning
def test_bicyclegan_learns_gray_to_colour_with_diverse_samples():
    """300 steps on the embedded gray -> colour photo tiles (32 px): held-out L1 of the deterministic translation to
    the ground truth falls clearly and PSNR rises, and on the trained model different random codes give visibly
    different colourings (mean |x_i - x_j| over pairs of 5 samples per image)."""
    from i2i_keras.training.loop import evaluate_psnr

    model, train, test = learning_setup("bicyclegan", ["train.batch_size=4", "optim.schedule=constant",
                                                       "optim.g_lr=1e-3", "optim.d_lr=1e-3"])
    psnr_before, l1_before = evaluate_psnr(model, test, 100), held_out_l1(model, test)
    model.fit(train, steps_per_epoch=300, epochs=1, verbose=0)
    psnr_after, l1_after = evaluate_psnr(model, test, 100), held_out_l1(model, test)
    # Measured (seeds 0 / 1): L1 0.57 -> 0.16 / 0.56 -> 0.18, PSNR +9.2 / +8.6 dB, diversity 0.067 / 0.106.
    assert l1_after < 0.5 * l1_before, (l1_before, l1_after)
    assert psnr_after > psnr_before + 6.0, (psnr_before, psnr_after)
    spread = sample_diversity(model, [b["source"] for b in test.take(4)], "translate_sample")
    assert spread > 0.03, spread


def test_gray_source_colour_reference_in_python_and_in_the_export(tmp_path):
    """With 1-channel sources and 3-channel targets, references are target-domain (3-channel) images, in Python and
    in the bytes signature, which decodes them with 3 channels."""
    from i2i_keras.data import transforms
    from i2i_keras.export import export_for_serving, load_exported

    model = tiny_model("bicyclegan", ["data.channels=1", "model.out_channels=3"])
    gray, colour = _images(channels=1, size=32, batch=1), _images(1, channels=3, size=24, batch=1)
    out = np.asarray(model.translate(gray, mode="translate_reference", reference=colour))
    assert out.shape == (1, 32, 32, 3)
    with pytest.raises(ValueError, match=r"reference.shape=\(1, 32, 32, 1\)"):
        model.translate(gray, mode="translate_reference", reference=gray)
    loaded, _ = load_exported(export_for_serving(model, str(tmp_path / "export"), tiled=False))
    gray_png = tf.io.encode_png(transforms.to_uint8(gray)[0])
    colour_png = tf.io.encode_png(transforms.to_uint8(colour)[0])
    decoded_gray = transforms.decode_image(gray_png, channels=1)[None]
    decoded_colour = transforms.decode_image(colour_png, channels=3)[None]
    expected = transforms.to_uint8(model.translate(decoded_gray, mode="translate_reference",
                                                   reference=decoded_colour))[0].numpy()
    served = loaded.signatures["translate_reference_bytes"](images=tf.constant([gray_png.numpy()]),
                                                            reference=tf.constant([colour_png.numpy()]))
    pixels = tf.io.decode_png(served["images"].numpy()[0]).numpy()
    assert pixels.shape == (32, 32, 3)
    assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= 1


def test_reference_initialisation_encoder_and_latent_injection():
    """junyanz/BicycleGAN models/networks.py: xavier_normal(gain 0.02) kernels, E_ResNet, z at every U-Net block."""
    model = BicycleGAN(image_size=64, num_downs=6, base_filters=16, encoder_filters=16, disc_filters=16, seed=0)
    kernel = model.generator.get_layer("down3_conv").kernel.numpy()
    fan_in = kernel.shape[0] * kernel.shape[1] * kernel.shape[2]
    fan_out = kernel.shape[0] * kernel.shape[1] * kernel.shape[3]
    np.testing.assert_allclose(kernel.std(), 0.02 * math.sqrt(2.0 / (fan_in + fan_out)), rtol=0.05)
    assert model.encoder.get_layer("block1_shortcut_conv").kernel.shape[:2] == (1, 1)
    tiles = [layer for layer in model.generator.layers if "tile_latent" in layer.name]
    assert len(tiles) == 6
    mu, logvar = model.encoder(_images(size=64))
    assert tuple(mu.shape) == tuple(logvar.shape) == (2, 8)
    legacy = BicycleGAN(image_size=64, num_downs=6, base_filters=16, encoder="conv", encoder_downsampling=4,
                        latent_at="input", init="gaussian")
    assert len([layer for layer in legacy.generator.layers if "tile_latent" in layer.name]) == 1
    assert "block1_shortcut_conv" not in [layer.name for layer in legacy.encoder.layers]
