"""Evaluation as the TFX ImageEvaluator runs it (`pipeline.components.evaluate`, a thin component over
`i2i_keras.evaluation`): the metrics of each data kind on SavedModels with known behaviour (identity, "perfect"
translators built with the export layout), the feature distance, thresholds and the blessing decision. The library's
own rules are tested in tests/evaluation."""

import json
import math
import os

import numpy as np
import pytest

pytest.importorskip("tfx", reason="the pipeline needs TFX (the Python 3.10 lane)")

import tensorflow as tf  # noqa: E402

from i2i_keras import metrics as i2i_metrics  # noqa: E402
from i2i_keras.data import encode_example  # noqa: E402
from i2i_keras.data import encode_png  # noqa: E402
from i2i_keras.data import transforms  # noqa: E402
from i2i_keras.errors import ConfigError  # noqa: E402
from i2i_keras.errors import DataError  # noqa: E402
from i2i_keras.errors import RequestError  # noqa: E402
from i2i_keras.evaluation import blessing  # noqa: E402
from i2i_keras.evaluation import features  # noqa: E402
from pipeline.components import evaluate  # noqa: E402
from tests.pipeline import pipeline_test_utils as utils  # noqa: E402


def _rng_images(n, size=32, channels=3, seed=0):
    """Smooth random images (a blurred noise field per image), distinct from one another."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        coarse = rng.uniform(0, 255, (4, 4, channels)).astype(np.float32)
        out.append(tf.cast(tf.image.resize(coarse[None], [size, size])[0], tf.uint8).numpy())
    return out


def test_random_features_are_fixed_by_the_seed():
    images = [transforms.from_uint(img)[None] for img in _rng_images(3)]
    first = features.RandomConvFeatures(0)(images)
    assert first.shape == (3, 64)
    np.testing.assert_array_equal(first, features.RandomConvFeatures(0)(images))
    assert not np.allclose(first, features.RandomConvFeatures(1)(images))


def test_thresholds_are_validated():
    assert evaluate.validate_thresholds("paired", {"psnr": {"lower_bound": 20}}) == {"psnr": {"lower_bound": 20.0}}
    for kind, thresholds, code, message in [
            ("unpaired", {"psnr": {"lower_bound": 20}}, "unknown_metric", r"Unknown metric 'psnr' for unpaired data"),
            ("paired", {"psnr": {"minimum": 20}}, "unknown_check", r"Unknown check 'minimum'"),
            ("paired", {"psnr": {"max_regression": -1}}, "bad_threshold", r"must be >= 0"),
            ("paired", {"ssim": {"lower_bound": "high"}}, "bad_threshold", r"must be a finite number")]:
        with pytest.raises(ConfigError, match=message) as info:
            evaluate.validate_thresholds(kind, thresholds)
        assert info.value.code == code


def test_blessing_checks():
    directions = {"psnr": 1, "ssim": 1, "l1": -1}
    metrics = {"psnr": 20.0, "ssim": 0.5, "l1": 0.2}
    blessed, checks = blessing.check_blessing(metrics, {"psnr": {"lower_bound": 19.0, "max_regression": 1.0}},
                                              directions=directions)
    checks = [c for c in checks if c["check"] != "valid"]
    assert blessed and [c["check"] for c in checks] == ["lower_bound", "max_regression"]
    assert checks[1]["detail"] == "no blessed baseline model yet"
    # Worse than the baseline by 1.5 dB > 1.0 allowed.
    blessed, checks = blessing.check_blessing(metrics, {"psnr": {"max_regression": 1.0}}, {"psnr": 21.5},
                                              directions=directions)
    assert not blessed and checks[-1]["regression"] == pytest.approx(1.5)
    # Lower-is-better metrics regress upwards.
    blessed, _ = blessing.check_blessing(metrics, {"l1": {"max_regression": 0.05}}, {"l1": 0.1},
                                         directions=directions)
    assert not blessed
    assert not blessing.check_blessing(metrics, {"l1": {"upper_bound": 0.1}}, directions=directions)[0]
    # A NaN metric is never blessed; a metric that could not be computed only fails when thresholded.
    assert not blessing.check_blessing({**metrics, "psnr": float("nan")}, {}, directions=directions)[0]
    assert blessing.check_blessing({**metrics, "ssim": None}, {}, directions=directions)[0]
    assert not blessing.check_blessing({**metrics, "ssim": None}, {"ssim": {"lower_bound": 0.1}},
                                       directions=directions)[0]


def test_paired_metrics_are_those_of_the_served_output(tmp_path):
    sources, targets = _rng_images(5, seed=1), _rng_images(5, seed=2)
    examples = str(tmp_path / "examples")
    utils.write_split(examples, "eval", [encode_example(source=encode_png(s), target=encode_png(t))
                                         for s, t in zip(sources, targets)])
    identity = utils.export_toy(str(tmp_path / "identity"), "paired", lambda image: image)
    darker = utils.export_toy(str(tmp_path / "darker"), "paired", lambda image: image // 2)

    report = evaluate.evaluate_models(identity, examples, {"psnr": {"max_regression": 0.0}}, baseline_path=darker)

    expected = [float(i2i_metrics.psnr(transforms.from_uint(s)[None], transforms.from_uint(t)[None]))
                for s, t in zip(sources, targets)]
    assert report["metrics"]["psnr"] == pytest.approx(np.mean(expected), rel=1e-5)
    assert report["num_images"] == 5 and report["signature"] == "translate_bytes"
    assert report["baseline"]["path"] == darker and report["baseline"]["metrics"]["psnr"] != report["metrics"]["psnr"]
    regression = report["baseline"]["metrics"]["psnr"] - report["metrics"]["psnr"]
    (check,) = [c for c in report["checks"] if c["check"] == "max_regression"]
    assert check["regression"] == pytest.approx(regression)
    assert report["blessed"] == (regression <= 0.0)


def test_unpaired_identity_scores_like_the_untranslated_source(tmp_path, monkeypatch):
    monkeypatch.delenv("I2I_KERAS_FID_WEIGHTS", raising=False)
    a_images = [np.repeat(img[..., :1], 3, axis=-1) for img in _rng_images(6, seed=3)]  # gray
    b_images = _rng_images(6, seed=4)  # colour
    examples = str(tmp_path / "examples")
    utils.write_split(examples, "eval", [encode_example(image=encode_png(x), domain=d)
                                         for d, images in ((0, a_images), (1, b_images)) for x in images])
    identity = utils.export_toy(str(tmp_path / "identity"), "unpaired", lambda image: image, mode="a2b")

    report = evaluate.evaluate_models(identity, examples, {"domain_accuracy": {"lower_bound": 0.5}})

    assert report["feature_network"] == "vgg16_relu5_3_mean_224" and report["mode"] == "a2b"
    # Translating nothing: the distance is that of the real A and B images, and nothing looks like B.
    assert report["metrics"]["fd_vgg16"] == pytest.approx(report["reference"]["fd_vgg16_source_to_target"], rel=1e-6)
    assert report["metrics"]["kid_vgg16"] == pytest.approx(report["reference"]["kid_vgg16_source_to_target"],
                                                           rel=1e-6)
    assert set(report["skipped"]) == {"lpips_diversity", "fid", "kid"}  # no FID Inception weights in the tests
    assert "no sampling mode" in report["skipped"]["lpips_diversity"]
    assert report["reference"]["judge_accuracy_on_real"] == 1.0
    assert report["metrics"]["domain_accuracy"] == 0.0
    assert not report["blessed"]


@pytest.mark.parametrize("kind", ["index", "vector"])
def test_multi_domain_label_inputs(tmp_path, kind):
    per_class = {c: [img[..., :1] for img in _rng_images(4, channels=3, seed=10 + c)] for c in range(3)}
    # Make the classes easy to tell apart: class c is scaled to its own brightness band.
    per_class = {c: [(img // 3 + 85 * c).astype(np.uint8) for img in imgs] for c, imgs in per_class.items()}
    examples = str(tmp_path / "examples")
    utils.write_split(examples, "eval", [encode_example(image=encode_png(x), label=list(np.eye(3, dtype=int)[c]))
                                         for c, imgs in per_class.items() for x in imgs])
    prototypes = tf.constant(np.stack([per_class[c][0] for c in range(3)]))
    if kind == "index":
        spec = tf.TensorSpec([None], tf.int32, name="target_domain")
        perfect = lambda image, target: tf.gather(prototypes, target)  # noqa: E731
    else:
        spec = tf.TensorSpec([None, 3], tf.float32, name="target_labels")
        perfect = lambda image, target: tf.gather(prototypes, tf.argmax(target))  # noqa: E731
    identity = utils.export_toy(str(tmp_path / "identity"), "multi_domain", lambda image, target: image, 1, spec)
    perfect = utils.export_toy(str(tmp_path / "perfect"), "multi_domain", perfect, 1, spec)

    report = evaluate.evaluate_models(perfect, examples, {"domain_accuracy": {"max_regression": 0.0}},
                                      baseline_path=identity)

    assert report["reference"]["judge_accuracy_on_real"] == 1.0
    assert report["metrics"]["domain_accuracy"] == 1.0
    assert report["baseline"]["metrics"]["domain_accuracy"] == 0.0
    assert report["blessed"] and report["num_images"] == 12


def test_multi_domain_needs_a_label_input(tmp_path):
    examples = str(tmp_path / "examples")
    utils.write_split(examples, "eval", [encode_example(image=encode_png(x), label=[1, 0]) for x in _rng_images(2)])
    no_label = utils.export_toy(str(tmp_path / "m"), "multi_domain", lambda image: image)
    with pytest.raises(evaluate.EvaluationError, match=r"no translation mode takes a target label") as info:
        evaluate.evaluate_models(no_label, examples, {})
    assert isinstance(info.value, RequestError) and info.value.code == "no_label_mode"


def test_missing_eval_split_is_a_clear_error(tmp_path):
    identity = utils.export_toy(str(tmp_path / "m"), "paired", lambda image: image)
    os.makedirs(tmp_path / "examples" / "Split-eval")
    with pytest.raises(evaluate.EvaluationError, match=r"Split-eval: no eval TFRecord shards") as info:
        evaluate.evaluate_models(identity, str(tmp_path / "examples"), {})
    assert isinstance(info.value, DataError) and info.value.code == "no_eval_shards"


def test_multi_domain_attributes_flip_one_attribute(tmp_path):
    # Two attributes, "red" and "green": each a colour channel switched on; four images per combination.
    def image(red, green, seed):
        base = _rng_images(1, seed=seed)[0] // 4
        return (base + np.array([150 * red, 150 * green, 0], np.uint8)).astype(np.uint8)

    combos = [(r, g) for r in (0, 1) for g in (0, 1)]
    records, prototypes = [], []
    for r, g in combos:
        prototypes.append(image(r, g, 99))
        records += [encode_example(image=encode_png(image(r, g, 20 + 4 * r + 2 * g + k)), label=[r, g])
                    for k in range(4)]
    examples = str(tmp_path / "examples")
    utils.write_split(examples, "eval", records)
    table = tf.constant(np.stack(prototypes))
    spec = tf.TensorSpec([None, 2], tf.float32, name="target_labels")
    perfect = utils.export_toy(str(tmp_path / "perfect"), "multi_domain", lambda img, target: tf.gather(
        table, tf.cast(2 * target[0] + target[1], tf.int32)), 3, spec)
    identity = utils.export_toy(str(tmp_path / "identity"), "multi_domain", lambda img, target: img, 3, spec)

    report = evaluate.evaluate_models(perfect, examples, {}, baseline_path=identity)

    assert report["reference"]["judge_accuracy_on_real"] == 1.0
    assert report["metrics"]["domain_accuracy"] == 1.0
    assert report["baseline"]["metrics"]["domain_accuracy"] == 0.0


def test_component_writes_strict_json_and_the_blessing(tmp_path):
    from tfx.types import standard_artifacts

    images = _rng_images(3, seed=5)
    examples_uri = str(tmp_path / "examples")
    utils.write_split(examples_uri, "eval", [encode_example(source=encode_png(x), target=encode_png(x))
                                             for x in images])
    artifacts = {}
    for name, cls in (("model", standard_artifacts.Model), ("examples", standard_artifacts.Examples),
                      ("evaluation", standard_artifacts.ModelEvaluation),
                      ("blessing", standard_artifacts.ModelBlessing)):
        artifacts[name] = cls()
        artifacts[name].uri = str(tmp_path / name)
        os.makedirs(artifacts[name].uri, exist_ok=True)
    artifacts["examples"].uri = examples_uri
    utils.export_toy(os.path.join(artifacts["model"].uri, "Format-Serving"), "paired", lambda image: image)
    function = evaluate.ImageEvaluator.EXECUTOR_SPEC.executor_class._FUNCTION

    function(**artifacts, baseline_model=None, thresholds='{"psnr": {"lower_bound": 30}}', max_examples=64, seed=0)

    with open(os.path.join(artifacts["evaluation"].uri, evaluate.METRICS_FILE)) as f:
        text = f.read()
    report = json.loads(text, parse_constant=lambda token: pytest.fail(f"non-strict JSON token {token}"))
    assert report["metrics"]["psnr"] == "Infinity" and report["blessed"]  # a perfect model: infinite PSNR
    assert os.path.isfile(os.path.join(artifacts["blessing"].uri, "BLESSED"))
    assert artifacts["blessing"].get_int_custom_property("blessed") == 1
    assert artifacts["evaluation"].get_float_custom_property("l1") == 0.0
    with pytest.raises(ConfigError) as info:
        function(**artifacts, baseline_model=None, thresholds="{psnr", max_examples=64, seed=0)
    assert info.value.code == "bad_thresholds"
