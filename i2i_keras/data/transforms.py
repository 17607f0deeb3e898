"""Image decoding, value scaling and paper-style augmentation, in TensorFlow ops only.

Everything here works eagerly, inside ``tf.data`` maps and inside a SavedModel serving function. Random choices
use ``tf.random.stateless_*`` ops driven by an explicit ``seed`` (an int32/int64 tensor of shape [2]): the same
seed always gives the same crop and flip, which is what makes the input pipeline deterministic and resumable.

Augmentation follows pix2pix / CycleGAN (Isola et al. 2017, Zhu et al. 2017, https://arxiv.org/abs/1611.07004):
resize to ``load_size`` (286), random ``crop_size`` (256) crop, random horizontal flip; paired data gets the
same crop and flip on both sides.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# ITU-R BT.601 luma weights, the ones tf.image.rgb_to_grayscale uses.
_LUMA = (0.299, 0.587, 0.114)
_PREPROCESS_MODES = ("resize_and_crop", "crop", "resize", "none")
_TARGET_LABEL_MODES = ("onehot", "attributes", "auto")


# ----------------------------------------------------------------------------------------------- decoding


def _gray_to(x: tf.Tensor, channels: int) -> tf.Tensor:
    return tf.tile(x, [1, 1, 3]) if channels == 3 else x


def _rgb_to(x: tf.Tensor, channels: int) -> tf.Tensor:
    if channels == 3:
        return x
    gray = tf.tensordot(x, tf.constant(_LUMA, tf.float32), axes=[[2], [0]])[..., None]
    return tf.clip_by_value(gray, 0.0, 1.0)


def _over_white(color: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    # Alpha is composited over white rather than dropped: the colour of fully transparent pixels is undefined
    # (often black or leftover data), and white is how viewers show such images (sketches, product photos).
    return color * alpha + (1.0 - alpha)


def _to_channels(x: tf.Tensor, channels: int) -> tf.Tensor:
    """[H, W, c] in [0, 1] with c in 1..4 (gray, gray+alpha, RGB, RGBA) -> [H, W, channels]."""
    num = tf.shape(x)[-1]
    check = tf.debugging.assert_less_equal(
        num, 4, message="decode_image: images must have 1 to 4 channels (gray, gray+alpha, RGB, RGBA)"
    )
    with tf.control_dependencies([check]):
        num = tf.identity(num)
    branches = [
        lambda: _gray_to(x[..., :1], channels),
        lambda: _gray_to(_over_white(x[..., :1], x[..., 1:2]), channels),
        lambda: _rgb_to(x[..., :3], channels),
        lambda: _rgb_to(_over_white(x[..., :3], x[..., 3:4]), channels),
    ]
    return tf.switch_case(num - 1, branches)


def decode_image(data: Any, channels: int = 3) -> tf.Tensor:
    """Decodes one encoded image (PNG 8/16-bit, JPEG, BMP, GIF first frame) to float32 [H, W, channels] in [-1, 1].

    Gray images are replicated to 3 channels when ``channels=3``; colour images become luminance (BT.601) when
    ``channels=1``; an alpha channel is composited over white. TIFF is not supported (TensorFlow has no decoder).
    """
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels!r}")
    data = tf.convert_to_tensor(data, tf.string)

    def png():
        # Decoding as uint16 keeps the full range of 16-bit PNGs; 8-bit PNGs are scaled by 257 by the decoder,
        # so one divisor serves both.
        return tf.cast(tf.io.decode_png(data, channels=0, dtype=tf.uint16), tf.float32) / 65535.0

    def other():
        image = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
        return tf.cast(image, tf.float32) / 255.0

    image = tf.cond(tf.equal(tf.strings.substr(data, 0, 8), _PNG_MAGIC), png, other)
    image = _to_channels(image, channels)
    image.set_shape([None, None, channels])
    return image * 2.0 - 1.0


def from_uint(image: Any, channels: int = 3) -> tf.Tensor:
    """An already decoded uint8 or uint16 image [H, W, c] (c in 1..4) -> float32 [H, W, channels] in [-1, 1],
    with the same channel handling as `decode_image`."""
    image = tf.convert_to_tensor(image)
    if image.dtype not in (tf.uint8, tf.uint16):
        raise ValueError(f"`image` must be uint8 or uint16. Received: image.dtype={image.dtype.name}")
    scale = 65535.0 if image.dtype == tf.uint16 else 255.0
    out = _to_channels(tf.cast(image, tf.float32) / scale, channels)
    out.set_shape([None, None, channels])
    return out * 2.0 - 1.0


def to_uint8(images: Any) -> tf.Tensor:
    """Maps float images in [-1, 1] to uint8 [0, 255] (rounded, clipped)."""
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


def to_uint16(images: Any) -> tf.Tensor:
    """Maps float images in [-1, 1] to uint16 [0, 65535] (rounded, clipped)."""
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 32767.5, 0.0, 65535.0)), tf.uint16)


def is_16bit_png(data: Any) -> tf.Tensor:
    """Whether encoded image bytes are a PNG of 16 bits per sample (the IHDR bit depth, byte 24)."""
    data = tf.convert_to_tensor(data, tf.string)
    is_png = tf.equal(tf.strings.substr(data, 0, 8), _PNG_MAGIC)
    return tf.logical_and(is_png, tf.equal(tf.strings.substr(data, 24, 1), b"\x10"))


# zlib level of the PNGs that are produced on a request or per example rather than kept (served outputs, ingested
# AB halves). Measured: 8 photos at 256 px encode in 45 ms at level 1 vs 308 ms at the default level 6 (16% larger);
# the embedded 128 px photos 1.15 vs 4.99 ms each (6% larger). Decoding speed does not depend on the level, and PNG
# is lossless at every level.
PNG_COMPRESSION = 1


def encode_png8(image: Any) -> tf.Tensor:
    """Encodes a float image [H, W, C] in [-1, 1] as an 8-bit PNG at zlib level `PNG_COMPRESSION`."""
    return tf.io.encode_png(to_uint8(image), compression=PNG_COMPRESSION)


def encode_png_like(image: Any, data: Any) -> tf.Tensor:
    """Encodes a float image [H, W, C] in [-1, 1] as a PNG of the bit depth of the encoded input `data`: 16-bit for
    a 16-bit PNG input, 8-bit for anything else (8-bit PNG, JPEG, BMP, GIF); zlib level `PNG_COMPRESSION`."""
    return tf.cond(is_16bit_png(data), lambda: tf.io.encode_png(to_uint16(image), compression=PNG_COMPRESSION),
                   lambda: encode_png8(image))


# ----------------------------------------------------------------------------------------------- geometry


def sub_seed(seed: tf.Tensor, *keys: Any) -> tf.Tensor:
    """Derives an independent stateless seed from `seed` and integer keys (fold-in, so order matters)."""
    seed = tf.convert_to_tensor(seed)
    for key in keys:
        seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(key, tf.int64))
    return seed


def resize(image: tf.Tensor, height: Any, width: Any) -> tf.Tensor:
    """Bicubic resize with antialiasing (for downscaling), clipped back to [-1, 1] (bicubic overshoots)."""
    out = tf.image.resize(image, tf.stack([height, width]), method="bicubic", antialias=True)
    return tf.clip_by_value(out, -1.0, 1.0)


def _crop(image: tf.Tensor, top: Any, left: Any, height: int, width: int) -> tf.Tensor:
    return image[top : top + height, left : left + width, :]


def _offsets(size: tf.Tensor, crop: int, seed: Any, training: bool) -> tf.Tensor:
    """Top-left offsets [2] of a crop x crop window inside an image of size [h, w]: random when training, centred
    otherwise."""
    check = tf.debugging.assert_greater_equal(
        size, crop, message=f"image is smaller than the crop size {crop} (set data.preprocess or data.crop_size)"
    )
    with tf.control_dependencies([check]):
        room = tf.identity(size) - crop
    if not training:
        return room // 2
    return tf.stack(
        [
            tf.random.stateless_uniform([], seed=sub_seed(seed, axis), minval=0, maxval=room[axis] + 1, dtype=tf.int32)
            for axis in (0, 1)
        ]
    )


def _flip_decision(seed: Any) -> tf.Tensor:
    return tf.random.stateless_uniform([], seed=seed) < 0.5


def _hw(image: tf.Tensor) -> tf.Tensor:
    return tf.shape(image)[:2]


def _check_mode(cfg: Any) -> None:
    if cfg.preprocess not in _PREPROCESS_MODES:
        raise ValueError(
            f"`data.preprocess` must be one of {list(_PREPROCESS_MODES)}. Received: data.preprocess={cfg.preprocess!r}"
        )


def preprocess(image: tf.Tensor, cfg: Any, seed: Any, training: bool) -> tf.Tensor:
    """Applies ``cfg.preprocess`` to one image [H, W, C] in [-1, 1].

    Training: "resize_and_crop" resizes to load_size x load_size and takes a random crop_size crop, "crop" takes a
    random crop_size crop, "resize" resizes to crop_size, "none" keeps the image; then a random horizontal flip if
    ``cfg.flip``. Evaluation (``training=False``, no randomness): the resize modes resize to crop_size, "crop"
    takes the centre crop, "none" keeps the image.
    """
    return preprocess_pair(image, None, cfg, seed, training)[0]


def preprocess_pair(
    source: tf.Tensor, target: Any, cfg: Any, seed: Any, training: bool, scale: int = 1
) -> tuple:
    """`preprocess` for a (source, target) pair: the same crop window and the same flip on both sides.

    With ``scale > 1`` (real super-resolution pairs) the target is ``scale`` times larger than the source:
    crop windows are aligned (target window = ``scale`` x source window, ``crop_size`` is the target size) and
    resize modes resize the source to ``1/scale`` of the target size. ``target`` may be None (single image).
    Returns ``(source, target)``.
    """
    _check_mode(cfg)
    if cfg.crop_size % scale:
        raise ValueError(
            f"`data.crop_size` must be divisible by `data.scale` for super-resolution. "
            f"Received: data.crop_size={cfg.crop_size}, data.scale={scale}"
        )
    seed = tf.convert_to_tensor(seed)
    mode = cfg.preprocess
    lr_crop = cfg.crop_size // scale
    lr_load = cfg.load_size // scale

    def fix(x, size):
        if x is not None and size is not None:
            x.set_shape([size, size, x.shape[-1]])
        return x

    src, tgt = source, target
    if mode == "resize_and_crop" and training:
        src = resize(src, lr_load, lr_load)
        tgt = None if tgt is None else resize(tgt, lr_load * scale, lr_load * scale)
        mode = "crop"
    elif mode == "resize" or (mode == "resize_and_crop" and not training):
        src = fix(resize(src, lr_crop, lr_crop), lr_crop)
        tgt = None if tgt is None else fix(resize(tgt, cfg.crop_size, cfg.crop_size), cfg.crop_size)
    if mode == "crop":
        top, left = tf.unstack(_offsets(_hw(src), lr_crop, sub_seed(seed, 1), training))
        src = fix(_crop(src, top, left, lr_crop, lr_crop), lr_crop)
        if tgt is not None:
            tgt = fix(_crop(tgt, top * scale, left * scale, cfg.crop_size, cfg.crop_size), cfg.crop_size)
    if training and cfg.flip:
        flip = _flip_decision(sub_seed(seed, 2))
        src = tf.cond(flip, lambda: tf.reverse(src, axis=[1]), lambda: src)
        if tgt is not None:
            tgt = tf.cond(flip, lambda: tf.reverse(tgt, axis=[1]), lambda: tgt)
    return src, tgt


# ----------------------------------------------------------------------------------------------- super-resolution


def crop_to_multiple(image: tf.Tensor, multiple: int) -> tf.Tensor:
    """Drops bottom rows / right columns so height and width are multiples of `multiple`."""
    hw = _hw(image)
    hw = hw - hw % multiple
    return image[: hw[0], : hw[1], :]


def _cubic(x: tf.Tensor) -> tf.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = tf.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = 1.5 * ax3 - 2.5 * ax2 + 1.0
    far = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    return tf.where(ax <= 1.0, near, tf.where(ax <= 2.0, far, tf.zeros_like(ax)))


def imresize_matrix(in_length: Any, out_length: Any, scale: float) -> tf.Tensor:
    """The [out_length, in_length] float32 matrix of MATLAB's ``imresize(..., scale, 'bicubic')`` along one axis.

    As MATLAB's ``contributions``: output pixel x (1-based) samples the input at u = x / scale + (1 - 1 / scale) / 2;
    when downscaling (scale < 1, antialiasing) the kernel is widened by 1 / scale (width 4 / scale, values scaled
    by scale); each row's weights are normalised to sum to 1; taps outside the image are mirrored (symmetric
    padding, the edge pixel repeated). Lengths may be tensors (images of any size in a graph).
    """
    scale = float(scale)
    width = 4.0 / scale if scale < 1 else 4.0
    taps = int(math.ceil(width)) + 2
    in_length = tf.cast(in_length, tf.int64)
    out_length = tf.cast(out_length, tf.int64)
    x = tf.range(1, out_length + 1, dtype=tf.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = tf.floor(u - width / 2.0)
    index = left[:, None] + tf.range(taps, dtype=tf.float64)[None, :]
    distance = u[:, None] - index
    weights = scale * _cubic(scale * distance) if scale < 1 else _cubic(distance)
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)
    period = 2 * in_length
    index = tf.math.floormod(tf.cast(index, tf.int64) - 1, period)
    index = tf.where(index < in_length, index, period - 1 - index)
    rows = tf.range(out_length, dtype=tf.int64)[:, None] * in_length
    segments = tf.reshape(rows + index, [-1])
    flat = tf.math.unsorted_segment_sum(tf.reshape(weights, [-1]), segments, out_length * in_length)
    return tf.cast(tf.reshape(flat, tf.stack([out_length, in_length])), tf.float32)


def imresize(images: Any, scale: float) -> tf.Tensor:
    """MATLAB-style bicubic resize by `scale` (``imresize(images, scale)``, antialiased when downscaling) of
    [H, W, C] or [B, H, W, C] images; the output is ``ceil(H * scale) x ceil(W * scale)`` as MATLAB's. Float32, not
    clipped (bicubic overshoots; callers clip). This is the degradation behind published super-resolution numbers
    (the EDSR / SRGAN / BasicSR data sets were made with MATLAB's imresize); TensorFlow's own bicubic resize uses the
    same kernel but renormalises the weights at the borders instead of mirroring, so it differs near the edges."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
        raise ValueError(f"`scale` must be a positive number. Received: scale={scale!r}")
    images = tf.cast(tf.convert_to_tensor(images), tf.float32)
    shape = tf.shape(images, out_type=tf.int64)
    height, width = shape[-3], shape[-2]

    def out_size(n):
        return tf.cast(tf.math.ceil(tf.cast(n, tf.float64) * float(scale) - 1e-9), tf.int64)

    rows = imresize_matrix(height, out_size(height), scale)
    cols = imresize_matrix(width, out_size(width), scale)
    out = tf.einsum("oh,...hwc->...owc", rows, images)
    return tf.einsum("pw,...owc->...opc", cols, out)


def degrade_for_sr(hr: tf.Tensor, scale: int) -> tf.Tensor:
    """Makes the low-resolution input: MATLAB-style antialiased bicubic downscale by 1 / `scale` (`imresize`, the
    convention of published super-resolution numbers), clipped to [-1, 1]; [H, W, C] or [B, H, W, C] whose height and
    width are multiples of `scale` (`crop_to_multiple`)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"`scale` must be a positive integer. Received: scale={scale!r}")
    if scale == 1:
        return tf.convert_to_tensor(hr, tf.float32)
    return tf.clip_by_value(imresize(hr, 1.0 / scale), -1.0, 1.0)


def upscale_bicubic(lr: tf.Tensor, scale: int) -> tf.Tensor:
    """The bicubic baseline of super-resolution: MATLAB-style bicubic upscaling by `scale`, clipped to [-1, 1]."""
    return tf.clip_by_value(imresize(lr, float(scale)), -1.0, 1.0)


def make_sr_pair(image: tf.Tensor, cfg: Any, seed: Any, training: bool) -> tuple:
    """One high-resolution image -> (low-res source, high-res target) with ``cfg.scale`` and ``cfg.preprocess``."""
    hr, _ = preprocess_pair(image, None, cfg, seed, training, scale=1)
    if cfg.preprocess == "none":
        hr = crop_to_multiple(hr, cfg.scale)
    lr = degrade_for_sr(hr, cfg.scale)
    if hr.shape[0] is not None:
        lr.set_shape([hr.shape[0] // cfg.scale, hr.shape[1] // cfg.scale, hr.shape[2]])
    return lr, hr


# ----------------------------------------------------------------------------------------------- labels


def sample_target_label(label: tf.Tensor, seed: Any, mode: str = "auto") -> tf.Tensor:
    """Samples the multi-domain translation target for one float32 label vector [D].

    "onehot" (one domain per image, e.g. a folder per domain): a uniformly random one-hot vector.
    "attributes" (multi-hot attributes): each attribute flipped with probability 0.5, as StarGAN does.
    "auto": "onehot" when the label has exactly one 1, else "attributes".
    """
    if mode not in _TARGET_LABEL_MODES:
        raise ValueError(f"`mode` must be one of {list(_TARGET_LABEL_MODES)}. Received: mode={mode!r}")
    label = tf.convert_to_tensor(label, tf.float32)
    depth = tf.shape(label)[0]
    seed = tf.convert_to_tensor(seed)

    def onehot():
        index = tf.random.stateless_uniform([], seed=sub_seed(seed, 3), minval=0, maxval=depth, dtype=tf.int32)
        return tf.one_hot(index, depth, dtype=tf.float32)

    def attributes():
        flip = tf.random.stateless_uniform([depth], seed=sub_seed(seed, 4)) < 0.5
        return tf.where(flip, 1.0 - label, label)

    if mode == "onehot":
        out = onehot()
    elif mode == "attributes":
        out = attributes()
    else:
        out = tf.cond(tf.equal(tf.reduce_sum(label), 1.0), onehot, attributes)
    out.set_shape(label.shape)
    return out
