"""The explicit method registry: `--method NAME` resolves here or fails with the list of valid names."""

from __future__ import annotations

import keras

from i2i_keras.errors import ConfigError

_METHODS: dict[str, type] = {}


def register_method(name: str):
    """Class decorator: registers a TranslationModel subclass under `name` and for Keras serialization."""

    def decorator(cls):
        if name in _METHODS:
            raise KeyError(f"Method {name!r} registered twice ({_METHODS[name].__name__}, {cls.__name__}).")
        _METHODS[name] = cls
        cls.method_name = name
        return keras.saving.register_keras_serializable(package="i2i_keras")(cls)

    return decorator


def get_method(name: str) -> type:
    """Returns the class registered under `name`; raises ConfigError (a ValueError) listing the valid names otherwise."""
    _ensure_methods_imported()
    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"Unknown method {name!r}. Available: {sorted(_METHODS)}. Received: method={name!r}",
                          code="unknown_method") from None


def list_methods() -> list[str]:
    _ensure_methods_imported()
    return sorted(_METHODS)


def _ensure_methods_imported() -> None:
    # The methods package imports every method module explicitly; importing it fills the registry.
    from i2i_keras import methods  # noqa: F401
