"""`evaluate_export`: an export (and the last blessed one) on the eval split of an Examples artifact -> a report with
the metrics, the checks and the blessing decision. Kind-agnostic: the export's metadata names its data kind, the
registry (`i2i_keras.data.kinds`) gives that kind's evaluator, metric directions and schema."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional

from i2i_keras import storage
from i2i_keras.data import kinds
from i2i_keras.errors import RequestError
from i2i_keras.evaluation.blessing import NON_FINITE_NOTE
from i2i_keras.evaluation.blessing import check_blessing
from i2i_keras.evaluation.blessing import validate_thresholds
from i2i_keras.evaluation.exported import BYTES_SUFFIX
from i2i_keras.evaluation.exported import ServedModel
from i2i_keras.evaluation.features import DomainJudge
from i2i_keras.evaluation.records import eval_split_dir
from i2i_keras.evaluation.records import read_eval_records


def kind_of(model: ServedModel):
    """The registered data kind named in the export's metadata; RequestError ``unsupported_data_kind`` otherwise."""
    kind = kinds.find(model.data_kind) if isinstance(model.data_kind, str) else None
    if kind is None:
        raise RequestError(f"{model.version_dir}: the export's metadata names no known data kind "
                           f"(data_kind={model.data_kind!r}; known: {kinds.names()}); export it with "
                           f"i2i_keras.export.export_for_serving", code="unsupported_data_kind")
    return kind


def _checked_metrics(metrics: Mapping[str, Any], kind: Any, evaluator: Any) -> dict:
    undeclared = sorted(set(metrics) - set(kind.metrics))
    if undeclared:  # a defect in the kind's declaration or its evaluator, not in the user's input
        raise RuntimeError(f"{type(evaluator).__name__} returned metrics {undeclared} that data kind {kind.name!r} "
                           f"does not declare (declared: {sorted(kind.metrics)})")
    return {name: (None if value is None else float(value)) for name, value in metrics.items()}


JUDGE_FILE = "domain_judge.npz"


def run_evaluation(model: ServedModel, records: Iterable[Mapping[str, Any]], thresholds: Mapping[str, Any],
                   baseline_path: Optional[str] = None, *, max_examples: int = 64, seed: int = 0,
                   metrics: Optional[list] = None, judge_path: Optional[str] = None, source: str = "eval split",
                   progress: Optional[Callable[[str], None]] = None) -> tuple:
    """Evaluates `model` (and the baseline export, if any, on the same images) on parsed `records` of its data
    kind and decides the blessing. The TFX evaluator (`evaluate_export`) and the evaluate CLI both call it.

    Args:
        metrics: a subset of the kind's metrics to compute (default: all).
        judge_path: a domain judge saved by an earlier evaluation (`DomainJudge.save`) to score with, instead of
            training one on these images.
        progress: called with a short message before each stage.

    Returns:
        ``(report, evaluator, baseline_samples)``: the report (keys below), the evaluator (its ``samples`` are the
        candidate's sample rows, its ``judge`` the domain judge if any), the baseline's sample rows (or []).
        Report keys: ``model``, ``method``, ``data_kind``, ``mode`` and ``signature`` (what was called),
        ``num_images``, ``feature_network``, ``protocol``, ``metrics``, ``skipped`` (metric -> why it is None),
        ``directions``, ``reference``, ``baseline`` (None, or its ``path``, ``method``, ``metrics``; or ``skipped``
        with the reason), ``thresholds`` (without those on metrics that do not apply to the model, e.g. a
        generator's input-relative ones), ``checks``, ``blessed`` and ``json_note``. Values may be NaN or
        infinite: write it with `blessing.to_json`.
    """
    say = progress or (lambda message: None)
    kind = kind_of(model)
    thresholds = validate_thresholds(kind, thresholds)
    judge = DomainJudge.load(judge_path) if judge_path else None
    say(f"reading the real images ({kind.name}) and fitting the references")
    evaluator = kind.evaluator()(records, model.metadata, seed=seed, max_examples=max_examples, source=source,
                                 metrics=metrics, judge=judge)
    say(f"evaluating {model.version_dir} on {evaluator.num_images} images")
    values = _checked_metrics(evaluator.metrics(model), kind, evaluator)
    candidate_samples = evaluator.samples
    mode = model.mode

    baseline_report = None
    baseline_metrics = None
    baseline_samples: list = []
    if baseline_path:
        baseline = ServedModel(baseline_path)
        reason = evaluator.incompatibility(baseline.metadata)
        if reason:
            baseline_report = {"path": baseline_path, "skipped": f"baseline {reason}"}
        else:
            say(f"evaluating the baseline {baseline.version_dir}")
            baseline_metrics = _checked_metrics(evaluator.metrics(baseline), kind, evaluator)
            baseline_samples = evaluator.samples
            baseline_report = {"path": baseline_path, "method": baseline.method, "mode": baseline.mode,
                               "metrics": baseline_metrics}
    evaluator.samples = candidate_samples
    # A metric that does not apply to the model (a generator has no input to compare with) is not thresholded.
    thresholds = {name: spec for name, spec in thresholds.items() if name not in evaluator.not_applicable}
    blessed, checks = check_blessing(values, thresholds, baseline_metrics, directions=kind.metrics)
    report = {
        "model": model.path,
        "method": model.method,
        "data_kind": kind.name,
        "mode": mode,
        "signature": mode + BYTES_SUFFIX,
        "num_images": evaluator.num_images,
        "feature_network": evaluator.feature_network,
        "protocol": evaluator.protocol,
        "metrics": values,
        "skipped": dict(evaluator.skipped),
        "directions": {name: kind.metrics[name] for name in values},
        "reference": dict(evaluator.reference),
        "baseline": baseline_report,
        "thresholds": thresholds,
        "checks": checks,
        "blessed": blessed,
        "json_note": NON_FINITE_NOTE,
    }
    return report, evaluator, baseline_samples


def evaluate_export(model_path: str, examples_uri: str, thresholds: Mapping[str, Any],
                    baseline_path: Optional[str] = None, max_examples: int = 64, seed: int = 0,
                    judge_dir: Optional[str] = None) -> dict:
    """Evaluates the export at `model_path` (and the baseline export, if any, on the same images) on the eval split
    of an Examples artifact and decides the blessing (`run_evaluation`); with `judge_dir`, the domain judge (if the
    kind uses one) is saved there as `JUDGE_FILE`.

    Returns:
        The report of `run_evaluation`.

    Raises:
        RequestError: the export cannot be loaded or called as the evaluation needs.
        DataError: the eval split is missing, unreadable or holds nothing to evaluate on.
        ConfigError: invalid thresholds or `max_examples`.
    """
    model = ServedModel(model_path)
    kind = kind_of(model)
    records = read_eval_records(examples_uri, kind.name, kind.evaluator().parse)
    report, evaluator, _ = run_evaluation(model, records, thresholds, baseline_path, max_examples=max_examples,
                                          seed=seed, source=eval_split_dir(examples_uri))
    if judge_dir and evaluator.judge is not None:
        report["domain_judge"] = evaluator.judge.save(storage.join(judge_dir, JUDGE_FILE))
    return report
