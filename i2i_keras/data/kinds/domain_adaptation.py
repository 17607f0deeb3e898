"""The ``domain_adaptation`` data kind: a labelled source domain and an unlabelled target domain (DANN, PixelDA).

Training batch: ``{"source": [B,H,W,C], "source_label": [B,K] one-hot, "target": [B,H,W,C]}``: two independently
shuffled streams zipped, as unpaired data. The target stream never carries a label: its table holds file paths
only (folders) or parses the image alone (records), so no target label can reach a training step, even when the
target folder is sorted into class folders.

Folders (split folders as everywhere; ``data.domains`` names the classes in label order, default: the source's
class folders, sorted)::

    train/source/<class>/*.png     labelled source
    train/target/**/*.png          target images (labels, if any, are ignored)
    test/source/<class>/*.png      labelled source (evaluation)
    test/target/<class>/*.png      labelled target: the evaluation split (never read for training)

Evaluation batches (splits other than train) add ``"target_label"`` when the target split is sorted into the
classes' folders, so the training loop's evaluation and `i2i_keras.evaluation.classification` report target
accuracy. TFRecords (ingestion's ``source_target`` layout) carry ``domain`` 0 (source, with ``label``) or 1
(target; the label of an eval-split target record is kept for evaluation and dropped by this reader).
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

SOURCE_DIR = "source"
TARGET_DIR = "target"
TRAIN_SPLIT = "train"


def augmenter(cfg: Any):
    """Preprocesses each stream's image; labels pass through unchanged."""

    def augment(x, seed, training):
        out = {"image": transforms.preprocess(x["image"], cfg, seed, training)}
        if "label" in x:
            out["label"] = x["label"]
        return out

    return augment


def locate(root: str, split: str, classes: Optional[list]) -> dict:
    """The folders of one split: ``{"source": dir, "target": dir, "classes": [names], "target_labelled": bool}``.

    Raises DataError when the split has no source/ or target/ folder, fewer than two classes, a class named in
    ``data.domains`` is missing, or a labelled target split has classes the source does not have.
    """
    base = files.split_dir(root, split)
    found = files.subdirs(base)
    for name in (SOURCE_DIR, TARGET_DIR):
        if name not in found:
            raise DataError(base, f"domain-adaptation data needs {SOURCE_DIR}/ (a folder per class) and "
                            f"{TARGET_DIR}/ folders; found {found}", code="no_domains")
    source, target = files.join(base, SOURCE_DIR), files.join(base, TARGET_DIR)
    source_classes = files.subdirs(source)
    names = list(classes) if classes is not None else source_classes
    if len(names) < 2:
        raise DataError(source, f"the labelled source needs a folder per class (at least two); found "
                        f"{source_classes}", code="no_classes")
    missing = [n for n in names if n not in source_classes]
    if missing:
        raise DataError(files.join(source, missing[0]), f"class folder not found (named in data.domains); class "
                        f"folders there: {source_classes}", code="folder_not_found")
    target_classes = files.subdirs(target)
    # Classes left out by data.domains are left out of the target too; a class the source lacks is an error.
    unknown = [n for n in target_classes if n not in source_classes]
    if unknown:
        raise DataError(files.join(target, unknown[0]), f"target class folder {unknown[0]!r} is not one of the "
                        f"source's classes {source_classes}", code="unknown_class")
    return {"source": source, "target": target, "classes": names, "target_labelled": bool(target_classes)}


def labelled_images(folder: str, classes: list) -> tuple:
    """(paths, one-hot labels float32 [N, K]) of a folder per class, in class order."""
    paths, rows = [], []
    for index, name in enumerate(classes):
        class_dir = files.join(folder, name)
        if not files.is_dir(class_dir):
            continue
        found = files.list_images(class_dir)
        paths += found
        rows += [index] * len(found)
    if not paths:
        raise DataError(folder, f"no images in the class folders {classes}", code="no_images")
    return paths, np.eye(len(classes), dtype=np.float32)[rows]


class DomainAdaptationReader:
    def folder(self, root: str, cfg: Any, split: str, embedded: Optional[str] = None) -> streams.Plan:
        where = locate(root, split, cfg.domains)
        source_paths, source_labels = labelled_images(where["source"], where["classes"])
        files.inspected(source_paths, cfg, cfg.crop_size)
        parts = [sources.image_table_stream(source_paths, cfg, where["source"], source_labels)]
        if split != TRAIN_SPLIT and where["target_labelled"]:
            target_paths, target_labels = labelled_images(where["target"], where["classes"])
            files.inspected(target_paths, cfg, cfg.crop_size)
            parts.append(sources.image_table_stream(target_paths, cfg, where["target"], target_labels))
        else:
            # Paths only: the stream has no label column, whatever folders the images sit in.
            target_paths = files.list_images(where["target"])
            files.inspected(target_paths, cfg, cfg.crop_size)
            parts.append(sources.image_table_stream(target_paths, cfg, where["target"]))
        return streams.Plan(parts, augmenter(cfg))

    def records(self, source: sources.RecordSource, cfg: Any) -> streams.Plan:
        decode = sources.decoder(cfg)
        first = source.parse_first("domain_adaptation", lambda r: tf.equal(schema.parse_domain(r), 0))
        depth = int(first[schema.LABEL].shape[0])
        if depth < 2:
            raise DataError(source.spec, f"source records (domain 0) need a one-hot label of at least two classes; "
                            f"the first has {depth} entries", code="no_labels")
        if cfg.domains is not None and len(cfg.domains) != depth:
            raise DataError(source.spec, f"records have {depth} classes but data.domains names {len(cfg.domains)}",
                            code="label_count_mismatch")
        if source.first_record(lambda r: tf.equal(schema.parse_domain(r), 1)) is None:
            raise DataError(source.spec, f"no records with {schema.DOMAIN}=1 (domain adaptation needs target "
                            f"images)", code="missing_domain")

        def load_source(r):
            x = schema.parse_example(r, "domain_adaptation")
            label = tf.ensure_shape(tf.cast(x[schema.LABEL], tf.float32), [depth])
            return {"image": decode(x[schema.IMAGE]), "label": label}

        def load_target(r):
            # The image only: a target label in the records never enters the training stream.
            return {"image": decode(schema.parse_example(r, "domain_adaptation")[schema.IMAGE])}

        keep_source = lambda r: tf.equal(schema.parse_domain(r), 0)  # noqa: E731
        keep_target = lambda r: tf.equal(schema.parse_domain(r), 1)  # noqa: E731
        return streams.Plan([source.stream(load_source, keep_source, f"{source.spec}[source]"),
                             source.stream(load_target, keep_target, f"{source.spec}[target]")], augmenter(cfg))

    def tfds(self, source: sources.TfdsSource, cfg: Any, split: str) -> streams.Plan:
        raise DataError(source.spec, "domain-adaptation data needs a labelled source and a target data set; a "
                        "tfds: spec names one. Prepare a folder (train/source/<class>/, train/target/) or ingest "
                        "one to TFRecords", code="unsupported_source")

    def combine(self, parts: list) -> tf.data.Dataset:
        def join(a, b):
            out = {"source": a["image"], "source_label": a["label"], "target": b["image"]}
            if "label" in b:
                out["target_label"] = b["label"]
            return out

        return tf.data.Dataset.zip(tuple(parts)).map(tf.autograph.experimental.do_not_convert(join),
                                                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def ingestion_sources(root: str, split: str, *, layout: str = "auto", domains: Optional[list] = None) -> dict:
    """``{"layout": "source_target", "classes": [(name, folder)], "target": folder}``. Ingestion writes a target
    image's class (its class folder) into eval examples only."""
    where = locate(root, split, domains)
    return {"layout": "source_target", "classes": [(n, files.join(where["source"], n)) for n in where["classes"]],
            "target": where["target"]}


def synthetic_batches(size=32, channels=3, batch=2, count=4, seed=0, domains=3, **_):
    """Source images whose brightness follows the class, and the same classes' images inverted as the target."""
    rng = np.random.default_rng(seed)
    n = batch * count
    labels = rng.integers(0, domains, n)
    level = (labels / max(domains - 1, 1) * 1.6 - 0.8).astype("float32")[:, None, None, None]
    source = np.clip(kinds.smooth_images(rng, n, size, channels) * 0.2 + level, -1, 1)
    data = {"source": source, "source_label": np.eye(domains, dtype="float32")[labels],
            "target": -np.roll(source, 1, axis=0)}
    return kinds.batched(data, batch)


def _evaluator() -> type:
    from i2i_keras.evaluation.classification import ClassificationEvaluator

    return ClassificationEvaluator


KIND = kinds.register_kind(kinds.DataKind(
    name="domain_adaptation",
    description="a labelled source domain and an unlabelled target domain (labelled target split for evaluation)",
    batch_keys=("source", "source_label", "target"),
    record_keys=(schema.IMAGE, schema.DOMAIN, schema.LABEL),
    default_data="embedded:mnist_m_like",
    reader=DomainAdaptationReader(),
    ingestion=kinds.Ingestion(ingestion_sources, every_group_in_every_split=True),
    metrics={"target_accuracy": 1, "source_accuracy": 1, "source_only_target_accuracy": 1,
             "adaptation_gain": 1},
    default_thresholds={"target_accuracy": {"max_regression": 0.05}},
    evaluator_factory=_evaluator,
    synthetic_batches=synthetic_batches,
))
