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
