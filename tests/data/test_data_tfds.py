"""TFDS specs: the error paths, and the mapping on a tiny data set built locally (nothing is downloaded)."""

import os
import sys

import numpy as np
import pytest

from data_test_utils import assert_batches_equal
from data_test_utils import small_cfg
from data_test_utils import take
from i2i_keras.data import DataError
from i2i_keras.data import make_dataset

tfds = pytest.importorskip("tensorflow_datasets")


class TinyI2iTestSet(tfds.core.GeneratorBasedBuilder):
    """Three splits of 10x10 images: trainA, trainB (unpaired) and train (with a 3-class label)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = {
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(num_classes=3),
        }
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

    def _split_generators(self, dl_manager):
        return {"trainA": self._generate_examples(0), "trainB": self._generate_examples(1),
                "train": self._generate_examples(2)}

    def _generate_examples(self, split):
        for i in range(5):
            image = np.full((10, 10 + split, 3), 40 * i + split, np.uint8)
            yield f"{split}_{i}", {"image": image, "label": (i + split) % 3}


@pytest.fixture
def tfds_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    return str(tmp_path)


def test_tfds_errors_are_clear(tfds_dir):
    with pytest.raises(DataError, match=r"^tfds:no_such_dataset_xyz: unknown TFDS data set"):
        make_dataset("tfds:no_such_dataset_xyz", "single", small_cfg(), 1)
    with pytest.raises(DataError, match=r"^tfds:mnist: TFDS data set is not prepared in .*never downloads"):
        make_dataset("tfds:mnist", "single", small_cfg(), 1)
    assert not os.path.exists(os.path.join(tfds_dir, "downloads"))


def test_tfds_missing_package_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ImportError, match="pip install tensorflow-datasets"):
        make_dataset("tfds:mnist", "single", small_cfg(), 1)


def test_tfds_local_data_set_maps_to_batches(tfds_dir):
    TinyI2iTestSet(data_dir=tfds_dir).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False)
    )
    spec = "tfds:tiny_i2i_test_set"
    unpaired = take(make_dataset(spec, "unpaired", small_cfg(preprocess="none", flip=False), 5, training=False), 1)[0]
    values = 40 * np.arange(5) / 127.5 - 1  # image i of split s is filled with 40 * i + s
    np.testing.assert_allclose(np.sort(unpaired["domain_a"][:, 0, 0, 0]), values, atol=1e-6)
    np.testing.assert_allclose(np.sort(unpaired["domain_b"][:, 0, 0, 0]), values + 1 / 127.5, atol=1e-6)
    multi = take(make_dataset(spec, "multi_domain", small_cfg(), 4), 1)[0]
    assert multi["image"].shape == (4, 8, 8, 3) and multi["label"].shape == (4, 3)
    np.testing.assert_array_equal(multi["label"].sum(1), 1)
    cfg = small_cfg(scale=2)
    full = take(make_dataset(spec, "sr", cfg, 2, seed=4), 6)
    assert full[0]["source"].shape == (2, 4, 4, 3) and full[0]["target"].shape == (2, 8, 8, 3)
    head = take(make_dataset(spec, "sr", cfg, 2, seed=4), 2)
    resumed = head + take(make_dataset(spec, "sr", cfg, 2, seed=4, skip_batches=2), 4)
    assert_batches_equal(full, resumed)
