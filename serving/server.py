"""The development server itself: `start_server` loads the models and starts the gRPC (and REST) server; the
returned `DevServer` polls for new versions and stops cleanly."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import Mapping, Optional

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from .common import GRPC_MESSAGE_OPTIONS, SERVER_LOGGER
from .errors import BindError, ConfigError
from .grpc_service import ModelServicer, PredictionServicer
from .model_config import model_configs
from .model_manager import ModelManager
from .predictor import Predictor
from .rest_server import PooledHTTPServer, RestHandler

log = logging.getLogger(SERVER_LOGGER)

DEFAULT_MAX_PIXELS = 4096 * 4096


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
        ConfigError (a ValueError; ConfigFileNotFoundError, also a FileNotFoundError, for a missing config file):
            bad arguments, an unreadable config, or a model with no loadable version.
        BindError (an OSError): a port cannot be bound.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ConfigError(f"max_pixels must be a positive integer; received max_pixels={max_pixels!r}",
                          code="bad_argument")
    rest_workers = max_workers if rest_workers is None else rest_workers
    for label, count in (("max_workers", max_workers), ("rest_workers", rest_workers)):
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ConfigError(f"{label} must be a positive integer; received {label}={count!r}", code="bad_argument")
    for label, port in (("grpc_port", grpc_port), ("rest_port", rest_port)):
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
            raise ConfigError(f"{label} must be an integer in [0, 65535]; received {label}={port!r}",
                              code="bad_argument")
    manager = ModelManager(model_configs(model_base_path, model_name, models, model_config_file))
    manager.refresh()
    manager.check_loaded()
    predictor = Predictor(manager, max_pixels)

    grpc_executor = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="grpc")
    grpc_server = grpc.server(
        grpc_executor,
        # so_reuseport=0: a port already in use is an error here, not a second server sharing it.
        options=[*GRPC_MESSAGE_OPTIONS, ("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(predictor), grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), grpc_server)
    address = f"[{host}]:{grpc_port}" if ":" in host else f"{host}:{grpc_port}"
    try:
        bound_grpc = grpc_server.add_insecure_port(address)
    except RuntimeError as err:
        raise BindError(f"cannot bind the gRPC port {address}: {err}") from None
    if not bound_grpc:
        raise BindError(f"cannot bind the gRPC port {address} (in use, or not an address of this machine)")

    http_server, bound_rest = None, None
    if rest_port is not None:
        handler = type("RestHandler", (RestHandler,), {"predictor": predictor})
        try:
            http_server = PooledHTTPServer((host, rest_port), handler, rest_workers)
        except OSError as err:
            grpc_server.stop(None)
            raise BindError(f"cannot bind the REST port {host}:{rest_port}: {err.strerror or err}") from None
        bound_rest = http_server.server_address[1]
    grpc_server.start()
    server = DevServer(manager, grpc_server, grpc_executor, bound_grpc, http_server, bound_rest, host, poll_seconds)
    for name in manager.model_names:
        log.info("serving model %s versions %s", name, manager.versions(name))
    return server
