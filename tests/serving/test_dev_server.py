"""The development server: TF Serving's gRPC and REST APIs over real i2i_keras exports, error statuses, concurrency,
version polling, model config files and image-header checks."""

import base64
import concurrent.futures
import json
import os
import shutil
import struct
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("tensorflow_serving", reason="the serving tests need tensorflow-serving-api (the [serving] extra)")

import grpc  # noqa: E402
from tensorflow.core.framework import tensor_pb2, types_pb2  # noqa: E402
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc,  # noqa: E402
                                     predict_pb2, prediction_service_pb2_grpc)

from serving import dev_server  # noqa: E402
from serving.dev_server import encoded_image_size, read_model_config_file, start_server  # noqa: E402
from tests.serving.conftest import MAX_PIXELS, decode, jpeg, png, styles_expected  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def grpc_request(model="p2p", signature="serving_default", version=None, label=None, output_filter=(), **inputs):
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(value if isinstance(value, tensor_pb2.TensorProto)
                                      else tf.make_tensor_proto(value))
    return request


def grpc_images(stub, images, model="p2p", signature="serving_default"):
    response = stub.Predict(grpc_request(model, signature, images=tf.make_tensor_proto(images)), timeout=60)
    return tf.make_ndarray(response.outputs["images"])


def rest(server, path, body=None):
    """(HTTP status, body bytes) of a GET (no body) or POST to the server's REST port."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=data,
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def tfs_json(raw):
    """TF Serving's predict bodies hold raw bytes in strings: read them one character per byte."""
    return json.loads(raw.decode("latin-1"))


def b64(data):
    return {"b64": base64.b64encode(data).decode()}


def local_bytes(local, name, signature, data):
    return local[name].signatures[signature](images=tf.constant([data]))["images"].numpy()[0]


# ----------------------------------------------------------------------------------------------- image headers


def test_encoded_image_size_reads_headers_without_decoding():
    assert encoded_image_size(png(20, 30)) == ("PNG", 30, 20)
    assert encoded_image_size(png(7, 5, channels=1)) == ("PNG", 5, 7)
    png16 = tf.io.encode_png(np.zeros((9, 4, 3), np.uint16)).numpy()
    assert encoded_image_size(png16) == ("PNG", 4, 9)
    plain = jpeg(21, 34)
    assert encoded_image_size(plain) == ("JPEG", 34, 21)
    # A big APP1 (EXIF) segment before the frame header is skipped by its length.
    exif = plain[:2] + b"\xff\xe1" + struct.pack(">H", 1002) + b"\xff" * 1000 + plain[2:]
    assert encoded_image_size(exif) == ("JPEG", 34, 21)
    assert tf.io.decode_jpeg(exif).shape == (21, 34, 3)  # and it is still a valid JPEG
    progressive = tf.io.encode_jpeg(np.zeros((11, 13, 3), np.uint8), progressive=True).numpy()
    assert encoded_image_size(progressive) == ("JPEG", 13, 11)
    assert encoded_image_size(b"GIF89a" + struct.pack("<HH", 7, 5) + bytes(10)) == ("GIF", 7, 5)
    # BMP: BITMAPINFOHEADER with a negative height (rows stored top-down).
    assert encoded_image_size(b"BM" + bytes(12) + struct.pack("<Iii", 40, 9, -4)) == ("BMP", 9, 4)


@pytest.mark.parametrize("data, message", [
    (b"", "empty string"),
    (b"hello world", "not a PNG, JPEG, GIF or BMP image (starts with b'hello wo')"),
    (png(4, 4)[:20], "truncated or corrupt PNG header"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated JPEG header"),
    (b"\xff\xd8\xff\xda\x00\x08", "scan data or end of image before the frame header"),
    (base64.b64encode(png(4, 4)), "looks base64-encoded"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(8), "empty image (0x0)"),
])
def test_encoded_image_size_rejects_non_images(data, message):
    with pytest.raises(ValueError) as info:
        encoded_image_size(data)
    assert message in str(info.value)


# ----------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("height, width, channels, encode", [
    (32, 32, 3, png), (17, 23, 3, png), (40, 64, 1, png), (64, 48, 3, jpeg), (96, 96, 1, png)])
def test_grpc_bytes_signature_returns_pngs_of_the_input_size(stub, local, height, width, channels, encode):
    data = encode(height, width, seed=height) if encode is jpeg else encode(height, width, channels, seed=height)
    response = stub.Predict(grpc_request(images=tf.make_tensor_proto([data])), timeout=60)
    assert response.model_spec.name == "p2p" and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    out = tf.make_ndarray(response.outputs["images"])
    assert out.shape == (1,) and out[0].startswith(b"\x89PNG")
    assert decode(out[0]).shape == (height, width, 3)  # gray inputs are translated by the 3-channel model
    np.testing.assert_array_equal(decode(out[0]), decode(local_bytes(local, "pix2pix", "translate_bytes", data)))


def test_grpc_batch_of_mixed_sizes_keeps_order(stub):
    images = [png(20, 28, seed=1), png(33, 17, 1, seed=2), jpeg(24, 24, seed=3)]
    out = grpc_images(stub, images)
    assert [decode(o).shape for o in out] == [(20, 28, 3), (33, 17, 3), (24, 24, 3)]


def test_rest_row_and_columnar_bodies_match_grpc(server, stub):
    data = png(21, 35, seed=5)
    expected = grpc_images(stub, [data])[0]
    status, raw = rest(server, "/v1/models/p2p:predict", {"instances": [b64(data)]})
    assert status == 200
    predictions = tfs_json(raw)["predictions"]
    # The output is named `images`, not `*_bytes`: TF Serving writes the PNG bytes as a raw JSON string.
    assert isinstance(predictions[0], str)
    assert predictions[0].encode("latin-1") == expected
    status, raw = rest(server, "/v1/models/p2p/versions/1:predict",
                       {"signature_name": "translate_bytes", "inputs": {"images": [b64(data), b64(data)]}})
    assert status == 200
    assert [s.encode("latin-1") for s in tfs_json(raw)["outputs"]] == [expected, expected]
    status, raw = rest(server, "/v1/models/p2p/labels/stable:predict", {"inputs": [b64(data)]})
    assert status == 200 and tfs_json(raw)["outputs"][0].encode("latin-1") == expected


def test_float_signature_matches_the_local_savedmodel(server, stub, local):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 24, 40, 3)).astype(np.float32)
    response = stub.Predict(grpc_request(signature="translate", images=x), timeout=60)
    want = local["pix2pix"].signatures["translate"](images=tf.constant(x))["images"].numpy()
    got = tf.make_ndarray(response.outputs["images"])
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, want, atol=1e-6)
    # REST writes floats with enough digits to round-trip float32 exactly.
    status, raw = rest(server, "/v1/models/cyc:predict", {"signature_name": "b2a", "instances": x.tolist()})
    assert status == 200
    np.testing.assert_array_equal(np.array(tfs_json(raw)["predictions"], np.float32),
                                  local["cyclegan"].signatures["b2a"](images=tf.constant(x))["images"].numpy())


def test_multimodal_contract_inputs_over_grpc_and_rest(server, stub):
    images = [png(20, 30, seed=1), png(12, 16, 1, seed=2)]
    references = [png(4, 4, seed=3), png(4, 4, seed=4)]
    response = stub.Predict(grpc_request(
        "styles", images=tf.make_tensor_proto(images), target_domain=np.array([1, 3], np.int32),
        num_samples=np.int32(3), seed=np.int64(12), reference=tf.make_tensor_proto(references)), timeout=60)
    out = tf.make_ndarray(response.outputs["images"])
    assert out.shape == (2, 3)  # [batch, num_samples]
    for i, domain in enumerate((1, 3)):
        for k in range(3):
            np.testing.assert_array_equal(decode(out[i, k]), styles_expected(images[i], domain, k, 12, references[i]))
    status, raw = rest(server, "/v1/models/styles:predict", {"inputs": {
        "images": [b64(d) for d in images], "target_domain": [1, 3], "num_samples": 3, "seed": 12,
        "reference": [b64(r) for r in references]}})
    assert status == 200
    assert [[s.encode("latin-1") for s in row] for row in tfs_json(raw)["outputs"]] == out.tolist()


def test_output_filter_and_metadata_signature(stub):
    response = stub.Predict(grpc_request(signature="metadata", output_filter=["method", "in_channels"]), timeout=60)
    assert sorted(response.outputs) == ["in_channels", "method"]
    assert tf.make_ndarray(response.outputs["method"]) == b"pix2pix"


# ----------------------------------------------------------------------------------------------- metadata, status


def test_get_model_metadata_lists_the_signatures(server, stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "cyc"
    response = stub.GetModelMetadata(request, timeout=30)
    assert response.model_spec.name == "cyc" and response.model_spec.version.value == 1
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert {"serving_default", "a2b", "a2b_bytes", "b2a", "b2a_bytes", "metadata"} <= set(signatures.signature_def)
    images = signatures.signature_def["b2a_bytes"].inputs["images"]
    assert images.dtype == types_pb2.DT_STRING and [d.size for d in images.tensor_shape.dim] == [-1]

    status, raw = rest(server, "/v1/models/styles/metadata")
    assert status == 200
    doc = json.loads(raw)
    assert doc["model_spec"] == {"name": "styles", "version": "1", "signature_name": ""}
    inputs = doc["metadata"]["signature_def"]["signature_def"]["styles_bytes"]["inputs"]
    assert {k: v["dtype"] for k, v in inputs.items()} == {
        "images": "DT_STRING", "target_domain": "DT_INT32", "num_samples": "DT_INT32", "seed": "DT_INT64",
        "reference": "DT_STRING"}
    assert inputs["num_samples"]["tensor_shape"] == {"dim": [], "unknown_rank": False}

    for fields, message in (([], "at least one metadata_field"), (["signature_def", "graph"],
                                                                  "Metadata field graph is not supported")):
        bad = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
        bad.model_spec.name = "cyc"
        with pytest.raises(grpc.RpcError) as info:
            stub.GetModelMetadata(bad, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in info.value.details()


def test_model_status_over_grpc_and_rest(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        models = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "p2p"
        (status,) = models.GetModelStatus(request, timeout=30).model_version_status
        assert status.version == 1 and status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        request.model_spec.name = "nope"
        with pytest.raises(grpc.RpcError) as info:
            models.GetModelStatus(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND and "nope" in info.value.details()
    expected = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}
    for path in ("/v1/models/p2p", "/v1/models/p2p/versions/1", "/v1/models/p2p/labels/stable"):
        status, raw = rest(server, path)
        assert (status, json.loads(raw)) == (200, expected), path
    status, raw = rest(server, "/v1/models/p2p/versions/3")
    assert status == 404 and "Could not find version 3 of model p2p" in json.loads(raw)["error"]


# ----------------------------------------------------------------------------------------------- bad requests


def _malformed_float():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"12345")
    for size in (1, 8, 8, 3):
        proto.tensor_shape.dim.add(size=size)
    return proto


def _styles_inputs(images=2, domains=2):
    return dict(images=tf.make_tensor_proto([png(8, 8)] * images),
                target_domain=np.zeros(domains, np.int32), num_samples=np.int32(1), seed=np.int64(0),
                reference=tf.make_tensor_proto([png(4, 4)] * images))


GOOD = png(16, 24, seed=9)
INVALID = grpc.StatusCode.INVALID_ARGUMENT

GRPC_CASES = {
    "undecodable_bytes": (dict(images=[b"\x00 not an image"]), INVALID,
                          ["input 'images'[0]", "not a PNG, JPEG, GIF or BMP image"]),
    "second_image_undecodable": (dict(images=[GOOD, b"GIF87a"]), INVALID, ["input 'images'[1]", "truncated GIF"]),
    "base64_instead_of_bytes": (dict(images=[base64.b64encode(GOOD)]), INVALID, ["looks base64-encoded"]),
    "corrupt_png_fails_in_graph": (dict(images=[GOOD[:60]]), INVALID,
                                   ["signature 'serving_default' of model 'p2p' failed on the request's data", "PNG"]),
    "wrong_dtype": (dict(images=np.zeros((1, 8, 8, 3), np.float32)), INVALID,
                    ["input 'images'", "must be DT_STRING with shape [None]", "received DT_FLOAT with shape "
                                                                              "[1, 8, 8, 3]"]),
    "wrong_shape": (dict(images=[[GOOD]]), INVALID, ["shape [None]", "received DT_STRING with shape [1, 1]"]),
    "wrong_channels": (dict(signature="translate", images=np.zeros((1, 8, 8, 1), np.float32)), INVALID,
                       ["shape [None, None, None, 3]", "[1, 8, 8, 1]"]),
    "int_images_for_float_signature": (dict(signature="translate", images=np.zeros((1, 8, 8, 3), np.int32)),
                                       INVALID, ["must be DT_FLOAT", "received DT_INT32"]),
    "malformed_tensor_proto": (dict(signature="translate", images=_malformed_float()), INVALID,
                               ["input 'images': malformed TensorProto"]),
    "missing_input": (dict(), INVALID, ["takes the inputs ['images']", "missing ['images']"]),
    "unknown_input": (dict(images=[GOOD], colour=np.int32(1)), INVALID, ["unknown ['colour']"]),
    "png_over_pixel_limit": (dict(images=[png(97, 96)]), INVALID,
                             ["PNG image is 96x97 = 9312 pixels", f"limit of {MAX_PIXELS}", "--max_pixels"]),
    "jpeg_over_pixel_limit": (dict(images=[jpeg(100, 120)]), INVALID, ["JPEG image is 120x100"]),
    "float_over_pixel_limit": (dict(signature="translate", images=np.zeros((1, 100, 100, 3), np.float32)), INVALID,
                               ["float image is 100x100 = 10000 pixels"]),
    "batch_sizes_differ": (dict(model="styles", **_styles_inputs(images=2, domains=3)), INVALID,
                           ["same first dimension", "images has 2", "target_domain has 3"]),
    "unknown_output": (dict(images=[GOOD], output_filter=["masks"]), INVALID, ["output_filter names ['masks']"]),
    "unknown_label": (dict(images=[GOOD], label="canary"), INVALID, ["Unrecognized servable version label: canary"]),
    # TF Serving's Predict answers FAILED_PRECONDITION for an unknown signature and NOT_FOUND for an unknown
    # model or version; the development server does the same.
    "unknown_signature": (dict(signature="nope", images=[GOOD]), grpc.StatusCode.FAILED_PRECONDITION,
                          ['Serving signature key "nope" not found', "translate_bytes"]),
    "unknown_model": (dict(model="nope", images=[GOOD]), grpc.StatusCode.NOT_FOUND,
                      ["Servable not found for request: Latest(nope)", "models served: p2p, cyc, styles"]),
    "unknown_version": (dict(version=7, images=[GOOD]), grpc.StatusCode.NOT_FOUND,
                        ["Specific(p2p, 7)", "loaded versions: [1]"]),
}


@pytest.mark.parametrize("case", sorted(GRPC_CASES))
def test_grpc_bad_request_gets_a_status_and_the_server_keeps_serving(stub, case):
    kwargs, code, messages = GRPC_CASES[case]
    kwargs = dict(kwargs)
    inputs = {k: v for k, v in kwargs.items() if k not in ("model", "signature", "version", "label",
                                                           "output_filter")}
    request = grpc_request(kwargs.get("model", "p2p"), kwargs.get("signature", "serving_default"),
                           kwargs.get("version"), kwargs.get("label"), kwargs.get("output_filter", ()), **inputs)
    with pytest.raises(grpc.RpcError) as info:
        stub.Predict(request, timeout=60)
    assert info.value.code() == code, info.value.details()
    for message in messages:
        assert message in info.value.details()
    assert "\n" not in info.value.details()
    assert decode(grpc_images(stub, [GOOD])[0]).shape == (16, 24, 3)


STYLES_ROW = {"images": b64(png(8, 8)), "target_domain": 0, "num_samples": 1, "seed": 0, "reference": b64(png(4, 4))}

REST_CASES = {
    "bad_json": ("p2p:predict", b"{not json", 400, ["JSON Parse error"]),
    "body_not_an_object": ("p2p:predict", [1, 2], 400, ["must be a JSON object; received a JSON Array"]),
    "both_formats": ("p2p:predict", {"instances": [b64(GOOD)], "inputs": [b64(GOOD)]}, 400,
                     ["both 'instances' and 'inputs'"]),
    "no_inputs": ("p2p:predict", {"signature_name": "serving_default"}, 400, ["Missing 'inputs' or 'instances'"]),
    "empty_instances": ("p2p:predict", {"instances": []}, 400, ["'instances' must be a non-empty list"]),
    "bad_base64": ("p2p:predict", {"instances": [{"b64": "%%%"}]}, 400, ["Unable to base64 decode"]),
    "text_instead_of_b64": ("p2p:predict", {"instances": ["hello"]}, 400, ["input 'images'[0]", "not a PNG"]),
    "number_for_string": ("p2p:predict", {"instances": [5]}, 400,
                          ["instances[0]", "JSON value 5 (type Number) is not of expected type DT_STRING"]),
    "over_pixel_limit": ("p2p:predict", {"instances": [b64(png(100, 100))]}, 400, ["100x100", "--max_pixels"]),
    "corrupt_png": ("p2p:predict", {"instances": [b64(GOOD[:60])]}, 400, ["failed on the request's data"]),
    "ragged_float": ("p2p:predict", {"signature_name": "translate", "inputs": [[[[0, 0, 0]], [[0, 0]]]]}, 400,
                     ["ragged nested list"]),
    "unknown_signature": ("p2p:predict", {"signature_name": "nope", "instances": [b64(GOOD)]}, 400,
                          ['Serving signature name: "nope" not found', "translate_bytes"]),
    "unknown_columnar_key": ("p2p:predict", {"inputs": {"images": [b64(GOOD)], "colour": 1}}, 400,
                             ["keys ['colour']", "takes ['images']"]),
    "plain_list_for_several_inputs": ("styles:predict", {"instances": [b64(GOOD)]}, 400,
                                      ["'instances' is a plain list", "several inputs"]),
    "scalar_input_in_row_format": ("styles:predict", {"instances": [STYLES_ROW]}, 400,
                                   ["input 'num_samples'", "is a scalar", "columnar 'inputs' format"]),
    "missing_columnar_input": ("styles:predict", {"inputs": {"images": [b64(GOOD)]}}, 400,
                               ["Missing named input: num_samples"]),
    "int_out_of_range": ("styles:predict", {"inputs": {**{k: [v] for k, v in STYLES_ROW.items()},
                                                       "num_samples": 1, "seed": 0, "target_domain": [2 ** 40]}},
                         400, ["out of the range of DT_INT32"]),
    "unknown_model": ("nope:predict", {"instances": [b64(GOOD)]}, 404, ["Servable not found for request: "
                                                                        "Latest(nope)"]),
    "unknown_version": ("p2p/versions/9:predict", {"instances": [b64(GOOD)]}, 404, ["Specific(p2p, 9)"]),
    "classify": ("p2p:classify", {"examples": []}, 501, ["implements only :predict"]),
    "malformed_url": ("p2p:predict/extra", {"instances": []}, 404, ["Malformed request: POST"]),
}


@pytest.mark.parametrize("case", sorted(REST_CASES))
def test_rest_bad_request_gets_an_error_and_the_server_keeps_serving(server, case):
    path, body, code, messages = REST_CASES[case]
    status, raw = rest(server, "/v1/models/" + path, body)
    assert status == code, raw
    error = json.loads(raw)["error"]
    for message in messages:
        assert message in error
    status, raw = rest(server, "/v1/models/p2p:predict", {"instances": [b64(GOOD)]})
    assert status == 200 and decode(tfs_json(raw)["predictions"][0].encode("latin-1")).shape == (16, 24, 3)


# ----------------------------------------------------------------------------------------------- concurrency


def test_concurrent_requests_get_their_own_answers(server, stub, local):
    """32 requests of mixed sizes from 8 threads (gRPC and REST mixed): each answer has its input's size and equals
    the answer the same SavedModel gives locally, so concurrent signature calls neither mix nor corrupt results."""
    sizes = [(17, 23, 1), (32, 32, 3), (40, 60, 3), (64, 48, 1), (96, 96, 3), (23, 17, 3), (48, 64, 3), (33, 45, 1)]
    jobs = [(i, png(h, w, c, seed=100 + i)) for i, (h, w, c) in enumerate(sizes * 4)]
    expected = {i: decode(local_bytes(local, "pix2pix", "translate_bytes", data)) for i, data in jobs}

    def call(job):
        i, data = job
        if i % 4 == 3:
            status, raw = rest(server, "/v1/models/p2p:predict", {"instances": [b64(data)]})
            assert status == 200, raw
            return i, tfs_json(raw)["predictions"][0].encode("latin-1")
        return i, grpc_images(stub, [data])[0]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, jobs))
    assert sorted(i for i, _ in results) == list(range(32))
    for i, out in results:
        h, w, _ = sizes[i % len(sizes)]
        got = decode(out)
        assert got.shape == (h, w, 3)
        np.testing.assert_array_equal(got, expected[i])


# ----------------------------------------------------------------------------------------------- versions


def _wait_for(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_new_versions_are_picked_up_by_polling(exports, tmp_path):
    base = tmp_path / "model"
    shutil.copytree(os.path.join(exports["pix2pix"], "1"), base / "1")
    (base / "5").mkdir()  # no saved_model.pb (yet): not a version
    with start_server(str(base), model_name="m", rest_port=None, poll_seconds=0.1) as srv:
        assert srv.rest_port is None and srv.manager.versions("m") == [1]
        # Publish version 2 the way export_for_serving does: write elsewhere, then rename into place.
        shutil.copytree(base / "1", tmp_path / "staging")
        os.rename(tmp_path / "staging", base / "2")
        assert _wait_for(lambda: srv.manager.versions("m") == [2])
        with grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(grpc_request("m", images=tf.make_tensor_proto([GOOD])), timeout=60)
            assert response.model_spec.version.value == 2
            # A broken newer version is reported with its error; the working one keeps serving.
            (base / "3").mkdir()
            (base / "3" / "saved_model.pb").write_bytes(b"not a protobuf")
            assert _wait_for(lambda: 3 in [s.version for s in srv.manager.status("m").model_version_status])
            status = {s.version: s for s in srv.manager.status("m").model_version_status}
            assert status[3].state == get_model_status_pb2.ModelVersionStatus.END
            assert status[3].status.error_message
            assert status[2].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
            response = stub.Predict(grpc_request("m", images=tf.make_tensor_proto([GOOD])), timeout=60)
            assert response.model_spec.version.value == 2


# ----------------------------------------------------------------------------------------------- configuration


def test_the_repository_model_config_parses():
    (config,) = read_model_config_file(os.path.join(REPO, "serving", "model_config.pbtxt"))
    assert (config.name, config.base_path, config.policy, config.num_versions) == ("i2i", "/models/i2i", "latest", 1)


@pytest.mark.parametrize("text, message", [
    ("model_config_list { config { name: 'a' base_path: '/x' } ", "not a text ModelServerConfig"),
    ("", "at least one model"),
    ("model_config_list { config { name: 'a' base_path: '/x' model_platform: 'pytorch' } }",
     "model_platform must be 'tensorflow'; received 'pytorch'"),
    ("model_config_list { config { name: 'a' } }", "needs `name` and `base_path`"),
    ("model_config_list { config { name: 'a' base_path: '/x' } config { name: 'a' base_path: '/y' } }",
     "repeated: ['a']"),
    ("model_config_list { config { name: 'a' base_path: '/x' model_version_policy { specific { } } } }",
     "lists no versions"),
])
def test_bad_model_config_files_are_rejected_with_a_reason(tmp_path, text, message):
    path = tmp_path / "models.pbtxt"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_model_config_file(str(path))
    assert message in str(info.value)


def test_model_config_policies_and_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "models.pbtxt"
    path.write_text("model_config_list {\n"
                    " config { name: 'a' base_path: 'exports/a' model_version_policy { all { } } }\n"
                    " config { name: 'b' base_path: '/b' model_version_policy { specific { versions: 3 versions: 1 } }"
                    "          version_labels { key: 'canary' value: 3 } }\n"
                    " config { name: 'c' base_path: 'gs://bucket/c'"
                    "          model_version_policy { latest { num_versions: 2 } } } }\n")
    a, b, c = read_model_config_file(str(path))
    assert (a.base_path, a.policy) == (str(tmp_path / "exports" / "a"), "all")
    assert (b.policy, b.versions, dict(b.labels)) == ("specific", (1, 3), {"canary": 3})
    assert (c.base_path, c.policy, c.num_versions) == ("gs://bucket/c", "latest", 2)


def test_start_server_rejects_bad_arguments(server, exports, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        start_server(str(tmp_path / "missing"), rest_port=None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no version directory"):
        start_server(str(tmp_path / "empty"), rest_port=None)
    with pytest.raises(ValueError, match="exactly one of model_base_path, models or model_config_file"):
        start_server(exports["pix2pix"], models={"x": exports["pix2pix"]})
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        start_server(exports["pix2pix"], max_pixels=0)
    with pytest.raises(OSError, match="cannot bind the gRPC port"):
        start_server(exports["pix2pix"], grpc_port=server.grpc_port, rest_port=None, poll_seconds=0)


def test_rest_json_writer_follows_tf_serving_rules():
    outputs = {"images": np.array([b'a"\\\n\x01\xff'], dtype=object), "thumb_bytes": np.array([b"\x00\xff"], object),
               "score": np.array([0.1, 3.0], np.float32)}
    body = dev_server.predict_response_json(outputs, "columnar")
    # Raw string with rapidjson's escapes (non-UTF-8 byte copied as is); `_bytes` outputs base64; floats
    # in the shortest form that round-trips float32, whole numbers with '.0'.
    assert b'"images": ["a\\"\\\\\\n\\u0001\xff"]' in body
    assert b'"thumb_bytes": [{"b64": "AP8="}]' in body and b'"score": [0.1, 3.0]' in body
    assert tfs_json(body)["outputs"]["images"][0].encode("latin-1") == b'a"\\\n\x01\xff'
