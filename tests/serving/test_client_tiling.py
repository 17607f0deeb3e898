"""serving.client --tile/--overlap: the `<signature>_tiled` signatures through the development server."""

import pytest

pytest.importorskip("tensorflow_serving", reason="the serving tests need tensorflow-serving-api (the [serving] extra)")

from serving import client  # noqa: E402
from tests.serving.conftest import png  # noqa: E402
from tests.serving.test_client import grpc_address, rest_address, run_cli  # noqa: E402


def _local_tiled(local, name, signature, data, tile, overlap):
    import tensorflow as tf

    return local[name].signatures[signature](images=tf.constant([data]), tile=tf.constant(tile),
                                             overlap=tf.constant(overlap))["images"].numpy()[0]


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_cli_tile_calls_the_tiled_signature(server, local, tmp_path, capsys, rest):
    source = tmp_path / "in.png"
    source.write_bytes(png(40, 70, seed=11))
    size_multiple = 2 ** 5   # tests/helpers tiny pix2pix: num_downs 5
    address = rest_address(server) if rest else grpc_address(server)
    target = tmp_path / "tiled.png"
    code, out, err = run_cli(capsys, "--server", address, "--model", "p2p", "--input", source, "--output", target,
                             "--tile", size_multiple, "--overlap", 8, *(["--rest"] if rest else []))
    assert (code, err) == (0, "")
    assert target.read_bytes() == _local_tiled(local, "pix2pix", "serving_default_tiled", source.read_bytes(),
                                               size_multiple, 8)
    # --direction picks that mode's tiled signature; the overlap defaults to min(32, tile / 4).
    code, _, err = run_cli(capsys, "--server", address, "--model", "cyc", "--direction", "b2a", "--input", source,
                           "--output", target, "--tile", 16, *(["--rest"] if rest else []))
    assert (code, err) == (0, "")
    assert target.read_bytes() == _local_tiled(local, "cyclegan", "b2a_bytes_tiled", source.read_bytes(), 16, 4)


def test_cli_tile_flag_errors_are_one_line(server, tmp_path, capsys):
    source = tmp_path / "in.png"
    source.write_bytes(png(8, 8, seed=1))
    base = ["--server", grpc_address(server), "--model", "p2p", "--input", source, "--output", tmp_path / "o.png"]
    code, _, err = run_cli(capsys, *base, "--overlap", 4)
    assert code == 2 and err.strip() == "error: --overlap needs --tile; received --overlap 4"
    code, _, err = run_cli(capsys, *base, "--tile", -32)
    assert code == 2 and "--tile and --overlap are pixels (>= 0); received --tile -32" in err
    code, _, err = run_cli(capsys, *base, "--classify", "--tile", 32)
    assert code == 2 and err.startswith("error: --classify prints classes") and "--tile" in err
    assert client.INPUT_FLAGS["tile"] == "--tile"
