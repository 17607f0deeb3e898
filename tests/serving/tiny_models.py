"""A tiny SavedModel for the serving limit and reliability tests: it loads in well under a second (no i2i_keras
model to build) and its answers are known functions of the inputs, so a test can check every answer it gets.

Signatures (TF Serving's contract names): `serving_default` and `invert_bytes` take `images`, string [N] of
encoded PNG/JPEG/GIF/BMP images, and return `images`, PNGs of the inverted RGB images (255 - x); `invert` takes
`images`, float32 [N, H, W, 3], and returns `-images`.
"""

import os

import numpy as np
import tensorflow as tf


class InvertModule(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def invert_bytes(self, images):
        def one(data):
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
            return tf.io.encode_png(255 - image)

        return {"images": tf.map_fn(one, images, fn_output_signature=tf.TensorSpec([], tf.string))}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def invert(self, images):
        return {"images": -images}


def save_invert_model(base_path: str, version: int = 1) -> str:
    """Writes the model as `<base_path>/<version>/` and returns `base_path` (a model base path)."""
    module = InvertModule()
    by_bytes = module.invert_bytes.get_concrete_function()
    tf.saved_model.save(module, os.path.join(base_path, str(version)),
                        signatures={"serving_default": by_bytes, "invert_bytes": by_bytes,
                                    "invert": module.invert.get_concrete_function()})
    return base_path


def png(height, width, seed=0):
    rng = np.random.default_rng(seed)
    return tf.io.encode_png(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).numpy()


def inverted(data):
    """The RGB pixels the model's PNG answer to `data` must hold."""
    return 255 - tf.io.decode_image(data, channels=3, expand_animations=False).numpy()


def decode(data):
    return tf.io.decode_image(data, channels=3, expand_animations=False).numpy()


def png_header(width, height):
    """The first 33 bytes of a PNG (signature and IHDR chunk) declaring width x height: enough for the server's
    header check, no image data."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr
            + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF))


def grpc_request(model="m", signature="serving_default", **inputs):
    """A PredictRequest for `model`/`signature`; inputs are TensorProtos or anything `tf.make_tensor_proto` takes."""
    from tensorflow.core.framework import tensor_pb2
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(value if isinstance(value, tensor_pb2.TensorProto)
                                      else tf.make_tensor_proto(value))
    return request


def read_until_closed(sock, seconds=5.0):
    """Everything the server sends until it closes the connection (or `seconds` pass: then None)."""
    import socket
    import time

    sock.settimeout(0.2)
    chunks, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    return None
