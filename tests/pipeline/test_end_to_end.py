"""The whole pipeline end to end, in CI: a folder of tiny real images -> TFRecords -> a few training steps ->
evaluation -> blessed push -> development server -> gRPC request -> a PNG of the input's size comes back.
Then a second run through the TFX CLI on the same output root: the Trainer comes from TFX's cache, the
evaluator compares with the model the first run blessed, an impossible threshold refuses the blessing, and the
Pusher pushes nothing."""

import json
import os
import shlex
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tfx", reason="the pipeline needs TFX (the Python 3.10 lane)")
pytest.importorskip("tensorflow_serving", reason="the serving check needs tensorflow-serving-api")

import tensorflow as tf  # noqa: E402

from i2i_keras.data import embedded_path  # noqa: E402
from i2i_keras.data import encode_png  # noqa: E402
from tests.pipeline import pipeline_test_utils as utils  # noqa: E402

# In-process Beam keeps the test short; the DirectRunner's multi-processing default is tested in test_ingest.py.
FAST_BEAM = ["--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"]
PIPELINE = "i2i-pix2pix"
TIMEOUT = 600


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data = utils.make_paired_ab(str(root / "data"), n=10)
    args = ["--method", "pix2pix", "--config", "configs/tiny/pix2pix.yaml", "--data", data,
            "--output", str(root / "out"), "--steps", "2", "--serving-dir", str(root / "serving"), *FAST_BEAM]
    proc = utils.run_python(["-m", "pipeline.run", *args], timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    with open(root / "out" / "last_run.json") as f:
        summary = json.load(f)
    return root, args, summary


def _versions(root):
    base = root / "serving" / "i2i"
    return sorted(name for name in os.listdir(base) if name.isdigit())


def _photo(height, width):
    folder = os.path.join(embedded_path("photos"), "test")
    image = tf.io.decode_png(tf.io.read_file(os.path.join(folder, sorted(os.listdir(folder))[0])), channels=3)
    return tf.cast(tf.image.resize(image, [height, width], antialias=True), tf.uint8).numpy()


def test_pipeline_pushes_a_model_that_serves_over_grpc(first_run):
    from serving.client import predict_grpc
    from serving.dev_server import start_server

    root, _, summary = first_run
    assert summary["blessed"] and summary["pushed"], summary
    with open(os.path.join(summary["examples"], "ingest_report.json")) as f:
        report = json.load(f)
    assert report["rejected"]["count"] == 0 and sum(report["written"]["train"].values()) > 0
    assert np.isfinite(summary["metrics"]["psnr"])
    # TF Serving's layout: <serving root>/<model name>/<version>/, the version a Unix timestamp.
    versions = _versions(root)
    assert len(versions) == 1 and summary["pushed_destination"] == str(root / "serving" / "i2i" / versions[0])
    version_dir = root / "serving" / "i2i" / versions[0]
    for name in ("saved_model.pb", os.path.join("variables", "variables.index"),
                 os.path.join("assets.extra", "i2i_metadata.json")):
        assert (version_dir / name).is_file(), name

    server = start_server(model_base_path=str(root / "serving" / "i2i"), model_name="i2i", grpc_port=0, rest_port=0)
    try:
        # Not the training size (32x32) and not square: the served model translates any size.
        request = encode_png(_photo(40, 56))
        pngs = predict_grpc(f"127.0.0.1:{server.grpc_port}", "i2i", [request], signature="serving_default")
    finally:
        server.stop()
    assert len(pngs) == 1 and pngs[0].startswith(b"\x89PNG\r\n\x1a\n")
    assert tuple(tf.io.decode_png(pngs[0]).shape) == (40, 56, 3)


def test_tfx_cli_run_compares_with_the_blessed_model_and_pushes_nothing(first_run):
    from pipeline.run import summarize

    root, args, first = first_run
    env = utils.subprocess_env({"I2I_PIPELINE_ARGS": shlex.join(args + ["--threshold", "psnr.lower_bound=1000"]),
                                "LOCAL_HOME": str(root / "tfx-cli-home")})
    tfx_cli = os.path.join(os.path.dirname(sys.executable), "tfx")
    runner_file = os.path.join(utils.REPO_ROOT, "pipeline", "local_runner.py")
    create = subprocess.run([tfx_cli, "pipeline", "create", "--engine", "local", "--pipeline_path", runner_file],
                            cwd=utils.REPO_ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert create.returncode == 0, create.stderr[-3000:]
    assert f'Pipeline "{PIPELINE}" created successfully.' in create.stdout
    assert os.path.isfile(root / "tfx-cli-home" / PIPELINE / "pipeline_args.json")
    run = subprocess.run([tfx_cli, "run", "create", "--engine", "local", "--pipeline_name", PIPELINE],
                         cwd=utils.REPO_ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]

    second = summarize(str(root / "out"), PIPELINE)
    # Same data and training config: ingestion and Trainer outputs come from the cache.
    assert second["examples"] == first["examples"] and second["model"] == first["model"]
    assert second["evaluation"] != first["evaluation"]
    assert not second["blessed"] and not second["pushed"]
    assert second["failed_checks"] == ["psnr.lower_bound"]
    with open(os.path.join(second["evaluation"], "metrics.json")) as f:
        evaluation = json.load(f)
    # The resolver handed the evaluator the model the first run blessed, evaluated on the same images.
    assert evaluation["baseline"]["path"] == os.path.join(first["model"], "Format-Serving")
    assert evaluation["baseline"]["metrics"]["psnr"] == pytest.approx(evaluation["metrics"]["psnr"])
    assert os.path.isfile(os.path.join(second["blessing"], "NOT_BLESSED"))
    assert len(_versions(root)) == 1
