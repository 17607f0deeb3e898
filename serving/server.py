"""The development server itself: `start_server` loads the models and starts the gRPC (and REST) server; the
returned `DevServer` polls for new versions and stops cleanly."""

from __future__ import annotations

import concurrent.futures
import logging
import math
import threading
from typing import Mapping, Optional

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from .admission import WorkLimiter
from .common import GRPC_MESSAGE_OPTIONS, SERVER_LOGGER
from .errors import BindError, ConfigError
from .grpc_service import ModelServicer, PredictionServicer
from .model_config import model_configs
from .model_manager import ModelManager
from .predictor import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_REQUEST_BYTES, Predictor
from .rest_server import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT, PooledHTTPServer, \
    RestHandler

log = logging.getLogger(SERVER_LOGGER)

DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_QUEUED_REQUESTS = 16
# gRPC threads beyond the Predict workers and queue: cheap calls (metadata, status) and refusals never wait for the
# model. Past workers + queue + these, gRPC itself answers RESOURCE_EXHAUSTED ("Concurrent RPC limit exceeded").
GRPC_EXTRA_THREADS = 4


class DevServer:
    """A running development server; `stop()` shuts it down (also on leaving a `with` block).

    Attributes:
        grpc_port: the bound gRPC port.
        rest_port: the bound REST port, or None when REST is off.
        host: the address both listen on.
        manager: the ModelManager (loaded versions, status).
        predictor: the Predictor (request checks and limits, running signatures).
        grpc_limiter, rest_limiter: the WorkLimiters of gRPC Predict and REST predict requests (`running`,
            `waiting`); rest_limiter is None when REST is off.
    """

    def __init__(self, manager: ModelManager, grpc_server, grpc_executor, grpc_port: int, http_server,
                 rest_port: Optional[int], host: str, poll_seconds: float, predictor: Optional[Predictor] = None,
                 grpc_limiter: Optional[WorkLimiter] = None, rest_limiter: Optional[WorkLimiter] = None):
        self.manager = manager
        self.predictor = predictor
        self.grpc_limiter = grpc_limiter
        self.rest_limiter = rest_limiter
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

    @property
    def rest_connections(self) -> int:
        """REST connections being served now (0 when REST is off)."""
        return self._http_server.connections if self._http_server is not None else 0

    def wait(self) -> None:
        """Blocks until the server has stopped (`stop()` called from another thread or a signal handler)."""
        while not self._done.wait(0.5):
            pass

    def __enter__(self) -> "DevServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _check_count(label: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ConfigError(f"{label} must be {kind}; received {label}={value!r}", code="bad_argument")


def _check_seconds(label: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{label} must be a positive number of seconds; received {label}={value!r}",
                          code="bad_argument")


def start_server(model_base_path: Optional[str] = None, model_name: str = "i2i", grpc_port: int = 0,
                 rest_port: Optional[int] = 0, max_pixels: int = DEFAULT_MAX_PIXELS, host: str = "127.0.0.1", *,
                 models: Optional[Mapping[str, str]] = None, model_config_file: Optional[str] = None,
                 poll_seconds: float = 1.0, max_workers: int = 8, rest_workers: Optional[int] = None,
                 max_queued_requests: int = DEFAULT_MAX_QUEUED_REQUESTS,
                 max_batch_size: int = DEFAULT_MAX_BATCH_SIZE, max_request_pixels: Optional[int] = None,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 rest_read_timeout: float = DEFAULT_READ_TIMEOUT, rest_idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 rest_max_connections: int = DEFAULT_MAX_CONNECTIONS) -> DevServer:
    """Loads the models and starts the gRPC (and REST) server; returns once both accept requests.

    Give exactly one of `model_base_path` (served as `model_name`), `models` (name -> base path) or
    `model_config_file` (TF Serving's model config text format). Port 0 picks a free port (see the returned
    server's `grpc_port` / `rest_port`); `rest_port=None` turns REST off. `poll_seconds <= 0` turns off the polling
    for new versions.

    Overload: at most `max_workers` gRPC Predict calls and `rest_workers` (default: as many) REST predict requests
    run at once, and at most `max_queued_requests` more of each wait for a worker; any further one is answered
    RESOURCE_EXHAUSTED (REST: 503) at once. REST serves up to `rest_max_connections` connections (one more: 503);
    a request must arrive within `rest_read_timeout` seconds of its first byte (408) and an idle connection is
    closed after `rest_idle_timeout` seconds.

    Limits per request, checked from declared shapes and image headers before any array is made (INVALID_ARGUMENT,
    REST 400): `max_pixels` per image, `max_request_pixels` for all images together (default: the larger of
    DEFAULT_MAX_REQUEST_PIXELS and `max_pixels`), `max_batch_size` (first dimension of batched inputs) and
    `max_request_bytes` (the inputs as arrays; also a REST body).

    Raises:
        ConfigError (a ValueError; ConfigFileNotFoundError, also a FileNotFoundError, for a missing config file):
            bad arguments, an unreadable config, or a model with no loadable version.
        BindError (an OSError): a port cannot be bound.
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ConfigError(f"max_pixels must be a positive integer; received max_pixels={max_pixels!r}",
                          code="bad_argument")
    rest_workers = max_workers if rest_workers is None else rest_workers
    for label, count in (("max_workers", max_workers), ("rest_workers", rest_workers),
                         ("max_batch_size", max_batch_size), ("max_request_bytes", max_request_bytes),
                         ("rest_max_connections", rest_max_connections)):
        _check_count(label, count)
    _check_count("max_queued_requests", max_queued_requests, minimum=0)
    if max_request_pixels is not None:
        _check_count("max_request_pixels", max_request_pixels)
    _check_seconds("rest_read_timeout", rest_read_timeout)
    _check_seconds("rest_idle_timeout", rest_idle_timeout)
    for label, port in (("grpc_port", grpc_port), ("rest_port", rest_port)):
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
            raise ConfigError(f"{label} must be an integer in [0, 65535]; received {label}={port!r}",
                              code="bad_argument")
    manager = ModelManager(model_configs(model_base_path, model_name, models, model_config_file))
    manager.refresh()
    manager.check_loaded()
    predictor = Predictor(manager, max_pixels, max_request_pixels=max_request_pixels, max_batch_size=max_batch_size,
                          max_request_bytes=max_request_bytes)

    grpc_limiter = WorkLimiter(max_workers, max_queued_requests, "gRPC", "grpc_max_threads")
    # Every admitted call gets a thread at once (so nothing waits in the executor's unbounded queue): the Predict
    # workers, the Predict queue (waiting in WorkLimiter) and a few threads for everything else.
    grpc_threads = max_workers + max_queued_requests + GRPC_EXTRA_THREADS
    grpc_executor = concurrent.futures.ThreadPoolExecutor(grpc_threads, thread_name_prefix="grpc")
    grpc_server = grpc.server(
        grpc_executor, maximum_concurrent_rpcs=grpc_threads,
        # so_reuseport=0: a port already in use is an error here, not a second server sharing it.
        options=[*GRPC_MESSAGE_OPTIONS, ("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(predictor, grpc_limiter), grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), grpc_server)
    address = f"[{host}]:{grpc_port}" if ":" in host else f"{host}:{grpc_port}"
    try:
        bound_grpc = grpc_server.add_insecure_port(address)
    except RuntimeError as err:
        raise BindError(f"cannot bind the gRPC port {address}: {err}") from None
    if not bound_grpc:
        raise BindError(f"cannot bind the gRPC port {address} (in use, or not an address of this machine)")

    http_server, bound_rest, rest_limiter = None, None, None
    if rest_port is not None:
        rest_limiter = WorkLimiter(rest_workers, max_queued_requests, "REST", "rest_api_num_threads")
        handler = type("RestHandler", (RestHandler,), {
            "predictor": predictor, "limiter": rest_limiter, "read_timeout": float(rest_read_timeout),
            "idle_timeout": float(rest_idle_timeout)})
        try:
            http_server = PooledHTTPServer((host, rest_port), handler, rest_max_connections)
        except OSError as err:
            grpc_server.stop(None)
            raise BindError(f"cannot bind the REST port {host}:{rest_port}: {err.strerror or err}") from None
        bound_rest = http_server.server_address[1]
    grpc_server.start()
    server = DevServer(manager, grpc_server, grpc_executor, bound_grpc, http_server, bound_rest, host, poll_seconds,
                       predictor, grpc_limiter, rest_limiter)
    for name in manager.model_names:
        log.info("serving model %s versions %s", name, manager.versions(name))
    return server
