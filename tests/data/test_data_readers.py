import csv
import os

import numpy as np
import pytest
import tensorflow as tf

from data_test_utils import assert_batches_equal
from data_test_utils import random_image
from data_test_utils import small_cfg
from data_test_utils import take
from data_test_utils import to_float
from data_test_utils import write_png
from i2i_keras.data import make_dataset
from i2i_keras.data import list_images
from i2i_keras.data import schema
from i2i_keras.data import transforms


def _check_images(batch, keys, shape):
    for key in keys:
        value = batch[key]
        assert value.dtype == np.float32, key
        assert value.shape == shape, (key, value.shape)
        assert value.min() >= -1.0 and value.max() <= 1.0, key


# ----------------------------------------------------------------------------------------------- kinds, folders


def test_paired_ab_folder(ab_folder):
    batch = take(make_dataset(ab_folder, "paired", small_cfg(), 2), 1)[0]
    assert sorted(batch) == ["source", "target"]
    _check_images(batch, ["source", "target"], (2, 8, 8, 3))


def test_paired_ab_halves_and_direction_swap(ab_folder):
    cfg = small_cfg(preprocess="none")
    a2b = take(make_dataset(ab_folder, "paired", cfg, 5, training=False), 1)[0]
    np.testing.assert_allclose(a2b["source"][1], to_float(random_image(12, 12, seed=1)), atol=1e-6)
    np.testing.assert_allclose(a2b["target"][1], to_float(random_image(12, 12, seed=101)), atol=1e-6)
    cfg.direction = "b2a"
    b2a = take(make_dataset(ab_folder, "paired", cfg, 5, training=False), 1)[0]
    np.testing.assert_array_equal(b2a["source"], a2b["target"])
    np.testing.assert_array_equal(b2a["target"], a2b["source"])


@pytest.mark.parametrize("names", [("A", "B"), ("source", "target")])
def test_paired_folders_layout_matches_stems(tmp_path, names):
    root = tmp_path / "pairs"
    for i, stem in enumerate(["b", "a", "c"]):
        write_png(root / names[0] / f"{stem}.png", random_image(9, 9, seed=i))
        write_png(root / names[1] / f"{stem}.png", random_image(9, 9, seed=20 + i))
    cfg = small_cfg(preprocess="none")
    batch = take(make_dataset(str(root), "paired", cfg, 3, training=False), 1)[0]
    # Sorted by stem: a (seed 1 / 21), b (0 / 20), c (2 / 22).
    for row, seed in enumerate([1, 0, 2]):
        np.testing.assert_allclose(batch["source"][row], to_float(random_image(9, 9, seed=seed)), atol=1e-6)
        np.testing.assert_allclose(batch["target"][row], to_float(random_image(9, 9, seed=20 + seed)), atol=1e-6)


def test_split_folders_are_selected(tmp_path):
    root = tmp_path / "splits"
    write_png(root / "train" / "x.png", np.zeros((8, 16, 3), np.uint8))
    write_png(root / "val" / "y.png", np.full((8, 16, 3), 255, np.uint8))
    cfg = small_cfg(preprocess="none", flip=False)
    train = take(make_dataset(str(root), "paired", cfg, 1, training=False, split="train"), 1)[0]
    test = take(make_dataset(str(root), "paired", cfg, 1, training=False, split="test"), 1)[0]
    assert train["source"].max() == -1.0 and test["source"].min() == 1.0  # test falls back to val/


def test_unpaired_junyanz_layout(unpaired_folder):
    cfg = small_cfg(preprocess="none")
    batch = take(make_dataset(unpaired_folder, "unpaired", cfg, 3, training=False), 1)[0]
    assert sorted(batch) == ["domain_a", "domain_b"]
    _check_images(batch, ["domain_a", "domain_b"], (3, 10, 10, 3))
    np.testing.assert_allclose(batch["domain_a"][0], to_float(random_image(10, 10, seed=0)), atol=1e-6)  # trainA/0
    np.testing.assert_allclose(batch["domain_b"][0], to_float(random_image(10, 10, seed=10)), atol=1e-6)  # trainB/0
    test = take(make_dataset(unpaired_folder, "unpaired", cfg, 2, training=False, split="test"), 1)[0]
    np.testing.assert_allclose(test["domain_b"][1], to_float(random_image(10, 10, seed=31)), atol=1e-6)  # testB/1
    train = take(make_dataset(unpaired_folder, "unpaired", small_cfg(), 4), 3)
    _check_images(train[2], ["domain_a", "domain_b"], (4, 8, 8, 3))


def test_unpaired_two_domains_chosen_from_many(domains_folder):
    cfg = small_cfg(preprocess="none", domains=["owls", "cats"])
    batch = take(make_dataset(domains_folder, "unpaired", cfg, 2, training=False), 1)[0]
    np.testing.assert_allclose(batch["domain_a"][0], to_float(random_image(9, 9, seed=70)), atol=1e-6)  # owls0
    np.testing.assert_allclose(batch["domain_b"][0], to_float(random_image(9, 9, seed=50)), atol=1e-6)  # cats0


def test_multi_domain_folders(domains_folder):
    cfg = small_cfg(preprocess="none")
    batch = take(make_dataset(domains_folder, "multi_domain", cfg, 7, training=False), 1)[0]
    assert sorted(batch) == ["image", "label", "target_label"]
    _check_images(batch, ["image"], (7, 9, 9, 3))
    assert batch["label"].dtype == np.float32 and batch["target_label"].dtype == np.float32
    np.testing.assert_array_equal(batch["label"].argmax(1), [0, 0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(batch["label"].sum(1), 1)
    np.testing.assert_array_equal(batch["target_label"].sum(1), 1)
    many = take(make_dataset(domains_folder, "multi_domain", small_cfg(), 8), 4)
    targets = np.concatenate([b["target_label"] for b in many])
    assert set(targets.argmax(1)) == {0, 1, 2}
    cfg = small_cfg(domains=["owls", "dogs"])
    ordered = take(make_dataset(domains_folder, "multi_domain", cfg, 4, training=False), 1)
    np.testing.assert_array_equal(ordered[0]["label"], [[1, 0], [1, 0], [0, 1], [0, 1]])


def test_multi_domain_attribute_csv(tmp_path):
    root = tmp_path / "faces"
    rows = [("img/a.png", "1", "-1", "1"), ("img/b.png", "-1", "-1", "1"), ("c.png", "0", "1", "0")]
    for i, row in enumerate(rows):
        write_png(root / row[0], random_image(8, 8, seed=i))
    with open(root / "attributes.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "smiling", "glasses", "young"])
        writer.writerows(rows)
    cfg = small_cfg(preprocess="none")
    batch = take(make_dataset(str(root), "multi_domain", cfg, 3, training=False), 1)[0]
    np.testing.assert_array_equal(batch["label"], [[1, 0, 1], [0, 0, 1], [0, 1, 0]])
    np.testing.assert_allclose(batch["image"][2], to_float(random_image(8, 8, seed=2)), atol=1e-6)
    assert set(np.unique(batch["target_label"])) <= {0.0, 1.0}
    cfg.domains = ["young", "smiling"]
    batch = take(make_dataset(str(root), "multi_domain", cfg, 3, training=False), 1)[0]
    np.testing.assert_array_equal(batch["label"], [[1, 1], [1, 0], [0, 0]])


def test_single_recursive_and_sr(tmp_path):
    root = tmp_path / "photos"
    write_png(root / "a.png", random_image(16, 16, seed=0))
    write_png(root / "sub" / "b.png", random_image(16, 20, seed=1))
    write_png(root / ".hidden.png", random_image(16, 16, seed=2))
    (root / "notes.txt").write_text("not an image")
    assert [os.path.basename(p) for p in list_images(str(root))] == ["a.png", "b.png"]
    cfg = small_cfg(crop_size=8, load_size=12, scale=4)
    single = take(make_dataset(str(root), "single", cfg, 2), 1)[0]
    assert sorted(single) == ["image"]
    _check_images(single, ["image"], (2, 8, 8, 3))
    sr = take(make_dataset(str(root), "sr", cfg, 2), 1)[0]
    assert sorted(sr) == ["source", "target"]
    _check_images(sr, ["target"], (2, 8, 8, 3))
    _check_images(sr, ["source"], (2, 2, 2, 3))
    # The low-res input is the MATLAB-style bicubic downscale of the high-res crop (tests/data/test_imresize.py).
    lr = transforms.imresize(sr["target"], 1.0 / 4).numpy()
    np.testing.assert_allclose(sr["source"], np.clip(lr, -1, 1), atol=1e-5)


def test_sr_real_pairs(tmp_path):
    root = tmp_path / "sr"
    low = random_image(6, 6, seed=3)
    write_png(root / "A" / "x.png", low)
    write_png(root / "B" / "x.png", np.kron(low, np.ones((2, 2, 1), np.uint8)))
    cfg = small_cfg(preprocess="crop", crop_size=8, scale=2)
    batch = take(make_dataset(str(root), "sr", cfg, 2), 1)[0]
    assert batch["source"].shape == (2, 4, 4, 3) and batch["target"].shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(np.kron(batch["source"], np.ones((1, 2, 2, 1), np.float32)), batch["target"])


def test_training_repeats_and_eval_is_one_pass(ab_folder):
    cfg = small_cfg()
    assert len(take(make_dataset(ab_folder, "paired", cfg, 2), 12)) == 12
    eval_batches = take(make_dataset(ab_folder, "paired", cfg, 2, training=False), 100)
    assert [b["source"].shape[0] for b in eval_batches] == [2, 2, 1]


def test_epoch_visits_every_file_once(tmp_path):
    root = tmp_path / "ids"
    for i in range(6):
        write_png(root / f"{i}.png", np.full((8, 8, 1), 40 * i, np.uint8))
    cfg = small_cfg(preprocess="none", flip=False, channels=1)
    batches = take(make_dataset(str(root), "single", cfg, 3), 4)
    values = [np.round((b["image"][:, 0, 0, 0] + 1) * 127.5 / 40).astype(int).tolist() for b in batches]
    first, second = values[0] + values[1], values[2] + values[3]
    assert sorted(first) == sorted(second) == list(range(6))
    assert first != list(range(6)) or second != list(range(6))  # shuffled
    assert first != second  # reshuffled each epoch


# ----------------------------------------------------------------------------------------------- determinism, resume


@pytest.mark.parametrize("kind", ["paired", "unpaired", "multi_domain", "sr"])
def test_resume_matches_uninterrupted_stream(kind, ab_folder, unpaired_folder, domains_folder):
    spec = {"paired": ab_folder, "unpaired": unpaired_folder, "multi_domain": domains_folder, "sr": ab_folder}[kind]
    cfg = small_cfg(scale=2)
    full = take(make_dataset(spec, kind, cfg, 2, seed=5), 7)
    head = take(make_dataset(spec, kind, cfg, 2, seed=5), 3)
    tail = take(make_dataset(spec, kind, cfg, 2, seed=5, skip_batches=3), 4)
    assert_batches_equal(full, head + tail)
    # Far ahead (many whole epochs skipped arithmetically).
    far = take(make_dataset(spec, kind, cfg, 2, seed=5), 23)[20:]
    assert_batches_equal(far, take(make_dataset(spec, kind, cfg, 2, seed=5, skip_batches=20), 3))


def test_seed_changes_the_stream(ab_folder):
    a = take(make_dataset(ab_folder, "paired", small_cfg(), 2, seed=1), 3)
    b = take(make_dataset(ab_folder, "paired", small_cfg(), 2, seed=2), 3)
    assert any(not np.array_equal(x["source"], y["source"]) for x, y in zip(a, b))


def test_eval_is_deterministic(domains_folder):
    cfg = small_cfg()
    first = take(make_dataset(domains_folder, "multi_domain", cfg, 3, training=False), 3)
    second = take(make_dataset(domains_folder, "multi_domain", cfg, 3, training=False), 3)
    assert_batches_equal(first, second)


# ----------------------------------------------------------------------------------------------- TFRecords


def _write_records(path, examples, gzip=False):
    options = tf.io.TFRecordOptions(compression_type="GZIP") if gzip else None
    with tf.io.TFRecordWriter(str(path), options) as writer:
        for example in examples:
            writer.write(schema.encode_example(**example))


def _read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_tfrecords_equal_folders(tmp_path, ab_folder, unpaired_folder, domains_folder):
    cfg = small_cfg(preprocess="none")
    # paired: split each AB image into source/target PNGs.
    examples = []
    for path in list_images(ab_folder):
        image = tf.io.decode_png(_read_bytes(path)).numpy()
        examples.append({"source": schema.encode_png(image[:, :12]), "target": schema.encode_png(image[:, 12:]),
                         "filename": os.path.basename(path)})
    _write_records(tmp_path / "paired-00000.tfrecord", examples[:3])
    _write_records(tmp_path / "paired-00001.tfrecord", examples[3:])
    assert_batches_equal(
        take(make_dataset(ab_folder, "paired", cfg, 2, training=False), 10),
        take(make_dataset(str(tmp_path / "paired-*.tfrecord"), "paired", cfg, 2, training=False), 10),
    )
    # unpaired: one gzip shard, domain A and B records interleaved.
    a = list_images(os.path.join(unpaired_folder, "trainA"))
    b = list_images(os.path.join(unpaired_folder, "trainB"))
    records = [{"image": _read_bytes(p), "domain": 0} for p in a] + [{"image": _read_bytes(p), "domain": 1} for p in b]
    records = [records[i] for i in (0, 3, 1, 4, 5, 2, 6)]
    _write_records(tmp_path / "unpaired.tfrecord.gz", records, gzip=True)
    assert_batches_equal(
        take(make_dataset(unpaired_folder, "unpaired", cfg, 2, training=False), 10),
        take(make_dataset(str(tmp_path / "unpaired.tfrecord.gz"), "unpaired", cfg, 2, training=False), 10),
    )
    # multi_domain
    examples = []
    for index, name in enumerate(["cats", "dogs", "owls"]):
        for path in list_images(os.path.join(domains_folder, name)):
            examples.append({"image": _read_bytes(path), "label": np.eye(3, dtype=np.int64)[index]})
    _write_records(tmp_path / "multi.tfrecord", examples)
    assert_batches_equal(
        take(make_dataset(domains_folder, "multi_domain", cfg, 3, training=False), 10),
        take(make_dataset(str(tmp_path / "multi.tfrecord"), "multi_domain", cfg, 3, training=False), 10),
    )


def test_tfrecords_training_stream_resumes(tmp_path):
    for shard in range(3):
        _write_records(
            tmp_path / f"s-{shard}.tfrecord",
            [{"image": schema.encode_png(random_image(10, 10, seed=10 * shard + i))} for i in range(3)],
        )
    cfg = small_cfg(shuffle_buffer=4)
    spec = str(tmp_path / "s-*.tfrecord")
    full = take(make_dataset(spec, "single", cfg, 2, seed=3), 12)
    assert_batches_equal(full, take(make_dataset(spec, "single", cfg, 2, seed=3), 5)
                         + take(make_dataset(spec, "single", cfg, 2, seed=3, skip_batches=5), 7))
    _check_images(full[0], ["image"], (2, 8, 8, 3))
