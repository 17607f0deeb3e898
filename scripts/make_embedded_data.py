"""Builds the small embedded data sets shipped in ``i2i_keras/data/embedded/`` (a development-time tool).

    python scripts/make_embedded_data.py [--out i2i_keras/data/embedded]

Needs scikit-image (its bundled CC0 / public-domain photos) and Debian's ``dataset-fashion-mnist`` package
(IDX files under /usr/share/datasets/fashion-mnist/). The output is deterministic: fixed random generators,
sorted inputs, and PNG encoding by TensorFlow. Library users never run this; the files are committed.

Sets:
- gray2color/{train,test}/*.png: 64x128 AB images, left = grayscale (BT.601 luma, 3 channels), right = colour.
- fashion_mnist/{train,test}/<class>/*.png: 28x28 grayscale Fashion-MNIST images of 5 classes.
- photos/{train,test}/*.png: 128x128 colour photos (for single-image and super-resolution kinds).

Train and test never share pixels: every source photo is resized, then split at a column into a left train
region and a right test region separated by a gap; train crops come only from the left, test crops only from
the right.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import struct

import numpy as np

# Source photos from scikit-image: all CC0, public domain or "no known copyright restrictions" (see README).
PHOTO_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_LICENSE = "/usr/share/doc/dataset-fashion-mnist/copyright"
# Fashion-MNIST label ids -> folder names of the classes kept.
FASHION_CLASSES = {0: "t_shirt", 1: "trouser", 7: "sneaker", 8: "bag", 9: "ankle_boot"}
FASHION_TRAIN_PER_CLASS = 120
FASHION_TEST_PER_CLASS = 24

TILE = 64
GRAY2COLOR_SHORT_SIDE = 224
GRAY2COLOR_TEST_WIDTH = 72
GRAY2COLOR_TRAIN = 160
GRAY2COLOR_TEST = 32

PHOTO = 128
PHOTOS_SHORT_SIDE = 288
PHOTOS_TEST_WIDTH = 144
GAP = 8
# Crops darker or flatter than this (std of luma in [0, 1]) are redrawn: retina and Hubble have large black areas.
MIN_STD = 0.05
LUMA = np.array([0.299, 0.587, 0.114])


def _encode_png(image: np.ndarray) -> bytes:
    import tensorflow as tf

    return tf.io.encode_png(image, compression=9).numpy()


def _write_png(path: str, image: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(_encode_png(image))


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from skimage.transform import resize

    out = resize(image.astype(np.float64) / 255.0, (height, width), order=3, anti_aliasing=True, mode="reflect")
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def _short_side(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = size / min(h, w)
    return _resize(image, max(size, round(h * scale)), max(size, round(w * scale)))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.round(rgb.astype(np.float64) @ LUMA), 0, 255).astype(np.uint8)


def _load_photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"{name}: expected an RGB uint8 photo, got {image.shape} {image.dtype}")
    return image


def _regions(width: int, test_width: int) -> tuple:
    """Column ranges [start, stop) of the train and test regions (test on the right, GAP columns between)."""
    return (0, width - test_width - GAP), (width - test_width, width)


def _random_crop(rng, image, columns, size):
    """A size x size crop inside `columns`, redrawn while it is too flat (dark background)."""
    h = image.shape[0]
    lo, hi = columns
    if hi - lo < size or h < size:
        raise ValueError(f"region {columns} of an image {image.shape} cannot hold a {size} crop")
    for _ in range(200):
        top = int(rng.integers(0, h - size + 1))
        left = int(rng.integers(lo, hi - size + 1))
        crop = image[top : top + size, left : left + size]
        if (_luma(crop) / 255.0).std() >= MIN_STD:
            return crop
    raise ValueError("no textured crop found")


def _spread(total: int, parts: int) -> list:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def make_gray2color(out: str) -> None:
    train_counts = _spread(GRAY2COLOR_TRAIN, len(PHOTO_SOURCES))
    test_counts = _spread(GRAY2COLOR_TEST, len(PHOTO_SOURCES))
    for index, name in enumerate(PHOTO_SOURCES):
        image = _short_side(_load_photo(name), GRAY2COLOR_SHORT_SIDE)
        train_cols, test_cols = _regions(image.shape[1], GRAY2COLOR_TEST_WIDTH)
        rng = np.random.default_rng(1000 + index)
        plan = (("train", train_cols, train_counts[index]), ("test", test_cols, test_counts[index]))
        for split, columns, count in plan:
            for k in range(count):
                color = _random_crop(rng, image, columns, TILE)
                gray = np.repeat(_luma(color)[..., None], 3, axis=2)
                path = os.path.join(out, "gray2color", split, f"{name}_{k:02d}.png")
                _write_png(path, np.concatenate([gray, color], axis=1))


def make_photos(out: str) -> None:
    for index, name in enumerate(PHOTO_SOURCES):
        image = _short_side(_load_photo(name), PHOTOS_SHORT_SIDE)
        train_cols, test_cols = _regions(image.shape[1], PHOTOS_TEST_WIDTH)
        rng = np.random.default_rng(2000 + index)
        # Wide photos (coffee, chelsea, rocket) have room for a third training crop.
        n_train = 3 if image.shape[1] >= 1.3 * image.shape[0] else 2
        for split, columns, count in (("train", train_cols, n_train), ("test", test_cols, 1)):
            for k in range(count):
                size = int(rng.integers(PHOTO, min(columns[1] - columns[0], image.shape[0], 192) + 1))
                crop = _random_crop(rng, image, columns, size)
                _write_png(os.path.join(out, "photos", split, f"{name}_{k}.png"), _resize(crop, PHOTO, PHOTO))


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count = struct.unpack(">II", raw[:8])
    if magic == 2049:
        return np.frombuffer(raw, np.uint8, count=count, offset=8)
    if magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, np.uint8, count=count * rows * cols, offset=16).reshape(count, rows, cols)
    raise ValueError(f"{path}: not an IDX file (magic {magic})")


def make_fashion_mnist(out: str) -> None:
    plan = (("train", "train", FASHION_TRAIN_PER_CLASS), ("test", "t10k", FASHION_TEST_PER_CLASS))
    for split, prefix, per_class in plan:
        images = _read_idx(os.path.join(FASHION_DIR, f"{prefix}-images-idx3-ubyte.gz"))
        labels = _read_idx(os.path.join(FASHION_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
        for label, folder in FASHION_CLASSES.items():
            # The first `per_class` images of the class, in file order; names keep the original index.
            for index in np.flatnonzero(labels == label)[:per_class]:
                path = os.path.join(out, "fashion_mnist", split, folder, f"{index:05d}.png")
                _write_png(path, images[index][..., None])
    shutil.copyfile(FASHION_LICENSE, os.path.join(out, "fashion_mnist", "LICENSE"))


def main() -> None:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    default_out = os.path.join(repo, "i2i_keras", "data", "embedded")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=default_out, help="output folder (its gray2color/, fashion_mnist/, photos/ "
                        "are replaced)")
    args = parser.parse_args()
    for name in ("gray2color", "fashion_mnist", "photos"):
        shutil.rmtree(os.path.join(args.out, name), ignore_errors=True)
    make_gray2color(args.out)
    make_photos(args.out)
    make_fashion_mnist(args.out)
    total = count = 0
    for parent, _, files in os.walk(args.out):
        for f in files:
            count += 1
            total += os.path.getsize(os.path.join(parent, f))
    print(f"Wrote {count} files, {total / 1e6:.2f} MB under {args.out}")


if __name__ == "__main__":
    main()
