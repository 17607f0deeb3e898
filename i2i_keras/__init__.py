"""i2i_keras: image-to-image translation methods as Keras 3 models, with one training and serving contract."""

import os as _os
import sys as _sys
import warnings as _warnings

# TensorFlow's C++ start-up chatter (CUDA plugin registration "errors", oneDNN notices) would bury the CLIs' one-line
# errors: hidden unless `--debug` is on the command line. TensorFlow's real failures still reach Python as
# exceptions; set TF_CPP_MIN_LOG_LEVEL yourself before importing to see its C++ log.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if "--debug" in _sys.argv else "3")
# google-api-core (pulled in by TensorFlow's dependencies) warns on every import under Python 3.10, which TFX 1.16
# requires; the warning is about Google's support window, not about this code.
_warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.api_core")

__version__ = "0.1.0"

from i2i_keras.config import ExperimentConfig, load_config  # noqa: E402
from i2i_keras.registry import get_method, list_methods, register_method  # noqa: E402


def load_model(path: str):
    """`keras.saving.load_model` for a `model.keras` written by training, in any process: the method classes and the
    learning-rate schedule are registered with Keras's serialization when their modules are imported."""
    import keras

    import i2i_keras.methods  # noqa: F401
    import i2i_keras.training.schedules  # noqa: F401

    return keras.saving.load_model(path)


def build_model(cfg: ExperimentConfig, image_size=None):
    """Builds the method named by `cfg.method` from `cfg.model` and `cfg.loss_weights`."""
    from i2i_keras.methods.base import build_model as _build

    return _build(cfg, image_size=image_size)


def export_for_serving(model, path, **kwargs):
    from i2i_keras.export import export_for_serving as _export

    return _export(model, path, **kwargs)


__all__ = ["ExperimentConfig", "build_model", "export_for_serving", "get_method", "list_methods", "load_config",
           "load_model", "register_method"]
