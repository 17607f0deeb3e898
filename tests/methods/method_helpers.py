"""Helpers shared by the method tests: seeded tiny models, random images, and the set-up and measures of the
learning tests."""

import itertools

import keras
import numpy as np

from i2i_keras import build_model
from tests.helpers import tiny_config


def tiny_model(method, overrides=(), compiled=False):
    """`method`'s tiny-config model (with `overrides`), built after seeding every generator with 0; compiled with
    the config's optimizers when `compiled`."""
    from i2i_keras.training.loop import compile_model

    cfg = tiny_config(method, overrides)
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    if compiled:
        compile_model(model, cfg)
    return model


def random_images(seed=0, batch=2, size=32, channels=3):
    """Uniform noise images in [-1, 1], [batch, size, size, channels] float32."""
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, channels)).astype("float32")


def learning_setup(method, overrides=(), test_batch=8):
    """The start of a learning test: (compiled seeded tiny model, training dataset, held-out test dataset) on the
    embedded real images of the model's data kind, with `overrides`; training batches hold what one train step
    consumes (`train.batch_size` x `batches_per_step`)."""
    from i2i_keras.data import make_dataset

    cfg = tiny_config(method, overrides)
    model = tiny_model(method, overrides, compiled=True)
    train = make_dataset(None, model.data_kind, cfg.data, cfg.train.batch_size * model.batches_per_step, seed=0,
                         training=True)
    test = make_dataset(None, model.data_kind, cfg.data, test_batch, seed=0, training=False, split="test")
    return model, train, test


def held_out_l1(model, test):
    """Mean |translate(source) - target| over the paired batches of `test`."""
    return float(np.mean([np.abs(np.asarray(model.translate(b["source"])) - b["target"]).mean() for b in test]))


def sample_diversity(model, images, mode, num_samples=5, seed=3):
    """Mean |x_i - x_j| over every pair of the `num_samples` random-style outputs of `mode` for each batch in
    `images` (a multi-output mode taking `num_samples` and `seed`)."""
    distances = []
    for x in images:
        out = np.asarray(model.translate(x, mode=mode, num_samples=num_samples, seed=seed))
        distances += [np.abs(out[:, i] - out[:, j]).mean() for i, j in itertools.combinations(range(num_samples), 2)]
    return float(np.mean(distances))


# ----------------------------------------------------------------------------------------------- the shared suite
# The per-mode checks of tests/methods/test_methods.py, as functions of a built model so that they also run on
# unregistered models (the stand-in generator of tests/generation_model.py checks the generation branches).


def check_translate_modes(model):
    """Every mode answers the right shapes, dtypes and ranges at any input size (image modes) or from its seeds
    (generation modes, `check_generation_mode`); bad modes, images and dtypes raise clear errors."""
    import pytest

    from i2i_keras.methods.base import PROBABILITIES_OUTPUT
    from tests.helpers import model_batches, mode_inputs

    s = model.output_scale  # super-resolution: outputs are s times the input's size
    images = np.random.default_rng(1).uniform(-1, 1, (2, 37, 45, model.in_channels)).astype("float32")
    modes = model.translation_modes()
    for mode, spec in modes.items():
        if not spec.takes_images:
            check_generation_mode(model, mode)
            continue
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
    first = next(iter(modes))
    if not modes[first].takes_images:
        return  # a generator: no predict on images, no image checks
    if not modes[first].extra_inputs:
        predicted = model.predict(images, batch_size=1, verbose=0)
        np.testing.assert_allclose(predicted, model.translate(images), atol=1e-5)
        predicted = model.predict(model_batches(model), verbose=0)
        spatial = modes[first].output != PROBABILITIES_OUTPUT
        side = next(iter(model_batches(model)))[model.input_key].shape[1] * s
        assert predicted.shape[:3 if spatial else 1] == (8 * model.batches_per_step, side, side)[:3 if spatial else 1]
    with pytest.raises(ValueError, match="images.shape"):
        model.translate(images[0], **mode_inputs(model, first, images))
    with pytest.raises(ValueError, match="images.dtype=uint8"):
        model.translate(np.zeros((1, 32, 32, model.in_channels), np.uint8), **mode_inputs(model, first, images[:1]))


SEED_INPUTS = ("seed", "seed_coarse", "seed_fine")


def check_generation_mode(model, mode):
    """A generation mode gives float32 [N, image_size, image_size, out_channels] images in [-1, 1] (N =
    `num_samples`, else 1), the same for the same inputs and different for each changed seed; it refuses an input
    image, tiling and missing inputs."""
    import pytest

    from i2i_keras.errors import ConfigError
    from tests.helpers import mode_inputs

    inputs = mode_inputs(model, mode, None)
    out = np.asarray(model.translate(None, mode=mode, **inputs))
    count = int(inputs.get("num_samples", 1))
    assert out.shape == (count, model.image_size, model.image_size, model.out_channels), (mode, out.shape)
    assert out.dtype == np.float32 and out.min() >= -1.0 and out.max() <= 1.0, mode
    np.testing.assert_array_equal(np.asarray(model.translate(None, mode=mode, **inputs)), out, err_msg=mode)
    seeds = [name for name in SEED_INPUTS if name in inputs]
    assert seeds, f"generation mode {mode!r} takes no seed input ({sorted(inputs)})"
    for name in seeds:
        other = np.asarray(model.translate(None, mode=mode, **{**inputs, name: inputs[name] + 10}))
        assert np.abs(other - out).mean() > 1e-4, f"{mode}: changing {name} changes nothing"
    if count > 1:
        assert np.abs(out[0] - out[1]).mean() > 1e-4, f"{mode}: the samples of one seed are identical"
    with pytest.raises(ValueError, match="takes no input image"):
        model.translate(np.zeros((1, model.image_size, model.image_size, model.in_channels), np.float32),
                        mode=mode, **inputs)
    with pytest.raises(ConfigError, match="cannot be tiled"):
        model.translate(None, mode=mode, tile=model.image_size, **inputs)
    with pytest.raises(ValueError, match="missing"):
        model.translate(None, mode=mode)


def check_export_parity(model, export_dir):
    """Exports `model` to `export_dir`: each mode's float signature equals `translate`, its bytes signature gives
    the quantised pixels (within one grey level); image modes at an odd input size (their tiled signature too),
    generation modes from their seed inputs (and no tiled signature)."""
    import tensorflow as tf

    from i2i_keras.data import transforms
    from i2i_keras.export import export_for_serving, load_exported
    from i2i_keras.methods.base import PROBABILITIES_OUTPUT
    from tests.helpers import mode_inputs

    s = model.output_scale
    loaded, metadata = load_exported(export_for_serving(model, export_dir))
    assert metadata["output_scale"] == s
    assert metadata["modes"] == list(model.translation_modes())
    images = np.random.default_rng(2).uniform(-1, 1, (1, 20, 28, model.in_channels)).astype("float32")
    png = tf.io.encode_png(transforms.to_uint8(images)[0])
    decoded = transforms.decode_image(png, channels=model.in_channels)[None].numpy()
    for mode, spec in model.translation_modes().items():
        if not spec.takes_images:
            assert mode + "_bytes_tiled" not in loaded.signatures and mode in metadata["generation_modes"]
            inputs = {k: tf.constant(v) for k, v in mode_inputs(model, mode, None).items()}
            expected = np.asarray(model.translate(None, mode=mode, **inputs))
            np.testing.assert_allclose(loaded.signatures[mode](**inputs)["images"].numpy(), expected, atol=2e-5,
                                       err_msg=mode)
            pngs = loaded.signatures[mode + "_bytes"](**inputs)["images"].numpy()
            assert pngs.shape == (expected.shape[0],), mode
            for got, want in zip(pngs, transforms.to_uint8(expected).numpy()):
                assert np.abs(tf.io.decode_png(got).numpy().astype(int) - want.astype(int)).max() <= 1, mode
            continue
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
    return loaded, metadata
