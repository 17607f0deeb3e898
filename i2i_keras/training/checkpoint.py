"""Full-state checkpoints: every model variable (weights, normalisation statistics, image pools, RNG states) and
every optimizer variable (step counter, which also fixes the learning-rate schedule's position, moments, EMA).

A checkpoint is `ckpt-<step>.npz` plus `ckpt-<step>.json` (variable paths, shapes, the run's config). Files are
written to a temporary name (`ckpt-<step>.npz.tmp`, removed by the loop when a run starts or resumes) and renamed,
so an interrupted save never corrupts the latest good checkpoint. A state holding NaN or infinity is never written
(`NonFiniteError`), so the newest checkpoint is always the last finite one. `restore_newest` resumes from the
newest checkpoint that can be read, past truncated or unreadable newer ones. All file access goes through
`tf.io.gfile` (`i2i_keras.storage`): the directory may be a URL such as gs://bucket/run.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import struct
import zipfile
import zlib
from typing import Callable, Optional

import numpy as np

from i2i_keras.errors import RunStateError
from i2i_keras import storage
from i2i_keras import strict_json
from i2i_keras.training import nonfinite

logger = logging.getLogger("i2i_keras")

_NAME = re.compile(r"ckpt-(\d+)\.npz$")
#: Temporary files of an interrupted `save` (`storage.write_atomic`'s suffix): safe to delete when no save runs.
TEMPORARY = re.compile(r"ckpt-\d+\.(npz|json)\.tmp$")
# What reading a damaged .npz may raise (zip structure, zlib stream, npy header, short reads).
_READ_ERRORS = (ValueError, zipfile.BadZipFile, EOFError, OSError, KeyError, struct.error, zlib.error)


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
    pairs = _state(model)
    arrays = {f"v{i:05d}": np.asarray(v.numpy()) for i, (_, v) in enumerate(pairs)}
    bad = nonfinite.first_non_finite((f"{g}/{v.path}", arrays[f"v{i:05d}"]) for i, (g, v) in enumerate(pairs))
    if bad is not None:
        raise nonfinite.NonFiniteError(
            f"step {int(step)}: the training state is not finite ({bad} holds NaN or infinity); the checkpoint "
            f"ckpt-{int(step):08d} was not written (the newest checkpoint in {directory} is the last finite one)",
            code="non_finite_state")
    storage.makedirs(directory)
    manifest = {"step": int(step), "method": getattr(model, "method_name", None), "config": config,
                "variables": [{"group": g, "path": v.path, "shape": list(v.shape), "dtype": str(v.dtype)}
                              for g, v in pairs]}
    path = storage.join(directory, f"ckpt-{int(step):08d}.npz")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    storage.write_atomic(path[:-4] + ".json", strict_json.dumps(manifest, indent=1))
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
    named = _NAME.search(path)
    if named and int(named.group(1)) != manifest["step"]:
        raise CheckpointError(f"{manifest_path}: the manifest is for step {manifest['step']}, not for "
                              f"{os.path.basename(path)}", code="bad_checkpoint")
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
    except _READ_ERRORS as e:
        raise CheckpointError(f"{path}: not a complete checkpoint ({storage.describe(e)})", code="bad_checkpoint") from None
    if not hasattr(data, "files"):  # a bare .npy array, not the archive `save` writes
        raise CheckpointError(f"{path}: not a checkpoint archive", code="bad_checkpoint")
    with data:
        values = []
        for i, ((group, variable), info) in enumerate(zip(pairs, saved)):
            key = f"v{i:05d}"
            try:
                value = data[key]
            except _READ_ERRORS as e:
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


def restore_newest(model, paths: list, check: Optional[Callable[[str, dict], None]] = None) -> tuple:
    """Restores the newest of `paths` (checkpoint `.npz` paths, any order) that can be read; returns
    ``(path, step)``.

    A checkpoint whose files are missing, truncated or unreadable (code ``bad_checkpoint``) is passed over for the
    next older one, and one log line names what was passed over. `check(path, manifest)` runs before a checkpoint
    is restored and may raise (e.g. a config mismatch), which ends the search: only unreadable files are skipped.

    Raises:
        CheckpointError: (``bad_checkpoint``) none of `paths` is readable; the message names every file and why.
            (``checkpoint_mismatch``) the newest readable one does not fit the model.
    """
    ordered = sorted(paths, key=lambda p: int(_NAME.search(p).group(1)), reverse=True)
    skipped = []
    for path in ordered:
        try:
            manifest = read_manifest(path)
            if check is not None:
                check(path, manifest)
            step = restore(model, path)
        except CheckpointError as e:
            if e.code != "bad_checkpoint":
                raise
            skipped.append(str(e))
            continue
        if skipped:
            logger.warning("Resuming from %s: the newer checkpoint files cannot be read (%s).", path,
                           "; ".join(skipped))
        return path, step
    where = os.path.dirname(ordered[0]) if ordered else "the run directory"
    raise CheckpointError(f"no readable checkpoint to resume from in {where}: " + "; ".join(skipped),
                          code="bad_checkpoint")
