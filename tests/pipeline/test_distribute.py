"""Strategy selection from TF_CONFIG, and two MultiWorkerMirroredStrategy workers on 127.0.0.1 running the Trainer's
run_fn in step: identical weights on both, and only the chief's outputs kept."""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.data import encode_png
from i2i_keras.training import distribute
from tests.pipeline import pipeline_test_utils as utils


def test_strategy_follows_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.num_workers_from_environment() == 1
    strategy = distribute.strategy_from_environment()
    assert not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    assert distribute.is_chief(strategy) and distribute.worker_output_dir("/runs/x", strategy) == "/runs/x"

    single = {"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(single))
    assert distribute.num_workers_from_environment() == 1
    assert not isinstance(distribute.strategy_from_environment(), tf.distribute.MultiWorkerMirroredStrategy)

    three = {"cluster": {"chief": ["h:1"], "worker": ["h:2", "h:3"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(three))
    assert distribute.num_workers_from_environment() == 3

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["h:1"], "ps": ["h:2"]}}))
    with pytest.raises(ValueError, match=r"TF_CONFIG names \['ps'\] tasks; only synchronous"):
        distribute.strategy_from_environment()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match=r"TF_CONFIG is not valid JSON"):
        distribute.num_workers_from_environment()


@pytest.mark.parametrize("cluster, task, chief", [
    ({"worker": ["h:1", "h:2"]}, ("worker", 0), True),
    ({"worker": ["h:1", "h:2"]}, ("worker", 1), False),
    ({"chief": ["h:0"], "worker": ["h:1"]}, ("chief", 0), True),
    ({"chief": ["h:0"], "worker": ["h:1"]}, ("worker", 0), False),
])
def test_chief_and_worker_output_dirs(tmp_path, monkeypatch, cluster, task, chief):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task[0], task_id=task[1])
    strategy = types.SimpleNamespace(cluster_resolver=resolver)
    assert distribute.is_chief(strategy) is chief
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    out = distribute.worker_output_dir("/runs/x", strategy)
    if chief:
        assert out == "/runs/x"
    else:
        assert out.startswith(os.path.join(str(tmp_path), f"i2i-{task[0]}{task[1]}-")) and os.path.isdir(out)


def test_two_workers_train_in_step(tmp_path):
    from i2i_keras.data import encode_example
    from i2i_keras.export import load_exported

    # Ingestion's layout and schema, written directly: this test needs neither Beam nor TFX.
    examples = str(tmp_path / "examples")
    tiles = [ab for _, ab in utils.ab_tiles(10)]
    for split, part in (("train", tiles[:6]), ("eval", tiles[6:])):
        utils.write_split(examples, split, [encode_example(source=encode_png(ab[:, :32]), target=encode_png(ab[:, 32:]))
                                            for ab in part])
    ports = set()
    while len(ports) < 2:
        ports.add(utils.free_port())
    cluster = {"worker": [f"127.0.0.1:{port}" for port in sorted(ports)]}
    weights_dir = tmp_path / "weights"
    weights_dir.mkdir()
    procs, temps = [], []
    for index in range(2):
        temp = tmp_path / f"tmp{index}"
        temp.mkdir()
        temps.append(temp)
        env = utils.subprocess_env({"TF_CONFIG": json.dumps({"cluster": cluster,
                                                             "task": {"type": "worker", "index": index}}),
                                    "TMPDIR": str(temp)})
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join("tests", "pipeline", "mwms_worker.py"), examples, str(tmp_path / "model"),
             str(tmp_path / "model_run"), str(weights_dir), "2"],
            cwd=utils.REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=420)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for index, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0 and f"worker {index} done" in output, output[-3000:]

    first, second = (dict(np.load(weights_dir / f"worker-{i}.npz")) for i in range(2))
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    # The chief (worker 0) wrote the run and the SavedModel; its export holds the weights both workers ended with.
    with open(tmp_path / "model_run" / "metrics.json") as f:
        assert json.load(f)["step"] == 2
    loaded, metadata = load_exported(str(tmp_path / "model" / "Format-Serving"))
    assert metadata["method"] == "pix2pix"
    exported = {v.numpy().tobytes() for v in loaded.variables}
    assert all(value.tobytes() in exported for value in first.values())
    # The other worker wrote into a temporary folder and removed it.
    assert os.listdir(temps[1]) == []
