"""Evaluation of an unconditional generator (first mode a generation mode), with the tiny stand-in of
`tests.generation_model`: samples as many as the eval images from a fixed seed, distribution metrics only."""

import math

import numpy as np
import pytest

from i2i_keras.data import encode_example
from i2i_keras.data import encode_png
from i2i_keras.errors import RequestError
from i2i_keras.evaluation import evaluate_export
from i2i_keras.evaluation.exported import ServedModel
from tests.evaluation import toys
from tests.generation_model import tiny_generator


@pytest.fixture(scope="module")
def generator_export(tmp_path_factory):
    from i2i_keras.export import export_for_serving

    model = tiny_generator()
    return model, export_for_serving(model, str(tmp_path_factory.mktemp("gen_eval") / "export"))


def test_served_generate_asks_batches_with_consecutive_seeds(generator_export):
    import tensorflow as tf

    model, path = generator_export
    served = ServedModel(path, batch_size=2)
    assert served.generation_mode() == "generate"
    pngs = served.generate(5, seed=3)
    assert len(pngs) == 5
    # Calls of 2, 2 and 1 samples with seeds 3, 4, 5; truncation_psi from the metadata's default (1: none).
    expected = np.concatenate([np.asarray(model.translate(None, mode="generate", num_samples=np.int32(n),
                                                          seed=np.int64(seed), truncation_psi=np.float32(1.0)))
                               for n, seed in ((2, 3), (2, 4), (1, 5))])
    for png, want in zip(pngs, np.round((expected + 1) * 127.5)):
        assert np.abs(tf.io.decode_png(png).numpy().astype(int) - want.astype(int)).max() <= 1
    with pytest.raises(RequestError, match="'mix' is not a generation mode taking 'num_samples' and 'seed'") as err:
        served.generate(2, seed=0, mode="mix")
    assert err.value.code == "mode_needs_inputs"


def test_a_generator_is_evaluated_on_samples_without_input_metrics(generator_export, tmp_path, vgg16_offline,
                                                                   monkeypatch):
    monkeypatch.delenv("I2I_KERAS_FID_WEIGHTS", raising=False)
    _, path = generator_export
    images = toys.smooth_images(6, size=16, seed=4)
    examples = toys.write_split(str(tmp_path / "ex"), [encode_example(image=encode_png(x)) for x in images])
    thresholds = {"ssim_to_input": {"max_regression": 0.1}, "fd_vgg16": {"upper_bound": 1e9}}

    report = evaluate_export(path, examples, thresholds, baseline_path=path)

    metrics = report["metrics"]
    assert report["mode"] == "generate" and report["num_images"] == 6
    assert metrics["fd_vgg16"] > 0 and math.isfinite(metrics["fd_vgg16"]) and math.isfinite(metrics["kid_vgg16"])
    assert metrics["ssim_to_input"] is None and metrics["l1_to_input"] is None and metrics["lpips_to_input"] is None
    assert "no input to compare" in report["skipped"]["ssim_to_input"]
    # The input metric's threshold is not checked (it would fail on None against the baseline); the others are.
    assert report["blessed"] and "ssim_to_input" not in report["thresholds"]
    assert [c["metric"] for c in report["checks"] if c["check"] != "valid"] == ["fd_vgg16"]
    # Samples from a fixed seed: the baseline (the same export) scores exactly the same.
    assert report["baseline"]["metrics"]["fd_vgg16"] == metrics["fd_vgg16"]


def test_the_evaluate_cli_reports_a_generators_samples(generator_export, tmp_path, vgg16_offline):
    from i2i_keras.data import kinds
    from i2i_keras.evaluate import main

    _, path = generator_export
    out = str(tmp_path / "report")
    assert main(["--model", path, "--baseline", path, "--data", kinds.get("single").default_data,
                 "--max-examples", "3", "--output", out, "--quiet"]) == 0
    with open(f"{out}/report.html") as f:
        page = f.read()
    assert "<th>sample</th><th>baseline output</th>" in page and page.count("<img") == 6
