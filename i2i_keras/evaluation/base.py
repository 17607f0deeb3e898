"""The evaluator interface every data kind implements, and the image comparisons the evaluators share.

An evaluator is built once per evaluation from the eval records and the candidate export's metadata; it holds
everything that does not depend on the model (the real images, their features, a classifier, the targets), so the
candidate and the baseline are scored on exactly the same images:

    evaluator = kind.evaluator()(records, metadata, seed=0, max_examples=64, source="<examples>/Split-eval")
    evaluator.metrics(ServedModel(path))   # -> {metric: float or None}, the names the kind declares in `metrics`
    evaluator.reference                    # model-independent numbers for scale (may be {})
    evaluator.num_images                   # images each model translates
    evaluator.protocol                     # how the metrics are computed (name, description, feature network...)
    evaluator.incompatibility(metadata)    # why another export cannot be compared on these images, or None

`records` is an iterable of parsed examples (`Evaluator.parse`: `i2i_keras.data.schema.parse_example` as numpy
values); an evaluator reads only as many as it needs (`max_examples` per evaluated domain). A metric is None when
it cannot be computed on these images (e.g. SSIM of images under 11 px). Problems with the data are `DataError`s
(code ``empty_eval_split``, ``inconsistent_labels``, ...), problems with the export `RequestError`s
(`i2i_keras.evaluation.exported`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import numpy as np
import tensorflow as tf

from i2i_keras import metrics as image_metrics
from i2i_keras.data import schema
from i2i_keras.data import transforms
from i2i_keras.errors import ConfigError
from i2i_keras.errors import RequestError

SSIM_MIN_SIZE = 11  # the 11x11 Gaussian window of tf.image.ssim


def decode(encoded: bytes, channels: int) -> tf.Tensor:
    """Encoded image -> float32 [1, H, W, channels] in [-1, 1] (`transforms.decode_image`, as serving decodes)."""
    return transforms.decode_image(encoded, channels)[None]


def mean_or_none(values: list) -> Optional[float]:
    return float(np.mean(values)) if values else None


def compare(prediction: tf.Tensor, truth: tf.Tensor) -> dict:
    """``psnr``, ``ssim`` (None under `SSIM_MIN_SIZE` px) and ``l1`` (mean absolute error on the [-1, 1] scale) of
    one image [1, H, W, C] against another of the same shape."""
    small = min(truth.shape[1:3]) < SSIM_MIN_SIZE
    return {"psnr": float(image_metrics.psnr(prediction, truth)),
            "ssim": None if small else float(image_metrics.ssim(prediction, truth)),
            "l1": float(tf.reduce_mean(tf.abs(prediction - truth)))}


def average(rows: list) -> dict:
    """Per-image score dicts -> the mean of each key over the images where it is not None (None if none)."""
    keys = rows[0].keys() if rows else ()
    return {k: mean_or_none([r[k] for r in rows if r[k] is not None]) for k in keys}


class Evaluator:
    """Base of the evaluators (see the module docstring for the interface).

    Subclasses set `protocol_name`, `description`, `metric_names` (and `feature_network` when they use one) and
    implement `_collect(records)` (keep what they need from the records, raise `DataError` when that is nothing),
    `metrics(model)` and `num_images`.
    """

    protocol_name = "evaluator"
    description = ""
    metric_names: tuple = ()
    feature_network: Optional[str] = None

    def __init__(self, records: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any], seed: int = 0,
                 max_examples: int = 64, source: str = "eval split"):
        if isinstance(max_examples, bool) or not isinstance(max_examples, (int, np.integer)) or max_examples < 1:
            raise ConfigError(f"`max_examples` must be a positive integer. Received: max_examples={max_examples!r}",
                              code="bad_value")
        self.metadata = dict(metadata or {})
        self.seed = int(seed)
        self.max_examples = int(max_examples)
        self.source = str(source)
        self.data_kind = self.metadata.get("data_kind")
        self.in_channels = int(self.metadata.get("in_channels") or 3)
        self.out_channels = int(self.metadata.get("out_channels") or 3)
        self.reference: dict = {}
        self._collect(iter(records))

    # ------------------------------------------------------------------------------------------- interface

    @classmethod
    def parse(cls, serialized: Any, kind_name: str) -> dict:
        """One serialized eval record -> numpy values (`schema.parse_example` with the kind's schema)."""
        return {k: v.numpy() for k, v in schema.parse_example(serialized, kind_name).items()}

    def _collect(self, records: Iterable[Mapping[str, Any]]) -> None:
        raise NotImplementedError

    @property
    def num_images(self) -> int:
        raise NotImplementedError

    def metrics(self, model: Any) -> dict:
        raise NotImplementedError

    @property
    def protocol(self) -> dict:
        return {"name": self.protocol_name, "description": " ".join(self.description.split()),
                "feature_network": self.feature_network, "metrics": list(self.metric_names),
                "max_examples": self.max_examples, "seed": self.seed}

    def incompatibility(self, metadata: Mapping[str, Any]) -> Optional[str]:
        """Why an export with `metadata` cannot be scored on these images like the candidate, or None."""
        if metadata.get("data_kind") != self.data_kind:
            return f"data kind {metadata.get('data_kind')!r} differs from {self.data_kind!r}"
        return None

    # ------------------------------------------------------------------------------------------- helpers

    @staticmethod
    def _size_mismatch(model: Any, output: tf.Tensor, expected: tf.Tensor, what: str) -> RequestError:
        return RequestError(f"{getattr(model, 'version_dir', model)}: output {tuple(output.shape[1:3])} does not "
                            f"match its {what} {tuple(expected.shape[1:3])}", code="output_size_mismatch")
