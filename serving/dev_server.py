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

Request budgets (also additions): `max_batch_size` (first dimension of batched inputs), `max_request_pixels` (all
images of a request together) and `max_request_bytes` (the inputs as arrays, and a REST body), checked from the
declared shapes and image headers before any array is made from a request (a 58-byte TensorProto may declare a
13 GB tensor) and answered INVALID_ARGUMENT (REST 400) naming the limit, its flag and the value received.

Concurrency and overload: at most `max_workers` gRPC Predict calls and `rest_workers` (by default as many) REST
predict requests run at once; at most `max_queued_requests` more of each wait for a worker, and any further one is
answered RESOURCE_EXHAUSTED (REST 503, `Retry-After: 1`) at once. Status and metadata calls do not wait for the
model. REST (HTTP/1.1 with keep-alive) serves each connection on its own thread, up to `rest_max_connections`
(one more: 503); a request must arrive within `rest_read_timeout` seconds of its first byte (408, connection
closed) and a connection waiting for a request is closed after `rest_idle_timeout` seconds, so stalled or slow
clients are dropped and never hold a model worker. SavedModel signature functions are safe to call from several
threads at once (each call runs the graph with its own inputs and the functions hold no per-call state;
tests/serving checks concurrent answers against locally computed ones), so no lock is held while the model runs.

Python API (used by the tests):
    server = start_server("RUN/export", model_name="i2i")            # ports 0: free ports are picked
    print(server.grpc_port, server.rest_port)
    server.stop()

This module is the entry point (the CLI) and re-exports the Python API; the pieces live in their own modules:
`image_headers` (image sizes from encoded headers), `model_config` (ModelConfig, model config files),
`model_manager` (loading and polling versions), `predictor` (input checks and request budgets, running a
signature), `admission` (the bounded worker pools), `grpc_service`
(the gRPC servicers), `rest_codec` (TF Serving's JSON in and out), `rest_server` (the REST routes and HTTP server),
`server` (start_server, DevServer), `errors` (the exception types) and `common` (what the client shares).

CLI (flag names follow tensorflow_model_server; `--rest_api_port 0`, its default, disables REST as in TF Serving;
start-up failures are one `error: ...` line and exit status 2):
    python -m serving.dev_server --model_base_path RUN/export --model_name i2i --port 8500 --rest_api_port 8501
    python -m serving.dev_server --model_config_file models.pbtxt --port 8500 --rest_api_port 8501 --max_pixels 4000000
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Optional

from .common import SERVER_LOGGER, module_command, quiet_tensorflow_startup

if __name__ == "__main__":
    quiet_tensorflow_startup()  # as a CLI, keep stderr to this server's own log
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The Python API, re-exported from the modules that hold it (tests and docs import these names from here).
from .common import DEFAULT_SIGNATURE, MAX_MESSAGE_BYTES, SIGNATURE_DEF_FIELD  # noqa: E402
from .errors import (  # noqa: E402
    BindError,
    ConfigError,
    ConfigFileNotFoundError,
    ImageHeaderError,
    ServingError,
    ServingToolError,
    run_cli,
)
from .image_headers import encoded_image_size  # noqa: E402
from .model_config import ModelConfig, read_model_config_file  # noqa: E402
from .model_manager import LOAD_RETRY_SECONDS, MAX_LOAD_ATTEMPTS, ModelManager, Servable, load_servable  # noqa: E402
from .predictor import (  # noqa: E402
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_REQUEST_PIXELS,
    Predictor,
)
from .rest_codec import parse_predict_json, predict_response_json  # noqa: E402
from .rest_server import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT  # noqa: E402
from .server import DEFAULT_MAX_PIXELS, DEFAULT_MAX_QUEUED_REQUESTS, DevServer, start_server  # noqa: E402

__all__ = [
    "DEFAULT_IDLE_TIMEOUT", "DEFAULT_MAX_BATCH_SIZE", "DEFAULT_MAX_CONNECTIONS", "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_QUEUED_REQUESTS", "DEFAULT_MAX_REQUEST_BYTES", "DEFAULT_MAX_REQUEST_PIXELS", "DEFAULT_READ_TIMEOUT",
    "DEFAULT_SIGNATURE", "LOAD_RETRY_SECONDS", "MAX_LOAD_ATTEMPTS", "MAX_MESSAGE_BYTES",
    "SIGNATURE_DEF_FIELD", "BindError", "ConfigError", "ConfigFileNotFoundError", "DevServer", "ImageHeaderError",
    "ModelConfig", "ModelManager", "Predictor", "Servable", "ServingError", "ServingToolError", "build_parser",
    "encoded_image_size", "load_servable", "main", "parse_predict_json", "predict_response_json",
    "read_model_config_file", "start_server",
]

log = logging.getLogger(SERVER_LOGGER)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=module_command("dev_server"),
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
                        help="gRPC Predict calls running the model at once (default 8)")
    parser.add_argument("--rest_api_num_threads", type=int, default=None,
                        help="REST predict requests running the model at once (default: --grpc_max_threads)")
    parser.add_argument("--max_queued_requests", type=int, default=DEFAULT_MAX_QUEUED_REQUESTS,
                        help=f"requests that may wait for a busy worker, per protocol; more are answered "
                             f"RESOURCE_EXHAUSTED / HTTP 503 at once (default {DEFAULT_MAX_QUEUED_REQUESTS})")
    parser.add_argument("--max_batch_size", type=int, default=DEFAULT_MAX_BATCH_SIZE,
                        help=f"largest batch (first dimension of batched inputs) per request "
                             f"(default {DEFAULT_MAX_BATCH_SIZE})")
    parser.add_argument("--max_request_pixels", type=int, default=None,
                        help=f"most pixels of all images of one request together (default "
                             f"{DEFAULT_MAX_REQUEST_PIXELS}, or --max_pixels if larger)")
    parser.add_argument("--max_request_bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES,
                        help=f"most bytes of one request's inputs as arrays, and of a REST body "
                             f"(default {DEFAULT_MAX_REQUEST_BYTES})")
    parser.add_argument("--rest_read_timeout_seconds", type=float, default=DEFAULT_READ_TIMEOUT,
                        help=f"time for a REST request to arrive, from its first byte, and for its answer to be "
                             f"written (default {DEFAULT_READ_TIMEOUT:g})")
    parser.add_argument("--rest_idle_timeout_seconds", type=float, default=DEFAULT_IDLE_TIMEOUT,
                        help=f"time a REST connection may wait for a request, new or kept alive "
                             f"(default {DEFAULT_IDLE_TIMEOUT:g})")
    parser.add_argument("--rest_max_connections", type=int, default=DEFAULT_MAX_CONNECTIONS,
                        help=f"REST connections served at once; more are answered 503 "
                             f"(default {DEFAULT_MAX_CONNECTIONS})")
    return parser


def main(argv: Optional[list] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_cli(lambda: _serve(args), parser.prog)


def _serve(args: argparse.Namespace) -> int:
    if (args.model_base_path is None) == (args.model_config_file is None):
        raise ConfigError("give exactly one of --model_base_path or --model_config_file", code="bad_argument")
    server = start_server(args.model_base_path, args.model_name, grpc_port=args.port,
                          rest_port=args.rest_api_port or None, max_pixels=args.max_pixels, host=args.host,
                          model_config_file=args.model_config_file, poll_seconds=args.file_system_poll_wait_seconds,
                          max_workers=args.grpc_max_threads, rest_workers=args.rest_api_num_threads,
                          max_queued_requests=args.max_queued_requests, max_batch_size=args.max_batch_size,
                          max_request_pixels=args.max_request_pixels, max_request_bytes=args.max_request_bytes,
                          rest_read_timeout=args.rest_read_timeout_seconds,
                          rest_idle_timeout=args.rest_idle_timeout_seconds,
                          rest_max_connections=args.rest_max_connections)
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
