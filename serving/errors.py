"""The serving package's own exception types, and how its CLIs report them.

Every type carries a machine-readable `code` (a short snake_case string) next to its message, so callers branch on
the code, never on the text. The CLIs (`python -m <package>.client`, `python -m <package>.dev_server`) print one of
these as a single `error: ...` line and exit with status 2; any other exception is a defect: its traceback is shown,
followed by one line asking to report it.

- `ClientError`: a client call or CLI run that cannot be done (`bad_input`, `unknown_signature`,
  `connection_failed`, `timeout`, `not_found`, `bad_response`, ...).
- `ServingError`: a request the development server refuses; `status` is the gRPC status TF Serving would use
  (`bad_request`, `unknown_model`, `unknown_version`, `unknown_signature`, `image_too_large`, `batch_too_large`,
  `request_too_many_pixels`, `request_too_large`, `overloaded`, `request_timeout`, ...).
- `ConfigError` (also a `ValueError`): development-server arguments, a model config file, or a model without a
  loadable version (`bad_argument`, `bad_config`, `no_loadable_version`); `ConfigFileNotFoundError` (also a
  `FileNotFoundError`): a missing model config file (`config_not_found`).
- `BindError` (also an `OSError`): a port the development server cannot bind (`bind_failed`).
- `ImageHeaderError` (also a `ValueError`): bytes whose image header cannot be read (`not_an_image`,
  `corrupt_header`, `empty_image`).
"""

from __future__ import annotations

import sys
import traceback
from typing import Callable, Optional

from .common import first_line, one_line

# TF Serving's mapping of gRPC status codes to HTTP statuses (model_servers/http_rest_api_handler), by code name.
_HTTP_STATUS = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400, "NOT_FOUND": 404,
    "UNIMPLEMENTED": 501, "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "INTERNAL": 500, "UNKNOWN": 500,
}
# The code a ServingError gets from its gRPC status when the raising site gives none.
_STATUS_CODES = {
    "INVALID_ARGUMENT": "bad_request", "FAILED_PRECONDITION": "failed_precondition", "NOT_FOUND": "not_found",
    "UNIMPLEMENTED": "unimplemented", "RESOURCE_EXHAUSTED": "resource_exhausted", "INTERNAL": "internal",
}


class ServingToolError(Exception):
    """Base of the serving package's errors: a message for the user and a machine-readable `code`.

    Args:
        message: what is wrong, naming the thing (input, flag, model, file) and, where it helps, what was expected.
        code: a short snake_case reason code; the class's `default_code` when omitted.
    """

    default_code = "error"

    def __init__(self, message: str = "", *, code: Optional[str] = None):
        self.code = code or self.default_code
        self.message = str(message)
        super().__init__(self.message)


class ClientError(ServingToolError):
    """A client failure to report to the user as one line (bad arguments, a server's error, no server)."""

    default_code = "client_error"

    def __init__(self, message: str = "", *, code: Optional[str] = None):
        super().__init__(one_line(message), code=code)


class ServingError(ServingToolError):
    """A request failure with the gRPC status TF Serving would use (`status`, a grpc.StatusCode); REST maps it to
    an HTTP status (TF Serving's mapping unless `http_status` is given). `code` is the reason, derived from the
    status when the raising site gives none."""

    def __init__(self, status, message: str, *, code: Optional[str] = None, http_status: Optional[int] = None):
        super().__init__(message, code=code or _STATUS_CODES.get(status.name, status.name.lower()))
        self.status = status
        self._http_status = http_status

    @property
    def http_status(self) -> int:
        return self._http_status or _HTTP_STATUS.get(self.status.name, 500)


def invalid_argument(message: str, code: str = "bad_request") -> ServingError:
    """A ServingError with TF Serving's status for a bad request, INVALID_ARGUMENT (REST 400)."""
    import grpc  # here, not at the top: the client's REST path imports this module without grpc

    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message, code=code)


class ConfigError(ServingToolError, ValueError):
    """The development server cannot start as asked: a bad argument, model config file or model base path."""

    default_code = "bad_config"


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """The model config file does not exist."""

    default_code = "config_not_found"


class BindError(ServingToolError, OSError):
    """A port cannot be bound (in use, or not an address of this machine)."""

    default_code = "bind_failed"


class ImageHeaderError(ServingToolError, ValueError):
    """Encoded image bytes whose PNG/JPEG/GIF/BMP header cannot be read."""

    default_code = "corrupt_header"


def run_cli(body: Callable[[], int], program: str) -> int:
    """Runs a CLI's work: its own errors become one `error: ...` line on stderr and exit status 2; any other
    exception is a defect and keeps its traceback, followed by a line asking to report it (exit status 1)."""
    try:
        return body()
    except ServingToolError as err:
        print(f"error: {first_line(err)}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - a defect: shown in full, never as a one-line user error
        traceback.print_exc()
        print(f"{program}: internal error (a defect, not a problem with the input); please report it with the "
              f"traceback above", file=sys.stderr)
        return 1
