"""The multimodal API shared by the style-based methods (MUNIT, BicycleGAN): one set of translation modes.

A method supplies `decode(images, styles)` (images [B,H,W,C], styles [B,D] -> images) and `encode(reference)`
(reference images [B,h,w,C] -> style codes [B,D]); `style_modes` turns them into four modes, which become Python
`translate(..., mode=...)` calls and exported signatures alike:

| mode | extra inputs | output |
| --- | --- | --- |
| `<p>` | none | one translation with the prior's mean style (z = 0): deterministic |
| `<p>_sample` | `num_samples` int32 scalar, `seed` int64 scalar | [B, N, H, W, C]: N random styles z ~ N(0, I) |
| `<p>_reference` | `reference` image(s) [B, h, w, C] | the style encoded from each reference image |
| `<p>_interpolate` | `num_samples`, `seed` | [B, N, H, W, C]: N styles on the line between two random styles |

Random styles are drawn with a stateless generator from `seed`, so a seed names the same N styles for every input
image, on every call, in Python and in the SavedModel; the same seed gives the same outputs.
"""

from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf

from i2i_keras.errors import ConfigError
from i2i_keras.methods.base import NUM_SAMPLES, REFERENCE, SEED, TranslationMode

# Second word of the stateless seed, so that style draws do not reuse the data pipeline's (seed, 0) streams.
_STYLE_STREAM = 0x57E1E


def _checked_count(num_samples):
    value = tf.get_static_value(num_samples)
    if value is not None and (getattr(value, "ndim", 0) != 0 or int(value) < 1):
        # Known in Python (eager calls, constants): a clear error now rather than a failing graph assertion later.
        raise ValueError(f"`{NUM_SAMPLES}` must be a positive integer scalar. Received: {NUM_SAMPLES}={value!r}")
    num_samples = tf.cast(tf.convert_to_tensor(num_samples), tf.int32)
    tf.debugging.assert_positive(num_samples, message=f"{NUM_SAMPLES} must be >= 1")
    return num_samples


def _checked_seed(seed):
    value = tf.get_static_value(seed)
    if value is not None and getattr(value, "ndim", 0) != 0:
        raise ValueError(f"`{SEED}` must be an integer scalar. Received: {SEED}={value!r}")
    return tf.cast(tf.convert_to_tensor(seed), tf.int64)


def random_styles(seed, num_samples, style_dim: int):
    """[N, D] standard-normal style codes drawn from `seed` (int scalar)."""
    seed = _checked_seed(seed)
    return tf.random.stateless_normal(tf.stack([_checked_count(num_samples), style_dim]),
                                      seed=tf.stack([seed, tf.constant(_STYLE_STREAM, tf.int64)]))


def interpolated_styles(seed, num_samples, style_dim: int):
    """[N, D] codes evenly spaced from one random style to another (both drawn from `seed`), ends included."""
    ends = random_styles(seed, 2, style_dim)
    count = _checked_count(num_samples)
    steps = tf.cast(tf.maximum(count - 1, 1), tf.float32)
    t = tf.cast(tf.range(count), tf.float32)[:, None] / steps
    return ends[0][None] + t * (ends[1] - ends[0])[None]


def translate_with_styles(decode: Callable, images, styles):
    """Every image with every style: images [B,H,W,C], styles [N,D] -> [B,N,H,W,C]."""
    batch = tf.shape(images)[0]
    count = tf.shape(styles)[0]
    repeated = tf.repeat(images, count, axis=0)                       # [B*N, H, W, C], image-major
    tiled = tf.tile(styles, [batch, 1])                               # [B*N, D], style index fastest
    out = decode(repeated, tiled)
    shape = tf.shape(out)
    return tf.reshape(out, tf.concat([[batch, count], shape[1:]], axis=0))


def check_encoder_crop(image_size: int, encoder: str, **downsampling) -> None:
    """Raises a ValueError unless training crops of `image_size` survive the `encoder`'s stride-2 layers: the one
    keyword argument names their count n (e.g. `style_downsampling=4`), and image_size must be at least 2**n."""
    (arg, layers), = downsampling.items()
    if image_size < 2 ** layers:
        raise ConfigError(f"image_size must be at least 2**{arg}={2 ** layers} (the {encoder} sees the training "
                          f"crops). Received: image_size={image_size}, {arg}={layers}")


def style_modes(prefix: str, decode: Callable, encode: Callable, style_dim: int, in_channels: int,
                description: str, input_channels: Optional[int] = None,
                encoder_downsampling: int = 0, encoder: str = "encoder") -> dict:
    """The four modes above for one direction; `prefix` names them (`a2b`, `a2b_sample`, ...).

    Args:
        prefix: mode-name prefix, e.g. "a2b" or "translate".
        decode: `(images [B,H,W,C_in], styles [B,style_dim]) -> images`, the generator for one style per image.
        encode: `reference images [B,h,w,C] -> style codes [B,style_dim]` (the style encoder of the output domain;
            for a variational encoder, its mean).
        style_dim: length of the style codes.
        in_channels: channels of the *reference* images (those of the output domain).
        description: what the direction does, for the signature descriptions.
        input_channels: channels of the images translated, when not the model's `in_channels` (a `b2a` direction
            translates images of domain B); `TranslationMode.input_channels`.
        encoder_downsampling: stride-2 layers of the encoder: reference images must be at least 2**this pixels high
            and wide (a known smaller size raises a ValueError naming the `encoder`).
    """
    if int(style_dim) < 1:
        raise ConfigError(f"`style_dim` must be a positive integer. Received: style_dim={style_dim!r}")

    minimum = 2 ** encoder_downsampling

    def name(suffix):
        return f"{prefix}_{suffix}"

    def mean_style(images):
        return decode(images, tf.zeros([tf.shape(images)[0], style_dim], images.dtype))

    def sample(images, num_samples, seed):
        return translate_with_styles(decode, images, random_styles(seed, num_samples, style_dim))

    def interpolate(images, num_samples, seed):
        return translate_with_styles(decode, images, interpolated_styles(seed, num_samples, style_dim))

    def reference(images, reference):
        # One reference styles a whole batch; otherwise one reference per image.
        batch, ref_batch = images.shape[0], reference.shape[0]
        if batch is not None and ref_batch is not None and ref_batch not in (1, batch):
            raise ValueError(f"`{REFERENCE}` must hold one image, or one per input image ({batch}). "
                             f"Received: {REFERENCE}.shape={tuple(reference.shape)}")
        height, width = reference.shape[1], reference.shape[2]
        if any(side is not None and side < minimum for side in (height, width)):
            raise ValueError(f"Reference images must be at least {minimum}x{minimum} pixels (the {encoder} "
                             f"downsamples {encoder_downsampling} times). "
                             f"Received: {REFERENCE}.shape={tuple(reference.shape)}")
        codes = tf.cast(encode(reference), images.dtype)
        return decode(images, tf.broadcast_to(codes, [tf.shape(images)[0], style_dim]))

    count_and_seed = {NUM_SAMPLES: tf.TensorSpec([], tf.int32), SEED: tf.TensorSpec([], tf.int64)}
    return {
        prefix: TranslationMode(mean_style, description=f"{description} with the mean style (z = 0)",
                                input_channels=input_channels),
        name("sample"): TranslationMode(sample, dict(count_and_seed), multiple_outputs=True,
                                        description=f"{description}, {NUM_SAMPLES} random styles from {SEED}",
                                        input_channels=input_channels),
        name("reference"): TranslationMode(
            reference, {REFERENCE: tf.TensorSpec([None, None, None, in_channels], tf.float32)},
            image_inputs=(REFERENCE,), description=f"{description} in the style of a reference image",
            input_channels=input_channels),
        name("interpolate"): TranslationMode(
            interpolate, dict(count_and_seed), multiple_outputs=True,
            description=f"{description}, {NUM_SAMPLES} styles between two random styles from {SEED}",
            input_channels=input_channels),
    }
