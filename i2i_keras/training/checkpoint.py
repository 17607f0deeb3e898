"""Full-state checkpoints: every model variable (weights, normalisation statistics, image pools, RNG states) and
every optimizer variable (step counter, which also fixes the learning-rate schedule's position, moments, EMA).

A checkpoint is `ckpt-<step>.npz` plus `ckpt-<step>.json` (variable paths, shapes, the run's config). Files are
written to a temporary name and renamed, so an interrupted save never corrupts the latest good checkpoint.
"""

from __future__ import annotations

import glob
import json
import os
import re
from typing import Optional

import numpy as np

_NAME = re.compile(r"ckpt-(\d+)\.npz$")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or does not fit the model it is restored into."""


def _state(model) -> list:
    """(group, variable) pairs in a stable order."""
    pairs = [("model", v) for v in model.variables]
    for attr in ("optimizer", "d_optimizer"):
        optimizer = getattr(model, attr, None)
        if optimizer is not None:
            pairs += [(attr, v) for v in optimizer.variables]
    return pairs


def save(model, directory: str, step: int, config: Optional[dict] = None, keep: int = 3) -> str:
    os.makedirs(directory, exist_ok=True)
    pairs = _state(model)
    arrays = {f"v{i:05d}": np.asarray(v.numpy()) for i, (_, v) in enumerate(pairs)}
    manifest = {"step": int(step), "method": getattr(model, "method_name", None), "config": config,
                "variables": [{"group": g, "path": v.path, "shape": list(v.shape), "dtype": str(v.dtype)}
                              for g, v in pairs]}
    path = os.path.join(directory, f"ckpt-{int(step):08d}.npz")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    with open(path[:-4] + ".json.tmp", "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    os.replace(path[:-4] + ".json.tmp", path[:-4] + ".json")
    os.replace(tmp, path)  # the .npz appears last: its presence marks a complete checkpoint
    for old in list_checkpoints(directory)[:-keep]:
        for suffix in (".npz", ".json"):
            try:
                os.remove(old[:-4] + suffix)
            except FileNotFoundError:
                pass
    return path


def list_checkpoints(directory: str) -> list:
    paths = [p for p in glob.glob(os.path.join(directory, "ckpt-*.npz")) if _NAME.search(p)]
    return sorted(paths, key=lambda p: int(_NAME.search(p).group(1)))


def latest(directory: str) -> Optional[str]:
    paths = list_checkpoints(directory)
    return paths[-1] if paths else None


def read_manifest(path: str) -> dict:
    with open(path[:-4] + ".json", encoding="utf-8") as f:
        return json.load(f)


def restore(model, path: str) -> int:
    """Restores a checkpoint into a compiled model of the same configuration; returns its step."""
    manifest = read_manifest(path)
    pairs = _state(model)
    saved = manifest["variables"]
    if len(saved) != len(pairs):
        raise CheckpointError(f"{path}: holds {len(saved)} variables but the model and optimizers have "
                              f"{len(pairs)}; was it written by a different method or configuration?")
    with np.load(path) as data:
        for i, ((group, variable), info) in enumerate(zip(pairs, saved)):
            value = data[f"v{i:05d}"]
            if group != info["group"] or tuple(value.shape) != tuple(variable.shape):
                raise CheckpointError(f"{path}: variable {i} is {info['group']}/{info['path']} {info['shape']} "
                                      f"but the model expects {group}/{variable.path} {list(variable.shape)}.")
            variable.assign(value)
    return int(manifest["step"])
