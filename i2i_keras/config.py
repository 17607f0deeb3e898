"""Typed experiment configuration: YAML files -> dataclasses, with dotted overrides and strict validation.

A config has six sections. Only ``model`` (constructor keyword arguments) and ``loss_weights`` reach the method;
networks never see the data or training sections.

    method: pix2pix
    model: {image_channels: 3, base_filters: 64}
    loss_weights: {g_adv: 1.0, g_l1: 100.0}
    optim: {g_lr: 2.0e-4, ...}
    data: {spec: null, crop_size: 256, ...}
    train: {steps: 1000, batch_size: 1, ...}

A file may start with ``base: other.yaml`` (a path relative to the file) to inherit and override another config.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import math
import os
from typing import Any, Optional

import yaml

from i2i_keras.errors import ConfigError  # re-exported: `from i2i_keras.config import ConfigError`


@dataclasses.dataclass
class OptimConfig:
    """Adam settings for the generator side (``g_*``) and the discriminator side (``d_*``)."""

    g_lr: float = 2.0e-4
    d_lr: float = 2.0e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    # Adam's epsilon (Keras' default 1e-7; the TF style-transfer tutorial's Adam uses 0.1).
    epsilon: float = 1.0e-7
    # "adam", or "lbfgs" (`i2i_keras.training.lbfgs.LBFGS`: one gradient per step, for `nst`, the paper's
    # optimiser; its step size is the learning rate).
    optimizer: str = "adam"
    # "constant" or "linear": constant for the first `decay_start` fraction of training, then linearly to zero
    # (the CycleGAN/pix2pix "lambda" policy: n_epochs constant + n_epochs_decay linear).
    schedule: str = "constant"
    decay_start: float = 0.5


@dataclasses.dataclass
class DataConfig:
    """Where images come from and how they are turned into training batches."""

    # A folder, a glob of TFRecord shards, "tfds:NAME[/CONFIG][:SPLIT]", "embedded:NAME", or None for the
    # embedded default data set that fits the method's data kind.
    spec: Optional[str] = None
    # Optional separate evaluation data (same forms as `spec`); None uses the spec's test/ or val/ split if any.
    eval_spec: Optional[str] = None
    # Paired layout: "auto", "ab" (source and target side by side in one image), or "folders" (two folders with
    # matching file names).
    layout: str = "auto"
    # Which half of an AB image is the source: "a2b" (left -> right) or "b2a".
    direction: str = "a2b"
    # For unpaired data: the two sub-folder names (default trainA/trainB or the first two domains).
    # For multi-domain data: the domain (folder or attribute) names to use, in label order.
    domains: Optional[list] = None
    channels: int = 3
    # "resize_and_crop" (resize to load_size, random crop crop_size), "crop" (random crop only),
    # "resize" (resize straight to crop_size), or "none" (use images as they are; they must share a size).
    preprocess: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    # Super-resolution: the high-res crop is downscaled by this factor to make the low-res input.
    scale: int = 4
    shuffle_buffer: int = 512
    # Images whose header declares more pixels than this are refused before decoding (0: no limit): a 2 MB PNG can
    # declare 40000x40000 pixels and exhaust memory when decoded.
    max_pixels: int = 50_000_000


@dataclasses.dataclass
class TrainConfig:
    steps: int = 1000
    # Per-replica batch size; the global batch is batch_size * number of replicas.
    batch_size: int = 1
    steps_per_epoch: int = 100
    seed: int = 0
    # Write PNG sample grids and TensorBoard image grids every this many steps (0: only at the end).
    sample_every: int = 500
    # Write a full-state checkpoint every this many steps (and always at the end).
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    # None/"float32", "mixed_bfloat16" or "mixed_float16".
    mixed_precision: Optional[str] = None
    # Evaluate on the eval split at the end of training, this many batches (0 disables).
    eval_batches: int = 4
    # What a non-finite (NaN/inf) loss does: "stop" ends training at that step with an error (the last finite
    # checkpoint is kept, nothing is exported); "skip_step" does not apply that step's update (an update whose
    # losses or gradients are not finite), counts and logs it, and trains on.
    on_nonfinite: str = "stop"


@dataclasses.dataclass
class ExperimentConfig:
    method: str
    model: dict = dataclasses.field(default_factory=dict)
    loss_weights: dict = dataclasses.field(default_factory=dict)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_SECTIONS = {"optim": OptimConfig, "data": DataConfig, "train": TrainConfig}
_FREE_SECTIONS = ("model", "loss_weights")
_TOP_KEYS = ("method",) + _FREE_SECTIONS + tuple(_SECTIONS)


def _read_yaml(path: str, _seen: Optional[set] = None) -> dict:
    """Reads a YAML config, resolving `base:` inheritance (deep merge, child wins)."""
    _seen = set() if _seen is None else _seen
    from i2i_keras import storage  # lazy: it imports TensorFlow, which a config check does not need

    real = os.path.realpath(path) if storage.is_local(path) else path
    if real in _seen:
        raise ConfigError(f"Config inheritance loops back to {path!r}.", code="base_loop")
    _seen.add(real)
    if not storage.exists(path) or storage.isdir(path):
        raise ConfigError(f"Config file not found. Received: config={path!r}", code="config_not_found")
    try:
        text = storage.read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"Config file {path!r} is not UTF-8 text (byte {e.start}); save it as UTF-8",
                          code="not_utf8") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"Config file {path!r} is not valid YAML: {e}", code="bad_yaml") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path!r} must hold a mapping at the top level. Received: {type(raw).__name__}",
                          code="bad_structure")
    base = raw.pop("base", None)
    if base is None:
        return raw
    base_path = os.path.join(os.path.dirname(path), base)
    return _deep_merge(_read_yaml(base_path, _seen), raw)


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _coerce(value: Any, field_type: Any, where: str) -> Any:
    """Checks a value against a dataclass field's annotated type (annotations are strings here)."""
    t = str(field_type)
    if value is None:
        if t.startswith("Optional"):
            return None
        raise ConfigError(f"`{where}` must not be null. Received: {where}=None", code="bad_type")
    base_t = t[len("Optional["):-1] if t.startswith("Optional[") else t
    if base_t == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"`{where}` must be true or false. Received: {where}={value!r}", code="bad_type")
        return value
    if base_t == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"`{where}` must be an integer. Received: {where}={value!r}", code="bad_type")
        return value
    if base_t == "float":
        if isinstance(value, str):
            # YAML 1.1 reads `1e-3` (no dot) as a string; accept any numeric text for float fields.
            value = _number_text(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"`{where}` must be a number. Received: {where}={value!r}", code="bad_type")
        return _finite(float(value), where)
    if base_t == "str":
        if not isinstance(value, str):
            raise ConfigError(f"`{where}` must be a string. Received: {where}={value!r}", code="bad_type")
        return value
    if base_t == "list":
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"`{where}` must be a list. Received: {where}={value!r}", code="bad_type")
        return list(value)
    return value


def _number_text(text: str) -> Any:
    """`text` as a float when it is numeric text (YAML 1.1 reads `1e-3` as a string), else unchanged."""
    try:
        return float(text)
    except ValueError:
        return text


def _finite(value: float, where: str) -> float:
    if not math.isfinite(value):
        raise ConfigError(f"`{where}` must be a finite number. Received: {where}={value!r}", code="non_finite")
    return value


def _check_finite(value: Any, where: str) -> None:
    """Rejects NaN and infinity anywhere in a raw config value (numbers, lists, nested mappings)."""
    if isinstance(value, float):
        _finite(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_finite(item, f"{where}[{index}]")


def _build_section(cls, values: Any, section: str):
    if not isinstance(values, dict):
        raise ConfigError(f"Config section `{section}` must be a mapping. Received: {section}={values!r}",
                          code="bad_structure")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"Unknown config key `{section}.{unknown[0]}`. Allowed keys in `{section}`: {sorted(fields)}. "
            f"Received: {section}.{unknown[0]}={values[unknown[0]]!r}"
        , code="unknown_key")
    kwargs = {k: _coerce(v, fields[k].type, f"{section}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def parse_value(text: str) -> Any:
    """Parses the right-hand side of `--set key=value` with YAML rules (numbers, booleans, null, lists)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Applies `a.b=c` overrides to a raw config dict; keys are checked later by `from_dict`."""
    raw = copy.deepcopy(raw)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"Overrides must look like `section.key=value`. Received: --set {item!r}",
                              code="bad_override")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        if parts[0] not in _TOP_KEYS:
            raise ConfigError(
                f"Unknown config section `{parts[0]}` in override. Allowed: {list(_TOP_KEYS)}. Received: --set {item!r}"
            , code="unknown_key")
        if parts[0] == "method":
            if len(parts) != 1:
                raise ConfigError(f"`method` has no sub-keys. Received: --set {item!r}", code="bad_override")
            raw["method"] = text.strip()
            continue
        if len(parts) != 2:
            raise ConfigError(f"Overrides take the form `section.key=value`. Received: --set {item!r}",
                              code="bad_override")
        section = raw.setdefault(parts[0], {})
        if section is None:
            section = raw[parts[0]] = {}
        section[parts[1]] = parse_value(text)
    return raw


def from_dict(raw: dict) -> ExperimentConfig:
    """Builds and validates an ExperimentConfig (sections and keys; method-level keys are checked by the method)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"A config must be a mapping. Received: {type(raw).__name__}", code="bad_structure")
    unknown = sorted(set(raw) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(
            f"Unknown top-level config key `{unknown[0]}`. Allowed: {list(_TOP_KEYS)}. Received: {unknown[0]}="
            f"{raw[unknown[0]]!r}"
        , code="unknown_key")
    _check_finite(raw, "")
    method = raw.get("method")
    if not isinstance(method, str) or not method:
        raise ConfigError(f"A config must name its `method`. Received: method={method!r}", code="missing_method")
    kwargs: dict[str, Any] = {"method": method}
    for name in _FREE_SECTIONS:
        value = raw.get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"Config section `{name}` must be a mapping. Received: {name}={value!r}",
                              code="bad_structure")
        kwargs[name] = dict(value)
    for key, value in kwargs["loss_weights"].items():
        if isinstance(value, str):  # YAML 1.1 reads `1e2` as a string; the method turns numeric text into a float
            number = _number_text(value)
            if isinstance(number, float):
                _finite(number, f"loss_weights.{key}")
    for name, cls in _SECTIONS.items():
        kwargs[name] = _build_section(cls, raw.get(name) or {}, name)
    cfg = ExperimentConfig(**kwargs)
    validate(cfg)
    return cfg


def validate(cfg: ExperimentConfig) -> None:
    """Range and choice checks that do not need the method class."""
    d, t, o = cfg.data, cfg.train, cfg.optim
    choices = {
        "data.layout": (d.layout, ("auto", "ab", "folders")),
        "data.direction": (d.direction, ("a2b", "b2a")),
        "data.preprocess": (d.preprocess, ("resize_and_crop", "crop", "resize", "none")),
        "optim.schedule": (o.schedule, ("constant", "linear")),
        "optim.optimizer": (o.optimizer, ("adam", "lbfgs")),
        "train.on_nonfinite": (t.on_nonfinite, ("stop", "skip_step")),
        "train.mixed_precision": (t.mixed_precision, (None, "float32", "mixed_bfloat16", "mixed_float16")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(f"`{key}` must be one of {list(allowed)}. Received: {key}={value!r}", code="bad_value")
    positive = {
        "data.crop_size": d.crop_size,
        "data.load_size": d.load_size,
        "data.scale": d.scale,
        "data.shuffle_buffer": d.shuffle_buffer,
        "train.steps": t.steps,
        "train.batch_size": t.batch_size,
        "train.steps_per_epoch": t.steps_per_epoch,
        "train.keep_checkpoints": t.keep_checkpoints,
        "optim.g_lr": o.g_lr,
        "optim.d_lr": o.d_lr,
        "optim.epsilon": o.epsilon,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"`{key}` must be positive. Received: {key}={value!r}", code="bad_value")
    if d.channels not in (1, 3):
        raise ConfigError(f"`data.channels` must be 1 or 3. Received: data.channels={d.channels!r}", code="bad_value")
    if d.preprocess == "resize_and_crop" and d.load_size < d.crop_size:
        raise ConfigError(
            f"`data.load_size` must be >= `data.crop_size` for resize_and_crop. "
            f"Received: data.load_size={d.load_size}, data.crop_size={d.crop_size}", code="bad_value"
        )
    if d.max_pixels < 0:
        raise ConfigError(f"`data.max_pixels` must be >= 0 (0: no limit). Received: data.max_pixels={d.max_pixels!r}",
                          code="bad_value")
    if not 0.0 <= o.decay_start <= 1.0:
        raise ConfigError(f"`optim.decay_start` must be in [0, 1]. Received: optim.decay_start={o.decay_start!r}",
                          code="bad_value")
    for key in ("sample_every", "checkpoint_every", "eval_batches"):
        if getattr(t, key) < 0:
            raise ConfigError(f"`train.{key}` must be >= 0. Received: train.{key}={getattr(t, key)!r}",
                              code="bad_value")


def load_config(path: Optional[str] = None, overrides: Optional[list[str]] = None, method: Optional[str] = None) -> ExperimentConfig:
    """Loads a config file (or an empty one naming `method`), applies `--set` overrides and validates it."""
    raw: dict = _read_yaml(path) if path else {}
    if method is not None:
        if raw.get("method") not in (None, method):
            raise ConfigError(
                f"--method {method!r} does not match the config file's method {raw.get('method')!r} ({path})."
            , code="method_mismatch")
        raw["method"] = method
    return from_dict(apply_overrides(raw, overrides or []))


def set_image_size(cfg: ExperimentConfig, size: int) -> None:
    """`--image-size S`: crop to S, and resize to S*286/256 first (the papers' 286 -> 256 jitter ratio)."""
    if size <= 0:
        raise ConfigError(f"--image-size must be positive. Received: {size}", code="bad_value")
    cfg.data.crop_size = size
    cfg.data.load_size = max(size, int(round(size * 286 / 256)))


def _configs_candidates() -> list:
    """Where the configs folder may be, in order: the installed package data `i2i_keras/configs` (a wheel, or an
    editable install that maps it to the checkout's `configs/`), then the `configs/` folder of the source checkout
    this package sits in (only next to a setup.py, never an unrelated `configs/` beside site-packages' i2i_keras)."""
    candidates = []
    try:
        spec = importlib.util.find_spec(f"{__package__}.configs")
    except ImportError:  # pragma: no cover - a broken meta path finder
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(spec.submodule_search_locations)
    here = os.path.dirname(os.path.abspath(__file__))
    candidates.append(os.path.join(here, "configs"))
    checkout = os.path.dirname(here)
    if os.path.isfile(os.path.join(checkout, "setup.py")):
        candidates.append(os.path.join(checkout, "configs"))
    return list(dict.fromkeys(candidates))


def configs_root() -> str:
    """The configs folder (`configs/` of the checkout, installed as the package data `i2i_keras/configs`).

    Raises:
        ConfigError: (code ``missing_configs``) it is in none of the places looked in, which the message names.
    """
    candidates = _configs_candidates()
    for candidate in candidates:
        if os.path.isdir(candidate):
            return candidate
    raise ConfigError(f"The configs folder is missing. Looked in: {candidates}", code="missing_configs")


def default_config_path(method: str) -> str:
    """`configs/<method>/default.yaml`: the config `--method NAME` uses when no `--config` is given.

    Raises:
        ConfigError: (code ``missing_default_config``) the file does not exist; the message names the path looked
            for. There is no fallback to the dataclass defaults: they are not a method's configuration.
    """
    try:
        looked_for = [os.path.join(configs_root(), method, "default.yaml")]
    except ConfigError:
        looked_for = [os.path.join(c, method, "default.yaml") for c in _configs_candidates()]
    if not os.path.isfile(looked_for[0]):
        where = looked_for[0] if len(looked_for) == 1 else " or ".join(looked_for)
        raise ConfigError(
            f"No default config for method {method!r}: {where} does not exist. Pass --config FILE or add the file.",
            code="missing_default_config")
    return looked_for[0]


def model_option_defaults(method_class) -> dict:
    """The `model.*` options a method takes: constructor argument name -> default (`inspect.Parameter.empty` when
    it has none), from the method class up to (not including) `keras.Model`; the most derived class wins."""
    import inspect

    defaults: dict = {}
    for klass in method_class.__mro__:
        if klass.__module__.startswith("keras"):
            break
        if "__init__" in vars(klass):
            for param in inspect.signature(klass.__init__).parameters.values():
                if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name == "self":
                    continue
                defaults.setdefault(param.name, param.default)
    for name in ("loss_weights", "name"):  # set by the loop from other config sections
        defaults.pop(name, None)
    return defaults


def _model_option(value: Any, default: Any, where: str) -> Any:
    """`value` checked against the kind of the constructor default: bool, int, float (any finite number) or str."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"`{where}` must be true or false. Received: {where}={value!r}", code="bad_type")
    elif isinstance(default, int):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"`{where}` must be an integer. Received: {where}={value!r}", code="bad_type")
    elif isinstance(default, float):
        if isinstance(value, str):  # YAML 1.1 reads `1e-3` (no dot) as a string
            value = _number_text(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"`{where}` must be a number. Received: {where}={value!r}", code="bad_type")
        _finite(float(value), where)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"`{where}` must be a string. Received: {where}={value!r}", code="bad_type")
    return value


def check_model_options(cfg: ExperimentConfig) -> None:
    """Checks `cfg.model` against the method's constructor: every key must be one of its arguments, and a value
    must have the type of the argument's default (an int default wants an int, a float default a number, a bool
    default a bool, a str default a string; a None default takes anything). Integral floats for int options and
    numeric text for float options are converted in place.

    Raises:
        ConfigError: ``unknown_method``, ``unknown_key`` (not a constructor argument), ``bad_type`` or
            ``non_finite``; the message names the `model.<key>`.
    """
    import inspect

    from i2i_keras.registry import get_method

    defaults = model_option_defaults(get_method(cfg.method))
    for key in list(cfg.model):
        where = f"model.{key}"
        if key not in defaults:
            raise ConfigError(f"Unknown model option `{where}` for {cfg.method}. Allowed: {sorted(defaults)}. "
                              f"Received: {where}={cfg.model[key]!r}", code="unknown_key")
        default = defaults[key]
        if default is None or default is inspect.Parameter.empty:
            _check_finite(cfg.model[key], where)
            continue
        cfg.model[key] = _model_option(cfg.model[key], default, where)
