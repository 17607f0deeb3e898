"""The development server under abuse: stalled and slow REST clients (read and idle timeouts, a connection limit),
a full worker pool (RESOURCE_EXHAUSTED / HTTP 503 at once) and per-request budgets (batch size, pixels, bytes)
checked from declared shapes and image headers before any tensor is made. Every network call goes to 127.0.0.1 and
has a timeout; every wait is bounded."""

import base64
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("tensorflow_serving", reason="the serving tests need tensorflow-serving-api (the [serving] extra)")

import grpc  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.framework import tensor_pb2, types_pb2  # noqa: E402
from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc  # noqa: E402

from serving import dev_server, grpc_service  # noqa: E402
from serving.errors import ConfigError  # noqa: E402
from serving.predictor import Predictor  # noqa: E402
from tests.serving.tiny_models import decode, grpc_request, inverted, png, png_header, read_until_closed, save_invert_model  # noqa: E402,E501

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_invert_model(str(tmp_path_factory.mktemp("tiny") / "invert"))


@pytest.fixture
def make_server(base):
    """start_server(**kwargs) for the tiny model (served as `m` unless `models` is given), stopped after the test."""
    started = []

    def make(**kwargs):
        if "models" not in kwargs:
            kwargs.update(model_base_path=base, model_name="m")
        kwargs.setdefault("poll_seconds", 0)
        srv = dev_server.start_server(**kwargs)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def _wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def b64(data):
    return {"b64": base64.b64encode(data).decode()}


def rest(srv, path, body=None, timeout=5.0):
    """(HTTP status, headers, body bytes) of a GET (no body) or POST."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{srv.rest_port}{path}", data=data,
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def rest_good(srv, data, model="m", timeout=5.0):
    """A good REST predict; asserts its answer is the inverted image."""
    status, _, raw = rest(srv, f"/v1/models/{model}:predict", {"instances": [b64(data)]}, timeout)
    assert status == 200, raw
    out = json.loads(raw.decode("latin-1"))["predictions"][0].encode("latin-1")
    np.testing.assert_array_equal(decode(out), inverted(data))


def declared_float(shape):
    """A float TensorProto declaring `shape` with a single value (TF broadcasts it): a few dozen bytes that would
    become prod(shape) * 4 bytes."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.0])
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


@pytest.fixture
def channel_for():
    channels = []

    def make(srv):
        channel = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}")
        channels.append(channel)
        return prediction_service_pb2_grpc.PredictionServiceStub(channel)

    yield make
    for channel in channels:
        channel.close()


def grpc_good(stub, data, model="m", timeout=5.0):
    response = stub.Predict(grpc_request(model, images=tf.make_tensor_proto([data])), timeout=timeout)
    np.testing.assert_array_equal(decode(tf.make_ndarray(response.outputs["images"])[0]), inverted(data))


def grpc_error(stub, request, timeout=5.0):
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=timeout)
    return info.value.code(), info.value.details()


def connect(srv, timeout=5.0):
    sock = socket.create_connection(("127.0.0.1", srv.rest_port), timeout=timeout)
    return sock


def partial_body(srv, model="m"):
    """A connection that sent a predict request's headers and 10 of its 100 body bytes, then stalls."""
    sock = connect(srv)
    sock.sendall(f"POST /v1/models/{model}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode()
                 + b'{"instance')
    return sock


def parse_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def close_all(socks):
    for sock in socks:
        try:
            sock.close()
        except OSError:
            pass


GOOD = png(12, 10, seed=1)


# ----------------------------------------------------------------------------------------------- slow REST clients


def test_stalled_rest_clients_do_not_block_other_requests(make_server):
    """More partial-body connections than REST threads: before, every REST thread waited on a body forever and
    every later request hung; now a good request is answered at once."""
    srv = make_server(rest_workers=2)
    stalled = [partial_body(srv) for _ in range(4)]
    try:
        time.sleep(0.3)  # let the server take them up
        start = time.monotonic()
        rest_good(srv, GOOD, timeout=5)
        assert time.monotonic() - start < 5
    finally:
        close_all(stalled)


def test_stalled_and_trickling_rest_clients_are_dropped_after_the_read_timeout(make_server):
    srv = make_server(rest_read_timeout=1.0, rest_idle_timeout=1.0)
    socks = []
    try:
        # A body that stops arriving: 408 with a JSON error naming the flag, then the connection is closed.
        sock = partial_body(srv)
        socks.append(sock)
        start = time.monotonic()
        raw = read_until_closed(sock, seconds=6)
        assert raw is not None, "the stalled connection was never closed"
        assert 0.8 < time.monotonic() - start < 4
        status, headers, body = parse_response(raw)
        assert status == 408 and headers["connection"] == "close"
        error = json.loads(body)["error"]
        assert "1 s" in error and "--rest_read_timeout_seconds" in error

        # A client trickling its request one byte every 0.2 s: each read is quick, but the request as a whole
        # must arrive within the read timeout.
        sock = connect(srv)
        socks.append(sock)
        sock.settimeout(0.2)
        request = b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        start, answer = time.monotonic(), b""
        for byte in request[:-1]:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            try:
                answer = sock.recv(65536)
            except socket.timeout:
                continue
            break
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert time.monotonic() - start < 4

        # A connection that sends nothing is closed after the idle timeout, without an answer.
        sock = connect(srv)
        socks.append(sock)
        start = time.monotonic()
        assert read_until_closed(sock, seconds=6) == b""
        assert 0.8 < time.monotonic() - start < 4

        # Keep-alive: two requests on one connection, then the idle timeout closes it.
        sock = connect(srv)
        socks.append(sock)
        for _ in range(2):
            sock.sendall(b"GET /v1/models/m HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.settimeout(5)
            raw = b""
            while b"\r\n\r\n" not in raw:
                raw += sock.recv(65536)
            status, headers, body = parse_response(raw)
            while len(body) < int(headers["content-length"]):
                body += sock.recv(65536)
            assert status == 200 and "connection" not in headers
            assert json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"
        assert read_until_closed(sock, seconds=6) == b""
        rest_good(srv, GOOD)
        assert _wait_for(lambda: srv.rest_connections == 0)
    finally:
        close_all(socks)


def test_connection_limit_answers_503_at_once(make_server):
    srv = make_server(rest_max_connections=2, rest_idle_timeout=10.0)
    socks = [connect(srv), connect(srv)]
    try:
        assert _wait_for(lambda: srv.rest_connections == 2)
        start = time.monotonic()
        status, headers, raw = rest(srv, "/v1/models/m")
        assert time.monotonic() - start < 2
        assert status == 503 and headers["Retry-After"] == "1"
        error = json.loads(raw)["error"]
        assert "2 REST connections" in error and "--rest_max_connections" in error
    finally:
        close_all(socks)
    assert _wait_for(lambda: srv.rest_connections == 0)
    rest_good(srv, GOOD)


def test_stop_does_not_wait_for_stalled_clients(make_server):
    srv = make_server()
    sock = partial_body(srv)
    try:
        time.sleep(0.3)
        stopper = threading.Thread(target=srv.stop, daemon=True)
        stopper.start()
        stopper.join(5)
        assert not stopper.is_alive(), "stop() waited for a stalled client"
    finally:
        sock.close()


# ----------------------------------------------------------------------------------------------- worker pool


def test_full_worker_pool_answers_resource_exhausted_and_503_at_once(make_server, channel_for, base, monkeypatch):
    gate, entered = threading.Event(), threading.Semaphore(0)
    original = Predictor.run

    def gated(self, servable, *args, **kwargs):
        if servable.name == "slow":
            entered.release()
            gate.wait(20)
        return original(self, servable, *args, **kwargs)

    monkeypatch.setattr(Predictor, "run", gated)
    srv = make_server(models={"slow": base, "fast": base}, max_workers=1, rest_workers=1, max_queued_requests=1)
    stub = channel_for(srv)
    results = {}

    def call(key, fn):
        try:
            fn()
            results[key] = "ok"
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            results[key] = repr(err)

    threads = []

    def start(key, fn):
        thread = threading.Thread(target=call, args=(key, fn), daemon=True)
        thread.start()
        threads.append(thread)

    try:
        # gRPC: one request runs (held at the gate), one waits in the queue; the next is refused at once.
        start("grpc_running", lambda: grpc_good(stub, GOOD, "slow", timeout=20))
        assert entered.acquire(timeout=5)
        start("grpc_queued", lambda: grpc_good(stub, GOOD, "slow", timeout=20))
        assert _wait_for(lambda: srv.grpc_limiter.waiting == 1)
        started = time.monotonic()
        code, details = grpc_error(stub, grpc_request("fast", images=tf.make_tensor_proto([GOOD])))
        assert time.monotonic() - started < 2
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, details
        assert "1 gRPC worker" in details and "1 request" in details and "--max_queued_requests" in details
        # Cheap calls are not queued behind the model.
        metadata = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        metadata.model_spec.name = "fast"
        assert stub.GetModelMetadata(metadata, timeout=5).model_spec.name == "fast"
        # REST has its own pool: still free.
        rest_good(srv, GOOD, "fast")

        start("rest_running", lambda: rest_good(srv, GOOD, "slow", timeout=20))
        assert entered.acquire(timeout=5)
        start("rest_queued", lambda: rest_good(srv, GOOD, "slow", timeout=20))
        assert _wait_for(lambda: srv.rest_limiter.waiting == 1)
        started = time.monotonic()
        status, headers, raw = rest(srv, "/v1/models/fast:predict", {"instances": [b64(GOOD)]})
        assert time.monotonic() - started < 2
        assert status == 503 and headers["Retry-After"] == "1", raw
        error = json.loads(raw)["error"]
        assert "1 REST worker" in error and "--max_queued_requests" in error
        assert rest(srv, "/v1/models/fast")[0] == 200  # status is not queued either
    finally:
        gate.set()
        for thread in threads:
            thread.join(20)
    assert results == {"grpc_running": "ok", "grpc_queued": "ok", "rest_running": "ok", "rest_queued": "ok"}
    grpc_good(stub, GOOD, "fast")
    rest_good(srv, GOOD, "fast")
    assert (srv.grpc_limiter.running, srv.grpc_limiter.waiting) == (0, 0)
    assert (srv.rest_limiter.running, srv.rest_limiter.waiting) == (0, 0)


# ----------------------------------------------------------------------------------------------- request budgets


def test_batch_over_the_default_limit_is_refused(make_server, channel_for):
    srv = make_server()
    stub = channel_for(srv)
    small = png(2, 2)
    code, details = grpc_error(stub, grpc_request(images=tf.make_tensor_proto([small] * 100)))
    assert code == INVALID, details
    assert "batch of 100" in details and "limit of 64" in details and "--max_batch_size" in details
    status, _, raw = rest(srv, "/v1/models/m:predict", {"instances": [b64(small)] * 100})
    assert status == 400 and "batch of 100" in json.loads(raw)["error"]
    status, _, raw = rest(srv, "/v1/models/m:predict", {"signature_name": "invert",
                                                        "inputs": np.zeros((65, 1, 1, 3)).tolist()})
    assert status == 400 and "batch of 65" in json.loads(raw)["error"]
    # At the limit: answered.
    response = stub.Predict(grpc_request(images=tf.make_tensor_proto([small] * 64)), timeout=30)
    assert tf.make_ndarray(response.outputs["images"]).shape == (64,)


def test_oversized_declarations_are_refused_before_any_tensor_is_made(make_server, channel_for, monkeypatch):
    """A 58-byte float request declaring [64, 4096, 4096, 3] would take 13 GB once made into an array: it is
    refused from its declared shape, and no TensorProto is turned into an array."""
    made = []

    def refuse_to_make(key, proto):
        made.append(key)
        raise RuntimeError("a tensor was made from an oversized request")

    monkeypatch.setattr(grpc_service, "_tensor_to_array", refuse_to_make)
    srv = make_server()
    stub = channel_for(srv)
    request = grpc_request(signature="invert", images=declared_float([64, 4096, 4096, 3]))
    assert request.ByteSize() < 100
    code, details = grpc_error(stub, request)
    assert code == INVALID, details
    assert "1073741824 pixels" in details and "limit of 16777216" in details and "--max_request_pixels" in details
    code, details = grpc_error(stub, grpc_request(signature="invert", images=declared_float([65, 1, 1, 3])))
    assert code == INVALID and "--max_batch_size" in details
    # Negative sizes are malformed, not a budget.
    code, details = grpc_error(stub, grpc_request(signature="invert", images=declared_float([1, -8, 8, 3])))
    assert code == INVALID and "malformed TensorProto" in details
    assert made == []

    # Encoded images: sizes come from their headers (64 headers declaring 4096 x 4096, a few KB in all).
    headers = [b64(png_header(4096, 4096))] * 64
    status, _, raw = rest(srv, "/v1/models/m:predict", {"inputs": headers})
    error = json.loads(raw)["error"]
    assert status == 400 and "1073741824 pixels" in error and "--max_request_pixels" in error, error


def test_request_pixel_and_byte_budgets_are_configurable(make_server, channel_for):
    srv = make_server(max_request_pixels=1_000_000, max_request_bytes=20_000, max_batch_size=8)
    stub = channel_for(srv)
    code, details = grpc_error(stub, grpc_request(signature="invert", images=declared_float([2, 1024, 1024, 3])))
    assert code == INVALID and "2097152 pixels" in details and "limit of 1000000" in details
    # Bytes: a float tensor of 30000 bytes, encoded images of more than 20000 bytes, a body of 25000 bytes.
    code, details = grpc_error(stub, grpc_request(signature="invert", images=np.zeros((1, 50, 50, 3), np.float32)))
    assert code == INVALID and "30000 bytes" in details and "limit of 20000" in details, details
    assert "--max_request_bytes" in details
    images = [png(40, 40, seed=i) for i in range(5)]
    code, details = grpc_error(stub, grpc_request(images=tf.make_tensor_proto(images)))
    assert code == INVALID and f"{sum(map(len, images))} bytes" in details, details
    status, _, raw = rest(srv, "/v1/models/m:predict", b"x" * 25_000)
    error = json.loads(raw)["error"]
    assert status == 400 and "25000 bytes" in error and "limit of 20000" in error and "--max_request_bytes" in error
    # A REST body under the limit whose numbers take more as float32 (24300 bytes).
    body = json.dumps({"signature_name": "invert", "inputs": np.zeros((1, 45, 45, 3), int).tolist()},
                      separators=(",", ":")).encode()
    assert len(body) < 20_000
    status, _, raw = rest(srv, "/v1/models/m:predict", body)
    assert status == 400 and "24300 bytes" in json.loads(raw)["error"]
    code, details = grpc_error(stub, grpc_request(images=tf.make_tensor_proto([png(2, 2)] * 9)))
    assert code == INVALID and "batch of 9" in details and "limit of 8" in details
    # Within every budget: answered.
    grpc_good(stub, GOOD)
    rest_good(srv, GOOD)


def test_new_flags_and_their_defaults():
    args = dev_server.build_parser().parse_args(["--model_base_path", "x"])
    assert (args.max_batch_size, args.max_request_pixels, args.max_request_bytes) == (64, None, 64 * 1024 * 1024)
    assert (args.max_queued_requests, args.rest_max_connections) == (16, 64)
    assert (args.rest_read_timeout_seconds, args.rest_idle_timeout_seconds) == (10.0, 5.0)


@pytest.mark.parametrize("kwargs, name", [
    ({"max_batch_size": 0}, "max_batch_size"), ({"max_request_pixels": -1}, "max_request_pixels"),
    ({"max_request_bytes": 0}, "max_request_bytes"), ({"max_queued_requests": -1}, "max_queued_requests"),
    ({"rest_max_connections": 0}, "rest_max_connections"), ({"rest_read_timeout": 0}, "rest_read_timeout"),
    ({"rest_idle_timeout": float("nan")}, "rest_idle_timeout"),
])
def test_bad_limit_arguments_are_refused(base, kwargs, name):
    with pytest.raises(ConfigError) as info:
        dev_server.start_server(base, **kwargs)
    assert info.value.code == "bad_argument" and name in str(info.value)
