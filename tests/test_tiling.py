"""Tiled inference (`i2i_keras.tiling`): tiled = untiled for a bounded receptive field (x1 and x2), the memory
bound, seam-free blending, whole-image statistics of instance norm, the exported `<mode>_bytes_tiled` signature,
the translate CLI's `--tile`, and the errors of bad tile / overlap values."""

import glob
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import export
from i2i_keras import tiling
from i2i_keras import translate as translate_cli
from i2i_keras.data import transforms
from i2i_keras.errors import ConfigError
from i2i_keras.methods.base import NUM_SAMPLES, TARGET_DOMAIN, TranslationMode, TranslationModel
from i2i_keras.registry import get_method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = sorted(glob.glob(os.path.join(ROOT, "i2i_keras", "data", "embedded", "photos", "test", "*.png")))


class ConvNet(TranslationModel):
    """Three 3x3 convolutions (receptive-field radius 3 input px) and, for `scale` > 1, a pixel shuffle: a fully
    convolutional test method (not registered). Modes: `translate`, `shift` (a per-image `target_domain` adds an
    offset), `sample` (`num_samples` outputs per image) and `classify` (probabilities, not tileable)."""

    method_name = "tiling_test_net"
    data_kind = "single"

    def __init__(self, scale=1, filters=8, multiple=1, **kwargs):
        super().__init__(**kwargs)
        self.output_scale = scale
        self.multiple = multiple
        inputs = keras.Input((None, None, self.in_channels))
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(self.out_channels * scale * scale, 3, padding="same", activation="tanh")(x)
        if scale > 1:
            x = keras.layers.Lambda(lambda t: tf.nn.depth_to_space(t, scale))(x)
        self.net = keras.Model(inputs, x, name="net")
        self.built = True

    @property
    def size_multiple(self):
        return self.multiple

    def generator_variables(self):
        return self.net.trainable_variables

    def _shift(self, images, target_domain):
        return self.net(images) + 0.1 * tf.cast(target_domain, tf.float32)[:, None, None, None]

    def _sample(self, images, num_samples):
        out = self.net(images)
        return tf.stack([out * (1.0 - 0.2 * tf.cast(k, tf.float32)) for k in range(3)], 1)[:, :num_samples]

    def _classify(self, images):
        mean = tf.reduce_mean(images, axis=[1, 2, 3])
        return tf.nn.softmax(tf.stack([-mean, mean], -1))

    def translation_modes(self):
        return {"translate": TranslationMode(lambda images: self.net(images)),
                "shift": TranslationMode(self._shift, {TARGET_DOMAIN: tf.TensorSpec([None], tf.int32)}),
                "sample": TranslationMode(self._sample, {NUM_SAMPLES: tf.TensorSpec([], tf.int32)},
                                          multiple_outputs=True),
                "classify": TranslationMode(self._classify, output="probabilities")}

    def metadata(self):
        return {**super().metadata(), "class_names": ["dark", "bright"]}


def _images(height, width, batch=1, seed=0):
    return tf.random.stateless_uniform([batch, height, width, 3], [seed, 1], -1.0, 1.0)


def _photos(count=4, size=None):
    images = tf.stack([tf.cast(transforms.decode_image(tf.io.read_file(path), channels=3), tf.float32)
                       for path in PHOTOS[:count]])
    return images if size is None else tf.image.resize(images, [size, size])


@pytest.mark.parametrize("scale", [1, 2])
def test_tiled_equals_untiled_away_from_the_padded_border(scale):
    model = ConvNet(scale=scale, image_size=32)
    images = _images(61, 83, batch=2)
    whole = model.translate(images)
    tiled = model.translate(images, tile=32, overlap=16)   # 4 px cut from each tile edge >= radius 3
    assert tiled.shape == whole.shape == (2, 61 * scale, 83 * scale, 3)
    # Exact up to float rounding everywhere but the bottom/right rows the grid's mirror padding reaches (radius 3).
    keep = 4 * scale
    np.testing.assert_allclose(tiled[:, :-keep, :-keep], whole[:, :-keep, :-keep], atol=2e-5)
    # Without the cut margin (overlap 4 -> margin 1 < radius 3) tile edges leak: the comparison can fail.
    leaky = model.translate(images, tile=32, overlap=4)
    assert np.abs(leaky[:, :-keep, :-keep] - whole[:, :-keep, :-keep]).max() > 1e-3


def test_extra_inputs_and_several_outputs_pass_to_every_tile():
    model = ConvNet(scale=2, image_size=32)
    images = _images(40, 50, batch=2, seed=1)
    domains = tf.constant([0, 3])
    np.testing.assert_allclose(model.translate(images, mode="shift", tile=32, overlap=16, target_domain=domains)
                               [:, :-8, :-8],
                               model.translate(images, mode="shift", target_domain=domains)[:, :-8, :-8], atol=2e-5)
    tiled = model.translate(images, mode="sample", tile=32, overlap=16, num_samples=2)
    whole = model.translate(images, mode="sample", num_samples=2)
    assert tiled.shape == whole.shape == (2, 2, 80, 100, 3)
    np.testing.assert_allclose(tiled[..., :-8, :-8, :], whole[..., :-8, :-8, :], atol=2e-5)


def test_tile_zero_and_a_tile_larger_than_the_image_are_the_untiled_translation():
    model = ConvNet(scale=2, multiple=4, image_size=32)
    images = _images(30, 45)
    whole = model.translate(images)
    np.testing.assert_allclose(model.translate(images, tile=0), whole, atol=1e-6)
    np.testing.assert_allclose(model.translate(images, tile=64, overlap=8), whole, atol=1e-6)


def test_graph_mode_with_tensor_tile_and_overlap_matches_eager():
    model = ConvNet(scale=2, image_size=32)
    images = _images(37, 29)
    traced = tf.function(lambda x, t, o: model.translate(x, tile=t, overlap=o))
    np.testing.assert_allclose(traced(images, tf.constant(16), tf.constant(4)),
                               model.translate(images, tile=16, overlap=4), atol=1e-6)


def test_a_large_image_never_reaches_the_network_larger_than_one_tile():
    model = ConvNet(scale=1, filters=4, image_size=32)
    seen = []
    fn = model.translation_modes()["translate"].fn

    def instrumented(images):
        seen.append(tuple(images.shape))
        return fn(images)

    model.translation_modes = lambda: {"translate": TranslationMode(instrumented)}
    images = tf.zeros([1, 1500, 2000, 3])
    out = model.translate(images, tile=256, overlap=32)
    assert out.shape == (1, 1500, 2000, 3)
    # stride 224: ceil((1500 - 32) / 224) = 7 rows, ceil((2000 - 32) / 224) = 9 columns, every one a 256 px tile.
    assert seen == [(1, 256, 256, 3)] * 63


def test_peak_memory_of_a_large_tiled_image_stays_below_one_untiled_activation(tmp_path):
    """A 3000x2000 image through 3x3 convolutions of 64 channels: one untiled activation alone would be
    3000 * 2000 * 64 * 4 B = 1.5 GB; the tiled translation's peak RSS growth stays under a third of that."""
    script = tmp_path / "peak.py"
    script.write_text(textwrap.dedent("""
        import json, resource
        import keras
        import tensorflow as tf
        from i2i_keras.methods.base import TranslationMode, TranslationModel

        class Wide(TranslationModel):  # 3 -> 64 -> 3 channels, 1x1 convolutions: wide but cheap
            def __init__(self):
                super().__init__(image_size=32)
                self.net = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(64, 1),
                                             keras.layers.Conv2D(3, 1)])

            def translation_modes(self):
                return {"translate": TranslationMode(lambda images: self.net(images))}

        model = Wide()
        images = tf.random.uniform([1, 2000, 3000, 3], -1.0, 1.0)
        model.translate(images[:, :64, :64], tile=32, overlap=8)   # warm up (graphs, kernels)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out = model.translate(images, tile=256, overlap=32)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({"growth": after - before, "shape": list(out.shape)}))
    """))
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, env=env,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shape"] == [1, 2000, 3000, 3]
    activation = 3000 * 2000 * 64 * 4
    assert result["growth"] < activation / 3, result


def _seam_ratio(out, whole, borders, axis):
    """How much the tiled output's deviation from the untiled output jumps across `borders` (positions along
    `axis`), relative to its pixel-to-pixel change everywhere: about 1 when the tiles leave no seam."""
    steps = np.abs(np.diff(np.asarray(out) - np.asarray(whole), axis=axis))
    steps = steps.mean(axis=tuple(a for a in range(4) if a != axis))
    return float(steps[[b - 1 for b in borders]].mean() / steps.mean())


def test_blended_tiles_show_no_seam_where_abutting_tiles_do():
    """CycleGAN's ResNet generator (receptive field wider than the overlap, instance norm) on photos: the blended
    tiles differ from the untiled output no more across the overlaps than anywhere else; abutting tiles (overlap
    0) jump at their borders, so the measure can fail."""
    keras.utils.set_random_seed(0)
    model = get_method("cyclegan")(image_size=32, base_filters=8, num_blocks=2)
    images = _photos(4)
    whole = model.translate(images)
    blended = model.translate(images, tile=48, overlap=16)
    abutting = model.translate(images, tile=48, overlap=0)
    overlaps = [c for start in (32, 64, 96) for c in range(start + 1, start + 16)]   # stride 32, overlap 16
    for axis in (1, 2):
        assert _seam_ratio(blended, whole, overlaps, axis) < 1.1
        assert _seam_ratio(abutting, whole, [48, 96], axis) > 1.25


def test_instance_norm_uses_whole_image_statistics():
    """Per-tile instance-norm statistics change each tile's tone; the statistics recorded on the whole image (here
    downscaled 2x, as for any image larger than one tile's pixels) bring the tiled output much closer to the
    untiled one. With the image's own statistics and one tile, it is the untiled output exactly."""
    keras.utils.set_random_seed(0)
    model = get_method("cyclegan")(image_size=32, base_filters=8, num_blocks=2)
    assert tiling.whole_image_layers(model.generator_ab)
    images = _photos(4)
    whole = model.translate(images)
    recorded = model.translate(images, tile=64, overlap=16)
    naive = tiling.tiled_call(model.translation_modes()["a2b"].fn, images, 64, 16, size_multiple=4)  # no layers
    error_recorded = float(tf.reduce_mean(tf.abs(recorded - whole)))
    error_naive = float(tf.reduce_mean(tf.abs(naive - whole)))
    assert error_recorded < 0.7 * error_naive, (error_recorded, error_naive)
    np.testing.assert_allclose(model.translate(images, tile=0), whole, atol=1e-5)


class WholeImageNet(TranslationModel):
    """Batch norm with the batch's statistics, AdaIN whose parameters come from global average and max pooling of
    the image: every kind of whole-image layer `tiling` knows, in one network (not registered)."""

    method_name = "tiling_whole_image_net"
    data_kind = "single"

    def __init__(self, **kwargs):
        from i2i_keras.layers.conditioning import AdaptiveInstanceNorm
        from i2i_keras.layers.normalization import normalization

        super().__init__(**kwargs)
        inputs = keras.Input((None, None, 3))
        x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
        x = normalization("batch", inference_norm="batch")(x)
        pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(x),
                                             keras.layers.GlobalMaxPooling2D()(x)])
        x = AdaptiveInstanceNorm()([x, keras.layers.Dense(16)(pooled)])
        self.net = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(x))
        self.built = True

    def translation_modes(self):
        return {"translate": TranslationMode(lambda images: self.net(images))}


def test_every_whole_image_layer_kind_gets_the_image_statistics():
    keras.utils.set_random_seed(1)
    model = WholeImageNet(image_size=32)
    kinds = {type(layer).__name__ for layer in tiling.whole_image_layers(model)}
    assert kinds == {"BatchNorm", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "AdaptiveInstanceNorm"}
    images = _photos(2)
    whole = model.translate(images)
    np.testing.assert_allclose(model.translate(images, tile=0), whole, atol=1e-5)   # own statistics: exact
    recorded = model.translate(images, tile=64, overlap=16)
    naive = tiling.tiled_call(model.translation_modes()["translate"].fn, images, 64, 16)
    error_recorded = float(tf.reduce_mean(tf.abs(recorded - whole)))
    assert error_recorded < 0.5 * float(tf.reduce_mean(tf.abs(naive - whole))), error_recorded


@pytest.mark.parametrize("tile, overlap, expected", [
    (24, 13, "overlap=13, tile=24"),        # more than half the tile
    (24, 24, "overlap=24, tile=24"),
    (30, 4, "size_multiple=4 (or 0: the whole image). Received: tile=30"),
    (-8, 4, "Received: tile=-8"),
    (24, -1, "Received: overlap=-1"),
    (24.0, 4, "Received: tile=24.0"),
])
def test_bad_tile_or_overlap_is_a_config_error_naming_the_value(tile, overlap, expected):
    model = ConvNet(multiple=4, image_size=32)
    with pytest.raises(ConfigError, match="must") as info:
        model.translate(_images(32, 32), tile=tile, overlap=overlap)
    assert expected in str(info.value)


def test_classification_modes_and_overlap_without_tile_are_refused():
    model = ConvNet(image_size=32)
    with pytest.raises(ConfigError, match="'classify'.*cannot be tiled. Received: tile=16"):
        model.translate(_images(32, 32), mode="classify", tile=16)
    with pytest.raises(ConfigError, match="`overlap` needs `tile`"):
        model.translate(_images(32, 32), overlap=4)


# ----------------------------------------------------------------------------------------------- export and CLI


@pytest.fixture(scope="module")
def exported_x4(tmp_path_factory):
    model = ConvNet(scale=4, filters=4, multiple=2, image_size=32)
    return model, export.export_for_serving(model, str(tmp_path_factory.mktemp("tiling") / "x4"))


def _png_pixels(data):
    return tf.io.decode_png(data).numpy()


def test_export_has_tiled_signatures_that_match_the_library_call(exported_x4):
    model, path = exported_x4
    loaded, metadata = export.load_exported(path)
    assert metadata["tiled_modes"] == ["translate", "shift", "sample"]
    assert {"translate_bytes_tiled", "shift_bytes_tiled", "sample_bytes_tiled"} <= set(loaded.signatures)
    assert "classify_bytes_tiled" not in loaded.signatures
    pixels = np.random.RandomState(0).randint(0, 256, (45, 70, 3)).astype(np.uint8)
    data = tf.io.encode_png(pixels)
    expected = transforms.to_uint8(model.translate(tf.cast(pixels[None], tf.float32) / 127.5 - 1.0, tile=16,
                                                   overlap=4))[0].numpy()
    for name in ("translate_bytes_tiled", "serving_default_tiled"):
        out = loaded.signatures[name](images=tf.stack([data, data]), tile=tf.constant(16), overlap=tf.constant(4))
        for png in out["images"].numpy():
            got = _png_pixels(png)
            assert got.shape == (180, 280, 3)
            assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    sampled = loaded.signatures["sample_bytes_tiled"](images=tf.stack([data]), num_samples=tf.constant(2),
                                                      tile=tf.constant(16), overlap=tf.constant(4))["images"]
    assert sampled.shape == (1, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="overlap must be at most half the tile"):
        loaded.signatures["translate_bytes_tiled"](images=tf.stack([data]), tile=tf.constant(16),
                                                   overlap=tf.constant(9))


def test_export_without_tiled_signatures(tmp_path):
    model = ConvNet(image_size=32)
    loaded, metadata = export.load_exported(export.export_for_serving(model, str(tmp_path), tiled=False))
    assert "tiled_modes" not in metadata and metadata["modes"] == list(model.translation_modes())
    assert not [name for name in loaded.signatures if name.endswith("_tiled")]


def test_translate_cli_upscales_a_1000x750_jpeg_x4_with_tiles(exported_x4, tmp_path, capsys):
    model, path = exported_x4
    rng = np.random.RandomState(1)
    smooth = tf.image.resize(rng.uniform(0, 255, (1, 75, 100, 3)), [750, 1000]).numpy()[0].astype(np.uint8)
    source = tmp_path / "photo.jpg"
    source.write_bytes(tf.io.encode_jpeg(smooth, quality=95).numpy())
    target = tmp_path / "photo_x4.png"
    assert translate_cli.main(["--model", path, "--input", str(source), "--output", str(target),
                               "--tile", "128", "--overlap", "16"]) == 0
    got = _png_pixels(target.read_bytes())
    assert got.shape == (3000, 4000, 3)
    decoded = transforms.decode_image(source.read_bytes(), channels=3)[None]
    expected = transforms.to_uint8(model.translate(decoded, tile=128, overlap=16))[0].numpy()
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("flags, message", [
    (["--tile", "31"], "error: --tile 31 --overlap 7: `tile` must be a multiple of the model's size_multiple=2"),
    (["--tile", "32", "--overlap", "20"], "error: --tile 32 --overlap 20: `overlap` must be at most half the tile"),
    (["--tile", "-4"], "error: --tile -4 --overlap 0: `tile` must be a non-negative integer"),
])
def test_translate_cli_bad_tile_is_one_error_line(exported_x4, tmp_path, capsys, flags, message):
    _, path = exported_x4
    source = tmp_path / "in.png"
    source.write_bytes(tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)).numpy())
    assert translate_cli.main(["--model", path, "--input", str(source), "--output", str(tmp_path / "o.png"),
                               *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    assert not (tmp_path / "o.png").exists()
