"""A failed ingestion leaves the report its error line names: TFX deletes the Examples artifact of a failed
execution (the report inside it included), so `python -m pipeline.run` also writes the report to
`<output root>/reports/` and names that copy."""

import json
import os
import re

import pytest

pytest.importorskip("tfx", reason="the pipeline needs TFX (the Python 3.10 lane)")

from tests.pipeline import pipeline_test_utils as utils  # noqa: E402
from tests.reliability import bad_inputs  # noqa: E402

FAST_BEAM = ["--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"]


def test_failed_ingestion_report_survives_and_the_error_names_it(tmp_path):
    data = utils.make_paired_ab(str(tmp_path / "data"), n=8)
    bad = {"zero.png": b"", "cut.png": bad_inputs.png_bytes(bad_inputs.good_pixels(1, 32, 64))[:80],
           "bomb.png": bad_inputs.blank_png(40000, 40000, complete=False)}
    for name, content in bad.items():
        bad_inputs.write(os.path.join(data, name), content)
    out = tmp_path / "out"
    proc = utils.run_python(["-m", "pipeline.run", "--method", "pix2pix", "--config", "configs/tiny/pix2pix.yaml",
                             "--data", data, "--output", str(out), "--steps", "1", *FAST_BEAM], timeout=600)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "3 of 11 inputs rejected" in lines[0], lines[0]
    named = re.search(r"the list is in (\S+)$", lines[0])
    assert named, lines[0]
    path = named.group(1)
    assert os.path.dirname(path) == str(out / "reports") and os.path.isfile(path), (path, lines[0])
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    rejected = {os.path.basename(r["path"]): r["reason"] for r in report["rejected"]["files"]}
    assert rejected == {"zero.png": "empty_file", "cut.png": "corrupt", "bomb.png": "too_many_pixels"}
    assert report["rejected"]["count"] == 3 and report["data_root"] == data
    assert not [name for name in os.listdir(out / "reports") if not name.endswith(".json")]  # nothing half-written
