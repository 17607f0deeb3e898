"""The domain-adaptation methods through the whole pipeline, by the kind's declaration alone: a small copy of the
embedded mnist_m_like folder goes through ingestion (target labels only in eval examples), training, the
classification evaluator (target and source-only accuracy), blessing, push, and a gRPC classify request to the
development server."""

import json
import os
import shutil

import pytest

pytest.importorskip("tfx", reason="the pipeline needs TFX (the Python 3.10 lane)")
pytest.importorskip("tensorflow_serving", reason="the serving check needs tensorflow-serving-api")

import tensorflow as tf  # noqa: E402

from i2i_keras.data import embedded_path  # noqa: E402
from i2i_keras.data import kinds  # noqa: E402
from i2i_keras.data import schema  # noqa: E402
from tests.helpers import REPO  # noqa: E402
from tests.pipeline import pipeline_test_utils as utils  # noqa: E402

FAST_BEAM = ["--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"]


def _small_copy(root: str, per_class: int = 2) -> str:
    """The embedded set's layout with `per_class` images per class and part (the training target: 20 images)."""
    source = embedded_path("mnist_m_like")
    for split in ("train", "test"):
        for side in ("source", "target"):
            folder = os.path.join(source, split, side)
            if split == "train" and side == "target":
                names = sorted(os.listdir(folder))[:10 * per_class]
                os.makedirs(os.path.join(root, split, side))
                for name in names:
                    shutil.copy(os.path.join(folder, name), os.path.join(root, split, side, name))
                continue
            for cls in sorted(os.listdir(folder)):
                os.makedirs(os.path.join(root, split, side, cls))
                for name in sorted(os.listdir(os.path.join(folder, cls)))[:per_class]:
                    shutil.copy(os.path.join(folder, cls, name), os.path.join(root, split, side, cls, name))
    return root


@pytest.mark.parametrize("method", ["dann", "pixelda"])
def test_domain_adaptation_goes_through_the_whole_pipeline(tmp_path, method):
    data = _small_copy(str(tmp_path / "data"))
    args = ["--method", method, "--config", os.path.join(REPO, "configs", "tiny", f"{method}.yaml"), "--data", data,
            "--output", str(tmp_path / "out"), "--steps", "2", "--serving-dir", str(tmp_path / "serving"),
            *FAST_BEAM]
    proc = utils.run_python(["-m", "pipeline.run", *args], timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    with open(tmp_path / "out" / "last_run.json") as f:
        summary = json.load(f)
    assert summary["blessed"] and summary["pushed"], summary
    with open(os.path.join(summary["examples"], "ingest_report.json")) as f:
        report = json.load(f)
    assert report["data_kind"] == "domain_adaptation" and report["layout"] == "source_target"
    # No training example of the target carries a label; every eval example of it does.
    for split, labelled in (("train", False), ("eval", True)):
        files = tf.io.gfile.glob(os.path.join(summary["examples"], f"Split-{split}", "*"))
        records = [schema.parse_example(r, "domain_adaptation")
                   for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
        targets = [r for r in records if int(r[schema.DOMAIN]) == 1]
        assert targets and all((int(tf.size(r[schema.LABEL])) > 0) == labelled for r in targets), split
    assert set(summary["metrics"]) == set(kinds.get("domain_adaptation").metrics)
    assert all(0.0 <= summary["metrics"][m] <= 1.0 for m in ("target_accuracy", "source_only_target_accuracy"))

    from serving.client import classify_grpc
    from serving.dev_server import start_server

    server = start_server(model_base_path=str(tmp_path / "serving" / "i2i"), model_name="i2i")
    try:
        target = os.path.join(data, "test", "target", "3")
        image = open(os.path.join(target, sorted(os.listdir(target))[0]), "rb").read()
        (ranked,) = classify_grpc(f"127.0.0.1:{server.grpc_port}", "i2i", [image])
    finally:
        server.stop()
    assert sorted(name for name, _ in ranked) == [str(d) for d in range(10)]
    assert abs(sum(p for _, p in ranked) - 1.0) < 1e-4
