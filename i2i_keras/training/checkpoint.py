"""Full-state checkpoints: every model variable (weights, normalisation statistics, image pools, RNG states) and
every optimizer variable (step counter, which also fixes the learning-rate schedule's position, moments, EMA).

A checkpoint is `ckpt-<step>.npz` plus `ckpt-<step>.json` (variable paths, shapes, the run's config). Files are
written to a temporary name and renamed, so an interrupted save never corrupts the latest good checkpoint. All file
access goes through `tf.io.gfile` (`i2i_keras.storage`): the directory may be a URL such as gs://bucket/run.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Optional

import numpy as np

from i2i_keras.errors import RunStateError
from i2i_keras import storage

_NAME = re.compile(r"ckpt-(\d+)\.npz$")


class CheckpointError(RunStateError):
    """A checkpoint cannot be read or does not fit the model it is restored into.

    Codes: ``bad_checkpoint`` (missing, truncated or unreadable files), ``checkpoint_mismatch`` (written by another
    method or configuration).
    """

    default_code = "bad_checkpoint"


def _state(model) -> list:
    """(group, variable) pairs in a stable order."""
    pairs = [("model", v) for v in model.variables]
    for attr in ("optimizer", "d_optimizer"):
        optimizer = getattr(model, attr, None)
        if optimizer is not None:
            pairs += [(attr, v) for v in optimizer.variables]
    return pairs


def save(model, directory: str, step: int, config: Optional[dict] = None, keep: int = 3) -> str:
    """Writes `ckpt-<step>.npz` (+ `.json`) into `directory` (a local path or a URL) and keeps the newest `keep`."""
    storage.makedirs(directory)
    pairs = _state(model)
    arrays = {f"v{i:05d}": np.asarray(v.numpy()) for i, (_, v) in enumerate(pairs)}
    manifest = {"step": int(step), "method": getattr(model, "method_name", None), "config": config,
                "variables": [{"group": g, "path": v.path, "shape": list(v.shape), "dtype": str(v.dtype)}
                              for g, v in pairs]}
    path = storage.join(directory, f"ckpt-{int(step):08d}.npz")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    storage.write_atomic(path[:-4] + ".json", json.dumps(manifest, indent=1))
    storage.write_atomic(path, buffer.getvalue())  # the .npz appears last: its presence marks a complete checkpoint
    for old in list_checkpoints(directory)[:-keep]:
        for suffix in (".npz", ".json"):
            storage.remove(old[:-4] + suffix)
    return path


def list_checkpoints(directory: str) -> list:
    """Complete checkpoints (`.npz` paths) in `directory`, oldest first; [] when the directory does not exist."""
    paths = [storage.join(directory, name) for name in storage.listdir(directory) if _NAME.fullmatch(name)]
    return sorted(paths, key=lambda p: int(_NAME.search(p).group(1)))


def latest(directory: str) -> Optional[str]:
    paths = list_checkpoints(directory)
    return paths[-1] if paths else None


def read_manifest(path: str) -> dict:
    """The `.json` manifest of the checkpoint `path` (the `.npz`).

    Raises:
        CheckpointError: (code ``bad_checkpoint``) the manifest is missing, unreadable or not a manifest.
    """
    manifest_path = path[:-4] + ".json"
    try:
        manifest = json.loads(storage.read_text(manifest_path))
    except storage.IO_ERRORS as e:
        raise CheckpointError(f"{manifest_path}: cannot read the checkpoint manifest ({storage.describe(e)})",
                              code="bad_checkpoint") from None
    except ValueError as e:  # invalid JSON or UTF-8
        raise CheckpointError(f"{manifest_path}: not a checkpoint manifest (invalid JSON: {e})",
                              code="bad_checkpoint") from None
    if (not isinstance(manifest, dict) or not isinstance(manifest.get("step"), int)
            or not isinstance(manifest.get("variables"), list)
            or not all(isinstance(v, dict) for v in manifest["variables"])):
        raise CheckpointError(f"{manifest_path}: not a checkpoint manifest (needs an integer `step` and a "
                              f"`variables` list)", code="bad_checkpoint")
    return manifest


def restore(model, path: str) -> int:
    """Restores a checkpoint into a compiled model of the same configuration; returns its step.

    Raises:
        CheckpointError: the files are unreadable (code ``bad_checkpoint``) or hold other variables than the model
            and its optimizers (code ``checkpoint_mismatch``).
    """
    manifest = read_manifest(path)
    pairs = _state(model)
    saved = manifest["variables"]
    if len(saved) != len(pairs):
        raise CheckpointError(f"{path}: holds {len(saved)} variables but the model and optimizers have "
                              f"{len(pairs)}; was it written by a different method or configuration?",
                              code="checkpoint_mismatch")
    try:
        data = np.load(io.BytesIO(storage.read_bytes(path)), allow_pickle=False)
    except storage.IO_ERRORS as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({storage.describe(e)})", code="bad_checkpoint") from None
    except (ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: not a complete checkpoint ({storage.describe(e)})", code="bad_checkpoint") from None
    with data:
        values = []
        for i, ((group, variable), info) in enumerate(zip(pairs, saved)):
            key = f"v{i:05d}"
            try:
                value = data[key]
            except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
                raise CheckpointError(f"{path}: variable {i} cannot be read ({storage.describe(e)})",
                                      code="bad_checkpoint") from None
            if group != info.get("group") or tuple(value.shape) != tuple(variable.shape):
                raise CheckpointError(f"{path}: variable {i} is {info.get('group')}/{info.get('path')} "
                                      f"{info.get('shape')} but the model expects {group}/{variable.path} "
                                      f"{list(variable.shape)}.", code="checkpoint_mismatch")
            values.append(value)
    # Only a checkpoint that fits entirely is assigned: a failure above leaves the model as it was.
    for (_, variable), value in zip(pairs, values):
        variable.assign(value)
    return int(manifest["step"])
