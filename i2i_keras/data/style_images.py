"""Single images named by a spec, for style transfer: the style image(s) of `nst`, `fast_style` and `adain`, and
the content image of `nst` and the stylize CLI.

A spec is a file path (any `tf.io.gfile` file system), a folder (every image in it, for a set of styles),
``embedded:NAME`` for an embedded style image (`i2i_keras/data/embedded/styles/NAME.*`: ``starry_night``,
``brick``, ``grass``, ``gravel``), ``embedded:styles`` for all of them, or ``embedded:SET/PATH`` for one file of an
embedded data set (e.g. ``embedded:photos/test/astronaut_0.png``).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import files
from i2i_keras.data.sources import EMBEDDED_DIR
from i2i_keras.data.transforms import decode_image
from i2i_keras.errors import DataError

STYLES_DIR = os.path.join(EMBEDDED_DIR, "styles")


def embedded_styles() -> list:
    """Names of the embedded style images (``embedded:NAME``)."""
    return sorted(_stem(path) for path in files.list_images(STYLES_DIR))


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def resolve(spec: str) -> list:
    """The image files a spec names (one for a file or an embedded style, all images of a folder)."""
    if not isinstance(spec, str) or not spec:
        raise DataError(repr(spec), "an image spec must be a non-empty string (a file, a folder or embedded:NAME)",
                        code="bad_spec")
    if spec.startswith("embedded:"):
        name = spec[len("embedded:"):]
        if name == "styles":
            return files.list_images(STYLES_DIR)
        named = [path for path in files.list_images(STYLES_DIR) if _stem(path) == name]
        if named:
            return named
        path = os.path.join(EMBEDDED_DIR, *name.split("/"))
        if "/" in name and ".." not in name.split("/") and tf.io.gfile.exists(path) and not files.is_dir(path):
            return [path]
        raise DataError(spec, f"no such embedded image; embedded styles: {embedded_styles()} (or embedded:styles, "
                              f"or embedded:SET/PATH to one file of an embedded data set)", code="unknown_embedded")
    if files.is_dir(spec):
        return files.list_images(spec)
    if not tf.io.gfile.exists(spec):
        raise DataError(spec, "no such image file or folder", code="file_not_found")
    return [spec]


def load_image(path: str, max_dim: Optional[int] = None, channels: int = 3) -> np.ndarray:
    """One image file -> float32 [H, W, channels] in [-1, 1], resized (bicubic, antialiased) so that its longer
    side is `max_dim` when given (the aspect ratio is kept; the TF style-transfer tutorial's `max_dim`)."""
    try:
        data = tf.io.gfile.GFile(path, "rb").read()
        image = decode_image(data, channels=channels)
    except (tf.errors.OpError, OSError) as e:
        raise DataError(path, f"cannot be read as an image ({type(e).__name__})", code="corrupt") from None
    if max_dim is not None:
        height, width = image.shape[0], image.shape[1]
        scale = int(max_dim) / max(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        image = tf.clip_by_value(tf.image.resize(image, size, method="bicubic", antialias=True), -1.0, 1.0)
    return image.numpy().astype("float32")


def load(spec: str, max_dim: Optional[int] = None, channels: int = 3) -> np.ndarray:
    """The first (for a file: the only) image a spec names, as `load_image`."""
    return load_image(resolve(spec)[0], max_dim, channels)


def load_square_stack(spec: str, size: int, channels: int = 3) -> np.ndarray:
    """Every image a spec names, each resized so its shorter side is `size` and centre-cropped to size x size:
    float32 [N, size, size, channels] in [-1, 1] (a style set held by a model)."""
    out = []
    for path in resolve(spec):
        image = load_image(path, None, channels)
        height, width = image.shape[:2]
        scale = size / min(height, width)
        resized = tf.image.resize(image, (max(size, round(height * scale)), max(size, round(width * scale))),
                                  method="bicubic", antialias=True)
        top = (resized.shape[0] - size) // 2
        left = (resized.shape[1] - size) // 2
        out.append(tf.clip_by_value(resized[top:top + size, left:left + size], -1.0, 1.0).numpy())
    return np.stack(out).astype("float32")
