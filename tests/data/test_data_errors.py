import csv
import os

import numpy as np
import pytest

from data_test_utils import random_image
from data_test_utils import small_cfg
from data_test_utils import write_png
from i2i_keras.data import DataError
from i2i_keras.data import inspect_image
from i2i_keras.data import list_images
from i2i_keras.data import make_dataset
from i2i_keras.data import schema


def _raises(path, reason, fn, *args, **kwargs):
    """Calls fn, expecting a one-line DataError "<path>: <reason...>" naming `path`."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path) + ": "), message
    assert reason in message, message
    assert info.value.path == str(path)
    return message


def _good_folder(root, n=3, shape=(8, 16)):
    for i in range(n):
        write_png(os.path.join(root, f"ok{i}.png"), random_image(*shape, seed=i))
    return str(root)


def test_data_error_is_a_value_error_with_one_line():
    error = DataError("/x/y.png", "bad\nthing   here")
    assert isinstance(error, ValueError)
    assert str(error) == "/x/y.png: bad thing here"


def test_zero_byte_file(tmp_path):
    root = _good_folder(tmp_path / "d")
    bad = tmp_path / "d" / "zero.png"
    bad.write_bytes(b"")
    _raises(bad, "empty file (0 bytes)", make_dataset, root, "paired", small_cfg(), 1)


def test_not_an_image(tmp_path):
    root = _good_folder(tmp_path / "d")
    bad = tmp_path / "d" / "notes.png"
    bad.write_text("just some text, not pixels")
    _raises(bad, "not an image", make_dataset, root, "single", small_cfg(), 1)


def test_corrupt_image(tmp_path):
    root = _good_folder(tmp_path / "d")
    bad = tmp_path / "d" / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    _raises(bad, "corrupt or truncated PNG image", make_dataset, root, "single", small_cfg(), 1)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_truncated_image(tmp_path, fmt):
    import tensorflow as tf

    root = _good_folder(tmp_path / "d")
    image = random_image(16, 16, seed=9)
    data = schema.encode_png(image) if fmt == "png" else tf.io.encode_jpeg(image).numpy()
    bad = tmp_path / "d" / f"cut.{fmt}"
    bad.write_bytes(data[: len(data) // 2])
    _raises(bad, f"corrupt or truncated {fmt.upper()} image", make_dataset, root, "single", small_cfg(), 1)


def test_tiff_is_rejected_clearly(tmp_path):
    root = _good_folder(tmp_path / "d")
    bad = tmp_path / "d" / "scan.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 32)
    _raises(bad, "TIFF is not supported", make_dataset, root, "single", small_cfg(), 1)
    renamed = tmp_path / "e" / "scan.png"
    os.makedirs(renamed.parent)
    renamed.write_bytes(b"II*\x00" + b"\x00" * 32)
    _raises(renamed, "TIFF is not supported", inspect_image, str(renamed))


def test_missing_partner(tmp_path):
    root = tmp_path / "pairs"
    for stem in ("a", "b"):
        write_png(root / "A" / f"{stem}.png", random_image(8, 8))
    write_png(root / "B" / "a.png", random_image(8, 8))
    _raises(root / "A" / "b.png", "no partner with the same name", make_dataset, str(root), "paired", small_cfg(), 1)


def test_empty_and_missing_folders_and_globs(tmp_path):
    empty = tmp_path / "empty"
    os.makedirs(empty)
    (empty / "readme.txt").write_text("no images here")
    _raises(empty, "no images found", make_dataset, str(empty), "single", small_cfg(), 1)
    _raises(empty, "no images found", list_images, str(empty))
    missing = tmp_path / "nowhere"
    _raises(missing, "no such folder or file", make_dataset, str(missing), "single", small_cfg(), 1)
    _raises(missing, "folder not found", list_images, str(missing))
    pattern = str(tmp_path / "train-*.tfrecord")
    _raises(pattern, "no TFRecord files match", make_dataset, pattern, "single", small_cfg(), 1)


def test_empty_tfrecord_file(tmp_path):
    import tensorflow as tf

    path = tmp_path / "empty.tfrecord"
    with tf.io.TFRecordWriter(str(path)):
        pass
    _raises(path, "hold no records", make_dataset, str(path), "single", small_cfg(), 1)


def test_tfrecords_with_one_domain_only(tmp_path):
    import tensorflow as tf

    path = tmp_path / "a.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(schema.encode_example(image=schema.encode_png(random_image(8, 8)), domain=0))
    _raises(path, "no records with domain=1", make_dataset, str(path), "unpaired", small_cfg(), 1)


def test_image_smaller_than_crop(tmp_path):
    root = _good_folder(tmp_path / "d", shape=(12, 12))
    bad = write_png(tmp_path / "d" / "tiny.png", random_image(12, 6))
    cfg = small_cfg(preprocess="crop", crop_size=8)
    _raises(bad, "smaller than the crop 8x8", make_dataset, root, "single", cfg, 1)
    # Resize modes accept any size.
    make_dataset(root, "single", small_cfg(preprocess="resize_and_crop", crop_size=8), 1)


def test_ab_half_smaller_than_crop(tmp_path):
    root = _good_folder(tmp_path / "d", shape=(10, 20))
    bad = write_png(tmp_path / "d" / "narrow.png", random_image(10, 12))
    _raises(bad, "AB half is 10x6", make_dataset, root, "paired", small_cfg(preprocess="crop", crop_size=8), 1)


def test_odd_width_ab_image(tmp_path):
    root = _good_folder(tmp_path / "d")
    bad = write_png(tmp_path / "d" / "odd.png", random_image(8, 15))
    _raises(bad, "AB image width 15 is odd", make_dataset, root, "paired", small_cfg(), 1)


def test_none_needs_one_size(tmp_path):
    root = _good_folder(tmp_path / "d", shape=(8, 8))
    bad = write_png(tmp_path / "d" / "zz.png", random_image(9, 8))
    _raises(bad, "needs all images to share one size", make_dataset, root, "single", small_cfg(preprocess="none"), 1)


def test_unpaired_needs_two_domains(tmp_path, domains_folder):
    _raises(domains_folder, "cannot tell the two domains", make_dataset, domains_folder, "unpaired", small_cfg(), 1)
    cfg = small_cfg(domains=["cats", "bats"])
    _raises(os.path.join(domains_folder, "bats"), "domain folder not found", make_dataset, domains_folder, "unpaired",
            cfg, 1)


def test_missing_split_folder(tmp_path):
    root = tmp_path / "s"
    _good_folder(root / "train")
    _raises(root, "no folder for split 'test'", make_dataset, str(root), "single", small_cfg(), 1, split="test")


def test_attribute_csv_errors(tmp_path):
    root = tmp_path / "faces"
    write_png(root / "a.png", random_image(8, 8))
    csv_path = root / "attributes.csv"
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows([["file", "smiling"], ["a.png", "1"], ["gone.png", "-1"]])
    _raises(root / "gone.png", "listed in attributes.csv (line 3) but not found", make_dataset, str(root),
            "multi_domain", small_cfg(), 1)
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows([["file", "smiling"], ["a.png", "yes"]])
    _raises(csv_path, "line 2: value 'yes'", make_dataset, str(root), "multi_domain", small_cfg(), 1)
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows([["file", "smiling"], ["a.png", "1"]])
    _raises(csv_path, "no attribute column 'glasses'", make_dataset, str(root), "multi_domain",
            small_cfg(domains=["glasses"]), 1)


def test_unknown_embedded_set():
    _raises("embedded:nope", "no such embedded data set", make_dataset, "embedded:nope", "single", small_cfg(), 1)


def test_argument_errors(tmp_path):
    root = _good_folder(tmp_path / "d")
    with pytest.raises(ValueError, match="batch_size=0"):
        make_dataset(root, "single", small_cfg(), 0)
    with pytest.raises(ValueError, match="data_kind='photos'"):
        make_dataset(root, "photos", small_cfg(), 1)
    with pytest.raises(ValueError, match="data.crop_size=8, data.scale=3"):
        make_dataset(root, "sr", small_cfg(scale=3), 1)


def test_sr_pairs_with_wrong_scale(tmp_path):
    root = tmp_path / "sr"
    write_png(root / "A" / "x.png", random_image(6, 6))
    bad = write_png(root / "B" / "x.png", random_image(10, 12))
    _raises(bad, "expected data.scale=2 times", make_dataset, str(root), "sr", small_cfg(scale=2), 1)


def test_bad_file_is_reported_even_among_many(tmp_path):
    # More than 16 files: validation runs in parallel and must still name the bad file.
    root = _good_folder(tmp_path / "d", n=30)
    bad = tmp_path / "d" / "ok17.png"
    bad.write_bytes(b"")
    _raises(bad, "empty file", make_dataset, root, "single", small_cfg(), 1)
    np.testing.assert_equal(len(list_images(root)), 30)
