"""Evaluators with a ground truth per image: paired translation and super-resolution.

Both send each input through the export's first mode (the ``serving_default`` one, which must take the images
alone) and score the served PNG against its target at the target's own size (`i2i_keras.evaluation.base.compare`):
``psnr`` and ``ssim`` on all channels (`i2i_keras.metrics`; SSIM only on images of at least 11 px, else None),
``l1`` (mean absolute error on the [-1, 1] scale), ``psnr_y`` / ``ssim_y`` in the super-resolution convention
(BT.601 luma, 0-255, float64; super-resolution shaves ``output_scale`` border pixels), and ``lpips`` (LPIPS v0.1
VGG, images of at least 16 px), averaged over images. Paired translation also reports ``fd_vgg16`` / ``kid_vgg16``
of the outputs vs the targets and, for exports with a sampling mode (BicycleGAN), ``lpips_diversity``. A perfect
output has a PSNR of +inf, which blessing treats as the best value (`i2i_keras.evaluation.blessing`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import tensorflow as tf

from i2i_keras.data import schema
from i2i_keras.data import transforms
from i2i_keras.data.schema import encode_png
from i2i_keras.errors import DataError
from i2i_keras.errors import WeightsUnavailable
from i2i_keras.evaluation.base import average
from i2i_keras.evaluation.base import compare
from i2i_keras.evaluation.base import decode
from i2i_keras.evaluation.base import lpips_distances
from i2i_keras.evaluation.distribution import FeatureEvaluator
from i2i_keras.evaluation.exported import output_scale_of


class PairedEvaluator(FeatureEvaluator):
    """Paired data: each eval ``source`` is translated and compared with its ``target``."""

    protocol_name = "paired_v2"
    description = ("each eval source through the first mode (serving_default); psnr, ssim (images >= 11 px), l1 "
                   "([-1, 1] scale), psnr_y / ssim_y (BT.601 Y, 0-255) and lpips (>= 16 px) of the served PNG "
                   "against its target, averaged over images; fd_vgg16 / kid_vgg16 of the outputs vs the targets; "
                   "lpips_diversity of a sampling mode (20 samples of up to 16 inputs)")
    metric_names = ("psnr", "ssim", "l1", "psnr_y", "ssim_y", "lpips", "fd_vgg16", "kid_vgg16", "fid", "kid",
                    "lpips_diversity")
    crop_border = 0

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
        served = model.translate(self.inputs)
        self.keep_samples(getattr(model, "mode", ""), [[a, b, encode_png(transforms.to_uint8(t[0]).numpy())]
                                       for a, b, t in zip(self.inputs, served, self.targets)])
        predictions = []
        for output, target in zip(served, self.targets):
            prediction = decode(output, self.out_channels)
            if prediction.shape != target.shape:
                raise self._size_mismatch(model, prediction, target, "target")
            predictions.append(prediction)
        values = average([compare(p, t, self.crop_border) for p, t in zip(predictions, self.targets)])
        if self.wants("lpips"):
            try:
                values["lpips"] = average([{"lpips": d} for d in lpips_distances(predictions, self.targets)])["lpips"]
            except WeightsUnavailable as err:
                self.skip(["lpips"], str(err))
        if not hasattr(self, "real"):
            self.real = self._features(self.targets)
        values.update(self._distances(self._features(predictions), self.real))
        if self.wants("lpips_diversity"):
            values["lpips_diversity"] = self._diversity(model)
        return self.selected_values(values)


class SuperResolutionEvaluator(PairedEvaluator):
    """Super-resolution: records holding one high-res ``image`` are cropped to a multiple of the export's
    ``output_scale`` (metadata; 1 when absent), degraded with the data layer's own `transforms.degrade_for_sr`,
    sent PNG-encoded, and the output is compared with the cropped high-res image. Records holding ``source`` /
    ``target`` pairs (real low-res / high-res pairs) are used as they are. Images smaller than the scale are
    skipped (counted in ``reference["skipped_smaller_than_scale"]``)."""

    protocol_name = "sr_v3"  # v3: MATLAB-style bicubic degradation (v2: TensorFlow's bicubic)
    description = ("high-res eval images cropped to a multiple of the export's output_scale, downscaled with "
                   "i2i_keras.data.transforms.degrade_for_sr (MATLAB-style antialiased bicubic), sent as PNG "
                   "through the first mode; psnr, ssim (images >= 11 px), l1, psnr_y / ssim_y (BT.601 Y, 0-255, output_scale border "
                   "pixels shaved) and lpips (>= 16 px) of the output against the high-res image (source / target "
                   "records: as they are), averaged over images")
    metric_names = ("psnr", "ssim", "l1", "psnr_y", "ssim_y", "lpips")

    # Real low-res / high-res pairs are stored with the paired schema (source, target).
    pair_schema = "paired"

    def __init__(self, records: Iterable[Mapping[str, Any]], metadata: Mapping[str, Any], seed: int = 0,
                 max_examples: int = 64, source: str = "eval split", **options: Any):
        self.scale = output_scale_of(dict(metadata or {}), "export metadata")
        self.crop_border = self.scale  # the convention of published super-resolution numbers
        self._skipped = 0
        super().__init__(records, metadata, seed=seed, max_examples=max_examples, source=source, **options)
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
        return {**super().protocol, "output_scale": self.scale, "crop_border": self.crop_border}

    def incompatibility(self, metadata: Mapping[str, Any]) -> Optional[str]:
        reason = super().incompatibility(metadata)
        if reason is None and output_scale_of(dict(metadata), "baseline metadata") != self.scale:
            reason = f"output_scale {output_scale_of(dict(metadata))} differs from {self.scale}"
        return reason
