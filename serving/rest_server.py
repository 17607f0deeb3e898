"""The development server's REST API: TF Serving's routes (predict, status, metadata) on an HTTP server that
handles requests on a fixed thread pool. Every answer is JSON; errors are `{"error": "..."}`."""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import logging
import re
import socket
from typing import Optional

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from .common import DEFAULT_SIGNATURE, MAX_MESSAGE_BYTES, SERVER_LOGGER, SIGNATURE_DEF_FIELD
from .errors import ServingError
from .errors import invalid_argument as _invalid
from .grpc_service import metadata_response
from .predictor import Predictor
from .rest_codec import json_type, parse_predict_json, predict_response_json, short

log = logging.getLogger(SERVER_LOGGER)


def _message_json(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True, including_default_value_fields=True)


_URL_RE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                     r"(?P<verb>:[a-z]+|/metadata)?/?$")


class RestHandler(http.server.BaseHTTPRequestHandler):
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
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Malformed request: {method} {self.path}",
                                   code="unknown_route")
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
                metadata = metadata_response(servable)
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
            raise _invalid("the request needs a Content-Length header (chunked bodies are not supported)",
                           code="no_content_length")
        if int(length) > MAX_MESSAGE_BYTES:
            raise _invalid(f"the request body is {length} bytes, over this server's limit of {MAX_MESSAGE_BYTES}",
                           code="request_too_large")
        raw = self.rfile.read(int(length))
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise _invalid(f"JSON Parse error: {err}", code="bad_json") from None
        servable = self.predictor.manager.get(name, version, label)
        if not isinstance(doc, dict):
            raise _invalid(f"the request body must be a JSON object; received a JSON {json_type(doc)}")
        signature_name = doc.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(signature_name, str):
            raise _invalid(f"'signature_name' must be a string; received {short(json.dumps(signature_name), 60)}")
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


class PooledHTTPServer(http.server.HTTPServer):
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
