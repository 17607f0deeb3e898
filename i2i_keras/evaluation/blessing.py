"""Thresholds and the blessing decision, and strict JSON for reports that may hold NaN or infinities.

Thresholds: ``{metric: {"lower_bound": x, "upper_bound": y, "max_regression": z}}``, the metrics being those a
data kind declares (`i2i_keras.data.kinds`: ``metrics``, name -> +1 higher is better / -1 lower is better).
``max_regression`` compares with the baseline (the last blessed model, evaluated on the same images): the candidate
may be worse by at most ``z`` in the metric's own units.

Rules (`check_blessing`; every rule is one row of the returned checks, the model is blessed when all pass):

- every metric gets a ``valid`` check, thresholded or not: NaN fails it (a model that produces NaN is never
  blessed, whatever the thresholds), and so does the worst possible value of its direction (-inf for
  higher-is-better, +inf for lower-is-better); the best infinity (a perfect PSNR of +inf) passes. ``None`` (not
  computable here, e.g. SSIM of images under 11 px) passes ``valid`` and fails only the checks thresholded on it.
- ``lower_bound`` / ``upper_bound``: ``value >= x`` / ``value <= y`` as IEEE comparisons, so +inf passes every
  lower bound and fails every upper bound, -inf the reverse; NaN and None fail.
- ``max_regression``: with ``g = value * direction`` (higher g is better), regression = ``g_baseline -
  g_candidate``, 0 when both are the same infinity; passes when ``regression <= z``. So a candidate at the best
  infinity never regresses (+inf vs +inf: 0), one at the worst infinity always does against a finite baseline.
  NaN or None in the candidate or the baseline fails the check. Without a baseline the check passes and says so.

JSON: `i2i_keras.strict_json` (re-exported here as `json_safe`, `to_json`).

Invalid thresholds are `ConfigError`s with codes ``bad_thresholds`` (not a dict), ``unknown_metric``,
``unknown_check`` and ``bad_threshold`` (not a finite number, negative ``max_regression``, lower above upper).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

from i2i_keras.errors import ConfigError
from i2i_keras.strict_json import NON_FINITE_NOTE  # noqa: F401  (re-exported for reports)
from i2i_keras.strict_json import json_safe  # noqa: F401
from i2i_keras.strict_json import to_json  # noqa: F401

CHECKS = ("lower_bound", "upper_bound", "max_regression")


def _kind_metrics(data_kind: Any) -> tuple:
    """(label, metrics mapping) of a DataKind, a kind name or a metrics mapping."""
    if isinstance(data_kind, str):
        from i2i_keras.data import kinds

        kind = kinds.get(data_kind)
        return f"{kind.name} data", kind.metrics
    if hasattr(data_kind, "metrics") and hasattr(data_kind, "name"):
        return f"{data_kind.name} data", data_kind.metrics
    return "this data kind", data_kind


def merge_thresholds(data_kind: str, items: Optional[list] = None) -> dict:
    """The data kind's ``default_thresholds`` (`i2i_keras.data.kinds`) updated with ``METRIC.CHECK=VALUE`` items
    (VALUE ``none`` removes a check): the ``--threshold`` flags of the pipeline and evaluate CLIs."""
    from i2i_keras.config import parse_value
    from i2i_keras.data import kinds

    thresholds = {metric: dict(checks) for metric, checks in kinds.get(data_kind).default_thresholds.items()}
    for item in items or []:
        key, sep, text = item.partition("=")
        metric, dot, check = key.strip().partition(".")
        if not sep or not dot or not metric or not check:
            raise ConfigError(f"--threshold takes METRIC.CHECK=VALUE (e.g. psnr.lower_bound=20). Received: {item!r}",
                              code="bad_thresholds")
        value = None if text.strip().lower() in ("none", "null", "~", "") else parse_value(text.strip())
        if value is None:
            thresholds.get(metric, {}).pop(check, None)
            if metric in thresholds and not thresholds[metric]:
                del thresholds[metric]
        else:
            thresholds.setdefault(metric, {})[check] = value
    return thresholds


def validate_thresholds(data_kind: Any, thresholds: Any) -> dict:
    """Checks a thresholds dict against the metrics of `data_kind` (a kind name, a `DataKind`, or a metric ->
    direction mapping); returns a copy with float values.

    Raises:
        ConfigError: an unknown data kind, metric or check, or a value that is not a finite number
            (``max_regression``: >= 0; ``lower_bound`` <= ``upper_bound``).
    """
    label, metrics = _kind_metrics(data_kind)
    if not isinstance(thresholds, Mapping):
        raise ConfigError(f"`thresholds` must be a dict of metric -> {{check: value}}. Received: {thresholds!r}",
                          code="bad_thresholds")
    out = {}
    for metric, checks in thresholds.items():
        if metric not in metrics:
            raise ConfigError(f"Unknown metric {metric!r} for {label}; metrics: {sorted(metrics)}. "
                              f"Received: thresholds[{metric!r}]={checks!r}", code="unknown_metric")
        if not isinstance(checks, Mapping) or not checks:
            raise ConfigError(f"`thresholds[{metric!r}]` must be a non-empty dict with keys from {list(CHECKS)}. "
                              f"Received: {checks!r}", code="bad_threshold")
        out[metric] = {}
        for check, value in checks.items():
            if check not in CHECKS:
                raise ConfigError(f"Unknown check {check!r} for metric {metric!r}; checks: {list(CHECKS)}. "
                                  f"Received: thresholds[{metric!r}][{check!r}]={value!r}", code="unknown_check")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"`thresholds[{metric!r}][{check!r}]` must be a finite number. Received: {value!r}",
                                  code="bad_threshold")
            if check == "max_regression" and value < 0:
                raise ConfigError(f"`thresholds[{metric!r}]['max_regression']` must be >= 0. Received: {value!r}",
                                  code="bad_threshold")
            out[metric][check] = float(value)
        low, high = out[metric].get("lower_bound"), out[metric].get("upper_bound")
        if low is not None and high is not None and low > high:
            raise ConfigError(f"`thresholds[{metric!r}]`: lower_bound {low} is above upper_bound {high}; no value "
                              f"could pass", code="bad_threshold")
    return out


def _number(value: Any) -> Optional[float]:
    """A float, or None for a value that is missing or not a number."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def goodness(value: float, direction: int) -> float:
    """`value` on a higher-is-better scale (+inf: the best value of the metric, -inf: the worst)."""
    return value * direction


def regression(value: float, baseline: float, direction: int) -> float:
    """How much worse `value` is than `baseline` (negative: better); 0 when both are the same infinity; NaN when
    either is NaN."""
    g_value, g_base = goodness(value, direction), goodness(baseline, direction)
    if g_value == g_base:
        return 0.0
    return g_base - g_value


def _valid_row(name: str, value: Any, direction: int) -> dict:
    row = {"metric": name, "check": "valid", "value": value}
    number = _number(value)
    if value is None:
        row.update(passed=True, detail="not computed (only checks thresholded on it fail)")
    elif number is None:
        row.update(passed=False, detail=f"not a number ({type(value).__name__})")
    elif math.isnan(number):
        row.update(passed=False, detail="metric is NaN")
    elif goodness(number, direction) == -math.inf:
        row.update(passed=False, detail="metric is at the worst value of its direction "
                                        f"({'higher' if direction > 0 else 'lower'} is better)")
    else:
        row["passed"] = True
    return row


def check_blessing(metrics: Mapping[str, Any], thresholds: Mapping[str, Mapping[str, float]],
                   baseline: Optional[Mapping[str, Any]] = None, *, directions: Mapping[str, int]) -> tuple:
    """``(blessed, checks)``: the module docstring's rules, one dict per check (``metric``, ``check``, ``value``,
    ``passed``, and ``threshold``, ``baseline``, ``regression``, ``detail`` where they apply).

    Args:
        metrics: the candidate's metrics.
        thresholds: validated thresholds (`validate_thresholds`).
        baseline: the baseline model's metrics on the same images, or None when there is no baseline.
        directions: metric -> +1 (higher is better) / -1 (lower is better), the data kind's ``metrics``.
    """
    unknown = sorted(set(metrics) - set(directions))
    if unknown:
        raise KeyError(f"Metrics {unknown} have no declared direction; declared: {sorted(directions)}")
    checks = [_valid_row(name, value, directions[name]) for name, value in sorted(metrics.items())]
    for name, spec in sorted(thresholds.items()):
        value = _number(metrics.get(name))
        direction = directions[name]
        for check, limit in sorted(spec.items()):
            row = {"metric": name, "check": check, "threshold": limit, "value": metrics.get(name)}
            if check == "max_regression":
                if baseline is None:
                    row.update(passed=True, detail="no blessed baseline model yet")
                    checks.append(row)
                    continue
                base = _number(baseline.get(name))
                row["baseline"] = baseline.get(name)
                if value is None or base is None:
                    row.update(passed=False, detail="metric or baseline metric was not computed")
                elif math.isnan(value) or math.isnan(base):
                    row.update(passed=False, detail="metric or baseline metric is NaN")
                else:
                    amount = regression(value, base, direction)
                    row.update(regression=amount, passed=amount <= limit)
            elif value is None:
                row.update(passed=False, detail="metric was not computed")
            elif math.isnan(value):
                row.update(passed=False, detail="metric is NaN")
            else:
                row["passed"] = value >= limit if check == "lower_bound" else value <= limit
            checks.append(row)
    return all(c["passed"] for c in checks), checks
