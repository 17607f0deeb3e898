"""TFX Trainer module: `run_fn(fn_args)` adapts the Trainer's FnArgs to `i2i_keras.training.loop.run`.

No model, loss or data code lives here: the configuration, the datasets (`i2i_keras.data.make_dataset` on the
ingested TFRecords), the strategy (`i2i_keras.training.distribute`), the training loop and the export
(`i2i_keras.export.export_for_serving`) all come from the library.

``custom_config`` (set by `pipeline.pipeline.create_pipeline`):

- ``config``: the resolved experiment configuration as a dict (`ExperimentConfig.to_dict()`). The pipeline
  resolves the YAML file and ``--set`` overrides when it is built, so a typo fails before any component runs and
  remote trainers need no config file; ``config_path`` and ``overrides`` are kept next to it for the record.
- or, for hand-written pipelines: ``method``, ``config_path`` (optional) and ``overrides`` (optional list), loaded
  here with `i2i_keras.load_config`.

``train_args.num_steps`` (``fn_args.train_steps``), when set, overrides ``train.steps``.

What the Trainer's artifacts hold:

- Model (``<uri>/Format-Serving`` = ``fn_args.serving_model_dir``): the SavedModel itself, i.e. the content of one
  version directory of `export_for_serving` (``saved_model.pb``, ``variables/``, ``assets.extra/i2i_metadata.json``).
  The Pusher copies it to ``<serving base>/<model name>/<version>/``; the evaluator loads it with
  `i2i_keras.export.load_exported`, which accepts a version directory as is.
- ModelRun (``fn_args.model_run_dir``): the run directory of `loop.run` (config.yaml, checkpoints/, logs/ for
  TensorBoard, samples/, model.keras, metrics.json) and ``export/<version>/``, the same SavedModel under a
  TF Serving model base path.

Distribution: `strategy_from_environment` picks MultiWorkerMirroredStrategy when ``TF_CONFIG`` names several
workers, else MirroredStrategy over the GPUs (or the default strategy on one device). Every worker runs the same
code; only the chief writes into the artifacts, the others into a temporary folder that is removed at the end.
Under several workers, evaluation uses whole global batches only (the remainder of the eval split is skipped).
"""

import os
import shutil
from typing import TYPE_CHECKING, Any

from i2i_keras.config import ExperimentConfig
from i2i_keras.training import distribute

if TYPE_CHECKING:
    from tfx.components.trainer.fn_args_utils import FnArgs

SERVING_EXPORT_DIR = "export"


def _single_pattern(patterns: list, what: str) -> str:
    if len(patterns) != 1:
        from i2i_keras.errors import ConfigError

        raise ConfigError(f"The i2i Trainer reads one {what} split (one file pattern); "
                          f"Received: {what}_files={patterns!r}", code="bad_trainer_input")
    return patterns[0]


def resolve_config(custom_config: Any) -> ExperimentConfig:
    """The `ExperimentConfig` that `custom_config` describes (see the module docstring)."""
    from i2i_keras.config import ConfigError, from_dict, load_config

    if not isinstance(custom_config, dict):
        raise ConfigError(f"The Trainer's custom_config must be a dict with `config` or `method`. "
                          f"Received: custom_config={custom_config!r}")
    if custom_config.get("config") is not None:
        cfg = from_dict(custom_config["config"])
        method = custom_config.get("method")
        if method is not None and method != cfg.method:
            raise ConfigError(f"custom_config names method {method!r} but its config is for {cfg.method!r}.")
        return cfg
    if not custom_config.get("method"):
        raise ConfigError(f"The Trainer's custom_config needs `config` or `method`. "
                          f"Received: custom_config={custom_config!r}")
    return load_config(custom_config.get("config_path"), overrides=custom_config.get("overrides") or [],
                       method=custom_config["method"])


def run_fn(fn_args: "FnArgs") -> None:
    """Trains with the library's loop on the ingested TFRecords and exports the SavedModel to
    ``fn_args.serving_model_dir``."""
    # First, before TensorFlow runs anything: MultiWorkerMirroredStrategy must configure collectives at start-up.
    strategy = distribute.strategy_from_environment()

    import tensorflow as tf

    from i2i_keras.data import make_dataset
    from i2i_keras.export import export_for_serving
    from i2i_keras.registry import get_method
    from i2i_keras.training import loop

    cfg = resolve_config(fn_args.custom_config)
    if fn_args.train_steps:
        cfg.train.steps = int(fn_args.train_steps)
    data_kind = get_method(cfg.method).data_kind
    global_batch = cfg.train.batch_size * strategy.num_replicas_in_sync
    train_pattern = _single_pattern(fn_args.train_files, "train")

    def train(batch_size: int, skip_batches: int):
        # The loop picks the batch size (x critic steps for StarGAN-like methods) and the resume position.
        return make_dataset(train_pattern, data_kind, cfg.data, batch_size, seed=cfg.train.seed, training=True,
                            skip_batches=skip_batches)

    evaluation = make_dataset(_single_pattern(fn_args.eval_files, "eval"), data_kind, cfg.data, global_batch,
                              seed=cfg.train.seed, training=False)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # A last, smaller batch would reach the workers with different shapes, and Keras reduces batches across
        # workers (its symbolic build); so under multi-worker training only whole global batches are evaluated.
        evaluation = evaluation.unbatch().batch(global_batch, drop_remainder=True)
        if next(iter(evaluation.take(1)), None) is None:
            from i2i_keras.errors import DataError

            raise DataError(fn_args.eval_files[0], f"multi-worker evaluation needs at least one global batch "
                            f"({global_batch} examples) in the eval split", code="eval_split_too_small")

    chief = distribute.is_chief(strategy)
    run_dir = distribute.worker_output_dir(fn_args.model_run_dir, strategy)
    try:
        result = loop.run(cfg, run_dir, strategy=strategy, train_dataset=train, eval_dataset=evaluation,
                          export=False)
        version_dir = export_for_serving(result.model, os.path.join(run_dir, SERVING_EXPORT_DIR))
        if chief:
            _copy_tree(version_dir, fn_args.serving_model_dir)
    finally:
        if not chief:
            shutil.rmtree(run_dir, ignore_errors=True)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # A barrier (an all-reduce every worker joins): no worker returns, and has TFX check that the model
        # exists, before the chief has written it.
        strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)


def _copy_tree(source: str, target: str) -> None:
    """Copies a SavedModel directory with `tf.io.gfile` (local, GCS, HDFS ...), saved_model.pb last: servers and
    TFX treat its presence as "the model is complete"."""
    import tensorflow as tf

    files = []
    for parent, _, names in tf.io.gfile.walk(source):
        rel = os.path.relpath(parent, source)
        tf.io.gfile.makedirs(os.path.join(target, rel))
        files += [os.path.join(rel, n) for n in names]
    files.sort(key=lambda f: f == "saved_model.pb")
    for rel in files:
        tf.io.gfile.copy(os.path.join(source, rel), os.path.join(target, rel), overwrite=True)
