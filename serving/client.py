"""Client for i2i_keras models served by TF Serving (or `serving.dev_server`): gRPC PredictionService or REST.

It sends encoded images to a `<mode>_bytes` signature and returns the PNG images the model answers with. Before
predicting it asks the server for the signature's inputs (gRPC `GetModelMetadata`, REST `/metadata`), so it sends
exactly the inputs the signature declares, with the declared dtypes, and fails early with a message naming the
missing or unwanted input and its CLI flag.

Extra inputs of the i2i_keras serving contract and their CLI flags:

| input | signature dtype and shape | flag |
| --- | --- | --- |
| `target_domain` | int32 [batch] (one per image; a single value is used for every image) | `--target-domain N` |
| `num_samples` | int32 scalar; the output is then [batch, num_samples] PNGs | `--num-samples N` |
| `seed` | int64 scalar | `--seed S` |
| `reference` | string [batch]: encoded style reference image (one per image, or one for all) | `--reference ref.png` |
| `tile`, `overlap` | int32 scalars of the `<signature>_tiled` signatures (large images) | `--tile T --overlap O` |
| `truncation_psi` | float32 scalar (generation modes; 1 = no truncation) | `--truncation-psi P` |
| `seed_coarse`, `seed_fine` | int64 scalars (style mixing: `mix`) | `--seed-coarse A --seed-fine B` |
| `crossover` | int32 scalar (style mixing: first layer taking the fine styles) | `--crossover K` |

A generation signature (an unconditional generator's `generate_bytes` / `mix_bytes`; `serving_default` when it is
the model's first mode) takes those scalars alone and no `images`: the client then runs without `--input`, fills the
inputs the flags leave out from the export's metadata defaults (`metadata` signature, `generation_modes`), and
writes the samples as one grid PNG when `--output` is a .png file (ceil(sqrt(N)) columns, row by row, as the
translate CLI), or as `<mode>_0.png`, `<mode>_1.png`, ... into the `--output` directory (`<mode>`: `--mode`, else
the signature's name without `_bytes`).

CLI (exit status 0 on success; a failure of the input, the server or the connection, i.e. a ClientError, prints one
line `error: ...` on stderr and exits with status 2; any other exception is a defect and keeps its traceback):
    python -m serving.client --server localhost:8500 --model i2i --input in.png --output out.png
    python -m serving.client --rest --server localhost:8501 --model i2i --input in.png --output out.png
    python -m serving.client --server localhost:8500 --model horse2zebra --direction b2a --input z.jpg --output h.png
    python -m serving.client --server localhost:8500 --model styles --num-samples 3 --seed 7 --input in.png \\
        --output out.png        # writes out_0.png, out_1.png, out_2.png
    python -m serving.client --server localhost:8500 --model edsr --tile 256 --overlap 32 --input big.jpg \\
        --output big_x4.png     # calls serving_default_tiled: tiles blended without seams, memory bounded by the tile
    python -m serving.client --server localhost:8500 --model digits --classify --input digit.png
    python -m serving.client --server localhost:8500 --model faces_gan --num-samples 8 --seed 1 --output grid.png
    python -m serving.client --rest --server localhost:8501 --model faces_gan --mode mix --seed-coarse 1 \
        --seed-fine 2 --crossover 4 --output mixes/           # writes mixes/mix_0.png
        # prints the top 3 classes, one "<class>\t<probability>" line each (--top K for more)
When the signature's output has a samples dimension (`--num-samples`), the files are numbered `<stem>_<i>.png`
even for one sample; otherwise `--output` is written as given. Parent directories are created; an existing file is
replaced (each file is written to a temporary name first, so no partial PNG is left behind).

REST notes: TF Serving's JSON writer base64-encodes (`{"b64": ...}`) only string outputs whose name ends in
`_bytes`; the `images` output comes back as a raw JSON string holding the PNG bytes, which is not valid UTF-8.
This client reads the body as Latin-1 (one character per byte) and turns such strings back into the exact bytes;
`{"b64": ...}` values are decoded as well. Requests use the columnar `inputs` format, which also carries the
scalar inputs (`num_samples`, `seed`) that the row format cannot. The REST path needs no TensorFlow import.

Python API:
    pngs = predict_grpc("localhost:8500", "i2i", [open("in.png", "rb").read()])              # -> [png_bytes]
    grid = predict_rest("localhost:8501", "styles", [data], extra={"num_samples": 3, "seed": 7})  # -> [[png, ...]]
    pngs = predict_grpc("localhost:8500", "faces_gan", None, "generate_bytes",
                        extra={"num_samples": 8, "seed": 1, "truncation_psi": 0.7})            # -> [png] * 8
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import socket
import sys
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from .common import (
    DEFAULT_SIGNATURE,
    GRPC_MESSAGE_OPTIONS,
    IMAGE_FORMATS,
    IMAGES,
    NUMPY_TYPES,
    SIGNATURE_DEF_FIELD,
    b64_json,
    is_b64,
    module_command,
    proto_shape,
    quiet_tensorflow_startup,
    shape_fits,
    shape_text,
)
from .errors import ClientError, run_cli

__all__ = ["CLASSIFY_SIGNATURE", "DEFAULT_SIGNATURE", "IMAGES", "INPUT_FLAGS", "ClientError", "InputSpec",
           "build_parser", "classify_grpc", "classify_rest", "generation_defaults", "grpc_signature_inputs",
           "is_generation_signature", "main", "model_metadata", "predict_grpc", "predict_rest", "prepare_inputs",
           "rest_signature_inputs"]

# The classification contract (`i2i_keras.export`): `<mode>_bytes` of a classification mode answers
# `probabilities` [batch, K] and `classes` [batch, K] (the name of each probability).
CLASSIFY_SIGNATURE = "classify_bytes"
PROBABILITIES = "probabilities"
CLASSES = "classes"

# CLI flag of each standard input of the i2i_keras serving contract, named in error messages.
INPUT_FLAGS = {IMAGES: "--input", "target_domain": "--target-domain", "num_samples": "--num-samples",
               "seed": "--seed", "reference": "--reference", "tile": "--tile", "overlap": "--overlap",
               "truncation_psi": "--truncation-psi", "seed_coarse": "--seed-coarse", "seed_fine": "--seed-fine",
               "crossover": "--crossover"}
# Tiled inference (`i2i_keras.tiling`): the signature `<signature>_tiled` (e.g. `a2b_bytes_tiled`,
# `serving_default_tiled`) takes the same inputs plus int32 scalars `tile` and `overlap` (input pixels).
TILED_SUFFIX = "_tiled"
BYTES_SUFFIX = "_bytes"
# The export's `metadata` signature (no inputs) and its output holding the whole metadata as JSON.
METADATA_SIGNATURE = "metadata"
METADATA_JSON = "metadata_json"
# A gRPC status or HTTP status of a failed call -> the ClientError code (others: "server_error").
_GRPC_CODES = {"UNAVAILABLE": "connection_failed", "DEADLINE_EXCEEDED": "timeout", "NOT_FOUND": "not_found",
               "INVALID_ARGUMENT": "bad_request", "FAILED_PRECONDITION": "unknown_signature"}
_HTTP_CODES = {400: "bad_request", 404: "not_found", 503: "connection_failed"}


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """A signature input as the server declares it: dtype name (e.g. "DT_STRING") and shape (-1: any size;
    None: unknown rank)."""

    dtype: str
    shape: Optional[tuple]


# ----------------------------------------------------------------------------------------------- inputs


def _flag(name: str) -> str:
    return f" (CLI flag {INPUT_FLAGS[name]})" if name in INPUT_FLAGS else ""


def _bytes_array(name: str, value: Any) -> np.ndarray:
    items = [value] if isinstance(value, (bytes, bytearray)) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, (bytes, bytearray)) for v in items):
        raise ClientError(f"input {name!r}{_flag(name)} takes encoded image bytes (bytes, or a list of bytes); "
                          f"received {type(value).__name__}", code="bad_input")
    array = np.empty(len(items), dtype=object)
    array[:] = [bytes(v) for v in items]
    return array[0:1].reshape(()) if isinstance(value, (bytes, bytearray)) else array


def _numeric_array(name: str, value: Any, spec: InputSpec) -> np.ndarray:
    target = np.dtype(NUMPY_TYPES[spec.dtype])
    raw = np.asarray(value)
    allowed = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}[target.kind]
    if raw.dtype.kind not in allowed or raw.dtype.kind == "O":
        raise ClientError(f"input {name!r}{_flag(name)} takes {spec.dtype} values; received {value!r}",
                          code="bad_input")
    if target.kind in "iu" and raw.size:
        info = np.iinfo(target)
        if raw.min() < info.min or raw.max() > info.max:
            raise ClientError(f"input {name!r}{_flag(name)} takes {spec.dtype} values in [{info.min}, "
                              f"{info.max}]; received {value!r}", code="bad_input")
    return raw.astype(target)


def is_generation_signature(specs: Mapping[str, InputSpec]) -> bool:
    """A generation signature (an unconditional generator's `<mode>_bytes`, e.g. `generate_bytes`) takes scalar
    inputs alone (`num_samples`, `seed`, `truncation_psi`, ...), no images, and answers [N] PNGs."""
    return bool(specs) and IMAGES not in specs and all(spec.shape == () for spec in specs.values())


def prepare_inputs(specs: Mapping[str, InputSpec], images: Optional[Sequence[bytes]],
                   extra: Optional[Mapping[str, Any]], signature: str) -> dict:
    """The arrays to send: `images` plus `extra`, checked against the signature's declared inputs.

    A per-image input (first dimension of any size in the signature) given as one value is repeated for every
    image. A generation signature (`is_generation_signature`) takes `extra` alone and no images. Raises
    ClientError naming the input (and its CLI flag) when one is missing, not accepted, or of the wrong type or
    shape.
    """
    names = ", ".join(sorted(specs)) or "none"
    images = list(images or [])
    if is_generation_signature(specs):
        if images:
            raise ClientError(f"signature {signature!r} generates images from its inputs ({names}) and takes no "
                              f"input image{_flag(IMAGES)}; received {len(images)} image(s)",
                              code="unexpected_input")
        return _extra_arrays(specs, extra, signature, 0)
    if IMAGES not in specs:
        raise ClientError(f"signature {signature!r} has no {IMAGES!r} input (its inputs: {names}); this client "
                          f"sends encoded images to a <mode>_bytes signature", code="unsupported_signature")
    if specs[IMAGES].dtype != "DT_STRING":
        raise ClientError(f"signature {signature!r} takes {IMAGES!r} as {specs[IMAGES].dtype} "
                          f"{shape_text(specs[IMAGES].shape)}, not as encoded images; use a <mode>_bytes signature "
                          f"(the default serving_default is one)", code="unsupported_signature")
    if not images:
        raise ClientError(f"signature {signature!r} translates images: no images to send{_flag(IMAGES)}",
                          code="bad_input")
    return {IMAGES: _bytes_array(IMAGES, images), **_extra_arrays(specs, extra, signature, len(images))}


def _extra_arrays(specs: Mapping[str, InputSpec], extra: Optional[Mapping[str, Any]], signature: str,
                  count: int) -> dict:
    """The checked arrays of the inputs besides `images` (`count` images: per-image inputs need that many rows)."""
    names = ", ".join(sorted(specs)) or "none"
    extra = dict(extra or {})
    for name in extra:
        if name not in specs or name == IMAGES:
            raise ClientError(f"signature {signature!r} does not accept the input {name!r}{_flag(name)}; its "
                              f"inputs: {names}", code="unknown_input")
    for name in sorted(specs):
        if name != IMAGES and name not in extra:
            raise ClientError(f"signature {signature!r} requires the input {name!r}{_flag(name)}, which was not "
                              f"given", code="missing_input")
    arrays = {}
    for name, value in extra.items():
        spec = specs[name]
        if spec.dtype not in NUMPY_TYPES:
            raise ClientError(f"input {name!r} has type {spec.dtype}, which this client cannot send",
                              code="unsupported_signature")
        array = _bytes_array(name, value) if spec.dtype == "DT_STRING" else _numeric_array(name, value, spec)
        if spec.shape and spec.shape[0] < 0 and array.ndim == len(spec.shape) - 1:
            array = np.repeat(array[None], count, axis=0)  # one value for every image
        arrays[name] = array
    for name, array in arrays.items():
        shape = specs[name].shape
        if not shape_fits(shape, array.shape):
            raise ClientError(f"input {name!r}{_flag(name)} of signature {signature!r} has the shape "
                              f"{shape_text(shape)}; received {list(array.shape)}", code="bad_input")
        if shape and shape[0] < 0 and array.shape[0] != count:
            raise ClientError(f"input {name!r}{_flag(name)} needs one value per image ({count}); received "
                              f"{array.shape[0]}", code="bad_input")
    return arrays


def _images_from_array(array: np.ndarray, where: str) -> list:
    if array.ndim == 1:
        return [bytes(v) for v in array]
    if array.ndim == 2:
        return [[bytes(v) for v in row] for row in array]
    raise ClientError(f"{where}: expected {IMAGES!r} of shape [batch] or [batch, samples]; received "
                      f"{list(array.shape)}", code="bad_response")


def _signature_specs(signature_defs: Mapping[str, Any], signature: str, model: str) -> dict:
    if signature not in signature_defs:
        public = sorted(k for k in signature_defs if not k.startswith("__"))
        raise ClientError(f"model {model!r} has no signature {signature!r}; it has: {', '.join(public)}",
                          code="unknown_signature")
    return signature_defs[signature]


# ----------------------------------------------------------------------------------------------- gRPC


def _grpc_failure(server: str, err) -> ClientError:
    status = err.code().name
    return ClientError(f"{server}: {status}: {err.details()}", code=_GRPC_CODES.get(status, "server_error"))


def _grpc_model_spec(spec, model: str, version: Optional[int], signature: Optional[str] = None) -> None:
    spec.name = model
    if version is not None:
        spec.version.value = version
    if signature is not None:
        spec.signature_name = signature


def grpc_signature_inputs(stub, model: str, signature: str, timeout: float, version: Optional[int] = None) -> dict:
    """input name -> InputSpec of one signature, from PredictionService.GetModelMetadata."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[SIGNATURE_DEF_FIELD])
    _grpc_model_spec(request.model_spec, model, version)
    response = stub.GetModelMetadata(request, timeout=timeout)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
    signature_def = _signature_specs(signature_map.signature_def, signature, model)
    from tensorflow.core.framework import types_pb2

    return {name: InputSpec(types_pb2.DataType.Name(info.dtype), proto_shape(info.tensor_shape))
            for name, info in signature_def.inputs.items()}


def predict_grpc(server: str, model: str, images: Optional[Sequence[bytes]], signature: str = DEFAULT_SIGNATURE,
                 extra: Optional[Mapping[str, Any]] = None, timeout: float = 30.0,
                 version: Optional[int] = None) -> list:
    """Translates encoded images through PredictionService.Predict on `server` ("host:port").

    Returns:
        one PNG (bytes) per image, or one list of PNGs per image when the output has a samples dimension; for a
        generation signature (`images` None, the scalar inputs in `extra`), the generated PNGs.
    Raises:
        ClientError: bad inputs for the signature, or the server's error status ("CODE: message").
    """
    outputs = _grpc_outputs(server, model, images, signature, extra, timeout, version)
    if IMAGES not in outputs:
        raise ClientError(f"signature {signature!r} answered without an {IMAGES!r} output (outputs: "
                          f"{sorted(outputs)})", code="bad_response")
    return _images_from_array(outputs[IMAGES], f"signature {signature!r}")


def _grpc_outputs(server: str, model: str, images: Optional[Sequence[bytes]], signature: str,
                  extra: Optional[Mapping[str, Any]], timeout: float, version: Optional[int],
                  prepare=prepare_inputs) -> dict:
    """output name -> numpy array of one PredictionService.Predict call (`prepare` makes the request's arrays
    from the signature's inputs, `images` and `extra`)."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    try:
        with grpc.insecure_channel(server, options=GRPC_MESSAGE_OPTIONS) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            specs = grpc_signature_inputs(stub, model, signature, timeout, version)
            arrays = prepare(specs, images, extra, signature)
            request = predict_pb2.PredictRequest()
            _grpc_model_spec(request.model_spec, model, version, signature)
            for name, array in arrays.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
            response = stub.Predict(request, timeout=timeout)
    except grpc.RpcError as err:
        raise _grpc_failure(server, err) from None
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def _ranked(probabilities: Any, classes: Any, where: str) -> list:
    """Per image, (class name, probability) pairs from the most to the least probable."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    classes = np.asarray(classes, dtype=object)
    if probabilities.ndim != 2 or classes.shape != probabilities.shape:
        raise ClientError(f"{where}: expected {PROBABILITIES!r} and {CLASSES!r} of one shape [batch, classes]; "
                          f"received {list(probabilities.shape)} and {list(classes.shape)}", code="bad_response")
    ranked = []
    for row, names in zip(probabilities, classes):
        names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
        ranked.append(sorted(zip(names, (float(p) for p in row)), key=lambda pair: -pair[1]))
    return ranked


def _classification(outputs: Mapping[str, Any], signature: str) -> list:
    missing = [name for name in (PROBABILITIES, CLASSES) if name not in outputs]
    if missing:
        raise ClientError(f"signature {signature!r} is not a classification signature: no {missing[0]!r} output "
                          f"(outputs: {sorted(outputs)}); classify with a model that has a classify_bytes signature",
                          code="bad_response")
    return _ranked(outputs[PROBABILITIES], outputs[CLASSES], f"signature {signature!r}")


def classify_grpc(server: str, model: str, images: Sequence[bytes], signature: str = CLASSIFY_SIGNATURE,
                  timeout: float = 30.0, version: Optional[int] = None) -> list:
    """Classifies encoded images through a classification signature (`classify_bytes`: outputs `probabilities`
    and `classes`) over gRPC. Returns, per image, (class name, probability) pairs, most probable first."""
    return _classification(_grpc_outputs(server, model, images, signature, None, timeout, version), signature)


def classify_rest(server: str, model: str, images: Sequence[bytes], signature: str = CLASSIFY_SIGNATURE,
                  timeout: float = 30.0, version: Optional[int] = None) -> list:
    """`classify_grpc` over TF Serving's REST API."""
    outputs = _rest_outputs(server, model, images, signature, None, timeout, version)
    if not isinstance(outputs, dict) or is_b64(outputs):
        raise ClientError(f"signature {signature!r} answered with one output; a classification signature has "
                          f"{PROBABILITIES!r} and {CLASSES!r}", code="bad_response")
    return _classification(outputs, signature)


# ----------------------------------------------------------------------------------------------- REST


def _http(url: str, timeout: float, body: Optional[dict] = None) -> bytes:
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.read()
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            message = json.loads(raw.decode("utf-8", errors="replace"))["error"]
        except (ValueError, KeyError, TypeError):
            message = raw.decode("utf-8", errors="replace")[:300] or err.reason
        raise ClientError(f"{url}: HTTP {err.code}: {message}", code=_HTTP_CODES.get(err.code, "server_error")) \
            from None
    except urllib.error.URLError as err:
        code = "timeout" if isinstance(err.reason, (socket.timeout, TimeoutError)) else "connection_failed"
        raise ClientError(f"cannot reach {url}: {err.reason}", code=code) from None
    except (socket.timeout, TimeoutError):
        raise ClientError(f"{url}: no answer within {timeout} s", code="timeout") from None


def _model_url(server: str, model: str, version: Optional[int]) -> str:
    base = server if server.startswith(("http://", "https://")) else f"http://{server}"
    return f"{base.rstrip('/')}/v1/models/{model}" + (f"/versions/{version}" if version is not None else "")


def rest_signature_inputs(server: str, model: str, signature: str, timeout: float,
                          version: Optional[int] = None) -> dict:
    """input name -> InputSpec of one signature, from the REST metadata endpoint."""
    url = _model_url(server, model, version) + "/metadata"
    try:
        doc = json.loads(_http(url, timeout).decode("utf-8"))
        signature_defs = doc["metadata"][SIGNATURE_DEF_FIELD]["signature_def"]
    except (ValueError, KeyError, TypeError) as err:
        raise ClientError(f"{url}: not a TF Serving metadata answer ({type(err).__name__}: {err})",
                          code="bad_response") from None
    signature_def = _signature_specs(signature_defs, signature, model)
    specs = {}
    for name, info in signature_def.get("inputs", {}).items():
        shape = info.get("tensor_shape", {})
        dims = None if shape.get("unknown_rank") else tuple(int(d.get("size", -1)) for d in shape.get("dim", []))
        specs[name] = InputSpec(info.get("dtype", "DT_INVALID"), dims)
    return specs


def _to_json(array: np.ndarray) -> Any:
    if array.dtype != object:
        return array.tolist()

    def convert(value: Any) -> Any:  # binary strings always travel as {"b64": ...}
        if isinstance(value, list):
            return [convert(item) for item in value]
        return b64_json(value)

    return convert(array.tolist())


def _from_json_string(value: Any, where: str) -> bytes:
    if is_b64(value):
        return base64.b64decode(value["b64"])
    if isinstance(value, str):
        try:  # the body was read as Latin-1, one character per byte: this gives the bytes back
            return value.encode("latin-1")
        except UnicodeEncodeError:
            raise ClientError(f"{where}: a string output holds characters that are not bytes",
                              code="bad_response") from None
    raise ClientError(f"{where}: expected an encoded image (string or {{\"b64\": ...}}); received "
                      f"{type(value).__name__}", code="bad_response")


def predict_rest(server: str, model: str, images: Optional[Sequence[bytes]], signature: str = DEFAULT_SIGNATURE,
                 extra: Optional[Mapping[str, Any]] = None, timeout: float = 30.0,
                 version: Optional[int] = None) -> list:
    """`predict_grpc` over TF Serving's REST API; `server` is "host:port" of the REST port (or an http:// URL)."""
    outputs = _rest_outputs(server, model, images, signature, extra, timeout, version)
    if isinstance(outputs, dict) and not is_b64(outputs):  # several outputs: keyed by name
        if IMAGES not in outputs:
            raise ClientError(f"signature {signature!r} answered without an {IMAGES!r} output (outputs: "
                              f"{sorted(outputs)})", code="bad_response")
        outputs = outputs[IMAGES]
    where = f"signature {signature!r}"
    if not isinstance(outputs, list):
        raise ClientError(f"{where}: expected a list of images; received {type(outputs).__name__}",
                          code="bad_response")
    return [[_from_json_string(v, where) for v in item] if isinstance(item, list) else _from_json_string(item, where)
            for item in outputs]


def _rest_outputs(server: str, model: str, images: Optional[Sequence[bytes]], signature: str,
                  extra: Optional[Mapping[str, Any]], timeout: float, version: Optional[int],
                  prepare=prepare_inputs) -> Any:
    """The `outputs` of one REST predict call (a dict by name when the signature has several)."""
    specs = rest_signature_inputs(server, model, signature, timeout, version)
    arrays = prepare(specs, images, extra, signature)
    url = _model_url(server, model, version) + ":predict"
    body = {"signature_name": signature, "inputs": {name: _to_json(array) for name, array in arrays.items()}}
    try:
        return json.loads(_http(url, timeout, body).decode("latin-1"))["outputs"]
    except (ValueError, KeyError, TypeError) as err:
        raise ClientError(f"{url}: not a TF Serving predict answer ({type(err).__name__}: {err})",
                          code="bad_response") from None


# ----------------------------------------------------------------------------------------------- metadata


def _no_inputs(specs, images, extra, signature) -> dict:
    if specs:
        raise ClientError(f"signature {signature!r} takes inputs {sorted(specs)}; it is not an i2i_keras metadata "
                          f"signature", code="bad_response")
    return {}


def model_metadata(server: str, model: str, rest: bool = False, timeout: float = 30.0,
                   version: Optional[int] = None) -> dict:
    """The export's i2i_keras metadata (modes, `generation_modes` with their inputs' defaults, ...): the JSON of
    its `metadata` signature, which takes no inputs."""
    where = f"model {model!r} signature {METADATA_SIGNATURE!r}"
    if rest:
        outputs = _rest_outputs(server, model, None, METADATA_SIGNATURE, None, timeout, version, _no_inputs)
        value = outputs.get(METADATA_JSON) if isinstance(outputs, dict) else None
        text = None if value is None else _from_json_string(value, where)
    else:
        outputs = _grpc_outputs(server, model, None, METADATA_SIGNATURE, None, timeout, version, _no_inputs)
        text = outputs[METADATA_JSON].item() if METADATA_JSON in outputs else None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise ClientError(f"{where}: no {METADATA_JSON!r} JSON output; was the model exported by "
                          f"i2i_keras.export?", code="bad_response") from None


def generation_defaults(metadata: Mapping[str, Any], signature: str) -> dict:
    """The input defaults (metadata `generation_modes`) of the generation mode that `signature` calls:
    `<mode>_bytes`, or the first mode for `serving_default`; {} when it is not a generation mode."""
    modes = list(metadata.get("modes") or [])
    mode = modes[0] if signature == DEFAULT_SIGNATURE and modes else signature[:-len(BYTES_SUFFIX)] \
        if signature.endswith(BYTES_SUFFIX) else signature
    return dict(((metadata.get("generation_modes") or {}).get(mode) or {}).get("defaults") or {})


# ----------------------------------------------------------------------------------------------- CLI


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2, like every other failure of this CLI
        print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=module_command("client"),
                     description="Translate an image with an i2i_keras model served by TF Serving (gRPC or REST).")
    parser.add_argument("--server", required=True, help="HOST:PORT of the gRPC port (with --rest: the REST port)")
    parser.add_argument("--model", required=True, help="served model name")
    parser.add_argument("--input", help=f"image file to translate ({IMAGE_FORMATS}); not for generation "
                                        f"signatures, which take no image")
    parser.add_argument("--output",
                        help="output .png file; with several samples per image: <stem>_0.png, <stem>_1.png, ...; "
                             "generation signatures: a .png file gets one grid of the samples, a directory one PNG "
                             "per sample (required unless --classify)")
    parser.add_argument("--classify", action="store_true",
                        help=f"classify the image with a classification signature (default {CLASSIFY_SIGNATURE}) "
                             f"and print the top classes with their probabilities")
    parser.add_argument("--top", type=int, default=3, help="classes printed by --classify (default 3)")
    parser.add_argument("--rest", action="store_true", help="use TF Serving's REST API instead of gRPC")
    parser.add_argument("--signature", help=f"signature to call (default {DEFAULT_SIGNATURE})")
    parser.add_argument("--direction", choices=("a2b", "b2a"), help="call the <direction>_bytes signature")
    parser.add_argument("--mode", help="call the <mode>_bytes signature (e.g. generate, mix)")
    parser.add_argument("--target-domain", type=int, help="target domain index (input target_domain)")
    parser.add_argument("--num-samples", type=int, help="outputs per image (input num_samples)")
    parser.add_argument("--seed", type=int, help="random seed of sampled styles (input seed)")
    parser.add_argument("--reference", help="style reference image file (input reference)")
    parser.add_argument("--truncation-psi", type=float, help="truncation towards the average style of generation "
                                                            "signatures (input truncation_psi; default: the "
                                                            "model's)")
    parser.add_argument("--seed-coarse", type=int, help="seed of the coarse styles of a mix (input seed_coarse)")
    parser.add_argument("--seed-fine", type=int, help="seed of the fine styles of a mix (input seed_fine)")
    parser.add_argument("--crossover", type=int, help="first layer taking the fine styles of a mix (input "
                                                      "crossover; default: the model's)")
    parser.add_argument("--tile", type=int, help="tile size in input pixels: calls the <signature>_tiled signature "
                                                  "(memory bounded by the tile; 0: the whole image)")
    parser.add_argument("--overlap", type=int, help="overlap of neighbouring tiles in input pixels (default: 32, at "
                                                    "most tile/4); needs --tile")
    parser.add_argument("--model-version", type=int, help="model version (default: the server's latest)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each answer (default 30)")
    return parser


def _read_file(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ClientError(f"{flag} {path}: cannot read ({err.strerror or err})", code="unreadable_file") from None
    if not data:
        raise ClientError(f"{flag} {path}: empty file (0 bytes), not an image", code="empty_file")
    return data


def _write_file(path: str, data: bytes) -> None:
    folder = os.path.dirname(path) or "."
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as err:
        raise ClientError(f"--output {path}: cannot write ({err.strerror or err})", code="unwritable_file") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv: Optional[list] = None) -> int:
    # The gRPC path imports TensorFlow (the TF Serving protos live in its package): keep its start-up messages off
    # stderr, which is for this CLI's one-line errors (and the traceback of a defect).
    quiet_tensorflow_startup()
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_cli(lambda: _classify(args) if args.classify else _translate(args), parser.prog)


def _classify(args: argparse.Namespace) -> int:
    """Prints the `--top` classes of the image, one `<class>\t<probability>` line each, most probable first."""
    unused = [flag for flag, value in (("--output", args.output), ("--direction", args.direction),
                                       ("--mode", args.mode), *_generation_flags(args),
                                       ("--target-domain", args.target_domain), ("--num-samples", args.num_samples),
                                       ("--seed", args.seed), ("--reference", args.reference),
                                       ("--tile", args.tile), ("--overlap", args.overlap)) if value is not None]
    if unused:
        raise ClientError(f"--classify prints classes and takes the image alone; received {', '.join(unused)}",
                          code="bad_argument")
    if args.top < 1:
        raise ClientError(f"--top must be at least 1; received --top {args.top}", code="bad_argument")
    if args.input is None:
        raise ClientError("--classify needs --input (the image to classify)", code="bad_argument")
    images = [_read_file(args.input, INPUT_FLAGS[IMAGES])]
    classify = classify_rest if args.rest else classify_grpc
    ranked = classify(args.server, args.model, images, args.signature or CLASSIFY_SIGNATURE, args.timeout,
                      args.model_version)[0]
    for name, probability in ranked[:args.top]:
        print(f"{name}\t{probability:.4f}")
    return 0


def _generation_flags(args: argparse.Namespace) -> list:
    return [("--truncation-psi", args.truncation_psi), ("--seed-coarse", args.seed_coarse),
            ("--seed-fine", args.seed_fine), ("--crossover", args.crossover)]


def _translate(args: argparse.Namespace) -> int:
    if args.output is None:
        raise ClientError("--output is required (a .png file) unless --classify is given", code="bad_argument")
    chosen = [f"{flag} {value}" for flag, value in (("--signature", args.signature), ("--direction", args.direction),
                                                    ("--mode", args.mode)) if value]
    if len(chosen) > 1:
        raise ClientError(f"give one of --signature, --direction and --mode; received {' '.join(chosen)}",
                          code="bad_argument")
    mode = args.direction or args.mode
    signature = f"{mode}{BYTES_SUFFIX}" if mode else (args.signature or DEFAULT_SIGNATURE)
    if args.input is None:
        return _generate(args, signature)
    if args.overlap is not None and args.tile is None:
        raise ClientError(f"--overlap needs --tile; received --overlap {args.overlap}", code="bad_argument")
    if args.tile is not None and (args.tile < 0 or (args.overlap is not None and args.overlap < 0)):
        raise ClientError(f"--tile and --overlap are pixels (>= 0); received --tile {args.tile} --overlap "
                          f"{args.overlap}", code="bad_argument")
    stem, suffix = os.path.splitext(args.output)
    if suffix.lower() != ".png" or os.path.isdir(args.output):
        raise ClientError(f"--output {args.output}: outputs are PNG images; give a file name ending in .png",
                          code="bad_argument")
    images = [_read_file(args.input, INPUT_FLAGS[IMAGES])]
    extra = _scalar_inputs(args)
    if args.reference is not None:
        extra["reference"] = _read_file(args.reference, INPUT_FLAGS["reference"])
    if args.tile is not None:
        if not signature.endswith(TILED_SUFFIX):
            signature += TILED_SUFFIX
        extra["tile"] = args.tile
        extra["overlap"] = min(32, args.tile // 4) if args.overlap is None else args.overlap
    predict = predict_rest if args.rest else predict_grpc
    result = predict(args.server, args.model, images, signature, extra, args.timeout, args.model_version)[0]
    if isinstance(result, list):
        targets = [(f"{stem}_{i}{suffix}", png) for i, png in enumerate(result)]
    else:
        targets = [(args.output, result)]
    for path, png in targets:
        _write_file(path, png)
        print(path)
    return 0


def _scalar_inputs(args: argparse.Namespace) -> dict:
    """The flags' values of the contract's scalar and per-image number inputs, by input name."""
    given = (("target_domain", args.target_domain), ("num_samples", args.num_samples), ("seed", args.seed),
             ("truncation_psi", args.truncation_psi), ("seed_coarse", args.seed_coarse),
             ("seed_fine", args.seed_fine), ("crossover", args.crossover))
    return {name: value for name, value in given if value is not None}


def _generate(args: argparse.Namespace, signature: str) -> int:
    """A generation signature (no --input): the flags' scalar inputs, the model's defaults (metadata) for the
    others; the samples as one grid PNG (`--output` a .png file) or `<mode>_<i>.png` files in the `--output`
    directory, `<mode>` from --mode or the signature's name."""
    from .png_grid import png_grid

    unused = [flag for flag, value in (("--reference", args.reference), ("--tile", args.tile),
                                       ("--overlap", args.overlap)) if value is not None]
    if unused:
        raise ClientError(f"without --input the client calls a generation signature, which takes scalar inputs "
                          f"alone; received {', '.join(unused)} (give --input to translate an image)",
                          code="bad_argument")
    to_grid = args.output.lower().endswith(".png") and not os.path.isdir(args.output)
    if not to_grid and os.path.exists(args.output) and not os.path.isdir(args.output):
        raise ClientError(f"--output {args.output}: give a .png file (one grid) or a directory (one PNG per "
                          f"sample)", code="bad_argument")
    extra = _scalar_inputs(args)
    try:
        metadata = model_metadata(args.server, args.model, args.rest, args.timeout, args.model_version)
    except ClientError as err:
        if err.code != "unknown_signature":
            raise
        metadata = {}  # not an i2i_keras export: no defaults
    extra = {**generation_defaults(metadata, signature), **extra}
    predict = predict_rest if args.rest else predict_grpc
    pngs = predict(args.server, args.model, None, signature, extra, args.timeout, args.model_version)
    if to_grid:
        _write_file(args.output, png_grid(pngs, f"signature {signature!r}"))
        print(args.output)
        return 0
    stem = args.mode or (signature[:-len(BYTES_SUFFIX)] if signature.endswith(BYTES_SUFFIX) else signature)
    for i, png in enumerate(pngs):
        path = os.path.join(args.output, f"{stem}_{i}.png")
        _write_file(path, png)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
