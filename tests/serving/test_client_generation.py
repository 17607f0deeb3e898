"""The serving client against a generation export (the tiny stand-in generator of `tests.generation_model`, served
by the development server): requests of scalar inputs alone, over gRPC and REST, give Python's images."""

import os

import numpy as np
import pytest
import tensorflow as tf

from serving import client
from serving.client import ClientError, InputSpec, prepare_inputs
from serving.png_grid import decode_png, encode_png, png_grid
from tests.generation_model import LATENT, tiny_generator
from tests.serving.test_client import run_cli


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


@pytest.fixture(scope="module")
def served(generator, tmp_path_factory):
    """(development server serving the stand-in as model 'gan', its export base path)."""
    from i2i_keras.export import export_for_serving
    from serving.dev_server import start_server

    base = str(tmp_path_factory.mktemp("gan_export") / "gan")
    export_for_serving(generator, base)
    srv = start_server(model_base_path=base, model_name="gan", max_workers=2)
    yield srv, base
    srv.stop()


def _address(server, rest):
    return f"127.0.0.1:{server.rest_port if rest else server.grpc_port}"


def _quantised(images):
    return np.round((np.asarray(images) + 1) * 127.5).clip(0, 255).astype(int)


SPECS = {"num_samples": InputSpec("DT_INT32", ()), "seed": InputSpec("DT_INT64", ()),
         "truncation_psi": InputSpec("DT_FLOAT", ())}


def test_prepare_inputs_of_a_generation_signature():
    arrays = prepare_inputs(SPECS, None, {"num_samples": 2, "seed": 3, "truncation_psi": 0.5}, "generate_bytes")
    assert sorted(arrays) == ["num_samples", "seed", "truncation_psi"]
    assert arrays["seed"].dtype == np.int64 and arrays["seed"].shape == ()
    with pytest.raises(ClientError, match=r"generates images from its inputs \(num_samples, seed, truncation_psi\) "
                                          r"and takes no input image \(CLI flag --input\); received 1 image"):
        prepare_inputs(SPECS, [b"x"], {"num_samples": 2, "seed": 3, "truncation_psi": 0.5}, "generate_bytes")
    with pytest.raises(ClientError, match=r"requires the input 'seed' \(CLI flag --seed\)"):
        prepare_inputs(SPECS, None, {"num_samples": 2, "truncation_psi": 0.5}, "generate_bytes")
    with pytest.raises(ClientError, match=r"translates images: no images to send \(CLI flag --input\)"):
        prepare_inputs({"images": InputSpec("DT_STRING", (-1,))}, None, None, "translate_bytes")


def test_png_codec_and_grid_without_tensorflow():
    rng = np.random.default_rng(0)
    for shape, dtype in (((5, 7, 3), np.uint8), ((4, 3, 1), np.uint8), ((6, 2, 4), np.uint16)):
        image = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
        # TensorFlow's encoder uses libpng's adaptive filters (Sub, Up, Average, Paeth): all are undone.
        np.testing.assert_array_equal(decode_png(tf.io.encode_png(image).numpy()), image)
        np.testing.assert_array_equal(tf.io.decode_png(encode_png(image), dtype=tf.as_dtype(dtype)).numpy(), image)
    smooth = np.add.outer(np.arange(32), np.arange(32))[..., None].repeat(3, -1).astype(np.uint8)
    np.testing.assert_array_equal(decode_png(tf.io.encode_png(smooth).numpy()), smooth)
    images = [rng.integers(0, 256, (4, 4, 3)).astype(np.uint8) for _ in range(5)]
    grid = decode_png(png_grid([tf.io.encode_png(x).numpy() for x in images]))
    assert grid.shape == (8, 12, 3)  # 3 columns, 2 rows
    np.testing.assert_array_equal(grid[4:, 4:8], images[4])
    assert grid[4:, 8:].max() == 0
    with pytest.raises(ClientError, match="different shapes"):
        png_grid([tf.io.encode_png(images[0]).numpy(), tf.io.encode_png(images[0][:2]).numpy()])


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_generation_requests_give_pythons_images(served, generator, rest):
    server, _ = served
    predict = client.predict_rest if rest else client.predict_grpc
    inputs = {"num_samples": 3, "seed": 4, "truncation_psi": 0.7}
    pngs = predict(_address(server, rest), "gan", None, "generate_bytes", inputs)
    expected = _quantised(generator.translate(None, mode="generate", num_samples=np.int32(3), seed=np.int64(4),
                                              truncation_psi=np.float32(0.7)))
    assert len(pngs) == 3
    for png, want in zip(pngs, expected):
        assert np.abs(decode_png(png).astype(int) - want).max() <= 1
    # serving_default is the first mode's bytes signature: the same images.
    assert predict(_address(server, rest), "gan", None, "serving_default", inputs) == pngs
    metadata = client.model_metadata(_address(server, rest), "gan", rest=rest)
    assert metadata["generation_modes"]["mix"]["defaults"] == {"truncation_psi": 1.0, "crossover": LATENT // 2}
    assert client.generation_defaults(metadata, "serving_default") == {"truncation_psi": 1.0}


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_client_cli_writes_the_grid_and_samples_like_translate(served, generator, tmp_path, capsys, rest):
    from i2i_keras.translate import main as translate

    server, base = served
    flags = ["--server", _address(server, rest), "--model", "gan", *(["--rest"] if rest else [])]
    code, out, err = run_cli(capsys, *flags, "--num-samples", 5, "--seed", 1, "--truncation-psi", 0.7,
                             "--output", tmp_path / "grid.png")
    assert (code, err) == (0, "") and out.split() == [str(tmp_path / "grid.png")]
    assert translate(["--model", base, "--num-samples", "5", "--seed", "1", "--truncation-psi", "0.7",
                      "--output", str(tmp_path / "translate.png")]) == 0
    capsys.readouterr()
    grid = decode_png((tmp_path / "grid.png").read_bytes())
    np.testing.assert_array_equal(grid, decode_png((tmp_path / "translate.png").read_bytes()))
    assert grid.shape == (32, 48, 3)
    # mix into a directory, crossover and truncation from the model's defaults (metadata).
    code, out, err = run_cli(capsys, *flags, "--mode", "mix", "--seed-coarse", 1, "--seed-fine", 2,
                             "--output", tmp_path / "mixes")
    assert (code, err) == (0, "") and out.split() == [str(tmp_path / "mixes" / "mix_0.png")]
    want = _quantised(generator.translate(None, mode="mix", seed_coarse=np.int64(1), seed_fine=np.int64(2),
                                          crossover=np.int32(LATENT // 2), truncation_psi=np.float32(1.0)))[0]
    got = decode_png((tmp_path / "mixes" / "mix_0.png").read_bytes())
    assert np.abs(got.astype(int) - want).max() <= 1


@pytest.mark.parametrize("argv, message", [
    (["--input", "{tmp}/in.png", "--num-samples", 2, "--seed", 1],
     "takes no input image (CLI flag --input); received 1 image"),
    (["--num-samples", 2], "requires the input 'seed' (CLI flag --seed)"),
    (["--num-samples", 2, "--seed", 1, "--crossover", 3],
     "does not accept the input 'crossover' (CLI flag --crossover)"),
    (["--num-samples", 2, "--seed", 1, "--tile", 16], "takes scalar inputs alone; received --tile"),
    (["--mode", "mix", "--direction", "a2b"], "give one of --signature, --direction and --mode"),
])
def test_client_cli_generation_errors_are_one_line(served, tmp_path, capsys, argv, message):
    server, _ = served
    (tmp_path / "in.png").write_bytes(tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)).numpy())
    argv = [str(a).format(tmp=tmp_path) for a in argv]
    code, out, err = run_cli(capsys, "--server", _address(server, False), "--model", "gan", *argv,
                             "--output", tmp_path / "out.png")
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
    assert not os.path.exists(tmp_path / "out.png")
