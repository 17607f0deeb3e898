"""The development server's model manager: loads the versions each model's policy asks for, swaps in new versions
found by polling, and answers which servable a request addresses and the models' status."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import Any, Mapping, Optional

import grpc
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import get_model_status_pb2

from .common import SERVER_LOGGER, first_line
from .errors import ConfigError, ServingError, invalid_argument

log = logging.getLogger(SERVER_LOGGER)

# A version that fails to load is retried (a copy may still be in progress), as TF Serving does
# (--max_num_load_retries=5), but at most this often so that a broken version does not keep the CPU busy.
MAX_LOAD_ATTEMPTS = 5
LOAD_RETRY_SECONDS = 10.0
_SERVE_TAG = "serve"


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
                    message = f"{type(err).__name__}: {first_line(str(err))}"
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
        """Raises ConfigError (`no_loadable_version`) naming each model that has no loadable version (at start-up)."""
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
            raise ConfigError("; ".join(problems), code="no_loadable_version")

    def versions(self, name: str) -> list:
        with self._lock:
            return sorted(self._servables.get(name, {}))

    def get(self, name: str, version: Optional[int] = None, label: Optional[str] = None) -> Servable:
        """The servable for a request's model spec; NOT_FOUND (TF Serving's code) when there is none."""
        if not name:
            raise invalid_argument(f"the request names no model (model_spec.name is empty); models served: "
                                   f"{', '.join(self._configs)}", code="no_model_name")
        if name not in self._configs:
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Servable not found for request: Latest({name}); models served: "
                               f"{', '.join(self._configs)}", code="unknown_model")
        if label is not None:
            labels = self._configs[name].labels
            if label not in labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}; labels of model {name!r}: "
                                       f"{sorted(labels) or 'none'}", code="unknown_label")
            version = labels[label]
        with self._lock:
            servables = self._servables[name]
            if version is None:
                if servables:
                    return servables[max(servables)]
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name}); "
                                                              f"no version of it is loaded",
                                   code="no_version_loaded")
            if version in servables:
                return servables[version]
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Servable not found for request: Specific({name}, {version}); loaded versions: "
                               f"{sorted(servables) or 'none'}", code="unknown_version")

    def status(self, name: str, version: Optional[int] = None) -> get_model_status_pb2.GetModelStatusResponse:
        """TF Serving's GetModelStatusResponse: loaded versions AVAILABLE, failed loads END with their error."""
        if name not in self._configs:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}; models "
                                                          f"served: {', '.join(self._configs)}",
                               code="unknown_model")
        with self._lock:
            states = {v: ("AVAILABLE", "") for v in self._servables[name]}
            failures = dict(self._failures)
        for (model, v), (message, _, _) in failures.items():
            if model == name and v not in states:
                states[v] = ("END", message)
        if not states:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {name}",
                               code="no_version_loaded")
        if version is not None:
            if version not in states:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {name}; "
                                                              f"versions: {sorted(states) or 'none'}",
                                   code="unknown_version")
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
