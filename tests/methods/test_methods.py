"""The shared per-method suite: every registered method with a tiny config goes through the whole contract."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import build_model, list_methods
from i2i_keras.training.loop import compile_model
from tests.evaluation.export_checks import check_export_is_evaluated
from tests.helpers import TINY, model_batches, run_mode, synthetic_batches, tiny_config
from tests.methods.method_helpers import check_export_parity, check_translate_modes

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
def test_translate_shape_dtype_range_any_size(method):
    _, model = _build(method)
    _skip_unless_translator(model)
    check_translate_modes(model)


@pytest.mark.parametrize("method", METHODS)
def test_export_parity_for_every_mode_then_the_export_is_evaluated(method, tmp_path, capsys):
    """Each mode's float signature equals `translate`; its bytes signature returns PNGs of the input's size (times
    `output_scale`) whose pixels equal the quantised float output (multi-output modes: [batch, N] PNGs); generation
    modes' signatures give `translate(None, ...)`'s images from the same seed. Then `python -m i2i_keras.evaluate`
    reports every metric of the method's data kind for that export on the kind's embedded data (one export per method
    for both)."""
    _, model = _build(method)
    _skip_unless_translator(model)
    base = str(tmp_path / "export")
    check_export_parity(model, base)
    report = check_export_is_evaluated(base, method, model.data_kind, str(tmp_path / "evaluation"), capsys)
    if method in ("munit", "bicyclegan"):  # multimodal: the style / latent samples are scored for diversity
        assert "lpips_diversity" not in report["skipped"]


@pytest.mark.parametrize("method", METHODS)
def test_fit_moves_weights_evaluate_then_keras_file_round_trip_and_train_on(method, tmp_path):
    """One model through fit (finite losses, every weighted term logged, weights of both networks moved, optimizer
    steps counted), evaluate, a .keras round trip (same outputs, weights and optimizer state) and more training:
    one test, so each method's training step is traced once for all of it."""
    _, model = _build(method, DETERMINISTIC.get(method, []))
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

    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    images = next(iter(model_batches(model)))[model.input_key]
    for mode in model.translation_modes():
        np.testing.assert_allclose(run_mode(loaded, mode, images), run_mode(model, mode, images), atol=1e-6)
    _check_optimizer_steps(loaded, 3)
    for a, b in zip(loaded.weights, model.weights):  # the non-translators' state (nst's image) too
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    if loaded.d_optimizer is not None:
        for a, b in zip(loaded.d_optimizer.variables, model.d_optimizer.variables):
            np.testing.assert_allclose(a.numpy(), b.numpy())
    loaded.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    assert int(loaded.optimizer.iterations.numpy()) == 4


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
    out = run_mode(model, next(iter(model.translation_modes())), images)
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
