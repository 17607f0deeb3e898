"""Device set-up and strategy choice.

`MirroredStrategy` over every visible GPU; with no GPU, `devices=N` splits the CPU into N logical devices, which is
how tests exercise multi-replica code on a laptop or CI machine. `strategy_from_environment` adds
`MultiWorkerMirroredStrategy` when `TF_CONFIG` names several workers (the TFX Trainer uses it; so can the CLI).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Optional

import tensorflow as tf

from i2i_keras.errors import ConfigError


def check_devices(devices: Optional[int]) -> None:
    """`devices` is None (all GPUs) or a positive integer; 0 or a negative number is a ConfigError (``bad_value``),
    never "all"."""
    if devices is None:
        return
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        raise ConfigError(f"--devices must be a positive number of devices (omit it to use every GPU). "
                          f"Received: --devices {devices!r}", code="bad_value")


def configure_devices(devices: Optional[int]) -> None:
    """Splits the CPU into `devices` logical devices when there is no GPU. Call before TensorFlow runs anything."""
    check_devices(devices)
    if not devices or devices < 2 or tf.config.list_physical_devices("GPU"):
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    existing = tf.config.get_logical_device_configuration(cpu)
    if existing and len(existing) >= devices:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    except RuntimeError as e:  # the runtime is already initialised with fewer devices
        raise RuntimeError(f"Cannot split the CPU into {devices} devices after TensorFlow has started: {e}") from None


def strategy_for(devices: Optional[int] = None) -> tf.distribute.Strategy:
    """MirroredStrategy over all GPUs (or the first `devices` of them), over `devices` logical CPUs when there is no
    GPU and devices > 1, else the default (single-device) strategy."""
    check_devices(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        chosen = gpus[:devices] if devices else gpus
        if len(chosen) == 1:
            return tf.distribute.OneDeviceStrategy(chosen[0].name)
        return tf.distribute.MirroredStrategy([d.name for d in chosen])
    if devices and devices > 1:
        cpus = tf.config.list_logical_devices("CPU")
        if len(cpus) < devices:
            raise RuntimeError(f"Asked for {devices} devices but only {len(cpus)} logical CPU devices exist; "
                               f"call configure_devices({devices}) before TensorFlow starts.")
        # Ring all-reduce works on CPU devices; the default NCCL is GPU-only.
        return tf.distribute.MirroredStrategy([d.name for d in cpus[:devices]],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.get_strategy()


# ----------------------------------------------------------------------------------------------- multi-worker

_WORKER_TASKS = ("chief", "worker")


def _tf_config() -> dict:
    """The parsed ``TF_CONFIG`` environment variable ({} when unset or empty)."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        config = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({e}). Received: TF_CONFIG={text!r}",
                          code="bad_tf_config") from None
    if not isinstance(config, dict):
        raise ConfigError(f"TF_CONFIG must be a JSON object with `cluster` and `task`. Received: TF_CONFIG={text!r}",
                          code="bad_tf_config")
    return config


def num_workers_from_environment() -> int:
    """How many training processes `TF_CONFIG` names (chief + workers); 1 when it is unset."""
    cluster = _tf_config().get("cluster") or {}
    unsupported = sorted(set(cluster) - set(_WORKER_TASKS))
    if unsupported:
        # Parameter-server and evaluator jobs need a different strategy and a different training loop.
        raise ConfigError(f"TF_CONFIG names {unsupported} tasks; only synchronous 'chief'/'worker' clusters "
                          f"(MultiWorkerMirroredStrategy) are supported. Received: cluster={cluster}",
                          code="bad_tf_config")
    return sum(len(cluster.get(task) or []) for task in _WORKER_TASKS) or 1


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy whose `reduce` accepts what Keras 3's TF trainer passes it.

    Two calls of Keras 3 fail on the plain multi-worker strategy (github.com/tensorflow/tensorflow/issues/72388):
    it reduces the first (dict) batch before training (`_maybe_symbolic_build`), but the multi-worker strategy only
    reduces single values ("Attempt to convert a value ({'source': PerReplica...}) to a Tensor"); and it reduces
    every scalar log with ``axis=0`` ("Invalid reduction dimension 0 for input with 0 dimensions"). Here nested
    values are reduced leaf by leaf, in the fixed order of `tf.nest` (so the collectives of all workers stay in
    step), and scalars are reduced across replicas, which is what ``axis=0`` means for one value per replica.
    """

    def reduce(self, reduce_op, value, axis):
        base = tf.distribute.MultiWorkerMirroredStrategy.reduce

        def one(v):
            rank = self.experimental_local_results(v)[0].shape.rank
            return base(self, reduce_op, v, None if rank == 0 else axis)

        return tf.nest.map_structure(one, value)


def strategy_from_environment(devices: Optional[int] = None) -> tf.distribute.Strategy:
    """`MultiWorkerMirroredStrategy` when `TF_CONFIG` names more than one worker, else `strategy_for(devices)`.

    Call it before TensorFlow runs anything else in the process: collective ops are configured when the
    multi-worker strategy is created, and TensorFlow refuses to do that once its runtime has started. Every worker
    runs the same program; `is_chief` tells which one writes the final outputs (see `worker_output_dir`).
    """
    if num_workers_from_environment() > 1:
        # RING on CPU (gRPC between the workers), NCCL is picked automatically when there are GPUs.
        return _MultiWorkerMirroredStrategy()
    return strategy_for(devices)


def is_chief(strategy: Optional[tf.distribute.Strategy] = None) -> bool:
    """Whether this process writes the run's outputs: always, except on non-chief workers of a multi-worker run
    (the chief is task `chief`, or `worker` 0 when the cluster has no `chief`)."""
    resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def worker_output_dir(output_dir: str, strategy: Optional[tf.distribute.Strategy] = None) -> str:
    """`output_dir` on the chief; a fresh local temporary folder on other workers.

    Under MultiWorkerMirroredStrategy every worker must run the same saving code (reading synchronised variables,
    such as metric states, is a collective operation that all workers join), but only the chief's files are
    kept: the others write to a temporary folder that the caller deletes afterwards.
    """
    if is_chief(strategy):
        return output_dir
    resolver = (strategy or tf.distribute.get_strategy()).cluster_resolver
    return tempfile.mkdtemp(prefix=f"i2i-{resolver.task_type}{resolver.task_id}-")
