"""`ImageEvaluator`: the exported SavedModel (the very artifact the Pusher serves) on the eval split -> metrics +
blessing, computed by the library (`i2i_keras.evaluation.evaluate_export`).

The model is called through its bytes signatures (`i2i_keras.evaluation.exported.ServedModel`), so the metrics
are those of what a TF Serving client gets back. Which metrics, and how, is the data kind's business: the export's
metadata names the kind, the kind's declaration (`i2i_keras.data.kinds`) names its evaluator (`i2i_keras.evaluation`:
the metric suite of `i2i_keras.metrics` per kind: PSNR / SSIM on RGB and Y, LPIPS, Fréchet distance and KID on
VGG16 features, the domain judge's accuracy, LPIPS diversity...), the directions of its metrics and its default
thresholds. The domain judge an evaluation trained is saved beside its report (``domain_judge.npz``).

Blessing (`i2i_keras.evaluation.blessing`): thresholds are ``{metric: {"lower_bound": x, "upper_bound": y,
"max_regression": z}}``; ``max_regression`` compares with the last blessed model (the ``baseline_model`` input,
resolved by TFX's LatestBlessedModelStrategy), evaluated here on the same images. A NaN metric is never blessed;
infinities count by the metric's direction (+inf PSNR is the best value).

Outputs: ``<evaluation>/metrics.json`` (the report, strict JSON: non-finite numbers as the strings "NaN",
"Infinity", "-Infinity"), a float custom property per finite metric; the ModelBlessing artifact gets the custom
properties the Pusher and the resolver read (``blessed``, ``current_model``, ``current_model_id``,
``baseline_model``, ``baseline_model_id``) and a ``BLESSED`` or ``NOT_BLESSED`` file, as TFX's Evaluator writes.
"""

import json
import math
import os
from typing import Any

import tensorflow as tf
from absl import logging
from tfx import v1 as tfx
from tfx.utils import path_utils

from i2i_keras.errors import ConfigError
from i2i_keras.errors import I2IError
from i2i_keras.evaluation import evaluate_export
from i2i_keras.evaluation import to_json
from i2i_keras.evaluation import validate_thresholds  # noqa: F401 - the pipeline validates thresholds with it

METRICS_FILE = "metrics.json"
# What evaluation raises for bad input (an unusable export: RequestError; eval data: DataError; thresholds:
# ConfigError), each with a `code`; the runners report it as one line.
EvaluationError = I2IError
# The library's function, under the name this module had.
evaluate_models = evaluate_export


# ----------------------------------------------------------------------------------------------- TFX component


def _serving_path(model: Any) -> str:
    return path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))


@tfx.dsl.components.component
def ImageEvaluator(
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
    evaluation: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ModelBlessing],
    baseline_model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model] = None,
    thresholds: tfx.dsl.components.Parameter[str] = "{}",
    max_examples: tfx.dsl.components.Parameter[int] = 64,
    seed: tfx.dsl.components.Parameter[int] = 0,
) -> None:
    """Metrics of the exported model on the eval split, and the blessing the Pusher checks (module docstring).
    `thresholds` is JSON."""
    baseline_path = _serving_path(baseline_model) if baseline_model is not None else None
    try:
        parsed = json.loads(thresholds or "{}")
    except ValueError as err:
        raise ConfigError(f"`thresholds` must be a JSON object of metric -> {{check: value}} ({err}). "
                          f"Received: {thresholds!r}", code="bad_thresholds") from None
    report = evaluate_models(_serving_path(model), examples.uri, parsed, baseline_path, max_examples=max_examples,
                             seed=seed, judge_dir=evaluation.uri)
    with tf.io.gfile.GFile(os.path.join(evaluation.uri, METRICS_FILE), "w") as f:
        f.write(to_json(report, indent=1) + "\n")
    for name, value in report["metrics"].items():
        if value is not None and math.isfinite(value):
            evaluation.set_float_custom_property(name, value)
    blessed = bool(report["blessed"])
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "w") as f:
        f.write(to_json({"metrics": report["metrics"], "checks": report["checks"]}, indent=1) + "\n")
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    if baseline_model is not None:
        blessing.set_string_custom_property("baseline_model", baseline_model.uri)
        blessing.set_int_custom_property("baseline_model_id", baseline_model.id)
    failed = [f"{c['metric']}.{c['check']}" for c in report["checks"] if not c["passed"]]
    logging.info("ImageEvaluator: %s %s%s", "BLESSED" if blessed else "NOT BLESSED", report["metrics"],
                 f"; failed checks: {failed}" if failed else "")
