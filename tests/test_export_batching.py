"""Bytes signatures that batch: the same-size images of one request go through the network together, and every image
gets the output it gets alone; mixed sizes, batch-statistics normalisation and random modes go one at a time."""

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import build_model
from i2i_keras import export
from i2i_keras.data import schema
from i2i_keras.methods.base import TranslationMode, TranslationModel
from tests.helpers import tiny_config


class BatchSizeStamp(TranslationModel):
    """Outputs the input plus (batch size - 1) / 10 everywhere: which path served a request shows in the pixels."""

    data_kind = "paired"
    method_name = "toy_batch_stamp"

    def __init__(self, inference_norm="moving", **kwargs):
        super().__init__(image_size=8, **kwargs)
        self.inference_norm = inference_norm
        self.built = True

    def generator_variables(self):
        return []

    def stamp(self, images):
        size = tf.cast(tf.shape(images)[0], images.dtype)
        return tf.clip_by_value(images + (size - 1.0) / 10.0, -1.0, 1.0)

    def translation_modes(self):
        return {"translate": TranslationMode(self.stamp)}

    def metadata(self):
        return {**super().metadata(), "inference_norm": self.inference_norm}


def _gray(value, size=(6, 10)):
    return schema.encode_png(np.full((*size, 3), value, np.uint8))


def _levels(pngs):
    return [int(tf.io.decode_png(p).numpy()[0, 0, 0]) for p in pngs]


def test_same_size_requests_are_one_batch_and_mixed_sizes_go_one_at_a_time(tmp_path):
    loaded, _ = export.load_exported(export.export_for_serving(BatchSizeStamp(), str(tmp_path / "m"), tiled=False))
    serve = loaded.signatures["translate_bytes"]
    # Three images of one size: one batch of 3, so every output is lifted by 2/10 of the [-1, 1] range (25 levels).
    same = serve(images=tf.constant([_gray(100)] * 3))["images"].numpy()
    assert _levels(same) == [126, 126, 126]
    # Sizes differ: each image alone (batch 1, nothing added), the sizes kept.
    mixed = serve(images=tf.constant([_gray(100), _gray(100, (7, 5))]))["images"].numpy()
    assert _levels(mixed) == [100, 100]
    assert [tuple(tf.io.decode_png(p).shape[:2]) for p in mixed] == [(6, 10), (7, 5)]
    assert serve(images=tf.constant([], tf.string))["images"].shape == (0,)


def test_batch_statistics_models_are_never_batched(tmp_path):
    loaded, _ = export.load_exported(export.export_for_serving(BatchSizeStamp(inference_norm="batch"),
                                                               str(tmp_path / "m"), tiled=False))
    same = loaded.signatures["translate_bytes"](images=tf.constant([_gray(100)] * 3))["images"].numpy()
    assert _levels(same) == [100, 100, 100]


@pytest.mark.parametrize("method", ["cyclegan", "stargan"])
def test_batched_outputs_equal_each_image_alone(tmp_path, method):
    """Real networks (instance norm; StarGAN with a per-image target domain): a batch of 3 same-size images gives
    what 3 requests of one image give, up to one 8-bit level of round-off."""
    model = build_model(tiny_config(method))
    loaded, _ = export.load_exported(export.export_for_serving(model, str(tmp_path / "m"), tiled=False))
    mode = next(iter(model.translation_modes()))
    serve = loaded.signatures[mode + "_bytes"]
    rng = np.random.default_rng(0)
    images = [schema.encode_png(rng.integers(0, 256, (12, 20, model.in_channels), dtype=np.uint8))
              for _ in range(3)]
    extras = {}
    if method == "stargan":
        (name, spec), = [(k, v) for k, v in serve.structured_input_signature[1].items() if k != "images"]
        extras = {name: tf.constant([0, 1, 2][: 3], dtype=spec.dtype)}
    together = serve(images=tf.constant(images), **extras)["images"].numpy()
    for i, image in enumerate(images):
        alone = serve(images=tf.constant([image]), **{k: v[i:i + 1] for k, v in extras.items()})["images"].numpy()
        a, b = (tf.io.decode_png(x).numpy().astype(int) for x in (together[i], alone[0]))
        assert a.shape == b.shape and np.abs(a - b).max() <= 1, (method, i)
