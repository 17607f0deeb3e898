"""Non-finite numbers in training: the error that stops a run, the state check before anything is saved, and
strict JSON for every file the loop writes.

`train.on_nonfinite` decides what a NaN or infinite loss does: ``stop`` (the default) ends training at that step
with a `NonFiniteError`; ``skip_step`` leaves the step's update unapplied (see `TranslationModel.train_step`),
counts it and trains on. Either way a checkpoint, `model.keras` or export is never written from a state that holds
a non-finite number, so the newest checkpoint is always the last finite one.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional

import numpy as np

from i2i_keras.errors import RunStateError


class NonFiniteError(RunStateError):
    """Training produced a NaN or an infinity.

    Codes: ``non_finite_loss`` (a loss term of a step), ``non_finite_state`` (a weight or optimizer variable, found
    before a checkpoint, `model.keras` or the export would have been written).
    """

    default_code = "non_finite_loss"


def non_finite_logs(logs: Optional[dict]) -> dict:
    """The entries of a step's logs that are NaN or infinite, as floats (in the logs' order)."""
    bad = {}
    for name, value in (logs or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            bad[name] = number
    return bad


def first_non_finite(named_arrays: Iterable) -> Optional[str]:
    """The name of the first `(name, array)` pair whose floating-point array holds a NaN or an infinity, else None."""
    for name, array in named_arrays:
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating) or array.dtype.kind == "V":
            try:
                if not np.isfinite(array.astype(np.float32, copy=False)).all():
                    return name
            except (TypeError, ValueError):
                continue
    return None


def model_state_arrays(model) -> list:
    """`(path, numpy array)` of every model and optimizer variable (what a checkpoint holds)."""
    pairs = [(v.path, v) for v in model.variables]
    for attr in ("optimizer", "d_optimizer"):
        optimizer = getattr(model, attr, None)
        if optimizer is not None:
            pairs += [(f"{attr}/{v.path}", v) for v in optimizer.variables]
    return [(name, np.asarray(v.numpy())) for name, v in pairs]


def check_finite_state(model, step: int, what: str) -> None:
    """Raises `NonFiniteError` (``non_finite_state``) when a weight or optimizer variable of `model` is not finite,
    before `what` (e.g. "model.keras") is written."""
    name = first_non_finite(model_state_arrays(model))
    if name is not None:
        raise NonFiniteError(f"step {step}: the training state is not finite ({name} holds NaN or infinity); "
                             f"{what} was not written. Lower the learning rates or loss weights.",
                             code="non_finite_state")
