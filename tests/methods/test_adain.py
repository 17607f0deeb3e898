"""adain (Huang and Belongie): learning on real images with an unseen style, alpha, interpolation, the reference
export through the bytes signature, and the options' errors."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import losses
from i2i_keras.data import style_images
from i2i_keras.errors import ConfigError
from i2i_keras.methods.adain.adain import ENCODER_TAPS
from tests.methods.method_helpers import learning_setup, tiny_model


def _style_distance(model, images, style):
    return float(losses.mean_std_loss(model.encoder, images, style, ENCODER_TAPS))


@pytest.mark.learning
def test_adain_learns_to_transfer_an_unseen_style_and_alpha_0_reproduces_the_content(vgg16_offline, tmp_path):
    """Trained 300 steps on embedded photos with three styles (starry_night, brick, grass) and the default config's
    losses (the paper's content 1 / style 10 plus SANet's pixel identity term), then given gravel, a style it never
    saw, on held-out photos: the output's VGG mean/std (relu1_1..relu4_1) come at least 1.8x closer to gravel's than
    the untrained decoder's output, and far closer than the content's own statistics are. alpha=0 reproduces the
    content: its pixel L1 to the content at most 0.6x the untrained decoder's, and each alpha=0 output correlates
    with its own content (grey levels) far more than with the other photos. Measured: alpha=0 L1 0.53 -> 0.27,
    correlation with its own content 0.71 vs -0.11 with the others (50 s on 2 cores). (Without the identity term, the paper's losses
    alone, the alpha=0 output after 300 or 600 steps is no nearer its content than the untrained one: L1 0.53 ->
    0.55, correlation 0.01 vs 0.00; the paper's decoder has 160k iterations to learn the inversion.)"""
    styles = tmp_path / "styles"
    styles.mkdir()
    for name in ("starry_night.jpg", "brick.png", "grass.png"):
        shutil.copy(os.path.join(style_images.STYLES_DIR, name), styles)
    model, train, test = learning_setup("adain", [f"model.styles={styles}", "model.weights=offline",
                                                  "model.base_filters=16", "train.batch_size=4", "optim.g_lr=1e-3",
                                                  "loss_weights.g_identity_pixel=12.5"])
    content = np.concatenate([b["image"] for b in test])
    gravel = style_images.load_square_stack("embedded:gravel", 32)  # one reference serves the whole batch

    def kept_vs_content(kept):  # alpha=0 outputs: pixel L1 to their content; grey-level correlation own / others
        z = [(g - g.mean()) / (g.std() + 1e-6) for g in (kept.mean(-1), content.mean(-1))]
        corr = np.einsum("ihw,jhw->ij", z[0], z[1]) / np.prod(content.shape[1:3])
        others = (corr.sum() - np.trace(corr)) / (len(corr) * (len(corr) - 1))
        return float(np.abs(kept - content).mean()), float(np.mean(np.diag(corr))), float(others)

    before = _style_distance(model, model.translate(content, mode="reference", reference=gravel), gravel)
    untrained = kept_vs_content(np.asarray(model.translate(content, mode="reference_alpha", reference=gravel,
                                                           alpha=0.0)))
    model.fit(train, steps_per_epoch=300, epochs=1, verbose=0)
    styled = np.asarray(model.translate(content, mode="reference", reference=gravel))
    trained = kept_vs_content(np.asarray(model.translate(content, mode="reference_alpha", reference=gravel,
                                                         alpha=0.0)))
    after = _style_distance(model, styled, gravel)
    print("adain gravel mean/std distance", before, after, "alpha=0 vs content (L1, correlation own, others)",
          {"untrained": untrained, "trained": trained})
    assert after < before / 1.8, (before, after)
    assert after < _style_distance(model, content, gravel) / 3
    assert trained[0] < 0.6 * untrained[0], (untrained, trained)
    assert trained[1] > 0.2 and trained[1] > trained[2] + 0.15, trained


def test_alpha_interpolation_and_their_errors():
    model = tiny_model("adain")
    rng = np.random.default_rng(0)
    content = rng.uniform(-1, 1, (2, 24, 40, 3)).astype("float32")
    a, b = (rng.uniform(-1, 1, (1, 16, 16, 3)).astype("float32") for _ in range(2))
    one = np.asarray(model.translate(content, mode="reference", reference=np.repeat(a, 2, axis=0)))
    # alpha=1 is the default mode; alpha between mixes the AdaIN target linearly (checked at the decoder's input).
    full = np.asarray(model.translate(content, mode="reference_alpha", reference=np.repeat(a, 2, axis=0),
                                      alpha=1.0))
    np.testing.assert_allclose(one, full, atol=1e-6)
    # alpha=0 decodes the content's own features: the reference no longer matters.
    zero_a, zero_b = (np.asarray(model.translate(content, mode="reference_alpha", reference=r, alpha=0.0))
                      for r in (a, b))
    np.testing.assert_allclose(zero_a, zero_b, atol=1e-6)
    np.testing.assert_allclose(model.interpolate(content, [a]), one, atol=1e-5)
    np.testing.assert_allclose(model.interpolate(content, [a, b], weights=[1, 0]), one, atol=1e-5)
    mixed = np.asarray(model.interpolate(content, [a, b], weights=[0.5, 0.5]))
    assert mixed.shape == content.shape and np.abs(mixed - one).max() > 0
    with pytest.raises(ValueError, match="weights"):
        model.interpolate(content, [a, b], weights=[1])
    with pytest.raises(ValueError, match="styles"):
        model.interpolate(content, [])
    with pytest.raises(ConfigError, match="alpha"):
        tiny_model("adain", ["model.alpha=1.5"])
    with pytest.raises(ConfigError, match="image_size"):
        tiny_model("adain", ["data.crop_size=4", "data.load_size=4"])


def test_identity_terms_decode_the_content_and_the_style_from_their_own_features():
    """SANet's identity terms: the images decoded from their own relu4_1 features are what alpha=0 decodes, and
    the terms are the sums of the content's and the style's pixel / feature MSEs; off (not computed) at weight 0."""
    model = tiny_model("adain", ["loss_weights.g_identity_pixel=12.5", "loss_weights.g_identity_feature=1"])
    content = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    outputs = model.generate({"image": content}, training=False)
    identity, style = np.asarray(outputs["identity"]), np.asarray(outputs["style"])
    np.testing.assert_allclose(np.clip(identity[:2], -1, 1),
                               model.translate(content, mode="reference_alpha", reference=style, alpha=0.0),
                               atol=1e-5)
    terms = model.generator_losses({"image": content}, outputs)
    pixel = np.mean((identity[:2] - content) ** 2) + np.mean((identity[2:] - style) ** 2)
    np.testing.assert_allclose(float(terms["g_identity_pixel"]), pixel, rtol=1e-4)
    decoded, original = model.encoder(identity), model.encoder(np.concatenate([content, style]))
    feature = sum(np.mean((np.asarray(decoded[t][:2]) - np.asarray(original[t][:2])) ** 2)
                  + np.mean((np.asarray(decoded[t][2:]) - np.asarray(original[t][2:])) ** 2) for t in ENCODER_TAPS)
    np.testing.assert_allclose(float(terms["g_identity_feature"]), feature, rtol=1e-4)
    paper = tiny_model("adain", ["loss_weights.g_identity_pixel=0"])
    outputs = paper.generate({"image": content}, training=False)
    assert "identity" not in outputs
    assert set(paper.generator_losses({"image": content}, outputs)) == {"g_content", "g_style"}


def test_style_crops_come_from_the_bank():
    model = tiny_model("adain")
    assert tuple(model.style_bank.shape) == (4, 64, 64, 3)  # embedded:styles at 2 x image_size
    crops = np.asarray(model.style_crops(6))
    assert crops.shape == (6, 32, 32, 3) and crops.min() >= -1.0 and crops.max() <= 1.0
    # Encoder weights are the model's (frozen) state: saved with it and captured by the export.
    names = {v.path for v in model.non_trainable_variables}
    assert any("block4_conv1" in n for n in names) and not any("block4_conv1" in v.path
                                                               for v in model.trainable_variables)


def test_reference_bytes_signature_serves_a_content_and_a_style_image(tmp_path):
    from i2i_keras.data import transforms
    from i2i_keras.export import export_for_serving, load_exported

    model = tiny_model("adain")
    loaded, metadata = load_exported(export_for_serving(model, str(tmp_path / "export"), tiled=False))
    assert metadata["modes"] == ["stylize", "reference", "reference_alpha"]
    photo = style_images.load("embedded:photos/test/coffee_0.png", 40)[None]
    style = style_images.load("embedded:starry_night", 32)[None]
    photo_png = tf.io.encode_png(transforms.to_uint8(photo)[0]).numpy()
    style_png = tf.io.encode_png(transforms.to_uint8(style)[0]).numpy()
    out = loaded.signatures["reference_alpha_bytes"](images=tf.constant([photo_png]),
                                                     reference=tf.constant([style_png]), alpha=tf.constant(0.5))
    served = tf.io.decode_png(out["images"].numpy()[0]).numpy()
    decoded = [transforms.decode_image(p)[None] for p in (photo_png, style_png)]
    expected = transforms.to_uint8(model.translate(decoded[0], mode="reference_alpha", reference=decoded[1],
                                                   alpha=0.5)).numpy()[0]
    assert served.shape == (40, 40, 3)
    assert np.abs(served.astype(int) - expected.astype(int)).max() <= 1
