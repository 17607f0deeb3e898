"""Generation modes (no input image): `TranslationModel.translate(None, mode=...)` and their exported signatures,
with the tiny stand-in generator of `tests.generation_model`."""

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.errors import ConfigError
from tests.generation_model import LATENT, tiny_generator

GENERATE = {"num_samples": np.int32(3), "seed": np.int64(5), "truncation_psi": np.float32(0.7)}
MIX = {"seed_coarse": np.int64(1), "seed_fine": np.int64(2), "crossover": np.int32(3),
       "truncation_psi": np.float32(1.0)}


@pytest.fixture(scope="module")
def model():
    return tiny_generator()


@pytest.fixture(scope="module")
def run_dir(model, tmp_path_factory):
    """A training-run-like directory whose `export/` holds the stand-in's export."""
    from i2i_keras.export import export_for_serving

    run = tmp_path_factory.mktemp("gen_run")
    export_for_serving(model, str(run / "export"))
    return str(run)


@pytest.fixture(scope="module")
def exported(run_dir):
    from i2i_keras.export import load_exported

    return load_exported(os.path.join(run_dir, "export"))


def quantised(images):
    return np.round((np.asarray(images) + 1) * 127.5).clip(0, 255).astype(int)


def grid_cells(grid, count, size=16):
    """The `count` cells of a translate grid, row by row (ceil(sqrt(count)) columns)."""
    columns = int(np.ceil(np.sqrt(count)))
    return [grid[(i // columns) * size:(i // columns + 1) * size, (i % columns) * size:(i % columns + 1) * size]
            for i in range(count)]


def read_png(path):
    with open(path, "rb") as f:
        return tf.io.decode_png(f.read()).numpy()


def test_generate_is_a_pure_function_of_its_inputs(model):
    out = np.asarray(model.translate(None, mode="generate", **GENERATE))
    assert out.shape == (3, 16, 16, 3) and out.dtype == np.float32
    assert -1.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_array_equal(out, np.asarray(model.translate(mode="generate", **GENERATE)))
    other = np.asarray(model.translate(None, mode="generate", **{**GENERATE, "seed": np.int64(6)}))
    assert np.abs(other - out).mean() > 1e-3
    assert np.abs(out[0] - out[1]).mean() > 1e-3  # samples of one seed differ from each other
    mixed = np.asarray(model.translate(None, mode="mix", **MIX))
    assert mixed.shape == (1, 16, 16, 3)
    # crossover = LATENT: every latent entry from the coarse seed, i.e. that seed's first sample.
    whole = np.asarray(model.translate(None, mode="mix", **{**MIX, "crossover": np.int32(LATENT)}))
    first = np.asarray(model.translate(None, mode="generate", num_samples=np.int32(1), seed=MIX["seed_coarse"],
                                       truncation_psi=np.float32(1.0)))
    np.testing.assert_allclose(whole, first, atol=1e-6)
    assert np.abs(whole - mixed).mean() > 1e-4


def test_generation_mode_argument_errors(model):
    with pytest.raises(ValueError, match=r"takes no input image.*Received: images of shape \(1, 16, 16, 3\)"):
        model.translate(np.zeros((1, 16, 16, 3), np.float32), mode="generate", **GENERATE)
    with pytest.raises(ValueError, match=r"missing=\['truncation_psi'\], unknown=\['alpha'\]"):
        model.translate(None, mode="generate", num_samples=2, seed=1, alpha=0.5)
    with pytest.raises(ConfigError, match="'generate'.*cannot be tiled. Received: tile=16") as err:
        model.translate(None, mode="generate", tile=16, **GENERATE)
    assert err.value.code == "not_an_image_mode"
    with pytest.raises(ValueError, match="Unknown translation mode 'sideways'"):
        model.translate(None, mode="sideways")


def test_an_image_mode_given_no_image_says_so():
    from i2i_keras import build_model
    from tests.helpers import tiny_config

    pix2pix = build_model(tiny_config("pix2pix"))
    with pytest.raises(ValueError, match="translates input images.*Received: images=None"):
        pix2pix.translate(None)


def test_metadata_lists_generation_modes_and_no_tiled_ones(model):
    metadata = model.metadata()
    assert metadata["modes"] == ["generate", "mix"]
    assert "tiled_modes" not in metadata
    assert metadata["generation_modes"] == {
        "generate": {"inputs": {"num_samples": {"dtype": "int32", "shape": []},
                                "seed": {"dtype": "int64", "shape": []},
                                "truncation_psi": {"dtype": "float32", "shape": []}},
                     "defaults": {"truncation_psi": 1.0}},
        "mix": {"inputs": {"seed_coarse": {"dtype": "int64", "shape": []}, "seed_fine": {"dtype": "int64", "shape": []},
                           "crossover": {"dtype": "int32", "shape": []},
                           "truncation_psi": {"dtype": "float32", "shape": []}},
                "defaults": {"truncation_psi": 1.0, "crossover": LATENT // 2}}}


def test_exported_signatures_equal_translate(model, exported):
    loaded, metadata = exported
    assert metadata["generation_modes"] == model.metadata()["generation_modes"]
    assert "tiled_modes" not in metadata
    names = set(loaded.signatures)
    assert {"generate", "generate_bytes", "mix", "mix_bytes", "serving_default", "metadata"} <= names
    assert not [n for n in names if n.endswith("_tiled")]
    # serving_default is the first mode's bytes form: scalar inputs, PNGs out.
    assert set(loaded.signatures["serving_default"].structured_input_signature[1]) == set(GENERATE)
    for mode, inputs in (("generate", GENERATE), ("mix", MIX)):
        expected = np.asarray(model.translate(None, mode=mode, **inputs))
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        floats = loaded.signatures[mode](**tensors)["images"].numpy()
        np.testing.assert_allclose(floats, expected, atol=2e-5, err_msg=mode)
        pngs = loaded.signatures[mode + "_bytes"](**tensors)["images"].numpy()
        assert pngs.shape == (expected.shape[0],)
        for png, want in zip(pngs, quantised(expected)):
            pixels = tf.io.decode_png(png).numpy()
            assert pixels.shape == (16, 16, 3) and pixels.dtype == np.uint8
            assert np.abs(pixels.astype(int) - want).max() <= 1, mode
    defaults = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in GENERATE.items()})["images"]
    np.testing.assert_array_equal(defaults.numpy(), loaded.signatures["generate_bytes"](
        **{k: tf.constant(v) for k, v in GENERATE.items()})["images"].numpy())


def test_export_refuses_a_generation_mode_with_non_scalar_inputs(model, tmp_path):
    from i2i_keras.export import export_for_serving

    modes = model.translation_modes()
    bad = dataclasses.replace(modes["generate"], extra_inputs={**modes["generate"].extra_inputs,
                                                               "seed": tf.TensorSpec([None], tf.int64)})

    class Vector(type(model)):
        def translation_modes(self):
            return {"generate": bad}

    with pytest.raises(ValueError, match=r"generation mode 'generate' must be scalars.*seed shape \[None\]"):
        export_for_serving(Vector(image_size=16), str(tmp_path / "x"))


# ----------------------------------------------------------------------------------------------- translate CLI


def _error_lines(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_translate_cli_writes_a_grid_or_one_png_per_sample(model, run_dir, tmp_path, capsys):
    from i2i_keras.translate import main

    export = os.path.join(run_dir, "export")
    args = ["--model", export, "--num-samples", "8", "--seed", "1", "--truncation-psi", "0.7"]
    assert main(args + ["--output", str(tmp_path / "grid.png")]) == 0
    grid = read_png(tmp_path / "grid.png")
    assert grid.shape == (48, 48, 3)  # 3 x 3 cells of 16 px, the ninth black
    expected = quantised(model.translate(None, mode="generate", num_samples=np.int32(8), seed=np.int64(1),
                                         truncation_psi=np.float32(0.7)))
    for cell, want in zip(grid_cells(grid, 8), expected):
        assert np.abs(cell.astype(int) - want).max() <= 1
    assert grid[32:, 32:].max() == 0
    # A directory (here a run directory as --model, the default mode): one PNG per sample, the grid's cells.
    assert main(["--model", run_dir, *args[2:], "--output", str(tmp_path / "samples")]) == 0
    files = sorted(os.listdir(tmp_path / "samples"))
    assert files == [f"generate_{i}.png" for i in range(8)]
    for i, cell in enumerate(grid_cells(grid, 8)):
        np.testing.assert_array_equal(read_png(tmp_path / "samples" / f"generate_{i}.png"), cell)
    # mix: the model's default crossover (metadata) when --crossover is left out, truncation 1 by default.
    for flags, crossover in (([], LATENT // 2), (["--crossover", "3"], 3)):
        out = str(tmp_path / f"mix{crossover}.png")
        assert main(["--model", export, "--mode", "mix", "--seed-coarse", "1", "--seed-fine", "2", *flags,
                     "--output", out]) == 0
        want = quantised(model.translate(None, mode="mix", **{**MIX, "crossover": np.int32(crossover)}))[0]
        assert np.abs(read_png(out).astype(int) - want).max() <= 1
    capsys.readouterr()
    assert main(["--model", export, "--list-modes"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and all(line.endswith("[generation: no input image]") for line in listed)
    assert listed[0].startswith("generate  (extra inputs: ") and "seed int64 []" in listed[0]
    # No seed: a random one, printed so the run can be repeated.
    capsys.readouterr()
    assert main(["--model", export, "--num-samples", "2", "--output", str(tmp_path / "random.png")]) == 0
    assert "seed " in capsys.readouterr().out


@pytest.mark.parametrize("flags, named, message", [
    (["--input", "IN"], "--input", "takes no input image"),
    (["--reference", "IN"], "--reference", "does not take reference"),
    (["--seed-coarse", "3"], "--seed-coarse 3", "does not take seed_coarse"),
    (["--mode", "mix", "--seed-coarse", "1", "--num-samples", "2"], "--num-samples 2", "does not take num_samples"),
    (["--tile", "16"], "--tile 16", "cannot be tiled"),
    (["--num-samples", "0"], "--num-samples 0", "must be >= 1"),
])
def test_translate_cli_generation_flag_errors_are_one_line(run_dir, tmp_path, capsys, flags, named, message):
    from i2i_keras.translate import main

    source = tmp_path / "in.png"
    source.write_bytes(tf.io.encode_png(np.zeros((16, 16, 3), np.uint8)).numpy())
    flags = [str(source) if f == "IN" else f for f in flags]
    assert main(["--model", run_dir, *flags, "--output", str(tmp_path / "o.png")]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and named in lines[0] and message in lines[0], lines
    assert not (tmp_path / "o.png").exists()


# ----------------------------------------------------------------------------------------------- shared method suite


def test_the_shared_method_suite_checks_generation_modes(model, tmp_path):
    """The checks tests/methods/test_methods.py runs on every registered method, on a generator."""
    from tests.methods.method_helpers import check_export_parity, check_translate_modes

    check_translate_modes(model)
    _, metadata = check_export_parity(model, str(tmp_path / "export"))
    assert "tiled_modes" not in metadata


def test_the_generation_check_catches_a_generator_that_ignores_its_seed(model):
    from tests.methods.method_helpers import check_generation_mode

    modes = model.translation_modes()

    class SeedBlind(type(model)):
        def translation_modes(self):
            generate = modes["generate"]
            return {"generate": dataclasses.replace(
                generate, fn=lambda num_samples, seed, truncation_psi: generate.fn(num_samples, 0, truncation_psi))}

    blind = SeedBlind(image_size=16)
    with pytest.raises(AssertionError, match="changing seed changes nothing"):
        check_generation_mode(blind, "generate")
