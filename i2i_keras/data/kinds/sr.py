"""The ``sr`` data kind: super-resolution, a low-resolution input and its high-resolution original.

Batch: ``{"source": LR [B,H/s,W/s,C], "target": HR [B,H,W,C]}`` with ``s = data.scale``. From single images, the
LR input is made on the fly by `transforms.degrade_for_sr` (bicubic downscaling of the HR crop); from real pairs
(A/ + B/ or source/ + target/ with matching names, B `scale` times larger) both are read. TFRecords hold single HR
images (``image``) or real pairs (``source`` / ``target``).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import files
from i2i_keras.data import kinds
from i2i_keras.data import schema
from i2i_keras.data import sources
from i2i_keras.data import streams
from i2i_keras.data import transforms
from i2i_keras.data.kinds import paired
from i2i_keras.data.kinds import single
from i2i_keras.errors import ConfigError
from i2i_keras.errors import DataError


def sr_augmenter(cfg: Any):
    def augment(x, seed, training):
        source, target = transforms.make_sr_pair(x["image"], cfg, seed, training)
        return {"source": source, "target": target}

    return augment


def _check_scale(cfg: Any) -> None:
    if cfg.crop_size % cfg.scale:
        raise ConfigError(f"`data.crop_size` must be divisible by `data.scale`. "
                          f"Received: data.crop_size={cfg.crop_size}, data.scale={cfg.scale}", code="bad_value")


class SuperResolutionReader(single.SingleReader):
    def augmenter(self, cfg: Any):
        return sr_augmenter(cfg)

    def check_images(self, paths: list, shapes: list, cfg: Any) -> None:
        if cfg.preprocess == "none":
            for p, (h, w, _) in zip(paths, shapes):
                if h < cfg.scale or w < cfg.scale:
                    raise DataError(p, f"image is {h}x{w}, smaller than data.scale={cfg.scale}", code="too_small")

    def folder(self, root: str, cfg: Any, split: str, embedded: Optional[str] = None) -> streams.Plan:
        _check_scale(cfg)
        base = files.split_dir(root, split)
        dirs = paired.pair_dirs_of(base, cfg.layout, split)
        if not dirs:
            return super().folder(root, cfg, split, embedded)
        # Real low-res / high-res pairs (A/ or source/ low-res, B/ or target/ `scale` times larger).
        lows, highs = paired.matched_pair_files(dirs, cfg)
        s = cfg.scale
        limit = files.max_pixels_of(cfg)
        low_shapes, high_shapes = files.inspect_images(lows, limit), files.inspect_images(highs, limit)
        for pl, sl, ph, sh in zip(lows, low_shapes, highs, high_shapes):
            if (sh[0], sh[1]) != (sl[0] * s, sl[1] * s):
                raise DataError(ph, f"high-res image is {sh[0]}x{sh[1]}; expected data.scale={s} times its low-res "
                                f"partner {pl} ({sl[0]}x{sl[1]} -> {sl[0] * s}x{sl[1] * s})", code="pair_size_mismatch")
        files.check_sizes([(p, t[:2]) for p, t in zip(highs, high_shapes)], cfg, cfg.crop_size, "high-res image")
        return streams.Plan([sources.pair_table_stream(lows, highs, cfg, base)], paired.pair_augmenter(cfg, s))

    def records(self, source: sources.RecordSource, cfg: Any) -> streams.Plan:
        _check_scale(cfg)
        first = source.first_record()
        if first is not None and schema.SOURCE in tf.train.Example.FromString(first.numpy()).features.feature:
            plan = paired.PairedReader().records(source, cfg)
            return streams.Plan(plan.streams, paired.pair_augmenter(cfg, cfg.scale))
        return super().records(source, cfg)

    def tfds(self, source: sources.TfdsSource, cfg: Any, split: str) -> streams.Plan:
        _check_scale(cfg)
        return super().tfds(source, cfg, split)


def ingestion_sources(root: str, split: str, *, layout: str = "auto", domains: Optional[list] = None) -> dict:
    """Real pairs: ``{"layout": "folders", "source", "target", "target_scale": None}`` (the scale is checked
    against ``data.scale`` when read); single images: ``{"layout": "images", "folder"}``."""
    base = files.split_dir(root, split)
    dirs = paired.pair_dirs_of(base, layout, split)
    if dirs:
        return {"layout": "folders", "source": dirs[0], "target": dirs[1], "target_scale": None}
    return {"layout": "images", "folder": base}


def synthetic_batches(size=32, channels=3, batch=2, count=4, seed=0, scale=2, **_):
    """High-res smooth images and their area-downscaled low-res inputs."""
    rng = np.random.default_rng(seed)
    target = kinds.smooth_images(rng, batch * count, size, channels)
    source = tf.image.resize(target, (size // scale, size // scale), method="area").numpy()
    return kinds.batched({"source": source, "target": target}, batch)


def summary_metrics(model: Any, dataset: Any, batches: int) -> dict:
    """The published super-resolution figures of a trained model and of its baseline, over `batches` batches:
    ``psnr_y`` / ``ssim_y`` of ``model.translate(source)`` against the target, and ``bicubic_psnr_y`` /
    ``bicubic_ssim_y`` of MATLAB-style bicubic upscaling (`transforms.upscale_bicubic`) of the same inputs; BT.601
    Y on images quantised to uint8 as saved, ``output_scale`` border pixels shaved (`metrics.psnr_sr`)."""
    from i2i_keras.metrics import psnr_sr
    from i2i_keras.metrics import ssim_sr

    scale = int(model.output_scale)
    predictions, baselines, truths = [], [], []
    for batch in dataset.take(batches):
        source = batch["source"]
        predictions.append(transforms.to_uint8(model.translate(source)).numpy())
        baselines.append(transforms.to_uint8(transforms.upscale_bicubic(source, scale)).numpy())
        truths.append(transforms.to_uint8(batch["target"]).numpy())
    if not truths:
        return {}
    truth = np.concatenate(truths)
    values = {}
    for prefix, images in (("", predictions), ("bicubic_", baselines)):
        images = np.concatenate(images)
        values[f"{prefix}psnr_y"] = float(psnr_sr(images, truth, crop_border=scale).mean)
        if min(truth.shape[1:3]) - 2 * scale >= 11:  # SSIM's 11 px window after the border crop
            values[f"{prefix}ssim_y"] = float(ssim_sr(images, truth, crop_border=scale).mean)
    return values


def _evaluator() -> type:
    from i2i_keras.evaluation.paired import SuperResolutionEvaluator

    return SuperResolutionEvaluator


KIND = kinds.register_kind(kinds.DataKind(
    name="sr",
    description="super-resolution: a low-resolution input and its high-resolution original",
    batch_keys=("source", "target"),
    record_keys=(schema.IMAGE,),
    default_data="embedded:photos",
    reader=SuperResolutionReader(),
    ingestion=kinds.Ingestion(ingestion_sources),
    metrics={"psnr": 1, "ssim": 1, "l1": -1, "psnr_y": 1, "ssim_y": 1, "lpips": -1},
    default_thresholds={"psnr": {"max_regression": 1.0}},
    evaluator_factory=_evaluator,
    synthetic_batches=synthetic_batches,
    summary_metrics=summary_metrics,
))
