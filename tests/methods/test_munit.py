"""MUNIT-specific tests: paper defaults, loss terms, the multimodal modes, and learning on real images.

The shared contract (fit, evaluate, export, .keras, replicas, mixed precision) is covered by test_methods.py.
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.methods.munit.munit import MUNIT
from i2i_keras.training.loop import compile_model
from tests.helpers import model_batches, tiny_config
from tests.methods.method_helpers import learning_setup, sample_diversity, tiny_model
from tests.methods.method_helpers import random_images as _images


@pytest.fixture(scope="module")
def model():
    return tiny_model("munit")


def test_paper_defaults():
    assert MUNIT.default_loss_weights == {"g_adv": 1.0, "g_rec_x": 10.0, "g_rec_c": 1.0, "g_rec_s": 1.0,
                                          "g_cycle": 0.0, "g_vgg": 0.0, "g_weight_decay": 1e-4, "d_adv": 1.0,
                                          "d_weight_decay": 1e-4}
    assert MUNIT.update_discriminator_first  # the reference calls dis_update before gen_update
    keras.utils.set_random_seed(0)
    paper = MUNIT(image_size=64)
    assert (paper.style_dim, paper.mlp_dim, paper.base_filters, paper.num_blocks) == (8, 256, 64, 4)
    assert paper.disc_scales == 3
    assert paper.gan_mode == "lsgan" and paper.init == "kaiming"


def test_network_shapes(model):
    x = _images()
    content = model.content_encoder_a(x)
    assert tuple(content.shape) == (2, 8, 8, 8 * 4)  # H / 2**2, base_filters * 2**2 channels
    assert tuple(model.style_encoder_a(x).shape) == (2, 8)
    assert tuple(model.decoder_b([content, tf.zeros((2, 8))]).shape) == (2, 32, 32, 3)
    logits = model.discriminator_b(x)
    assert [tuple(t.shape) for t in logits] == [(2, 8, 8, 1), (2, 4, 4, 1), (2, 2, 2, 1)]  # 3 scales
    assert model.size_multiple == 4


def test_constructor_errors_name_the_received_value():
    with pytest.raises(ValueError, match="init='uniform'"):
        MUNIT(image_size=32, init="uniform")
    with pytest.raises(ValueError, match="lr_step_gamma=0"):
        MUNIT(image_size=32, lr_step_gamma=0)
    with pytest.raises(ValueError, match="lr_step_size=-1"):
        MUNIT(image_size=32, lr_step_size=-1)
    with pytest.raises(ValueError, match="discriminator_styles='random'"):
        MUNIT(image_size=32, discriminator_styles="random")
    with pytest.raises(ValueError, match="image_size=30"):
        MUNIT(image_size=30)
    with pytest.raises(ValueError, match="style_dim=0"):
        MUNIT(image_size=32, style_dim=0)
    with pytest.raises(ValueError, match="gan_mode='wgan-gp'"):
        MUNIT(image_size=32, gan_mode="wgan-gp")
    with pytest.raises(ValueError, match="image_size=8, style_downsampling=4"):
        MUNIT(image_size=8)
    assert MUNIT(image_size=32).perceptual_features is None  # g_vgg 0 (the reference's vgg_w): no VGG loaded


def test_domain_invariant_perceptual_term(vgg16_offline, tmp_path):
    """g_vgg (the reference's vgg_w) is the instance-normalised relu5_3 distance of x_ba to x_b and x_ab to x_a,
    trains, and a missing weights file is a clear error naming it."""
    from i2i_keras import losses
    from i2i_keras.errors import WeightsUnavailable
    from i2i_keras.networks.pretrained import VGGFeatures

    keras.utils.set_random_seed(0)
    munit = MUNIT(image_size=32, base_filters=8, num_blocks=1, mlp_dim=16, disc_filters=8, disc_layers=2,
                  disc_scales=1, loss_weights={**MUNIT.default_loss_weights, "g_vgg": 1.0})
    assert munit.get_config()["perceptual_weights"] == "offline" and munit.perceptual_tap == "relu5_3"
    batch = {"domain_a": tf.constant(_images(1)), "domain_b": tf.constant(_images(2))}
    outputs = munit.generate(batch, training=False)
    terms = munit.generator_losses(batch, outputs, training=False)
    vgg = VGGFeatures("vgg16", "offline", taps=("relu5_3",))
    expected = sum(float(losses.perceptual_loss(vgg, fake, real, ["relu5_3"], distance="l2", normalize="instance"))
                   for fake, real in ((outputs["x_ba"], batch["domain_b"]), (outputs["x_ab"], batch["domain_a"])))
    assert float(terms["g_vgg"]) == pytest.approx(expected, rel=1e-5) and expected > 0.0
    compile_model(munit, tiny_config("munit"))
    history = munit.fit(tf.data.Dataset.from_tensors(batch).repeat(2), epochs=1, verbose=0)
    assert np.isfinite(history.history["g_vgg"][-1])
    with pytest.raises(WeightsUnavailable, match="no_such.npz"):
        MUNIT(image_size=32, loss_weights={"g_vgg": 1.0}, perceptual_weights=str(tmp_path / "no_such.npz"))


def test_reconstruction_and_latent_terms_on_known_outputs(model):
    """The generator terms are the paper's L1 distances between the right pairs of tensors (sec. 3)."""
    x_a, x_b = _images(1), _images(2)
    rng = np.random.default_rng(3)
    outputs = {name: rng.normal(size=shape).astype("float32") for name, shape in (
        ("c_a", (2, 8, 8, 32)), ("c_b", (2, 8, 8, 32)), ("s_a", (2, 8)), ("s_b", (2, 8)))}
    outputs.update(x_a_recon=x_a + 0.5, x_b_recon=x_b - 0.25, c_a_recon=outputs["c_a"] + 2.0,
                   c_b_recon=outputs["c_b"], s_a_recon=outputs["s_a"] - 1.0, s_b_recon=outputs["s_b"] + 3.0,
                   x_ab=x_b, x_ba=x_a)
    terms = model.generator_losses({"domain_a": x_a, "domain_b": x_b}, outputs)
    np.testing.assert_allclose(float(terms["g_rec_x"]), 0.75, rtol=1e-5)
    np.testing.assert_allclose(float(terms["g_rec_c"]), 2.0, rtol=1e-5)
    np.testing.assert_allclose(float(terms["g_rec_s"]), 4.0, rtol=1e-5)
    assert "g_cycle" not in terms  # weight 0: the explicit cycle is off, as in the paper's configs
    # The adversarial term sums the three scales' LSGAN losses, both directions (the reference's MsImageDis).
    expected = sum(float(np.mean((np.asarray(logits) - 1.0) ** 2))
                   for disc, fake in ((model.discriminator_a, x_a), (model.discriminator_b, x_b))
                   for logits in disc(fake))
    np.testing.assert_allclose(float(terms["g_adv"]), expected, rtol=1e-5)


def test_weight_decay_terms_are_adams_coupled_l2(model):
    variables = model.generator_variables()
    with tf.GradientTape() as tape:
        decay = model.generator_losses({"domain_a": _images(), "domain_b": _images(1)},
                                       model.generate({"domain_a": _images(), "domain_b": _images(1)}, True))[
            "g_weight_decay"]
    np.testing.assert_allclose(float(decay), 0.5 * sum(float(np.sum(v.numpy() ** 2)) for v in variables), rtol=1e-5)
    # d/dw of weight 1e-4 * 0.5 |w|^2 is 1e-4 * w: torch.optim.Adam(weight_decay=1e-4) adds exactly this.
    grads = tape.gradient(decay, variables)
    for g, v in zip(grads, variables):
        np.testing.assert_allclose(g.numpy(), v.numpy(), rtol=1e-6, atol=1e-7)
    d_terms = model.discriminator_losses({"domain_a": _images(), "domain_b": _images(1)},
                                         {"x_ab": _images(2), "x_ba": _images(3)}, training=False)
    expected = 0.5 * sum(float(np.sum(v.numpy() ** 2)) for v in model.discriminator_variables())
    np.testing.assert_allclose(float(d_terms["d_weight_decay"]), expected, rtol=1e-5)


def test_training_styles_are_random_per_step_and_the_cycle_term_when_asked():
    cfg = tiny_config("munit", ["loss_weights.g_cycle=10.0"])
    model = tiny_model("munit", ["loss_weights.g_cycle=10.0"])
    batch = next(iter(model_batches(model)))
    first, second = model.generate(batch, training=True), model.generate(batch, training=True)
    assert first["s_a"].shape == (2, 8)
    assert not np.allclose(first["s_a"], second["s_a"])  # a fresh N(0, I) draw each step
    assert "x_aba" in first and "g_cycle" in model.generator_losses(batch, first)
    compile_model(model, cfg)
    history = model.fit(model_batches(model).repeat(), steps_per_epoch=1, epochs=1, verbose=0).history
    assert "g_cycle" in history and np.isfinite(history["g_cycle"][0])


def test_modes_are_the_style_api_in_both_directions(model):
    names = list(model.translation_modes())
    assert names == ["a2b", "a2b_sample", "a2b_reference", "a2b_interpolate",
                     "b2a", "b2a_sample", "b2a_reference", "b2a_interpolate"]
    x = _images()
    # The first (default) mode is deterministic: the prior's mean style, z = 0.
    expected = model.decoder_b([model.content_encoder_a(x), tf.zeros((2, 8))])
    np.testing.assert_allclose(model.translate(x), expected, atol=1e-5)
    np.testing.assert_array_equal(model.translate(x), model.translate(x))
    expected = model.decoder_a([model.content_encoder_b(x), tf.zeros((2, 8))])
    np.testing.assert_allclose(model.translate(x, mode="b2a"), expected, atol=1e-5)


@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_sampled_styles_same_seed_same_outputs_different_seed_different(model, direction):
    x = _images(4)
    mode = f"{direction}_sample"
    one = np.asarray(model.translate(x, mode=mode, num_samples=3, seed=11))
    again = np.asarray(model.translate(x, mode=mode, num_samples=3, seed=11))
    other = np.asarray(model.translate(x, mode=mode, num_samples=3, seed=12))
    assert one.shape == (2, 3, 32, 32, 3)
    np.testing.assert_array_equal(one, again)
    assert np.abs(one - other).mean() > 1e-2
    # N different styles per image, and a seed names the same styles for every image of a batch.
    assert min(np.abs(one[:, i] - one[:, j]).mean() for i, j in itertools.combinations(range(3), 2)) > 1e-2
    alone = np.asarray(model.translate(x[1:], mode=mode, num_samples=3, seed=11))
    np.testing.assert_allclose(alone[0], one[1], atol=1e-5)
    # Each sample is the decoder with one standard-normal style code.
    from i2i_keras.methods.styles import random_styles

    codes = random_styles(11, 3, 8).numpy()
    source, target = direction[0], direction[-1]
    content = getattr(model, f"content_encoder_{source}")(x)
    decoded = getattr(model, f"decoder_{target}")([content, tf.constant(np.repeat(codes[1:2], 2, axis=0))])
    np.testing.assert_allclose(one[:, 1], decoded, atol=1e-5)


def test_interpolation_endpoints_are_the_two_random_styles(model):
    x = _images(5)
    ends = np.asarray(model.translate(x, mode="a2b_sample", num_samples=2, seed=7))
    path = np.asarray(model.translate(x, mode="a2b_interpolate", num_samples=5, seed=7))
    assert path.shape == (2, 5, 32, 32, 3)
    np.testing.assert_allclose(path[:, 0], ends[:, 0], atol=1e-5)
    np.testing.assert_allclose(path[:, -1], ends[:, 1], atol=1e-5)
    middle = path[:, 2]
    assert np.abs(middle - ends[:, 0]).mean() > 1e-3 and np.abs(middle - ends[:, 1]).mean() > 1e-3
    single = np.asarray(model.translate(x, mode="a2b_interpolate", num_samples=1, seed=7))
    np.testing.assert_allclose(single[:, 0], ends[:, 0], atol=1e-5)


def test_reference_mode_uses_the_style_of_the_reference(model):
    x, ref = _images(6), _images(7, size=24)
    out = np.asarray(model.translate(x, mode="a2b_reference", reference=ref))
    expected = model.decoder_b([model.content_encoder_a(x), model.style_encoder_b(ref)])
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert np.abs(out - np.asarray(model.translate(x))).mean() > 1e-2  # not the mean style
    # One reference styles the whole batch.
    shared = np.asarray(model.translate(x, mode="a2b_reference", reference=ref[:1]))
    expected = model.decoder_b([model.content_encoder_a(x), tf.repeat(model.style_encoder_b(ref[:1]), 2, axis=0)])
    np.testing.assert_allclose(shared, expected, atol=1e-5)
    out_b2a = np.asarray(model.translate(x, mode="b2a_reference", reference=ref))
    np.testing.assert_allclose(out_b2a, model.decoder_a([model.content_encoder_b(x), model.style_encoder_a(ref)]),
                               atol=1e-5)


def test_multimodal_input_errors_name_the_received_value(model):
    x = _images()
    with pytest.raises(ValueError, match="num_samples=0"):
        model.translate(x, mode="a2b_sample", num_samples=0, seed=1)
    with pytest.raises(ValueError, match=r"seed=array\(\[1, 2\]\)"):
        model.translate(x, mode="a2b_interpolate", num_samples=2, seed=np.array([1, 2]))
    with pytest.raises(ValueError, match=r"reference.shape=\(3, 32, 32, 3\)"):
        model.translate(x, mode="a2b_reference", reference=_images(batch=3))
    with pytest.raises(ValueError, match=r"reference.shape=\(2, 8, 32, 3\)"):
        model.translate(x, mode="a2b_reference", reference=_images()[:, :8])
    with pytest.raises(ValueError, match="domain='c'"):
        model.reconstruct(x, "c")


def test_sample_grid_shows_input_and_fixed_random_styles(model):
    batch = next(iter(model_batches(model)))
    columns = model.sample_grid(batch)
    assert len(columns) == 8 and all(tuple(c.shape) == (2, 32, 32, 3) for c in columns)
    np.testing.assert_array_equal(columns[0], batch["domain_a"])
    np.testing.assert_array_equal(columns[4], batch["domain_b"])
    np.testing.assert_array_equal(columns[1], model.sample_grid(batch)[1])  # the same styles at every call


@pytest.mark.learning
def test_munit_learns_to_reconstruct_and_keeps_diverse_styles_on_real_images():
    """200 steps on embedded Fashion-MNIST sneakers <-> ankle boots (32 px, gray): the held-out within-domain
    reconstruction error falls well below its start, and on the trained model different random styles still give
    visibly different translations (mean |x_i - x_j| over pairs of 5 sampled sneaker -> boot outputs)."""
    model, train, test = learning_setup("munit", ["data.channels=1", "train.batch_size=2", "model.num_blocks=2"])
    test = list(test.take(4))

    def reconstruction_error():
        return float(np.mean([np.abs(np.asarray(model.reconstruct(b[key], domain)) - b[key]).mean()
                              for b in test for key, domain in (("domain_a", "a"), ("domain_b", "b"))]))

    before = reconstruction_error()
    model.fit(train, steps_per_epoch=200, epochs=1, verbose=0)
    after, diversity = reconstruction_error(), sample_diversity(model, [b["domain_a"] for b in test], "a2b_sample")
    # Measured (seeds 0 / 1): reconstruction 1.06 -> 0.17 / 1.05 -> 0.17, diversity 0.16 / 0.17.
    assert after < 0.4 * before, (before, after)
    assert diversity > 0.05, diversity


def test_gray_to_colour_domains_take_and_give_the_right_channels():
    """Domains with different channels: a2b takes 1-channel images and 3-channel references of domain B; b2a the
    reverse (modes declare their input channels)."""
    model = tiny_model("munit", ["data.channels=1", "model.out_channels=3"])
    gray, colour = _images(channels=1), _images(1, channels=3)
    assert np.asarray(model.translate(gray, mode="a2b")).shape == (2, 32, 32, 3)
    assert np.asarray(model.translate(gray, mode="a2b_reference", reference=colour)).shape == (2, 32, 32, 3)
    assert np.asarray(model.translate(colour, mode="b2a_sample", num_samples=2, seed=0)).shape == (2, 2, 32, 32, 1)
    assert np.asarray(model.translate(colour, mode="b2a_reference", reference=gray)).shape == (2, 32, 32, 1)
    with pytest.raises(ValueError, match=r"reference.shape=\(2, 32, 32, 1\)"):
        model.translate(gray, mode="a2b_reference", reference=gray)
    with pytest.raises(ValueError, match=r"images.shape=\(2, 32, 32, 1\)"):
        model.translate(gray, mode="b2a")


def test_learning_rates_halve_every_step_size_and_need_a_constant_schedule():
    """`lr_step_size` / `lr_step_gamma`: the reference's `lr_policy: step` (StepLR stepped after every iteration),
    for both optimizers, following the model's step counter (which resume restores)."""
    overrides = ["model.lr_step_size=2", "model.lr_step_gamma=0.5"]
    cfg = tiny_config("munit", overrides)
    model = tiny_model("munit", overrides)
    compile_model(model, cfg)
    rates = []
    for _ in range(5):
        model.fit(model_batches(model).repeat(), steps_per_epoch=1, epochs=1, verbose=0)
        rates.append((float(model.optimizer.learning_rate.numpy()), float(model.d_optimizer.learning_rate.numpy())))
    base = cfg.optim.g_lr
    # The rate a step used: steps 0, 1 at base, 2, 3 at base / 2, 4 at base / 4.
    np.testing.assert_allclose([g for g, _ in rates], [base, base, base / 2, base / 2, base / 4], rtol=1e-6)
    np.testing.assert_allclose([d for _, d in rates], [g for g, _ in rates], rtol=1e-6)
    linear = tiny_model("munit", [*overrides, "optim.schedule=linear"])
    with pytest.raises(ValueError, match="optim.schedule: constant"):
        compile_model(linear, tiny_config("munit", [*overrides, "optim.schedule=linear"]))


def test_discriminator_update_draws_its_own_styles():
    """trainer.py's `dis_update` decodes the content codes with new random styles; "shared" reuses the generator
    step's translations. Neither passes a gradient to the generator."""
    fresh = tiny_model("munit")
    batch = next(iter(model_batches(fresh)))
    outputs = fresh.generate(batch, training=True)
    x_ba, x_ab = fresh.discriminator_fakes(outputs, training=True)
    assert x_ba.shape == outputs["x_ba"].shape
    assert not np.allclose(x_ba, outputs["x_ba"]) and not np.allclose(x_ab, outputs["x_ab"])
    expected_ba = fresh.decoder_a([outputs["c_b"], tf.zeros((2, 8))], training=True)
    assert not np.allclose(x_ba, expected_ba)  # random styles, not the mean style
    shared = tiny_model("munit", ["model.discriminator_styles=shared"])
    outputs = shared.generate(batch, training=True)
    np.testing.assert_array_equal(shared.discriminator_fakes(outputs, training=True)[0], outputs["x_ba"])


def test_discriminator_loss_is_the_references_unhalved_lsgan_sum(model):
    """calc_dis_loss: sum over scales of mean(D(fake)^2) + mean((D(real) - 1)^2), no 1/2, so that the weight decay
    of 1e-4 keeps its reference weight relative to it."""
    real, fake = _images(4), _images(5)
    terms = model.discriminator_losses({"domain_a": real, "domain_b": real}, {"x_ba": fake, "x_ab": fake},
                                       training=False)
    expected = 0.0
    for disc in (model.discriminator_a, model.discriminator_b):
        for r, f in zip(disc(real), disc(fake)):
            expected += float(np.mean(np.square(np.asarray(f))) + np.mean(np.square(np.asarray(r) - 1.0)))
    np.testing.assert_allclose(float(terms["d_adv"]), expected, rtol=1e-5)
