"""Toy exports (the layout of `i2i_keras.export`: ``<mode>_bytes`` signatures, serving_default, the metadata asset)
around plain TensorFlow functions with known outputs, and eval-split writers, for the evaluation tests."""

from __future__ import annotations

import json
import os
from typing import Callable, Optional

import numpy as np
import tensorflow as tf


def smooth_images(n: int, size: int = 32, channels: int = 3, seed: int = 0, width: Optional[int] = None) -> list:
    """n smooth random uint8 images (a resized coarse noise field each), distinct from one another."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        coarse = rng.uniform(0, 255, (4, 4, channels)).astype(np.float32)
        out.append(tf.cast(tf.image.resize(coarse[None], [size, width or size])[0], tf.uint8).numpy())
    return out


def write_split(examples_uri: str, serialized: list, split: str = "eval") -> str:
    path = os.path.join(examples_uri, f"Split-{split}", "data-00000-of-00001.tfrecord.gz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for record in serialized:
            writer.write(record)
    return examples_uri


def export_toy(path: str, data_kind: str, transform: Callable, channels: int = 3,
               extra: Optional[tf.TensorSpec] = None, mode: str = "translate", metadata: Optional[dict] = None,
               more_modes: Optional[dict] = None) -> str:
    """An export whose mode `mode` maps each decoded uint8 image [H, W, C] through `transform(image)` (or
    `transform(image, extra_row)` with an `extra` input) and PNG-encodes the result. `more_modes`: name ->
    (transform, extra spec or None) for further modes after the first. `metadata` updates the metadata asset."""

    class Toy(tf.Module):
        pass

    toy = Toy()
    images_spec = tf.TensorSpec([None], tf.string, name="images")

    def endpoint(fn, spec):
        def encode_all(images, rows):
            def one(elems):
                image = tf.io.decode_png(elems[0], channels=channels)
                out = fn(image, elems[1]) if spec is not None else fn(image)
                return tf.io.encode_png(out)

            return {"images": tf.map_fn(one, (images, rows), fn_output_signature=tf.TensorSpec([], tf.string))}

        if spec is None:
            return tf.function(lambda images: encode_all(images, tf.zeros_like(images)), input_signature=[images_spec])
        return tf.function(encode_all, input_signature=[images_spec, spec])

    signatures = {}
    toy.first = endpoint(transform, extra)
    signatures[f"{mode}_bytes"] = toy.first
    signatures["serving_default"] = toy.first
    modes = [mode]
    for i, (name, (fn, spec)) in enumerate((more_modes or {}).items()):
        setattr(toy, f"mode{i}", endpoint(fn, spec))
        signatures[f"{name}_bytes"] = getattr(toy, f"mode{i}")
        modes.append(name)
    tf.saved_model.save(toy, path, signatures=signatures)
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    meta = {"method": "toy", "data_kind": data_kind, "modes": modes, "in_channels": channels,
            "out_channels": channels}
    meta.update(metadata or {})
    with open(os.path.join(path, "assets.extra", "i2i_metadata.json"), "w") as f:
        json.dump(meta, f)
    return path
