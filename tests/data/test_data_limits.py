"""Image headers read without decoding (`files.image_header`), the pixel limit checked before any decode
(`max_pixels`, ``data.max_pixels``), and image formats TensorFlow cannot decode refused by name, never skipped."""

import struct

import numpy as np
import pytest
import tensorflow as tf

from data_test_utils import random_image
from data_test_utils import small_cfg
from data_test_utils import write_png
from i2i_keras.data import DataError
from i2i_keras.data import files
from i2i_keras.data import make_dataset
from i2i_keras.data import schema
from tests.reliability import bad_inputs


def _decoded_size(data):
    shape = tf.io.decode_image(data, channels=0, expand_animations=False).shape
    return int(shape[1]), int(shape[0])


def _with_exif(jpeg: bytes, size: int) -> bytes:
    """`jpeg` with an APP1 segment of `size` bytes right after SOI (camera files put EXIF and thumbnails there)."""
    body = b"Exif\x00\x00" + b"\xff" * (size - 6)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def _top_down(bmp: bytes) -> bytes:
    height = struct.unpack("<i", bmp[22:26])[0]
    return bmp[:22] + struct.pack("<i", -height) + bmp[26:]


@pytest.mark.parametrize("name", ["png_rgb", "png_gray16", "png_rgba", "jpeg", "jpeg_progressive", "jpeg_exif",
                                  "gif", "bmp", "bmp_top_down"])
def test_header_sizes_are_what_the_decoder_returns(name):
    rgb = random_image(23, 37, seed=1)
    data = {
        "png_rgb": lambda: schema.encode_png(rgb),
        "png_gray16": lambda: schema.encode_png(random_image(19, 7, channels=1, dtype=np.uint16)),
        "png_rgba": lambda: bad_inputs.png_bytes(random_image(5, 300, channels=4)),
        "jpeg": lambda: tf.io.encode_jpeg(rgb).numpy(),
        "jpeg_progressive": lambda: tf.io.encode_jpeg(rgb, progressive=True).numpy(),
        "jpeg_exif": lambda: _with_exif(tf.io.encode_jpeg(rgb).numpy(), 30000),
        "gif": lambda: bad_inputs.gif_bytes(screen=(9, 4)),
        "bmp": lambda: bad_inputs.bmp_bytes(13, 6),
        "bmp_top_down": lambda: _top_down(bad_inputs.bmp_bytes(13, 6)),
    }[name]()
    header = files.image_header(data)
    assert header is not None and header[0] == files.sniff(data[:16])
    assert header[1:] == _decoded_size(data)


def test_header_of_unknown_or_cut_short_bytes_is_none():
    jpeg = tf.io.encode_jpeg(random_image(8, 8)).numpy()
    for data in (b"", b"hello", bad_inputs.PNG_SIGNATURE, bad_inputs.PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR\x00",
                 jpeg[:20], b"GIF89a\x01", b"BM\x00", bad_inputs.webp_bytes(), bad_inputs.tiff_bytes()):
        assert files.image_header(data) is None, data
    assert files.image_header(bad_inputs.blank_png(40000, 30000, complete=False)) == ("PNG", 40000, 30000)
    assert files.image_header(bad_inputs.jpeg_header(40000, 20000)) == ("JPEG", 40000, 20000)
    # TensorFlow sizes a GIF by its frames, not by the logical screen.
    assert files.image_header(bad_inputs.gif_bytes(screen=(1, 1), frame=(40000, 40000))) == ("GIF", 40000, 40000)


def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    data = schema.encode_png(random_image(10, 20))
    assert files.check_image_bytes("x.png", data, max_pixels=200) == (10, 20, 3)
    with pytest.raises(DataError) as info:
        files.check_image_bytes("x.png", data, max_pixels=199)
    assert info.value.code == "too_many_pixels" and "image is 20x10 (200 pixels)" in str(info.value)
    assert files.check_image_bytes("x.png", data, max_pixels=0) == (10, 20, 3)  # 0: no limit

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded an image whose header is over the limit")

    monkeypatch.setattr(tf.io, "decode_image", no_decoding)
    for bomb in (bad_inputs.blank_png(8000, 8000), bad_inputs.jpeg_header(9000, 9000)):
        with pytest.raises(DataError) as info:
            files.check_image_bytes("bomb", bomb)
        assert info.value.code == "too_many_pixels"


def test_readers_take_the_limit_from_the_data_config(tmp_path):
    root = str(tmp_path / "d")
    for i in range(3):
        write_png(f"{root}/{i}.png", random_image(16, 16, seed=i))
    cfg = small_cfg()
    make_dataset(root, "single", cfg, 1)  # the default limit
    cfg.max_pixels = 255  # `data.max_pixels` (read with getattr until the config declares it)
    with pytest.raises(DataError) as info:
        make_dataset(root, "single", cfg, 1)
    assert info.value.code == "too_many_pixels" and info.value.path == f"{root}/0.png"
    assert "data.max_pixels" in str(info.value)
    cfg.max_pixels = 0
    make_dataset(root, "single", cfg, 1)
    # The shape cache of validated files does not let a file past a lower limit.
    with pytest.raises(DataError, match="too_many_pixels|more than the limit"):
        files.inspect_image(f"{root}/1.png", max_pixels=100)
    # Paired AB folders and SR pairs check it too.
    ab = str(tmp_path / "ab")
    write_png(f"{ab}/0.png", random_image(8, 16))
    cfg = small_cfg()
    cfg.max_pixels = 100
    with pytest.raises(DataError, match="more than the limit"):
        make_dataset(ab, "paired", cfg, 1)


@pytest.mark.parametrize("name, data, shown", [pytest.param(*p, id=p[0]) for p in [
    ("photo.webp", bad_inputs.webp_bytes(), "WebP"), ("photo.HEIC", bad_inputs.iso_media_bytes(b"heic"), "HEIC"),
    ("photo.avif", bad_inputs.iso_media_bytes(b"avif"), "AVIF"), ("scan.tiff", bad_inputs.tiff_bytes(), "TIFF"),
    # Bytes decide too: a WebP renamed .png is still WebP.
    ("renamed.png", bad_inputs.webp_bytes(), "WebP")]])
def test_undecodable_formats_are_errors_naming_the_file_and_the_supported_ones(tmp_path, name, data, shown):
    root = tmp_path / "d"
    for i in range(2):
        write_png(root / f"ok{i}.png", random_image(8, 8, seed=i))
    (root / name).write_bytes(data)
    with pytest.raises(DataError) as info:
        make_dataset(str(root), "single", small_cfg(), 1)
    assert info.value.code == "unsupported_format" and info.value.path == str(root / name)
    assert f"{shown} is not supported" in str(info.value)
    assert "supported formats: PNG, JPEG, BMP or GIF" in str(info.value)
    # Unpaired domain folders too: a .webp among trainB is not silently left out.
    unpaired = tmp_path / "u"
    for side in ("trainA", "trainB"):
        for i in range(2):
            write_png(unpaired / side / f"{i}.png", random_image(8, 8, seed=i))
    (unpaired / "trainB" / name).write_bytes(data)
    with pytest.raises(DataError) as info:
        make_dataset(str(unpaired), "unpaired", small_cfg(), 1)
    assert (info.value.code, info.value.path) == ("unsupported_format", str(unpaired / "trainB" / name))
