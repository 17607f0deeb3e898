"""The data-kind registry: every data kind is declared once, here, and looked up everywhere else.

A kind (``paired``, ``unpaired``, ``multi_domain``, ``single``, ``sr``, and the ones later methods add) is one
`DataKind` object built in its own module of this package and registered with `register_kind`. It declares:

- ``batch_keys``: the keys of a training batch dict (what a method's ``train_step`` receives);
- ``record_keys``: the `schema` features a TFRecord example of the kind must carry;
- ``default_data``: the embedded data set used when ``data.spec`` is None;
- ``reader``: how a folder, a TFRecord glob and a TFDS data set become streams (`i2i_keras.data.sources`);
- ``ingestion``: how a folder is planned for ingestion (what pairs with what, what is a domain, which shard group
  an example goes to) and which groups every split must hold;
- ``metrics`` (name -> +1 higher is better / -1 lower is better), ``default_thresholds`` (blessing) and
  ``evaluator`` (the class in `i2i_keras.evaluation` that computes the metrics on an exported model);
- ``synthetic_batches``: small batches of the kind, for tests and benchmarks;
- ``summary_metrics`` (optional): figures added to a training run's final evaluation (e.g. ``sr``'s bicubic
  baseline).

Code outside this package (ingestion, the TFX trainer module and evaluator, the CLIs, tests) asks `get(name)` and
never compares a kind's name.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

import numpy as np

from i2i_keras.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Ingestion:
    """How ingestion lists a kind's folders (`i2i_keras.data.ingestion`).

    ``sources(root, split, layout=..., domains=...)`` returns one of the layouts `ingestion.plan_folder` plans,
    resolved exactly as the kind's folder reader resolves the folder. ``every_group_in_every_split``: a split that
    lacks one of the shard groups is unusable (unpaired data needs both domains in both splits).
    """

    sources: Callable[..., dict]
    every_group_in_every_split: bool = False


def batched(data: dict, batch: int):
    """A ``tf.data.Dataset`` of whole dict batches of `batch` rows from arrays (for `synthetic_batches`)."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(data).batch(batch, drop_remainder=True)


def smooth_images(rng: np.random.Generator, n: int, size: int, channels: int) -> np.ndarray:
    """Smooth random images in [-1, 1] (upsampled uniform noise): synthetic stand-ins for tests and benchmarks."""
    import tensorflow as tf

    low = rng.uniform(-1, 1, (n, max(1, size // 4), max(1, size // 4), channels)).astype("float32")
    return tf.image.resize(low, (size, size)).numpy()


@dataclasses.dataclass(frozen=True)
class DataKind:
    """One data kind's declaration (see the module docstring for each field)."""

    name: str
    description: str
    batch_keys: tuple
    record_keys: tuple
    default_data: str
    reader: Any
    ingestion: Ingestion
    metrics: Mapping[str, int]
    default_thresholds: Mapping[str, Mapping[str, float]]
    # A zero-argument function returning the evaluator class: evaluation code (and its imports) loads only when a
    # model is evaluated, and `i2i_keras.evaluation` may import this registry without a cycle.
    evaluator_factory: Callable[[], type]
    synthetic_batches: Callable[..., Any]
    # Label conventions travel with the data: e.g. multi-domain "onehot" vs "attributes"; None when not used.
    label_modes: tuple = ()
    # Domain folders to read from an embedded data set when none are named (e.g. two classes of a multi-class set).
    embedded_domains: Mapping[str, list] = dataclasses.field(default_factory=dict)
    # Extra figures of a training run's final evaluation (metrics.json, the train CLI's summary), e.g. a baseline
    # the kind's task is measured against: ``summary_metrics(model, dataset, batches) -> {name: float}``.
    summary_metrics: Optional[Callable[..., dict]] = None

    def evaluator(self) -> type:
        return self.evaluator_factory()

    def direction(self, metric: str) -> int:
        return self.metrics[metric]


_KINDS: dict = {}


def register_kind(kind: DataKind) -> DataKind:
    if kind.name in _KINDS:
        raise KeyError(f"Data kind {kind.name!r} registered twice.")
    for metric, direction in kind.metrics.items():
        if direction not in (1, -1):
            raise ValueError(f"Direction of metric {metric!r} of kind {kind.name!r} must be 1 or -1. "
                             f"Received: {direction!r}")
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> DataKind:
    """The declaration of data kind `name`; ConfigError listing the known kinds otherwise."""
    _ensure_kinds_imported()
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"Unknown data kind {name!r}. Known kinds: {sorted(_KINDS)}. Received: data_kind={name!r}",
                          code="unknown_data_kind") from None


def names() -> list:
    _ensure_kinds_imported()
    return sorted(_KINDS)


def find(name: Optional[str]) -> Optional[DataKind]:
    """`get(name)`, or None for an unknown kind (for reading metadata written by other versions)."""
    _ensure_kinds_imported()
    return _KINDS.get(name)


def _ensure_kinds_imported() -> None:
    # Each kind module registers itself; this package imports them explicitly (no scanning), like the methods.
    from i2i_keras.data.kinds import declarations  # noqa: F401
