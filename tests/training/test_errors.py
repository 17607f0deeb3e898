"""Honest errors of the training CLI: the library's `I2IError`s (bad input, run state) are one `error:` line and exit
status 2; any other exception is a defect, shown with its traceback, a line asking to report it, and exit status 1."""

import json
import os
import subprocess
import sys

import pytest

from i2i_keras.errors import I2IError, RunStateError
from i2i_keras.train import BUG_LINE, main
from i2i_keras.training import checkpoint
from i2i_keras.training.checkpoint import CheckpointError
from i2i_keras.training.loop import RunDirectoryError
from tests.helpers import REPO, TINY, tiny_config


def _args(tmp_path, *extra):
    return ["--method", "pix2pix", "--config", os.path.join(TINY, "pix2pix.yaml"), "--steps", "2", "--no-export",
            "--output", str(tmp_path / "run"), *extra]


def _one_error_line(err):
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.mark.parametrize("target,error", [
    ("compile_model", ValueError("Dimensions must be equal, but are 3 and 4 for 'conv2d' (op: 'Conv2D')")),
    ("build_model", TypeError("unsupported operand type(s) for *: 'NoneType' and 'int'")),
])
def test_a_defect_inside_the_loop_keeps_its_traceback_and_exits_1(target, error, tmp_path, capsys, monkeypatch):
    """A shape/dtype bug in Keras or TensorFlow code raises plain ValueError/TypeError: that is not bad input."""
    from i2i_keras.training import loop

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(loop, target, broken)
    assert main(_args(tmp_path)) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and str(error) in err, err
    assert err.strip().splitlines()[-1] == BUG_LINE
    assert not [line for line in err.splitlines() if line.startswith("error:")], err
    with pytest.raises(type(error)):  # --debug lets it propagate
        main(_args(tmp_path, "--debug"))


def test_library_errors_re_raise_with_debug(tmp_path):
    with pytest.raises(I2IError, match="train.stepz"):
        main(_args(tmp_path, "--set", "train.stepz=1", "--debug"))


def test_bad_config_key_from_the_command_line_is_one_line_and_exit_2(tmp_path):
    """The real entry point (`python -m i2i_keras.train`), so `sys.exit(main())` and stderr are what a user sees."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", "i2i_keras.train", *_args(tmp_path, "--set", "train.stepz=1")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "train.stepz" in _one_error_line(proc.stderr)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra, names", [
    (["--set", "model.num_downs=6", "--image-size", "40"], "2**num_downs=64"),  # the U-Net does not fit the size
    (["--set", "model.base_filters=0"], "base_filters"),
    (["--set", "model.inference_norm=running"], "inference_norm"),
])
def test_model_options_that_do_not_fit_are_one_line_and_exit_2(tmp_path, capsys, extra, names):
    """A model option the network cannot be built with is the user's config to change (ConfigError), not a bug."""
    assert main(_args(tmp_path, *extra)) == 2
    assert names in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_unreadable_checkpoint_is_a_run_state_error(tmp_path, capsys):
    ckpt = tmp_path / "run" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "ckpt-00000001.npz").write_bytes(b"PK\x03\x04 truncated")
    (ckpt / "ckpt-00000001.json").write_text("{not json")
    assert main(_args(tmp_path, "--resume")) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "ckpt-00000001.json" in line and "not a checkpoint manifest" in line, line
    with pytest.raises(CheckpointError) as info:
        checkpoint.read_manifest(str(ckpt / "ckpt-00000001.npz"))
    assert info.value.code == "bad_checkpoint" and isinstance(info.value, RunStateError)
    (ckpt / "ckpt-00000001.json").unlink()
    with pytest.raises(CheckpointError, match="cannot read the checkpoint manifest") as info:
        checkpoint.read_manifest(str(ckpt / "ckpt-00000001.npz"))
    assert info.value.code == "bad_checkpoint"


def test_restore_reports_truncated_and_mismatched_checkpoints(tmp_path):
    from i2i_keras.methods.base import build_model
    from i2i_keras.training.loop import compile_model

    cfg = tiny_config("pix2pix")
    model = build_model(cfg)
    compile_model(model, cfg)
    path = checkpoint.save(model, str(tmp_path), 1)
    before = [v.numpy().copy() for v in model.variables]
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        checkpoint.restore(model, path)
    assert info.value.code == "bad_checkpoint"
    manifest = json.loads(open(path[:-4] + ".json").read())
    manifest["variables"] = manifest["variables"][1:]
    with open(path[:-4] + ".json", "w") as f:
        json.dump(manifest, f)
    with pytest.raises(CheckpointError, match="was it written by a different method") as info:
        checkpoint.restore(model, path)
    assert info.value.code == "checkpoint_mismatch"
    assert all((a == v.numpy()).all() for a, v in zip(before, model.variables))


def test_an_unusable_output_directory_is_a_run_state_error(tmp_path, capsys):
    (tmp_path / "file").write_text("not a directory")
    for output, code in ((tmp_path / "file" / "run", "not_writable"), ("nosuchfs://bucket/run", "not_writable")):
        with pytest.raises(RunDirectoryError) as info:
            from i2i_keras.training.loop import run

            run(tiny_config("pix2pix", ["train.steps=1"]), str(output), export=False, verbose=0)
        assert info.value.code == code and str(output) in str(info.value)
    assert main(_args(tmp_path)[:-1] + ["nosuchfs://bucket/run"]) == 2
    assert "nosuchfs://bucket/run" in _one_error_line(capsys.readouterr().err)
