"""One self-contained HTML page for an evaluation report (`i2i_keras.evaluation.report.run_evaluation`): what was
evaluated and how, the metric table (with the baseline and the difference when there is one, and the direction
of each metric), the metrics that were skipped and why, the blessing checks, and a grid of sample images (input,
output, target where the data has one, and the baseline's output) embedded as PNG data URIs, so the file can be
opened or mailed on its own."""

from __future__ import annotations

import base64
import html
import math
from typing import Any, Mapping, Optional

# Sample rows: [input, output(, target)], or [sample] of a generator (no input image).
COLUMNS_BY_ROW_LENGTH = {1: ("sample",), 2: ("input", "output"), 3: ("input", "output", "target")}


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+inf" if value > 0 else "-inf"
        return f"{value:.4g}"
    return html.escape(str(value))


def _image(png: bytes) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(bytes(png)).decode("ascii")}">'


def _metric_rows(report: Mapping[str, Any]) -> str:
    baseline = (report.get("baseline") or {}).get("metrics") or {}
    rows = []
    for name, value in report["metrics"].items():
        direction = report.get("directions", {}).get(name)
        arrow = {1: "higher is better", -1: "lower is better"}.get(direction, "")
        cells = [html.escape(name), _number(value), arrow]
        if baseline:
            base = baseline.get(name)
            delta = None if value is None or base is None else value - base
            cells += [_number(base), _number(delta)]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = ["metric", "value", "direction"] + (["baseline", "difference"] if baseline else [])
    return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>")


def _grid(samples: list, baseline_samples: list) -> str:
    if not samples:
        return "<p>No samples.</p>"
    mode = samples[0][0]
    width = len(samples[0][1])
    columns = list(COLUMNS_BY_ROW_LENGTH.get(width, [f"image {i}" for i in range(width)]))
    if baseline_samples:
        columns.append("baseline output")
    rows = []
    for index, (_, images) in enumerate(samples):
        cells = [_image(png) for png in images]
        if baseline_samples and index < len(baseline_samples):
            row = baseline_samples[index][1]
            cells.append(_image(row[min(1, len(row) - 1)]))  # its output (a generator's row is its sample)
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f"<p>Mode <code>{html.escape(str(mode))}</code>.</p><table class=grid><tr>"
            + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>" + "".join(rows) + "</table>")


def render(report: Mapping[str, Any], samples: list, baseline_samples: Optional[list] = None,
           data: Optional[Mapping[str, Any]] = None) -> str:
    """The HTML page of `report`; `samples` / `baseline_samples` are the evaluator's rows ``(mode, [PNG bytes])``;
    `data` says what was read (spec, split, counts)."""
    protocol = report.get("protocol") or {}
    facts = [("model", report.get("model")), ("method", report.get("method")), ("data kind", report.get("data_kind")),
             ("mode", report.get("mode")), ("images", report.get("num_images")),
             ("protocol", f"{protocol.get('name')}: {protocol.get('description')}"),
             ("feature network", report.get("feature_network")), ("seed", protocol.get("seed"))]
    for key, value in (data or {}).items():
        facts.append((f"data {key}", value))
    if (report.get("baseline") or {}).get("skipped"):
        facts.append(("baseline", report["baseline"]["skipped"]))
    skipped = report.get("skipped") or {}
    checks = report.get("checks") or []
    parts = [
        "<!doctype html><html><head><meta charset=utf-8><title>i2i_keras evaluation</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        ".grid img{max-width:256px;image-rendering:pixelated}</style></head><body>",
        "<h1>Evaluation</h1><table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                                               for k, v in facts) + "</table>",
        "<h2>Metrics</h2>" + _metric_rows(report),
    ]
    if skipped:
        parts.append("<h2>Skipped metrics</h2><ul>" + "".join(
            f"<li><b>{html.escape(name)}</b>: {html.escape(reason)}</li>" for name, reason in skipped.items())
            + "</ul>")
    if report.get("reference"):
        parts.append("<h2>Reference values (real images)</h2><table>" + "".join(
            f"<tr><td>{html.escape(k)}</td><td>{_number(v)}</td></tr>" for k, v in report["reference"].items())
            + "</table>")
    if checks:
        parts.append(f"<h2>Blessing: {'blessed' if report.get('blessed') else 'not blessed'}</h2><ul>" + "".join(
            f"<li>{'pass' if c.get('passed') else 'FAIL'}: {html.escape(str(c.get('metric')))} "
            f"{html.escape(str(c.get('check')))} {html.escape(str(c.get('detail') or ''))}</li>" for c in checks)
            + "</ul>")
    parts.append("<h2>Samples</h2>" + _grid(samples, baseline_samples or []))
    parts.append("</body></html>")
    return "\n".join(parts)
