"""Fixtures for the data-layer tests: tiny image folders in tmp_path."""

import os
import sys

import numpy as np
import pytest

# The helper module sits beside this file; make it importable under any pytest import mode.
if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from data_test_utils import random_image
from data_test_utils import write_png


@pytest.fixture
def ab_folder(tmp_path):
    """5 AB images 12x24: left half = image i, right half = image 100 + i."""
    root = tmp_path / "ab"
    for i in range(5):
        left, right = random_image(12, 12, seed=i), random_image(12, 12, seed=100 + i)
        write_png(root / f"{i:02d}.png", np.concatenate([left, right], axis=1))
    return str(root)


@pytest.fixture
def unpaired_folder(tmp_path):
    """junyanz layout: trainA (3 images), trainB (4), testA (2), testB (2), all 10x10."""
    root = tmp_path / "unpaired"
    counts = {"trainA": 3, "trainB": 4, "testA": 2, "testB": 2}
    for offset, (name, n) in enumerate(counts.items()):
        for i in range(n):
            write_png(root / name / f"{i}.png", random_image(10, 10, seed=10 * offset + i))
    return str(root)


@pytest.fixture
def domains_folder(tmp_path):
    """Three domain folders (cats 3, dogs 2, owls 2 images), 9x9."""
    root = tmp_path / "domains"
    for d, (name, n) in enumerate({"cats": 3, "dogs": 2, "owls": 2}.items()):
        for i in range(n):
            write_png(root / name / f"{name}{i}.png", random_image(9, 9, seed=50 + 10 * d + i))
    return str(root)
