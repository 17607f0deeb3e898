"""A DEVELOPMENT server for i2i_keras SavedModels that speaks TensorFlow Serving's gRPC and REST APIs.

FOR DEVELOPMENT, TESTS AND DEMOS ONLY. Production serving is the official TF Serving container
(`tensorflow/serving:2.16.1`, see serving/README.md). This server exists because the `tensorflow_model_server`
binary cannot be installed on the project's machines (not on PyPI, not in Debian, no Docker engine), and clients,
tests and the pipeline still need something that answers the same requests. It is a single Python process that runs
the SavedModel's signature functions eagerly: no request batching, no model warm-up, no TLS, no authentication, no
monitoring endpoint, no model-config reloading; it binds 127.0.0.1 unless told otherwise.

What it implements, matching TF Serving's behaviour where a client could tell the difference:

- gRPC `tensorflow.serving.PredictionService`: `Predict` (with `output_filter`) and `GetModelMetadata`
  (`metadata_field: "signature_def"`, answered with the SavedModel's SignatureDefs as read from saved_model.pb);
  gRPC `tensorflow.serving.ModelService`: `GetModelStatus`. Classify, Regress and MultiInference answer UNIMPLEMENTED.
- REST: `POST /v1/models/<name>[/versions/<v>|/labels/<l>]:predict` with row (`instances`) or columnar (`inputs`)
  bodies, `{"b64": ...}` for binary strings; `GET /v1/models/<name>[/versions/<v>]` (status) and
  `GET /v1/models/<name>[/versions/<v>]/metadata`. Responses use TF Serving's JSON writer rules: a string output is
  base64-encoded (`{"b64": ...}`) only when its name ends in `_bytes`; any other string output, such as the `images`
  output of the `<mode>_bytes` signatures, is written as a raw JSON string holding the bytes as they are (so the body
  is not valid UTF-8 when they are PNG bytes). `serving.client` reads both forms.
- Models come from model base paths (`<base>/<version>/saved_model.pb`); the highest version is served (TF Serving's
  default `latest { num_versions: 1 }` policy; a model config file may ask for `all`, `latest { num_versions: N }`
  or `specific { versions: ... }`, and `version_labels`). The base paths are polled for new versions every
  `poll_seconds` (TF Serving's `--file_system_poll_wait_seconds`); a new version is loaded before it replaces the
  old one, so requests never see a gap. A version that fails to load is retried up to MAX_LOAD_ATTEMPTS times,
  LOAD_RETRY_SECONDS apart, and shows in the model status as END with its error; the previous version keeps serving.

Errors use TF Serving's status codes: INVALID_ARGUMENT (REST 400) for bad requests (undecodable images, wrong
dtype or shape, missing or unknown input names, inconsistent batch sizes, images over `max_pixels`, bad JSON, and
InvalidArgumentError raised inside the SavedModel graph, e.g. by the image decoder); NOT_FOUND (REST 404) for an
unknown model or version; FAILED_PRECONDITION (REST 400) for an unknown signature over gRPC, which is what TF
Serving's Predict returns there (its REST API answers 400 for it as well). Each message names what was received
and what was expected. A failed request never stops the server.

One deliberate addition: `max_pixels`. Every string input is an encoded image in the i2i_keras contract (`images`,
`reference`); its width and height are read from the PNG/JPEG/GIF/BMP header and a request with an image over the
limit (or bytes that are no such image) is rejected before the model runs. Float image inputs ([batch, H, W, C]) are
checked the same way. TF Serving has no such check: in production put a request size limit in front of it.
Also stricter than TF Serving: unknown keys in a columnar REST `inputs` object are an error, not ignored.

Concurrency: gRPC requests run on a thread pool (`max_workers` threads) and REST requests on a second pool
(`rest_workers`, by default as many). SavedModel signature functions are safe to call from several threads at once (each call runs the graph
with its own inputs and the functions hold no per-call state; tests/serving checks concurrent answers against
locally computed ones), so no lock is held while the model runs.

Python API (used by the tests):
    server = start_server("RUN/export", model_name="i2i")            # ports 0: free ports are picked
    print(server.grpc_port, server.rest_port)
    server.stop()

CLI (flag names follow tensorflow_model_server; `--rest_api_port 0`, its default, disables REST as in TF Serving):
    python -m serving.dev_server --model_base_path RUN/export --model_name i2i --port 8500 --rest_api_port 8501
    python -m serving.dev_server --model_config_file models.pbtxt --port 8500 --rest_api_port 8501 --max_pixels 4000000
"""

from __future__ import annotations

import argparse
import base64
import binascii
import concurrent.futures
import dataclasses
import http.server
import json
import logging
import math
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import warnings
from typing import Any, Mapping, Optional

if __name__ == "__main__":
    # As a CLI, keep stderr to this server's own log: hide TensorFlow's C++ start-up messages (CUDA plugin
    # registration) and google.api_core's Python-version notice, both printed while TensorFlow is imported.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.api_core")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import json_format, text_format  # noqa: E402
from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402

log = logging.getLogger("serving.dev_server")

DEFAULT_SIGNATURE = "serving_default"
DEFAULT_MAX_PIXELS = 4096 * 4096
# Largest gRPC message and REST body accepted or sent (TF Serving itself allows up to 2 GiB).
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
SIGNATURE_DEF_FIELD = "signature_def"
# A version that fails to load is retried (a copy may still be in progress), as TF Serving does
# (--max_num_load_retries=5), but at most this often so that a broken version does not keep the CPU busy.
MAX_LOAD_ATTEMPTS = 5
LOAD_RETRY_SECONDS = 10.0
_SERVE_TAG = "serve"
_BYTES_SUFFIX = "_bytes"  # TF Serving's rule for base64 output in JSON (json_tensor.cc, IsNamedTensorBytes)

_HTTP_STATUS = {  # TF Serving's mapping of error codes to HTTP statuses (model_servers/http_rest_api_handler)
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
}


class ServingError(Exception):
    """A request failure with the gRPC status code TF Serving would use; REST maps it to an HTTP status."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


# ----------------------------------------------------------------------------------------------- image headers

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_IMAGE_FORMATS = "PNG, JPEG, GIF or BMP"


def encoded_image_size(data: bytes) -> tuple:
    """`(format, width, height)` read from the header of an encoded PNG, JPEG, GIF or BMP image, without decoding it.

    These are the formats the exported graph decodes (`tf.io.decode_png` / `tf.io.decode_image`).

    Raises:
        ValueError: the bytes are no such image, or its header is truncated or says the image is empty.
    """
    if not data:
        raise ValueError("empty string (0 bytes), not an image")
    if data.startswith(_PNG_MAGIC):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError(f"truncated or corrupt PNG header ({len(data)} bytes)")
        kind, (width, height) = "PNG", struct.unpack(">II", data[16:24])
    elif data.startswith(b"\xff\xd8\xff"):
        kind, (width, height) = "JPEG", _jpeg_size(data)
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        if len(data) < 10:
            raise ValueError(f"truncated GIF header ({len(data)} bytes)")
        kind, (width, height) = "GIF", struct.unpack("<HH", data[6:10])
    elif data.startswith(b"BM"):
        if len(data) < 26:
            raise ValueError(f"truncated BMP header ({len(data)} bytes)")
        header_size = struct.unpack("<I", data[14:18])[0]
        size = struct.unpack("<HH", data[18:22]) if header_size == 12 else struct.unpack("<ii", data[18:26])
        kind, width, height = "BMP", abs(size[0]), abs(size[1])  # negative BMP height = top-down rows
    else:
        hint = ""
        if data.startswith((b"iVBOR", b"/9j/", b"R0lGOD")):  # base64 of a PNG, JPEG or GIF header
            hint = "; it looks base64-encoded: send raw bytes over gRPC, or {\"b64\": ...} over REST"
        raise ValueError(f"not a {_IMAGE_FORMATS} image (starts with {data[:8]!r}){hint}")
    if width <= 0 or height <= 0:
        raise ValueError(f"{kind} header gives an empty image ({width}x{height})")
    return kind, int(width), int(height)


def _jpeg_size(data: bytes) -> tuple:
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:
            raise ValueError(f"corrupt JPEG header (no segment marker at byte {pos})")
        while pos < end and data[pos] == 0xFF:  # markers may be preceded by fill bytes
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # stand-alone markers carry no length
            continue
        if marker in (0xD9, 0xDA):
            raise ValueError("corrupt JPEG header (scan data or end of image before the frame header)")
        if pos + 2 > end:
            break
        length = struct.unpack(">H", data[pos:pos + 2])[0]
        if length < 2:
            raise ValueError(f"corrupt JPEG header (segment length {length} at byte {pos})")
        if marker in _JPEG_SOF:
            if pos + 7 > end:
                break
            height, width = struct.unpack(">HH", data[pos + 3:pos + 7])
            return width, height
        pos += length
    raise ValueError(f"truncated JPEG header (no frame header in {len(data)} bytes)")


# ----------------------------------------------------------------------------------------------- models


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model: TF Serving's `ModelConfig` fields that the development server honours.

    `policy` is "latest" (the `num_versions` highest versions), "all", or "specific" (`versions`).
    """

    name: str
    base_path: str
    policy: str = "latest"
    num_versions: int = 1
    versions: tuple = ()
    labels: Mapping[str, int] = dataclasses.field(default_factory=dict)


def _resolve_path(path: str) -> str:
    """Local paths made absolute (relative to the current directory); URLs such as gs://... kept as they are."""
    return path if "://" in path else os.path.abspath(path)


def read_model_config_file(path: str) -> list:
    """Parses a TF Serving model config file (text `ModelServerConfig` with a `model_config_list`).

    Relative `base_path`s are resolved against the current directory, as tensorflow_model_server does.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it does not parse, has no models, or uses something the development server does not support.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such model config file")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        raise ValueError(f"{path}: not a text ModelServerConfig ({err})") from None
    if config.WhichOneof("config") != "model_config_list" or not config.model_config_list.config:
        raise ValueError(f"{path}: expected `model_config_list {{ config {{ name: ... base_path: ... }} }}` "
                         f"with at least one model")
    models = []
    for entry in config.model_config_list.config:
        where = f"{path}: model {entry.name!r}"
        if not entry.name or not entry.base_path:
            raise ValueError(f"{path}: every model config needs `name` and `base_path`; received "
                             f"name={entry.name!r} base_path={entry.base_path!r}")
        if entry.model_platform not in ("", "tensorflow"):
            raise ValueError(f"{where}: model_platform must be 'tensorflow'; received {entry.model_platform!r}")
        policy = entry.model_version_policy
        kind = policy.WhichOneof("policy_choice") or "latest"
        num_versions, versions = 1, ()
        if kind == "latest":
            num_versions = policy.latest.num_versions or 1
        elif kind == "specific":
            versions = tuple(sorted(int(v) for v in policy.specific.versions))
            if not versions:
                raise ValueError(f"{where}: `specific` version policy lists no versions")
        labels = {label: int(version) for label, version in entry.version_labels.items()}
        models.append(ModelConfig(entry.name, _resolve_path(entry.base_path), kind, num_versions, versions,
                                  labels))
    names = [m.name for m in models]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{path}: model names must be unique; repeated: {duplicates}")
    return models


@dataclasses.dataclass(frozen=True)
class Servable:
    """One loaded model version: the SignatureDefs TF Serving would report and the functions that run them."""

    name: str
    version: int
    path: str
    signature_defs: Mapping[str, Any]  # name -> tensorflow.SignatureDef (from saved_model.pb)
    functions: Mapping[str, Any]  # name -> ConcreteFunction
    loaded: Any  # keeps the restored object, and with it the functions' variables, alive


def load_servable(name: str, version: int, path: str) -> Servable:
    """Loads one SavedModel version directory with the `serve` tag set, as TF Serving does."""
    saved_model = saved_model_pb2.SavedModel()
    pb, pbtxt = os.path.join(path, "saved_model.pb"), os.path.join(path, "saved_model.pbtxt")
    if tf.io.gfile.exists(pb):
        with tf.io.gfile.GFile(pb, "rb") as f:
            saved_model.ParseFromString(f.read())
    else:
        with tf.io.gfile.GFile(pbtxt, "r") as f:
            text_format.Parse(f.read(), saved_model)
    meta_graph = next((m for m in saved_model.meta_graphs if list(m.meta_info_def.tags) == [_SERVE_TAG]), None)
    if meta_graph is None:
        tags = [list(m.meta_info_def.tags) for m in saved_model.meta_graphs]
        raise ValueError(f"{path}: no MetaGraph with the tag set ['serve'] (found {tags})")
    loaded = tf.saved_model.load(path, tags=[_SERVE_TAG])
    return Servable(name, version, path, dict(meta_graph.signature_def), dict(loaded.signatures), loaded)


def _version_dirs(base_path: str) -> dict:
    """version -> directory for the integer subdirectories of `base_path` that hold a SavedModel."""
    if not tf.io.gfile.isdir(base_path):
        return {}
    found = {}
    for entry in tf.io.gfile.listdir(base_path):
        entry = entry.rstrip("/")
        path = os.path.join(base_path, entry)
        if entry.isdigit() and any(tf.io.gfile.exists(os.path.join(path, f))
                                   for f in ("saved_model.pb", "saved_model.pbtxt")):
            found[int(entry)] = path
    return found


class ModelManager:
    """Keeps the versions each model's policy asks for loaded, and swaps in new versions found by polling."""

    def __init__(self, configs: list):
        self._configs = {c.name: c for c in configs}
        self._lock = threading.Lock()
        self._servables: dict = {c.name: {} for c in configs}  # name -> version -> Servable
        self._failures: dict = {}  # (name, version) -> (error message, attempts, time of the last attempt)

    @property
    def model_names(self) -> list:
        return list(self._configs)

    def refresh(self) -> None:
        """Loads wanted versions that are not loaded yet, then drops loaded versions no longer wanted."""
        for config in self._configs.values():
            available = _version_dirs(config.base_path)
            if config.policy == "latest":
                wanted = sorted(available)[-config.num_versions:]
            elif config.policy == "specific":
                wanted = [v for v in config.versions if v in available]
            else:
                wanted = sorted(available)
            if not wanted:
                # An empty listing (e.g. a base path being replaced) must not unload what is being served.
                continue
            with self._lock:
                loaded = dict(self._servables[config.name])
            for version in wanted:
                if version in loaded:
                    continue
                with self._lock:
                    _, attempts, last = self._failures.get((config.name, version), ("", 0, 0.0))
                if attempts >= MAX_LOAD_ATTEMPTS or (attempts and time.monotonic() - last < LOAD_RETRY_SECONDS):
                    continue
                try:
                    servable = load_servable(config.name, version, available[version])
                except Exception as err:  # noqa: BLE001 - a broken version must not stop the others
                    message = f"{type(err).__name__}: {_first_line(str(err))}"
                    with self._lock:
                        self._failures[(config.name, version)] = (message, attempts + 1, time.monotonic())
                    log.error("cannot load %s version %d from %s (attempt %d of %d): %s", config.name, version,
                              available[version], attempts + 1, MAX_LOAD_ATTEMPTS, message)
                    continue
                with self._lock:
                    self._failures.pop((config.name, version), None)
                loaded[version] = servable
                log.info("loaded model %s version %d from %s", config.name, version, available[version])
            keep = {v: s for v, s in loaded.items() if v in wanted}
            if keep:  # requests holding an unloaded Servable finish with it; it is freed afterwards
                for version in sorted(set(loaded) - set(keep)):
                    log.info("unloaded model %s version %d", config.name, version)
                with self._lock:
                    self._servables[config.name] = keep

    def check_loaded(self) -> None:
        """Raises ValueError naming each model that has no loadable version (used at start-up)."""
        problems = []
        with self._lock:
            all_failures = dict(self._failures)
        for name, config in self._configs.items():
            if self.versions(name):
                continue
            if not tf.io.gfile.isdir(config.base_path):
                problems.append(f"model {name!r}: base path {config.base_path} does not exist")
                continue
            failures = [f"version {v}: {m}" for (n, v), (m, _, _) in sorted(all_failures.items()) if n == name]
            problems.append(f"model {name!r}: " + ("; ".join(failures) if failures else
                                                    f"no version directory (<base>/<integer>/saved_model.pb) "
                                                    f"under {config.base_path}"))
        if problems:
            raise ValueError("; ".join(problems))

    def versions(self, name: str) -> list:
        with self._lock:
            return sorted(self._servables.get(name, {}))

    def get(self, name: str, version: Optional[int] = None, label: Optional[str] = None) -> Servable:
        """The servable for a request's model spec; NOT_FOUND (TF Serving's code) when there is none."""
        if not name:
            raise _invalid(f"the request names no model (model_spec.name is empty); models served: "
                           f"{', '.join(self._configs)}")
        if name not in self._configs:
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Servable not found for request: Latest({name}); models served: "
                               f"{', '.join(self._configs)}")
        if label is not None:
            labels = self._configs[name].labels
            if label not in labels:
                raise _invalid(f"Unrecognized servable version label: {label}; labels of model {name!r}: "
                               f"{sorted(labels) or 'none'}")
            version = labels[label]
        with self._lock:
            servables = self._servables[name]
            if version is None:
                if servables:
                    return servables[max(servables)]
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name}); "
                                                              f"no version of it is loaded")
            if version in servables:
                return servables[version]
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Servable not found for request: Specific({name}, {version}); loaded versions: "
                               f"{sorted(servables) or 'none'}")

    def status(self, name: str, version: Optional[int] = None) -> get_model_status_pb2.GetModelStatusResponse:
        """TF Serving's GetModelStatusResponse: loaded versions AVAILABLE, failed loads END with their error."""
        if name not in self._configs:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}; models "
                                                          f"served: {', '.join(self._configs)}")
        with self._lock:
            states = {v: ("AVAILABLE", "") for v in self._servables[name]}
            failures = dict(self._failures)
        for (model, v), (message, _, _) in failures.items():
            if model == name and v not in states:
                states[v] = ("END", message)
        if not states:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}")
        if version is not None:
            if version not in states:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}; "
                                                              f"versions: {sorted(states) or 'none'}")
            states = {version: states[version]}
        response = get_model_status_pb2.GetModelStatusResponse()
        for v in sorted(states, reverse=True):
            state, message = states[v]
            entry = response.model_version_status.add()
            entry.version = v
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(state)
            entry.status.SetInParent()  # TF Serving always reports a status: {"error_code": "OK", ...}
            if message:
                entry.status.error_code = 2  # tensorflow.error.UNKNOWN
                entry.status.error_message = message
        return response


# ----------------------------------------------------------------------------------------------- predict


def _dtype_name(dtype: int) -> str:
    return types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else f"dtype {dtype}"


def _shape_text(shape) -> str:
    """A TensorShapeProto or a tuple of ints as `[None, 32, 3]` (None: any size)."""
    if hasattr(shape, "unknown_rank"):
        if shape.unknown_rank:
            return "any shape"
        shape = [d.size for d in shape.dim]
    return "[" + ", ".join("None" if d < 0 else str(d) for d in shape) + "]"


def _array_dtype(array: np.ndarray) -> int:
    if array.dtype.kind in "OSU":
        return types_pb2.DT_STRING
    return tf.as_dtype(array.dtype).as_datatype_enum


def _shape_fits(spec, shape: tuple) -> bool:
    if spec.unknown_rank:
        return True
    return len(spec.dim) == len(shape) and all(d.size < 0 or d.size == s for d, s in zip(spec.dim, shape))


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _op_error_reason(err: tf.errors.OpError) -> str:
    """The failing op's own message, without TensorFlow's node names and stack-trace boilerplate."""
    skip = ("Graph execution error", "Detected at node", "<stack traces", "[[", "File ", "Traceback", "{{")
    for line in (err.message or "").splitlines():
        line = line.strip()
        if line and not line.startswith(skip):
            return re.sub(r"\s*\[\[.*$", "", line).rstrip(". ")
    return type(err).__name__


class Predictor:
    """Validates inputs against a signature, runs it and returns its outputs; shared by gRPC and REST."""

    def __init__(self, manager: ModelManager, max_pixels: int):
        self.manager = manager
        self.max_pixels = max_pixels

    def signature(self, servable: Servable, name: str, rest: bool = False):
        signature_def = servable.signature_defs.get(name)
        if signature_def is None or name not in servable.functions:
            available = ", ".join(sorted(servable.functions))
            if rest:  # TF Serving's REST handler checks the signature while parsing: INVALID_ARGUMENT
                raise _invalid(f'Serving signature name: "{name}" not found in signature def; model '
                               f'{servable.name!r} version {servable.version} has: {available}')
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                               f'Serving signature key "{name}" not found. Model {servable.name!r} version '
                               f'{servable.version} has: {available}')
        return signature_def

    def run(self, servable: Servable, signature_name: str, inputs: Mapping[str, np.ndarray],
            output_filter: tuple = ()) -> dict:
        """Checks `inputs` (names, dtypes, shapes, batch sizes, images) and runs the signature.

        Returns:
            output name -> numpy array.
        Raises:
            ServingError: with INVALID_ARGUMENT for anything wrong with the request.
        """
        signature_def = self.signature(servable, signature_name)
        where = f"signature {signature_name!r}"
        expected = signature_def.inputs
        missing, unknown = sorted(set(expected) - set(inputs)), sorted(set(inputs) - set(expected))
        if missing or unknown:
            problems = ([f"missing {missing}"] if missing else []) + ([f"unknown {unknown}"] if unknown else [])
            raise _invalid(f"{where} takes the inputs {sorted(expected)}; received {sorted(inputs)} "
                           f"({', '.join(problems)})")
        for key in sorted(expected):
            info, array = expected[key], inputs[key]
            dtype = _array_dtype(array)
            if dtype != info.dtype or not _shape_fits(info.tensor_shape, array.shape):
                raise _invalid(f"input {key!r} of {where} must be {_dtype_name(info.dtype)} with shape "
                               f"{_shape_text(info.tensor_shape)}; received {_dtype_name(dtype)} with shape "
                               f"{_shape_text(array.shape)}")
        self._check_batch(where, expected, inputs)
        for key in sorted(expected):
            self._check_images(key, inputs[key])
        unknown_outputs = sorted(set(output_filter) - set(signature_def.outputs))
        if unknown_outputs:
            raise _invalid(f"output_filter names {unknown_outputs}, which {where} does not have; its outputs: "
                           f"{sorted(signature_def.outputs)}")

        function = servable.functions[signature_name]
        try:
            outputs = function(**{key: tf.constant(value) for key, value in inputs.items()})
        except tf.errors.InvalidArgumentError as err:
            raise _invalid(f"{where} of model {servable.name!r} failed on the request's data: "
                           f"{_op_error_reason(err)}") from None
        except tf.errors.ResourceExhaustedError as err:
            raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, _op_error_reason(err)) from None
        except tf.errors.OpError as err:
            raise ServingError(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {_op_error_reason(err)}") from None
        except (TypeError, ValueError) as err:  # the checks above should leave nothing for these
            raise _invalid(f"{where}: {_first_line(str(err))}") from None
        names = output_filter or tuple(outputs)
        return {name: outputs[name].numpy() for name in names}

    @staticmethod
    def _check_batch(where: str, expected, inputs: Mapping[str, np.ndarray]) -> None:
        """Inputs whose first dimension is unknown in the signature are batched together: sizes must agree."""
        sizes = {key: inputs[key].shape[0] for key, info in expected.items()
                 if not info.tensor_shape.unknown_rank and info.tensor_shape.dim
                 and info.tensor_shape.dim[0].size < 0}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{k} has {n}" for k, n in sorted(sizes.items()))
            raise _invalid(f"the batched inputs of {where} must have the same first dimension; received {listed}")

    def _check_images(self, key: str, array: np.ndarray) -> None:
        if array.dtype.kind in "OSU":
            for index, data in enumerate(array.reshape(-1)):
                data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
                try:
                    kind, width, height = encoded_image_size(data)
                except ValueError as err:
                    raise _invalid(f"input {key!r}{_index(array, index)}: {err}") from None
                self._check_pixels(f"input {key!r}{_index(array, index)}: {kind} image", width, height)
        elif array.ndim == 4 and array.dtype.kind == "f":  # [batch, height, width, channels] float images
            self._check_pixels(f"input {key!r}: float image", array.shape[2], array.shape[1])

    def _check_pixels(self, what: str, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise _invalid(f"{what} is {width}x{height} = {width * height} pixels, over this server's limit of "
                           f"{self.max_pixels} pixels (--max_pixels)")


def _index(array: np.ndarray, flat_index: int) -> str:
    if array.ndim == 0:
        return ""
    return "[" + ", ".join(str(i) for i in np.unravel_index(flat_index, array.shape)) + "]"


# ----------------------------------------------------------------------------------------------- gRPC


def _tensor_to_array(key: str, proto) -> np.ndarray:
    try:
        return tf.make_ndarray(proto)
    except Exception as err:  # noqa: BLE001 - any malformed TensorProto is the client's error
        raise _invalid(f"input {key!r}: malformed TensorProto ({_dtype_name(proto.dtype)}, shape "
                       f"{[d.size for d in proto.tensor_shape.dim]}): {_first_line(str(err))}") from None


def _requested_version(model_spec) -> tuple:
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version":
        return model_spec.version.value, None
    if choice == "version_label":
        return None, model_spec.version_label
    return None, None


def _metadata_response(servable: Servable) -> get_model_metadata_pb2.GetModelMetadataResponse:
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in servable.signature_defs.items():
        signature_map.signature_def[name].CopyFrom(signature_def)
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


class _PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, predictor: Predictor):
        self._predictor = predictor

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        try:
            version, label = _requested_version(request.model_spec)
            servable = self._predictor.manager.get(request.model_spec.name, version, label)
            signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            inputs = {key: _tensor_to_array(key, proto) for key, proto in request.inputs.items()}
            outputs = self._predictor.run(servable, signature_name, inputs, tuple(request.output_filter))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = signature_name
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response
        except ServingError as err:
            context.abort(err.code, err.message)
        except Exception as err:  # noqa: BLE001 - a bug must not look like a client error; the server goes on
            log.exception("gRPC request failed")
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(err).__name__}: {err}")

    def GetModelMetadata(self, request, context):  # noqa: N802 - gRPC method name
        try:
            fields = list(request.metadata_field)
            if not fields:
                raise _invalid(f"GetModelMetadataRequest must name at least one metadata_field; supported: "
                               f"{SIGNATURE_DEF_FIELD!r}")
            unsupported = [f for f in fields if f != SIGNATURE_DEF_FIELD]
            if unsupported:
                raise _invalid(f"Metadata field {unsupported[0]} is not supported; supported: "
                               f"{SIGNATURE_DEF_FIELD!r}")
            version, label = _requested_version(request.model_spec)
            return _metadata_response(self._predictor.manager.get(request.model_spec.name, version, label))
        except ServingError as err:
            context.abort(err.code, err.message)
        except Exception as err:  # noqa: BLE001 - a bug must not look like a client error; the server goes on
            log.exception("gRPC request failed")
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(err).__name__}: {err}")


class _ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager):
        self._manager = manager

    def GetModelStatus(self, request, context):  # noqa: N802 - gRPC method name
        try:
            version, label = _requested_version(request.model_spec)
            if label is not None:
                version = self._manager.get(request.model_spec.name, None, label).version
            return self._manager.status(request.model_spec.name, version)
        except ServingError as err:
            context.abort(err.code, err.message)
        except Exception as err:  # noqa: BLE001 - a bug must not look like a client error; the server goes on
            log.exception("gRPC request failed")
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(err).__name__}: {err}")


# ----------------------------------------------------------------------------------------------- REST: JSON in


_NUMPY_TYPES = {
    types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64, types_pb2.DT_HALF: np.float16,
    types_pb2.DT_INT8: np.int8, types_pb2.DT_INT16: np.int16, types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT64: np.int64, types_pb2.DT_UINT8: np.uint8, types_pb2.DT_UINT16: np.uint16,
    types_pb2.DT_UINT32: np.uint32, types_pb2.DT_UINT64: np.uint64, types_pb2.DT_BOOL: np.bool_,
    types_pb2.DT_STRING: object,
}


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "Bool"), (int, "Number"), (float, "Number"), (str, "String"), (list, "Array"),
                       (dict, "Object")):
        if isinstance(value, kind):
            return name
    return "Null"


def _json_scalar(value: Any, dtype: int, where: str) -> Any:
    expected = _dtype_name(dtype)
    if dtype == types_pb2.DT_STRING:
        if isinstance(value, str):
            return value.encode("utf-8")
        if _is_b64(value):
            text = value["b64"]
            try:  # absl::Base64Unescape, which TF Serving uses, accepts missing padding
                return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise _invalid(f"{where}: Unable to base64 decode {_short(text, 40)!r}") from None
        if isinstance(value, dict):
            raise _invalid(f"{where}: JSON object {_short(json.dumps(value), 60)} is not formatted correctly for "
                           f"base64 data; expected {{\"b64\": \"<base64 string>\"}}")
    elif dtype == types_pb2.DT_BOOL:
        if isinstance(value, bool):
            return value
    elif np.issubdtype(_NUMPY_TYPES[dtype], np.integer):
        if isinstance(value, int) and not isinstance(value, bool):
            info = np.iinfo(_NUMPY_TYPES[dtype])
            if not info.min <= value <= info.max:
                raise _invalid(f"{where}: JSON value {value} is out of the range of {expected} "
                               f"[{info.min}, {info.max}]")
            return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise _invalid(f"{where}: JSON value {_short(json.dumps(value), 60)} (type {_json_type(value)}) is not of "
                   f"expected type {expected}")


def _json_tensor(value: Any, dtype: int, where: str) -> np.ndarray:
    """A JSON value (scalar or nested lists) as a numpy array of `dtype`, following TF Serving's rules."""
    if dtype not in _NUMPY_TYPES:
        raise _invalid(f"{where}: the REST API of this server cannot feed inputs of type {_dtype_name(dtype)}")
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
                raise _invalid(f"{where}: JSON value {_short(json.dumps(item), 60)} found at depth {level}, "
                               f"expected at depth {len(shape)} (shape {shape})")
            flat.append(_json_scalar(item, dtype, where))

    walk(value, 0)
    array = np.empty(len(flat), dtype=_NUMPY_TYPES[dtype])
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
        raise _invalid(f"the request body must be a JSON object; received a JSON {_json_type(doc)}")
    infos = signature_def.inputs
    names = sorted(infos)
    if "instances" in doc and "inputs" in doc:
        raise _invalid("the request has both 'instances' and 'inputs'; send exactly one of them")
    if "instances" in doc:
        rows = doc["instances"]
        if not isinstance(rows, list) or not rows:
            raise _invalid(f"'instances' must be a non-empty list; received {_short(json.dumps(rows), 60)}")
        objects = isinstance(rows[0], dict) and not _is_b64(rows[0])
        if not objects and len(names) > 1:
            raise _invalid(f"'instances' is a plain list, but signature {signature_name!r} has several inputs "
                           f"{names}: send a list of objects with one key per input, or use the columnar "
                           f"'inputs' format")
        columns = {name: [] for name in names}
        for index, row in enumerate(rows):
            if objects:
                if not isinstance(row, dict) or _is_b64(row):
                    raise _invalid(f"element {index} of 'instances' is not an object like element 0")
                if sorted(row) != names:
                    raise _invalid(f"element {index} of 'instances' has the keys {sorted(row)}; signature "
                                   f"{signature_name!r} takes exactly {names}")
                for name in names:
                    columns[name].append(_json_tensor(row[name], infos[name].dtype,
                                                      f"instances[{index}][{name!r}]"))
            else:
                if isinstance(row, dict) and not _is_b64(row):
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
        if not isinstance(value, dict) or _is_b64(value):
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
            return {"b64": base64.b64encode(data).decode("ascii")} if as_bytes else _raw_string(data)
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


def _message_json(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True, including_default_value_fields=True)


_URL_RE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                     r"(?P<verb>:[a-z]+|/metadata)?/?$")


class _RestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST routes; every answer is JSON, errors are `{"error": "..."}`."""

    server_version = "i2i-dev-server"
    predictor: Predictor  # set on the subclass made per server

    def do_GET(self):  # noqa: N802 - http.server method name
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802 - http.server method name
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        try:
            match = _URL_RE.match(self.path.split("?", 1)[0])
            verb = match and (match.group("verb") or "")
            if not match or (method, verb) not in {("GET", ""), ("GET", "/metadata"), ("POST", ":predict"),
                                                   ("POST", ":classify"), ("POST", ":regress")}:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {method} {self.path}")
            if verb in (":classify", ":regress"):
                raise ServingError(grpc.StatusCode.UNIMPLEMENTED, f"the development server implements only "
                                                                  f":predict, not {verb}")
            name, label = match.group("name"), match.group("label")
            version = int(match.group("version")) if match.group("version") else None
            manager = self.predictor.manager
            if verb == "":
                if label is not None:
                    version = manager.get(name, None, label).version
                self._reply(200, json.dumps(_message_json(manager.status(name, version)), indent=1).encode())
            elif verb == "/metadata":
                servable = manager.get(name, version, label)
                metadata = _metadata_response(servable)
                signature_map = get_model_metadata_pb2.SignatureDefMap()
                metadata.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
                body = {"model_spec": _message_json(metadata.model_spec),
                        "metadata": {SIGNATURE_DEF_FIELD: _message_json(signature_map)}}
                self._reply(200, json.dumps(body, indent=1).encode())
            else:
                self._reply(200, self._predict(name, version, label))
        except ServingError as err:
            self._reply(err.http_status, json.dumps({"error": err.message}).encode())
        except Exception as err:  # noqa: BLE001 - a bug must not take the server down; report it as TF Serving would
            log.exception("REST request %s %s failed", method, self.path)
            self._reply(500, json.dumps({"error": f"internal error: {type(err).__name__}: {err}"}).encode())

    def _predict(self, name: str, version: Optional[int], label: Optional[str]) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise _invalid("the request needs a Content-Length header (chunked bodies are not supported)")
        if int(length) > MAX_MESSAGE_BYTES:
            raise _invalid(f"the request body is {length} bytes, over this server's limit of {MAX_MESSAGE_BYTES}")
        raw = self.rfile.read(int(length))
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise _invalid(f"JSON Parse error: {err}") from None
        servable = self.predictor.manager.get(name, version, label)
        if not isinstance(doc, dict):
            raise _invalid(f"the request body must be a JSON object; received a JSON {_json_type(doc)}")
        signature_name = doc.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(signature_name, str):
            raise _invalid(f"'signature_name' must be a string; received {_short(json.dumps(signature_name), 60)}")
        signature_name = signature_name or DEFAULT_SIGNATURE  # empty means the default, as in TF Serving
        signature_def = self.predictor.signature(servable, signature_name, rest=True)
        inputs, form = parse_predict_json(doc, signature_def, signature_name)
        outputs = self.predictor.run(servable, signature_name, inputs)
        return predict_response_json(outputs, form)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        log.debug("REST %s - %s", self.address_string(), format % args)


class _PooledHTTPServer(http.server.HTTPServer):
    """An HTTP server that handles requests on a fixed thread pool (ThreadingHTTPServer starts a thread per
    request, without a bound)."""

    def __init__(self, address: tuple, handler, workers: int):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="rest")

    def process_request(self, request, client_address):
        self._pool.submit(self._handle, request, client_address)

    def _handle(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's own policy: report and go on
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self):
        super().server_close()
        self._pool.shutdown(wait=True)


# ----------------------------------------------------------------------------------------------- the server


class DevServer:
    """A running development server; `stop()` shuts it down (also on leaving a `with` block).

    Attributes:
        grpc_port: the bound gRPC port.
        rest_port: the bound REST port, or None when REST is off.
        host: the address both listen on.
        manager: the ModelManager (loaded versions, status).
    """

    def __init__(self, manager: ModelManager, grpc_server, grpc_executor, grpc_port: int, http_server,
                 rest_port: Optional[int], host: str, poll_seconds: float):
        self.manager = manager
        self._grpc_executor = grpc_executor
        self.grpc_port = grpc_port
        self.rest_port = rest_port
        self.host = host
        self._grpc_server = grpc_server
        self._http_server = http_server
        self._stopped = threading.Event()  # stop requested
        self._done = threading.Event()  # stop completed
        self._stop_lock = threading.Lock()
        self._threads = []
        if http_server is not None:
            self._threads.append(threading.Thread(target=http_server.serve_forever, kwargs={"poll_interval": 0.2},
                                                  name="rest-accept", daemon=True))
        if poll_seconds > 0:
            self._threads.append(threading.Thread(target=self._poll, args=(poll_seconds,), name="version-poll",
                                                  daemon=True))
        for thread in self._threads:
            thread.start()

    def _poll(self, seconds: float) -> None:
        while not self._stopped.wait(seconds):
            try:
                self.manager.refresh()
            except Exception:  # noqa: BLE001 - a failed scan is retried on the next poll
                log.exception("polling the model base paths failed")

    def stop(self, grace: float = 1.0) -> None:
        """Stops accepting requests, lets running ones finish (up to `grace` seconds for gRPC), joins threads.

        Safe to call more than once and from several threads; every call returns once the server is down.
        """
        with self._stop_lock:
            first = not self._stopped.is_set()
            self._stopped.set()  # also ends the polling loop
        if not first:
            self._done.wait()
            return
        try:
            if self._http_server is not None:
                self._http_server.shutdown()
                self._http_server.server_close()
            self._grpc_server.stop(grace).wait()
            self._grpc_executor.shutdown(wait=False)
            for thread in self._threads:
                thread.join(timeout=30)
        finally:
            self._done.set()

    def wait(self) -> None:
        """Blocks until the server has stopped (`stop()` called from another thread or a signal handler)."""
        while not self._done.wait(0.5):
            pass

    def __enter__(self) -> "DevServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server(model_base_path: Optional[str] = None, model_name: str = "i2i", grpc_port: int = 0,
                 rest_port: Optional[int] = 0, max_pixels: int = DEFAULT_MAX_PIXELS, host: str = "127.0.0.1", *,
                 models: Optional[Mapping[str, str]] = None, model_config_file: Optional[str] = None,
                 poll_seconds: float = 1.0, max_workers: int = 8, rest_workers: Optional[int] = None) -> DevServer:
    """Loads the models and starts the gRPC (and REST) server; returns once both accept requests.

    Give exactly one of `model_base_path` (served as `model_name`), `models` (name -> base path) or
    `model_config_file` (TF Serving's model config text format). Port 0 picks a free port (see the returned
    server's `grpc_port` / `rest_port`); `rest_port=None` turns REST off. `poll_seconds <= 0` turns off the polling
    for new versions. `max_workers` threads serve gRPC and `rest_workers` (default: as many) serve REST.

    Raises:
        ValueError / FileNotFoundError: bad arguments, an unreadable config, or a model with no loadable version.
        OSError: a port cannot be bound.
    """
    sources = [s for s in (model_base_path, models, model_config_file) if s is not None]
    if len(sources) != 1:
        raise ValueError(f"give exactly one of model_base_path, models or model_config_file; received "
                         f"model_base_path={model_base_path!r}, models={models!r}, "
                         f"model_config_file={model_config_file!r}")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive integer; received max_pixels={max_pixels!r}")
    rest_workers = max_workers if rest_workers is None else rest_workers
    for label, count in (("max_workers", max_workers), ("rest_workers", rest_workers)):
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ValueError(f"{label} must be a positive integer; received {label}={count!r}")
    for label, port in (("grpc_port", grpc_port), ("rest_port", rest_port)):
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
            raise ValueError(f"{label} must be an integer in [0, 65535]; received {label}={port!r}")
    if model_config_file is not None:
        configs = read_model_config_file(model_config_file)
    else:
        pairs = {model_name: model_base_path} if model_base_path is not None else dict(models)
        if not pairs:
            raise ValueError("models is empty; give at least one name -> base path")
        for name, path in pairs.items():
            if not name or not isinstance(name, str) or "/" in name or ":" in name:
                raise ValueError(f"model names must be non-empty strings without '/' or ':'; received {name!r}")
        configs = [ModelConfig(name, _resolve_path(os.fspath(path))) for name, path in pairs.items()]

    manager = ModelManager(configs)
    manager.refresh()
    manager.check_loaded()
    predictor = Predictor(manager, max_pixels)

    grpc_executor = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="grpc")
    grpc_server = grpc.server(
        grpc_executor,
        # so_reuseport=0: a port already in use is an error here, not a second server sharing it.
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                 ("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionServicer(predictor), grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelServicer(manager), grpc_server)
    address = f"[{host}]:{grpc_port}" if ":" in host else f"{host}:{grpc_port}"
    try:
        bound_grpc = grpc_server.add_insecure_port(address)
    except RuntimeError as err:
        raise OSError(f"cannot bind the gRPC port {address}: {err}") from None
    if not bound_grpc:
        raise OSError(f"cannot bind the gRPC port {address} (in use, or not an address of this machine)")

    http_server, bound_rest = None, None
    if rest_port is not None:
        handler = type("RestHandler", (_RestHandler,), {"predictor": predictor})
        try:
            http_server = _PooledHTTPServer((host, rest_port), handler, rest_workers)
        except OSError as err:
            grpc_server.stop(None)
            raise OSError(f"cannot bind the REST port {host}:{rest_port}: {err.strerror or err}") from None
        bound_rest = http_server.server_address[1]
    grpc_server.start()
    server = DevServer(manager, grpc_server, grpc_executor, bound_grpc, http_server, bound_rest, host, poll_seconds)
    for name in manager.model_names:
        log.info("serving model %s versions %s", name, manager.versions(name))
    return server


# ----------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving.dev_server",
        description="DEVELOPMENT server speaking TF Serving's PredictionService gRPC API and REST API for "
                    "SavedModels (production: the tensorflow/serving container). Flag names follow "
                    "tensorflow_model_server.")
    parser.add_argument("--model_base_path", help="model base path: <dir>/<integer version>/saved_model.pb")
    parser.add_argument("--model_name", default="default",
                        help="name to serve --model_base_path under (default: 'default', as TF Serving)")
    parser.add_argument("--model_config_file", help="TF Serving model config (text ModelServerConfig) for several "
                                                    "models, version policies and labels")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500; 0: pick a free one)")
    parser.add_argument("--rest_api_port", type=int, default=0,
                        help="REST port (default 0: REST off, as in TF Serving)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; TF Serving listens on all addresses)")
    parser.add_argument("--max_pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"reject images with more pixels than this (default {DEFAULT_MAX_PIXELS})")
    parser.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                        help="how often to look for new model versions (default 1; 0: never)")
    parser.add_argument("--grpc_max_threads", type=int, default=8,
                        help="threads serving gRPC requests (default 8)")
    parser.add_argument("--rest_api_num_threads", type=int, default=None,
                        help="threads serving REST requests (default: --grpc_max_threads)")
    return parser


def main(argv: Optional[list] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if (args.model_base_path is None) == (args.model_config_file is None):
        print("error: give exactly one of --model_base_path or --model_config_file", file=sys.stderr)
        return 2
    try:
        server = start_server(args.model_base_path, args.model_name, grpc_port=args.port,
                              rest_port=args.rest_api_port or None, max_pixels=args.max_pixels, host=args.host,
                              model_config_file=args.model_config_file,
                              poll_seconds=args.file_system_poll_wait_seconds,
                              max_workers=args.grpc_max_threads, rest_workers=args.rest_api_num_threads)
    except (OSError, ValueError) as err:
        print(f"error: {_first_line(str(err))}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.stop).start())
    rest = f"REST {server.host}:{server.rest_port}" if server.rest_port else "REST off"
    models = ", ".join(f"{n} (versions {server.manager.versions(n)})" for n in server.manager.model_names)
    # One machine-readable line on stdout once requests are accepted (scripts and tests wait for it).
    print(f"dev_server ready: gRPC {server.host}:{server.grpc_port} | {rest} | models {models}", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
