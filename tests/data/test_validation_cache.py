"""The on-disk validation cache: an unchanged folder is not decoded again; any change is validated again."""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from data_test_utils import random_image, small_cfg, write_png
from i2i_keras.data import files, make_dataset, validation_cache
from i2i_keras.errors import DataError

N = 20


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(validation_cache.ENV_DIR, str(root))
    monkeypatch.delenv(validation_cache.ENV_SWITCH, raising=False)
    # Small lists use the disk cache too (the production threshold is 200 images).
    monkeypatch.setattr(files, "DISK_CACHE_MIN_IMAGES", 16)
    return root


@pytest.fixture
def decodes(monkeypatch):
    """Counts full decodes (`check_image_bytes` calls) by path; each call also empties the process's shape cache,
    as a new run (a new process) starts with it empty."""
    seen = []
    real = files.check_image_bytes

    def counting(path, data, max_pixels=files.DEFAULT_MAX_PIXELS):
        seen.append(path)
        return real(path, data, max_pixels)

    monkeypatch.setattr(files, "check_image_bytes", counting)

    def run(paths, **kwargs):
        files._SHAPE_CACHE.clear()
        seen.clear()
        shapes = files.inspect_images(paths, **kwargs)
        return shapes, list(seen)

    run.seen = seen
    return run


def _folder(root, n=N):
    paths = []
    for i in range(n):
        paths.append(write_png(root / "imgs" / f"{i:03d}.png", random_image(8 + i % 3, 10, seed=i)))
    return paths


def _cache_files(cache_root):
    folder = cache_root / "validation"
    return sorted(p for p in os.listdir(folder) if p.endswith(".json")) if folder.exists() else []


def test_second_run_decodes_nothing_and_cache_lives_outside_the_data(tmp_path, cache_root, decodes):
    paths = _folder(tmp_path / "data")
    first, decoded = decodes(paths)
    assert sorted(decoded) == sorted(paths)
    assert first == [(8 + i % 3, 10, 3) for i in range(N)]
    second, decoded = decodes(paths)
    assert decoded == [] and second == first
    assert len(_cache_files(cache_root)) == 1
    assert sorted(os.listdir(tmp_path / "data" / "imgs")) == [f"{i:03d}.png" for i in range(N)]
    doc = json.loads((cache_root / "validation" / _cache_files(cache_root)[0]).read_text())
    assert doc["folder"] == str(tmp_path / "data" / "imgs")
    assert sorted(doc["entries"]) == [f"{i:03d}.png" for i in range(N)]


def test_changed_file_is_validated_again_and_corruption_is_caught(tmp_path, cache_root, decodes):
    paths = _folder(tmp_path / "data")
    decodes(paths)
    # Same size, other bytes, a new mtime: a truncated PNG padded back to its length.
    victim = paths[7]
    data = open(victim, "rb").read()
    with open(victim, "wb") as f:
        f.write(data[: len(data) // 2] + b"\0" * (len(data) - len(data) // 2))
    os.utime(victim, ns=(os.stat(victim).st_atime_ns, os.stat(victim).st_mtime_ns + 10**9))
    with pytest.raises(DataError) as e:
        decodes(paths)
    assert e.value.code == "corrupt" and victim in str(e.value)
    # Errors are never cached: the next run reports the same file again.
    with pytest.raises(DataError, match="007.png"):
        decodes(paths)


def test_touched_file_alone_is_decoded_again(tmp_path, cache_root, decodes):
    paths = _folder(tmp_path / "data")
    decodes(paths)
    stat = os.stat(paths[3])
    os.utime(paths[3], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    _, decoded = decodes(paths)
    assert decoded == [paths[3]]
    _, decoded = decodes(paths + [write_png(tmp_path / "data" / "imgs" / "new.png", random_image(8, 8, seed=99))])
    assert decoded == [str(tmp_path / "data" / "imgs" / "new.png")]


def test_remote_file_system_without_mtime_is_keyed_by_content(cache_root, decodes):
    root = "ram://validation_cache_test/imgs"
    tf.io.gfile.makedirs(root)
    paths = []
    for i in range(N):
        paths.append(f"{root}/{i:03d}.png")
        tf.io.write_file(paths[-1], tf.io.encode_png(random_image(8, 8, seed=i)))
    assert tf.io.gfile.stat(paths[0]).mtime_nsec == 0  # what makes size + mtime insufficient here
    decodes(paths)
    _, decoded = decodes(paths)
    assert decoded == []
    # Rewritten with the same size: only the content tells it apart.
    size = tf.io.gfile.stat(paths[5]).length
    tf.io.gfile.remove(paths[5])  # ram:// appends when a file is opened for writing again
    tf.io.write_file(paths[5], b"x" * size)
    assert tf.io.gfile.stat(paths[5]).length == size
    with pytest.raises(DataError) as e:
        decodes(paths)
    assert e.value.code == "not_an_image" and paths[5] in str(e.value)


def test_cached_shape_is_checked_against_a_lower_pixel_limit(tmp_path, cache_root, decodes):
    paths = _folder(tmp_path / "data")
    decodes(paths)
    with pytest.raises(DataError) as e:
        decodes(paths, max_pixels=50)
    assert e.value.code == "too_many_pixels"


def test_malformed_cache_file_is_ignored_and_replaced(tmp_path, cache_root, decodes):
    paths = _folder(tmp_path / "data")
    decodes(paths)
    cache_file = cache_root / "validation" / _cache_files(cache_root)[0]
    doc = json.loads(cache_file.read_text())
    doc["entries"]["000.png"][2] = 999  # edited by hand: the digest no longer matches
    cache_file.write_text(json.dumps(doc))
    shapes, decoded = decodes(paths)
    assert len(decoded) == N and shapes[0] == (8, 10, 3)
    cache_file.write_text("{not json")
    _, decoded = decodes(paths)
    assert len(decoded) == N
    _, decoded = decodes(paths)
    assert decoded == []


def test_switched_off_or_unwritable_cache_still_validates(tmp_path, cache_root, decodes, monkeypatch, caplog):
    paths = _folder(tmp_path / "data")
    monkeypatch.setenv(validation_cache.ENV_SWITCH, "0")
    decodes(paths)
    _, decoded = decodes(paths)
    assert len(decoded) == N and _cache_files(cache_root) == []
    monkeypatch.delenv(validation_cache.ENV_SWITCH)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(validation_cache.ENV_DIR, str(blocker))
    with caplog.at_level(logging.WARNING, logger=validation_cache.__name__):
        shapes, decoded = decodes(paths)
    assert len(decoded) == N and len(shapes) == N
    assert "Cannot write the validation cache" in caplog.text


def test_progress_line_on_stderr_for_large_lists(tmp_path, cache_root, decodes, monkeypatch, capsys):
    paths = _folder(tmp_path / "data")
    monkeypatch.setattr(files, "PROGRESS_MIN_IMAGES", 16)
    decodes(paths)
    err = capsys.readouterr().err
    assert f"validating {N} images in {tmp_path / 'data' / 'imgs'}: {N}/{N}" in err


def test_folder_reader_uses_the_cache(tmp_path, cache_root, decodes):
    paths = _folder(tmp_path / "data")
    folder = str(tmp_path / "data" / "imgs")
    cfg = small_cfg(load_size=8, crop_size=8)
    files._SHAPE_CACHE.clear()
    make_dataset(folder, "single", cfg, 2)
    assert len(_cache_files(cache_root)) == 1
    files._SHAPE_CACHE.clear()
    decodes.seen.clear()
    batch = next(iter(make_dataset(folder, "single", cfg, 2)))
    assert decodes.seen == []
    assert np.asarray(next(iter(batch.values()))).shape[0] == 2
    assert sorted(files.list_images(folder)) == sorted(paths)


def test_common_folder_of_urls_stops_at_a_whole_name():
    assert validation_cache.common_folder(["ram://d/ab/1.png", "ram://d/ac/2.png"]) == "ram://d"
    assert validation_cache.common_folder(["ram://d/a/1.png", "ram://d/a/b/2.png"]) == "ram://d/a"
