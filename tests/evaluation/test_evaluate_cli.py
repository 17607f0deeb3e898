"""`python -m i2i_keras.evaluate`: folders of each layout, the report files, metric selection, the saved domain
judge, baselines, skipped metrics and the errors (every method's export is evaluated by the shared method suite,
tests/methods/test_methods.py, on the export its parity test makes)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.data import encode_png
from i2i_keras.evaluate import main
from tests.evaluation import toys


def _report(folder):
    with open(os.path.join(folder, "metrics.json")) as f:
        return json.load(f)


def _paired_folder(root, count=4, size=32):
    """An AB folder (source | target side by side) with test/ split; target = the source inverted."""
    for offset, split in enumerate(("train", "test")):
        os.makedirs(os.path.join(root, split))
        for i, image in enumerate(toys.smooth_images(count, size=size, seed=40 + offset)):
            with open(os.path.join(root, split, f"{i}.png"), "wb") as f:
                f.write(encode_png(np.concatenate([image, 255 - image], axis=1)))
    return root


def test_folder_report_metric_subset_baseline_and_no_overwrite(tmp_path, capsys):
    data = _paired_folder(str(tmp_path / "ab"))
    invert = toys.export_toy(str(tmp_path / "invert"), "paired", lambda image: 255 - image)
    identity = toys.export_toy(str(tmp_path / "identity"), "paired", lambda image: image)
    out = str(tmp_path / "eval")

    assert main(["--model", invert, "--data", data, "--metrics", "psnr_y,lpips", "--baseline", identity,
                 "--threshold", "psnr.max_regression=0", "--output", out, "--quiet"]) == 0
    report = _report(out)
    assert list(report["metrics"]) == ["psnr_y", "lpips"]  # psnr is thresholded by default but not selected
    assert report["metrics"]["psnr_y"] == "Infinity" and report["metrics"]["lpips"] == pytest.approx(0, abs=1e-6)
    assert report["baseline"]["metrics"]["lpips"] > 0.1
    assert report["data"] == {"spec": data, "source": "folder", "split": "eval", "planned": 4, "rejected": 0}
    assert "baseline output" in open(os.path.join(out, "report.html")).read()

    before = open(os.path.join(out, "metrics.json")).read()
    assert main(["--model", identity, "--data", data, "--output", out, "--quiet"]) == 2
    assert "an evaluation report exists; pass --overwrite" in capsys.readouterr().err
    assert open(os.path.join(out, "metrics.json")).read() == before
    assert main(["--model", identity, "--data", data, "--output", out, "--overwrite", "--quiet"]) == 0
    assert _report(out)["metrics"]["psnr_y"] < 20.0


def test_saved_judge_is_reused_and_must_fit_the_data(tmp_path, capsys):
    root = tmp_path / "unpaired"
    for split in ("train", "test"):
        for domain, seed in (("A", 1), ("B", 2)):
            os.makedirs(root / split / domain)
            for i, image in enumerate(toys.smooth_images(4, seed=seed * 10 + len(split))):
                image = image // 4 if domain == "A" else 255 - image // 4  # dark A, bright B
                (root / split / domain / f"{i}.png").write_bytes(encode_png(image))
    identity = toys.export_toy(str(tmp_path / "id"), "unpaired", lambda image: image, mode="a2b")
    brighten = toys.export_toy(str(tmp_path / "bright"), "unpaired", lambda image: 255 - image, mode="a2b")
    first, second = str(tmp_path / "e1"), str(tmp_path / "e2")
    assert main(["--model", identity, "--data", str(root), "--output", first, "--quiet"]) == 0
    judge = os.path.join(first, "domain_judge.npz")
    assert main(["--model", brighten, "--data", str(root), "--judge", judge, "--output", second, "--quiet"]) == 0
    one, two = _report(first), _report(second)
    assert one["metrics"]["domain_accuracy"] == 0.0 and two["metrics"]["domain_accuracy"] == 1.0
    assert one["protocol"]["domain_judge"] == two["protocol"]["domain_judge"]
    assert len(one["protocol"]["domain_judge"]["training_images_sha256"]) == 64

    paired = toys.export_toy(str(tmp_path / "p"), "multi_domain", lambda image, target: image,
                             extra=tf.TensorSpec([None], tf.int32, name="target_domain"))
    fm = os.path.join(os.path.dirname(__file__), "..", "..", "i2i_keras", "data", "embedded", "fashion_mnist")
    assert main(["--model", paired, "--data", fm, "--judge", judge, "--max-examples", "4", "--quiet"]) == 2
    assert "cannot judge this data" in capsys.readouterr().err


def test_missing_weights_are_skipped_with_the_reason(tmp_path, monkeypatch):
    from i2i_keras.evaluation import base
    from i2i_keras.evaluation import features
    from i2i_keras.networks import pretrained

    monkeypatch.setenv("I2I_KERAS_WEIGHTS_DIR", str(tmp_path / "no_weights"))
    for clear in (base._lpips_model.cache_clear, features._vgg_pooled.cache_clear, pretrained.clear_cache):
        clear()
    try:
        data = _paired_folder(str(tmp_path / "ab"))
        model = toys.export_toy(str(tmp_path / "m"), "paired", lambda image: image)
        out = str(tmp_path / "eval")
        assert main(["--model", model, "--data", data, "--output", out, "--quiet"]) == 0
        report = _report(out)
        assert isinstance(report["metrics"]["psnr_y"], float) and not report["skipped"].get("psnr_y")
        for name in ("lpips", "fd_vgg16", "kid_vgg16"):
            assert report["metrics"][name] is None and "no_weights" in report["skipped"][name]
        assert "Skipped metrics" in open(os.path.join(out, "report.html")).read()
    finally:
        for clear in (base._lpips_model.cache_clear, features._vgg_pooled.cache_clear, pretrained.clear_cache):
            clear()


@pytest.mark.parametrize("argv, code, message", [
    (["--data", "nowhere"], 2, "nowhere: no such folder or file"),
    (["--metrics", "psnr,fid_banana"], 2, "not metrics of this evaluation"),
    (["--split", "middle"], 2, "--split must be one of"),
    (["--max-examples", "0"], 2, "--max-examples must be >= 1"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, argv, code, message):
    data = _paired_folder(str(tmp_path / "ab"))
    model = toys.export_toy(str(tmp_path / "m"), "paired", lambda image: image)
    args = {"--model": model, "--data": data}
    args.update(dict(zip(argv[::2], argv[1::2])))
    assert main([x for kv in args.items() for x in kv] + ["--quiet"]) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_tfx_examples_artifact_is_read_through_its_eval_split(tmp_path):
    from i2i_keras.data import encode_example

    images = toys.smooth_images(3, seed=60)
    examples = toys.write_split(str(tmp_path / "ex"), [encode_example(source=encode_png(x), target=encode_png(x))
                                                       for x in images])
    identity = toys.export_toy(str(tmp_path / "id"), "paired", lambda image: image)
    out = str(tmp_path / "eval")
    assert main(["--model", identity, "--data", examples, "--metrics", "psnr", "--output", out, "--quiet"]) == 0
    report = _report(out)
    assert report["data"] == {"spec": examples, "source": "examples", "split": "eval"}
    assert report["metrics"] == {"psnr": "Infinity"} and report["num_images"] == 3
