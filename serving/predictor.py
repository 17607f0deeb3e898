"""The development server's predictor: checks a request's inputs against a signature (names, dtypes, shapes, batch
sizes, image sizes against the pixel limit), runs the signature and returns its outputs; shared by gRPC and REST."""

from __future__ import annotations

import re
from typing import Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from .common import first_line, proto_shape, shape_fits, shape_text
from .errors import ImageHeaderError, ServingError, invalid_argument
from .image_headers import encoded_image_size
from .model_manager import ModelManager, Servable


def dtype_name(dtype: int) -> str:
    return types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else f"dtype {dtype}"


def _array_dtype(array: np.ndarray) -> int:
    if array.dtype.kind in "OSU":
        return types_pb2.DT_STRING
    return tf.as_dtype(array.dtype).as_datatype_enum


def _op_error_reason(err: tf.errors.OpError) -> str:
    """The failing op's own message, without TensorFlow's node names and stack-trace boilerplate."""
    skip = ("Graph execution error", "Detected at node", "<stack traces", "[[", "File ", "Traceback", "{{")
    for line in (err.message or "").splitlines():
        line = line.strip()
        if line and not line.startswith(skip):
            return re.sub(r"\s*\[\[.*$", "", line).rstrip(". ")
    return type(err).__name__


class Predictor:
    """Validates inputs against a signature, runs it and returns its outputs; shared by gRPC and REST."""

    def __init__(self, manager: ModelManager, max_pixels: int):
        self.manager = manager
        self.max_pixels = max_pixels

    def signature(self, servable: Servable, name: str, rest: bool = False):
        signature_def = servable.signature_defs.get(name)
        if signature_def is None or name not in servable.functions:
            available = ", ".join(sorted(servable.functions))
            if rest:  # TF Serving's REST handler checks the signature while parsing: INVALID_ARGUMENT
                raise invalid_argument(f'Serving signature name: "{name}" not found in signature def; model '
                                       f'{servable.name!r} version {servable.version} has: {available}',
                                       code="unknown_signature")
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                               f'Serving signature key "{name}" not found. Model {servable.name!r} version '
                               f'{servable.version} has: {available}', code="unknown_signature")
        return signature_def

    def run(self, servable: Servable, signature_name: str, inputs: Mapping[str, np.ndarray],
            output_filter: tuple = ()) -> dict:
        """Checks `inputs` (names, dtypes, shapes, batch sizes, images) and runs the signature.

        Returns:
            output name -> numpy array.
        Raises:
            ServingError: with INVALID_ARGUMENT for anything wrong with the request.
        """
        signature_def = self.signature(servable, signature_name)
        where = f"signature {signature_name!r}"
        expected = signature_def.inputs
        missing, unknown = sorted(set(expected) - set(inputs)), sorted(set(inputs) - set(expected))
        if missing or unknown:
            problems = ([f"missing {missing}"] if missing else []) + ([f"unknown {unknown}"] if unknown else [])
            raise invalid_argument(f"{where} takes the inputs {sorted(expected)}; received {sorted(inputs)} "
                                   f"({', '.join(problems)})", code="bad_input_names")
        for key in sorted(expected):
            info, array = expected[key], inputs[key]
            dtype = _array_dtype(array)
            declared = proto_shape(info.tensor_shape)
            if dtype != info.dtype or not shape_fits(declared, array.shape):
                raise invalid_argument(f"input {key!r} of {where} must be {dtype_name(info.dtype)} with shape "
                                       f"{shape_text(declared)}; received {dtype_name(dtype)} with shape "
                                       f"{shape_text(array.shape)}", code="bad_input_type")
        self._check_batch(where, expected, inputs)
        for key in sorted(expected):
            self._check_images(key, inputs[key])
        unknown_outputs = sorted(set(output_filter) - set(signature_def.outputs))
        if unknown_outputs:
            raise invalid_argument(f"output_filter names {unknown_outputs}, which {where} does not have; its "
                                   f"outputs: {sorted(signature_def.outputs)}", code="unknown_output")

        function = servable.functions[signature_name]
        try:
            outputs = function(**{key: tf.constant(value) for key, value in inputs.items()})
        except tf.errors.InvalidArgumentError as err:
            raise invalid_argument(f"{where} of model {servable.name!r} failed on the request's data: "
                                   f"{_op_error_reason(err)}", code="model_rejected_input") from None
        except tf.errors.ResourceExhaustedError as err:
            raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, _op_error_reason(err)) from None
        except tf.errors.OpError as err:
            raise ServingError(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {_op_error_reason(err)}",
                               code="model_failed") from None
        except (TypeError, ValueError) as err:  # the checks above should leave nothing for these
            raise invalid_argument(f"{where}: {first_line(str(err))}") from None
        names = output_filter or tuple(outputs)
        return {name: outputs[name].numpy() for name in names}

    @staticmethod
    def _check_batch(where: str, expected, inputs: Mapping[str, np.ndarray]) -> None:
        """Inputs whose first dimension is unknown in the signature are batched together: sizes must agree."""
        sizes = {key: inputs[key].shape[0] for key, info in expected.items()
                 if not info.tensor_shape.unknown_rank and info.tensor_shape.dim
                 and info.tensor_shape.dim[0].size < 0}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{k} has {n}" for k, n in sorted(sizes.items()))
            raise invalid_argument(f"the batched inputs of {where} must have the same first dimension; received "
                                   f"{listed}", code="batch_size_mismatch")

    def _check_images(self, key: str, array: np.ndarray) -> None:
        if array.dtype.kind in "OSU":
            for index, data in enumerate(array.reshape(-1)):
                data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
                try:
                    kind, width, height = encoded_image_size(data)
                except ImageHeaderError as err:
                    raise invalid_argument(f"input {key!r}{_index(array, index)}: {err}", code=err.code) from None
                self._check_pixels(f"input {key!r}{_index(array, index)}: {kind} image", width, height)
        elif array.ndim == 4 and array.dtype.kind == "f":  # [batch, height, width, channels] float images
            self._check_pixels(f"input {key!r}: float image", array.shape[2], array.shape[1])

    def _check_pixels(self, what: str, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise invalid_argument(f"{what} is {width}x{height} = {width * height} pixels, over this server's "
                                   f"limit of {self.max_pixels} pixels (--max_pixels)", code="image_too_large")


def _index(array: np.ndarray, flat_index: int) -> str:
    if array.ndim == 0:
        return ""
    return "[" + ", ".join(str(i) for i in np.unravel_index(flat_index, array.shape)) + "]"
