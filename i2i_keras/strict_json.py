"""Strict JSON for every file the library writes (metrics, reports, checkpoint manifests).

``json.dumps`` writes NaN and infinities as the bare tokens ``NaN`` / ``Infinity``, which strict parsers (browsers,
``jq``, Go, ...) refuse. Here non-finite floats become the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``
(what ``float()`` and JavaScript's ``Number()`` read back), rather than null: a perfect PSNR (+inf) and a loss that
blew up (NaN) stay distinguishable from a metric that was not computed (null). Files carrying such values say so
with `NON_FINITE_NOTE`.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

NON_FINITE_STRINGS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
NON_FINITE_NOTE = 'non-finite numbers are written as the strings "NaN", "Infinity" and "-Infinity"'


def json_safe(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by ``"NaN"`` / ``"Infinity"`` / ``"-Infinity"`` (dicts, lists,
    tuples and numpy scalars walked; other values as they are)."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, float) or (hasattr(obj, "dtype") and getattr(obj, "ndim", None) == 0):
        try:
            value = float(obj)
        except (TypeError, ValueError):
            return obj
        if math.isfinite(value):
            return value if isinstance(obj, float) or getattr(obj.dtype, "kind", "f") == "f" else obj.item()
        return NON_FINITE_STRINGS["nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")]
    if isinstance(obj, Mapping):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays
        return json_safe(obj.tolist())
    return obj


def to_json(obj: Any, **kwargs: Any) -> str:
    """Strict JSON of `obj` (`json_safe`, then ``json.dumps(..., allow_nan=False)``)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


dumps = to_json
