"""The development server's REST codec: TF Serving's JSON predict requests (row `instances` and columnar `inputs`,
`{"b64": ...}` binary strings) to arrays, and arrays to TF Serving's JSON predict responses (raw strings, base64
only for outputs named `*_bytes`, floats in the shortest form that round-trips)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, Mapping

import numpy as np
from tensorflow.core.framework import types_pb2

from .common import NUMPY_TYPES, b64_json, is_b64
from .errors import invalid_argument as _invalid
from .predictor import dtype_name

_BYTES_SUFFIX = "_bytes"  # TF Serving's rule for base64 output in JSON (json_tensor.cc, IsNamedTensorBytes)


def short(value: Any, limit: int = 120) -> str:
    """A value's text (repr unless a string), cut to `limit` characters for error messages."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def json_type(value: Any) -> str:
    for kind, name in ((bool, "Bool"), (int, "Number"), (float, "Number"), (str, "String"), (list, "Array"),
                       (dict, "Object")):
        if isinstance(value, kind):
            return name
    return "Null"


def _json_scalar(value: Any, dtype: int, where: str) -> Any:
    expected = dtype_name(dtype)
    if dtype == types_pb2.DT_STRING:
        if isinstance(value, str):
            return value.encode("utf-8")
        if is_b64(value):
            text = value["b64"]
            try:  # absl::Base64Unescape, which TF Serving uses, accepts missing padding
                return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise _invalid(f"{where}: Unable to base64 decode {short(text, 40)!r}", code="bad_base64") from None
        if isinstance(value, dict):
            raise _invalid(f"{where}: JSON object {short(json.dumps(value), 60)} is not formatted correctly for "
                           f"base64 data; expected {{\"b64\": \"<base64 string>\"}}")
    elif dtype == types_pb2.DT_BOOL:
        if isinstance(value, bool):
            return value
    elif np.issubdtype(NUMPY_TYPES[expected], np.integer):
        if isinstance(value, int) and not isinstance(value, bool):
            info = np.iinfo(NUMPY_TYPES[expected])
            if not info.min <= value <= info.max:
                raise _invalid(f"{where}: JSON value {value} is out of the range of {expected} "
                               f"[{info.min}, {info.max}]")
            return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise _invalid(f"{where}: JSON value {short(json.dumps(value), 60)} (type {json_type(value)}) is not of "
                   f"expected type {expected}")


def _json_tensor(value: Any, dtype: int, where: str) -> np.ndarray:
    """A JSON value (scalar or nested lists) as a numpy array of `dtype`, following TF Serving's rules."""
    if dtype_name(dtype) not in NUMPY_TYPES:
        raise _invalid(f"{where}: the REST API of this server cannot feed inputs of type {dtype_name(dtype)}")
    shape, probe = [], value
    while isinstance(probe, list):  # the shape comes from the first element at each level, as in TF Serving
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    flat = []

    def walk(item: Any, level: int) -> None:
        if isinstance(item, list):
            if level >= len(shape) or len(item) != shape[level]:
                raise _invalid(f"{where}: ragged nested list (a list of {len(item)} at depth {level + 1}, "
                               f"expected the shape {shape} read from the first elements)")
            for element in item:
                walk(element, level + 1)
        else:
            if level != len(shape):
                raise _invalid(f"{where}: JSON value {short(json.dumps(item), 60)} found at depth {level}, "
                               f"expected at depth {len(shape)} (shape {shape})")
            flat.append(_json_scalar(item, dtype, where))

    walk(value, 0)
    array = np.empty(len(flat), dtype=NUMPY_TYPES[dtype_name(dtype)])
    array[:] = flat
    return array.reshape(shape)


def _stack_rows(rows: list, key: str) -> np.ndarray:
    shapes = {row.shape for row in rows}
    if len(shapes) > 1:
        raise _invalid(f"'instances' rows give input {key!r} different shapes {sorted(shapes)}; in the row format "
                       f"every row must have the same shape (use the columnar 'inputs' format otherwise)")
    return np.stack(rows)


def parse_predict_json(doc: Any, signature_def, signature_name: str) -> tuple:
    """A REST predict body -> (input name -> array, "row" or "columnar"), following TF Serving's json_tensor rules.

    One deliberate difference: unknown keys in a columnar `inputs` object are an error here (TF Serving ignores
    them), so a misspelt input name is reported instead of silently dropped.
    """
    if not isinstance(doc, dict):
        raise _invalid(f"the request body must be a JSON object; received a JSON {json_type(doc)}")
    infos = signature_def.inputs
    names = sorted(infos)
    if "instances" in doc and "inputs" in doc:
        raise _invalid("the request has both 'instances' and 'inputs'; send exactly one of them")
    if "instances" in doc:
        rows = doc["instances"]
        if not isinstance(rows, list) or not rows:
            raise _invalid(f"'instances' must be a non-empty list; received {short(json.dumps(rows), 60)}")
        objects = isinstance(rows[0], dict) and not is_b64(rows[0])
        if not objects and len(names) > 1:
            raise _invalid(f"'instances' is a plain list, but signature {signature_name!r} has several inputs "
                           f"{names}: send a list of objects with one key per input, or use the columnar "
                           f"'inputs' format")
        columns = {name: [] for name in names}
        for index, row in enumerate(rows):
            if objects:
                if not isinstance(row, dict) or is_b64(row):
                    raise _invalid(f"element {index} of 'instances' is not an object like element 0")
                if sorted(row) != names:
                    raise _invalid(f"element {index} of 'instances' has the keys {sorted(row)}; signature "
                                   f"{signature_name!r} takes exactly {names}")
                for name in names:
                    columns[name].append(_json_tensor(row[name], infos[name].dtype,
                                                      f"instances[{index}][{name!r}]"))
            else:
                if isinstance(row, dict) and not is_b64(row):
                    raise _invalid(f"element {index} of 'instances' is an object, element 0 is not")
                columns[names[0]].append(_json_tensor(row, infos[names[0]].dtype, f"instances[{index}]"))
        arrays = {name: _stack_rows(values, name) for name, values in columns.items()}
        for name, array in arrays.items():
            spec = infos[name].tensor_shape
            if not spec.unknown_rank and len(spec.dim) == 0:
                raise _invalid(f"input {name!r} of signature {signature_name!r} is a scalar, but the row format "
                               f"('instances') gives every input a batch dimension; send it with the columnar "
                               f"'inputs' format")
        return arrays, "row"
    if "inputs" in doc:
        value = doc["inputs"]
        if not isinstance(value, dict) or is_b64(value):
            if len(names) > 1:
                raise _invalid(f"'inputs' is a plain value or list, but signature {signature_name!r} has several "
                               f"inputs {names}: send an object with one key per input")
            return {names[0]: _json_tensor(value, infos[names[0]].dtype, "inputs")}, "columnar"
        missing, unknown = sorted(set(names) - set(value)), sorted(set(value) - set(names))
        if missing:
            raise _invalid(f"Missing named input: {missing[0]} in 'inputs' object; signature {signature_name!r} "
                           f"takes {names}")
        if unknown:
            raise _invalid(f"'inputs' has keys {unknown} that signature {signature_name!r} does not take; it takes "
                           f"{names}")
        return {name: _json_tensor(value[name], infos[name].dtype, f"inputs[{name!r}]") for name in names}, \
            "columnar"
    raise _invalid("Missing 'inputs' or 'instances' key in the request body")


# ----------------------------------------------------------------------------------------------- REST: JSON out


class _Raw:
    """A JSON fragment that is written as is (numbers in TF Serving's format, raw strings)."""

    __slots__ = ("text",)

    def __init__(self, text: bytes):
        self.text = text


# rapidjson's escapes: '"', '\\' and control characters; every other byte, including non-UTF-8 ones, is copied.
_ESCAPES = {i: b"\\u%04X" % i for i in range(0x20)}
_ESCAPES.update({0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r", 0x22: b'\\"', 0x5C: b"\\\\"})
_ESCAPE_RE = re.compile(rb'["\\\x00-\x1f]')


def _raw_string(data: bytes) -> _Raw:
    return _Raw(b'"' + _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()[0]], data) + b'"')


def _decimal(value: float, digits: int) -> _Raw:
    """A float as TF Serving writes it: shortest %g that round-trips (else full precision), '.0' on integers."""
    if math.isnan(value):
        return _Raw(b"NaN")
    if math.isinf(value):
        return _Raw(b"-Infinity" if value < 0 else b"Infinity")
    kind = np.float32 if digits == 9 else np.float64
    text = f"{value:g}"
    if kind(float(text)) != kind(value):
        text = f"{value:.{digits}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return _Raw(text.encode("ascii"))


def _json_values(array: np.ndarray, as_bytes: bool) -> Any:
    """A numpy array as nested lists of JSON-ready values (strings raw, or {"b64"} for `_bytes` outputs)."""
    kind = array.dtype.kind
    digits = 9 if array.dtype.itemsize <= 4 else 17  # float32 / float64 round-trip precision

    def convert(value: Any) -> Any:
        if isinstance(value, list):
            return [convert(item) for item in value]
        if kind in "OSU":
            data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            return b64_json(data) if as_bytes else _raw_string(data)
        if kind == "f":
            return _decimal(float(value), digits)
        return bool(value) if kind == "b" else int(value)

    return convert(array.tolist())


def _write_json(value: Any, out: list) -> None:
    if isinstance(value, _Raw):
        out.append(value.text)
    elif isinstance(value, dict):
        out.append(b"{")
        for i, (key, item) in enumerate(value.items()):
            out.append(b", " if i else b"")
            out.append(json.dumps(key).encode("utf-8") + b": ")
            _write_json(item, out)
        out.append(b"}")
    elif isinstance(value, list):
        out.append(b"[")
        for i, item in enumerate(value):
            out.append(b", " if i else b"")
            _write_json(item, out)
        out.append(b"]")
    else:
        out.append(json.dumps(value).encode("utf-8"))


def predict_response_json(outputs: Mapping[str, np.ndarray], form: str) -> bytes:
    """TF Serving's predict response: `predictions` (row requests) or `outputs` (columnar), the output name left
    out when there is only one."""
    columns = {name: _json_values(np.asarray(value), name.endswith(_BYTES_SUFFIX))
               for name, value in sorted(outputs.items())}
    if form == "row":
        batch = set()
        for name, value in outputs.items():
            if np.ndim(value) == 0:
                raise _invalid(f"output {name!r} is a scalar and has no batch dimension, which the row format "
                               f"('instances') needs; send the request in the columnar 'inputs' format")
            batch.add(np.shape(value)[0])
        if len(batch) > 1:
            raise _invalid(f"the outputs have different batch sizes {sorted(batch)}, which the row format cannot "
                           f"express; send the request in the columnar 'inputs' format")
        if len(columns) == 1:
            body = {"predictions": next(iter(columns.values()))}
        else:
            body = {"predictions": [{name: rows[i] for name, rows in columns.items()} for i in range(batch.pop())]}
    else:
        body = {"outputs": next(iter(columns.values())) if len(columns) == 1 else columns}
    out = []
    _write_json(body, out)
    return b"".join(out)
