"""The multi-domain label convention is decided once per data set and travels with ingested records, so the folder
reader (CLI) and the TFRecord reader (pipeline) draw StarGAN's training targets from the same distribution."""

import numpy as np
import tensorflow as tf

from data_test_utils import random_image
from data_test_utils import small_cfg
from data_test_utils import take
from data_test_utils import write_png
from i2i_keras.data import encode_example
from i2i_keras.data import encode_png
from i2i_keras.data import ingestion
from i2i_keras.data import kinds
from i2i_keras.data import make_dataset


def _attributes_folder(root):
    # Every row has exactly one attribute on: read per example, "auto" would mistake these for one-hot domains.
    rows = ["file,smile,hat,glasses"]
    for i in range(6):
        write_png(f"{root}/{i}.png", random_image(8, 8, seed=i))
        rows.append(f"{i}.png," + ",".join("1" if j == i % 3 else "0" for j in range(3)))
    with open(f"{root}/attributes.csv", "w") as f:
        f.write("\n".join(rows) + "\n")
    return str(root)


def _records(path, plan):
    with tf.io.TFRecordWriter(path) as w:
        for c in plan.candidates:
            with open(c.paths[0], "rb") as f:
                w.write(encode_example(image=f.read(), label=list(c.label), label_mode=c.label_mode))
    return path


def _targets(spec, batches=8):
    return np.concatenate([b["target_label"] for b in take(make_dataset(spec, "multi_domain", small_cfg(), 6), batches)])


def test_attributes_travel_with_ingested_records(tmp_path):
    folder = _attributes_folder(tmp_path / "data")
    plan = ingestion.plan_folder(folder, kinds.get("multi_domain"), eval_fraction=0.01)
    assert plan.label_mode == ingestion.ATTRIBUTES
    assert {c.label_mode for c in plan.candidates} == {ingestion.ATTRIBUTES}
    from_folder = _targets(folder)
    from_records = _targets(_records(str(tmp_path / "all.tfrecord"), plan))
    # Attribute flipping: targets with several attributes on (or none) occur, from the folder and the records alike.
    for targets in (from_folder, from_records):
        assert np.any(targets.sum(axis=1) != 1.0)


def test_domain_folders_stay_one_hot_in_records(tmp_path):
    for name in ("bag", "shoe", "shirt"):
        for i in range(3):
            write_png(f"{tmp_path}/data/{name}/{i}.png", random_image(8, 8, seed=i))
    plan = ingestion.plan_folder(str(tmp_path / "data"), kinds.get("multi_domain"))
    assert plan.label_mode == ingestion.ONEHOT
    targets = _targets(_records(str(tmp_path / "all.tfrecord"), plan))
    assert np.all(targets.sum(axis=1) == 1.0)


def test_records_without_label_mode_decide_once(tmp_path):
    # Records written before the label mode travelled: the first record decides for the whole data set.
    path = str(tmp_path / "old.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for i in range(6):
            label = [1, 0, 0] if i == 0 else [1, 1, 0]
            w.write(encode_example(image=encode_png(random_image(8, 8, seed=i)), label=label))
    assert np.all(_targets(path).sum(axis=1) == 1.0)
