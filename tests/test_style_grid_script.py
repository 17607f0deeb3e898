"""scripts/make_style_grid.py: the README figure is made by the code (tiny settings here)."""

import importlib.util
import os

from tests.helpers import REPO


def test_style_grid_rows_are_content_style_result(vgg16_offline):
    spec = importlib.util.spec_from_file_location("make_style_grid",
                                                  os.path.join(REPO, "scripts", "make_style_grid.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grid = module.make_grid(32, 2, pairs=module.PAIRS[:2])
    assert grid.shape == (2 * 32 + 4, 3 * 32 + 8, 3) and grid.dtype.name == "uint8"
    content, style, result = grid[:32, :32], grid[:32, 36:68], grid[:32, 72:]
    assert abs(int(content.mean()) - int(style.mean())) > 0 and (result != content).any()
