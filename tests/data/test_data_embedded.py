import os

import numpy as np

from data_test_utils import small_cfg
from data_test_utils import take
from i2i_keras.data import default_spec
from i2i_keras.data import embedded_path
from i2i_keras.data import list_images
from i2i_keras.data import make_dataset


def test_default_specs():
    assert default_spec("paired") == "embedded:gray2color"
    assert default_spec("unpaired") == "embedded:fashion_mnist"
    assert default_spec("multi_domain") == "embedded:fashion_mnist"
    assert default_spec("single") == default_spec("sr") == "embedded:photos"


def test_embedded_files_and_sizes():
    counts = {
        ("gray2color", "train"): 160,
        ("gray2color", "test"): 32,
        ("photos", "train"): 17,
        ("photos", "test"): 7,
    }
    for (name, split), n in counts.items():
        assert len(list_images(os.path.join(embedded_path(name), split))) == n
    for split, n in (("train", 120), ("test", 24)):
        for cls in ("t_shirt", "trouser", "sneaker", "bag", "ankle_boot"):
            assert len(list_images(os.path.join(embedded_path("fashion_mnist"), split, cls))) == n
    assert os.path.isfile(os.path.join(embedded_path("fashion_mnist"), "LICENSE"))
    # The package ships them: a budget per data set keeps the wheel small (mnist_m_like + fashion_m_like ~2.4 MB).
    budget = {"gray2color": 2.6e6, "photos": 1.0e6, "fashion_mnist": 0.5e6, "mnist_m_like": 2.0e6,
              "fashion_m_like": 1.0e6, "styles": 0.2e6}
    root = os.path.dirname(embedded_path("photos"))
    for name, limit in budget.items():
        size = sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(os.path.join(root, name)) for f in fs)
        assert 0 < size < limit, (name, size)
    total = sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(root) for f in fs)
    assert total < 7.0e6


def test_embedded_train_and_test_tiles_differ():
    def pixels(split):
        return {open(p, "rb").read() for p in list_images(os.path.join(embedded_path("gray2color"), split))}

    assert not pixels("train") & pixels("test")


def test_default_paired_is_gray_to_color():
    cfg = small_cfg(load_size=36, crop_size=32)
    batch = take(make_dataset(None, "paired", cfg, 32, split="test", training=False), 1)[0]
    assert batch["source"].shape == (32, 32, 32, 3) and batch["target"].shape == (32, 32, 32, 3)
    # Source: gray replicated to three equal channels; target: colour.
    np.testing.assert_allclose(batch["source"][..., 0], batch["source"][..., 2], atol=1e-6)
    assert np.abs(batch["target"][..., 0] - batch["target"][..., 2]).mean() > 0.05
    luma = batch["target"] @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.abs(luma - batch["source"][..., 0]).mean() < 0.05  # resized at the same scale on both sides


def test_default_unpaired_multi_domain_single_sr():
    cfg = small_cfg(load_size=36, crop_size=32, scale=4)
    unpaired = take(make_dataset(None, "unpaired", cfg, 2), 1)[0]
    assert unpaired["domain_a"].shape == unpaired["domain_b"].shape == (2, 32, 32, 3)
    multi = take(make_dataset(None, "multi_domain", cfg, 6), 1)[0]
    assert multi["image"].shape == (6, 32, 32, 3) and multi["label"].shape == (6, 5)
    np.testing.assert_array_equal(multi["label"].sum(1), 1)
    single = take(make_dataset(None, "single", cfg, 2), 1)[0]
    assert single["image"].shape == (2, 32, 32, 3)
    sr = take(make_dataset(None, "sr", cfg, 2), 1)[0]
    assert sr["source"].shape == (2, 8, 8, 3) and sr["target"].shape == (2, 32, 32, 3)


def test_embedded_unpaired_uses_sneakers_and_boots():
    cfg = small_cfg(preprocess="none", channels=1)
    batch = take(make_dataset("embedded:fashion_mnist", "unpaired", cfg, 120, training=False), 1)[0]
    sneakers = list_images(os.path.join(embedded_path("fashion_mnist"), "train", "sneaker"))
    import tensorflow as tf

    first = tf.io.decode_png(open(sneakers[0], "rb").read()).numpy() / 127.5 - 1
    np.testing.assert_allclose(batch["domain_a"][0], first, atol=1e-6)
    assert batch["domain_a"].shape == (120, 28, 28, 1)
