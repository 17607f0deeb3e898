"""Non-finite losses: by default training stops at the first one with a one-line error, keeps the last finite
checkpoint and exports nothing; `train.on_nonfinite=skip_step` skips such steps; every JSON file is strict."""

import json
import logging
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.errors import RunStateError
from i2i_keras.train import main
from i2i_keras.training.loop import run
from tests.helpers import TINY, tiny_config


def _poisoned(cfg, bad_steps, key="source"):
    """A training-data function (as the TFX Trainer passes) whose batches of the 1-based `bad_steps` hold NaN."""
    from i2i_keras.data import make_dataset

    def train(batch_size, skip_batches):
        ds = make_dataset(None, "paired", cfg.data, batch_size, seed=0, training=True, skip_batches=skip_batches)
        bad = tf.constant([s - 1 - skip_batches for s in bad_steps], tf.int64)

        def poison(index, batch):
            hit = tf.reduce_any(tf.equal(index, bad))
            return {**batch, key: tf.where(hit, tf.fill(tf.shape(batch[key]), np.nan), batch[key])}

        return ds.enumerate().map(poison)

    return train


def _strict(path):
    return json.loads(open(path).read(), parse_constant=lambda c: pytest.fail(f"{path}: bare {c}"))


def _all_finite(npz_path):
    with np.load(npz_path) as data:
        return all(np.isfinite(data[k]).all() for k in data.files if data[k].dtype.kind == "f")


def test_a_non_finite_loss_stops_training_keeping_the_last_finite_checkpoint(tmp_path):
    out = tmp_path / "run"
    cfg = tiny_config("pix2pix", ["train.steps=4", "train.checkpoint_every=1", "train.keep_checkpoints=1",
                                  "train.sample_every=0", "train.eval_batches=1"])
    with pytest.raises(RunStateError) as info:
        run(cfg, str(out), verbose=0, train_dataset=_poisoned(cfg, [3]))
    error = info.value
    assert error.code == "non_finite_loss" and "\n" not in str(error)
    assert "step 3" in str(error) and "g_l1" in str(error), str(error)
    assert "ckpt-00000002.npz" in str(error)
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("*.npz"))
    assert ckpts == ["ckpt-00000002.npz"] and _all_finite(out / "checkpoints" / ckpts[0])
    assert not any((out / rel).exists() for rel in ("export", "model.keras", "metrics.json"))


def test_skip_step_leaves_out_non_finite_updates_and_trains_on(tmp_path, caplog):
    out = tmp_path / "run"
    cfg = tiny_config("pix2pix", ["train.steps=4", "train.checkpoint_every=2", "train.sample_every=0",
                                  "train.eval_batches=1", "train.on_nonfinite=skip_step"])
    with caplog.at_level(logging.WARNING, logger="i2i_keras"):
        result = run(cfg, str(out), verbose=0, train_dataset=_poisoned(cfg, [2]))
    model = result.model
    assert result.steps == 4 and result.skipped_steps == 1
    assert int(model.optimizer.iterations.numpy()) == 3 and int(model.d_optimizer.iterations.numpy()) == 3
    assert all(np.isfinite(v.numpy()).all() for v in model.variables if v.dtype.startswith("float"))
    assert all(math.isfinite(x) for values in result.history.values() for x in values), result.history
    assert [r for r in caplog.records if "step 2" in r.getMessage() and "skipped" in r.getMessage()]
    metrics = _strict(out / "metrics.json")
    assert metrics["skipped_steps"] == 1 and np.isfinite(metrics["evaluation"]["g_total"])
    assert (out / "export" / "1" / "saved_model.pb").exists()
    for ckpt in (out / "checkpoints").glob("*.npz"):
        assert _all_finite(ckpt)


def test_metrics_json_is_strict_when_the_evaluation_is_not_finite(tmp_path):
    from i2i_keras.data import make_dataset

    cfg = tiny_config("pix2pix", ["train.steps=1", "train.sample_every=0", "train.eval_batches=1"])
    evaluation = make_dataset(None, "paired", cfg.data, 2, seed=0, training=False).map(
        lambda b: {**b, "target": b["target"] * np.nan})
    run(cfg, str(tmp_path / "run"), export=False, verbose=0, eval_dataset=evaluation)
    metrics = _strict(tmp_path / "run" / "metrics.json")
    assert metrics["evaluation"]["g_l1"] == "NaN" and metrics["step"] == 1  # strict JSON: i2i_keras.strict_json


def test_exploding_loss_weight_is_one_line_exit_2_and_nothing_non_finite_is_kept(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--method", "pix2pix", "--config", os.path.join(TINY, "pix2pix.yaml"), "--steps", "6",
                 "--set", "loss_weights.g_l1=1e30", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "is not finite" in lines[0] and "step " in lines[0], lines[0]
    assert not any((out / rel).exists() for rel in ("export", "model.keras", "metrics.json"))
    for ckpt in (out / "checkpoints").glob("*.npz"):
        assert _all_finite(ckpt)
    for name in os.listdir(out / "checkpoints") if (out / "checkpoints").exists() else []:
        if name.endswith(".json"):
            _strict(out / "checkpoints" / name)


def test_skip_step_on_two_replicas_skips_when_one_replica_is_not_finite(tmp_path):
    """Only the first replica's rows are NaN: both replicas take the same branch (the update is skipped)."""
    from i2i_keras.data import make_dataset
    from i2i_keras.training.distribute import strategy_for

    cfg = tiny_config("pix2pix", ["train.steps=3", "train.checkpoint_every=3", "train.sample_every=0",
                                  "train.eval_batches=0", "train.on_nonfinite=skip_step", "train.batch_size=1"])

    def train(batch_size, skip_batches):
        ds = make_dataset(None, "paired", cfg.data, batch_size, seed=0, training=True, skip_batches=skip_batches)

        def poison(index, batch):
            first_row = tf.equal(tf.range(tf.shape(batch["source"])[0]), 0)[:, None, None, None]
            hit = tf.logical_and(tf.equal(index + skip_batches, 1), first_row)
            return {**batch, "source": tf.where(hit, np.float32(np.nan), batch["source"])}

        return ds.enumerate().map(poison)

    result = run(cfg, str(tmp_path / "run"), strategy=strategy_for(2), export=False, verbose=0, train_dataset=train)
    assert result.steps == 3 and result.skipped_steps == 1
    assert int(result.model.optimizer.iterations.numpy()) == 2
    assert all(np.isfinite(v.numpy()).all() for v in result.model.variables if v.dtype.startswith("float"))
