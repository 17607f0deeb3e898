"""The ``paired`` data kind: an input image and its ground-truth output (pix2pix, BicycleGAN).

Batch: ``{"source": [B,H,W,C], "target": [B,H,W,C]}``. Folders hold AB images (source|target side by side,
``data.layout: ab``) or A/ + B/ (or source/ + target/) with matching file names (``layout: folders``; A/ and B/ may
hold the split folders themselves, the pix2pix "combine" layout). ``data.direction: b2a`` swaps source and target.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import files
from i2i_keras.data import schema
from i2i_keras.data import sources
from i2i_keras.data import streams
from i2i_keras.data import transforms
from i2i_keras.data import kinds
from i2i_keras.errors import DataError


def pair_augmenter(cfg: Any, scale: int = 1):
    """Paired preprocessing: one random crop/flip for both images (the target `scale` times the source)."""

    def augment(x, seed, training):
        source, target = transforms.preprocess_pair(x["source"], x["target"], cfg, seed, training, scale=scale)
        return {"source": source, "target": target}

    return augment


def layout_of(folder: str, dirs: Optional[tuple], layout: str) -> str:
    """"ab" or "folders": what a paired folder holds under `data.layout` ("auto" picks folders when A/+B/ exist)."""
    if layout == "auto":
        layout = "folders" if dirs else "ab"
    if layout == "folders" and not dirs:
        raise DataError(folder, "layout 'folders' needs subfolders A/ and B/ (or source/ and target/)",
                        code="no_pair_folders")
    return layout


def pair_dirs_of(base: str, layout: str, split: str) -> Optional[tuple]:
    """The (A, B) folders of a paired split, or None; A/ and B/ may hold the split folders themselves."""
    dirs = files.pair_dirs(base) if layout != "ab" else None
    if dirs:
        dirs = tuple(files.split_dir(d, split) for d in dirs)
    return dirs


def matched_pair_files(dirs: tuple, cfg: Any) -> tuple:
    """(sources, targets) of two pair folders in the configured direction."""
    a, b = files.match_pairs(dirs[0], dirs[1])
    return sources.swap(a, b, cfg)


class PairedReader:
    def folder(self, root: str, cfg: Any, split: str, embedded: Optional[str] = None) -> streams.Plan:
        base = files.split_dir(root, split)
        dirs = pair_dirs_of(base, cfg.layout, split)
        if layout_of(base, dirs, cfg.layout) == "folders":
            return self._pair_folders(base, dirs, cfg)
        return self._ab_folder(base, cfg)

    def _pair_folders(self, folder: str, dirs: tuple, cfg: Any) -> streams.Plan:
        srcs, tgts = matched_pair_files(dirs, cfg)
        src_shapes = files.inspected(srcs, cfg, cfg.crop_size)
        tgt_shapes = files.inspected(tgts, cfg, cfg.crop_size)
        if cfg.preprocess == "crop":
            for ps, ss, pt, st in zip(srcs, src_shapes, tgts, tgt_shapes):
                if tuple(ss[:2]) != tuple(st[:2]):
                    raise DataError(pt, f"image is {st[0]}x{st[1]} but its partner {ps} is {ss[0]}x{ss[1]}; "
                                    f"data.preprocess='crop' needs pairs of equal size", code="pair_size_mismatch")
        return streams.Plan([sources.pair_table_stream(srcs, tgts, cfg, folder)], pair_augmenter(cfg))

    def _ab_folder(self, folder: str, cfg: Any) -> streams.Plan:
        paths = files.list_images(folder)
        shapes = files.inspect_images(paths, files.max_pixels_of(cfg))
        for path, (h, w, _) in zip(paths, shapes):
            if w % 2:
                raise DataError(path, f"AB image width {w} is odd; an AB image is source and target side by side, "
                                f"two halves of equal width", code="odd_ab_width")
        files.check_sizes([(p, (h, w // 2)) for p, (h, w, _) in zip(paths, shapes)], cfg, cfg.crop_size, "AB half")

        def load_ab(row):
            image = sources.read_image(row["path"], cfg)
            half = tf.shape(image)[1] // 2
            source, target = sources.swap(image[:, :half, :], image[:, half:, :], cfg)
            return {"source": source, "target": target}

        return streams.Plan([streams.file_stream({"path": np.array(paths)}, load_ab, folder)], pair_augmenter(cfg))

    def records(self, source: sources.RecordSource, cfg: Any) -> streams.Plan:
        source.parse_first("paired")
        decode = sources.decoder(cfg)

        def load(r):
            x = schema.parse_example(r, "paired")
            src, tgt = sources.swap(decode(x[schema.SOURCE]), decode(x[schema.TARGET]), cfg)
            return {"source": src, "target": tgt}

        return streams.Plan([source.stream(load)], pair_augmenter(cfg))

    def tfds(self, source: sources.TfdsSource, cfg: Any, split: str) -> streams.Plan:
        split_name = source.split_for(split)
        if not cfg.domains or len(cfg.domains) != 2 or any(d not in source.image_keys for d in cfg.domains):
            raise DataError(source.spec, f"paired TFDS data needs data.domains = [source_feature, target_feature] "
                            f"from its image features {source.image_keys}. Received: data.domains={cfg.domains}",
                            code="bad_domains")
        src_key, tgt_key = sources.swap(cfg.domains[0], cfg.domains[1], cfg)
        load = lambda x: {"source": source.to_float(x[src_key]), "target": source.to_float(x[tgt_key])}  # noqa: E731
        return streams.Plan([source.stream(split_name, load)], pair_augmenter(cfg))

    def combine(self, parts: list) -> tf.data.Dataset:
        return parts[0]


def ingestion_sources(root: str, split: str, *, layout: str = "auto", domains: Optional[list] = None) -> dict:
    """``{"layout": "ab", "folder"}`` or ``{"layout": "folders", "source", "target"}`` for one split."""
    base = files.split_dir(root, split)
    dirs = pair_dirs_of(base, layout, split)
    if layout_of(base, dirs, layout) == "folders":
        return {"layout": "folders", "source": dirs[0], "target": dirs[1]}
    return {"layout": "ab", "folder": base}


def synthetic_batches(size=32, channels=3, batch=2, count=4, seed=0, **_):
    """Paired batches whose target is a fixed function of the source (mirrored, dimmed)."""
    rng = np.random.default_rng(seed)
    source = kinds.smooth_images(rng, batch * count, size, channels)
    data = {"source": source, "target": np.flip(source, axis=2).copy() * 0.8}
    return kinds.batched(data, batch)


def _evaluator() -> type:
    from i2i_keras.evaluation.paired import PairedEvaluator

    return PairedEvaluator


KIND = kinds.register_kind(kinds.DataKind(
    name="paired",
    description="input image and its ground-truth output",
    batch_keys=("source", "target"),
    record_keys=(schema.SOURCE, schema.TARGET),
    default_data="embedded:gray2color",
    reader=PairedReader(),
    ingestion=kinds.Ingestion(ingestion_sources),
    metrics={"psnr": 1, "ssim": 1, "l1": -1, "psnr_y": 1, "ssim_y": 1, "lpips": -1, "fd_vgg16": -1,
             "kid_vgg16": -1, "fid": -1, "kid": -1, "lpips_diversity": 1},
    default_thresholds={"psnr": {"max_regression": 1.0}},
    evaluator_factory=_evaluator,
    synthetic_batches=synthetic_batches,
))
