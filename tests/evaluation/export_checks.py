"""What `python -m i2i_keras.evaluate` must report for any method's export on its data kind's embedded data. The
shared method suite calls it on the export its parity test made, so each method is exported once for both checks."""

import json
import os

from i2i_keras.data import kinds
from i2i_keras.evaluate import main


def check_export_is_evaluated(base, method, kind_name, out, capsys):
    """Evaluates the export at `base` on 3 examples of its kind's embedded data into `out`: every declared metric is
    a number or skipped with a reason, the report names the method, kind and data, and the HTML page shows the
    images and every metric."""
    kind = kinds.get(kind_name)
    capsys.readouterr()
    assert main(["--model", base, "--data", kind.default_data, "--max-examples", "3", "--output", out,
                 "--quiet"]) == 0, method
    printed = capsys.readouterr().out
    with open(os.path.join(out, "metrics.json")) as f:
        report = json.load(f)
    assert report["method"] == method and report["data_kind"] == kind_name
    assert list(report["metrics"]) == list(report["protocol"]["metrics"])
    # Every declared metric is reported: a number, or None with the reason it was skipped.
    assert set(report["metrics"]) == set(kind.metrics), method
    for name, value in report["metrics"].items():
        assert value is not None or name in report["skipped"], (method, name)
        if value is not None:
            assert f"{name}:" in printed, (method, name)
    assert report["data"]["spec"] == kind.default_data and report["data"]["planned"] >= 3
    with open(os.path.join(out, "report.html")) as f:
        page = f.read()
    # Rows of input and output, or a generator's samples alone (no input image).
    per_row = 1 if "without an input image" in report["skipped"].get("ssim_to_input", "") else 2
    assert page.count("<img") >= 3 * per_row and all(name in page for name in report["metrics"])
    if "domain_accuracy" in kind.metrics:
        assert os.path.exists(os.path.join(out, "domain_judge.npz"))
    return report
