"""A bad image in the evaluation split is an error; only a missing split falls back to the training images."""

import os

import numpy as np
import tensorflow as tf

from i2i_keras.train import main
from tests.helpers import TINY


def _ab_folder(root, split, n, corrupt=False):
    os.makedirs(os.path.join(root, split), exist_ok=True)
    rng = np.random.default_rng(len(split))
    for i in range(n):
        pixels = rng.integers(0, 256, (36, 72, 3), dtype=np.uint8)
        with open(os.path.join(root, split, f"{i}.png"), "wb") as f:
            f.write(tf.io.encode_png(pixels).numpy())
    if corrupt:
        with open(os.path.join(root, split, "broken.png"), "wb") as f:
            f.write(tf.io.encode_png(np.zeros((36, 72, 3), np.uint8)).numpy()[:40])


def _train(data, out):
    return main(["--method", "pix2pix", "--config", os.path.join(TINY, "pix2pix.yaml"), "--data", data,
                 "--output", out, "--steps", "1", "--no-export"])


def test_corrupt_test_image_is_an_error_not_a_switch_to_training_images(tmp_path, capsys):
    data = str(tmp_path / "data")
    _ab_folder(data, "train", 4)
    _ab_folder(data, "test", 2, corrupt=True)
    assert _train(data, str(tmp_path / "run")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.png" in err[0] and "corrupt" in err[0]
    assert not os.path.exists(tmp_path / "run")


def test_missing_test_split_still_evaluates_on_the_training_images(tmp_path, capsys):
    data = str(tmp_path / "data")
    _ab_folder(data, "train", 4)
    assert _train(data, str(tmp_path / "run")) == 0
    assert os.path.isfile(tmp_path / "run" / "metrics.json")
