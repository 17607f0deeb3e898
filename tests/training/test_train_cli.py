"""The training loop and CLI: resume equivalence, multi-replica runs, outputs, and one-line errors on bad input."""

import json
import os

import keras
import numpy as np
import pytest

from i2i_keras.errors import RunStateError
from i2i_keras.train import main
from i2i_keras.training import checkpoint
from i2i_keras.training.loop import RunDirectoryError, run
from tests.helpers import TINY, interrupt_at, tiny_config


@pytest.mark.parametrize("method,extra", [
    ("cyclegan", []),  # image pools + their RNG, two optimizers, linear LR decay
    ("pix2pix", ["model.dropout_at_inference=false"]),  # dropout RNG
])
def test_interrupted_and_resumed_run_equals_uninterrupted_run(method, extra, tmp_path):
    overrides = ["train.steps=6", "train.checkpoint_every=3", "train.sample_every=0", "train.eval_batches=0"] + extra
    cfg = tiny_config(method, overrides)
    straight = run(cfg, str(tmp_path / "straight"), export=False, verbose=0).model
    straight_state = [v.numpy().copy() for v in straight.variables]

    cfg = tiny_config(method, overrides)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, str(tmp_path / "resumed"), export=False, verbose=0, extra_callbacks=[interrupt_at(3)])
    assert checkpoint.latest(str(tmp_path / "resumed" / "checkpoints")).endswith("ckpt-00000003.npz")
    cfg = tiny_config(method, overrides)
    resumed = run(cfg, str(tmp_path / "resumed"), resume=True, export=False, verbose=0).model
    assert int(resumed.train_steps.numpy()) == int(resumed.optimizer.iterations.numpy()) == 6
    assert len(resumed.variables) == len(straight_state)
    for a, v in zip(straight_state, resumed.variables):
        np.testing.assert_allclose(v.numpy(), a, rtol=1e-5, atol=1e-6, err_msg=v.path)
    # The comparison is meaningful: training moved the weights away from their initial values.
    keras.utils.set_random_seed(cfg.train.seed)
    fresh = type(resumed).from_config(resumed.get_config())
    assert any(np.abs(a - b.numpy()).max() > 1e-4 for a, b in zip(straight_state, fresh.variables) if b.trainable)


def test_resume_refuses_a_different_config(tmp_path):
    cfg = tiny_config("pix2pix", ["train.steps=2", "train.eval_batches=0"])
    run(cfg, str(tmp_path / "r"), export=False, verbose=0)
    other = tiny_config("pix2pix", ["train.steps=4", "model.base_filters=4"])
    with pytest.raises(RunDirectoryError, match="same config") as info:
        run(other, str(tmp_path / "r"), resume=True, export=False, verbose=0)
    assert info.value.code == "config_mismatch" and isinstance(info.value, RunStateError)


def test_cli_run_on_two_replicas_writes_everything(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["--method", "cyclegan", "--config", os.path.join(TINY, "cyclegan.yaml"), "--devices", "2",
               "--steps", "2", "--batch-size", "1", "--output", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "trained cyclegan for 2 steps" in printed and "SavedModel:" in printed
    for rel in ("config.yaml", "model.keras", "metrics.json", "export/1/saved_model.pb",
                "samples/step-00000002.png", "checkpoints/ckpt-00000002.npz"):
        assert (out / rel).exists(), rel
    assert os.listdir(out / "logs" / "train") and os.listdir(out / "logs" / "samples")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == 2 and np.isfinite(metrics["evaluation"]["g_total"])


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err)
    return errors[0]


def _png(path, size=(40, 40, 3)):
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(np.zeros(size, np.uint8)).numpy())


@pytest.mark.parametrize("case", ["unknown_method", "unknown_key", "bad_value", "zero_byte", "truncated",
                                  "not_image", "empty_folder", "missing_partner", "too_small"])
def test_cli_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys):
    data = tmp_path / "data"
    args = ["--method", "pix2pix", "--config", os.path.join(TINY, "pix2pix.yaml"), "--output", str(tmp_path / "o"),
            "--steps", "1", "--no-export"]
    expect = None
    if case == "unknown_method":
        args[1], expect = "pix3pix", "Unknown method 'pix3pix'"
    elif case == "unknown_key":
        args += ["--set", "train.stepz=1"]
        expect = "train.stepz"
    elif case == "bad_value":
        args += ["--set", "data.channels=4"]
        expect = "data.channels"
    elif case in ("zero_byte", "truncated", "not_image"):
        _png(data / "train" / "good.png", (32, 64, 3))
        bad = data / "train" / "bad.png"
        if case == "zero_byte":
            bad.write_bytes(b"")
        elif case == "truncated":
            bad.write_bytes((data / "train" / "good.png").read_bytes()[:40])
        else:
            bad.write_text("this is not an image")
        args += ["--data", str(data)]
        expect = "bad.png"
    elif case == "empty_folder":
        (data / "train").mkdir(parents=True)
        args += ["--data", str(data)]
        expect = str(data)
    elif case == "missing_partner":
        _png(data / "A" / "one.png")
        _png(data / "B" / "one.png")
        _png(data / "A" / "lonely.png")
        args += ["--data", str(data), "--set", "data.layout=folders"]
        expect = "lonely.png"
    elif case == "too_small":
        _png(data / "A" / "one.png", (16, 16, 3))
        _png(data / "B" / "one.png", (16, 16, 3))
        args += ["--data", str(data), "--set", "data.preprocess=crop"]
        expect = "one.png"
    assert main(args) == 2
    line = _error_line(capsys)
    assert expect in line, line
    assert not (tmp_path / "o").exists()  # bad input is caught before the run directory is created


def test_cli_refuses_to_overwrite_a_run_and_resume_needs_one(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["--method", "pix2pix", "--config", os.path.join(TINY, "pix2pix.yaml"), "--steps", "2", "--no-export",
            "--output", str(out)]
    assert main(base) == 0
    capsys.readouterr()
    before = {p: os.path.getmtime(out / p) for p in ("model.keras", "metrics.json", "config.yaml")}
    assert main(base) == 2
    assert "already holds a training run" in _error_line(capsys)
    assert before == {p: os.path.getmtime(out / p) for p in before}
    assert main(base[:-1] + [str(tmp_path / "new"), "--resume"]) == 2
    assert "nothing to resume" in _error_line(capsys)


def test_resume_of_a_finished_run_changes_nothing_a_shorter_one_is_refused_and_new_lr_applies(tmp_path):
    out = str(tmp_path / "r")
    cfg = tiny_config("pix2pix", ["train.steps=2", "train.eval_batches=0", "optim.schedule=constant"])
    run(cfg, out, export=True, verbose=0)
    before = sorted(os.listdir(out)), sorted(os.listdir(os.path.join(out, "export")))
    assert run(cfg, out, resume=True, export=True, verbose=0).steps == 2  # finishing is idempotent
    assert (sorted(os.listdir(out)), sorted(os.listdir(os.path.join(out, "export")))) == before
    shorter = tiny_config("pix2pix", ["train.steps=1", "train.eval_batches=0", "optim.schedule=constant"])
    with pytest.raises(RunDirectoryError, match="already at step 2") as info:
        run(shorter, out, resume=True, export=True, verbose=0)
    assert info.value.code == "run_finished"
    assert (sorted(os.listdir(out)), sorted(os.listdir(os.path.join(out, "export")))) == before
    longer = tiny_config("pix2pix", ["train.steps=3", "train.eval_batches=0", "optim.schedule=constant",
                                     "optim.g_lr=1e-5", "optim.d_lr=3e-5"])
    model = run(longer, out, resume=True, export=False, verbose=0).model
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 1e-5, rtol=1e-6)
    np.testing.assert_allclose(float(model.d_optimizer.learning_rate), 3e-5, rtol=1e-6)
    assert keras.config.dtype_policy().name == "float32"


def test_dataset_function_gets_the_batch_of_several_critic_steps_and_the_resume_position(tmp_path):
    """The TFX Trainer passes `train_dataset` as a function: the loop gives it the batch a step consumes (StarGAN's
    tiny config: 2 critic steps x batch 2) and, on resume, the step to start from."""
    from i2i_keras.data import make_dataset

    cfg = tiny_config("stargan", ["train.steps=2", "train.eval_batches=1", "data.domains=[t_shirt, trouser, bag]"])
    calls = []

    def train(batch_size, skip_batches):
        calls.append((batch_size, skip_batches))
        return make_dataset(None, "multi_domain", cfg.data, batch_size, seed=0, training=True,
                            skip_batches=skip_batches)

    result = run(cfg, str(tmp_path / "run"), export=False, verbose=0, train_dataset=train)
    assert calls == [(cfg.train.batch_size * 2, 0)]
    assert result.steps == 2 and int(result.model.d_optimizer.iterations.numpy()) == 4
    cfg.train.steps = 4
    run(cfg, str(tmp_path / "run"), resume=True, export=False, verbose=0, train_dataset=train)
    assert calls[-1] == (cfg.train.batch_size * 2, 2)


def test_final_evaluation_reports_lpips_of_paired_methods(tmp_path, vgg16_offline):
    """metrics.json (and the CLI's `evaluation:` line) carry LPIPS next to PSNR/SSIM, computed by the metric suite
    on the same eval pairs: equal to `i2i_keras.metrics.LPIPS` on the model's own outputs."""
    from i2i_keras.data import make_dataset
    from i2i_keras.metrics import LPIPS

    import tensorflow as tf

    cfg = tiny_config("pix2pix", ["train.steps=2", "train.eval_batches=1", "model.dropout_at_inference=false"])
    batch = next(iter(make_dataset(None, "paired", cfg.data, cfg.train.batch_size, seed=cfg.train.seed,
                                   training=False, split="test")))
    result = run(cfg, str(tmp_path / "run"), export=False, verbose=0,
                 eval_dataset=tf.data.Dataset.from_tensors(batch).repeat())
    with open(tmp_path / "run" / "metrics.json") as f:
        evaluation = json.load(f)["evaluation"]
    assert {"psnr", "ssim", "l1", "lpips"} <= set(evaluation)
    expected = np.mean(LPIPS()(result.model.translate(batch["source"]), batch["target"]).numpy())
    assert 0.0 < evaluation["lpips"] == pytest.approx(float(expected), rel=1e-4)
    assert result.metrics["lpips"] == evaluation["lpips"]
