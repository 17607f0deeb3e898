"""The development server's predictor: checks a request's inputs against a signature (names, dtypes, shapes, batch
sizes, image sizes against the pixel limit) and against the per-request budgets (batch size, pixels, bytes) from
their declared shapes and image headers, before any array is made; runs the signature and returns its outputs;
shared by gRPC and REST."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Mapping, Optional, Sequence

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


DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_MAX_REQUEST_PIXELS = 4096 * 4096
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
_FLOAT_TYPES = frozenset({types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_HALF, types_pb2.DT_BFLOAT16})


@dataclasses.dataclass(frozen=True)
class Declared:
    """An input as a request declares it, before any array is made from it: its dtype (a DataType enum), its shape
    and, for strings, the flat sequence of its values (bytes or str), followed by `repeat_last` copies of the last
    one (TensorFlow pads a short string list of a TensorProto that way). Enough to check names, types, shapes,
    batch sizes, image sizes (from encoded headers) and the request's budgets."""

    dtype: int
    shape: tuple
    strings: Optional[Sequence] = None
    repeat_last: int = 0

    @classmethod
    def of_array(cls, array: np.ndarray) -> "Declared":
        dtype = _array_dtype(array)
        return cls(dtype, tuple(array.shape), array.reshape(-1) if dtype == types_pb2.DT_STRING else None)

    @property
    def nbytes(self) -> int:
        """Bytes of the array this input becomes: its strings' lengths, or elements times the item size."""
        if self.strings is not None:
            last = len(_as_bytes(self.strings[-1])) if self.repeat_last else 0
            return sum(len(_as_bytes(value)) for value in self.strings) + self.repeat_last * last
        return math.prod(self.shape) * tf.dtypes.as_dtype(self.dtype).size


class Predictor:
    """Validates inputs against a signature and the server's limits, runs it and returns its outputs; shared by
    gRPC and REST.

    Limits: `max_pixels` per image; per request `max_request_pixels` (all images together; default the larger of
    DEFAULT_MAX_REQUEST_PIXELS and `max_pixels`), `max_batch_size` (first dimension of batched inputs) and
    `max_request_bytes` (the inputs as arrays). All are checked from declared shapes and image headers by `check`,
    before any array is made (gRPC) and before the model runs.
    """

    def __init__(self, manager: ModelManager, max_pixels: int, *, max_request_pixels: Optional[int] = None,
                 max_batch_size: int = DEFAULT_MAX_BATCH_SIZE, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES):
        self.manager = manager
        self.max_pixels = max_pixels
        self.max_request_pixels = (max(DEFAULT_MAX_REQUEST_PIXELS, max_pixels) if max_request_pixels is None
                                   else max_request_pixels)
        self.max_batch_size = max_batch_size
        self.max_request_bytes = max_request_bytes

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

    def check(self, servable: Servable, signature_name: str, declared: Mapping[str, Declared],
              output_filter: tuple = ()) -> None:
        """Checks a request from its declared inputs (names, dtypes, shapes, batch sizes, image sizes, the request's
        budgets, the output filter), without making any array.

        Raises:
            ServingError: INVALID_ARGUMENT for anything wrong with the request (FAILED_PRECONDITION for an unknown
                signature).
        """
        signature_def = self.signature(servable, signature_name)
        where = f"signature {signature_name!r}"
        expected = signature_def.inputs
        missing, unknown = sorted(set(expected) - set(declared)), sorted(set(declared) - set(expected))
        if missing or unknown:
            problems = ([f"missing {missing}"] if missing else []) + ([f"unknown {unknown}"] if unknown else [])
            raise invalid_argument(f"{where} takes the inputs {sorted(expected)}; received {sorted(declared)} "
                                   f"({', '.join(problems)})", code="bad_input_names")
        for key in sorted(expected):
            info, given = expected[key], declared[key]
            spec = proto_shape(info.tensor_shape)
            if given.dtype != info.dtype or not shape_fits(spec, given.shape):
                raise invalid_argument(f"input {key!r} of {where} must be {dtype_name(info.dtype)} with shape "
                                       f"{shape_text(spec)}; received {dtype_name(given.dtype)} with shape "
                                       f"{shape_text(given.shape)}", code="bad_input_type")
        self._check_batch(where, expected, declared)
        self._check_images(declared)
        self._check_bytes(declared)
        unknown_outputs = sorted(set(output_filter) - set(signature_def.outputs))
        if unknown_outputs:
            raise invalid_argument(f"output_filter names {unknown_outputs}, which {where} does not have; its "
                                   f"outputs: {sorted(signature_def.outputs)}", code="unknown_output")

    def run(self, servable: Servable, signature_name: str, inputs: Mapping[str, np.ndarray],
            output_filter: tuple = ()) -> dict:
        """Checks `inputs` (as `check` does) and runs the signature.

        Returns:
            output name -> numpy array.
        Raises:
            ServingError: with INVALID_ARGUMENT for anything wrong with the request.
        """
        self.check(servable, signature_name, {key: Declared.of_array(value) for key, value in inputs.items()},
                   output_filter)
        where = f"signature {signature_name!r}"
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

    def _check_batch(self, where: str, expected, declared: Mapping[str, Declared]) -> None:
        """Inputs whose first dimension is unknown in the signature are batched together: sizes must agree and stay
        within max_batch_size."""
        sizes = {key: declared[key].shape[0] for key, info in expected.items()
                 if not info.tensor_shape.unknown_rank and info.tensor_shape.dim
                 and info.tensor_shape.dim[0].size < 0}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{k} has {n}" for k, n in sorted(sizes.items()))
            raise invalid_argument(f"the batched inputs of {where} must have the same first dimension; received "
                                   f"{listed}", code="batch_size_mismatch")
        for key, size in sorted(sizes.items()):
            if size > self.max_batch_size:
                raise invalid_argument(f"input {key!r} of {where} has a batch of {size}, over this server's limit "
                                       f"of {self.max_batch_size} per request (--max_batch_size); send smaller "
                                       f"batches", code="batch_too_large")

    def _check_images(self, declared: Mapping[str, Declared]) -> None:
        """Every string input is encoded images (the i2i_keras contract): sizes from their headers; float inputs of
        rank 4 are [batch, height, width, channels] images. Each image within max_pixels, all of them together
        within max_request_pixels."""
        total, parts = 0, []
        for key in sorted(declared):
            given = declared[key]
            if given.strings is not None:
                pixels = last = 0
                for index, data in enumerate(given.strings):
                    data = _as_bytes(data)
                    try:
                        kind, width, height = encoded_image_size(data)
                    except ImageHeaderError as err:
                        raise invalid_argument(f"input {key!r}{_index(given.shape, index)}: {err}",
                                               code=err.code) from None
                    self._check_pixels(f"input {key!r}{_index(given.shape, index)}: {kind} image", width, height)
                    last = width * height
                    pixels += last
                pixels += given.repeat_last * last
                parts.append(f"input {key!r}: {len(given.strings) + given.repeat_last} encoded images, {pixels} "
                             f"pixels")
                total += pixels
            elif len(given.shape) == 4 and given.dtype in _FLOAT_TYPES:
                batch, height, width, _ = given.shape
                self._check_pixels(f"input {key!r}: float image", width, height)
                parts.append(f"input {key!r}: {batch} float images of {width}x{height}")
                total += batch * height * width
        if total > self.max_request_pixels:
            raise invalid_argument(f"the request's images have {total} pixels in all ({'; '.join(parts)}), over "
                                   f"this server's limit of {self.max_request_pixels} pixels per request "
                                   f"(--max_request_pixels); send fewer or smaller images per request",
                                   code="request_too_many_pixels")

    def _check_pixels(self, what: str, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise invalid_argument(f"{what} is {width}x{height} = {width * height} pixels, over this server's "
                                   f"limit of {self.max_pixels} pixels (--max_pixels)", code="image_too_large")

    def _check_bytes(self, declared: Mapping[str, Declared]) -> None:
        sizes = {key: given.nbytes for key, given in sorted(declared.items())}
        total = sum(sizes.values())
        if total > self.max_request_bytes:
            parts = "; ".join(f"input {key!r}: {dtype_name(declared[key].dtype)} {shape_text(declared[key].shape)}, "
                              f"{size} bytes" for key, size in sizes.items())
            raise invalid_argument(f"the request's inputs take {total} bytes ({parts}), over this server's limit "
                                   f"of {self.max_request_bytes} bytes per request (--max_request_bytes)",
                                   code="request_too_large")


def _as_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _index(shape: tuple, flat_index: int) -> str:
    if not shape:
        return ""
    return "[" + ", ".join(str(i) for i in np.unravel_index(flat_index, shape)) + "]"
