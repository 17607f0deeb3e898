"""`ServedModel`: the export loader shared by the evaluators and the translate CLI, and its error codes."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.data import encode_png
from i2i_keras.errors import RequestError
from i2i_keras.evaluation.exported import ServedModel
from i2i_keras.evaluation.exported import output_scale_of
from i2i_keras.evaluation.exported import resolve_export
from tests.evaluation import toys
from tests.helpers import save_saved_model_without_bytes_signatures


@pytest.fixture(scope="module")
def two_modes(tmp_path_factory):
    base = tmp_path_factory.mktemp("served")
    label = tf.TensorSpec([None], tf.int32, name="target_domain")
    path = toys.export_toy(str(base / "1"), "multi_domain", lambda image: 255 - image, mode="invert",
                           more_modes={"shift": (lambda image, target: image // 2 + tf.cast(target, tf.uint8), label)})
    return str(base), path


def test_modes_signatures_and_calls(two_modes):
    base, version_dir = two_modes
    model = ServedModel(base)  # a base path resolves to its highest version
    assert model.version_dir == version_dir and model.modes == ["invert", "shift"] and model.mode == "invert"
    assert model.data_kind == "multi_domain"
    assert (model.in_channels, model.out_channels, model.output_scale) == (3, 3, 1)
    assert model.extra_specs("invert") == {} and list(model.extra_specs("shift")) == ["target_domain"]
    assert not model.returns_several("shift")
    image = toys.smooth_images(1, size=12)[0]
    (out,) = model.translate([encode_png(image)])
    np.testing.assert_array_equal(tf.io.decode_png(out).numpy(), 255 - image)
    assert model.use_label_mode(3, "vector") == ("target_domain", "index") and model.mode == "shift"
    (out,) = model.translate([encode_png(image)], np.array([7]), "target_domain")
    np.testing.assert_array_equal(tf.io.decode_png(out).numpy(), image // 2 + 7)
    # Batches of batch_size: 5 images in batches of 2.
    model = ServedModel(version_dir, batch_size=2)
    assert len(model.translate([encode_png(image)] * 5)) == 5


def test_first_mode_must_take_images_only(two_modes, tmp_path):
    model = ServedModel(two_modes[1])
    assert model.use_first_mode() == "invert"
    label = tf.TensorSpec([None], tf.int32, name="target_domain")
    needs = toys.export_toy(str(tmp_path / "m"), "paired", lambda image, t: image, extra=label)
    with pytest.raises(RequestError, match=r"takes \['target_domain'\] besides 'images'") as info:
        ServedModel(needs).use_first_mode()
    assert info.value.code == "mode_needs_inputs"
    with pytest.raises(RequestError, match="no translation mode takes a target label") as info:
        no_label = toys.export_toy(str(tmp_path / "n"), "multi_domain", lambda image: image)
        ServedModel(no_label).use_label_mode(3, "index")
    assert info.value.code == "no_label_mode"


def test_error_codes(two_modes, tmp_path):
    cases = []
    missing = str(tmp_path / "nope")
    cases.append((missing, "model_not_found"))
    (tmp_path / "junk" / "3").mkdir(parents=True)
    (tmp_path / "junk" / "3" / "readme.txt").write_text("x")
    cases.append((str(tmp_path / "junk"), "not_a_saved_model"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "saved_model.pb").write_bytes(b"not a protobuf")
    cases.append((str(tmp_path / "broken"), "unloadable_model"))

    save_saved_model_without_bytes_signatures(tmp_path / "bare")
    cases.append((str(tmp_path / "bare"), "no_bytes_signature"))
    for path, code in cases:
        with pytest.raises(RequestError) as info:
            ServedModel(path)
        assert info.value.code == code and str(info.value).startswith(path), (code, str(info.value))
    with pytest.raises(RequestError) as info:
        resolve_export(missing)
    assert info.value.code == "model_not_found" and str(info.value).startswith(missing + ": ")

    model = ServedModel(two_modes[1])
    with pytest.raises(RequestError, match=r"c2d: unknown mode; available: invert, shift") as info:
        model.use("c2d")
    assert info.value.code == "unknown_mode"
    with pytest.raises(RequestError, match="rejected the request") as info:
        model.translate([b"this is not an image"])
    assert info.value.code == "translation_failed"


def test_output_scale_metadata():
    assert output_scale_of({}) == 1 and output_scale_of({"output_scale": None}) == 1
    assert output_scale_of({"output_scale": 4}) == 4 and output_scale_of({"output_scale": 2.0}) == 2
    for bad in ("2x", 0, -2, 1.5, True):
        with pytest.raises(RequestError, match="output_scale must be a positive integer") as info:
            output_scale_of({"output_scale": bad})
        assert info.value.code == "bad_metadata"


def test_metadata_is_read_from_the_asset(two_modes):
    with open(os.path.join(two_modes[1], "assets.extra", "i2i_metadata.json")) as f:
        assert ServedModel(two_modes[1]).metadata == json.load(f)
