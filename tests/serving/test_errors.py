"""The serving package's own exception types carry machine-readable codes; its CLIs turn only those into one
`error:` line (exit status 2) and show any other exception as a defect, with its traceback. Also: the package
imports itself relatively, so it works under another top-level name."""

import ast
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow_serving", reason="the serving tests need tensorflow-serving-api (the [serving] extra)")

import grpc  # noqa: E402

from serving import client, dev_server  # noqa: E402
from serving.client import ClientError, InputSpec, predict_grpc, predict_rest, prepare_inputs  # noqa: E402
from serving.errors import (BindError, ConfigError, ConfigFileNotFoundError, ImageHeaderError,  # noqa: E402
                            ServingError, ServingToolError)
from tests.serving.conftest import png  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVING = os.path.join(REPO, "serving")


def _code(call, error_type=ServingToolError):
    with pytest.raises(error_type) as info:
        call()
    assert isinstance(info.value, ServingToolError)
    return info.value.code


# ----------------------------------------------------------------------------------------------- codes


@pytest.mark.parametrize("extra, code", [
    ({"num_samples": 1}, "missing_input"),
    ({"num_samples": 1, "seed": 2, "colour": 1}, "unknown_input"),
    ({"num_samples": 1.5, "seed": 2}, "bad_input"),
])
def test_client_errors_carry_a_code(extra, code):
    specs = {"images": InputSpec("DT_STRING", (-1,)), "num_samples": InputSpec("DT_INT32", ()),
             "seed": InputSpec("DT_INT64", ())}
    assert _code(lambda: prepare_inputs(specs, [b"a"], extra, "styles_bytes"), ClientError) == code


def test_client_errors_name_the_failure_of_the_call(server):
    grpc_address, rest_address = f"127.0.0.1:{server.grpc_port}", f"127.0.0.1:{server.rest_port}"
    assert _code(lambda: predict_grpc(grpc_address, "p2p", [png(8, 8)], signature="nope")) == "unknown_signature"
    assert _code(lambda: predict_rest(rest_address, "p2p", [png(8, 8)], signature="nope")) == "unknown_signature"
    assert _code(lambda: predict_grpc(grpc_address, "nope", [png(8, 8)])) == "not_found"
    assert _code(lambda: predict_rest(rest_address, "nope", [png(8, 8)])) == "not_found"
    assert _code(lambda: predict_grpc(grpc_address, "p2p", [b"not an image"])) == "bad_request"
    assert _code(lambda: predict_grpc("127.0.0.1:1", "p2p", [png(8, 8)], timeout=10)) == "connection_failed"
    assert _code(lambda: predict_rest("127.0.0.1:1", "p2p", [png(8, 8)], timeout=10)) == "connection_failed"


def test_server_errors_carry_a_code_and_the_grpc_status(server):
    manager = server.manager
    with pytest.raises(ServingError) as info:
        manager.get("nope")
    assert (info.value.code, info.value.status, info.value.http_status) == ("unknown_model",
                                                                           grpc.StatusCode.NOT_FOUND, 404)
    assert _code(lambda: manager.get("p2p", version=9)) == "unknown_version"
    assert _code(lambda: manager.get("p2p", label="canary")) == "unknown_label"
    predictor = dev_server.Predictor(manager, max_pixels=16)
    servable = manager.get("p2p")
    with pytest.raises(ServingError) as info:
        predictor.signature(servable, "nope")
    assert (info.value.code, info.value.status) == ("unknown_signature", grpc.StatusCode.FAILED_PRECONDITION)
    images = np.array([png(8, 8)], dtype=object)
    assert _code(lambda: predictor.run(servable, "serving_default", {"images": images})) == "image_too_large"
    assert _code(lambda: predictor.run(servable, "serving_default", {})) == "bad_input_names"


@pytest.mark.parametrize("data, code", [(b"", "not_an_image"), (b"hello world", "not_an_image"),
                                        (png(4, 4)[:20], "corrupt_header"),
                                        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(8), "empty_image")])
def test_image_header_errors_carry_a_code(data, code):
    assert _code(lambda: dev_server.encoded_image_size(data), ImageHeaderError) == code


def test_start_up_errors_carry_a_code_and_keep_their_builtin_types(server, exports, tmp_path):
    with pytest.raises(ConfigError) as info:
        dev_server.start_server(str(tmp_path / "missing"), rest_port=None)
    assert info.value.code == "no_loadable_version" and isinstance(info.value, ValueError)
    with pytest.raises(ConfigFileNotFoundError) as info:
        dev_server.start_server(model_config_file=str(tmp_path / "missing.pbtxt"))
    assert info.value.code == "config_not_found" and isinstance(info.value, FileNotFoundError)
    assert _code(lambda: dev_server.start_server(exports["pix2pix"], max_pixels=0)) == "bad_argument"
    with pytest.raises(BindError) as info:
        dev_server.start_server(exports["pix2pix"], grpc_port=server.grpc_port, rest_port=None, poll_seconds=0)
    assert info.value.code == "bind_failed" and isinstance(info.value, OSError)


# ----------------------------------------------------------------------------------------------- CLIs


def test_client_cli_shows_an_unexpected_exception_as_a_defect(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the client")

    monkeypatch.setattr(client, "predict_grpc", broken)
    (tmp_path / "in.png").write_bytes(png(8, 8))
    code = client.main(["--server", "127.0.0.1:1", "--model", "p2p", "--input", str(tmp_path / "in.png"),
                        "--output", str(tmp_path / "out.png")])
    err = capsys.readouterr().err
    assert code == 1 and not err.startswith("error:")
    assert "Traceback (most recent call last)" in err and "RuntimeError: a bug in the client" in err
    assert "please report it" in err.strip().splitlines()[-1]


def test_dev_server_cli_shows_an_unexpected_exception_as_a_defect(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a bug in the server")

    monkeypatch.setattr(dev_server, "start_server", broken)
    assert dev_server.main(["--model_base_path", "anything", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError: 'a bug in the server'" in err
    assert "please report it" in err.strip().splitlines()[-1]


def test_dev_server_cli_reports_its_own_errors_in_one_line(capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConfigError("first line\nsecond line", code="bad_config")

    monkeypatch.setattr(dev_server, "start_server", refuse)
    assert dev_server.main(["--model_base_path", "anything", "--port", "0"]) == 2
    assert capsys.readouterr().err == "error: first line\n"


# ----------------------------------------------------------------------------------------------- package


def test_the_package_imports_itself_relatively_and_not_the_library():
    for name in sorted(os.listdir(SERVING)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(SERVING, name), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for module in modules:
                top = module.split(".")[0]
                assert top not in ("serving", "i2i_keras"), f"serving/{name}:{node.lineno} imports {module}"


def test_the_package_works_under_another_top_level_name(tmp_path):
    shutil.copytree(SERVING, tmp_path / "i2i_keras_serving", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(tmp_path)}
    script = ("import i2i_keras_serving.client as c, i2i_keras_serving.dev_server as d; "
              "print(c.build_parser().prog); print(d.build_parser().prog); print(d.start_server.__module__)")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["python -m i2i_keras_serving.client",
                                             "python -m i2i_keras_serving.dev_server", "i2i_keras_serving.server"]
