"""Smoke test of bench/cli_overhead.py: its JSON has every part, each round's figures and ratios to the bare step of
the same round (not a timed test)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cli_overhead_json_has_every_part_per_round(tmp_path):
    out = tmp_path / "overhead.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "cli_overhead.py"), "--rounds", "2",
                           "--steps", "2", "--size", "32", "--images", "6", "--output", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert json.loads(proc.stdout) == result and result["machine"]["tensorflow"]
    parts = result["parts"]
    assert set(parts) == {"step", "step_on_pipeline", "fit", "fit_on_pipeline"}
    assert parts["step"]["vs_step_same_round"] == 1.0
    for part in parts.values():
        assert len(part["rounds_ms"]) == 2 and all(ms > 0 for ms in part["rounds_ms"])
        assert part["median_ms"] > 0 and part["vs_step_same_round"] > 0
    assert proc.stderr.count("cli_overhead: round") == 2


def test_cli_overhead_refuses_too_few_steps():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "cli_overhead.py"), "--steps", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--steps" in proc.stderr and "Received: --rounds 8, --steps 1" in proc.stderr
