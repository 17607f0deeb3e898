"""UNIT: weight sharing, the latent noise, its own loss terms on hand-made tensors, argument checks, and learning on
real images. (The shared contract is checked for it by tests/methods/test_methods.py.)"""

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import build_model, losses
from i2i_keras.methods.unit.unit import UNIT
from i2i_keras.networks import residual_stack
from i2i_keras.training.loop import compile_model
from tests.helpers import assert_learns_unpaired_translation, synthetic_batches, tiny_config
from tests.methods.method_helpers import learning_setup


def _batch(seed=0, size=32):
    rng = np.random.default_rng(seed)
    return {"domain_a": rng.uniform(-1, 1, (2, size, size, 3)).astype("float32"),
            "domain_b": rng.uniform(-1, 1, (2, size, size, 3)).astype("float32")}


def test_kl_of_a_unit_variance_gaussian_posterior():
    # A standard normal posterior has zero KL; for N(mu, I) the closed form is 0.5 sum(mu^2), which UNIT's term
    # mean(mu^2) equals up to the constant 0.5 * dims (the reference code's choice; the weights are set for it).
    zeros = np.zeros((3, 4, 4, 8), "float32")
    assert float(losses.kl_divergence(zeros.reshape(3, -1), zeros.reshape(3, -1))) == 0.0
    assert float(losses.mean_square(zeros)) == 0.0
    mu = np.random.default_rng(0).normal(size=(3, 4, 4, 8)).astype("float32")
    flat = mu.reshape(3, -1)
    closed_form = np.mean(0.5 * np.sum(flat ** 2, axis=1))
    np.testing.assert_allclose(losses.kl_divergence(flat), closed_form, rtol=1e-5)
    np.testing.assert_allclose(losses.kl_divergence(flat, np.zeros_like(flat)), closed_form, rtol=1e-5)
    np.testing.assert_allclose(losses.mean_square(mu), closed_form / (0.5 * flat.shape[1]), rtol=1e-5)
    # And the general closed form for a known mu / logvar: -0.5 (1 + logvar - mu^2 - exp(logvar)) per dimension.
    mu1, logvar1 = np.array([[1.0, -2.0]], "float32"), np.array([[0.0, np.log(4.0)]], "float32")
    expected = -0.5 * ((1 + 0 - 1 - 1) + (1 + np.log(4.0) - 4 - 4))
    np.testing.assert_allclose(losses.kl_divergence(mu1, logvar1), expected, rtol=1e-6)


def test_shared_layers_are_the_same_variables_in_both_streams_and_updated_once():
    model = build_model(tiny_config("unit"))
    shared = model.shared_encoder.trainable_variables + model.shared_decoder.trainable_variables
    assert shared
    variables = model.generator_variables()
    assert len({id(v) for v in variables}) == len(variables)  # each variable once in the optimizer's list
    per_model = sum(len(m.trainable_variables) for m in (model.encoder_front_a, model.encoder_front_b,
                                                           model.shared_encoder, model.shared_decoder,
                                                           model.decoder_back_a, model.decoder_back_b))
    assert len(variables) == per_model
    # Both encoders and both generators read the shared variables: gradients of either domain's path reach them.
    batch = _batch()
    for domain, images in (("a", batch["domain_a"]), ("b", batch["domain_b"])):
        with tf.GradientTape() as tape:
            out = model.decode(model.encode(images, domain, training=True), domain, training=True)
            loss = tf.reduce_mean(tf.square(out))
        grads = tape.gradient(loss, shared)
        assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads), domain
    # Changing a shared variable changes both domains' latents.
    mu_a, mu_b = model.encode(batch["domain_a"], "a"), model.encode(batch["domain_b"], "b")
    kernel = model.shared_encoder.trainable_variables[0]
    kernel.assign(kernel * 2.0)
    assert not np.allclose(model.encode(batch["domain_a"], "a"), mu_a)
    assert not np.allclose(model.encode(batch["domain_b"], "b"), mu_b)
    # One optimizer step updates each shared variable once: Adam holds one moment slot per distinct variable.
    compile_model(model, tiny_config("unit"))
    assert len([v for v in model.optimizer.variables if v.path.endswith("_momentum")]) == len(variables)
    before = [v.numpy().copy() for v in shared]
    model.train_step(next(iter(synthetic_batches("unpaired"))))
    assert all(np.abs(b - v.numpy()).max() > 0 for b, v in zip(before, shared))


def test_residual_stack_keeps_the_feature_shape():
    net = residual_stack(16, num_blocks=2, norm="instance")
    assert net(np.zeros((2, 5, 7, 16), "float32")).shape == (2, 5, 7, 16)
    with pytest.raises(ValueError, match="num_blocks=0"):
        residual_stack(16, num_blocks=0)


def test_latent_is_mean_plus_unit_noise_in_training_and_the_mean_at_inference():
    model = build_model(tiny_config("unit"))
    mu = np.full((4, 8, 8, 32), 3.0, "float32")
    np.testing.assert_array_equal(model.sample_latent(mu, training=False), mu)
    noise = np.asarray(model.sample_latent(mu, training=True)) - mu
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1.0) < 0.05
    again = np.asarray(model.sample_latent(mu, training=True)) - mu
    assert not np.allclose(noise, again)  # fresh noise on every draw
    batch = _batch()
    first, second = model.generate(batch, training=True), model.generate(batch, training=True)
    assert not np.allclose(first["recon_a"], second["recon_a"])
    np.testing.assert_array_equal(model.generate(batch, training=False)["fake_b"],
                                  model.generate(batch, training=False)["fake_b"])
    np.testing.assert_allclose(model.translate(batch["domain_a"], mode="a2b"),
                               model.generate(batch, training=False)["fake_b"], atol=1e-6)


def test_generator_terms_on_hand_made_outputs():
    model = build_model(tiny_config("unit", ["loss_weights.g_adv=0", "loss_weights.g_weight_decay=0"]))
    batch = _batch()
    x_a, x_b = batch["domain_a"], batch["domain_b"]
    mu = np.zeros((2, 8, 8, 32), "float32")
    outputs = {"mu_a": mu + 2.0, "mu_b": mu + 1.0, "mu_ab": mu - 3.0, "mu_ba": mu,
               "recon_a": x_a, "recon_b": x_b + 0.5, "cycled_a": x_a - 0.25, "cycled_b": x_b,
               "fake_a": x_a, "fake_b": x_b}
    terms = {k: float(v) for k, v in model.generator_losses(batch, outputs).items()}
    assert set(terms) == {"g_kl", "g_rec", "g_kl_cycle", "g_cycle"}
    np.testing.assert_allclose(terms["g_kl"], 4.0 + 1.0, rtol=1e-6)
    np.testing.assert_allclose(terms["g_kl_cycle"], 9.0, rtol=1e-6)
    np.testing.assert_allclose(terms["g_rec"], 0.5, rtol=1e-5)
    np.testing.assert_allclose(terms["g_cycle"], 0.25, rtol=1e-5)
    # The paper's weights (lambda_0..4 = 10, 0.1, 100, 0.1, 100) and the reference's Adam weight decay of 1e-4
    # (mingyuliutw/UNIT src/trainers/cocogan_trainer.py) are the defaults.
    assert UNIT.default_loss_weights == {"g_adv": 10.0, "g_kl": 0.1, "g_rec": 100.0, "g_kl_cycle": 0.1,
                                         "g_cycle": 100.0, "g_weight_decay": 1e-4, "d_adv": 10.0,
                                         "d_weight_decay": 1e-4}


def test_arguments_are_checked_with_the_received_values():
    with pytest.raises(ValueError, match="image_size=30"):
        UNIT(image_size=30, base_filters=8)
    with pytest.raises(ValueError, match="shared_blocks=0"):
        UNIT(image_size=32, base_filters=8, shared_blocks=0)
    with pytest.raises(ValueError, match="gan_mode='bce'"):
        UNIT(image_size=32, base_filters=8, gan_mode="bce")
    with pytest.raises(ValueError, match="norm='group'"):
        UNIT(image_size=32, base_filters=8, norm="group")
    model = UNIT(image_size=32, base_filters=8, enc_blocks=0, dec_blocks=0, in_channels=1, out_channels=3)
    assert model.translate(np.zeros((1, 18, 22, 1), "float32"), mode="a2b").shape == (1, 18, 22, 3)
    b2a = model.translation_modes()["b2a"].fn(np.zeros((1, 20, 24, 3), "float32"))
    assert b2a.shape == (1, 20, 24, 1)


@pytest.mark.learning
def test_unit_learns_sneakers_to_ankle_boots():
    """200 steps on embedded Fashion-MNIST sneakers <-> ankle boots (32 px, gray) with the paper's loss weights: on
    held-out images the A -> B -> A error falls below half its start and below that of an all-background guess,
    and translated sneakers move to the boots' mean image. (Adam at 1e-3: the reference's 3x3 strided layers and
    1x1 output convolution need it to get there within the CPU budget; at 5e-4 they need about 400 steps.)"""
    model, train, test = learning_setup("unit", ["data.channels=1", "model.base_filters=16", "model.disc_scales=1",
                                                 "model.disc_layers=4", "train.batch_size=4", "optim.g_lr=1e-3",
                                                 "optim.d_lr=1e-3"])
    assert_learns_unpaired_translation(model, train, test, steps=200)


def test_reference_discriminator_loss_and_weight_decay_terms():
    """cocogan_trainer.py: D loss gan_w x (BCE(real, 1) + BCE(fake, 0)) per domain, no 1/2, next to Adam's
    weight_decay=1e-4 (here 0.5 |w|^2 terms whose gradient is w)."""
    model = build_model(tiny_config("unit", ["model.disc_scales=1"]))
    batch = _batch()
    fakes = {"fake_a": batch["domain_b"], "fake_b": batch["domain_a"]}
    terms = model.discriminator_losses(batch, fakes, training=False)

    def bce(logits, target):
        logits = np.asarray(logits[0] if isinstance(logits, list) else logits, "float64")
        return np.mean(np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits))))

    expected = sum(bce(d(batch[real]), 1.0) + bce(d(fakes[fake]), 0.0)
                   for d, real, fake in ((model.discriminator_a, "domain_a", "fake_a"),
                                         (model.discriminator_b, "domain_b", "fake_b")))
    np.testing.assert_allclose(float(terms["d_adv"]), expected, rtol=1e-5)
    expected_decay = 0.5 * sum(float(np.sum(v.numpy() ** 2)) for v in model.discriminator_variables())
    np.testing.assert_allclose(float(terms["d_weight_decay"]), expected_decay, rtol=1e-5)
    assert model.loss_weights["d_weight_decay"] == model.loss_weights["g_weight_decay"] == 1e-4


def test_networks_are_the_reference_layers():
    """COCOResGen / COCODis (mingyuliutw/UNIT src/trainers/cocogan_nets.py): 3x3 strided convolutions, a 1x1
    output convolution, instance norm without parameters, a 3x3-kernel critic with LeakyReLU 0.01."""
    model = UNIT(image_size=32, base_filters=8, disc_layers=3)
    front = model.encoder_front_a
    assert front.get_layer("in_conv").kernel_size == (7, 7)
    assert front.get_layer("down0_conv").kernel_size == (3, 3) and front.get_layer("down0_conv").strides == (2, 2)
    assert not front.get_layer("down0_norm").trainable_weights
    assert model.decoder_back_a.get_layer("out_conv").kernel_size == (1, 1)
    critic = model.discriminator_a
    assert [critic.get_layer(f"s0_conv{i}").filters for i in range(3)] == [8, 16, 32]
    assert critic.get_layer("s0_conv0").kernel_size == (3, 3)
    out = np.asarray(critic.get_layer("s0_lrelu0")(np.array([[[[-1.0]]]], "float32")))
    np.testing.assert_allclose(out, -0.01)
