"""The ``domain_adaptation`` data kind: folders, records, ingestion and the embedded sets; no target label ever
reaches a training batch."""

import os
import shutil

import numpy as np
import pytest

from data_test_utils import assert_batches_equal
from data_test_utils import random_image
from data_test_utils import small_cfg
from data_test_utils import take
from data_test_utils import write_png
from i2i_keras.data import ingestion
from i2i_keras.data import kinds
from i2i_keras.data import make_dataset
from i2i_keras.data import schema
from i2i_keras.data.sources import embedded_path
from i2i_keras.errors import DataError

KIND = "domain_adaptation"
CLASSES = ["cat", "dog", "owl"]


def _folder(root, labelled_train_target=False, per_class=3):
    """train/source/<c>/, train/target/ (flat, or in class folders), test/source/<c>/, test/target/<c>/."""
    seed = 0
    for split in ("train", "test"):
        for k, name in enumerate(CLASSES):
            for i in range(per_class):
                seed += 1
                write_png(os.path.join(root, split, "source", name, f"s{i}.png"), random_image(10, 10, seed=seed))
                target_dir = os.path.join(root, split, "target")
                if split == "test" or labelled_train_target:
                    target_dir = os.path.join(target_dir, name)
                write_png(os.path.join(target_dir, f"t{k}{i}.png"), random_image(10, 10, seed=1000 + seed))
    return str(root)


def test_training_batches_hold_source_labels_and_unlabelled_target(tmp_path):
    root = _folder(tmp_path / "da")
    batch = take(make_dataset(root, KIND, small_cfg(), 4), 1)[0]
    assert sorted(batch) == ["source", "source_label", "target"]
    assert batch["source"].shape == batch["target"].shape == (4, 8, 8, 3)
    assert batch["source_label"].shape == (4, 3)
    np.testing.assert_array_equal(batch["source_label"].sum(-1), 1.0)


def test_no_target_label_reaches_training_even_from_class_folders(tmp_path):
    """A target sorted into class folders gives the same training batches whatever its classes are: moving every
    target image to another class folder changes nothing, and no batch has a target label."""
    first = _folder(tmp_path / "a", labelled_train_target=True)
    second = _folder(tmp_path / "b", labelled_train_target=True)
    target = os.path.join(second, "train", "target")
    # Rotate the class folder names of the second copy's training target: same files, other labels.
    for name in CLASSES:
        os.rename(os.path.join(target, name), os.path.join(target, name + "_"))
    for old, new in zip(CLASSES, CLASSES[1:] + CLASSES[:1]):
        os.rename(os.path.join(target, old + "_"), os.path.join(target, new))
    cfg = small_cfg(preprocess="none", flip=False)
    ds = make_dataset(first, KIND, cfg, 3)
    assert "target_label" not in ds.element_spec
    # Three batches of 3 = one epoch of each stream (9 images each): the same source batches, and the same target
    # images (in another order: they are listed by path, and the paths changed).
    a = take(ds, 3)
    b = take(make_dataset(second, KIND, cfg, 3), 3)
    assert all(sorted(x) == ["source", "source_label", "target"] for x in a + b)
    assert_batches_equal([{"source": x["source"], "source_label": x["source_label"]} for x in a],
                         [{"source": x["source"], "source_label": x["source_label"]} for x in b])
    targets = [sorted(np.concatenate([x["target"] for x in run]).reshape(9, -1).tolist()) for run in (a, b)]
    assert targets[0] == targets[1]


def test_evaluation_batches_add_the_target_labels(tmp_path):
    root = _folder(tmp_path / "da")
    batches = take(make_dataset(root, KIND, small_cfg(preprocess="none"), 9, training=False, split="test"), 1)
    batch = batches[0]
    assert sorted(batch) == ["source", "source_label", "target", "target_label"]
    # Target files t<k><i>.png sit in class folder k: file order is class order.
    np.testing.assert_array_equal(batch["target_label"].argmax(-1), [0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_data_domains_pick_and_order_the_classes(tmp_path):
    root = _folder(tmp_path / "da")
    cfg = small_cfg(preprocess="none", domains=["owl", "cat"])
    batch = take(make_dataset(root, KIND, cfg, 4, training=False, split="test"), 1)[0]
    assert batch["source_label"].shape[-1] == 2
    # Label order is data.domains' order: owl's images (listed first) are class 0, cat's class 1; dog is left out.
    np.testing.assert_array_equal(batch["target_label"].argmax(-1), [0, 0, 0, 1])
    everything = take(make_dataset(root, KIND, cfg, 64, training=False, split="test"), 1)[0]
    assert len(everything["target"]) == 6


@pytest.mark.parametrize("remove, code, message", [
    ("train/target", "no_domains", "needs source/ .* and target/ folders; found \\['source'\\]"),
    ("train/source/dog", None, None),
])
def test_layout_errors_name_the_folder(tmp_path, remove, code, message):
    root = _folder(tmp_path / "da")
    shutil.rmtree(os.path.join(root, remove))
    if code is None:  # a missing class named in data.domains
        with pytest.raises(DataError, match="dog: class folder not found") as err:
            make_dataset(root, KIND, small_cfg(domains=["cat", "dog"]), 2)
        assert err.value.code == "folder_not_found"
        return
    with pytest.raises(DataError, match=message) as err:
        make_dataset(root, KIND, small_cfg(), 2)
    assert err.value.code == code


def test_a_target_class_the_source_lacks_is_refused(tmp_path):
    root = _folder(tmp_path / "da")
    write_png(os.path.join(root, "test", "target", "emu", "x.png"), random_image(10, 10))
    with pytest.raises(DataError, match="'emu' is not one of the source's classes") as err:
        make_dataset(root, KIND, small_cfg(), 2, training=False, split="test")
    assert err.value.code == "unknown_class"


def test_tfds_specs_are_refused_with_the_reason(tmp_path):
    from i2i_keras.data import sources

    with pytest.raises(DataError, match="needs a labelled source and a target data set"):
        kinds.get(KIND).reader.tfds(type("Spec", (), {"spec": "tfds:mnist"})(), small_cfg(), "train")
    assert sources  # imported for the reader's module


def test_ingestion_writes_target_labels_into_eval_examples_only(tmp_path):
    root = _folder(tmp_path / "da", labelled_train_target=True)
    plan = ingestion.plan_folder(root, kinds.get(KIND))
    assert plan.layout == "source_target" and plan.split_source == "folders"
    assert plan.groups == ["source", "target"]
    targets = [c for c in plan.candidates if c.domain == 1]
    assert {c.split for c in targets} == {"train", "eval"}
    assert all(c.label is None for c in targets if c.split == "train")
    assert all(c.label is not None for c in targets if c.split == "eval")
    sources_ = [c for c in plan.candidates if c.domain == 0]
    assert len(sources_) == 18 and all(sum(c.label) == 1 for c in sources_)
    # Without split folders the eval share is hashed; still no label in a training target example.
    flat = tmp_path / "flat"
    shutil.copytree(os.path.join(root, "train"), flat)
    plan = ingestion.plan_folder(str(flat), kinds.get(KIND), eval_fraction=0.5)
    assert all(c.label is None for c in plan.candidates if c.domain == 1 and c.split == "train")


def _records(tmp_path):
    import tensorflow as tf

    path = str(tmp_path / "da.tfrecord")
    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(6):
            image = schema.encode_png(rng.integers(0, 256, (10, 10, 3)).astype(np.uint8))
            writer.write(schema.encode_example(image=image, domain=0, label=[int(i % 3 == k) for k in range(3)]))
            # A labelled target record (as an eval shard holds): the training reader must drop the label.
            writer.write(schema.encode_example(image=image, domain=1, label=[1, 0, 0]))
    return path


def test_records_give_source_labels_and_drop_target_labels(tmp_path):
    ds = make_dataset(_records(tmp_path), KIND, small_cfg(), 2)
    assert sorted(ds.element_spec) == ["source", "source_label", "target"]
    batch = take(ds, 1)[0]
    assert batch["source_label"].shape == (2, 3)


def test_synthetic_batches_match_the_declared_keys():
    batch = next(iter(kinds.get(KIND).synthetic_batches(size=16, channels=1, batch=2, count=1, domains=4)))
    assert sorted(batch) == sorted(kinds.get(KIND).batch_keys)
    assert batch["source"].shape == (2, 16, 16, 1) and batch["source_label"].shape == (2, 4)


@pytest.mark.parametrize("name, classes", [("mnist_m_like", [str(d) for d in range(10)]),
                                           ("fashion_m_like", ["ankle_boot", "bag", "sneaker", "t_shirt",
                                                               "trouser"])])
def test_embedded_sets(name, classes):
    root = embedded_path(name)
    assert sorted(os.listdir(os.path.join(root, "train", "source"))) == classes
    assert sorted(os.listdir(os.path.join(root, "test", "target"))) == classes
    # The training target is flat: nothing in its folder or file names tells a class.
    train_target = os.listdir(os.path.join(root, "train", "target"))
    assert all(n.startswith("t") and n.endswith(".png") for n in train_target)
    assert os.path.isfile(os.path.join(root, "LICENSE"))
    cfg = small_cfg(preprocess="none", crop_size=28)
    batch = take(make_dataset(f"embedded:{name}", KIND, cfg, 8, training=False, split="test"), 1)[0]
    assert batch["source"].shape == batch["target"].shape == (8, 28, 28, 3)
    # The target is the digit's |photo - binarised digit| blend: colourful, unlike the gray source.
    spread = lambda x: float(np.abs(x - x.mean(-1, keepdims=True)).mean())  # noqa: E731
    assert spread(batch["target"]) > 10 * max(spread(batch["source"]), 1e-3)
