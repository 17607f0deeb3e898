"""Smoke test of the benchmark runner: its JSON has the expected shape with tiny settings (not a timed test)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "bench", "run.py")


def _runner():
    spec = importlib.util.spec_from_file_location("bench_run", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runner_json_has_the_expected_shape(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, RUNNER, "--sections", "train", "data", "validation", "--methods", "pix2pix", "srgan",
         "--size", "32", "--cli-size", "32", "--cli-config-dir", os.path.join(ROOT, "configs", "tiny"),
         "--steps", "1", "--warmup", "1", "--images", "6", "--data-batches", "3",
         "--validation-images", "200", "--validation-size", "16", "--output", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"bench: wrote {out}" in proc.stderr
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout) == result
    machine = result["machine"]
    assert machine["cores"] >= 1 and machine["tensorflow"] and machine["cpu"]
    step = result["train"]["methods"]["pix2pix"]["float32"]
    assert step["median_ms"] > 0 and step["steps"] == 1
    # A super-resolution method at x4 (its synthetic batch's input is a quarter of the target's side).
    assert result["train"]["methods"]["srgan"]["float32"]["median_ms"] > 0
    data = result["data"]
    assert data["delivered_images_per_s"] > 0 and data["consumed_images_per_s"] > 0
    assert data["data_vs_step"] == pytest.approx(data["delivered_images_per_s"] / data["consumed_images_per_s"],
                                                 rel=0.01)
    assert result["goals"]["data_vs_step"]["goal"] == 10.0
    assert result["goals"]["cli_vs_step"] is None  # the cli section was not asked for
    validation = result["validation"]
    assert validation["cache_files"] == 1  # 200 images reach the disk cache's threshold
    for run in ("no_cache", "first_run", "cached_run"):
        assert validation[run]["seconds"] > 0 and validation[run]["images_per_s"] > 0
    assert "cli" not in result and "memory" not in result


def test_unknown_section_is_refused_naming_it(capsys):
    with pytest.raises(SystemExit):
        _runner().parse_args(["--sections", "train", "gpu"])
    err = capsys.readouterr().err
    assert "unknown section(s) ['gpu']" in err and "'validation'" in err


def test_goal_says_met_or_by_how_much_it_is_missed():
    goal = _runner().goal
    assert goal(1.04, 1.05) == {"value": 1.04, "goal": 1.05, "met": True, "missed_by": 0.0}
    assert goal(1.26, 1.05)["missed_by"] == pytest.approx(0.2, abs=1e-3)
    assert goal(5.0, 10.0, higher_is_better=True) == {"value": 5.0, "goal": 10.0, "met": False, "missed_by": 0.5}
    assert goal(None, 1.2)["met"] is None


def test_ingest_per_example_cost_times_every_candidate_of_the_folder(tmp_path):
    """The ingest section's per-example cost: `encode_candidate` timed over each AB image of the folder."""
    runner = _runner()
    folder = runner.paired_folder(str(tmp_path), 4, 32)
    answer = runner.child_encode(folder)
    assert answer["examples"] == 4 + 8  # train/ + test/
    assert answer["ms"] > 0
