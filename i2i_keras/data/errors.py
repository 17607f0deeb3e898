"""The data layer's exception type, defined with the library's other error types in `i2i_keras.errors`."""

from i2i_keras.errors import DataError

__all__ = ["DataError"]
