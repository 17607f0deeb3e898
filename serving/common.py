"""What the client and the development server share: the serving contract's names, limits, dtype table, shape
text and JSON `{"b64": ...}` helpers, message clean-up and CLI start-up quieting.

Standard library and numpy only: the client's REST path must not import TensorFlow or grpc.
"""

from __future__ import annotations

import base64
import os
import warnings
from typing import Any, Optional, Sequence

import numpy as np

DEFAULT_SIGNATURE = "serving_default"
# The input (and output) holding the images in every i2i_keras signature.
IMAGES = "images"
# GetModelMetadata's metadata field holding the SignatureDefs (the only one TF Serving and this package support).
SIGNATURE_DEF_FIELD = "signature_def"
# The encoded image formats the exported graphs decode (tf.io.decode_png / tf.io.decode_image).
IMAGE_FORMATS = "PNG, JPEG, GIF or BMP"
# Largest gRPC message and REST body sent or accepted (TF Serving itself allows up to 2 GiB).
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
GRPC_MESSAGE_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
# The logger of the development server's modules (one name, whatever module logs).
SERVER_LOGGER = f"{__package__}.dev_server"

# TensorFlow DataType name -> numpy dtype, for the dtypes a request can carry.
NUMPY_TYPES = {
    "DT_STRING": object, "DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_HALF": np.float16,
    "DT_INT8": np.int8, "DT_INT16": np.int16, "DT_INT32": np.int32, "DT_INT64": np.int64,
    "DT_UINT8": np.uint8, "DT_UINT16": np.uint16, "DT_UINT32": np.uint32, "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
}


def module_command(module: str) -> str:
    """`python -m <this package>.<module>`, under whatever top-level name the package is installed."""
    return f"python -m {__package__}.{module}"


def first_line(text: Any) -> str:
    """The first non-blank line of a message, stripped (TensorFlow and protobuf errors run over many lines)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def one_line(text: Any) -> str:
    """A message with its white space (line breaks included) folded into single spaces."""
    return " ".join(str(text).split())


def proto_shape(tensor_shape) -> Optional[tuple]:
    """A TensorShapeProto as a tuple of sizes (-1: any size), or None for an unknown rank."""
    return None if tensor_shape.unknown_rank else tuple(d.size for d in tensor_shape.dim)


def shape_text(shape: Optional[Sequence[int]]) -> str:
    """A shape as `[None, 32, 3]` (None: any size); "any shape" for an unknown rank (None)."""
    if shape is None:
        return "any shape"
    return "[" + ", ".join("None" if d < 0 else str(d) for d in shape) + "]"


def shape_fits(spec: Optional[Sequence[int]], shape: Sequence[int]) -> bool:
    """Whether an array shape matches a declared one (None: any shape; -1: any size in that dimension)."""
    if spec is None:
        return True
    return len(spec) == len(shape) and all(d < 0 or d == s for d, s in zip(spec, shape))


def is_b64(value: Any) -> bool:
    """Whether a JSON value is TF Serving's binary string form `{"b64": "<base64>"}`."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def b64_json(data: bytes) -> dict:
    """Bytes in TF Serving's JSON binary string form."""
    return {"b64": base64.b64encode(data).decode("ascii")}


def quiet_tensorflow_startup() -> None:
    """For the CLIs, whose stderr is for their own messages: hides TensorFlow's C++ start-up messages (CUDA plugin
    registration) and google.api_core's Python-version notice, both printed while TensorFlow is imported. Call it
    before TensorFlow is imported; an explicit TF_CPP_MIN_LOG_LEVEL is kept."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.api_core")
