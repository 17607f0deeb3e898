"""Evaluation of exported models: the metrics of each data kind on the eval split, and the blessing decision.

- `exported`: `ServedModel`, loading an export and calling its ``<mode>_bytes`` signatures (also the translate
  CLI's loader);
- `base`: the `Evaluator` interface and the shared image comparisons;
- `paired`: `PairedEvaluator` (psnr, ssim, l1) and `SuperResolutionEvaluator` (the same on degraded high-res
  images);
- `distribution`: `UnpairedEvaluator` and `MultiDomainEvaluator` (frechet_distance, domain_accuracy),
  `SingleImageEvaluator` (frechet_distance, ssim_to_input, l1_to_input);
- `features`: ``random_conv_v1`` features, the Fréchet distance, the linear classifier;
- `blessing`: threshold validation, the blessing rules (NaN never blessed, infinities by direction), strict JSON;
- `report`: `evaluate_export`, export + eval split + thresholds (+ baseline) -> report.

Each data kind names its evaluator in its declaration (`i2i_keras.data.kinds`, ``evaluator_factory``), with its
metrics' directions and default thresholds; nothing here compares a kind's name.
"""

from i2i_keras.evaluation.base import Evaluator
from i2i_keras.evaluation.blessing import CHECKS
from i2i_keras.evaluation.blessing import check_blessing
from i2i_keras.evaluation.blessing import json_safe
from i2i_keras.evaluation.blessing import to_json
from i2i_keras.evaluation.blessing import validate_thresholds
from i2i_keras.evaluation.exported import ServedModel
from i2i_keras.evaluation.exported import resolve_export
from i2i_keras.evaluation.report import evaluate_export
from i2i_keras.evaluation.report import read_eval_records

__all__ = [
    "CHECKS",
    "Evaluator",
    "ServedModel",
    "check_blessing",
    "evaluate_export",
    "json_safe",
    "read_eval_records",
    "resolve_export",
    "to_json",
    "validate_thresholds",
]
