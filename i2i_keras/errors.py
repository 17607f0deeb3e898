"""The library's own exception types: what the CLIs turn into one ``error:`` line and exit status 2.

Every type carries a machine-readable ``code`` (a short snake_case string) next to its one-line message, so
callers (ingestion reject reasons, the TFX evaluator, tests) branch on the code and never on message text.
Anything that is not an `I2IError` is a defect in the code (or in TensorFlow/Keras) and keeps its traceback.

The types also subclass ``ValueError`` (``RuntimeError`` for run-state errors), so code written against the
built-in types keeps working; but catching ``ValueError`` to mean "bad input" is what this module replaces.

| type | raised for | example codes |
| --- | --- | --- |
| `ConfigError` | a config file, override, flag or method name | ``unknown_key``, ``bad_value``, ``unknown_method`` |
| `DataError` | an image, folder, spec or record set | ``empty_file``, ``corrupt``, ``folder_not_found`` |
| `RequestError` | an inference request (images, modes, extra inputs, an export) | ``unknown_mode``, ``bad_input`` |
| `RunStateError` | a run directory or checkpoint that cannot be used | ``run_exists``, ``bad_checkpoint`` |
| `WeightsUnavailable` | pretrained weights that are asked for and absent | ``weights_unavailable``, ``bad_weights`` |
"""

from __future__ import annotations


class I2IError(Exception):
    """Base of the library's user-facing errors: a one-line message and a machine-readable `code`.

    Args:
        message: what is wrong, naming the thing (file, key, flag) and, where it helps, what was expected.
        code: a short snake_case reason code; the class's `default_code` when omitted.
    """

    default_code = "error"

    def __init__(self, message: str = "", *, code: str | None = None):
        self.code = code or self.default_code
        super().__init__(" ".join(str(message).split()))

    def __reduce__(self):  # picklable across Beam workers and processes, code included
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls, args, state):
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(I2IError, ValueError):
    """A configuration file, override, command-line flag or method name is invalid."""

    default_code = "invalid_config"


class DataError(I2IError, ValueError):
    """Input data is missing, unreadable or unusable.

    The message is always one line, ``"<path>: <reason>"``, so it can be grepped from logs and shown as is.

    Args:
        path: the file, folder, glob or spec the problem is about.
        reason: what is wrong with it (and, where it helps, what to do).
        code: the reason code (e.g. ``empty_file``, ``corrupt``, ``not_an_image``); ingestion reports it as the
            reject reason.
    """

    default_code = "invalid_data"

    def __init__(self, path: str, reason: str, *, code: str | None = None):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}", code=code)


class RequestError(I2IError, ValueError):
    """An inference request or the export it addresses is unusable (bad image, unknown mode, bad extra input)."""

    default_code = "invalid_request"


class RunStateError(I2IError, RuntimeError):
    """A run directory or checkpoint cannot be used as asked (exists already, finished, corrupt)."""

    default_code = "invalid_run_state"


class WeightsUnavailable(I2IError, ValueError):
    """Pretrained weights (VGG, LPIPS heads, the FID Inception network) that a config or metric needs are not on
    this machine or not usable; the message says where they were looked for and how to get them."""

    default_code = "weights_unavailable"


BUG_LINE = "i2i_keras: this is a bug, please report it with the traceback above"
EXIT_INPUT_ERROR = 2
EXIT_DEFECT = 1


def run_cli(body, debug: bool = False) -> int:
    """Runs a CLI's `body()` (returning its exit status) the way every i2i_keras CLI reports failures.

    An `I2IError` (bad input or run state) becomes one ``error: <message>`` line on stderr and exit status 2.
    Anything else is a defect: its traceback is printed, then `BUG_LINE`, and the status is 1. With `debug`, every
    exception propagates unchanged.
    """
    import sys
    import traceback

    try:
        return body()
    except I2IError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except Exception:  # noqa: BLE001 - reported as a defect, with its traceback, never as bad input
        if debug:
            raise
        traceback.print_exc()
        print(BUG_LINE, file=sys.stderr)
        return EXIT_DEFECT
