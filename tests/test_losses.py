import numpy as np
import pytest

from i2i_keras import losses


def test_lsgan_terms_on_hand_made_logits():
    real = np.array([[1.0, 0.0]], "float32")
    fake = np.array([[0.5, -1.0]], "float32")
    # 0.5 * (mean((real-1)^2) + mean(fake^2)) = 0.5 * (0.5 + 0.625)
    np.testing.assert_allclose(losses.discriminator_adversarial(real, fake, "lsgan"), 0.5625, rtol=1e-6)
    # mean((fake-1)^2) = (0.25 + 4) / 2
    np.testing.assert_allclose(losses.generator_adversarial(fake, "lsgan"), 2.125, rtol=1e-6)


def test_vanilla_hinge_wgan_terms():
    real = np.array([2.0, -1.0], "float32")
    fake = np.array([0.0, 3.0], "float32")
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    expected = 0.5 * (np.mean(softplus(-real)) + np.mean(softplus(fake)))
    np.testing.assert_allclose(losses.discriminator_adversarial(real, fake, "vanilla"), expected, rtol=1e-5)
    np.testing.assert_allclose(losses.generator_adversarial(fake, "vanilla"), np.mean(softplus(-fake)), rtol=1e-5)
    # hinge: mean(relu(1-real)) + mean(relu(1+fake)) = (0 + 2)/2 + (1 + 4)/2
    np.testing.assert_allclose(losses.discriminator_adversarial(real, fake, "hinge"), 3.5, rtol=1e-6)
    np.testing.assert_allclose(losses.generator_adversarial(fake, "hinge"), -1.5, rtol=1e-6)
    np.testing.assert_allclose(losses.discriminator_adversarial(real, fake, "wgan"), 1.5 - 0.5, rtol=1e-6)


def test_multiscale_outputs_are_averaged():
    a = np.zeros((1, 2), "float32")
    b = np.ones((1, 4), "float32")
    single_a = float(losses.generator_adversarial(a, "lsgan"))
    single_b = float(losses.generator_adversarial(b, "lsgan"))
    np.testing.assert_allclose(losses.generator_adversarial([a, b], "lsgan"), (single_a + single_b) / 2)


def test_l1_and_unknown_mode():
    np.testing.assert_allclose(losses.l1(np.array([1.0, -1.0]), np.array([0.0, 1.0])), 1.5)
    with pytest.raises(ValueError, match="gan_mode='nope'"):
        losses.generator_adversarial(np.zeros(2), "nope")
