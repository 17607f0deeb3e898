"""Training runs that were interrupted or damaged can be finished: a kill after the last checkpoint, a truncated
latest checkpoint, a killed save's temporary file; and bad data is found before the run directory is touched."""

import json
import logging
import os

import keras
import numpy as np
import pytest

from i2i_keras.errors import RunStateError
from i2i_keras.train import main
from i2i_keras.training.loop import RunDirectoryError, run
from tests.helpers import TINY, tiny_config


class _KillAfterCheckpoint(keras.callbacks.Callback):
    """Simulates a kill right after the step-`at` checkpoint was written (before any final output)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.train_steps.numpy()) == self.at:
            raise KeyboardInterrupt("simulated kill")


def _files(root):
    """Relative path -> bytes of every file under `root`, logs/ left out (TensorBoard appends event files)."""
    out = {}
    for parent, _, names in os.walk(root):
        for name in names:
            path = os.path.join(parent, name)
            rel = os.path.relpath(path, root)
            if not rel.startswith("logs"):
                out[rel] = open(path, "rb").read()
    return out


FINAL = ("metrics.json", "model.keras", "export/1/saved_model.pb", "samples/step-00000002.png")


def test_resume_finishes_a_run_killed_after_its_last_checkpoint_and_is_idempotent(tmp_path):
    out = tmp_path / "run"
    overrides = ["train.steps=2", "train.checkpoint_every=2", "train.sample_every=0", "train.eval_batches=1"]
    with pytest.raises(KeyboardInterrupt):
        run(tiny_config("pix2pix", overrides), str(out), verbose=0, extra_callbacks=[_KillAfterCheckpoint(2)])
    assert (out / "checkpoints" / "ckpt-00000002.npz").exists()
    assert not any((out / rel).exists() for rel in FINAL)
    before = _files(out)

    result = run(tiny_config("pix2pix", overrides), str(out), resume=True, verbose=0)
    assert result.steps == 2 and result.export_path == str(out / "export" / "1")
    for rel in FINAL:
        assert (out / rel).exists(), rel
    after = _files(out)
    assert {rel: after[rel] for rel in before} == before  # nothing that existed changed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 2 and np.isfinite(metrics["evaluation"]["g_total"])

    # Lose one output again (as a kill during the export or the metrics would): only it is written again.
    (out / "metrics.json").unlink()
    run(tiny_config("pix2pix", overrides), str(out), resume=True, verbose=0)
    again = _files(out)
    assert {rel: again[rel] for rel in after if rel != "metrics.json"} == {
        rel: data for rel, data in after.items() if rel != "metrics.json"}
    assert json.loads(again["metrics.json"])["step"] == 2
    assert sorted(os.listdir(out / "export")) == ["1"]

    # A complete run: resuming changes nothing at all; a plain rerun still refuses.
    mtimes = {rel: os.path.getmtime(out / rel) for rel in again}
    run(tiny_config("pix2pix", overrides), str(out), resume=True, verbose=0)
    assert _files(out) == again and {rel: os.path.getmtime(out / rel) for rel in again} == mtimes
    with pytest.raises(RunDirectoryError) as info:
        run(tiny_config("pix2pix", overrides), str(out), verbose=0)
    assert info.value.code == "run_exists"


def test_a_corrupt_metrics_json_of_a_finished_run_is_named(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--method", "pix2pix", "--config", os.path.join(TINY, "pix2pix.yaml"), "--steps", "2", "--no-export",
            "--set", "train.eval_batches=0", "--output", str(out)]
    assert main(args) == 0
    (out / "metrics.json").write_text('{"step": 2, "hist')
    capsys.readouterr()
    assert main(args + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "metrics.json" in err and "not valid JSON" in err, err


@pytest.fixture(scope="module")
def _trained_twice(tmp_path_factory):
    """One tiny run with checkpoints at steps 1 and 2, trained once for the module."""
    out = tmp_path_factory.mktemp("two_checkpoints") / "run"
    cfg = tiny_config("pix2pix", ["train.steps=2", "train.checkpoint_every=1", "train.sample_every=0",
                                  "train.eval_batches=0"])
    run(cfg, str(out), export=False, verbose=0)
    return out


@pytest.fixture
def _two_checkpoints(_trained_twice, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(_trained_twice, out)
    ckpt = out / "checkpoints"
    assert sorted(p.name for p in ckpt.glob("*.npz")) == ["ckpt-00000001.npz", "ckpt-00000002.npz"]
    return out, ckpt


def _damage(path, how):
    if how == "zero_byte":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "truncated_header":
        path.write_bytes(path.read_bytes()[:30])
    elif how == "bad_manifest":
        path.with_suffix(".json").write_text('{"step": 2, "vari')
    elif how == "no_manifest":
        path.with_suffix(".json").unlink()


@pytest.mark.parametrize("how", ["zero_byte", "truncated", "truncated_header", "bad_manifest", "no_manifest"])
def test_resume_falls_back_to_the_newest_readable_checkpoint(how, _two_checkpoints, caplog):
    out, ckpt = _two_checkpoints
    _damage(ckpt / "ckpt-00000002.npz", how)
    cfg = tiny_config("pix2pix", ["train.steps=3", "train.checkpoint_every=1", "train.sample_every=0",
                                  "train.eval_batches=0"])
    with caplog.at_level(logging.WARNING, logger="i2i_keras"):
        result = run(cfg, str(out), resume=True, export=False, verbose=0)
    assert result.steps == 3 and int(result.model.optimizer.iterations.numpy()) == 3
    lines = [r.getMessage() for r in caplog.records if "ckpt-00000002" in r.getMessage()]
    assert len(lines) == 1 and "ckpt-00000001.npz" in lines[0], [r.getMessage() for r in caplog.records]


def test_no_readable_checkpoint_is_one_error_naming_the_files(_two_checkpoints, capsys):
    out, ckpt = _two_checkpoints
    _damage(ckpt / "ckpt-00000002.npz", "zero_byte")
    _damage(ckpt / "ckpt-00000001.npz", "bad_manifest")
    cfg = tiny_config("pix2pix", ["train.steps=3", "train.eval_batches=0"])
    with pytest.raises(RunStateError) as info:
        run(cfg, str(out), resume=True, export=False, verbose=0)
    assert info.value.code == "bad_checkpoint"
    assert "ckpt-00000002.npz" in str(info.value) and "ckpt-00000001.json" in str(info.value)
    capsys.readouterr()
    assert main(["--method", "pix2pix", "--config", os.path.join(TINY, "pix2pix.yaml"), "--steps", "3",
                 "--no-export", "--output", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err and "ckpt-00000002.npz" in err, err


def test_stale_temporary_files_are_removed_when_a_run_starts_or_resumes(tmp_path):
    out = tmp_path / "run"
    overrides = ["train.steps=2", "train.checkpoint_every=2", "train.sample_every=2", "train.eval_batches=0"]
    # A first process was killed while writing its first checkpoint: only temporaries are left.
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "ckpt-00000001.npz.tmp").write_bytes(b"\0" * 4096)
    run(tiny_config("pix2pix", overrides), str(out), export=False, verbose=0)
    assert not (out / "checkpoints" / "ckpt-00000001.npz.tmp").exists()

    stale = ["checkpoints/ckpt-00000003.npz.tmp", "checkpoints/ckpt-00000003.json.tmp",
             "samples/step-00000003.png.tmp", "model.keras.tmp.keras", "export/.tmp-export-7-0123abcd/saved_model.pb"]
    others = ["checkpoints/notes.tmp", "checkpoints/ckpt-00000003.npz.tmp.bak", "scratch.npz.tmp", "export/README"]
    for rel in stale + others:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"x" * 64)
    cfg = tiny_config("pix2pix", overrides[1:] + ["train.steps=4"])
    run(cfg, str(out), resume=True, export=False, verbose=0)
    assert [rel for rel in stale if (out / rel).exists()] == []
    assert not (out / "export" / ".tmp-export-7-0123abcd").exists()
    assert all((out / rel).read_bytes() == b"x" * 64 for rel in others)


def _attributes_folder(root, attributes):
    import tensorflow as tf

    train = root / "train"
    train.mkdir(parents=True)
    rows = ["file," + ",".join(attributes)]
    for i in range(4):
        image = (np.random.RandomState(i).rand(40, 40, 3) * 255).astype(np.uint8)
        (train / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
        rows.append(f"{i}.png," + ",".join(str((i + j) % 2) for j in range(len(attributes))))
    (train / "attributes.csv").write_text("\n".join(rows) + "\n")
    return root


def test_data_that_does_not_fit_the_model_is_found_before_the_run_directory_is_written(tmp_path, capsys):
    data = _attributes_folder(tmp_path / "celeb", ["a", "b", "c", "d"])  # 4 attributes, tiny StarGAN has 3
    out = tmp_path / "run"
    args = ["--method", "stargan", "--config", os.path.join(TINY, "stargan.yaml"), "--data", str(data),
            "--steps", "2", "--no-export", "--output", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "'label'" in lines[0] and "num_domains=3" in lines[0], lines[0]
    assert not out.exists()
    with pytest.raises(Exception) as info:
        main(args + ["--debug"])
    assert getattr(info.value, "code", None) == "data_mismatch"
    assert not out.exists()
