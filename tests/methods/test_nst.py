"""nst (Gatys et al.): learning on a real pair with the offline VGG16, options, the not-a-translator contract, and
the stylize and train CLIs."""

import os

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.errors import ConfigError
from i2i_keras.methods.nst.nst import preserve_colors
from tests.methods.method_helpers import tiny_model

CLOCK = tf.data.Dataset.from_tensors({"image": np.zeros((1, 16, 16, 3), np.float32)}).repeat()


def _losses(model):
    return {k: float(v) for k, v in model.generator_losses({}, model.generate({}, training=False)).items()}


@pytest.mark.learning
@pytest.mark.parametrize("optimizer,steps,factor", [("adam", 80, 5.0), ("lbfgs", 60, 15.0)])
def test_gatys_cuts_the_style_loss_while_the_content_stays_bounded(vgg16_offline, optimizer, steps, factor):
    """On The Starry Night and an embedded photo at 64 px with the offline VGG16: the style loss falls by `factor`
    and the content loss stays below that of a white-noise image (what the paper starts from)."""
    overrides = ["model.weights=offline", "model.max_dim=64", f"optim.optimizer={optimizer}"]
    if optimizer == "lbfgs":
        overrides.append("optim.g_lr=1.0")
    model = tiny_model("nst", overrides, compiled=True)
    noise = tiny_model("nst", ["model.weights=offline", "model.max_dim=64", "model.init=noise"])
    before = _losses(model)
    assert before["g_content"] == 0.0  # initialised from the content
    model.fit(CLOCK, steps_per_epoch=steps, epochs=1, verbose=0)
    after = _losses(model)
    assert after["g_style"] < before["g_style"] / factor, (before, after)
    assert after["g_content"] < _losses(noise)["g_content"], after
    result = model.result()
    assert result.shape == (64, 64, 3) and -1.0 <= result.min() and result.max() <= 1.0


def test_options_and_their_errors():
    style = tiny_model("nst", ["model.init=style"])
    noise = tiny_model("nst", ["model.init=noise"])
    content = np.asarray(style.content_image.numpy())
    assert np.abs(style.image.numpy() - content).mean() > 0.05
    assert np.abs(noise.image.numpy() - content).mean() > 0.3
    assert tiny_model("nst").style_layer_weights == pytest.approx([0.2] * 5)
    weighted = tiny_model("nst", ["model.style_layer_weights=[1,0,0,0,2]"])
    assert weighted.style_layer_weights == [1.0, 0.0, 0.0, 0.0, 2.0]
    with pytest.raises(ConfigError, match="init"):
        tiny_model("nst", ["model.init=zeros"])
    with pytest.raises(ConfigError, match="style_layer_weights"):
        tiny_model("nst", ["model.style_layer_weights=[1,2]"])
    with pytest.raises(ConfigError, match="max_dim"):
        tiny_model("nst", ["model.max_dim=8"])
    with pytest.raises(ConfigError, match="taps"):
        tiny_model("nst", ["model.content_taps=[relu9_9]"])
    from i2i_keras.errors import DataError

    with pytest.raises(DataError, match="embedded styles"):
        tiny_model("nst", ["model.style=embedded:mona_lisa"])
    # max_dim sets the longer side; the aspect ratio is kept (starry_night is 320x255).
    assert tuple(tiny_model("nst").style_image.shape) == (1, 26, 32, 3)


def test_preserve_color_keeps_the_contents_chrominance():
    rng = np.random.default_rng(0)
    stylised, content = rng.uniform(-0.3, 0.3, (2, 8, 8, 3)).astype("float32")  # no clipping back to RGB
    mixed = preserve_colors(stylised, content)
    yuv = lambda x: tf.image.rgb_to_yuv((x + 1) / 2).numpy()  # noqa: E731
    np.testing.assert_allclose(yuv(mixed)[..., 0], yuv(stylised)[..., 0], atol=0.02)
    np.testing.assert_allclose(yuv(mixed)[..., 1:], yuv(content)[..., 1:], atol=0.02)
    model = tiny_model("nst", ["model.preserve_color=true", "model.init=style"])
    np.testing.assert_allclose(model.result(), preserve_colors(model.image.numpy()[0], model.content_image.numpy()[0]))


def test_nst_is_not_a_translator_and_says_so(tmp_path):
    from i2i_keras.export import export_for_serving

    model = tiny_model("nst")
    assert model.translation_modes() == {}
    with pytest.raises(ConfigError, match="no input -> output network") as info:
        export_for_serving(model, str(tmp_path / "export"))
    assert info.value.code == "not_exportable"
    with pytest.raises(ConfigError, match="stylize") as info:
        model.translate(np.zeros((1, 16, 16, 3), np.float32))
    assert info.value.code == "not_a_translator"
    assert not os.path.exists(tmp_path / "export")


def test_stylize_cli_writes_the_result(tmp_path, capsys):
    from i2i_keras import stylize

    out = str(tmp_path / "out.png")
    argv = ["--content", "embedded:photos/test/chelsea_0.png", "--style", "embedded:brick", "--output", out,
            "--config", os.path.join("configs", "tiny", "nst.yaml"), "--steps", "3", "--max-dim", "24",
            "--style-weight", "1e5", "--optimizer", "lbfgs", "--lr", "1", "--quiet"]
    assert stylize.main(argv) == 0
    image = tf.io.decode_png(tf.io.read_file(out)).numpy()
    assert image.shape == (24, 24, 3)
    assert "g_style=" in capsys.readouterr().out
    assert stylize.main(argv[:1] + ["missing.jpg"] + argv[2:]) == 2
    assert "missing.jpg: no such image file" in capsys.readouterr().err


def test_train_cli_runs_nst_writes_the_result_and_skips_the_export(tmp_path):
    from i2i_keras import train

    out = tmp_path / "run"
    assert train.main(["--method", "nst", "--config", os.path.join("configs", "tiny", "nst.yaml"),
                       "--output", str(out)]) == 0
    assert tf.io.decode_png(tf.io.read_file(str(out / "result.png"))).numpy().shape == (32, 32, 3)
    assert (out / "model.keras").exists() and not (out / "export").exists()
    assert train.main(["--method", "nst", "--config", os.path.join("configs", "tiny", "nst.yaml"), "--output",
                       str(out), "--resume", "--steps", "6"]) == 0
