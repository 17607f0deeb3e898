"""Evaluators with a ground truth per image: paired translation and super-resolution.

Both send each input through the export's first mode (the ``serving_default`` one, which must take the images
alone) and score the served PNG against its target at the target's own size: ``psnr`` and ``ssim``
(`i2i_keras.metrics`; SSIM only on images of at least 11 px, else None) and ``l1`` (mean absolute error on the
[-1, 1] scale), averaged over images. A perfect output has a PSNR of +inf, which blessing treats as the best
value (`i2i_keras.evaluation.blessing`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import tensorflow as tf

from i2i_keras.data import schema
from i2i_keras.data import transforms
from i2i_keras.data.schema import encode_png
from i2i_keras.errors import DataError
from i2i_keras.evaluation.base import Evaluator
from i2i_keras.evaluation.base import average
from i2i_keras.evaluation.base import compare
from i2i_keras.evaluation.base import decode
from i2i_keras.evaluation.exported import output_scale_of


class PairedEvaluator(Evaluator):
    """Paired data: each eval ``source`` is translated and compared with its ``target``."""

    protocol_name = "paired_v1"
    description = ("each eval source through the first mode (serving_default); psnr, ssim (images >= 11 px) and l1 "
                   "([-1, 1] scale) of the served PNG against its target, averaged over images")
    metric_names = ("psnr", "ssim", "l1")

    def _collect(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.inputs: list = []  # encoded images sent to the model
        self.targets: list = []  # decoded [1, H, W, C] targets
        for record in records:
            if len(self.inputs) >= self.max_examples:
                break
            pair = self._pair(record)
            if pair is not None:
                self.inputs.append(pair[0])
                self.targets.append(pair[1])
        if not self.inputs:
            raise DataError(self.source, "the eval split has no source / target examples to evaluate on",
                            code="empty_eval_split")

    def _pair(self, record: Mapping[str, Any]) -> Optional[tuple]:
        """(encoded input, decoded target) of one record, or None to skip it."""
        return record[schema.SOURCE], decode(record[schema.TARGET], self.out_channels)

    @property
    def num_images(self) -> int:
        return len(self.inputs)

    def metrics(self, model: Any) -> dict:
        model.use_first_mode()
        rows = []
        for served, target in zip(model.translate(self.inputs), self.targets):
            prediction = decode(served, self.out_channels)
            if prediction.shape != target.shape:
                raise self._size_mismatch(model, prediction, target, "target")
            rows.append(compare(prediction, target))
        return average(rows)


class SuperResolutionEvaluator(PairedEvaluator):
    """Super-resolution: records holding one high-res ``image`` are cropped to a multiple of the export's
    ``output_scale`` (metadata; 1 when absent), degraded with the data layer's own `transforms.degrade_for_sr`,
    sent PNG-encoded, and the output is compared with the cropped high-res image. Records holding ``source`` /
    ``target`` pairs (real low-res / high-res pairs) are used as they are. Images smaller than the scale are
    skipped (counted in ``reference["skipped_smaller_than_scale"]``)."""

    protocol_name = "sr_v1"
    description = ("high-res eval images cropped to a multiple of the export's output_scale, downscaled with "
                   "i2i_keras.data.transforms.degrade_for_sr (bicubic, antialiased), sent as PNG through the first "
                   "mode; psnr, ssim (images >= 11 px) and l1 of the output against the high-res image (source / "
                   "target records: as they are), averaged over images")

    # Real low-res / high-res pairs are stored with the paired schema (source, target).
    pair_schema = "paired"

    def __init__(self, records: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any], seed: int = 0,
                 max_examples: int = 64, source: str = "eval split"):
        self.scale = output_scale_of(dict(metadata or {}), "export metadata")
        self._skipped = 0
        super().__init__(records, metadata, seed=seed, max_examples=max_examples, source=source)
        if self._skipped:
            self.reference["skipped_smaller_than_scale"] = self._skipped

    @classmethod
    def parse(cls, serialized: Any, kind_name: str) -> dict:
        try:
            return super().parse(serialized, kind_name)
        except tf.errors.InvalidArgumentError:
            return super().parse(serialized, cls.pair_schema)

    def _pair(self, record: Mapping[str, Any]) -> Optional[tuple]:
        image = record.get(schema.IMAGE)
        if image is None or len(image) == 0:
            return super()._pair(record)
        high = transforms.crop_to_multiple(decode(image, self.in_channels)[0], self.scale)
        if min(high.shape[0], high.shape[1]) < self.scale:
            self._skipped += 1
            return None
        low = transforms.degrade_for_sr(high, self.scale)
        target = high if self.in_channels == self.out_channels else \
            transforms.crop_to_multiple(decode(image, self.out_channels)[0], self.scale)
        return encode_png(transforms.to_uint8(low).numpy()), target[None]

    @property
    def protocol(self) -> dict:
        return {**super().protocol, "output_scale": self.scale}

    def incompatibility(self, metadata: Mapping[str, Any]) -> Optional[str]:
        reason = super().incompatibility(metadata)
        if reason is None and output_scale_of(dict(metadata), "baseline metadata") != self.scale:
            reason = f"output_scale {output_scale_of(dict(metadata))} differs from {self.scale}"
        return reason
