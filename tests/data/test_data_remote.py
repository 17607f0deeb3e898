"""Data on any file system: the same folders and TFRecords read from TensorFlow's in-memory ``ram://`` file system
give exactly the batches they give on local disk, and errors name the URL."""

import os
import uuid

import numpy as np
import pytest
import tensorflow as tf

from data_test_utils import assert_batches_equal
from data_test_utils import random_image
from data_test_utils import small_cfg
from data_test_utils import take
from i2i_keras.data import DataError
from i2i_keras.data import encode_example
from i2i_keras.data import encode_png
from i2i_keras.data import ingestion
from i2i_keras.data import kinds
from i2i_keras.data import make_dataset


def _layout(kind):
    """{relative path: bytes} of a small data set of `kind`."""
    files = {}
    for i in range(4):
        image = encode_png(random_image(10, 12, seed=i))
        if kind == "paired":
            files[f"train/{i}.png"] = encode_png(random_image(10, 24, seed=i))
        elif kind == "unpaired":
            files[f"trainA/{i}.png"] = image
            files[f"trainB/{i}.png"] = encode_png(random_image(10, 12, seed=10 + i))
        elif kind == "multi_domain":
            files[f"train/{i}.png"] = image
        else:
            files[f"train/{i}.png"] = image
    if kind == "multi_domain":
        files["train/attributes.csv"] = b"file,smile,hat\n0.png,1,0\n1.png,0,1\n2.png,1,1\n3.png,0,0\n"
    return files


def _write(root, files):
    for rel, data in files.items():
        path = root + "/" + rel
        tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(data)
    return root


@pytest.fixture
def ram_root():
    root = f"ram://i2i-test-{uuid.uuid4().hex}"
    yield root
    if tf.io.gfile.exists(root):
        tf.io.gfile.rmtree(root)


@pytest.mark.parametrize("kind", ["paired", "unpaired", "multi_domain", "single", "sr"])
def test_folders_on_ram_give_the_local_batches(kind, tmp_path, ram_root, monkeypatch):
    files = _layout(kind)
    local = _write(str(tmp_path / "data"), files)
    remote = _write(ram_root, files)
    monkeypatch.chdir(tmp_path)  # a URL mistaken for a local path would create ./ram: here
    cfg = small_cfg()
    expected = take(make_dataset(local, kind, cfg, 2, seed=3), 3)
    got = take(make_dataset(remote, kind, cfg, 2, seed=3), 3)
    assert_batches_equal(expected, got)
    # Resume reads the same stream position on any file system.
    assert_batches_equal(take(make_dataset(remote, kind, cfg, 2, seed=3, skip_batches=1), 2), expected[1:])
    assert sorted(kinds.get(kind).batch_keys) == sorted(got[0])
    assert not os.path.exists(tmp_path / "ram:")


def test_tfrecords_on_ram(ram_root):
    records = [encode_example(image=encode_png(random_image(8, 8, seed=i)), label=[i % 2, 1 - i % 2],
                              label_mode="onehot") for i in range(6)]
    tf.io.gfile.makedirs(ram_root + "/Split-train")
    with tf.io.TFRecordWriter(ram_root + "/Split-train/images-00000-of-00001.tfrecord.gz", "GZIP") as w:
        for r in records:
            w.write(r)
    batch = take(make_dataset(ram_root + "/Split-train/*", "multi_domain", small_cfg(), 3), 1)[0]
    assert batch["image"].shape == (3, 8, 8, 3) and batch["label"].shape == (3, 2)


def test_errors_name_the_url(ram_root):
    _write(ram_root, {"train/bad.png": b"not a png", "train/ok.png": encode_png(random_image(10, 10))})
    with pytest.raises(DataError, match=r"^ram://.*/train/bad\.png: not an image") as info:
        make_dataset(ram_root, "single", small_cfg(), 1)
    assert info.value.code == "not_an_image"
    with pytest.raises(DataError, match=r"no such folder or file") as info:
        make_dataset(ram_root + "/missing", "single", small_cfg(), 1)
    assert info.value.code == "bad_spec"


def test_ingestion_plans_a_folder_on_ram(ram_root):
    _write(ram_root, _layout("unpaired"))
    plan = ingestion.plan_folder(ram_root, kinds.get("unpaired"), eval_fraction=0.5)
    assert plan.layout == "two_domains" and plan.groups == ["domain_a", "domain_b"]
    assert len(plan.candidates) == 8 and {c.domain for c in plan.candidates} == {0, 1}
    assert all(c.paths[0].startswith(ram_root + "/train") for c in plan.candidates)
