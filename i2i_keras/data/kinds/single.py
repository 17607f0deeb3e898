"""The ``single`` data kind: images alone, no target (style-transfer content images, generation, autoencoding).

Batch: ``{"image": [B,H,W,C]}``. Folders: any images (recursively; split folders are honoured).
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


def image_augmenter(cfg: Any):
    return lambda x, seed, training: {"image": transforms.preprocess(x["image"], cfg, seed, training)}


class SingleReader:
    """Single images; `augmenter(cfg)` turns a decoded image into the batch element (subclasses change it)."""

    record_kind = "single"

    def augmenter(self, cfg: Any):
        return image_augmenter(cfg)

    def check_images(self, paths: list, shapes: list, cfg: Any) -> None:
        """Kind-specific checks of the listed images' (h, w, c) shapes (after the size checks)."""

    def folder(self, root: str, cfg: Any, split: str, embedded: Optional[str] = None) -> streams.Plan:
        base = files.split_dir(root, split)
        paths = files.list_images(base)
        shapes = files.inspected(paths, cfg, cfg.crop_size)
        self.check_images(paths, shapes, cfg)
        return streams.Plan([sources.image_table_stream(paths, cfg, base)], self.augmenter(cfg))

    def records(self, source: sources.RecordSource, cfg: Any) -> streams.Plan:
        source.parse_first(self.record_kind)
        decode = sources.decoder(cfg)
        kind = self.record_kind

        def load(r):
            return {"image": decode(schema.parse_example(r, kind)[schema.IMAGE])}

        return streams.Plan([source.stream(load)], self.augmenter(cfg))

    def tfds(self, source: sources.TfdsSource, cfg: Any, split: str) -> streams.Plan:
        split_name = source.split_for(split)
        key = source.image_key()
        return streams.Plan([source.stream(split_name, lambda x: {"image": source.to_float(x[key])})],
                            self.augmenter(cfg))

    def combine(self, parts: list) -> tf.data.Dataset:
        return parts[0]


def ingestion_sources(root: str, split: str, *, layout: str = "auto", domains: Optional[list] = None) -> dict:
    """``{"layout": "images", "folder"}`` for one split."""
    return {"layout": "images", "folder": files.split_dir(root, split)}


def synthetic_batches(size=32, channels=3, batch=2, count=4, seed=0, **_):
    rng = np.random.default_rng(seed)
    data = {"image": kinds.smooth_images(rng, batch * count, size, channels)}
    return kinds.batched(data, batch)


def _evaluator() -> type:
    from i2i_keras.evaluation.distribution import SingleImageEvaluator

    return SingleImageEvaluator


KIND = kinds.register_kind(kinds.DataKind(
    name="single",
    description="images alone, without a target",
    batch_keys=("image",),
    record_keys=(schema.IMAGE,),
    default_data="embedded:photos",
    reader=SingleReader(),
    ingestion=kinds.Ingestion(ingestion_sources),
    metrics={"fd_vgg16": -1, "kid_vgg16": -1, "fid": -1, "kid": -1, "ssim_to_input": 1, "l1_to_input": -1,
             "lpips_to_input": -1},
    default_thresholds={"ssim_to_input": {"max_regression": 0.1}},
    evaluator_factory=_evaluator,
    synthetic_batches=synthetic_batches,
))
