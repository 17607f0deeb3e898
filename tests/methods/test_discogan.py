"""DiscoGAN: its networks, its own loss terms on hand-made tensors, argument checks, and learning on real images.
(The shared contract is checked for it by tests/methods/test_methods.py.)"""

import keras
import numpy as np
import pytest

from i2i_keras import build_model
from i2i_keras.methods.discogan.discogan import DiscoGAN, feature_matching_loss, reconstruction_loss
from i2i_keras.networks import dcgan_discriminator, encoder_decoder_generator
from tests.helpers import assert_learns_unpaired_translation, tiny_config
from tests.methods.method_helpers import learning_setup


def _layers(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_encoder_decoder_generator_is_the_papers_skip_free_network():
    """At 64 px: 4 stride-2 4x4 convs to a 4x4 bottleneck of 8F, 4 transposed convs back, batch norm on every layer
    but the first and the output, no residual or skip connections (nothing merges two tensors)."""
    net = encoder_decoder_generator(3, 1, base_filters=8, num_downs=4, norm="batch")
    convs = _layers(net, keras.layers.Conv2D)
    convs = [c for c in convs if not isinstance(c, keras.layers.Conv2DTranspose)]
    ups = _layers(net, keras.layers.Conv2DTranspose)
    assert [c.filters for c in convs] == [8, 16, 32, 64]
    assert [c.filters for c in ups] == [32, 16, 8, 1]
    assert all(c.kernel_size == (4, 4) and c.strides == (2, 2) for c in convs + ups)
    assert len(_layers(net, keras.layers.BatchNormalization)) == 6
    assert not _layers(net, keras.layers.Add) and not _layers(net, keras.layers.Concatenate)
    assert len(_layers(net, keras.layers.LeakyReLU)) == 4 and len(_layers(net, keras.layers.ReLU)) == 3
    assert net.get_layer("down0_lrelu").input is net.get_layer("down0_conv").output  # no norm on the first layer
    bottleneck = keras.Model(net.input, net.get_layer("down3_lrelu").output)
    assert bottleneck(np.zeros((1, 64, 64, 3), "float32")).shape == (1, 4, 4, 64)
    out = net(np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32"))
    assert out.shape == (2, 64, 64, 1) and float(np.abs(out).max()) <= 1.0
    with pytest.raises(ValueError, match="num_downs=0"):
        encoder_decoder_generator(num_downs=0)


def test_dcgan_discriminator_gives_one_logit_per_image_at_64px_and_its_features():
    net = dcgan_discriminator(3, base_filters=8, num_layers=4, norm="batch", return_features=True)
    logits, *features = net(np.zeros((2, 64, 64, 3), "float32"))
    assert logits.shape == (2, 1, 1, 1) and logits.dtype == "float32"
    assert [tuple(f.shape) for f in features] == [(2, 16, 16, 16), (2, 8, 8, 32), (2, 4, 4, 64)]
    plain = dcgan_discriminator(3, base_filters=8, num_layers=4)
    assert len(plain.weights) == len(net.weights)
    assert plain(np.zeros((1, 128, 128, 3), "float32")).shape == (1, 5, 5, 1)  # larger inputs: a map of logits


def test_reconstruction_loss_is_the_mse_of_zero_one_pixels():
    a = np.full((1, 2, 2, 1), -1.0, "float32")
    b = np.ones((1, 2, 2, 1), "float32")
    np.testing.assert_allclose(reconstruction_loss(a, b), 1.0, rtol=1e-6)  # pixels 0 vs 1
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32"), rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(reconstruction_loss(x, y), np.mean(((x + 1) / 2 - (y + 1) / 2) ** 2), rtol=1e-5)
    assert float(reconstruction_loss(x, x)) == 0.0


def test_feature_matching_compares_batch_means_per_layer():
    real = [np.array([1.0, 3.0], "float32").reshape(2, 1, 1, 1), np.zeros((2, 1, 1, 2), "float32")]
    fake = [np.zeros((2, 1, 1, 1), "float32"), np.array([[1.0, 1.0], [1.0, 3.0]], "float32").reshape(2, 1, 1, 2)]
    # layer 1: (2 - 0)^2 = 4; layer 2: mean over channels of (0 - [1, 2])^2 = 2.5
    np.testing.assert_allclose(feature_matching_loss(real, fake), 6.5, rtol=1e-6)
    # Only the batch means are matched: swapping values between examples costs nothing.
    swapped = [np.array([3.0, 1.0], "float32").reshape(2, 1, 1, 1)]
    assert float(feature_matching_loss(real[:1], swapped)) == 0.0


def test_loss_terms_follow_the_weights_and_use_the_generators_outputs():
    model = build_model(tiny_config("discogan"))
    rng = np.random.default_rng(0)
    batch = {"domain_a": rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"),
             "domain_b": rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")}
    outputs = model.generate(batch, training=False)
    terms = model.generator_losses(batch, outputs, training=False)
    assert set(terms) == {"g_adv", "g_rec"}  # g_fm has weight 0 by default (the paper has no such term)
    expected = (reconstruction_loss(model.generator_ba(model.generator_ab(batch["domain_a"])), batch["domain_a"])
                + reconstruction_loss(model.generator_ab(model.generator_ba(batch["domain_b"])), batch["domain_b"]))
    np.testing.assert_allclose(terms["g_rec"], expected, rtol=1e-5)
    # A perfect reconstruction gives a zero g_rec.
    perfect = dict(outputs, cycled_a=batch["domain_a"], cycled_b=batch["domain_b"])
    assert float(model.generator_losses(batch, perfect, training=False)["g_rec"]) == 0.0
    with_fm = build_model(tiny_config("discogan", ["loss_weights.g_fm=0.9"]))
    terms = with_fm.generator_losses(batch, with_fm.generate(batch, training=False), training=False)
    assert set(terms) == {"g_adv", "g_rec", "g_fm"} and float(terms["g_fm"]) > 0
    # Translations of real images are what D sees as fakes.
    assert set(model.discriminator_losses(batch, outputs, training=False)) == {"d_adv"}


def test_arguments_are_checked_with_the_received_values():
    with pytest.raises(ValueError, match="image_size=40, num_downs=4"):
        DiscoGAN(image_size=40, base_filters=8)
    with pytest.raises(ValueError, match="image_size=32, disc_layers=4"):
        DiscoGAN(image_size=32, base_filters=8, num_downs=3, disc_layers=4)
    with pytest.raises(ValueError, match="norm='group'"):
        DiscoGAN(image_size=64, base_filters=8, norm="group")
    with pytest.raises(ValueError, match="num_downs=2.5"):
        DiscoGAN(image_size=64, base_filters=8, num_downs=2.5)
    model = DiscoGAN(image_size=64, base_filters=8, num_downs=4, in_channels=1, out_channels=3)
    assert model.size_multiple == 16
    assert model.translate(np.zeros((1, 20, 30, 1), "float32"), mode="a2b").shape == (1, 20, 30, 3)


@pytest.mark.learning
def test_discogan_learns_sneakers_to_ankle_boots():
    """300 steps on embedded Fashion-MNIST sneakers <-> ankle boots (32 px, gray), with the authors' code recipe
    (feature matching 0.9 / GAN 0.1 against reconstruction 1; D at a third of G's learning rate, standing in for
    its one D update per three iterations). On held-out images: the A -> B -> A error falls below half its start
    and below that of an all-background guess, and translated sneakers move to the boots' mean image."""
    model, train, test = learning_setup("discogan", [
        "data.channels=1", "model.num_downs=3", "model.base_filters=16", "model.norm=batch", "train.batch_size=8",
        "optim.g_lr=5e-4", "optim.d_lr=1.5e-4", "loss_weights.g_adv=0.1", "loss_weights.g_fm=0.9"])
    assert_learns_unpaired_translation(model, train, test, steps=300)


def _authors_code_model(overrides=()):
    """The tiny DiscoGAN with the authors' code's recipe (configs/discogan/authors_code_64.yaml's model and loss
    options), compiled with the tiny config's optimizers."""
    from i2i_keras.training.loop import compile_model

    recipe = ["model.update_interval=3", "model.recon_rate=0.5", "model.recon_rate_start=0.01",
              "model.curriculum_steps=2", "loss_weights.g_adv=0.1", "loss_weights.g_fm=0.9",
              "loss_weights.g_weight_decay=1e-5", "loss_weights.d_weight_decay=1e-5", *overrides]
    cfg = tiny_config("discogan", recipe)
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    compile_model(model, cfg)
    return model


def _synthetic_unpaired(model, count):
    from tests.helpers import model_batches

    return model_batches(model, count=count)


def test_authors_code_updates_d_every_third_step_and_g_on_the_others():
    """image_translation.py: `if iters % update_interval == 0: D step, else: G step`, one batch per iteration."""
    model = _authors_code_model()
    g_before = [v.numpy().copy() for v in model.generator_variables()]
    d_before = [v.numpy().copy() for v in model.discriminator_variables()]
    changed = []
    for step, batch in enumerate(_synthetic_unpaired(model, 4)):
        model.train_step(batch)
        g_now = [v.numpy().copy() for v in model.generator_variables()]
        d_now = [v.numpy().copy() for v in model.discriminator_variables()]
        changed.append((any(np.any(a != b) for a, b in zip(g_before, g_now)),
                        any(np.any(a != b) for a, b in zip(d_before, d_now))))
        g_before, d_before = g_now, d_now
    assert changed == [(False, True), (True, False), (True, False), (False, True)]
    assert int(model.optimizer.iterations.numpy()) == 2 and int(model.d_optimizer.iterations.numpy()) == 2
    # The same schedule inside `fit`'s compiled step: steps 4..8 are G, G, D, G, G.
    history = model.fit(_synthetic_unpaired(model, 5).repeat(), steps_per_epoch=5, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert int(model.optimizer.iterations.numpy()) == 6 and int(model.d_optimizer.iterations.numpy()) == 3


def test_reconstruction_curriculum_mixes_the_terms_as_the_authors_code():
    """(GAN x 0.1 + FM x 0.9) x (1 - rate) + reconstruction x rate, rate 0.01 before `curriculum_steps`, then 0.5;
    the weight-decay term stays outside the mix."""
    model = _authors_code_model()
    terms = {"g_adv": 2.0, "g_fm": 3.0, "g_rec": 5.0, "g_weight_decay": 7.0}
    early = float(model._weighted_total(terms))
    np.testing.assert_allclose(early, (0.1 * 2 + 0.9 * 3) * 0.99 + 5 * 0.01 + 1e-5 * 7, rtol=1e-6)
    model.train_steps.assign(2)
    late = float(model._weighted_total(terms))
    np.testing.assert_allclose(late, (0.1 * 2 + 0.9 * 3) * 0.5 + 5 * 0.5 + 1e-5 * 7, rtol=1e-6)
    paper = build_model(tiny_config("discogan"))
    assert paper.current_recon_rate() is None
    with pytest.raises(ValueError, match="recon_rate=None"):
        DiscoGAN(image_size=64, curriculum_steps=10)
    with pytest.raises(ValueError, match="recon_rate=1.5"):
        DiscoGAN(image_size=64, recon_rate=1.5)


def test_weight_decay_terms_and_the_bias_free_reference_networks():
    model = _authors_code_model()
    batch = next(iter(_synthetic_unpaired(model, 1)))
    outputs = model.generate(batch, training=True)
    g_terms = model.generator_losses(batch, outputs)
    d_terms = model.discriminator_losses(batch, outputs)
    expected_g = 0.5 * sum(float(np.sum(v.numpy() ** 2)) for v in model.generator_variables())
    expected_d = 0.5 * sum(float(np.sum(v.numpy() ** 2)) for v in model.discriminator_variables())
    np.testing.assert_allclose(float(g_terms["g_weight_decay"]), expected_g, rtol=1e-5)
    np.testing.assert_allclose(float(d_terms["d_weight_decay"]), expected_d, rtol=1e-5)
    # SKTBrain/DiscoGAN model.py: every convolution bias=False (use_bias=True adds them back).
    convs = [layer for net in (model.generator_ab, model.discriminator_a) for layer in net.layers
             if isinstance(layer, keras.layers.Conv2D)]
    assert convs and not any(layer.use_bias for layer in convs)
    biased = DiscoGAN(image_size=64, base_filters=8, use_bias=True)
    assert all(layer.use_bias for layer in biased.generator_ab.layers if isinstance(layer, keras.layers.Conv2D))


def test_inference_norm_batch_uses_the_test_batchs_statistics():
    """The authors' code never calls eval(): batch norm normalises with the test batch's statistics."""
    model = DiscoGAN(image_size=64, base_filters=8, inference_norm="batch", seed=0)
    images = np.random.default_rng(0).uniform(-1, 1, (3, 64, 64, 3)).astype("float32")
    expected = np.asarray(model.generator_ab(images, training=True))
    np.testing.assert_allclose(np.asarray(model.translate(images, mode="a2b")), expected, atol=1e-5)
    assert model.metadata()["inference_norm"] == "batch"
    with pytest.raises(ValueError, match="inference_norm='eval'"):
        DiscoGAN(image_size=64, inference_norm="eval")
