"""The shared per-method suite: every registered method with a tiny config goes through the whole contract."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import build_model, list_methods
from i2i_keras.methods.base import PROBABILITIES_OUTPUT
from i2i_keras.training.loop import compile_model
from tests.helpers import TINY, model_batches, mode_inputs, synthetic_batches, tiny_config

# Every registered method goes through this suite (the first test checks each has a tiny config).
METHODS = list_methods()
# Options that remove randomness the 2-replica equivalence test cannot match (dropout masks are drawn per replica
# by Keras; the image pool samples with its own state).
DETERMINISTIC = {"pix2pix": ["model.dropout=0.0"], "cyclegan": ["model.pool_size=0"],
                 # Batch statistics depend on how the batch is split over replicas.
                 "srgan": ["model.norm=instance"]}


def _skip_unless_translator(model):
    """Methods without an input -> output network (`nst` optimises one image) have no modes to translate with or
    export: they state why (`not_a_translator`), and `export_for_serving` refuses them with that reason."""
    if not model.translation_modes():
        assert model.not_a_translator
        pytest.skip(f"{model.method_name} is not a translator: {model.not_a_translator}")


def _check_optimizer_steps(model, steps):
    assert int(model.optimizer.iterations.numpy()) == steps
    if model.has_discriminator_terms():
        assert int(model.d_optimizer.iterations.numpy()) == steps * model.discriminator_steps
    elif not model.discriminator_variables():
        assert model.d_optimizer is None


def _build(method, overrides=()):
    cfg = tiny_config(method, overrides)
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    compile_model(model, cfg)
    return cfg, model


def test_every_registered_method_has_a_tiny_config_and_vice_versa():
    configs = sorted(f[:-5] for f in os.listdir(TINY) if f.endswith(".yaml"))
    assert configs == list_methods()
    assert {"pix2pix", "cyclegan"} <= set(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_config_round_trip(method):
    _, model = _build(method)
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert len(clone.weights) == len(model.weights)


@pytest.mark.parametrize("method", METHODS)
def test_fit_moves_weights_with_finite_losses_and_evaluate(method):
    cfg, model = _build(method)
    ds = model_batches(model).repeat()
    g_before = [v.numpy().copy() for v in model.generator_variables()]
    d_before = [v.numpy().copy() for v in model.discriminator_variables()]
    history = model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0).history
    expected = {n for n, w in model.loss_weights.items() if w} | {"g_total"}
    expected |= {"d_total"} if model.has_discriminator_terms() else set()
    assert set(history) == expected
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert any(np.abs(a - v.numpy()).max() > 0 for a, v in zip(g_before, model.generator_variables()))
    if model.has_discriminator_terms():  # supervised methods (EDSR, SRCNN) have none
        assert any(np.abs(a - v.numpy()).max() > 0 for a, v in zip(d_before, model.discriminator_variables()))
    _check_optimizer_steps(model, 3)
    results = model.evaluate(model_batches(model, count=2), return_dict=True, verbose=0)
    assert np.isfinite(results["g_total"])
    if model.paired_metrics:
        assert 0 < results["psnr"] < 100 and -1 <= results["ssim"] <= 1


@pytest.mark.parametrize("method", METHODS)
def test_translate_shape_dtype_range_any_size(method):
    _, model = _build(method)
    _skip_unless_translator(model)
    s = model.output_scale  # super-resolution: outputs are s times the input's size
    images = np.random.default_rng(1).uniform(-1, 1, (2, 37, 45, model.in_channels)).astype("float32")
    for mode, spec in model.translation_modes().items():
        out = np.asarray(model.translate(images, mode=mode, **mode_inputs(model, mode, images)))
        if spec.output == PROBABILITIES_OUTPUT:  # a classification mode: one probability row per image
            assert out.shape == (2, len(model.metadata()["class_names"])) and out.dtype == np.float32, mode
            np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
            continue
        expected = (2, 3, 37 * s, 45 * s, model.out_channels) if spec.multiple_outputs else \
            (2, 37 * s, 45 * s, model.out_channels)
        assert out.shape == expected and out.dtype == np.float32, mode
        assert out.min() >= -1.0 and out.max() <= 1.0
        if spec.extra_inputs:
            with pytest.raises(ValueError, match="missing"):
                model.translate(images, mode=mode)
    with pytest.raises(ValueError, match="mode"):
        model.translate(images, mode="sideways")
    first = next(iter(model.translation_modes()))
    if not model.translation_modes()[first].extra_inputs:
        predicted = model.predict(images, batch_size=1, verbose=0)
        np.testing.assert_allclose(predicted, model.translate(images), atol=1e-5)
        predicted = model.predict(model_batches(model), verbose=0)
        spatial = model.translation_modes()[first].output != PROBABILITIES_OUTPUT
        side = next(iter(model_batches(model)))[model.input_key].shape[1] * s
        assert predicted.shape[:3 if spatial else 1] == (8 * model.batches_per_step, side, side)[:3 if spatial else 1]
    with pytest.raises(ValueError, match="images.shape"):
        model.translate(images[0], **mode_inputs(model, first, images))
    with pytest.raises(ValueError, match="images.dtype=uint8"):
        model.translate(np.zeros((1, 32, 32, model.in_channels), np.uint8), **mode_inputs(model, first, images[:1]))


@pytest.mark.parametrize("method", METHODS)
def test_export_parity_for_every_mode(method, tmp_path):
    """Each mode's float signature equals `translate`; its bytes signature returns PNGs of the input's size (times
    `output_scale`) whose pixels equal the quantised float output (multi-output modes: [batch, N] PNGs)."""
    from i2i_keras.data import transforms
    from i2i_keras.export import export_for_serving, load_exported

    _, model = _build(method)
    _skip_unless_translator(model)
    s = model.output_scale
    loaded, metadata = load_exported(export_for_serving(model, str(tmp_path / "export")))
    assert metadata["output_scale"] == s
    assert metadata["modes"] == list(model.translation_modes())
    images = np.random.default_rng(2).uniform(-1, 1, (1, 20, 28, model.in_channels)).astype("float32")
    png = tf.io.encode_png(transforms.to_uint8(images)[0])
    decoded = transforms.decode_image(png, channels=model.in_channels)[None].numpy()
    for mode, spec in model.translation_modes().items():
        extras = mode_inputs(model, mode, decoded)
        expected = np.asarray(model.translate(decoded, mode=mode, **extras))
        served = loaded.signatures[mode](images=tf.constant(decoded), **{k: tf.constant(v) for k, v in extras.items()})
        if spec.output == PROBABILITIES_OUTPUT:  # classification: probabilities, and class names with the bytes form
            np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=2e-5, err_msg=mode)
            out = loaded.signatures[mode + "_bytes"](images=tf.constant([png.numpy()]))
            np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=2e-5, err_msg=mode)
            assert [c.decode() for c in out["classes"].numpy()[0]] == metadata["class_names"]
            continue
        np.testing.assert_allclose(served["images"].numpy(), expected, atol=2e-5, err_msg=mode)
        # Extra images travel as PNGs of the very pixels the float signature got (`mode_inputs` flips the input).
        byte_extras = {k: tf.constant([tf.io.encode_png(transforms.to_uint8(v)[0]).numpy()] if k in spec.image_inputs
                                      else v) for k, v in extras.items()}
        pngs = loaded.signatures[mode + "_bytes"](images=tf.constant([png.numpy()]), **byte_extras)["images"].numpy()
        flat = pngs.reshape(-1)
        assert pngs.shape == ((1, 3) if spec.multiple_outputs else (1,)), mode
        quantised = transforms.to_uint8(expected.reshape(-1, 20 * s, 28 * s, model.out_channels)).numpy()
        for got, want in zip(flat, quantised):
            pixels = tf.io.decode_png(got).numpy()
            assert pixels.shape == (20 * s, 28 * s, model.out_channels)
            assert np.abs(pixels.astype(int) - want.astype(int)).max() <= 1, mode
    # Every method's image modes are served tiled too: the first one's tiled signature equals the library's tiled call.
    tiled = metadata.get("tiled_modes", [])
    if tiled:
        mode, tile = tiled[0], max(16, model.size_multiple)
        extras = mode_inputs(model, mode, decoded)
        byte_extras = {k: tf.constant([tf.io.encode_png(transforms.to_uint8(v)[0]).numpy()]
                                      if k in model.translation_modes()[mode].image_inputs else v)
                       for k, v in extras.items()}
        expected = transforms.to_uint8(np.asarray(model.translate(decoded, mode=mode, tile=tile, overlap=tile // 4,
                                                                  **extras)).reshape(-1, 20 * s, 28 * s,
                                                                                     model.out_channels)).numpy()
        pngs = loaded.signatures[mode + "_bytes_tiled"](images=tf.constant([png.numpy()]), tile=tf.constant(tile),
                                                        overlap=tf.constant(tile // 4), **byte_extras)["images"]
        for got, want in zip(pngs.numpy().reshape(-1), expected):
            assert np.abs(tf.io.decode_png(got).numpy().astype(int) - want.astype(int)).max() <= 1, mode


@pytest.mark.parametrize("method", METHODS)
def test_keras_file_round_trip_then_train_on(method, tmp_path):
    _, model = _build(method, DETERMINISTIC.get(method, []))
    ds = model_batches(model).repeat()
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    images = next(iter(model_batches(model)))[model.input_key]
    for mode in model.translation_modes():
        extras = mode_inputs(model, mode, images)
        np.testing.assert_allclose(loaded.translate(images, mode=mode, **extras),
                                   model.translate(images, mode=mode, **extras), atol=1e-6)
    _check_optimizer_steps(loaded, 2)
    for a, b in zip(loaded.weights, model.weights):  # the non-translators' state (nst's image) too
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    if loaded.d_optimizer is not None:
        for a, b in zip(loaded.d_optimizer.variables, model.d_optimizer.variables):
            np.testing.assert_allclose(a.numpy(), b.numpy())
    loaded.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    assert int(loaded.optimizer.iterations.numpy()) == 3


def _one_sgd_step(method, strategy, batch):
    cfg = tiny_config(method, DETERMINISTIC.get(method, []))
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(cfg)
        d_optimizer = keras.optimizers.SGD(0.01) if model.discriminator_variables() else None
        model.compile(optimizer=keras.optimizers.SGD(0.01), d_optimizer=d_optimizer)
    before = [v.numpy().copy() for v in model.trainable_variables]
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    logs = model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0).history
    deltas = [v.numpy() - b for v, b in zip(model.trainable_variables, before)]
    return before, deltas, logs


@pytest.mark.parametrize("method", METHODS)
def test_two_replica_step_equals_single_device_step(method):
    """One SGD step on a global batch of 4 split over 2 replicas equals the same step on one device: catches a
    missing or doubled 1/replicas loss scaling (SGD, unlike Adam, is sensitive to the gradient's scale)."""
    batch = next(iter(model_batches(build_model(tiny_config(method)), batch=4, count=1)))
    init_1, single, single_logs = _one_sgd_step(method, tf.distribute.get_strategy(), batch)
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    mirrored = tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    init_2, double, double_logs = _one_sgd_step(method, mirrored, batch)
    for a, b in zip(init_1, init_2):
        np.testing.assert_array_equal(a, b)
    flat_1 = np.concatenate([d.ravel() for d in single])
    flat_2 = np.concatenate([d.ravel() for d in double])
    assert np.linalg.norm(flat_1) > 0
    # Relative error of the whole update: ~1e-6 when right, 0.5 or 1.0 with missing or doubled scaling.
    assert np.linalg.norm(flat_2 - flat_1) / np.linalg.norm(flat_1) < 1e-3
    for a, b in zip(single, double):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-3 * np.abs(flat_1).max())
    # Trackers report the unscaled loss (mean over replicas), not the 1/replicas-scaled value.
    np.testing.assert_allclose(single_logs["g_total"], double_logs["g_total"], rtol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_mixed_bfloat16_training_step(method):
    keras.config.set_dtype_policy("mixed_bfloat16")
    _, model = _build(method)
    history = model.fit(model_batches(model).repeat(), steps_per_epoch=2, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    if not model.translation_modes():
        return
    # Outputs stay float32 (the last activation is pinned), so losses and exported images are full precision.
    images = next(iter(model_batches(model)))[model.input_key]
    first = next(iter(model.translation_modes()))
    out = model.translate(images, **mode_inputs(model, first, images))
    assert out.dtype == "float32"


def test_mixed_float16_uses_loss_scaling_and_counts_every_step(tmp_path):
    keras.config.set_dtype_policy("mixed_float16")
    _, model = _build("cyclegan")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)
    history = model.fit(synthetic_batches(model.data_kind).repeat(), steps_per_epoch=3, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    # An overflowing first step is skipped by the loss-scale optimizer but its batch was consumed: the model's own
    # step counter (which drives checkpoints, resume and the data position) counts it.
    assert int(model.train_steps.numpy()) == 3
    assert int(model.optimizer.iterations.numpy()) <= 3
    model.save(str(tmp_path / "m.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "m.keras"))
    assert isinstance(loaded.optimizer, keras.optimizers.LossScaleOptimizer)
    assert int(loaded.train_steps.numpy()) == 3


def test_update_order_and_discriminator_free_ablation():
    # pix2pix updates D then G on each batch (its reference code); CycleGAN G then D.
    assert build_model(tiny_config("pix2pix")).update_discriminator_first
    assert not build_model(tiny_config("cyclegan")).update_discriminator_first
    # "L1 only" (pix2pix paper, table 1): with no adversarial terms D is never updated and nothing breaks.
    _, model = _build("pix2pix", ["loss_weights.d_adv=0", "loss_weights.g_adv=0"])
    d_before = [v.numpy().copy() for v in model.discriminator_variables()]
    history = model.fit(synthetic_batches("paired").repeat(), steps_per_epoch=2, epochs=1, verbose=0).history
    assert set(history) == {"g_l1", "g_total"}
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(d_before, model.discriminator_variables()))
    assert set(model.evaluate(synthetic_batches("paired"), return_dict=True, verbose=0)) == {
        "g_l1", "g_total", "psnr", "ssim", "l1"}


def test_compile_and_save_guards(tmp_path):
    cfg = tiny_config("pix2pix")
    model = build_model(cfg)
    model.save(str(tmp_path / "uncompiled.keras"))  # no optimizer state to save, and no crash
    assert keras.saving.load_model(str(tmp_path / "uncompiled.keras")).get_config() == model.get_config()
    adam = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer objects"):
        model.compile(adam, adam)
    weights = build_model(tiny_config("pix2pix", ["loss_weights.g_l1=1e2"])).loss_weights
    assert weights["g_l1"] == 100.0
