"""The tiling benchmark function (bench/tiling.py) returns its JSON-able figures for a small x2 model."""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_tiled_vs_untiled_reports_both_throughputs():
    spec = importlib.util.spec_from_file_location("bench_tiling", os.path.join(ROOT, "bench", "tiling.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from tests.test_tiling import ConvNet

    result = bench.tiled_vs_untiled(ConvNet(scale=2, filters=4, image_size=32), size=(60, 90), tile=32,
                                    overlap=16, repeats=2)
    assert json.loads(json.dumps(result)) == result
    assert result["output_scale"] == 2 and result["size"] == [60, 90] and result["policy"] == "float32"
    for name in ("tiled", "untiled"):
        assert result[name]["megapixels_per_s"] > 0
        assert result[name]["output_megapixels_per_s"] == pytest.approx(4 * result[name]["megapixels_per_s"], rel=0.01)
    assert result["mean_abs_difference"] < 0.05   # equal away from the padded border (tests/test_tiling.py)

