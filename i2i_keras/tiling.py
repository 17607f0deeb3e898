"""Tiled inference: a fully convolutional translation applied tile by tile to an image of any size, seam-free.

`model.translate(images, tile=256, overlap=32)` (and the exported `<mode>_bytes_tiled` signatures, and
`python -m i2i_keras.translate --tile 256 --overlap 32`) run `tiled_call` instead of the mode's `fn` on the whole
(size_multiple-padded) image:

- Grid. Along each axis an image of `length` px that fits in one tile is one tile of its own length; a longer one
  is cut into `n = ceil((length - overlap) / (tile - overlap))` tiles of `tile` px at a regular stride
  `tile - overlap`, the image being mirror-padded at the bottom/right up to `(n - 1) * stride + tile` (as
  `base.pad_to_multiple` pads) and the result cropped back. `tile` must be a multiple of the model's
  `size_multiple`, and `0 <= overlap <= tile / 2` (then at most two tiles meet at any pixel).
- Tiles go through the mode's `fn` one at a time (`tf.while_loop`, `parallel_iterations=1`), with the mode's extra
  inputs (target domain, seed, reference image, ...) passed unchanged to every tile (a seeded style is the same
  style in every tile; randomness drawn afresh on each call, e.g. dropout at inference, differs between tiles):
  the largest tensor the network sees is one [batch, tile, tile, C] tile, so its activations, the memory that
  matters, are bounded by the tile size. Output rows are written out as soon as the next row of tiles no longer
  reaches them, so besides the input and the output only one row of output tiles exists at a time. A scale-s model
  (`output_scale`) turns a t px tile into a t*s px output tile; all output-side lengths are multiplied by s.
- Blending. Each output tile is weighted by a separable window and the weighted tiles are overlap-added: across a
  row, each tile's overlap with the next is carried into the next tile's start, and each row's overlap into the next
  row's, so that only the shared px are weighted and added and every output px is copied a few times (once per
  stage: the tile's kept part, the row strip, the output), not once per step of a generic overlap-add (measured
  in bench/README.md: the assembly was the bulk of the tiled time for a small network). Within an overlap of `o`
  px the outer `o // 4` px of each tile (the pixels whose receptive field was cut by the tile's edge) get weight 0,
  and the middle `o - 2 (o // 4)` px cross-fade with a raised cosine (sin^2 / cos^2), so the weights of the tiles
  meeting at a pixel sum to exactly 1 (no normalisation map), the first and last tiles of a row or column keep
  weight 1 up to the image border, and a network whose receptive-field radius is at most `o // 4` px gives exactly
  its untiled output away from the mirror-padded bottom/right border. `overlap=0` is plain abutting tiles.

Whole-image statistics (the hard case). A layer whose output depends on the whole image, not on a neighbourhood,
would see only one tile's statistics: instance norm (`GroupNormalization`, as `layers.normalization` builds the
"instance", "instance_affine" and "layer" norms), batch norm normalising with the batch's own statistics
(`BatchNorm` with `inference_norm="batch"`), AdaIN (`AdaptiveInstanceNorm`: the statistics of its content input),
and global pooling (`GlobalAveragePooling2D`, `GlobalMaxPooling2D`). The tiled path first runs the network once on
the whole image downscaled (antialiased bilinear) to at most `tile * tile` pixels (the image itself when it is that
small), records every such layer's statistics (the mean/variance it normalises with; a global pooling layer's
output), and then, for every tile, each such layer uses the recorded statistics of its call instead of the tile's
own. Every tile is thus normalised alike, so no seam and no tile-to-tile tone change appear; the result differs from
the untiled output only as much as the downscaled image's statistics differ from the full image's (tested: much
closer than per-tile statistics). The memory bound holds (the statistics pass is at most one tile's worth of
pixels). The statistics of all layers come from one forward pass, so they are consistent with each other; summing
the full-resolution image's statistics tile by tile instead would need one pass over all tiles per normalisation
layer (each layer's input depends on the layers before it: one pass measuring every layer at once under the
downscaled statistics mixes the two and was measured to be worse than either), and its sums would include the
tile-edge context errors of deep layers. `tiled_call` without `layers` leaves them alone (naive per-tile statistics,
the comparison of the tests). Other layers with a global view (e.g. attention over all pixels) are not known to this
module and see one tile; U-Nets whose receptive field spans the whole training crop change where tiles cut their
context (use a tile several times the training size). Layers are switched by swapping their `call` while a tiled
translation runs (or is traced into an export); a model should not be translated tiled from two Python threads at
once in eager mode.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Optional

import keras
import tensorflow as tf

from i2i_keras.errors import ConfigError

#: The bytes signature of mode `m` with tiling is `m + "_bytes" + TILED_SUFFIX`; `serving_default + TILED_SUFFIX`
#: is the tiled form of `serving_default` (the first mode).
TILED_SUFFIX = "_tiled"
TILE = "tile"          # int32 scalar input of a tiled signature: tile size in input pixels (0: the whole image)
OVERLAP = "overlap"    # int32 scalar input: overlap of neighbouring tiles in input pixels
DEFAULT_OVERLAP = 32


def tiled_modes(modes: dict) -> list:
    """The modes that tile: those translating images into images (metadata `tiled_modes`; each has a
    `<mode>_bytes_tiled` signature in an export). Generation modes, without an input image, do not."""
    return [name for name, mode in modes.items()
            if getattr(mode, "output", "images") == "images" and getattr(mode, "takes_images", True)]


def default_overlap(tile: int) -> int:
    """The overlap used when none is given: 32 px, at most a quarter of the tile."""
    return max(0, min(DEFAULT_OVERLAP, int(tile) // 4))


def check_tiling(tile, overlap, size_multiple: int = 1) -> None:
    """Raises a ConfigError unless `tile` (0: whole image) and `overlap` are usable with this `size_multiple`."""
    for name, value in ((TILE, tile), (OVERLAP, overlap)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"`{name}` must be a non-negative integer (pixels). Received: {name}={value!r}",
                              code="bad_value")
    if tile and tile % size_multiple:
        raise ConfigError(f"`tile` must be a multiple of the model's size_multiple={size_multiple} (or 0: the whole "
                          f"image). Received: tile={tile}", code="bad_value")
    if tile and 2 * overlap > tile:
        raise ConfigError(f"`overlap` must be at most half the tile ({tile // 2} px for tile={tile}): neighbouring "
                          f"tiles overlap, not three. Received: overlap={overlap}, tile={tile}", code="bad_value")


def _graph_checks(tile, overlap, size_multiple: int) -> list:
    """`check_tiling` for tensors (the exported signatures): assertions failing with InvalidArgumentError."""
    multiple = tf.constant(size_multiple, tf.int32)
    return [
        tf.debugging.Assert(tf.logical_and(tile >= 0, overlap >= 0),
                            ["tile and overlap must be non-negative integers (pixels). Received: tile=", tile,
                             "overlap=", overlap]),
        tf.debugging.Assert(tf.equal(tile % multiple, 0),
                            [f"tile must be a multiple of the model's size_multiple={size_multiple} (or 0: the whole "
                             f"image). Received: tile=", tile]),
        tf.debugging.Assert(tf.logical_or(tf.equal(tile, 0), 2 * overlap <= tile),
                            ["overlap must be at most half the tile. Received: overlap=", overlap, "tile=", tile]),
    ]


def checked(tile, overlap, size_multiple: int):
    """(tile, overlap) as int32 tensors, checked (ConfigError for Python ints, graph assertions for tensors)."""
    if not tf.is_tensor(tile) and not tf.is_tensor(overlap):
        overlap = default_overlap(tile) if overlap is None and isinstance(tile, int) else overlap
        check_tiling(tile, 0 if overlap is None else overlap, size_multiple)
        return tf.constant(tile, tf.int32), tf.constant(overlap, tf.int32)
    tile = tf.cast(tile, tf.int32)
    overlap = tf.clip_by_value(tile // 4, 0, DEFAULT_OVERLAP) if overlap is None else tf.cast(overlap, tf.int32)
    with tf.control_dependencies(_graph_checks(tile, overlap, size_multiple)):
        return tf.identity(tile), tf.identity(overlap)


# ----------------------------------------------------------------------------------------------- whole-image layers


class _Moments:
    """A layer normalising with per-group moments of its input: `values` gives the float32 tensor whose `axes`
    are reduced ([B, h, w, ...]: axes 1 and 2 are spatial), `apply` runs the layer with given (mean, variance)."""

    axes = (1, 2)

    def values(self, layer, inputs):
        return tf.cast(inputs, tf.float32)

    def own(self, layer, inputs):
        return tf.nn.moments(self.values(layer, inputs), axes=list(self.axes), keepdims=True)

class _GroupNorm(_Moments):
    """`GroupNormalization` (instance norm: groups = channels; layer norm: one group)."""

    axes = (1, 2, 4)

    def values(self, layer, inputs):
        shape = tf.shape(inputs)
        channels = inputs.shape[-1]
        return tf.reshape(tf.cast(inputs, tf.float32),
                          [shape[0], shape[1], shape[2], layer.groups, channels // layer.groups])

    def apply(self, layer, inputs, stats):
        channels, groups = inputs.shape[-1], layer.groups
        mean, variance = stats
        inv = tf.math.rsqrt(variance + layer.epsilon)
        if layer.scale:
            inv = inv * tf.reshape(tf.cast(layer.gamma, tf.float32), [1, 1, 1, groups, channels // groups])
        out = (self.values(layer, inputs) - mean) * inv
        if layer.center:
            out = out + tf.reshape(tf.cast(layer.beta, tf.float32), [1, 1, 1, groups, channels // groups])
        return tf.cast(tf.reshape(out, tf.shape(inputs)), inputs.dtype)


class _BatchNorm(_Moments):
    """`layers.BatchNorm(inference_norm="batch")` outside training: moments over the batch and the pixels."""

    axes = (0, 1, 2)

    def apply(self, layer, inputs, stats):
        mean, variance = stats
        out = (self.values(layer, inputs) - mean) * tf.math.rsqrt(variance + layer.epsilon)
        if layer.scale:
            out = out * tf.cast(layer.gamma, tf.float32)
        if layer.center:
            out = out + tf.cast(layer.beta, tf.float32)
        return tf.cast(out, layer.compute_dtype)


class _AdaIN(_Moments):
    """`AdaptiveInstanceNorm`: the moments of its content input `x` of `[x, params]`."""

    def values(self, layer, inputs):
        return tf.cast(inputs[0], tf.float32)

    def apply(self, layer, inputs, stats):
        x, params = inputs
        channels = x.shape[-1]
        mean, variance = stats
        gamma = tf.reshape(tf.cast(params[:, :channels], tf.float32), [-1, 1, 1, channels])
        beta = tf.reshape(tf.cast(params[:, channels:], tf.float32), [-1, 1, 1, channels])
        out = (self.values(layer, inputs) - mean) * tf.math.rsqrt(variance + layer.epsilon) * gamma + beta
        return tf.cast(out, layer.compute_dtype)


class _AveragePool(_Moments):
    """`GlobalAveragePooling2D`: its statistics are the per-channel means (variance unused)."""

    def apply(self, layer, inputs, stats):
        out = stats[0] if layer.keepdims else tf.squeeze(stats[0], [1, 2])
        return tf.cast(out, layer.compute_dtype)


class _MaxPool(_AveragePool):
    """`GlobalMaxPooling2D`: the per-channel maxima."""

    def own(self, layer, inputs):
        values = self.values(layer, inputs)
        return tf.reduce_max(values, [1, 2], keepdims=True), tf.zeros([], tf.float32)


def _whole_image_rule(layer) -> Optional[_Moments]:
    """How a layer that looks at the whole image runs with given statistics, or None for any other layer."""
    from i2i_keras.layers.conditioning import AdaptiveInstanceNorm
    from i2i_keras.layers.normalization import BatchNorm

    if isinstance(layer, keras.layers.GroupNormalization):
        return _GroupNorm()
    if isinstance(layer, BatchNorm) and layer.inference_norm == "batch":
        return _BatchNorm()
    if isinstance(layer, AdaptiveInstanceNorm):
        return _AdaIN()
    if isinstance(layer, keras.layers.GlobalAveragePooling2D) and layer.data_format == "channels_last":
        return _AveragePool()
    if isinstance(layer, keras.layers.GlobalMaxPooling2D) and layer.data_format == "channels_last":
        return _MaxPool()
    return None


def whole_image_layers(model) -> list:
    """The layers of `model` (recursively) whose output depends on whole-image statistics."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if _whole_image_rule(layer) is not None]


class _Statistics:
    """The statistics of the whole-image layers, call by call (a layer may be called more than once per forward
    pass): recorded on an image (`RECORD`), then used for every tile (`REPLAY`)."""

    RECORD, REPLAY = "record", "replay"

    def __init__(self, layers: list):
        self.layers = list(layers)
        self.rules = {id(layer): _whole_image_rule(layer) for layer in self.layers}
        self.saved = {id(layer): [] for layer in self.layers}
        self.used = {}
        self.phase = self.REPLAY

    def reset(self):
        self.used = {id(layer): 0 for layer in self.layers}

    @contextlib.contextmanager
    def patched(self, phase: str):
        self.phase = phase
        self.reset()
        swapped = []
        try:
            for layer in self.layers:
                swapped.append(layer)
                object.__setattr__(layer, "call", self._wrapped(layer))
            yield self
        finally:
            for layer in swapped:
                layer.__dict__.pop("call", None)

    def _wrapped(self, layer):
        original = type(layer).call.__get__(layer)
        key, rule = id(layer), self.rules[id(layer)]

        def call(inputs, *args, **kwargs):
            if kwargs.get("training"):
                return original(inputs, *args, **kwargs)
            if self.phase == self.RECORD:
                stats = rule.own(layer, inputs)
                self.saved[key].append(stats)
                return rule.apply(layer, inputs, stats)
            index = self.used[key]
            if index >= len(self.saved[key]):
                raise ValueError(f"layer {layer.name} is called more often on a tile than on the whole image; "
                                 f"tiled statistics cannot be replayed")
            self.used[key] = index + 1
            return rule.apply(layer, inputs, self.saved[key][index])

        return call


# ----------------------------------------------------------------------------------------------- the tiled call


def _axis_grid(length, tile, overlap):
    """(tiles, tile length, stride, padded length) along one axis; an axis that fits is one tile of its length."""
    fits = length <= tile
    stride = tile - overlap
    count = tf.where(fits, 1, (length - overlap + stride - 1) // tf.maximum(stride, 1))
    size = tf.where(fits, length, tile)
    step = tf.where(fits, length, stride)
    padded = tf.where(fits, length, (count - 1) * stride + tile)
    return count, size, step, padded


def _windows(count, size, overlap, margin):
    """[count, size] weights of the tiles along one axis (output pixels): a raised-cosine cross-fade over the
    overlap without its outer `margin` px on each side; the first tile keeps 1 up to its start, the last to its end.
    Neighbouring windows sum to 1."""
    ramp = tf.cast(overlap - 2 * margin, tf.float32)
    position = tf.cast(tf.range(size), tf.float32) - tf.cast(margin, tf.float32) + 0.5
    rise = tf.sin(0.5 * math.pi * tf.clip_by_value(position / tf.maximum(ramp, 1.0), 0.0, 1.0)) ** 2
    rise = tf.where(overlap > 0, rise, tf.ones_like(rise))
    fall = tf.reverse(rise, [0])
    index = tf.range(count)[:, None]
    return (tf.where(index == 0, 1.0, rise[None]) * tf.where(index == count - 1, 1.0, fall[None]))


def _statistics_image(images, tile, size_multiple: int):
    """The whole image downscaled to at most tile * tile pixels (sides multiples of size_multiple), or itself."""
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    factor = tf.sqrt(tf.cast(height * width, tf.float32)) / tf.cast(tf.maximum(tile, 1), tf.float32)

    def side(length):
        units = tf.round(tf.cast(length, tf.float32) / factor / size_multiple)
        return tf.maximum(tf.cast(units, tf.int32), 1) * size_multiple

    return tf.cond(factor > 1.0,
                   lambda: tf.cast(tf.image.resize(tf.cast(images, tf.float32), [side(height), side(width)],
                                                   antialias=True), images.dtype),
                   lambda: images)


def tiled_call(fn: Callable, images, tile, overlap, *, scale: int = 1, size_multiple: int = 1, layers=(),
               extras: Optional[dict] = None, multiple_outputs: bool = False):
    """`fn(images, **extras)` computed tile by tile and blended (see the module docstring).

    Args:
        fn: a translation mode's fn: float images [B, h, w, C] -> [B, h*scale, w*scale, C'] (or [B, N, ...]).
        images: [B, H, W, C], sides multiples of `size_multiple` (`base.pad_to_multiple`).
        tile, overlap: input pixels (ints or int32 scalar tensors, already checked; see `checked`). tile 0 is one
            tile of the whole image.
        layers: the whole-image layers (`whole_image_layers`) that get the statistics of the downscaled whole
            image; empty: per-tile statistics.
        extras: the mode's extra inputs, given unchanged to every call of `fn`.
        multiple_outputs: `fn` returns [B, N, h, w, C] (several outputs per image).
    Returns float32 [B, H*scale, W*scale, C'] (or [B, N, ...]).
    """
    extras = dict(extras or {})
    tile, overlap = tf.cast(tile, tf.int32), tf.cast(overlap, tf.int32)
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    whole = tf.equal(tile, 0)
    tile = tf.where(whole, tf.maximum(height, width), tile)
    overlap = tf.where(whole, 0, overlap)
    rows, tile_h, step_h, padded_h = _axis_grid(height, tile, overlap)
    cols, tile_w, step_w, padded_w = _axis_grid(width, tile, overlap)
    padded = tf.pad(images, [[0, 0], [0, padded_h - height], [0, padded_w - width], [0, 0]], mode="SYMMETRIC")

    statistics = _Statistics(layers)
    if statistics.layers:
        with statistics.patched(statistics.RECORD):
            fn(_statistics_image(images, tile, size_multiple), **extras)
    margin = overlap // 4
    window_h = _windows(rows, tile_h * scale, overlap * scale, margin * scale)
    window_w = _windows(cols, tile_w * scale, overlap * scale, margin * scale)

    lead_rank = 2 if multiple_outputs else 1   # [B] or [B, N] before the image axes of fn's outputs
    row_step, col_step = step_h * scale, step_w * scale

    def blended_head(piece, carry, weights, first, cut, axis):
        """`piece[:cut]` along `axis`, its start (the px shared with the previous tile: `carry`, that tile's
        weighted end, none when `first`) weighted by `weights` and added to `carry`; `weights` is 1 over the rest
        of `[:cut]` (`_windows`), so the kept px are copied once and only the shared px are multiplied."""
        shared = tf.shape(carry)[axis]
        return tf.cond(first, lambda: _slice(piece, 0, cut, axis),
                       lambda: tf.concat([_slice(piece, 0, shared, axis) * _expand(weights[:shared], axis) + carry,
                                          _slice(piece, shared, cut, axis)], axis))

    def tail(piece, weights, cut, axis):
        """The end of `piece` after `cut` along `axis` (the px the next tile shares), weighted."""
        return _slice(piece, cut, None, axis) * _expand(weights[cut:], axis)

    def tile_row(row):
        """One row of tiles, windowed and blended across: [tile_h * s, L, padded_w * s, C] (rows first)."""
        def body(col, pieces, carry, lead):
            top, left = row * step_h, col * step_w
            statistics.reset()
            out = tf.cast(fn(padded[:, top:top + tile_h, left:left + tile_w, :], **extras), tf.float32)
            out = tf.ensure_shape(out, [None] * (lead_rank + 3))
            shape = tf.shape(out)
            flat = tf.reshape(out, tf.concat([[-1], shape[-3:]], 0))                             # [L, th, tw, C]
            head = blended_head(flat, carry, window_w[col], tf.equal(col, 0), col_step, 2)
            return col + 1, pieces.write(col, head), tail(flat, window_w[col], col_step, 2), shape[:lead_rank]

        pieces = tf.TensorArray(tf.float32, size=cols, infer_shape=False)
        start = (tf.constant(0), pieces, tf.zeros([0, 0, 0, 0]), tf.zeros([lead_rank], tf.int32))
        invariants = (tf.TensorShape([]), tf.TensorShape(None), tf.TensorShape([None] * 4),
                      tf.TensorShape([lead_rank]))
        _, pieces, carry, lead = tf.while_loop(lambda col, *_: col < cols, body, start, shape_invariants=invariants,
                                               parallel_iterations=1)
        stacked = tf.ensure_shape(pieces.stack(), [None] * 5)                  # [cols, L, th, col_step, C]
        strip = tf.transpose(stacked, [2, 1, 0, 3, 4])                          # [th, L, cols, col_step, C]
        shape = tf.shape(strip)
        strip = tf.reshape(strip, tf.stack([shape[0], shape[1], shape[2] * shape[3], shape[4]]))
        # The last tile's end completes the row; the output's width crop is taken here, in the same copy.
        kept = tf.shape(strip)[2]
        strip = tf.cond(out_width <= kept, lambda: strip[:, :, :out_width],
                        lambda: tf.concat([strip, tf.transpose(carry, [1, 0, 2, 3])[:, :, :out_width - kept]], 2))
        return strip, lead                                                      # [th, L, width * s, C]

    def row_body(row, bands, carry, lead):
        # Output rows are final once the next row of tiles no longer reaches them: each row of tiles emits its
        # first `row_step` rows (all of them for the last row) and carries the overlap into the next row.
        strip, lead = tile_row(row)
        cut = tf.where(tf.equal(row, rows - 1), tf.shape(strip)[0], row_step)
        # Two bands per row, the blended overlap and the rows below it up to the cut (a slice of the first axis,
        # not copied), so that the output rows are copied once, by the final concat.
        shared = tf.shape(carry)[0]
        overlap_band = tf.cond(tf.equal(row, 0), lambda: strip[:0],
                               lambda: strip[:shared] * _expand(window_h[row][:shared], 0) + carry)
        bands = bands.write(2 * row, overlap_band).write(2 * row + 1, strip[shared:cut])
        return row + 1, bands, tail(strip, window_h[row], cut, 0), lead

    out_width = width * scale
    bands = tf.TensorArray(tf.float32, size=2 * rows, infer_shape=False)
    start = (tf.constant(0), bands, tf.zeros([0, 0, 0, 0]), tf.zeros([lead_rank], tf.int32))
    invariants = (tf.TensorShape([]), tf.TensorShape(None), tf.TensorShape([None] * 4), tf.TensorShape([lead_rank]))
    with statistics.patched(statistics.REPLAY) if statistics.layers else contextlib.nullcontext():
        _, bands, _, lead = tf.while_loop(lambda row, *_: row < rows, row_body, start, shape_invariants=invariants,
                                          parallel_iterations=1)
    blended = tf.ensure_shape(bands.concat(), [None] * 4)[:height * scale]   # [H * s, L, W * s, C]
    blended = tf.transpose(blended, [1, 0, 2, 3])                            # no copy for L == 1
    blended = tf.reshape(blended, tf.concat([lead, tf.shape(blended)[1:]], 0))
    return tf.ensure_shape(blended, [None] * (lead_rank + 3))


def _expand(weights, axis: int):
    """1-D weights broadcast along `axis` of a rank-4 tensor."""
    return tf.reshape(weights, [-1 if index == axis else 1 for index in range(4)])


def _slice(tensor, start, stop, axis: int):
    """`tensor[start:stop]` along the static `axis`."""
    return tensor[(slice(None),) * axis + (slice(start, stop),)]
