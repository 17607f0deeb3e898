"""SRCNN, EDSR and SRGAN beyond the shared suite: scale handling, the Y channel, the last layer's learning rate,
starting from another run (x2 -> x4, SRResNet -> SRGAN), exports that upscale (8 and 16 bit) and the bicubic
baseline in a run's final evaluation."""

import io
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import build_model
from i2i_keras.config import ConfigError
from i2i_keras.data import transforms
from i2i_keras.methods.srcnn.srcnn import LearningRateScaledConv2D, rgb_to_ycbcr, ycbcr_to_rgb
from tests.helpers import model_batches, tiny_config
from tests.methods.method_helpers import random_images, tiny_model


def _trained(method, overrides=(), steps=2):
    model = tiny_model(method, overrides, compiled=True)
    model.fit(model_batches(model).repeat(), steps_per_epoch=steps, epochs=1, verbose=0)
    return model


def test_scale_comes_from_the_data_and_a_different_model_scale_is_refused():
    assert build_model(tiny_config("edsr", ["data.scale=3", "data.crop_size=30"])).output_scale == 3
    with pytest.raises(ConfigError, match=r"model.scale.*data.scale"):
        build_model(tiny_config("edsr", ["model.scale=4"]))
    with pytest.raises(ConfigError, match=r"upscales by one of \[2, 4\]. Received: scale=3"):
        build_model(tiny_config("srgan", ["data.scale=3", "data.crop_size=30"]))
    for bad, match in ((["model.res_scale=0"], "res_scale"), (["model.lr_step_gamma=2"], "lr_step_gamma"),
                       (["model.kernel_sizes=[9,1]"], "kernel_sizes")):
        with pytest.raises(ConfigError, match=match):
            build_model(tiny_config("srcnn" if "kernel" in bad[0] else "edsr", bad))


def test_ycbcr_round_trip_and_srcnn_y_channel_keeps_bicubic_chroma():
    images = random_images(3, batch=2, size=8)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(images)), images, atol=1e-5)
    # MATLAB rgb2ycbcr of white (1, 1, 1) is (235, 128, 128) / 255.
    white = np.asarray(rgb_to_ycbcr(np.ones((1, 1, 1, 3), np.float32)))[0, 0, 0]
    np.testing.assert_allclose((white + 1) / 2 * 255, [235, 128, 128], atol=1e-3)
    model = _trained("srcnn")
    low = random_images(4, batch=1, size=10) * 0.5
    out = rgb_to_ycbcr(model.upscale(low))
    bicubic = rgb_to_ycbcr(transforms.upscale_bicubic(low, 2))
    np.testing.assert_allclose(out[..., 1:], bicubic[..., 1:], atol=1e-4)  # only Y is predicted
    assert np.abs(np.asarray(out[..., 0]) - np.asarray(bicubic[..., 0])).max() > 1e-3
    assert model.generator.input_shape[-1] == 1 and model.metadata()["y_channel"]


def test_last_layer_learns_at_a_tenth_of_the_rate_under_adam():
    """One Adam step moves a `LearningRateScaledConv2D` kernel by lr_multiplier x lr (per weight, |step| = lr on
    the first Adam step), where gradient scaling would leave Adam's step unchanged."""
    steps = {}
    for multiplier in (1.0, 0.1):
        layer = LearningRateScaledConv2D(2, 3, lr_multiplier=multiplier, init_stddev=0.1)
        x = tf.constant(random_images(5, batch=1, size=6))
        layer.build(x.shape)
        before = np.asarray(layer.stored_kernel) * multiplier
        optimizer = keras.optimizers.Adam(1e-2)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x) - 0.3))
        optimizer.apply(tape.gradient(loss, layer.trainable_variables), layer.trainable_variables)
        steps[multiplier] = np.abs(np.asarray(layer.stored_kernel) * multiplier - before)
        np.testing.assert_allclose(np.median(steps[multiplier]), 1e-2 * multiplier, rtol=1e-2)
    assert LearningRateScaledConv2D.from_config(LearningRateScaledConv2D(2, 3, 0.1).get_config()).lr_multiplier == 0.1


def test_edsr_x4_starts_from_an_x2_run_body_loaded_upsampler_new(tmp_path):
    x2 = _trained("edsr")
    run = tmp_path / "x2run"
    run.mkdir()
    x2.save(str(run / "model.keras"))
    x4 = build_model(tiny_config("edsr", ["data.scale=4", f"model.init_from={run}"]))
    fresh = build_model(tiny_config("edsr", ["data.scale=4"]))
    for name in ("head", "body_0_conv1", "body_1_conv2", "body_conv"):
        for a, b in zip(x4.generator.get_layer(name).weights, x2.generator.get_layer(name).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The first x2 upsampling conv has the x4 one's shape, yet starts new (as the paper's x4 upsampler), like the tail.
    for name in ("upsample_0_conv", "tail"):
        assert not np.array_equal(x4.generator.get_layer(name).weights[0].numpy(),
                                  x2.generator.get_layer(name).weights[0].numpy())
    assert "init_from" not in x4.get_config()  # the saved model holds its weights; the path is not needed again
    assert len(fresh.generator.weights) == len(x4.generator.weights)
    # A .keras file works as well as a run directory; a missing path and another method's run are config errors.
    build_model(tiny_config("edsr", ["data.scale=4", f"model.init_from={run / 'model.keras'}"]))
    with pytest.raises(ConfigError, match="no trained model"):
        build_model(tiny_config("edsr", [f"model.init_from={tmp_path / 'missing'}"]))
    srcnn = tmp_path / "srcnn.keras"
    _trained("srcnn").save(str(srcnn))
    with pytest.raises(ConfigError, match="no layer"):
        build_model(tiny_config("edsr", [f"model.init_from={srcnn}"]))


def test_srgan_gan_stage_starts_from_an_srresnet_run(tmp_path):
    srresnet = ["loss_weights.g_content=0", "loss_weights.g_adv=0", "loss_weights.d_adv=0"]
    stage1 = _trained("srgan", srresnet)
    assert not stage1.has_discriminator_terms() and int(stage1.d_optimizer.iterations.numpy()) == 0
    stage1.save(str(tmp_path / "model.keras"))
    stage2 = tiny_model("srgan", [f"model.init_from={tmp_path}"], compiled=True)
    for a, b in zip(stage2.generator.weights, stage1.generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    history = stage2.fit(model_batches(stage2).repeat(), steps_per_epoch=1, epochs=1, verbose=0).history
    assert {"g_mse", "g_content", "g_adv", "d_adv"} <= set(history)


def test_srgan_residual_adds_bicubic_and_content_loss_takes_several_taps():
    plain = tiny_model("srgan", ["data.scale=2", "model.norm=none"])
    residual = tiny_model("srgan", ["data.scale=2", "model.norm=none", "model.residual=true",
                                    "model.vgg_tap=[relu1_2,relu2_2]"], compiled=True)
    low = random_images(0, 2, 8)
    np.testing.assert_allclose(residual.upscale(low), plain.upscale(low) + transforms.upscale_bicubic(low, 2),
                               atol=1e-5)
    assert sorted(residual._vgg.taps) == ["relu1_2", "relu2_2"]
    assert residual.get_config()["residual"] is True
    history = residual.fit(model_batches(residual).repeat(), steps_per_epoch=1, epochs=1, verbose=0).history
    assert np.isfinite(history["g_content"][0])
    with pytest.raises(ConfigError, match="vgg_tap"):
        build_model(tiny_config("srgan", ["model.vgg_tap=[]"]))


def _png(array):
    return tf.io.encode_png(array).numpy()


@pytest.mark.parametrize("method", ["srcnn", "edsr"])
def test_export_upscales_8_and_16_bit_pngs_and_translate_needs_no_flags(method, tmp_path):
    from i2i_keras.export import export_for_serving, load_exported
    from i2i_keras.translate import main as translate_main

    model = _trained(method)
    path = export_for_serving(model, str(tmp_path / "export"), tiled=False)
    loaded, metadata = load_exported(path)
    assert metadata["output_scale"] == 2 and metadata["modes"] == ["upscale"]
    rng = np.random.default_rng(0)
    pixels16 = rng.integers(0, 65536, (20, 28, 3), dtype=np.uint16)
    pixels8 = (pixels16 // 257).astype(np.uint8)
    outputs = loaded.signatures["upscale_bytes"](images=tf.constant([_png(pixels8), _png(pixels16)]))["images"]
    out8, out16 = (tf.io.decode_png(x, dtype=tf.uint16).numpy() for x in outputs.numpy())
    assert out8.shape == out16.shape == (40, 56, 3)
    decoded8 = tf.io.decode_png(outputs.numpy()[0]).numpy()
    assert decoded8.dtype == np.uint8 and outputs.numpy()[0][24] == 8 and outputs.numpy()[1][24] == 16
    expected = np.asarray(model.translate(transforms.from_uint(pixels16)[None]))[0]
    np.testing.assert_allclose(out16 / 65535.0 * 2 - 1, expected, atol=2e-4)
    # The translate CLI writes the upscaled image (a JPEG in, its size x2 out) with no scale flag.
    jpeg = tmp_path / "in.jpg"
    jpeg.write_bytes(tf.io.encode_jpeg(pixels8).numpy())
    assert translate_main(["--model", str(tmp_path / "export"), "--input", str(jpeg),
                           "--output", str(tmp_path / "out.png")]) == 0
    assert tf.io.decode_png((tmp_path / "out.png").read_bytes()).shape == (40, 56, 3)


def test_a_training_run_reports_psnr_y_against_bicubic(tmp_path):
    from i2i_keras.training.loop import run

    cfg = tiny_config("edsr", ["data.preprocess=none", "train.eval_batches=1", "train.batch_size=2",
                               "data.crop_size=32"])
    result = run(cfg, str(tmp_path / "run"), export=False, verbose=0)
    metrics = result.metrics
    for key in ("psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y", "psnr", "ssim"):
        assert np.isfinite(metrics[key]), key
    assert 25 < metrics["bicubic_psnr_y"] < 50  # bicubic on the embedded photos at x2 (measured: 33.8 dB)
    assert os.path.exists(tmp_path / "run" / "metrics.json")
