"""bench/style_transfer.py: the figures the lead's runner can take, JSON-able, on the tiny configs."""

import importlib.util
import json
import os

from tests.helpers import REPO


def test_style_transfer_figures_are_json_with_a_timing_per_method_and_policy():
    path = os.path.join(REPO, "bench", "style_transfer.py")
    spec = importlib.util.spec_from_file_location("bench_style_transfer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.figures(size=32, policies=("float32", "mixed_bfloat16"), steps=2, warmup=1,
                         config_dir=os.path.join(REPO, "configs", "tiny"))
    assert json.loads(json.dumps(out)) == out
    assert out["size"] == 32 and set(out["methods"]) == {"nst", "fast_style", "adain"}
    for method, entry in out["methods"].items():
        assert "error" not in entry, (method, entry)
        for policy in ("float32", "mixed_bfloat16"):
            assert entry[policy]["n"] == 2 and entry[policy]["median_ms"] > 0
        assert entry["bf16_speedup"] > 0
