"""A run whose directory is a URL: TensorFlow's in-memory file system (ram://) stands in for gs:// and friends.

Every file of the run (checkpoints, samples, TensorBoard logs, config.yaml, metrics.json, model.keras, the export)
must go through tf.io.gfile: the tests run in an empty temporary working directory and fail if anything appears
there (a URL mistaken for a relative local path, "ram:/...", would land in it).
"""

import io
import json
import os
import uuid
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.errors import RunStateError
from i2i_keras.export import load_exported
from i2i_keras import storage
from i2i_keras.training import checkpoint
from i2i_keras.training.loop import RunDirectoryError, run
from tests.helpers import interrupt_at, tiny_config

gfile = tf.io.gfile


@pytest.fixture
def ram_root(tmp_path, monkeypatch):
    """A fresh ram:// root, with an empty local working directory (returned too) that must stay empty."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    root = f"ram://i2i-test-{uuid.uuid4().hex[:8]}"
    yield root, cwd
    storage.rmtree(root)  # gfile.rmtree trips over ram://'s prefix listing


def _files(root):
    """Files under `root`, relative. ram:// lists by name prefix ("x/assets" also lists "x/assets.extra/f" as
    ".extra"), so only names that exist count."""
    return sorted(path[len(root) + 1:] for dirpath, _, names in gfile.walk(root) for name in names
                  if gfile.exists(path := f"{dirpath}/{name}") and not gfile.isdir(path))


def test_run_resume_and_export_on_ram(ram_root):
    root, cwd = ram_root
    overrides = ["train.steps=4", "train.checkpoint_every=2", "train.sample_every=2", "train.eval_batches=1",
                 "model.dropout_at_inference=false"]
    straight_dir = f"{root}/straight"
    straight = run(tiny_config("pix2pix", overrides), straight_dir, export=True, verbose=0)
    assert os.listdir(cwd) == [], "a run file landed on local disk"

    files = _files(straight_dir)
    for rel in ("config.yaml", "metrics.json", "model.keras", "samples/step-00000002.png",
                "samples/step-00000004.png", "checkpoints/ckpt-00000004.npz", "checkpoints/ckpt-00000004.json",
                "export/1/saved_model.pb", "export/1/variables/variables.index",
                "export/1/assets.extra/i2i_metadata.json"):
        assert rel in files, (rel, files)
    for logs in ("train", "samples", "validation"):
        assert any(f.startswith(f"logs/{logs}/events.out.tfevents") for f in files), (logs, files)
    assert not [f for f in files if ".tmp" in f], files  # every atomic write was completed by its rename
    assert gfile.listdir(f"{straight_dir}/export") == ["1"]
    with gfile.GFile(f"{straight_dir}/metrics.json") as f:
        metrics = json.load(f)
    assert metrics["step"] == 4 and np.isfinite(metrics["evaluation"]["g_total"])
    with gfile.GFile(f"{straight_dir}/model.keras", "rb") as f:
        assert zipfile.is_zipfile(io.BytesIO(f.read()))
    assert tf.io.decode_png(tf.io.read_file(straight.sample_path)).shape[-1] == 3
    assert straight.export_path == f"{straight_dir}/export/1"

    # The export, loaded back from ram://, computes what the model computes.
    loaded, metadata = load_exported(f"{straight_dir}/export")
    mode = next(iter(straight.model.translation_modes()))
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, straight.model.in_channels)).astype("float32")
    served = loaded.signatures[mode](images=tf.constant(images))["images"].numpy()
    np.testing.assert_allclose(served, np.asarray(straight.model.translate(images, mode=mode)), atol=1e-5)
    assert metadata == json.loads(json.dumps(straight.model.metadata()))

    # The run directory on ram:// is recognised: never overwritten, and resuming a finished run changes nothing.
    with pytest.raises(RunDirectoryError) as info:
        run(tiny_config("pix2pix", overrides), straight_dir, export=False, verbose=0)
    assert info.value.code == "run_exists" and isinstance(info.value, RunStateError)
    finished = run(tiny_config("pix2pix", overrides), straight_dir, resume=True, export=True, verbose=0)
    assert finished.steps == 4 and finished.export_path == f"{straight_dir}/export/1"
    assert _files(straight_dir) == files

    # Interrupted after the step-2 checkpoint, resumed from ram://: the same weights as the uninterrupted run.
    resumed_dir = f"{root}/resumed"
    with pytest.raises(KeyboardInterrupt):
        run(tiny_config("pix2pix", overrides), resumed_dir, export=False, verbose=0, extra_callbacks=[interrupt_at(2)])
    assert checkpoint.latest(f"{resumed_dir}/checkpoints") == f"{resumed_dir}/checkpoints/ckpt-00000002.npz"
    resumed = run(tiny_config("pix2pix", overrides), resumed_dir, resume=True, export=False, verbose=0).model
    assert int(resumed.train_steps.numpy()) == int(resumed.optimizer.iterations.numpy()) == 4
    assert len(resumed.variables) == len(straight.model.variables)
    for a, b in zip(straight.model.variables, resumed.variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=b.path)
    assert sorted(gfile.listdir(f"{resumed_dir}/checkpoints")) == [
        "ckpt-00000002.json", "ckpt-00000002.npz", "ckpt-00000004.json", "ckpt-00000004.npz"]
    assert os.listdir(cwd) == [], "a run file landed on local disk"


def test_checkpoints_on_ram_keep_the_newest_and_restore(ram_root):
    """save / list / prune / restore of full-state checkpoints on a URL, without training."""
    from i2i_keras.methods.base import build_model
    from i2i_keras.training.loop import compile_model

    root, cwd = ram_root
    cfg = tiny_config("pix2pix")
    model = build_model(cfg)
    compile_model(model, cfg)
    directory = f"{root}/checkpoints"
    for step in (1, 2, 3):
        checkpoint.save(model, directory, step, keep=2)
    assert checkpoint.list_checkpoints(directory) == [f"{directory}/ckpt-00000002.npz",
                                                      f"{directory}/ckpt-00000003.npz"]
    assert sorted(gfile.listdir(directory)) == ["ckpt-00000002.json", "ckpt-00000002.npz",
                                                "ckpt-00000003.json", "ckpt-00000003.npz"]
    before = [v.numpy().copy() for v in model.variables]
    for v in model.trainable_variables:
        v.assign(v + 1.0)
    assert checkpoint.restore(model, checkpoint.latest(directory)) == 3
    for a, v in zip(before, model.variables):
        np.testing.assert_array_equal(v.numpy(), a)
    assert checkpoint.latest(f"{root}/nowhere") is None
    assert os.listdir(cwd) == []
