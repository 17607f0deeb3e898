"""Device set-up and strategy choice.

`MirroredStrategy` over every visible GPU; with no GPU, `devices=N` splits the CPU into N logical devices, which is
how tests exercise multi-replica code on a laptop or CI machine.
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf


def configure_devices(devices: Optional[int]) -> None:
    """Splits the CPU into `devices` logical devices when there is no GPU. Call before TensorFlow runs anything."""
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
