"""The development server's gRPC services: TF Serving's PredictionService (Predict, GetModelMetadata; Classify,
Regress and MultiInference answer UNIMPLEMENTED) and ModelService.GetModelStatus."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from typing import Optional

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tensorflow.core.framework import types_pb2

from .admission import WorkLimiter
from .common import DEFAULT_SIGNATURE, SERVER_LOGGER, SIGNATURE_DEF_FIELD, first_line
from .errors import ServingError, invalid_argument
from .model_manager import ModelManager, Servable
from .predictor import Declared, Predictor, dtype_name

log = logging.getLogger(SERVER_LOGGER)


def _tensor_to_array(key: str, proto) -> np.ndarray:
    try:
        return tf.make_ndarray(proto)
    except Exception as err:  # noqa: BLE001 - any malformed TensorProto is the client's error
        raise invalid_argument(f"input {key!r}: malformed TensorProto ({dtype_name(proto.dtype)}, shape "
                               f"{[d.size for d in proto.tensor_shape.dim]}): {first_line(str(err))}",
                               code="malformed_tensor") from None


def declared_input(key: str, proto) -> Declared:
    """What a TensorProto declares (dtype, shape, string values), read without making an array from it: a float
    proto with one value and a shape of a billion elements stays a few bytes here."""
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise invalid_argument(f"input {key!r}: malformed TensorProto ({dtype_name(proto.dtype)}, shape "
                               f"{list(shape)}): negative dimension size", code="malformed_tensor")
    if proto.dtype != types_pb2.DT_STRING:
        return Declared(proto.dtype, shape)
    count, values = math.prod(shape), proto.string_val
    if count <= len(values):
        return Declared(proto.dtype, shape, values[:count] if count < len(values) else values)
    # TensorFlow pads a short list with copies of its last value (an empty list with empty strings).
    return Declared(proto.dtype, shape, values if values else [b""], count - max(len(values), 1))


def _requested_version(model_spec) -> tuple:
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version":
        return model_spec.version.value, None
    if choice == "version_label":
        return None, model_spec.version_label
    return None, None


def _servable(manager: ModelManager, model_spec) -> Servable:
    version, label = _requested_version(model_spec)
    return manager.get(model_spec.name, version, label)


def metadata_response(servable: Servable) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """TF Serving's GetModelMetadataResponse: the servable's model spec and its SignatureDefs."""
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in servable.signature_defs.items():
        signature_map.signature_def[name].CopyFrom(signature_def)
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


def _rpc(method):
    """A ServingError aborts the call with its status; any other exception is a bug: logged with its traceback
    and answered INTERNAL (never as a client error), and the server goes on."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ServingError as err:
            context.abort(err.status, err.message)
        except Exception as err:  # noqa: BLE001 - a bug must not look like a client error; the server goes on
            log.exception("gRPC request failed")
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(err).__name__}: {err}")

    return wrapper


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict checks a request from its declared shapes and image headers first (no array is made from a request
    over the limits), then takes a worker slot of `limiter` (RESOURCE_EXHAUSTED at once when the workers and the
    queue are full) and only then makes the arrays and runs the model."""

    def __init__(self, predictor: Predictor, limiter: Optional[WorkLimiter] = None):
        self._predictor = predictor
        self._limiter = limiter

    @_rpc
    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        servable = _servable(self._predictor.manager, request.model_spec)
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        output_filter = tuple(request.output_filter)
        declared = {key: declared_input(key, proto) for key, proto in request.inputs.items()}
        self._predictor.check(servable, signature_name, declared, output_filter)
        with self._limiter.slot() if self._limiter is not None else contextlib.nullcontext():
            if not context.is_active():  # the client gave up while the request waited for a worker
                raise ServingError(grpc.StatusCode.CANCELLED, "the call ended while it waited for a worker",
                                   code="cancelled")
            inputs = {key: _tensor_to_array(key, proto) for key, proto in request.inputs.items()}
            outputs = self._predictor.run(servable, signature_name, inputs, output_filter)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = signature_name
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    @_rpc
    def GetModelMetadata(self, request, context):  # noqa: N802 - gRPC method name
        fields = list(request.metadata_field)
        if not fields:
            raise invalid_argument(f"GetModelMetadataRequest must name at least one metadata_field; supported: "
                                   f"{SIGNATURE_DEF_FIELD!r}", code="no_metadata_field")
        unsupported = [f for f in fields if f != SIGNATURE_DEF_FIELD]
        if unsupported:
            raise invalid_argument(f"Metadata field {unsupported[0]} is not supported; supported: "
                                   f"{SIGNATURE_DEF_FIELD!r}", code="unsupported_metadata_field")
        return metadata_response(_servable(self._predictor.manager, request.model_spec))


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: ModelManager):
        self._manager = manager

    @_rpc
    def GetModelStatus(self, request, context):  # noqa: N802 - gRPC method name
        version, label = _requested_version(request.model_spec)
        if label is not None:  # the status of the version the label names
            version = _servable(self._manager, request.model_spec).version
        return self._manager.status(request.model_spec.name, version)
