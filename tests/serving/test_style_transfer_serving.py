"""adain served: a gRPC request with a content image and a style image (both encoded bytes) returns the stylised
image, equal to the exported model's own answer."""

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("tensorflow_serving", reason="the serving tests need tensorflow-serving-api (the [serving] extra)")

import grpc  # noqa: E402
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc  # noqa: E402

from tests.serving.conftest import decode, png  # noqa: E402


def test_grpc_request_with_a_content_and_a_style_image_returns_the_stylised_image(tmp_path):
    from i2i_keras.data import style_images, transforms
    from i2i_keras.export import export_for_serving
    from serving.dev_server import start_server
    from tests.methods.method_helpers import tiny_model

    base = str(tmp_path / "adain")
    version_dir = export_for_serving(tiny_model("adain"), base)
    style = tf.io.encode_png(transforms.to_uint8(style_images.load("embedded:starry_night", 24))).numpy()
    content = png(20, 28, seed=5)
    server = start_server(model_name="adain", model_base_path=base)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    try:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "adain"
        request.model_spec.signature_name = "reference_alpha_bytes"
        request.inputs["images"].CopyFrom(tf.make_tensor_proto([content]))
        request.inputs["reference"].CopyFrom(tf.make_tensor_proto([style]))
        request.inputs["alpha"].CopyFrom(tf.make_tensor_proto(np.float32(0.8)))
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
    finally:
        channel.close()
        server.stop()
    served = decode(tf.make_ndarray(response.outputs["images"])[0])
    local = tf.saved_model.load(version_dir).signatures["reference_alpha_bytes"](
        images=tf.constant([content]), reference=tf.constant([style]), alpha=tf.constant(0.8, tf.float32))
    assert served.shape == (20, 28, 3)
    np.testing.assert_array_equal(served, decode(local["images"].numpy()[0]))
