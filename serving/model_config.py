"""The development server's model configuration: one `ModelConfig` per served model, from arguments or from a
TF Serving model config file (text `ModelServerConfig`)."""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Optional

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from .errors import ConfigError, ConfigFileNotFoundError


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model: TF Serving's `ModelConfig` fields that the development server honours.

    `policy` is "latest" (the `num_versions` highest versions), "all", or "specific" (`versions`).
    """

    name: str
    base_path: str
    policy: str = "latest"
    num_versions: int = 1
    versions: tuple = ()
    labels: Mapping[str, int] = dataclasses.field(default_factory=dict)


def resolve_path(path: str) -> str:
    """Local paths made absolute (relative to the current directory); URLs such as gs://... kept as they are."""
    return path if "://" in path else os.path.abspath(path)


def read_model_config_file(path: str) -> list:
    """Parses a TF Serving model config file (text `ModelServerConfig` with a `model_config_list`).

    Relative `base_path`s are resolved against the current directory, as tensorflow_model_server does.

    Raises:
        ConfigFileNotFoundError (a FileNotFoundError and a ConfigError): the file does not exist.
        ConfigError (a ValueError): it cannot be read or parsed, has no models, or uses something the development
            server does not support.
    """
    if not os.path.isfile(path):
        raise ConfigFileNotFoundError(f"{path}: no such model config file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the model config file ({err})", code="unreadable_config") from None
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        raise ConfigError(f"{path}: not a text ModelServerConfig ({err})") from None
    if config.WhichOneof("config") != "model_config_list" or not config.model_config_list.config:
        raise ConfigError(f"{path}: expected `model_config_list {{ config {{ name: ... base_path: ... }} }}` "
                          f"with at least one model")
    models = []
    for entry in config.model_config_list.config:
        where = f"{path}: model {entry.name!r}"
        if not entry.name or not entry.base_path:
            raise ConfigError(f"{path}: every model config needs `name` and `base_path`; received "
                              f"name={entry.name!r} base_path={entry.base_path!r}")
        if entry.model_platform not in ("", "tensorflow"):
            raise ConfigError(f"{where}: model_platform must be 'tensorflow'; received {entry.model_platform!r}")
        policy = entry.model_version_policy
        kind = policy.WhichOneof("policy_choice") or "latest"
        num_versions, versions = 1, ()
        if kind == "latest":
            num_versions = policy.latest.num_versions or 1
        elif kind == "specific":
            versions = tuple(sorted(int(v) for v in policy.specific.versions))
            if not versions:
                raise ConfigError(f"{where}: `specific` version policy lists no versions")
        labels = {label: int(version) for label, version in entry.version_labels.items()}
        models.append(ModelConfig(entry.name, resolve_path(entry.base_path), kind, num_versions, versions,
                                  labels))
    names = [m.name for m in models]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{path}: model names must be unique; repeated: {duplicates}")
    return models


def model_configs(model_base_path: Optional[str], model_name: str, models: Optional[Mapping[str, str]],
                  model_config_file: Optional[str]) -> list:
    """The ModelConfigs of exactly one source: `model_base_path` (served as `model_name`), `models` (name -> base
    path) or `model_config_file`.

    Raises:
        ConfigError: not exactly one source, no models, a bad model name, or a bad config file.
    """
    sources = [s for s in (model_base_path, models, model_config_file) if s is not None]
    if len(sources) != 1:
        raise ConfigError(f"give exactly one of model_base_path, models or model_config_file; received "
                          f"model_base_path={model_base_path!r}, models={models!r}, "
                          f"model_config_file={model_config_file!r}", code="bad_argument")
    if model_config_file is not None:
        return read_model_config_file(model_config_file)
    pairs = {model_name: model_base_path} if model_base_path is not None else dict(models)
    if not pairs:
        raise ConfigError("models is empty; give at least one name -> base path", code="bad_argument")
    for name in pairs:
        if not name or not isinstance(name, str) or "/" in name or ":" in name:
            raise ConfigError(f"model names must be non-empty strings without '/' or ':'; received {name!r}",
                              code="bad_argument")
    return [ModelConfig(name, resolve_path(os.fspath(path))) for name, path in pairs.items()]
