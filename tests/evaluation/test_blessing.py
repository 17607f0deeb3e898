"""Thresholds and blessing: validation against a kind's declared metrics (with codes), every blessing rule (NaN is
never blessed, infinities count by direction), strict JSON, and the declared defaults of every data kind."""

import json
import math

import pytest

from i2i_keras.data import kinds
from i2i_keras.errors import ConfigError
from i2i_keras.evaluation import blessing
from i2i_keras.evaluation.blessing import check_blessing
from i2i_keras.evaluation.blessing import validate_thresholds

NAN, INF = float("nan"), float("inf")
PAIRED = {"psnr": 1, "ssim": 1, "l1": -1}


def _bless(metrics, thresholds, baseline=None, directions=PAIRED):
    return check_blessing(metrics, thresholds, baseline, directions=directions)


def _row(checks, metric, check):
    (row,) = [c for c in checks if c["metric"] == metric and c["check"] == check]
    return row


# ----------------------------------------------------------------------------------------------- declarations


@pytest.mark.parametrize("name", kinds.names())
def test_every_kinds_default_thresholds_validate_against_its_metrics(name):
    kind = kinds.get(name)
    assert validate_thresholds(kind, kind.default_thresholds) == {
        m: {c: float(v) for c, v in checks.items()} for m, checks in kind.default_thresholds.items()}
    assert validate_thresholds(name, kind.default_thresholds) == validate_thresholds(kind.metrics,
                                                                                     kind.default_thresholds)


@pytest.mark.parametrize("name", kinds.names())
def test_every_kinds_evaluator_computes_the_declared_metrics(name):
    kind = kinds.get(name)
    evaluator = kind.evaluator()
    assert set(evaluator.metric_names) == set(kind.metrics)
    assert evaluator.__module__.startswith("i2i_keras.evaluation.")


def test_five_kinds_have_evaluators():
    assert {"paired", "unpaired", "multi_domain", "single", "sr"} <= set(kinds.names())


# ----------------------------------------------------------------------------------------------- validation


def test_valid_thresholds_become_floats():
    assert validate_thresholds("paired", {"psnr": {"lower_bound": 20, "max_regression": 1}}) == {
        "psnr": {"lower_bound": 20.0, "max_regression": 1.0}}
    assert validate_thresholds("paired", {}) == {}


@pytest.mark.parametrize("kind, thresholds, code, message", [
    ("unpaired", {"psnr": {"lower_bound": 20}}, "unknown_metric", r"Unknown metric 'psnr' for unpaired data"),
    ("single", {"domain_accuracy": {"lower_bound": 0.5}}, "unknown_metric", r"metrics: \['fd_vgg16', 'fid'"),
    ("paired", {"psnr": {"minimum": 20}}, "unknown_check", r"Unknown check 'minimum'"),
    ("paired", {"psnr": {"max_regression": -1}}, "bad_threshold", r"must be >= 0"),
    ("paired", {"ssim": {"lower_bound": "high"}}, "bad_threshold", r"must be a finite number"),
    ("paired", {"ssim": {"lower_bound": NAN}}, "bad_threshold", r"must be a finite number"),
    ("paired", {"psnr": {"upper_bound": INF}}, "bad_threshold", r"must be a finite number"),
    ("paired", {"psnr": {"lower_bound": True}}, "bad_threshold", r"must be a finite number"),
    ("paired", {"psnr": {}}, "bad_threshold", r"non-empty dict"),
    ("paired", {"psnr": {"lower_bound": 30, "upper_bound": 20}}, "bad_threshold", r"above upper_bound"),
    ("paired", ["psnr"], "bad_thresholds", r"must be a dict"),
    ("no_such_kind", {}, "unknown_data_kind", r"Unknown data kind 'no_such_kind'"),
])
def test_invalid_thresholds_are_config_errors_with_codes(kind, thresholds, code, message):
    with pytest.raises(ConfigError, match=message) as info:
        validate_thresholds(kind, thresholds)
    assert info.value.code == code


# ----------------------------------------------------------------------------------------------- finite rules


def test_bounds_and_regressions_on_finite_values():
    metrics = {"psnr": 20.0, "ssim": 0.5, "l1": 0.2}
    blessed, checks = _bless(metrics, {"psnr": {"lower_bound": 19.0, "max_regression": 1.0}})
    assert blessed
    assert [c["check"] for c in checks] == ["valid", "valid", "valid", "lower_bound", "max_regression"]
    assert _row(checks, "psnr", "max_regression")["detail"] == "no blessed baseline model yet"
    # Worse than the baseline by 1.5 dB > 1.0 allowed.
    blessed, checks = _bless(metrics, {"psnr": {"max_regression": 1.0}}, {"psnr": 21.5})
    assert not blessed and _row(checks, "psnr", "max_regression")["regression"] == pytest.approx(1.5)
    # Better than the baseline: a negative regression.
    blessed, checks = _bless(metrics, {"psnr": {"max_regression": 0.0}}, {"psnr": 19.0})
    assert blessed and _row(checks, "psnr", "max_regression")["regression"] == pytest.approx(-1.0)
    # Lower-is-better metrics regress upwards.
    assert not _bless(metrics, {"l1": {"max_regression": 0.05}}, {"l1": 0.1})[0]
    assert _bless(metrics, {"l1": {"max_regression": 0.05}}, {"l1": 0.3})[0]
    assert not _bless(metrics, {"l1": {"upper_bound": 0.1}})[0]
    assert _bless(metrics, {"l1": {"upper_bound": 0.2}})[0]  # bounds are inclusive


def test_a_metric_that_was_not_computed_fails_only_where_thresholded():
    metrics = {"psnr": 20.0, "ssim": None, "l1": 0.2}
    assert _bless(metrics, {})[0]
    assert not _bless(metrics, {"ssim": {"lower_bound": 0.1}})[0]
    # ... also against a baseline, and a baseline that lacks the metric fails the regression check.
    assert not _bless(metrics, {"ssim": {"max_regression": 1.0}}, {"ssim": 0.5})[0]
    assert not _bless({"psnr": 20.0}, {"psnr": {"max_regression": 1.0}}, {"psnr": None})[0]


def test_metrics_without_a_declared_direction_are_a_defect():
    with pytest.raises(KeyError, match="no declared direction"):
        _bless({"psnr": 1.0, "fid": 3.0}, {})


# ----------------------------------------------------------------------------------------------- NaN


def test_nan_is_never_blessed_unthresholded():
    blessed, checks = _bless({"psnr": NAN, "ssim": 0.5, "l1": 0.2}, {})
    assert not blessed
    row = _row(checks, "psnr", "valid")
    assert row["passed"] is False and row["detail"] == "metric is NaN" and math.isnan(row["value"])
    assert all(c["passed"] for c in checks if c["metric"] != "psnr")


@pytest.mark.parametrize("check, limit", [("lower_bound", -1e9), ("upper_bound", 1e9), ("max_regression", 1e9)])
def test_nan_fails_every_threshold_whatever_its_value(check, limit):
    blessed, checks = _bless({"psnr": NAN}, {"psnr": {check: limit}}, {"psnr": 20.0})
    assert not blessed and not _row(checks, "psnr", check)["passed"]


def test_nan_fails_even_without_a_baseline_to_compare_with():
    blessed, checks = _bless({"psnr": NAN}, {"psnr": {"max_regression": 1.0}})
    assert not blessed and _row(checks, "psnr", "max_regression")["passed"]  # the valid check is what fails
    assert not _row(checks, "psnr", "valid")["passed"]


def test_a_nan_baseline_fails_the_regression_check():
    blessed, checks = _bless({"psnr": 30.0}, {"psnr": {"max_regression": 100.0}}, {"psnr": NAN})
    row = _row(checks, "psnr", "max_regression")
    assert not blessed and not row["passed"] and row["detail"] == "metric or baseline metric is NaN"
    # Un-thresholded, the baseline's NaN is not the candidate's problem.
    assert _bless({"psnr": 30.0}, {}, {"psnr": NAN})[0]


# ----------------------------------------------------------------------------------------------- infinities


def test_positive_infinity_is_the_best_value_of_a_higher_is_better_metric():
    perfect = {"psnr": INF, "ssim": 1.0, "l1": 0.0}
    assert _bless(perfect, {})[0]
    assert _bless(perfect, {"psnr": {"lower_bound": 1e9}})[0]
    assert not _bless(perfect, {"psnr": {"upper_bound": 1e9}})[0]  # an upper bound is an upper bound
    blessed, checks = _bless(perfect, {"psnr": {"max_regression": 0.0}}, {"psnr": 40.0})
    assert blessed and _row(checks, "psnr", "max_regression")["regression"] == -INF
    # inf vs an inf baseline: no regression.
    blessed, checks = _bless(perfect, {"psnr": {"max_regression": 0.0}}, {"psnr": INF})
    assert blessed and _row(checks, "psnr", "max_regression")["regression"] == 0.0
    # A finite candidate against a perfect baseline regresses without bound.
    blessed, checks = _bless({"psnr": 40.0}, {"psnr": {"max_regression": 1e9}}, {"psnr": INF})
    assert not blessed and _row(checks, "psnr", "max_regression")["regression"] == INF


def test_negative_infinity_is_the_best_value_of_a_lower_is_better_metric():
    assert _bless({"l1": -INF}, {})[0]
    assert _bless({"l1": -INF}, {"l1": {"upper_bound": 0.0}})[0]
    blessed, checks = _bless({"l1": -INF}, {"l1": {"max_regression": 0.0}}, {"l1": 0.1})
    assert blessed and _row(checks, "l1", "max_regression")["regression"] == -INF
    assert _bless({"l1": -INF}, {"l1": {"max_regression": 0.0}}, {"l1": -INF})[0]


@pytest.mark.parametrize("metric, worst", [("psnr", -INF), ("l1", INF)])
def test_the_opposite_infinity_is_the_worst_value_and_never_blessed(metric, worst):
    blessed, checks = _bless({metric: worst}, {})
    assert not blessed and "worst value" in _row(checks, metric, "valid")["detail"]
    blessed, checks = _bless({metric: worst}, {metric: {"max_regression": 1e9}}, {metric: 1.0})
    assert not blessed and _row(checks, metric, "max_regression")["regression"] == INF
    assert not _row(checks, metric, "max_regression")["passed"]


def test_infinite_distances_by_direction():
    directions = {"fd_vgg16": -1, "domain_accuracy": 1}
    assert not _bless({"fd_vgg16": INF, "domain_accuracy": 1.0}, {}, directions=directions)[0]
    assert not _bless({"fd_vgg16": 1.0, "domain_accuracy": 1.0},
                      {"fd_vgg16": {"max_regression": 5.0}}, {"fd_vgg16": NAN},
                      directions=directions)[0]


def test_regression_helper():
    assert blessing.regression(20.0, 21.5, 1) == pytest.approx(1.5)
    assert blessing.regression(0.3, 0.1, -1) == pytest.approx(0.2)
    assert blessing.regression(INF, INF, 1) == 0.0
    assert blessing.regression(-INF, -INF, -1) == 0.0
    assert math.isnan(blessing.regression(NAN, 1.0, 1))


# ----------------------------------------------------------------------------------------------- JSON


def test_reports_are_strict_json_with_non_finite_numbers_as_strings():
    import numpy as np

    metrics = {"psnr": INF, "ssim": NAN, "l1": -INF, "n": np.float32(0.5), "k": np.int64(3), "ok": None}
    blessed, checks = _bless({"psnr": INF, "ssim": NAN, "l1": 0.1}, {"psnr": {"max_regression": 0.0}}, {"psnr": 3.0})
    report = {"metrics": metrics, "checks": checks, "blessed": blessed, "list": [NAN, 1.0, (INF,)],
              "array": np.array([1.0, np.inf])}
    with pytest.raises(ValueError):
        json.dumps(report, allow_nan=False, default=str)
    text = blessing.to_json(report, indent=1)
    back = json.loads(text)
    assert back["metrics"] == {"psnr": "Infinity", "ssim": "NaN", "l1": "-Infinity", "n": 0.5, "k": 3, "ok": None}
    assert back["list"] == ["NaN", 1.0, ["Infinity"]] and back["array"] == [1.0, "Infinity"]
    assert _row(back["checks"], "psnr", "max_regression")["regression"] == "-Infinity"
    assert float(back["metrics"]["psnr"]) == INF and math.isnan(float(back["metrics"]["ssim"]))
    json.dumps(blessing.json_safe(report), allow_nan=False)
