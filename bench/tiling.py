"""Throughput of tiled against untiled inference (`i2i_keras.tiling`), for the benchmark runner.

    from tiling import tiled_vs_untiled          # bench/ on sys.path, as bench/run.py sets it
    result = tiled_vs_untiled(model, size=(750, 1000), tile=256, overlap=32, repeats=3)

Both paths run `model.translate` compiled once with `tf.function` (tracing and the first call are not timed) on the
same random image; the figures are the median of `repeats` timed calls. Megapixels/s count input pixels
(`output_megapixels_per_s` multiplies by `output_scale**2`). For bf16, build the model under
`keras.mixed_precision.set_dtype_policy("mixed_bfloat16")`: the result names the policy it ran under. An untiled
call that runs out of memory is reported as such (the point of tiling), not raised.
"""

from __future__ import annotations

import statistics
import time
from typing import Optional, Union

import keras
import numpy as np
import tensorflow as tf


def _timed(fn, images, repeats: int) -> tuple:
    out = fn(images)  # trace + first call
    np.asarray(out)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(images)
        np.asarray(out)  # wait for the result
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), out


def tiled_vs_untiled(model, size: Union[int, tuple] = (750, 1000), tile: int = 256, overlap: int = 32,
                     repeats: int = 3, mode: Optional[str] = None, batch: int = 1, seed: int = 0) -> dict:
    """Median seconds and megapixels/s of `model.translate` on a [batch, H, W, in_channels] image, untiled and
    with `tile` / `overlap`; JSON-able. `size` is H or (H, W). The mode (default: the first) must take the images
    alone."""
    height, width = (size, size) if isinstance(size, int) else size
    modes = model.translation_modes()
    mode = mode or next(iter(modes))
    channels = modes[mode].input_channels or model.in_channels
    images = tf.random.stateless_uniform([batch, height, width, channels], [seed, 0], -1.0, 1.0)
    scale = int(model.output_scale)
    pixels = batch * height * width / 1e6
    result = {"method": model.method_name, "mode": mode, "policy": keras.config.dtype_policy().name,
              "size": [height, width], "batch": batch, "tile": tile, "overlap": overlap, "output_scale": scale,
              "repeats": repeats, "device": "gpu" if tf.config.list_logical_devices("GPU") else "cpu"}
    outputs = {}
    for name, kwargs in (("tiled", {"tile": tile, "overlap": overlap}), ("untiled", {})):
        fn = tf.function(lambda x, kwargs=kwargs: model.translate(x, mode=mode, **kwargs))
        try:
            seconds, outputs[name] = _timed(fn, images, repeats)
        except tf.errors.ResourceExhaustedError as err:
            result[name] = {"error": "out of memory", "detail": str(err).splitlines()[0][:200]}
            continue
        result[name] = {"median_s": round(seconds, 4), "megapixels_per_s": round(pixels / seconds, 3),
                        "output_megapixels_per_s": round(pixels * scale * scale / seconds, 3)}
    if len(outputs) == 2:
        difference = np.abs(np.asarray(outputs["tiled"], np.float32) - np.asarray(outputs["untiled"], np.float32))
        result["mean_abs_difference"] = round(float(difference.mean()), 5)
        result["tiled_vs_untiled_throughput"] = round(result["tiled"]["megapixels_per_s"]
                                                      / result["untiled"]["megapixels_per_s"], 3)
    return result
