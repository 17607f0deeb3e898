"""The ``unpaired`` data kind: two image domains without correspondences (CycleGAN, DiscoGAN, UNIT, MUNIT).

Batch: ``{"domain_a": [B,H,W,C], "domain_b": [B,H,W,C]}``, two independently shuffled streams zipped. Folders hold
``trainA/`` + ``trainB/`` (+ ``testA/``, ``testB/``), two sub-folders of a split folder, or the two folders named by
``data.domains``. TFRecords carry ``domain`` 0 or 1; TFDS data sets two splits (trainA/trainB or ``data.domains``).
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
from i2i_keras.errors import DataError

# Domains used when an embedded multi-domain set is read as unpaired data and `data.domains` is not set.
EMBEDDED_DOMAINS = {"fashion_mnist": ["sneaker", "ankle_boot"]}


def image_augmenter(cfg: Any):
    return lambda x, seed, training: {"image": transforms.preprocess(x["image"], cfg, seed, training)}


def domain_dirs(root: str, split: str, domains: Optional[list]) -> list:
    """The two domain folders of an unpaired split: `domains` names, else {split}A/{split}B, else two subfolders."""
    if domains is not None:
        if len(domains) != 2:
            raise DataError(root, f"unpaired data needs exactly two names in data.domains. Received: {domains}",
                            code="bad_domains")
        base = files.split_dir(root, split)
        dirs = []
        for name in domains:
            candidates = [files.join(base, name)] + [files.join(root, p + name) for p in files.split_prefixes(split)]
            found = next((c for c in candidates if files.is_dir(c)), None)
            if found is None:
                raise DataError(candidates[0], f"domain folder not found; subfolders there: {files.subdirs(base)}",
                                code="folder_not_found")
            dirs.append(found)
        return dirs
    for prefix in files.split_prefixes(split):
        pair = [files.join(root, prefix + "A"), files.join(root, prefix + "B")]
        if all(files.is_dir(d) for d in pair):
            return pair
    base = files.split_dir(root, split)
    subs = files.subdirs(base)
    if len(subs) != 2:
        raise DataError(base, f"cannot tell the two domains: expected {split}A/ and {split}B/ or exactly two "
                        f"subfolders, found {subs}; name them in data.domains", code="no_domains")
    return [files.join(base, s) for s in subs]


class UnpairedReader:
    def folder(self, root: str, cfg: Any, split: str, embedded: Optional[str] = None) -> streams.Plan:
        domains = cfg.domains
        if domains is None and embedded is not None:
            domains = EMBEDDED_DOMAINS.get(embedded)
        parts = []
        for d in domain_dirs(root, split, domains):
            paths = files.list_images(d)
            files.inspected(paths, cfg, cfg.crop_size)
            parts.append(sources.image_table_stream(paths, cfg, d))
        return streams.Plan(parts, image_augmenter(cfg))

    def records(self, source: sources.RecordSource, cfg: Any) -> streams.Plan:
        decode = sources.decoder(cfg)
        parts = []
        for domain in (0, 1):
            keep = (lambda d: lambda r: tf.equal(schema.parse_domain(r), d))(domain)
            if source.first_record(keep) is None:
                raise DataError(source.spec, f"no records with {schema.DOMAIN}={domain} (unpaired data needs both "
                                f"domains)", code="missing_domain")

            def load(r):
                return {"image": decode(schema.parse_example(r, "unpaired")[schema.IMAGE])}

            parts.append(source.stream(load, keep, f"{source.spec}[domain={domain}]"))
        return streams.Plan(parts, image_augmenter(cfg))

    def tfds(self, source: sources.TfdsSource, cfg: Any, split: str) -> streams.Plan:
        if cfg.domains is not None:
            names = list(cfg.domains)
        else:
            prefixes = (source.spec_split,) if source.spec_split else files.split_prefixes(split)
            names = next(([p + "A", p + "B"] for p in prefixes
                          if p + "A" in source.splits and p + "B" in source.splits), None)
            if names is None:
                raise DataError(source.spec, f"unpaired TFDS data needs two splits like trainA/trainB (or "
                                f"data.domains naming two splits); splits: {sorted(source.splits.keys())}",
                                code="no_domains")
        key = source.image_key()
        parts = [source.stream(source.pick_split([s]), lambda x: {"image": source.to_float(x[key])}) for s in names]
        return streams.Plan(parts, image_augmenter(cfg))

    def combine(self, parts: list) -> tf.data.Dataset:
        return tf.data.Dataset.zip(tuple(parts)).map(
            tf.autograph.experimental.do_not_convert(lambda a, b: {"domain_a": a["image"], "domain_b": b["image"]}),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )


def ingestion_sources(root: str, split: str, *, layout: str = "auto", domains: Optional[list] = None) -> dict:
    """``{"layout": "two_domains", "domains": [(name, folder), (name, folder)]}`` for one split."""
    dirs = domain_dirs(root, split, domains)
    return {"layout": "two_domains", "domains": [(files.basename(d), d) for d in dirs]}


def synthetic_batches(size=32, channels=3, batch=2, count=4, seed=0, **_):
    """Two domains: smooth random images and dimmer ones."""
    rng = np.random.default_rng(seed)
    n = batch * count
    data = {"domain_a": kinds.smooth_images(rng, n, size, channels),
            "domain_b": kinds.smooth_images(rng, n, size, channels) * 0.5}
    return kinds.batched(data, batch)


def _evaluator() -> type:
    from i2i_keras.evaluation.distribution import UnpairedEvaluator

    return UnpairedEvaluator


KIND = kinds.register_kind(kinds.DataKind(
    name="unpaired",
    description="two image domains without correspondences",
    batch_keys=("domain_a", "domain_b"),
    record_keys=(schema.IMAGE, schema.DOMAIN),
    default_data="embedded:fashion_mnist",
    reader=UnpairedReader(),
    ingestion=kinds.Ingestion(ingestion_sources, every_group_in_every_split=True),
    metrics={"fd_vgg16": -1, "kid_vgg16": -1, "fid": -1, "kid": -1, "domain_accuracy": 1, "lpips_diversity": 1},
    default_thresholds={"domain_accuracy": {"max_regression": 0.2}},
    evaluator_factory=_evaluator,
    embedded_domains=EMBEDDED_DOMAINS,
    synthetic_batches=synthetic_batches,
))
