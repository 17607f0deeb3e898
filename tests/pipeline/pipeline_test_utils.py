"""Tiny real image folders for the pipeline tests, cut from the library's embedded data (no download, no noise).

- paired: gray2color AB tiles (left = luminance, right = colour), resized to 32x64 (two 32x32 halves);
- unpaired: domain A = luminance halves, domain B = colour halves of *other* tiles, 32x32;
- multi-domain: Fashion-MNIST classes, one folder per class, resized to 32x32.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import embedded_path
from i2i_keras.data import encode_png

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 32


def _resize(image: tf.Tensor) -> np.ndarray:
    return tf.cast(tf.round(tf.image.resize(image, [SIZE, SIZE], antialias=True)), tf.uint8).numpy()


def ab_tiles(n: int) -> list:
    """n (name, 32x64 AB image) pairs from the embedded gray2color set."""
    folder = os.path.join(embedded_path("gray2color"), "train")
    names = sorted(os.listdir(folder))
    # Every third tile: several source photos, not n crops of the first one.
    tiles = []
    for name in names[::3][:n]:
        ab = tf.io.decode_png(tf.io.read_file(os.path.join(folder, name)), channels=3)
        half = ab.shape[1] // 2
        # Each half resized on its own: resizing the AB image whole would blend the halves along the seam.
        halves = [_resize(ab[:, :half]), _resize(ab[:, half:])]
        tiles.append((os.path.splitext(name)[0], np.concatenate(halves, axis=1)))
    return tiles


def write_png(path: str, pixels: np.ndarray) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(encode_png(pixels))
    return path


def make_paired_ab(root: str, n: int = 10) -> str:
    """`root/<name>.png`: n AB images, 32x64."""
    for name, ab in ab_tiles(n):
        write_png(os.path.join(root, f"{name}.png"), ab)
    return root


def make_paired_folders(root: str, n: int = 10) -> str:
    """`root/A/<name>.png` (luminance) and `root/B/<name>.png` (colour), 32x32 each."""
    for name, ab in ab_tiles(n):
        write_png(os.path.join(root, "A", f"{name}.png"), ab[:, :SIZE])
        write_png(os.path.join(root, "B", f"{name}.png"), ab[:, SIZE:])
    return root


def make_unpaired(root: str, n: int = 8, names: tuple = ("trainA", "trainB")) -> str:
    """`root/trainA/*.png` (luminance halves) and `root/trainB/*.png` (colour halves of other tiles), 32x32."""
    tiles = ab_tiles(2 * n)
    for i, (name, ab) in enumerate(tiles):
        if i % 2 == 0:
            write_png(os.path.join(root, names[0], f"{name}.png"), ab[:, :SIZE])
        else:
            write_png(os.path.join(root, names[1], f"{name}.png"), ab[:, SIZE:])
    return root


def make_multi_domain(root: str, n: int = 6, classes: tuple = ("bag", "sneaker", "trouser")) -> str:
    """`root/<class>/*.png`: n Fashion-MNIST images per class, 32x32 gray."""
    for name in classes:
        folder = os.path.join(embedded_path("fashion_mnist"), "train", name)
        for file in sorted(os.listdir(folder))[:n]:
            image = tf.io.decode_png(tf.io.read_file(os.path.join(folder, file)), channels=1)
            write_png(os.path.join(root, name, file), _resize(image))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(extra: Optional[dict] = None) -> dict:
    """The test process's environment for a child Python: the repository importable, TensorFlow quiet, and no
    TF_CONFIG leaking in from outside."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra or {})
    return env


def run_python(args: list, timeout: float, cwd: str = REPO_ROOT, env: Optional[dict] = None,
               ) -> subprocess.CompletedProcess:
    """Runs `python ARGS` with this interpreter; output captured as text."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=subprocess_env(env), capture_output=True, text=True,
                          timeout=timeout)


def write_split(examples_uri: str, split: str, serialized: list) -> str:
    """Writes serialized examples as `<examples_uri>/Split-<split>/data-00000-of-00001.tfrecord.gz`."""
    path = os.path.join(examples_uri, f"Split-{split}", "data-00000-of-00001.tfrecord.gz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for record in serialized:
            writer.write(record)
    return path


def export_toy(path: str, data_kind: str, transform, channels: int = 3, extra: Optional[tf.TensorSpec] = None,
               mode: str = "translate") -> str:
    """A SavedModel with the export layout of `i2i_keras.export` (a `<mode>_bytes` signature, serving_default and
    the metadata asset) around `transform(uint8 image [H,W,C]) -> uint8 image` (`transform(image, extra_row)` when
    the signature takes an `extra` input). For testing the evaluator with known outputs."""
    import json

    class Toy(tf.Module):
        pass

    toy = Toy()
    images_spec = tf.TensorSpec([None], tf.string, name="images")

    def encode_all(images, rows):
        def one(elems):
            image = tf.io.decode_png(elems[0], channels=channels)
            out = transform(image, elems[1]) if extra is not None else transform(image)
            return tf.io.encode_png(out)

        return {"images": tf.map_fn(one, (images, rows), fn_output_signature=tf.TensorSpec([], tf.string))}

    if extra is None:
        toy.serve = tf.function(lambda images: encode_all(images, tf.zeros_like(images)),
                                input_signature=[images_spec])
    else:
        toy.serve = tf.function(encode_all, input_signature=[images_spec, extra])
    tf.saved_model.save(toy, path, signatures={f"{mode}_bytes": toy.serve, "serving_default": toy.serve})
    os.makedirs(os.path.join(path, "assets.extra"), exist_ok=True)
    metadata = {"method": "toy", "data_kind": data_kind, "modes": [mode], "in_channels": channels,
                "out_channels": channels}
    with open(os.path.join(path, "assets.extra", "i2i_metadata.json"), "w") as f:
        json.dump(metadata, f)
    return path
