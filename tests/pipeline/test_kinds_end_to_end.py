"""Data kinds reach the whole pipeline by their declaration alone: `single` and `sr` folders go through ingestion,
training, evaluation, blessing, push and the development server with no kind name written in pipeline/ or
serving/ (checked here too). The methods are the two small test methods of `kind_methods.py`."""

import json
import os
import re

import numpy as np
import pytest

pytest.importorskip("tfx", reason="the pipeline needs TFX (the Python 3.10 lane)")
pytest.importorskip("tensorflow_serving", reason="the serving check needs tensorflow-serving-api")

import tensorflow as tf  # noqa: E402

from i2i_keras.data import embedded_path  # noqa: E402
from i2i_keras.data import encode_png  # noqa: E402
from i2i_keras.data import kinds  # noqa: E402
from tests.pipeline import pipeline_test_utils as utils  # noqa: E402

FAST_BEAM = ["--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"]
CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kind_configs")
TIMEOUT = 600


def _photos(root: str, n: int, size: int = 24) -> str:
    """`root/<name>.png`: n crops of the embedded real photos, size x size colour."""
    folder = os.path.join(embedded_path("photos"), "train")
    for name in sorted(os.listdir(folder))[:n]:
        image = tf.io.decode_png(tf.io.read_file(os.path.join(folder, name)), channels=3)
        small = tf.cast(tf.image.resize(image, [size, size], antialias=True), tf.uint8).numpy()
        utils.write_png(os.path.join(root, name), small)
    return root


def _run(tmp_path, method: str) -> dict:
    data = _photos(str(tmp_path / "data"), n=12)
    args = ["--method", method, "--config", os.path.join(CONFIGS, f"{method}.yaml"), "--data", data,
            "--output", str(tmp_path / "out"), "--steps", "2", "--serving-dir", str(tmp_path / "serving"),
            "--eval-fraction", "0.3", *FAST_BEAM]
    proc = utils.run_python(["-m", "tests.pipeline.kind_methods", *args], timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    with open(tmp_path / "out" / "last_run.json") as f:
        return json.load(f)


def _serve_one(tmp_path, height: int, width: int) -> tuple:
    from serving.client import predict_grpc
    from serving.dev_server import start_server

    base = str(tmp_path / "serving" / "i2i")
    server = start_server(model_base_path=base, model_name="i2i", grpc_port=0, rest_port=0)
    try:
        request = encode_png(np.full((height, width, 3), 128, np.uint8))
        pngs = predict_grpc(f"127.0.0.1:{server.grpc_port}", "i2i", [request], signature="serving_default")
    finally:
        server.stop()
    return tuple(tf.io.decode_png(pngs[0]).shape)


@pytest.mark.parametrize("method, kind, scale", [("kind_test_autoencoder", "single", 1),
                                                 ("kind_test_upsampler", "sr", 2)])
def test_kind_goes_through_the_whole_pipeline(tmp_path, method, kind, scale):
    summary = _run(tmp_path, method)
    assert summary["blessed"] and summary["pushed"], summary
    with open(os.path.join(summary["examples"], "ingest_report.json")) as f:
        report = json.load(f)
    assert report["data_kind"] == kind and report["layout"] == "images" and report["rejected"]["count"] == 0
    assert sum(report["written"]["train"].values()) > 0 and sum(report["written"]["eval"].values()) > 0
    # The evaluator computed the metrics the kind declares, each finite; only FID / KID are skipped (None): the
    # FID Inception weights are not on this machine.
    assert set(summary["metrics"]) == set(kinds.get(kind).metrics)
    assert {k for k, v in summary["metrics"].items() if v is None} <= {"fid", "kid"}, summary["metrics"]
    assert all(np.isfinite(v) for v in summary["metrics"].values() if v is not None), summary["metrics"]
    # The served model answers with the kind's output size (sr: `scale` times the request).
    assert _serve_one(tmp_path, 20, 28) == (20 * scale, 28 * scale, 3)


def test_pipeline_and_serving_code_names_no_data_kind():
    names = kinds.names()
    pattern = re.compile(r"""["'](%s)["']""" % "|".join(map(re.escape, names)))
    offenders = []
    for folder in ("pipeline", "serving"):
        for parent, _, files in os.walk(os.path.join(utils.REPO_ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(parent, name)
                    with open(path, encoding="utf-8") as f:
                        for number, line in enumerate(f, 1):
                            if pattern.search(line):
                                offenders.append(f"{os.path.relpath(path, utils.REPO_ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
