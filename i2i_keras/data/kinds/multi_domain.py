"""The ``multi_domain`` data kind: images labelled with one of several domains, or with several attributes
(StarGAN).

Batch: ``{"image": [B,H,W,C], "label": [B,D], "target_label": [B,D]}``. Folders hold a folder per domain (one-hot
labels) or images plus ``attributes.csv`` (file name, then one 0/1 column per attribute: multi-hot labels).

The label convention ("onehot" or "attributes") is decided once per data set, from its layout, and decides how
training targets are drawn (`transforms.sample_target_label`): a uniformly random domain, or each attribute
flipped with probability 0.5. Ingestion writes it into every record (``label_mode``), so the pipeline trains on
the same target distribution as the CLI on the same folder.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import files
from i2i_keras.data import ingestion
from i2i_keras.data import kinds
from i2i_keras.data import schema
from i2i_keras.data import sources
from i2i_keras.data import streams
from i2i_keras.data import transforms
from i2i_keras.errors import DataError

LABEL_MODES = (ingestion.ONEHOT, ingestion.ATTRIBUTES)


def label_augmenter(cfg: Any, label_mode: str):
    if label_mode not in LABEL_MODES:
        raise ValueError(f"`label_mode` must be one of {list(LABEL_MODES)}. Received: label_mode={label_mode!r}")

    def augment(x, seed, training):
        image = transforms.preprocess(x["image"], cfg, seed, training)
        target = transforms.sample_target_label(x["label"], seed, label_mode)
        return {"image": image, "label": x["label"], "target_label": target}

    return augment


def locate(root: str, split: str, domains: Optional[list]) -> tuple:
    """``(base, csv_path, None)`` when the split folder has an attributes.csv, else ``(base, None, domain_names)``."""
    base = files.split_dir(root, split)
    csv_path = files.join(base, files.ATTRIBUTES_FILE)
    if files.is_file(csv_path):
        return base, csv_path, None
    subs = files.subdirs(base)
    names = list(domains) if domains is not None else subs
    if len(names) < 2:
        raise DataError(base, f"multi-domain data needs at least two domain folders (or {files.ATTRIBUTES_FILE}); "
                        f"found {subs}", code="no_domains")
    for name in names:
        if not files.is_dir(files.join(base, name)):
            raise DataError(files.join(base, name), f"domain folder not found (named in data.domains); subfolders "
                            f"there: {subs}", code="folder_not_found")
    return base, None, names


class MultiDomainReader:
    def folder(self, root: str, cfg: Any, split: str, embedded: Optional[str] = None) -> streams.Plan:
        base, csv_path, domains = locate(root, split, cfg.domains)
        if csv_path is not None:
            paths, labels, _ = files.read_attributes_csv(csv_path, base, cfg.domains)
            mode = ingestion.ATTRIBUTES
        else:
            paths, rows = [], []
            for index, name in enumerate(domains):
                found = files.list_images(files.join(base, name))
                paths += found
                rows += [index] * len(found)
            labels = np.eye(len(domains), dtype=np.float32)[rows]
            mode = ingestion.ONEHOT
        files.inspected(paths, cfg, cfg.crop_size)
        return streams.Plan([sources.image_table_stream(paths, cfg, base, labels)], label_augmenter(cfg, mode))

    def records(self, source: sources.RecordSource, cfg: Any) -> streams.Plan:
        first = source.parse_first("multi_domain")
        depth = int(first[schema.LABEL].shape[0])
        if cfg.domains is not None and len(cfg.domains) != depth:
            raise DataError(source.spec, f"records have {depth} labels but data.domains names {len(cfg.domains)}",
                            code="label_count_mismatch")
        mode = first[schema.LABEL_MODE].numpy().decode("utf-8")
        if not mode:
            # Records written before the label mode travelled with them: decided once, from the first record.
            mode = ingestion.ONEHOT if float(tf.reduce_sum(first[schema.LABEL])) == 1.0 else ingestion.ATTRIBUTES
        if mode not in LABEL_MODES:
            raise DataError(source.spec, f"records carry label_mode {mode!r}; expected one of {list(LABEL_MODES)}",
                            code="bad_label_mode")
        decode = sources.decoder(cfg)

        def load(r):
            x = schema.parse_example(r, "multi_domain")
            label = tf.ensure_shape(tf.cast(x[schema.LABEL], tf.float32), [depth])
            return {"image": decode(x[schema.IMAGE]), "label": label}

        return streams.Plan([source.stream(load)], label_augmenter(cfg, mode))

    def tfds(self, source: sources.TfdsSource, cfg: Any, split: str) -> streams.Plan:
        split_name = source.split_for(split)
        key = source.image_key()
        features = source.features
        if "label" in features and isinstance(features["label"], source.tfds.features.ClassLabel):
            names = features["label"].names
            chosen = list(cfg.domains) if cfg.domains is not None else names
            unknown = [c for c in chosen if c not in names]
            if unknown:
                raise DataError(source.spec, f"unknown classes {unknown} in data.domains; classes: {names}",
                                code="unknown_domain")
            remap = np.full([len(names)], -1, np.int64)
            for i, c in enumerate(chosen):
                remap[names.index(c)] = i
            remap_t = tf.constant(remap)
            keep = (lambda x: tf.gather(remap_t, x["label"]) >= 0) if len(chosen) < len(names) else None
            load = lambda x: {  # noqa: E731
                "image": source.to_float(x[key]),
                "label": tf.one_hot(tf.gather(remap_t, x["label"]), len(chosen), dtype=tf.float32),
            }
            return streams.Plan([source.stream(split_name, load, keep)], label_augmenter(cfg, ingestion.ONEHOT))
        if "attributes" in features:
            if not cfg.domains:
                raise DataError(source.spec, f"set data.domains to the attributes to use; available: "
                                f"{sorted(features['attributes'].keys())}", code="bad_domains")
            attrs = list(cfg.domains)
            load = lambda x: {  # noqa: E731
                "image": source.to_float(x[key]),
                "label": tf.stack([tf.cast(x["attributes"][a], tf.float32) for a in attrs]),
            }
            return streams.Plan([source.stream(split_name, load)], label_augmenter(cfg, ingestion.ATTRIBUTES))
        raise DataError(source.spec, "multi-domain TFDS data needs a ClassLabel `label` or an `attributes` feature",
                        code="no_labels")

    def combine(self, parts: list) -> tf.data.Dataset:
        return parts[0]


def ingestion_sources(root: str, split: str, *, layout: str = "auto", domains: Optional[list] = None) -> dict:
    """``{"layout": "attributes", "folder", "csv"}`` or ``{"layout": "domains", "domains": [(name, folder), ...]}``
    (one per domain, in label order) for one split."""
    base, csv_path, names = locate(root, split, domains)
    if csv_path is not None:
        return {"layout": "attributes", "folder": base, "csv": csv_path}
    return {"layout": "domains", "domains": [(name, files.join(base, name)) for name in names]}


def synthetic_batches(size=32, channels=3, batch=2, count=4, seed=0, domains=3, **_):
    """Images with random one-hot labels and targets."""
    rng = np.random.default_rng(seed)
    n = batch * count
    eye = np.eye(domains, dtype="float32")
    data = {"image": kinds.smooth_images(rng, n, size, channels), "label": eye[rng.integers(0, domains, n)],
            "target_label": eye[rng.integers(0, domains, n)]}
    return kinds.batched(data, batch)


def _evaluator() -> type:
    from i2i_keras.evaluation.distribution import MultiDomainEvaluator

    return MultiDomainEvaluator


KIND = kinds.register_kind(kinds.DataKind(
    name="multi_domain",
    description="images labelled with one of several domains or with several attributes",
    batch_keys=("image", "label", "target_label"),
    record_keys=(schema.IMAGE, schema.LABEL),
    default_data="embedded:fashion_mnist",
    reader=MultiDomainReader(),
    ingestion=kinds.Ingestion(ingestion_sources),
    metrics={"fd_vgg16": -1, "kid_vgg16": -1, "fid": -1, "kid": -1, "domain_accuracy": 1},
    default_thresholds={"domain_accuracy": {"max_regression": 0.2}},
    evaluator_factory=_evaluator,
    synthetic_batches=synthetic_batches,
    label_modes=LABEL_MODES,
))
