"""The evaluators of every data kind on toy exports with known outputs, through `evaluate_export` and directly, and
the errors of evaluation (library types with codes)."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import metrics as image_metrics
from i2i_keras.data import encode_example
from i2i_keras.data import kinds
from i2i_keras.data import encode_png
from i2i_keras.data import transforms
from i2i_keras.errors import ConfigError
from i2i_keras.errors import DataError
from i2i_keras.errors import RequestError
from i2i_keras.evaluation import evaluate_export
from i2i_keras.evaluation import to_json
from i2i_keras.evaluation.distribution import MultiDomainEvaluator
from i2i_keras.evaluation.distribution import SingleImageEvaluator
from i2i_keras.evaluation.distribution import UnpairedEvaluator
from i2i_keras.evaluation.exported import ServedModel
from i2i_keras.evaluation.paired import PairedEvaluator
from i2i_keras.evaluation.paired import SuperResolutionEvaluator
from i2i_keras.metrics.distribution import frechet_distance
from i2i_keras.metrics.distribution import kernel_inception_distance
from i2i_keras.metrics.image import psnr_sr
from tests.evaluation import toys


def _upscale(factor):
    def up(image):
        size = tf.shape(image)[:2] * factor
        return tf.cast(tf.image.resize(image, size, method="nearest"), tf.uint8)

    return up


# ----------------------------------------------------------------------------------------------- paired


def test_paired_perfect_output_has_infinite_psnr_and_is_blessed(tmp_path):
    images = toys.smooth_images(3, seed=1)
    examples = toys.write_split(str(tmp_path / "ex"), [encode_example(source=encode_png(x), target=encode_png(x))
                                                       for x in images])
    identity = toys.export_toy(str(tmp_path / "id"), "paired", lambda image: image)
    darker = toys.export_toy(str(tmp_path / "dark"), "paired", lambda image: image // 2)

    report = evaluate_export(identity, examples, {"psnr": {"lower_bound": 30.0, "max_regression": 0.0}},
                             baseline_path=darker)

    assert report["metrics"]["psnr"] == math.inf and report["metrics"]["l1"] == 0.0
    assert report["metrics"]["ssim"] == pytest.approx(1.0)
    assert report["blessed"] and report["num_images"] == 3 and report["protocol"]["name"] == "paired_v2"
    assert report["metrics"]["psnr_y"] == math.inf and report["metrics"]["ssim_y"] == pytest.approx(1.0)
    assert report["metrics"]["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert math.isfinite(report["baseline"]["metrics"]["psnr"])
    assert report["directions"] == {"psnr": 1, "ssim": 1, "l1": -1, "psnr_y": 1, "ssim_y": 1, "lpips": -1,
                                    "fd_vgg16": -1, "kid_vgg16": -1, "fid": -1, "kid": -1, "lpips_diversity": 1}
    assert report["baseline"]["metrics"]["lpips"] > 0.0
    back = json.loads(to_json(report))
    assert back["metrics"]["psnr"] == "Infinity" and back["json_note"].startswith("non-finite numbers")
    # The darker model against the perfect one as baseline: an infinite regression.
    report = evaluate_export(darker, examples, {"psnr": {"max_regression": 100.0}}, baseline_path=identity)
    assert not report["blessed"]
    assert [c["regression"] for c in report["checks"] if c["check"] == "max_regression"] == [math.inf]


def test_paired_evaluator_directly_on_records():
    sources, targets = toys.smooth_images(4, seed=2), toys.smooth_images(4, seed=3)
    records = [{"source": encode_png(s), "target": encode_png(t)} for s, t in zip(sources, targets)]
    evaluator = PairedEvaluator(iter(records), {"data_kind": "paired"}, max_examples=3)
    assert evaluator.num_images == 3 and evaluator.reference == {}
    assert evaluator.incompatibility({"data_kind": "paired"}) is None
    assert "differs" in evaluator.incompatibility({"data_kind": "sr"})
    with pytest.raises(ConfigError) as info:
        PairedEvaluator(records, {}, max_examples=0)
    assert info.value.code == "bad_value"


# ----------------------------------------------------------------------------------------------- sr


def test_sr_degrades_high_res_images_with_the_data_layers_own_function(tmp_path):
    images = toys.smooth_images(3, size=33, seed=4, width=38)  # not multiples of the scale: cropped to 32x38
    examples = toys.write_split(str(tmp_path / "ex"), [encode_example(image=encode_png(x)) for x in images])
    model = toys.export_toy(str(tmp_path / "x2"), "sr", _upscale(2), metadata={"output_scale": 2})

    report = evaluate_export(model, examples, {"psnr": {"lower_bound": 5.0}})

    expected, expected_y = [], []
    for image in images:
        high = transforms.crop_to_multiple(transforms.from_uint(image), 2)
        low = transforms.to_uint8(transforms.degrade_for_sr(high, 2))
        out = transforms.from_uint(_upscale(2)(low))
        assert out.shape == high.shape == (32, 38, 3)
        expected.append(float(image_metrics.psnr(out[None], high[None])))
        # Y channel with crop_border = scale, on the served uint8 values: the super-resolution convention.
        expected_y.append(psnr_sr(transforms.to_uint8(out).numpy(), transforms.to_uint8(high).numpy(),
                                  crop_border=2).mean)
    assert report["metrics"]["psnr"] == pytest.approx(np.mean(expected), rel=1e-5)
    assert report["metrics"]["psnr_y"] == pytest.approx(np.mean(expected_y), rel=1e-9)
    assert report["protocol"]["crop_border"] == 2 and 0.0 < report["metrics"]["lpips"] < 1.0
    assert report["protocol"]["output_scale"] == 2 and report["num_images"] == 3 and report["blessed"]
    assert 0.0 < report["metrics"]["l1"] < 0.5 and 0.0 < report["metrics"]["ssim"] <= 1.0


def test_sr_uses_source_target_records_as_they_are(tmp_path):
    lows = toys.smooth_images(2, size=16, seed=5)
    records = [encode_example(source=encode_png(x), target=encode_png(_upscale(2)(x).numpy())) for x in lows]
    examples = toys.write_split(str(tmp_path / "ex"), records)
    model = toys.export_toy(str(tmp_path / "x2"), "sr", _upscale(2), metadata={"output_scale": 2})
    report = evaluate_export(model, examples, {})
    assert report["metrics"]["psnr"] == math.inf and report["metrics"]["l1"] == 0.0 and report["num_images"] == 2


def test_sr_output_size_and_scale_checks(tmp_path):
    images = toys.smooth_images(2, size=24, seed=6) + [toys.smooth_images(1, size=1, seed=7)[0]]
    examples = toys.write_split(str(tmp_path / "ex"), [encode_example(image=encode_png(x)) for x in images])
    not_upscaling = toys.export_toy(str(tmp_path / "same"), "sr", lambda image: image, metadata={"output_scale": 2})
    with pytest.raises(RequestError, match=r"output \(12, 12\) does not match its target \(24, 24\)") as info:
        evaluate_export(not_upscaling, examples, {})
    assert info.value.code == "output_size_mismatch"
    # No output_scale in the metadata: 1. The 1x1 image is evaluated too.
    identity = toys.export_toy(str(tmp_path / "id"), "sr", lambda image: image)
    report = evaluate_export(identity, examples, {}, baseline_path=not_upscaling)
    assert report["protocol"]["output_scale"] == 1 and report["num_images"] == 3
    assert report["baseline"]["skipped"] == "baseline output_scale 2 differs from 1"
    # At scale 4, the 1x1 image is too small and skipped (and said so).
    x4 = toys.export_toy(str(tmp_path / "x4"), "sr", _upscale(4), metadata={"output_scale": 4})
    report = evaluate_export(x4, examples, {})
    assert report["num_images"] == 2 and report["reference"] == {"skipped_smaller_than_scale": 1}


# ----------------------------------------------------------------------------------------------- single


def test_single_identity_preserves_content_and_distribution(tmp_path, monkeypatch):
    monkeypatch.delenv("I2I_KERAS_FID_WEIGHTS", raising=False)
    images = toys.smooth_images(6, seed=8)
    examples = toys.write_split(str(tmp_path / "ex"), [encode_example(image=encode_png(x)) for x in images])
    identity = toys.export_toy(str(tmp_path / "id"), "single", lambda image: image)
    inverted = toys.export_toy(str(tmp_path / "inv"), "single", lambda image: 255 - image)

    report = evaluate_export(identity, examples, {"ssim_to_input": {"max_regression": 0.1}}, baseline_path=inverted)

    scale = report["reference"]["fd_vgg16_between_halves"]
    assert scale > 0.0 and report["metrics"]["fd_vgg16"] == pytest.approx(0.0, abs=1e-6 * scale)
    assert report["metrics"]["ssim_to_input"] == pytest.approx(1.0) and report["metrics"]["l1_to_input"] == 0.0
    assert report["metrics"]["lpips_to_input"] == pytest.approx(0.0, abs=1e-6)
    assert report["feature_network"] == "vgg16_relu5_3_mean_224" and report["blessed"]
    assert set(report["skipped"]) == {"fid", "kid"} and "I2I_KERAS_FID_WEIGHTS" in report["skipped"]["fid"]
    base = report["baseline"]["metrics"]
    assert base["l1_to_input"] > 0.3 and base["ssim_to_input"] < 0.5 and base["fd_vgg16"] > 0.0
    # KID (unbiased MMD^2) on 6 images is too noisy to order these two; it is tested on Gaussians in tests/metrics.
    assert base["lpips_to_input"] > 0.1 and math.isfinite(base["kid_vgg16"])


def test_single_resizes_outputs_of_another_size_to_the_input():
    images = toys.smooth_images(3, size=20, seed=9)
    evaluator = SingleImageEvaluator([{"image": encode_png(x)} for x in images], {"data_kind": "single"})

    class Doubling:  # a ServedModel stand-in: the outputs are nearest-neighbour 2x upscales
        def use_first_mode(self):
            return "translate"

        def translate(self, encoded):
            return [encode_png(_upscale(2)(tf.io.decode_png(x)).numpy()) for x in encoded]

    metrics = evaluator.metrics(Doubling())
    assert metrics["ssim_to_input"] > 0.9 and metrics["l1_to_input"] < 0.05
    assert evaluator.reference == {}  # fewer than 4 images: no halves to compare


# ----------------------------------------------------------------------------------------------- unpaired / multi


def test_unpaired_and_multi_domain_evaluators_directly():
    a, b = toys.smooth_images(5, seed=10), toys.smooth_images(3, seed=11)
    records = [{"image": encode_png(x), "domain": 0} for x in a] + [{"image": encode_png(x), "domain": 1} for x in b]
    evaluator = UnpairedEvaluator(records, {"data_kind": "unpaired"}, max_examples=4)
    assert evaluator.num_images == 4 and len(evaluator.real["fd_vgg16"]) == 3
    assert set(evaluator.reference) == {"fd_vgg16_source_to_target", "kid_vgg16_source_to_target",
                                        "judge_accuracy_on_real"}
    with pytest.raises(DataError, match=r"no domain B \(domain=1\) examples") as info:
        UnpairedEvaluator(records[:5], {"data_kind": "unpaired"})
    assert info.value.code == "empty_eval_split"

    labels = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
    records = [{"image": encode_png(x), "label": np.array(y)} for x, y in zip(toys.smooth_images(4), labels)]
    assert MultiDomainEvaluator(records, {"data_kind": "multi_domain"}).protocol["labels"] == "onehot"
    # The records' declared label convention wins over the guess from the labels.
    declared = [{**r, "label_mode": b"attributes"} for r in records]
    assert MultiDomainEvaluator(declared, {"data_kind": "multi_domain"}).protocol["labels"] == "attributes"
    with pytest.raises(DataError, match="labels of different lengths") as info:
        MultiDomainEvaluator(records + [{"image": records[0]["image"], "label": np.array([1, 0])}],
                             {"data_kind": "multi_domain"})
    assert info.value.code == "inconsistent_labels"


# ----------------------------------------------------------------------------------------------- errors


def test_evaluation_errors_are_library_errors_with_codes(tmp_path):
    paired = toys.export_toy(str(tmp_path / "p"), "paired", lambda image: image)
    empty = tmp_path / "empty"
    (empty / "Split-eval").mkdir(parents=True)
    with pytest.raises(DataError, match=r"Split-eval: no eval TFRecord shards") as info:
        evaluate_export(paired, str(empty), {})
    assert info.value.code == "no_eval_shards"

    unpaired_records = toys.write_split(str(tmp_path / "u"), [encode_example(image=encode_png(x), domain=0)
                                                              for x in toys.smooth_images(2)])
    with pytest.raises(DataError, match=r"eval records do not match the 'paired' schema") as info:
        evaluate_export(paired, unpaired_records, {})
    assert info.value.code == "schema_mismatch"

    with pytest.raises(DataError, match="no domain B") as info:
        evaluate_export(toys.export_toy(str(tmp_path / "u2"), "unpaired", lambda image: image), unpaired_records, {})
    assert info.value.code == "empty_eval_split"

    gzip_junk = tmp_path / "junk" / "Split-eval"
    gzip_junk.mkdir(parents=True)
    (gzip_junk / "data-00000-of-00001.tfrecord.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError) as info:
        evaluate_export(paired, str(tmp_path / "junk"), {})
    assert info.value.code == "corrupt"

    odd = toys.export_toy(str(tmp_path / "odd"), "no_such_kind", lambda image: image)
    with pytest.raises(RequestError, match=r"no known data kind \(data_kind='no_such_kind'") as info:
        evaluate_export(odd, unpaired_records, {})
    assert info.value.code == "unsupported_data_kind"

    with pytest.raises(ConfigError) as info:
        evaluate_export(paired, unpaired_records, {"domain_accuracy": {"lower_bound": 0.5}})
    assert info.value.code == "unknown_metric"

    label = tf.TensorSpec([None], tf.int32, name="target_domain")
    needs_label = toys.export_toy(str(tmp_path / "l"), "paired", lambda image, t: image, extra=label)
    pairs = toys.write_split(str(tmp_path / "pairs"), [encode_example(source=encode_png(x), target=encode_png(x))
                                                       for x in toys.smooth_images(2)])
    with pytest.raises(RequestError) as info:
        evaluate_export(needs_label, pairs, {})
    assert info.value.code == "mode_needs_inputs"


def test_served_model_is_the_evaluators_model(tmp_path):
    identity = toys.export_toy(str(tmp_path / "id"), "paired", lambda image: image)
    evaluator = PairedEvaluator([{"source": encode_png(x), "target": encode_png(255 - x)}
                                 for x in toys.smooth_images(2)], {"data_kind": "paired"})
    metrics = evaluator.metrics(ServedModel(identity))
    assert set(metrics) == set(kinds.get("paired").metrics) and metrics["l1"] > 0.1


def test_sr_evaluator_class_parses_pairs_and_images():
    pair = encode_example(source=encode_png(toys.smooth_images(1)[0]), target=encode_png(toys.smooth_images(1)[0]))
    single = encode_example(image=encode_png(toys.smooth_images(1)[0]))
    assert {"source", "target"} <= set(SuperResolutionEvaluator.parse(tf.constant(pair), "sr"))
    assert "image" in SuperResolutionEvaluator.parse(tf.constant(single), "sr")


def test_fid_and_kid_use_the_fid_network_when_its_weights_are_named(tmp_path, monkeypatch):
    """The wiring of ``fid`` / ``kid``: the FID Inception network (`i2i_keras.metrics.inception`, tested on its own
    in tests/metrics) is replaced by a cheap stand-in; the evaluator must use it for exactly those two metrics."""
    from i2i_keras.evaluation import distribution
    from i2i_keras.evaluation.features import RandomConvFeatures

    stand_in = RandomConvFeatures(seed=5)
    sets = [s if s[0] != "fid" else ("fid", "kid", lambda: (stand_in, None)) for s in distribution.FEATURE_SETS]
    monkeypatch.setattr(distribution, "FEATURE_SETS", tuple(sets))
    images = toys.smooth_images(6, seed=12)
    examples = toys.write_split(str(tmp_path / "ex"), [encode_example(image=encode_png(x)) for x in images])
    inverted = toys.export_toy(str(tmp_path / "inv"), "single", lambda image: 255 - image)
    report = evaluate_export(inverted, examples, {})
    originals = [transforms.from_uint(x)[None] for x in images]
    outputs = [transforms.from_uint(255 - x)[None] for x in images]
    assert report["metrics"]["fid"] == pytest.approx(
        frechet_distance(stand_in(outputs), stand_in(originals)), rel=1e-6)
    assert report["metrics"]["fid"] != pytest.approx(report["metrics"]["fd_vgg16"])
    assert report["metrics"]["kid"] == pytest.approx(kernel_inception_distance(
        stand_in(outputs), stand_in(originals), num_subsets=100, subset_size=1000, seed=0).mean, rel=1e-6)
    assert "fid" not in report["skipped"] and "kid" not in report["skipped"]
