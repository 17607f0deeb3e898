"""serving.client against the development server (Python API over gRPC and REST, input checks against the declared
signature, the CLI), and the development server's own CLI started as a subprocess."""

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import numpy as np
import pytest

pytest.importorskip("tensorflow_serving", reason="the serving tests need tensorflow-serving-api (the [serving] extra)")

from serving import client, dev_server  # noqa: E402
from serving.client import ClientError, InputSpec, predict_grpc, predict_rest, prepare_inputs  # noqa: E402
from tests.serving.conftest import decode, png, styles_expected  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def local_bytes(local, name, signature, data):
    import tensorflow as tf

    return local[name].signatures[signature](images=tf.constant([data]))["images"].numpy()[0]


def grpc_address(server):
    return f"127.0.0.1:{server.grpc_port}"


def rest_address(server):
    return f"127.0.0.1:{server.rest_port}"


# ----------------------------------------------------------------------------------------------- Python API


def test_predict_grpc_and_rest_return_the_models_answer(server, local):
    images = [png(30, 20, seed=1), png(17, 33, 1, seed=2)]
    want = [local_bytes(local, "pix2pix", "translate_bytes", data) for data in images]
    assert predict_grpc(grpc_address(server), "p2p", images) == want
    assert predict_rest(rest_address(server), "p2p", images) == want
    assert predict_grpc(grpc_address(server), "p2p", images[:1], signature="translate_bytes", version=1) == want[:1]
    assert predict_rest(f"http://{rest_address(server)}", "p2p", images[:1], version=1) == want[:1]


def test_the_client_sends_the_multimodal_inputs(server):
    images = [png(10, 14, seed=1), png(9, 9, 1, seed=2)]
    reference = png(4, 4, seed=3)
    extra = {"target_domain": [2, 0], "num_samples": 2, "seed": 5, "reference": reference}
    for predict, address in ((predict_grpc, grpc_address(server)), (predict_rest, rest_address(server))):
        out = predict(address, "styles", images, extra=extra)
        assert [len(samples) for samples in out] == [2, 2]  # [batch][num_samples]
        for i, domain in enumerate((2, 0)):
            for k in range(2):
                np.testing.assert_array_equal(decode(out[i][k]), styles_expected(images[i], domain, k, 5, reference))


SPECS = {"images": InputSpec("DT_STRING", (-1,)), "target_domain": InputSpec("DT_INT32", (-1,)),
         "num_samples": InputSpec("DT_INT32", ()), "seed": InputSpec("DT_INT64", ()),
         "reference": InputSpec("DT_STRING", (-1,))}
FULL = {"target_domain": 1, "num_samples": 2, "seed": 3, "reference": b"ref"}


def test_prepare_inputs_repeats_one_value_for_every_image():
    arrays = prepare_inputs(SPECS, [b"a", b"b"], FULL, "styles_bytes")
    assert arrays["images"].tolist() == [b"a", b"b"]
    assert arrays["target_domain"].dtype == np.int32 and arrays["target_domain"].tolist() == [1, 1]
    assert arrays["num_samples"].shape == () and arrays["seed"].dtype == np.int64
    assert arrays["reference"].tolist() == [b"ref", b"ref"]
    arrays = prepare_inputs(SPECS, [b"a", b"b"], {**FULL, "target_domain": [4, 5]}, "styles_bytes")
    assert arrays["target_domain"].tolist() == [4, 5]


@pytest.mark.parametrize("extra, message", [
    ({k: v for k, v in FULL.items() if k != "seed"}, "requires the input 'seed' (CLI flag --seed)"),
    ({**FULL, "colour": 1}, "does not accept the input 'colour'; its inputs: images, num_samples, reference"),
    ({**FULL, "target_domain": 1.5}, "input 'target_domain' (CLI flag --target-domain) takes DT_INT32 values; "
                                     "received 1.5"),
    ({**FULL, "target_domain": True}, "takes DT_INT32 values; received True"),
    ({**FULL, "target_domain": [1, 2, 3]}, "needs one value per image (2); received 3"),
    ({**FULL, "target_domain": 2 ** 31}, "takes DT_INT32 values in [-2147483648, 2147483647]"),
    ({**FULL, "num_samples": [1, 2]}, "input 'num_samples' (CLI flag --num-samples) of signature 'styles_bytes' has "
                                      "the shape []; received [2]"),
    ({**FULL, "reference": "ref.png"}, "input 'reference' (CLI flag --reference) takes encoded image bytes"),
])
def test_prepare_inputs_names_the_input_and_its_flag(extra, message):
    with pytest.raises(ClientError) as info:
        prepare_inputs(SPECS, [b"a", b"b"], extra, "styles_bytes")
    assert message in str(info.value)


def test_prepare_inputs_wants_a_bytes_signature():
    with pytest.raises(ClientError, match="takes 'images' as DT_FLOAT \\[None, None, None, 3\\], not as encoded"):
        prepare_inputs({"images": InputSpec("DT_FLOAT", (-1, -1, -1, 3))}, [b"a"], None, "translate")
    with pytest.raises(ClientError, match="has no 'images' input"):
        prepare_inputs({"x": InputSpec("DT_STRING", (-1,))}, [b"a"], None, "other")


# ----------------------------------------------------------------------------------------------- CLI


def run_cli(capsys, *argv):
    try:
        code = client.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse errors
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_cli_writes_the_translated_png(server, local, tmp_path, capsys, rest):
    source = tmp_path / "in.png"
    source.write_bytes(png(26, 18, 1, seed=4))
    target = tmp_path / "nested" / "out.png"  # parent folders are created
    address = rest_address(server) if rest else grpc_address(server)
    code, out, err = run_cli(capsys, "--server", address, "--model", "p2p", "--input", source, "--output", target,
                             *(["--rest"] if rest else []))
    assert (code, out, err) == (0, f"{target}\n", "")
    assert target.read_bytes() == local_bytes(local, "pix2pix", "translate_bytes", source.read_bytes())
    assert decode(target.read_bytes()).shape == (26, 18, 3)


def test_cli_direction_picks_the_mode_signature(server, local, tmp_path, capsys):
    source = tmp_path / "in.png"
    source.write_bytes(png(20, 24, seed=6))
    for direction in ("a2b", "b2a"):
        target = tmp_path / f"{direction}.png"
        code, _, err = run_cli(capsys, "--server", grpc_address(server), "--model", "cyc", "--direction", direction,
                               "--input", source, "--output", target)
        assert (code, err) == (0, "")
        assert target.read_bytes() == local_bytes(local, "cyclegan", f"{direction}_bytes", source.read_bytes())
    assert (tmp_path / "a2b.png").read_bytes() != (tmp_path / "b2a.png").read_bytes()


@pytest.mark.parametrize("rest", [False, True], ids=["grpc", "rest"])
def test_cli_numbers_the_files_of_several_samples(server, tmp_path, capsys, rest):
    source, reference = tmp_path / "in.png", tmp_path / "ref.png"
    source.write_bytes(png(12, 10, seed=7))
    reference.write_bytes(png(3, 3, seed=8))
    address = rest_address(server) if rest else grpc_address(server)
    code, out, err = run_cli(capsys, "--server", address, "--model", "styles", "--input", source, "--output",
                             tmp_path / "out.png", "--target-domain", 2, "--num-samples", 3, "--seed", 11,
                             "--reference", reference, *(["--rest"] if rest else []))
    assert (code, err) == (0, "")
    names = [tmp_path / f"out_{k}.png" for k in range(3)]
    assert out.split() == [str(n) for n in names] and not (tmp_path / "out.png").exists()
    for k, name in enumerate(names):
        np.testing.assert_array_equal(decode(name.read_bytes()),
                                      styles_expected(source.read_bytes(), 2, k, 11, reference.read_bytes()))


STYLE_FLAGS = ["--target-domain", 1, "--num-samples", 1, "--seed", 2]
CLI_ERRORS = {
    "missing_input_file": (["--model", "p2p", "--input", "{tmp}/missing.png"], False,
                           ["--input", "missing.png: cannot read (No such file or directory)"]),
    "empty_input_file": (["--model", "p2p", "--input", "{tmp}/empty.png"], False, ["empty file (0 bytes)"]),
    "input_not_an_image": (["--model", "p2p", "--input", "{tmp}/notes.txt"], False,
                           ["INVALID_ARGUMENT: input 'images'[0]: not a PNG, JPEG, GIF or BMP image"]),
    "unknown_signature": (["--model", "p2p", "--signature", "nope"], False,
                          ["model 'p2p' has no signature 'nope'; it has: metadata, serving_default, "
                           "serving_default_tiled, translate, translate_bytes, translate_bytes_tiled"]),
    "unknown_signature_rest": (["--model", "p2p", "--signature", "nope"], True, ["has no signature 'nope'"]),
    "float_signature": (["--model", "p2p", "--signature", "translate"], False, ["not as encoded images"]),
    "flag_not_in_signature": (["--model", "p2p", "--target-domain", 1], False,
                              ["signature 'serving_default' does not accept the input 'target_domain' (CLI flag "
                               "--target-domain); its inputs: images"]),
    "flag_not_in_signature_rest": (["--model", "cyc", "--direction", "b2a", "--seed", 3], True,
                                   ["'b2a_bytes' does not accept the input 'seed' (CLI flag --seed)"]),
    "required_flag_missing": (["--model", "styles", "--target-domain", 1, "--num-samples", 2, "--reference",
                               "{tmp}/in.png"], False,
                              ["signature 'serving_default' requires the input 'seed' (CLI flag --seed)"]),
    "unknown_model": (["--model", "nope"], False, ["NOT_FOUND: Servable not found for request: Latest(nope)"]),
    "unknown_model_rest": (["--model", "nope"], True, ["HTTP 404: Servable not found for request: Latest(nope)"]),
    "unknown_version": (["--model", "p2p", "--model-version", 4], False, ["NOT_FOUND", "Specific(p2p, 4)"]),
    "output_not_png": (["--model", "p2p", "--output", "{tmp}/out.jpg"], False, ["give a file name ending in .png"]),
    "signature_and_direction": (["--model", "cyc", "--signature", "a2b_bytes", "--direction", "a2b"], False,
                                ["give one of --signature, --direction and --mode"]),
    "bad_direction": (["--model", "cyc", "--direction", "sideways"], False, ["invalid choice: 'sideways'"]),
    "server_down": (["--model", "p2p", "--server", "127.0.0.1:1", "--timeout", 10], False,
                    ["127.0.0.1:1: UNAVAILABLE"]),
    "server_down_rest": (["--model", "p2p", "--server", "127.0.0.1:1", "--timeout", 10], True,
                         ["cannot reach http://127.0.0.1:1/v1/models/p2p/metadata"]),
}


@pytest.mark.parametrize("case", sorted(CLI_ERRORS))
def test_cli_failures_are_one_line_with_exit_status_2(server, tmp_path, capsys, case):
    argv, rest, messages = CLI_ERRORS[case]
    (tmp_path / "in.png").write_bytes(png(8, 8))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    argv = [str(a).format(tmp=tmp_path) for a in argv]
    if "--server" not in argv:
        argv += ["--server", rest_address(server) if rest else grpc_address(server)]
    if "--input" not in argv:
        argv += ["--input", tmp_path / "in.png"]
    if "--output" not in argv:
        argv += ["--output", tmp_path / "out.png"]
    code, out, err = run_cli(capsys, *argv, *(["--rest"] if rest else []))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    for message in messages:
        assert message in err
    assert not (tmp_path / "out.png").exists()


# ----------------------------------------------------------------------------------------------- dev server CLI


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dev_server_cli_serves_grpc_and_rest(exports, tmp_path):
    rest_port = _free_port()
    log_path = tmp_path / "server.log"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "serving.dev_server", "--model_base_path", exports["pix2pix"], "--model_name",
             "sub", "--port", "0", "--rest_api_port", str(rest_port), "--max_pixels", "5000"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        try:
            ready = lines.get(timeout=120)
        except queue.Empty:
            pytest.fail(f"no ready line within 120 s; server log:\n{log_path.read_text()}")
        match = re.match(r"dev_server ready: gRPC 127\.0\.0\.1:(\d+) \| REST 127\.0\.0\.1:(\d+) \| models sub "
                         r"\(versions \[1\]\)", ready)
        assert match and int(match.group(2)) == rest_port, ready
        (out,) = predict_grpc(f"127.0.0.1:{match.group(1)}", "sub", [png(20, 30)])
        assert decode(out).shape == (20, 30, 3)
        with urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/v1/models/sub", timeout=30) as reply:
            assert b'"AVAILABLE"' in reply.read()
        with pytest.raises(ClientError, match="PNG image is 80x80 = 6400 pixels, over this server's limit of 5000"):
            predict_rest(f"127.0.0.1:{rest_port}", "sub", [png(80, 80)])
        # The client CLI in a fresh process (TensorFlow imported there): stderr is the one error line, nothing else.
        (tmp_path / "in.png").write_bytes(png(8, 8))
        env.pop("TF_CPP_MIN_LOG_LEVEL")
        result = subprocess.run(
            [sys.executable, "-m", "serving.client", "--server", f"127.0.0.1:{match.group(1)}", "--model", "sub",
             "--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "out.png"), "--seed", "3"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == ("error: signature 'serving_default' does not accept the input 'seed' (CLI flag "
                                 "--seed); its inputs: images\n")
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, log_path.read_text()


def test_dev_server_cli_startup_errors_are_one_line(tmp_path, capsys):
    assert dev_server.main(["--model_base_path", str(tmp_path / "missing"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: model 'default': base path ") and "does not exist" in err
    assert dev_server.main(["--port", "0"]) == 2
    assert capsys.readouterr().err == "error: give exactly one of --model_base_path or --model_config_file\n"
