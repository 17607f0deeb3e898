"""SavedModel export: endpoints match `model.translate`, bytes endpoints keep sizes, metadata, versioning, CLI tools."""

import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import export
from i2i_keras.data import transforms
from i2i_keras.errors import RequestError, RunStateError
from i2i_keras.export import export_for_serving, load_exported
from i2i_keras.methods.base import TranslationMode
from i2i_keras.registry import get_method

TINY = {
    "pix2pix": dict(image_size=32, base_filters=8, num_downs=5, norm="instance", dropout=0.0, seed=0),
    "cyclegan": dict(image_size=32, base_filters=8, num_blocks=1, pool_size=0, seed=0),
}
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


def _png(height, width, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return tf.io.encode_png(rng.integers(0, 256, (height, width, channels), dtype=np.uint8)).numpy()


def _jpeg(height, width, seed=0):
    rng = np.random.default_rng(seed)
    return tf.io.encode_jpeg(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (model, base_dir, version_dir, loaded) for each tiny method, exported once for the module."""
    out = {}
    for name, kwargs in TINY.items():
        model = get_method(name)(**kwargs)
        base = str(tmp_path_factory.mktemp(f"export_{name}"))
        # Tiled signatures (tested in tests/test_tiling.py and the shared method suite) for one model only: they
        # roughly double an export's time.
        version_dir = export_for_serving(model, base, tiled=name == "pix2pix")
        out[name] = (model, base, version_dir, tf.saved_model.load(version_dir))
    return out


@pytest.mark.parametrize("name", sorted(TINY))
def test_signatures_per_mode_and_serving_default(exported, name):
    model, base, version_dir, loaded = exported[name]
    assert version_dir == os.path.join(base, "1")
    modes = list(model.translation_modes())
    expected = {m for mode in modes for m in (mode, mode + "_bytes")} | {"metadata", "serving_default"}
    tiled = load_exported(version_dir)[1].get("tiled_modes", [])   # image modes' tiled bytes signatures
    assert bool(tiled) == (name == "pix2pix")
    expected |= {mode + "_bytes_tiled" for mode in tiled} | ({"serving_default_tiled"} if modes[0] in tiled else set())
    assert set(loaded.signatures) == expected
    default = loaded.signatures["serving_default"]
    first = loaded.signatures[modes[0] + "_bytes"]
    assert default.structured_input_signature == first.structured_input_signature
    spec = default.structured_input_signature[1]["images"]
    assert spec.dtype == tf.string and spec.shape.as_list() == [None]
    png = _png(21, 30)
    np.testing.assert_array_equal(default(images=tf.constant([png]))["images"].numpy(),
                                  first(images=tf.constant([png]))["images"].numpy())


@pytest.mark.parametrize("name", sorted(TINY))
def test_float_endpoint_matches_translate(exported, name):
    model, _, _, loaded = exported[name]
    rng = np.random.default_rng(1)
    for shape in ((2, 32, 32, 3), (1, 37, 45, 3)):
        images = rng.uniform(-1, 1, shape).astype("float32")
        for mode in model.translation_modes():
            served = loaded.signatures[mode](images=tf.constant(images))["images"].numpy()
            expected = np.asarray(model.translate(images, mode=mode))
            assert served.shape == shape and served.dtype == np.float32
            np.testing.assert_allclose(served, expected, atol=1e-5)


@pytest.mark.parametrize("name", sorted(TINY))
def test_bytes_endpoint_odd_size_matches_translate(exported, name):
    model, _, _, loaded = exported[name]
    png = _png(37, 45, seed=2)  # not a multiple of any size_multiple: padded and cropped back inside the graph
    decoded = transforms.decode_image(png, channels=3)
    for mode in model.translation_modes():
        out = loaded.signatures[mode + "_bytes"](images=tf.constant([png]))["images"].numpy()
        assert out.shape == (1,) and out[0][:8] == b"\x89PNG\r\n\x1a\n"
        served = tf.io.decode_png(out[0]).numpy().astype(int)
        expected = transforms.to_uint8(model.translate(decoded[None], mode=mode))[0].numpy().astype(int)
        assert served.shape == (37, 45, 3)
        assert np.abs(served - expected).max() <= 1


def test_bytes_endpoint_batch_of_different_sizes_and_formats(exported):
    model, _, _, loaded = exported["cyclegan"]
    batch = [_png(37, 45, seed=3), _jpeg(20, 28, seed=4), _png(13, 9, channels=1, seed=5)]
    out = loaded.signatures["b2a_bytes"](images=tf.constant(batch))["images"].numpy()
    assert [tuple(tf.io.decode_png(x).shape) for x in out] == [(37, 45, 3), (20, 28, 3), (13, 9, 3)]
    # Each image is translated on its own: the same as sending it alone.
    alone = loaded.signatures["b2a_bytes"](images=tf.constant(batch[1:2]))["images"].numpy()[0]
    np.testing.assert_array_equal(tf.io.decode_png(out[1]).numpy(), tf.io.decode_png(alone).numpy())


@pytest.mark.parametrize("name", sorted(TINY))
def test_metadata_endpoint_json_and_loader_agree(exported, name):
    model, base, version_dir, loaded = exported[name]
    expected = model.metadata()
    if name != "pix2pix":  # exported without the tiled signatures (the fixture), so without their key
        expected = {k: v for k, v in expected.items() if k != "tiled_modes"}
    with open(os.path.join(version_dir, "assets.extra", "i2i_metadata.json")) as f:
        assert json.load(f) == expected
    outputs = loaded.signatures["metadata"]()
    assert json.loads(outputs["metadata_json"].numpy().decode()) == expected
    for key, value in expected.items():
        got = outputs[key].numpy()
        if isinstance(value, str):
            assert got.decode() == value
        elif isinstance(value, list) and value and isinstance(value[0], str):
            assert [v.decode() for v in got] == value
        else:
            np.testing.assert_allclose(got, value)
    assert loaded.metadata()["method"].numpy().decode() == model.method_name  # the endpoint as a method, too
    for path in (base, version_dir):
        reloaded, metadata = load_exported(path)
        assert metadata == expected and "serving_default" in reloaded.signatures


def test_versioning_never_overwrites_and_leaves_nothing_partial(exported, monkeypatch):
    model, base, _, _ = exported["cyclegan"]  # the module's export is version 1
    assert export.list_versions(base) == [1]
    assert export_for_serving(model, base, tiled=False) == os.path.join(base, "2")
    assert export.resolve_version_dir(base) == os.path.join(base, "2")
    with pytest.raises(RunStateError, match=re.escape(os.path.join(base, "1"))) as info:
        export_for_serving(model, base, version=1)
    assert info.value.code == "version_exists"

    class _CrashingArchive:
        def write_out(self, path, verbose=True):
            os.makedirs(os.path.join(path, "variables"))
            open(os.path.join(path, "saved_model.pb"), "wb").close()
            raise OSError("disk full")

    monkeypatch.setattr(export, "_build_archive", lambda *args: _CrashingArchive())
    with pytest.raises(OSError, match="disk full"):
        export_for_serving(model, base, tiled=False)
    with pytest.raises(OSError, match="disk full"):
        export_for_serving(model, base, version=7)
    assert sorted(os.listdir(base)) == ["1", "2"]  # no version 3 or 7, no temporary directory


def test_bad_arguments_raise_value_errors_naming_them(exported, tmp_path, monkeypatch):
    model = exported["cyclegan"][0]
    with pytest.raises(ValueError, match="model="):
        export_for_serving(object(), str(tmp_path))
    for version in (-1, "2", True, 1.5):
        with pytest.raises(ValueError, match="version="):
            export_for_serving(model, str(tmp_path), version=version)
    with pytest.raises(ValueError, match="base_dir="):
        export_for_serving(model, "")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunStateError, match="base_dir=") as info:  # run state, not a defect of the caller
        export_for_serving(model, str(tmp_path / "file"))
    assert info.value.code == "not_a_directory"
    identity = TranslationMode(lambda images: images)
    for modes, pattern in (({}, "translation_modes"), ({"bad name": identity}, "mode="),
                           ({"metadata": identity}, "mode="),
                           ({"x": identity, "x_bytes": identity}, "mode="),
                           ({"x": TranslationMode(lambda images, k: images, {"k": "int32"})}, r"extra_inputs\['k'\]"),
                           ({"x": TranslationMode(lambda images, images2: images,
                                                  {"images": tf.TensorSpec([], tf.int32)})}, "extra_inputs key=")):
        monkeypatch.setattr(model, "translation_modes", lambda modes=modes: modes)
        with pytest.raises(ValueError, match=pattern):
            export_for_serving(model, str(tmp_path / "never"))
    assert not (tmp_path / "never").exists()


def test_extra_inputs_per_example_and_shared(tmp_path, monkeypatch):
    model = get_method("cyclegan")(**TINY["cyclegan"])

    def scaled(images, gain, offset):  # gain: one value per image; offset: one value for the whole request
        return tf.clip_by_value(images * gain[:, None, None, None] + offset, -1.0, 1.0)

    extras = {"gain": tf.TensorSpec([None], tf.float32), "offset": tf.TensorSpec([], tf.float32)}
    monkeypatch.setattr(model, "translation_modes", lambda: {"scale": TranslationMode(scaled, extras)})
    loaded, metadata = load_exported(export_for_serving(model, str(tmp_path), tiled=False))
    assert metadata["modes"] == ["scale"]
    for key in ("scale", "scale_bytes", "serving_default"):
        assert set(loaded.signatures[key].structured_input_signature[1]) == {"images", "gain", "offset"}
    images = np.full((2, 5, 6, 3), 0.5, np.float32)
    out = loaded.signatures["scale"](images=tf.constant(images), gain=tf.constant([1.0, -1.0]),
                                     offset=tf.constant(0.25))["images"].numpy()
    np.testing.assert_allclose(out[:, 0, 0, 0], [0.75, -0.25], atol=1e-6)
    gray = tf.io.encode_png(np.full((5, 7, 3), 191, np.uint8)).numpy()  # 191 -> ~0.5
    out = loaded.signatures["scale_bytes"](images=tf.constant([gray, gray]), gain=tf.constant([1.0, -1.0]),
                                           offset=tf.constant(0.25))["images"].numpy()
    values = [tf.io.decode_png(x).numpy() for x in out]
    assert values[0].shape == (5, 7, 3)
    expected = [transforms.to_uint8(scaled(transforms.decode_image(gray)[None], tf.constant([g]), 0.25))[0]
                for g in (1.0, -1.0)]
    for got, want in zip(values, expected):
        assert np.abs(got.astype(int) - want.numpy().astype(int)).max() <= 1


def test_load_exported_paths_and_errors(exported, tmp_path):
    model, _, version_dir, _ = exported["pix2pix"]
    # Without the JSON asset (e.g. an export copied without assets.extra) the metadata signature is used.
    copy = tmp_path / "copy" / "5"
    shutil.copytree(version_dir, copy)
    os.remove(copy / "assets.extra" / "i2i_metadata.json")
    _, metadata = load_exported(str(tmp_path / "copy"))
    assert metadata == model.metadata()
    with pytest.raises(RequestError, match="missing") as info:
        load_exported(str(tmp_path / "missing"))
    assert info.value.code == "model_not_found"
    (tmp_path / "empty" / "1").mkdir(parents=True)
    with pytest.raises(RequestError, match="not a SavedModel") as info:
        load_exported(str(tmp_path / "empty"))
    assert info.value.code == "not_a_saved_model"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RequestError, match="it is a file"):
        load_exported(str(tmp_path / "afile"))


def test_export_to_a_url_versions_loads_and_cleans_up(exported, tmp_path, monkeypatch):
    """A model base path on a non-local file system (TensorFlow's in-memory ram://): the version is published by
    copying (ram:// cannot rename directories), loads back with the same outputs, and nothing lands on local disk."""
    from i2i_keras import storage

    model = exported["pix2pix"][0]
    monkeypatch.chdir(tmp_path)
    root = f"ram://i2i-export-{uuid.uuid4().hex[:8]}"
    base = f"{root}/models/x"
    try:
        assert export_for_serving(model, base, tiled=False) == f"{base}/1"
        assert export_for_serving(model, base, tiled=False) == f"{base}/2"
        assert export.list_versions(base) == [1, 2]
        assert export.resolve_version_dir(base) == f"{base}/2"
        assert storage.listdir(base) == ["1", "2"]  # no temporary directory left
        _, files = storage.walk(f"{base}/2")
        assert {"saved_model.pb", "variables/variables.index", "assets.extra/i2i_metadata.json"} <= set(files)
        loaded, metadata = load_exported(base)
        # Exported without the tiled signatures, so without their metadata key.
        assert metadata == {k: v for k, v in model.metadata().items() if k != "tiled_modes"}
        images = np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
        for mode in model.translation_modes():
            np.testing.assert_allclose(loaded.signatures[mode](images=tf.constant(images))["images"].numpy(),
                                       np.asarray(model.translate(images, mode=mode)), atol=1e-5)
        with pytest.raises(RunStateError) as info:
            export_for_serving(model, base, version=2)
        assert info.value.code == "version_exists"

        class _CrashingArchive:
            def write_out(self, path, verbose=True):
                tf.io.gfile.makedirs(f"{path}/variables")
                with tf.io.gfile.GFile(f"{path}/saved_model.pb", "wb") as f:
                    f.write(b"partial")
                raise OSError("disk full")

        monkeypatch.setattr(export, "_build_archive", lambda *args: _CrashingArchive())
        with pytest.raises(OSError, match="disk full"):
            export_for_serving(model, base, tiled=False)
        assert storage.listdir(base) == ["1", "2"]
        assert os.listdir(tmp_path) == []
    finally:
        storage.rmtree(root)


def test_saved_model_cli_show_and_run(exported, tmp_path):
    # TF 2.16's saved_model_cli evaluates --input_exprs as literals only (np.zeros(...) is refused), so the float
    # input goes in as a .npy file through --inputs.
    _, _, version_dir, _ = exported["cyclegan"]
    np.save(tmp_path / "zeros.npy", np.zeros((1, 32, 32, 3), np.float32))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    commands = {
        "show": [SAVED_MODEL_CLI, "show", "--dir", version_dir, "--all"],
        "run": [SAVED_MODEL_CLI, "run", "--dir", version_dir, "--tag_set", "serve", "--signature_def", "b2a",
                "--inputs", f"images={tmp_path / 'zeros.npy'}"],
    }
    # Both in parallel: each pays TensorFlow's start-up.
    procs = {k: subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k, c in commands.items()}
    results = {k: (p.communicate(timeout=180), p.returncode) for k, p in procs.items()}
    (show_out, show_err), show_rc = results["show"]
    assert show_rc == 0, show_err[-2000:]
    for key in ("a2b", "a2b_bytes", "b2a", "b2a_bytes", "metadata", "serving_default"):
        assert f"signature_def['{key}']" in show_out
    assert "inputs['images']" in show_out
    assert "DT_STRING" in show_out and "(-1, -1, -1, 3)" in show_out
    (run_out, run_err), run_rc = results["run"]
    assert run_rc == 0, run_err[-2000:]
    assert "Result for output key images" in run_out


def test_b2a_takes_domain_b_channels_gray_to_colour(tmp_path):
    """A gray -> colour CycleGAN: a2b takes 1-channel images, b2a 3-channel ones, in Python and in both signatures."""
    model = get_method("cyclegan")(image_size=32, in_channels=1, out_channels=3, base_filters=8, num_blocks=1,
                                   pool_size=0, loss_weights={"g_identity": 0.0}, seed=0)
    gray = np.random.default_rng(0).uniform(-1, 1, (1, 12, 16, 1)).astype("float32")
    colour = model.translate(gray, mode="a2b")
    assert colour.shape == (1, 12, 16, 3)
    assert model.translate(colour, mode="b2a").shape == (1, 12, 16, 1)
    with pytest.raises(ValueError, match="mode 'b2a'"):
        model.translate(gray, mode="b2a")
    loaded, _ = load_exported(export_for_serving(model, str(tmp_path), tiled=False))
    assert loaded.signatures["b2a"].structured_input_signature[1]["images"].shape.as_list() == [None, None, None, 3]
    np.testing.assert_allclose(loaded.signatures["b2a"](images=tf.constant(colour))["images"].numpy(),
                               model.translate(colour, mode="b2a"), atol=1e-5)
    png = tf.io.encode_png(np.full((6, 5, 3), 200, np.uint8)).numpy()
    out = loaded.signatures["b2a_bytes"](images=tf.constant([png]))["images"].numpy()[0]
    assert tf.io.decode_png(out).shape == (6, 5, 1)



@pytest.mark.parametrize("inference_norm", ["batch", "moving"])
def test_inference_norm_is_exported_and_every_signature_follows_it(tmp_path, inference_norm):
    """`model.inference_norm: batch` (pix2pix's paper config: the reference test script runs batch norm in train
    mode): the float signature normalises with the statistics of the request's batch, equal to the generator's
    training-mode forward pass, and the bytes signature, which translates one image at a time, with each image's
    own (the reference script's batch of one). The moving averages are neither used nor changed. `moving` keeps
    Keras's inference behaviour."""
    model = get_method("pix2pix")(image_size=32, base_filters=8, num_downs=5, norm="batch", dropout=0.0, seed=0,
                                  inference_norm=inference_norm)
    # Moving averages far from any batch's statistics, so the two behaviours give clearly different images.
    for layer in model.generator.layers:
        if hasattr(layer, "moving_mean"):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 3.0, "float32"))
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, 9.0, "float32"))
    averages = [v.numpy().copy() for v in model.generator.non_trainable_variables]

    def batch_statistics_forward(x):
        out = np.asarray(model.generator(x, training=True))  # PyTorch's train mode; it updates the averages
        for v, before in zip(model.generator.non_trainable_variables, averages):
            v.assign(before)
        return out

    images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    batch_stats = batch_statistics_forward(images)
    path = export_for_serving(model, str(tmp_path / "export"), tiled=False)
    loaded, metadata = load_exported(path)
    assert metadata["inference_norm"] == inference_norm
    served = loaded.signatures["translate"](images=tf.constant(images))["images"].numpy()
    if inference_norm == "batch":
        np.testing.assert_allclose(served, batch_stats, atol=1e-5)
    else:
        np.testing.assert_allclose(served, np.asarray(model.generator(images, training=False)), atol=1e-5)
        assert np.abs(served - batch_stats).max() > 0.05  # the averages were really used
    for v, before in zip(model.generator.non_trainable_variables, averages):
        np.testing.assert_array_equal(v.numpy(), before)  # serving changed no variable
    png = _png(32, 32, seed=3)
    decoded = transforms.decode_image(png, channels=3)[None]
    alone = batch_statistics_forward(decoded) if inference_norm == "batch" else model.generator(decoded)
    out = loaded.signatures["translate_bytes"](images=tf.constant([png]))["images"].numpy()[0]
    served = tf.io.decode_png(out).numpy().astype(int)
    assert np.abs(served - transforms.to_uint8(alone)[0].numpy().astype(int)).max() <= 1
