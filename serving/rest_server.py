"""The development server's REST API: TF Serving's routes (predict, status, metadata) on an HTTP/1.1 server with
keep-alive. Every answer is JSON; errors are `{"error": "..."}`.

Slow or stalled clients cannot starve others:
- each connection has its own thread, up to `max_connections`; one more is answered 503 at once;
- a request (line, headers, body) must arrive within `read_timeout` seconds of its first byte, however slowly it
  trickles in (408, then the connection is closed); a connection waiting for a request (new, or kept alive after
  one) is closed after `idle_timeout` seconds; writing an answer is also bounded by `read_timeout`;
- a body over the request byte budget is refused from its Content-Length (after reading it away, so the client
  sees the answer), before it is stored;
- the work of a predict request (parsing the JSON, running the model, writing the JSON answer) runs on a worker
  slot of a WorkLimiter: when all workers are busy and the queue is full, 503 at once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.server
import io
import json
import logging
import queue
import re
import select
import socket
import sys
import threading
import time
from typing import Optional

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from .admission import WorkLimiter
from .common import DEFAULT_SIGNATURE, SERVER_LOGGER, SIGNATURE_DEF_FIELD
from .errors import ServingError
from .errors import invalid_argument as _invalid
from .grpc_service import metadata_response
from .predictor import Predictor
from .rest_codec import json_type, parse_predict_json, predict_response_json, short

log = logging.getLogger(SERVER_LOGGER)

DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 5.0
DEFAULT_MAX_CONNECTIONS = 64
# Bytes read and thrown away at most, per refused oversized body, so that the client sees the answer.
_DISCARD_CHUNK = 1 << 20


def _message_json(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True, including_default_value_fields=True)


_URL_RE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                     r"(?P<verb>:[a-z]+|/metadata)?/?$")


class _BodyTimeout(TimeoutError):
    """A request body that did not arrive within the read timeout."""


class _DeadlineReader(io.RawIOBase):
    """A socket's input with one deadline for everything read until it is moved (not a timeout per recv, which a
    client sending one byte at a time would never hit). `deadline` is a time.monotonic() value; past it, reads
    raise TimeoutError."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.deadline = time.monotonic()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("read deadline passed")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _SocketWriter(io.BufferedIOBase):
    """Unbuffered socket output (each write is one sendall, bounded by the socket's timeout)."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


class RestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST routes on one connection (HTTP/1.1 keep-alive); every answer is JSON, errors are
    `{"error": "..."}` and close the connection."""

    server_version = "i2i-dev-server"
    protocol_version = "HTTP/1.1"
    # Set on the subclass made per server.
    predictor: Predictor
    limiter: Optional[WorkLimiter] = None
    read_timeout: float = DEFAULT_READ_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT

    def setup(self):
        self.connection = self.request
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader, 65536)
        self.wfile = _SocketWriter(self.connection)

    def handle(self):
        self.close_connection = False
        while not self.close_connection:
            self._reader.deadline = time.monotonic() + self.idle_timeout
            try:
                if not self.rfile.peek(1):
                    return  # the client closed the connection
            except OSError:  # idle for too long (TimeoutError), or reset: close without an answer
                return
            self._reader.deadline = time.monotonic() + self.read_timeout
            self._answering = False
            try:
                self.handle_one_request()
            except TimeoutError:
                if not self._answering:  # reading the request timed out (else writing the answer did)
                    self._request_timed_out()
                return

    def handle_one_request(self):
        """http.server's, except that a timeout propagates (to be answered 408) and errors are JSON."""
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.0"
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():  # it has answered
            return
        method = getattr(self, "do_" + self.command, None)
        if method is None:
            self.send_error(501, f"Unsupported method ({self.command!r})")
            return
        method()

    def do_GET(self):  # noqa: N802 - http.server method name
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802 - http.server method name
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        try:
            status, reply = self._route(method, self._read_body())
        except ServingError as err:
            status, reply = err.http_status, json.dumps({"error": err.message}).encode()
        except _BodyTimeout:  # the body did not arrive in time: answered 408 by handle()
            raise
        except Exception as err:  # noqa: BLE001 - a bug must not take the server down; report it as TF Serving would
            log.exception("REST request %s %s failed", method, self.path)
            status, reply = 500, json.dumps({"error": f"internal error: {type(err).__name__}: {err}"}).encode()
        # Written outside the handlers above: a client that stops reading is a timeout, not a server error.
        self._reply(status, reply, (("Retry-After", "1"),) if status == 503 else ())

    def _route(self, method: str, body: bytes) -> tuple:
        """(HTTP status, JSON body) of a request whose body has been read."""
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
            return 200, json.dumps(_message_json(manager.status(name, version)), indent=1).encode()
        if verb == "/metadata":
            servable = manager.get(name, version, label)
            metadata = metadata_response(servable)
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            metadata.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
            reply = {"model_spec": _message_json(metadata.model_spec),
                     "metadata": {SIGNATURE_DEF_FIELD: _message_json(signature_map)}}
            return 200, json.dumps(reply, indent=1).encode()
        return 200, self._predict(name, version, label, body)

    def _read_body(self) -> bytes:
        """The request's body, read within the request's deadline (else _BodyTimeout, answered 408). A body over
        the byte budget is read away unstored (so that the client, still sending, sees the answer) and refused."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # the body's framing is unknown from here on
            raise _invalid("the request needs a Content-Length header (chunked bodies are not supported)",
                           code="no_content_length")
        length = self.headers.get("Content-Length")
        if length is None and self.command != "POST":
            return b""
        if length is None or not length.isascii() or not length.isdigit():
            self.close_connection = True
            raise _invalid("the request needs a Content-Length header (chunked bodies are not supported)",
                           code="no_content_length")
        size, limit = int(length), self.predictor.max_request_bytes
        if size > limit:
            self.close_connection = True
            self._discard(size)
            raise _invalid(f"the request body is {size} bytes, over this server's limit of {limit} bytes per "
                           f"request (--max_request_bytes)", code="request_too_large")
        try:
            body = self.rfile.read(size)
        except TimeoutError:
            raise _BodyTimeout() from None
        if len(body) < size:
            self.close_connection = True
            raise _invalid(f"the request body ended after {len(body)} of the {size} bytes its Content-Length "
                           f"announced", code="truncated_body")
        return body

    def _discard(self, size: int) -> None:
        with contextlib.suppress(OSError):  # a timeout or a reset ends it: the answer is still tried
            while size > 0:
                chunk = self.rfile.read(min(size, _DISCARD_CHUNK))
                if not chunk:
                    return
                size -= len(chunk)

    def _predict(self, name: str, version: Optional[int], label: Optional[str], raw: bytes) -> bytes:
        with self.limiter.slot() if self.limiter is not None else contextlib.nullcontext():
            try:
                doc = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as err:
                raise _invalid(f"JSON Parse error: {err}", code="bad_json") from None
            servable = self.predictor.manager.get(name, version, label)
            if not isinstance(doc, dict):
                raise _invalid(f"the request body must be a JSON object; received a JSON {json_type(doc)}")
            signature_name = doc.get("signature_name", DEFAULT_SIGNATURE)
            if not isinstance(signature_name, str):
                raise _invalid(f"'signature_name' must be a string; received "
                               f"{short(json.dumps(signature_name), 60)}")
            signature_name = signature_name or DEFAULT_SIGNATURE  # empty means the default, as in TF Serving
            signature_def = self.predictor.signature(servable, signature_name, rest=True)
            inputs, form = parse_predict_json(doc, signature_def, signature_name)
            del doc
            outputs = self.predictor.run(servable, signature_name, inputs)
            return predict_response_json(outputs, form)

    def _request_timed_out(self) -> None:
        self.close_connection = True
        body = json.dumps({"error": f"the request did not arrive within {self.read_timeout:g} s of its first byte "
                                    f"(--rest_read_timeout_seconds); closing the connection"}).encode()
        with contextlib.suppress(OSError):
            self._reply(408, body, write_timeout=1.0)

    def send_error(self, code, message=None, explain=None):
        """http.server's error answers (bad request line or headers, unsupported method), as JSON."""
        if self.request_version in ("", "HTTP/0.9"):  # answer with a status line all the same
            self.request_version = "HTTP/1.0"
        text = message or self.responses.get(code, ("error",))[0]
        self.log_error("code %d, message %s", code, text)
        self._reply(code, json.dumps({"error": text}).encode())

    def _reply(self, status: int, body: bytes, headers: tuple = (), write_timeout: Optional[float] = None) -> None:
        """Writes an answer within the write timeout (`read_timeout` unless given); an error answer closes the
        connection."""
        self._answering = True
        self.connection.settimeout(self.read_timeout if write_timeout is None else write_timeout)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        if status >= 400 or self.close_connection:
            self.send_header("Connection", "close")  # also sets close_connection
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        log.debug("REST %s - %s", self.address_string(), format % args)


class PooledHTTPServer(http.server.HTTPServer):
    """An HTTP server with one thread per connection, up to `max_connections` (a fixed pool: ThreadingHTTPServer
    starts threads without a bound); a connection over the limit is answered 503 at once by a helper thread."""

    request_queue_size = 128  # the listen backlog: bursts of connections wait for accept() instead of a SYN retry

    def __init__(self, address: tuple, handler, max_connections: int = DEFAULT_MAX_CONNECTIONS):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._active = set()
        self._closing = False
        self._pool = concurrent.futures.ThreadPoolExecutor(max_connections, thread_name_prefix="rest")
        self._refusals = queue.Queue(maxsize=64)
        self._refuser = threading.Thread(target=self._refuse_loop, name="rest-refuse", daemon=True)
        self._refuser.start()

    @property
    def connections(self) -> int:
        """Connections being served now."""
        return len(self._active)

    def process_request(self, request, client_address):
        with self._lock:
            accepted = not self._closing and len(self._active) < self.max_connections
            if accepted:
                self._active.add(request)
        if accepted:
            self._pool.submit(self._handle, request, client_address)  # never waits: a thread per slot
            return
        try:
            self._refusals.put_nowait(request)
        except queue.Full:  # a flood of connections: no answer for these
            self.shutdown_request(request)

    def _handle(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's own policy: report and go on
            self.handle_error(request, client_address)
        finally:
            with self._lock:
                self._active.discard(request)
            self.shutdown_request(request)

    def _refuse_loop(self) -> None:
        body = json.dumps({"error": f"server overloaded: all {self.max_connections} REST connections are in use "
                                    f"(--rest_max_connections); retry later"}).encode()
        answer = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                  b"Retry-After: 1\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        while True:
            try:
                sock = self._refusals.get(timeout=0.2)
            except queue.Empty:
                if self._closing:
                    return
                continue
            if self._closing:  # stopping: no answers any more
                self.shutdown_request(sock)
                continue
            try:
                # Read what the client has sent (waiting briefly for its request), so that closing the socket
                # does not reset the connection before the client has read the answer.
                select.select([sock], [], [], 0.1)
                sock.setblocking(False)
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    for _ in range(16):
                        if not sock.recv(65536):
                            break
                sock.send(answer)
            except OSError:
                pass
            finally:
                self.shutdown_request(sock)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], OSError):  # the client went away, or timed out reading the answer
            log.debug("REST connection from %s ended: %s", client_address, sys.exc_info()[1])
        else:
            log.exception("REST connection from %s failed", client_address)

    def server_close(self):
        """Closes the listening socket, ends reading on every connection (a connection waiting for a request, or
        for the rest of one, ends now; an answer being computed is still written) and waits for the threads."""
        super().server_close()
        with self._lock:
            self._closing = True
            active = list(self._active)
        for sock in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)
        self._refuser.join(timeout=5)
        while not self._refusals.empty():
            self.shutdown_request(self._refusals.get_nowait())
        self._pool.shutdown(wait=True)
