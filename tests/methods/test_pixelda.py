"""PixelDA: networks and losses as the reference, one optimizer for generator and classifier, the translate mode,
and a learning test on the embedded MNIST -> mnist_m_like task (target accuracy above the source-only baseline)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import losses
from i2i_keras.config import load_config
from i2i_keras.methods.base import build_model
from i2i_keras.methods.dann.classification import cross_entropy
from i2i_keras.training.loop import compile_model
from tests.helpers import LEARNING_SEEDS, REPO, model_batches, tiny_config
from tests.methods.test_dann import MARGIN, train_embedded


def _tiny(overrides=()):
    cfg = tiny_config("pixelda", overrides)
    model = build_model(cfg)
    compile_model(model, cfg)
    return model


def test_networks_have_the_reference_shapes():
    cfg = load_config(os.path.join(REPO, "configs", "pixelda", "paper_32.yaml"))
    model = build_model(cfg)
    assert model.image_size == 32 and model.latent_dim == 10
    # Generator: noise -> one 32x32 plane per channel, concatenated with the image; 6 residual blocks of 64.
    assert model.generator.get_layer("noise_fc").output.shape[-1] == 32 * 32 * 3
    assert len([l for l in model.generator.layers if l.name.endswith("_add")]) == 6
    # Discriminator: 4 stride-2 blocks (32 -> 2), one score per patch; classifier: 512 x 2 x 2 -> 10 logits.
    assert model.discriminator.compute_output_shape((1, 32, 32, 3)) == (1, 2, 2, 1)
    assert model.classifier.get_layer("logits").kernel.shape == (512 * 2 * 2, 10)
    assert model.metadata()["modes"] == ["classify", "classify_source_only", "translate"]


def test_losses_are_the_references():
    model = _tiny()
    batch = next(iter(model_batches(model)))
    outputs = model.generate(batch, training=False)
    terms = model.generator_losses(batch, outputs, training=False)
    labels = batch["source_label"]
    task = 0.5 * (cross_entropy(labels, model.classifier(outputs["fake"])) +
                  cross_entropy(labels, model.classifier(batch["source"])))
    np.testing.assert_allclose(float(terms["g_task"]), float(task), rtol=1e-5)
    fake_scores = model.discriminator(outputs["fake"])
    np.testing.assert_allclose(float(terms["g_adv"]), float(tf.reduce_mean((fake_scores - 1.0) ** 2)), rtol=1e-5)
    d = model.discriminator_losses(batch, outputs, training=False)["d_adv"]
    real_scores = model.discriminator(batch["target"])
    expected = 0.5 * (tf.reduce_mean((real_scores - 1.0) ** 2) + tf.reduce_mean(fake_scores ** 2))
    np.testing.assert_allclose(float(d), float(expected), rtol=1e-5)
    assert float(d) == pytest.approx(float(losses.discriminator_adversarial(real_scores, fake_scores, "lsgan")))
    assert model.default_loss_weights == {"g_adv": 1.0, "g_task": 0.1, "g_source_only": 0.1, "d_adv": 1.0}


def test_one_optimizer_updates_generator_and_classifier():
    model = _tiny()
    ids = lambda variables: {id(v) for v in variables}  # noqa: E731  (paths repeat across the sub-networks)
    updated = ids(model.generator_variables())
    assert ids(model.generator.trainable_variables) <= updated
    assert ids(model.classifier.trainable_variables) <= updated
    assert not updated & ids(model.discriminator.trainable_variables)
    assert ids(model.discriminator_variables()) == ids(model.discriminator.trainable_variables)
    assert model.update_discriminator_first is False


def test_translate_keeps_the_input_size_and_is_deterministic():
    model = _tiny()
    images = np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 3)).astype("float32")
    first = model.translate(images, mode="translate").numpy()
    assert first.shape == (2, 28, 28, 3) and np.abs(first).max() <= 1.0
    np.testing.assert_array_equal(first, model.translate(images, mode="translate").numpy())
    assert len(model.sample_grid(next(iter(model_batches(model))))) == 3


def test_bad_arguments_name_what_was_received():
    with pytest.raises(ValueError, match="multiple of 2\\*\\*disc_blocks=4. Received: image_size=30"):
        build_model(tiny_config("pixelda", ["data.crop_size=30"]))
    with pytest.raises(ValueError, match="Received: latent_dim=0"):
        build_model(tiny_config("pixelda", ["model.latent_dim=0"]))


@pytest.mark.learning
@pytest.mark.parametrize("seed", LEARNING_SEEDS)
def test_pixelda_beats_the_source_only_baseline_on_the_target(seed):
    """configs/pixelda/default.yaml for 300 steps of 32 + 32: the task classifier trained on translated and source
    images classifies the 250 labelled mnist_m_like test targets better than the source-only classifier trained
    on the same batches with the same optimizer in the same run, by MARGIN."""
    cfg = load_config(os.path.join(REPO, "configs", "pixelda", "default.yaml"),
                      overrides=[f"train.seed={seed}", "train.steps=300"])
    adapted, source_only = train_embedded(cfg, seed)
    assert adapted >= source_only + MARGIN, (adapted, source_only)
