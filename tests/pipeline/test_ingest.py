"""Ingestion: layouts, schema round trip through the library reader, deterministic splits, rejects and their
thresholds, the PTransform on its own, and the Beam runners (in-memory, multi-processing default, portable)."""

import json
import os
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("tfx", reason="the pipeline needs TFX (the Python 3.10 lane)")

import apache_beam as beam  # noqa: E402
import tensorflow as tf  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from apache_beam.testing.util import assert_that  # noqa: E402
from apache_beam.testing.util import equal_to  # noqa: E402

from i2i_keras.config import load_config  # noqa: E402
from i2i_keras.data import DataError  # noqa: E402
from i2i_keras.data import make_dataset  # noqa: E402
from i2i_keras.data import readers  # noqa: E402
from i2i_keras.data import schema  # noqa: E402
from pipeline import configs  # noqa: E402
from pipeline.components import images_to_examples as ingest  # noqa: E402
from tests.pipeline import pipeline_test_utils as utils  # noqa: E402
from tests.reliability import bad_inputs  # noqa: E402

IN_MEMORY = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _run(data, out, beam_args=IN_MEMORY, report_dir=None, **options):
    options.setdefault("max_reject_fraction", 1.0)
    return ingest.run_ingestion(str(data), str(out), ingest.IngestOptions(**options),
                                beam.Pipeline(options=PipelineOptions(list(beam_args))), report_dir=report_dir)


def _records(out, split):
    files = sorted(tf.io.gfile.glob(os.path.join(str(out), f"Split-{split}", "*")))
    return files, list(tf.data.TFRecordDataset(files, compression_type="GZIP"))


def _data_cfg(method="pix2pix"):
    return load_config(f"configs/tiny/{method}.yaml").data


def test_paired_ab_round_trip_through_the_library_reader(tmp_path):
    data = utils.make_paired_ab(str(tmp_path / "ab"), n=10)
    report = _run(data, tmp_path / "out", data_kind="paired", num_shards=2)

    assert report["rejected"]["count"] == 0 and report["split_source"] == "hash"
    assert sum(report["written"]["train"].values()) + sum(report["written"]["eval"].values()) == 10
    files, records = _records(tmp_path / "out", "train")
    assert [os.path.basename(f) for f in files] == ["pairs-00000-of-00002.tfrecord.gz",
                                                   "pairs-00001-of-00002.tfrecord.gz"]
    # Stored halves are exactly the left and right halves of the AB file.
    example = schema.parse_example(records[0], "paired")
    original = tf.io.decode_png(tf.io.read_file(os.path.join(data, example["filename"].numpy().decode())))
    np.testing.assert_array_equal(tf.io.decode_png(example["source"]).numpy(), original[:, :32].numpy())
    np.testing.assert_array_equal(tf.io.decode_png(example["target"]).numpy(), original[:, 32:].numpy())
    # The reader the Trainer uses reads the shards as they are.
    batch = next(iter(make_dataset(os.path.join(str(tmp_path / "out"), "Split-train", "*"), "paired", _data_cfg(),
                                   2, training=False)))
    assert batch["source"].shape == (2, 32, 32, 3) and batch["target"].shape == (2, 32, 32, 3)
    assert json.loads((tmp_path / "out" / ingest.REPORT_FILE).read_text())["written"] == report["written"]


def test_split_depends_only_on_the_relative_name(tmp_path):
    data = utils.make_paired_folders(str(tmp_path / "a" / "pairs"), n=12)
    moved = shutil.copytree(data, str(tmp_path / "b" / "elsewhere"))
    options = ingest.IngestOptions("paired", eval_fraction=0.3)
    first = {(c.key, c.split) for c in ingest.plan_ingestion(data, options).candidates}
    second = {(c.key, c.split) for c in ingest.plan_ingestion(moved, options).candidates}
    assert first == second
    assert {split for _, split in first} == {"train", "eval"}
    assert all(ingest.split_of(key, 0.3) == split for key, split in first)


def test_bad_inputs_are_counted_with_reasons_never_dropped(tmp_path):
    data = utils.make_paired_folders(str(tmp_path / "pairs"), n=8)
    names = sorted(os.listdir(os.path.join(data, "A")))
    (tmp_path / "pairs" / "A" / names[0]).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # corrupt
    (tmp_path / "pairs" / "B" / names[1]).write_bytes(b"")  # zero bytes
    os.remove(os.path.join(data, "B", names[2]))  # missing partner
    utils.write_png(os.path.join(data, "A", "tiny.png"), np.zeros((6, 6, 3), np.uint8))
    utils.write_png(os.path.join(data, "B", "tiny.png"), np.zeros((6, 6, 3), np.uint8))
    (tmp_path / "pairs" / "A" / "scan.tif").write_bytes(b"II*\x00" + b"\x00" * 20)
    (tmp_path / "pairs" / "B" / "scan.tif").write_bytes(b"II*\x00" + b"\x00" * 20)
    (tmp_path / "pairs" / "A" / "notes.txt").write_text("not an image")
    # Undecodable formats are rejects too (never ignored), and so is an image declaring too many pixels.
    (tmp_path / "pairs" / "A" / "photo.webp").write_bytes(bad_inputs.webp_bytes())
    (tmp_path / "pairs" / "B" / "photo.png").write_bytes(bad_inputs.png_bytes(bad_inputs.good_pixels(0, 32, 32)))
    (tmp_path / "pairs" / "A" / "huge.png").write_bytes(bad_inputs.blank_png(8000, 8000))
    (tmp_path / "pairs" / "B" / "huge.png").write_bytes(bad_inputs.png_bytes(bad_inputs.good_pixels(0, 32, 32)))

    report = _run(data, tmp_path / "out", data_kind="paired", min_image_size=16)

    rejected = report["rejected"]
    assert rejected["by_reason"] == {"corrupt": 1, "empty_file": 1, "missing_partner": 1, "too_many_pixels": 1,
                                     "too_small": 1, "unsupported_format": 2}
    by_reason = {r["reason"]: r for r in rejected["files"]}
    assert by_reason["too_many_pixels"]["path"] == os.path.join(data, "A", "huge.png")
    assert "8000x8000 (64,000,000 pixels)" in by_reason["too_many_pixels"]["message"]
    assert [r["path"] for r in rejected["files"] if r["reason"] == "unsupported_format"] == [
        os.path.join(data, "A", "photo.webp"), os.path.join(data, "A", "scan.tif")]
    assert by_reason["corrupt"]["path"] == os.path.join(data, "A", names[0])
    assert by_reason["empty_file"]["path"] == os.path.join(data, "B", names[1])
    assert by_reason["missing_partner"]["path"] == os.path.join(data, "A", names[2])
    assert "smaller than min_image_size=16" in by_reason["too_small"]["message"]
    assert report["ignored"]["files"] == [{"path": os.path.join(data, "A", "notes.txt"),
                                           "reason": "not an image file name (extension)"}]
    written = sum(n for split in report["written"].values() for n in split.values())
    # 8 good pairs + tiny + tif + webp + huge = 12 pair names; every one is written or rejected.
    assert written + rejected["count"] == 12 and written == 5
    assert rejected["fraction"] == pytest.approx(7 / 12)
    # The limit is an option: 0 lifts it.
    assert "too_many_pixels" not in _run(data, tmp_path / "out-nolimit", data_kind="paired", min_image_size=16,
                                          max_pixels=0)["rejected"]["by_reason"]


def test_reject_fraction_trips_with_one_clear_line(tmp_path):
    data = utils.make_paired_ab(str(tmp_path / "ab"), n=6)
    (tmp_path / "ab" / "broken.png").write_bytes(b"garbage")
    with pytest.raises(ingest.IngestionError) as info:
        _run(data, tmp_path / "out", data_kind="paired", max_reject_fraction=0.1)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{data}: 1 of 7 inputs rejected (14.3%)")
    assert "max_reject_fraction=0.1 (not_an_image=1)" in message
    report_path = os.path.join(str(tmp_path / "out"), ingest.REPORT_FILE)
    assert message.endswith(report_path)
    assert json.loads(open(report_path).read())["rejected"]["files"][0]["path"] == str(tmp_path / "ab" / "broken.png")
    # The same data passes when the threshold allows it.
    assert _run(data, tmp_path / "out2", data_kind="paired", max_reject_fraction=0.2)["rejected"]["count"] == 1


def test_report_copy_outside_the_artifact_is_what_a_failure_names(tmp_path):
    data = utils.make_paired_ab(str(tmp_path / "ab"), n=6)
    (tmp_path / "ab" / "broken.png").write_bytes(b"garbage")
    reports = tmp_path / "root" / "reports"
    artifact = tmp_path / "root" / "tfx" / "ImageIngest" / "examples" / "7"
    with pytest.raises(ingest.IngestionError) as info:
        _run(data, artifact, data_kind="paired", max_reject_fraction=0.1, report_dir=str(reports))
    (copy,) = os.listdir(reports)
    assert re.fullmatch(r"ingest_report-\d{8}T\d{6}Z-7\.json", copy), copy
    assert str(info.value).endswith(f"the list is in {reports / copy}")
    with open(reports / copy) as f, open(artifact / ingest.REPORT_FILE) as g:
        assert json.load(f) == json.load(g)
    # A successful run leaves its copy too; an unwritable reports folder only costs the copy.
    report = _run(data, tmp_path / "ok" / "8", data_kind="paired", report_dir=str(reports))
    assert len(os.listdir(reports)) == 2 and report["rejected"]["count"] == 1
    (tmp_path / "file").write_text("not a folder")
    assert _run(data, tmp_path / "ok" / "9", data_kind="paired", report_dir=str(tmp_path / "file" / "r"))
    with pytest.raises(ValueError, match="`max_pixels` must be an integer >= 0"):
        ingest.IngestOptions(data_kind="paired", max_pixels=-1)


def test_empty_missing_and_all_bad_folders_fail_clearly(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ingest.IngestionError, match=r"empty: no images found for paired data"):
        _run(tmp_path / "empty", tmp_path / "out", data_kind="paired")
    with pytest.raises(DataError, match=r"nowhere: data folder not found"):
        _run(tmp_path / "nowhere", tmp_path / "out", data_kind="paired")
    (tmp_path / "bad").mkdir()
    for i in range(3):
        (tmp_path / "bad" / f"{i}.png").write_bytes(b"")
    with pytest.raises(ingest.IngestionError, match=r"no usable examples are left \(3 of 3 inputs rejected; "
                                                    r"rejected: empty_file=3"):
        _run(tmp_path / "bad", tmp_path / "out3", data_kind="paired")


def test_unpaired_domains_are_sharded_apart_and_read_back(tmp_path):
    data = utils.make_unpaired(str(tmp_path / "horses"), n=8)
    report = _run(data, tmp_path / "out", data_kind="unpaired", eval_fraction=0.3)
    assert report["groups"] == ["domain_a", "domain_b"] and report["names"] == ["trainA", "trainB"]
    files, _ = _records(tmp_path / "out", "train")
    assert {os.path.basename(f) for f in files} == {"domain_a-00000-of-00001.tfrecord.gz",
                                                    "domain_b-00000-of-00001.tfrecord.gz"}
    for path in files:
        domains = {int(schema.parse_domain(r)) for r in tf.data.TFRecordDataset(path, compression_type="GZIP")}
        assert domains == ({0} if "domain_a" in path else {1})
    batch = next(iter(make_dataset(os.path.join(str(tmp_path / "out"), "Split-train", "*"), "unpaired",
                                   _data_cfg("cyclegan"), 2, training=True)))
    assert batch["domain_a"].shape == (2, 32, 32, 3) and batch["domain_b"].shape == (2, 32, 32, 3)
    # Domain A images are the gray luminance halves: the reader's domain_a stream holds only those.
    a = batch["domain_a"].numpy()
    assert np.allclose(a[..., 0], a[..., 1], atol=1e-6)


def test_split_folders_are_kept_and_an_empty_eval_domain_fails(tmp_path):
    data = str(tmp_path / "u")
    utils.make_unpaired(data, n=4, names=("trainA", "trainB"))
    utils.make_unpaired(data, n=2, names=("testA", "testB"))
    report = _run(data, tmp_path / "out", data_kind="unpaired")
    assert report["split_source"] == "folders" and report["eval_fraction"] is None
    assert report["written"] == {"train": {"domain_a": 4, "domain_b": 4}, "eval": {"domain_a": 2, "domain_b": 2}}
    for path in tf.io.gfile.glob(os.path.join(data, "testB", "*")):
        os.remove(path)
    utils.write_png(os.path.join(data, "testB", "x.png"), np.zeros((32, 32, 3), np.uint8))
    with open(os.path.join(data, "testB", "x.png"), "r+b") as f:
        f.truncate(30)
    with pytest.raises(ingest.IngestionError, match=r"the eval split has no domain_b images"):
        _run(data, tmp_path / "out2", data_kind="unpaired")


def test_multi_domain_folders_and_attributes_csv(tmp_path):
    folders = utils.make_multi_domain(str(tmp_path / "md"), n=4)
    report = _run(folders, tmp_path / "out", data_kind="multi_domain", eval_fraction=0.25)
    assert report["groups"] == ["bag", "sneaker", "trouser"] and report["layout"] == "domains"
    _, records = _records(tmp_path / "out", "train")
    labels = {tuple(schema.parse_example(r, "multi_domain")["label"].numpy()) for r in records}
    assert labels == {(1, 0, 0), (0, 1, 0), (0, 0, 1)}
    batch = next(iter(make_dataset(os.path.join(str(tmp_path / "out"), "Split-train", "*"), "multi_domain",
                                   _data_cfg(), 2, training=False)))
    assert batch["label"].shape == (2, 3)

    # attributes.csv: a row naming a missing file is rejected, an unlisted image is reported as ignored.
    flat = tmp_path / "attrs"
    flat.mkdir()
    rows = ["file,striped,dark"]
    for i, name in enumerate(sorted(os.listdir(os.path.join(folders, "bag")))):
        shutil.copy(os.path.join(folders, "bag", name), flat / name)
        rows.append(f"{name},{i % 2},{1 - i % 2}")
    rows.append("gone.png,1,1")
    (flat / "attributes.csv").write_text("\n".join(rows) + "\n")
    shutil.copy(os.path.join(folders, "sneaker", sorted(os.listdir(os.path.join(folders, "sneaker")))[0]),
                flat / "unlisted.png")
    report = _run(flat, tmp_path / "out2", data_kind="multi_domain", eval_fraction=0.25)
    assert report["layout"] == "attributes" and report["names"] == ["striped", "dark"]
    assert report["rejected"]["by_reason"] == {"missing_file": 1}
    assert report["ignored"]["files"] == [{"path": str(flat / "unlisted.png"),
                                           "reason": "not listed in attributes.csv"}]
    _, train = _records(tmp_path / "out2", "train")
    _, evaluation = _records(tmp_path / "out2", "eval")
    labels = {tuple(schema.parse_example(r, "multi_domain")["label"].numpy()) for r in train + evaluation}
    assert labels == {(0, 1), (1, 0)}


def _name_and_width(record: bytes) -> tuple:
    feature = tf.train.Example.FromString(record).features.feature
    return feature["filename"].bytes_list.value[0].decode(), feature["width"].int64_list.value[0]


def test_images_to_examples_transform(tmp_path):
    def png(name, height, width, value=0):
        return utils.write_png(str(tmp_path / name), np.full((height, width, 3), value, np.uint8))

    images = [png(f"{i}.png", 8, 10, 40 * i) for i in range(3)]
    (tmp_path / "bad.png").write_bytes(b"\xff\xd8\xffnot really a jpeg")
    candidates = [ingest.Candidate(f"{i}.png", "train", "domain_a", "image", (p,), domain=0)
                  for i, p in enumerate(images)]
    candidates += [
        ingest.Candidate("bad.png", "eval", "domain_a", "image", (str(tmp_path / "bad.png"),), domain=0),
        ingest.Candidate("ab.png", "eval", "pairs", "ab", (png("ab.png", 8, 20),)),
        ingest.Candidate("odd.png", "eval", "pairs", "ab", (png("odd.png", 8, 21),)),
        ingest.Candidate("pair", "train", "pairs", "pair", (png("s.png", 8, 8), png("t.png", 8, 8))),
        ingest.Candidate("mismatch", "train", "pairs", "pair", (png("s2.png", 8, 8), png("t2.png", 9, 8))),
        ingest.Candidate("small", "train", "pairs", "pair", (png("s3.png", 4, 8), png("t3.png", 4, 8))),
    ]
    partitions = [("train", "domain_a"), ("eval", "domain_a"), ("train", "pairs"), ("eval", "pairs")]
    with beam.Pipeline(options=PipelineOptions(IN_MEMORY)) as p:
        out = p | beam.Create(candidates) | ingest.ImagesToExamples(partitions, min_image_size=8)
        decoded = out["examples"] | beam.MapTuple(lambda part, record: (part, *_name_and_width(record)))
        assert_that(decoded, equal_to([(0, "0.png", 10), (0, "1.png", 10), (0, "2.png", 10), (3, "ab.png", 10),
                                       (2, "pair", 8)]), label="examples")
        assert_that(out["rejects"] | beam.Map(lambda r: (r["key"], r["reason"], os.path.basename(r["path"]))),
                    equal_to([("bad.png", "corrupt", "bad.png"), ("odd.png", "odd_ab_width", "odd.png"),
                              ("mismatch", "pair_size_mismatch", "t2.png"), ("small", "too_small", "s3.png")]),
                    label="rejects")


def test_library_reasons_map_to_codes(tmp_path):
    cases = {b"": "empty_file", b"II*\x00abcd": "unsupported_format", b"hello": "not_an_image",
             b"\x89PNG\r\n\x1a\n\x00\x00": "corrupt"}
    for data, code in cases.items():
        with pytest.raises(DataError) as info:
            readers.check_image_bytes("x", data)
        assert ingest.classify(info.value) == code


def test_default_multiprocessing_and_portable_runners(tmp_path):
    data = utils.make_paired_ab(str(tmp_path / "ab"), n=5)
    (tmp_path / "ab" / "zero.png").write_bytes(b"")
    expected = _run(data, tmp_path / "direct", data_kind="paired")
    # The pipeline's default: DirectRunner, one worker process per core.
    multi = _run(data, tmp_path / "multi", beam_args=configs.DEFAULT_BEAM_ARGS, data_kind="paired")
    # The portability layer Flink, Spark and Dataflow runners use, with an embedded job server.
    portable = _run(data, tmp_path / "portable", data_kind="paired",
                    beam_args=["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"])
    for report in (multi, portable):
        assert report["written"] == expected["written"]
        assert report["rejected"]["files"] == expected["rejected"]["files"]
    assert expected["rejected"]["by_reason"] == {"empty_file": 1}
    def examples(out):
        # Parsed, not raw bytes: protobuf map entries may serialise in another order in another process.
        _, records = _records(tmp_path / out, "train")
        parsed = [tf.train.Example.FromString(r.numpy()) for r in records]
        return sorted(parsed, key=lambda e: e.features.feature["filename"].bytes_list.value[0])

    assert examples("multi") == examples("direct") and examples("portable") == examples("direct")
