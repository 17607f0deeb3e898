"""Pipeline constants and the few pure helpers the runners share. Model, data and training settings are not here:
they come from the library's configs (`configs/<method>/*.yaml`, `configs/tiny/*.yaml`) through
`resolve_experiment`, so nothing is configured twice."""

import hashlib
from typing import Optional

from i2i_keras.config import ConfigError
from i2i_keras.config import ExperimentConfig
from i2i_keras.config import default_config_path
from i2i_keras.config import load_config
from i2i_keras.evaluation.blessing import merge_thresholds  # noqa: F401  (the pipeline CLI's --threshold)

# The Trainer's run_fn, by module path: the package is installed wherever the pipeline runs (the local runner's
# environment, the Kubeflow image), so no module file has to be packaged and uploaded.
# Derived from this package's real name: `pipeline` in a checkout, `i2i_keras_pipeline` when installed.
TRAINER_RUN_FN = f"{__package__}.trainer_module.run_fn"
# TF Serving model name, i.e. the folder under the serving root: <serving root>/<MODEL_NAME>/<version>/.
MODEL_NAME = "i2i"
METADATA_FILE = "metadata.sqlite"
TFX_ROOT = "tfx"
SERVING_ROOT = "serving"
LAST_RUN_FILE = "last_run.json"
# <output root>/reports/: copies of the ingestion reports, outside the artifacts (TFX deletes a failed execution's).
REPORTS_ROOT = "reports"

# DirectRunner with one worker process per core: decoding and validating images is CPU-bound Python.
DEFAULT_BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")
DEFAULT_EVAL_FRACTION = 0.2
DEFAULT_MAX_REJECT_FRACTION = 0.05
DEFAULT_MAX_EVAL_EXAMPLES = 64
# Blessing defaults are declared by each data kind (`i2i_keras.data.kinds`: ``default_thresholds``, e.g. never
# worse than the last blessed model by more than so much); override or extend with --threshold METRIC.CHECK=VALUE.


def pipeline_name_for(method: str) -> str:
    return f"i2i-{method}".replace("_", "-")


def resolve_experiment(method: str, config_path: Optional[str] = None, overrides: Optional[list] = None,
                       steps: Optional[int] = None) -> ExperimentConfig:
    """The experiment config of a pipeline run: `config_path` (default ``configs/<method>/default.yaml``) with
    ``--set`` overrides and ``--steps``; validated now, before any component runs."""
    from i2i_keras.registry import get_method

    get_method(method)  # an unknown method is named as such, before any default config is looked for
    path = config_path or default_config_path(method)
    cfg = load_config(path, overrides=list(overrides or []), method=method)
    if steps is not None:
        if steps <= 0:
            raise ConfigError(f"--steps must be positive. Received: {steps}", code="bad_value")
        cfg.train.steps = int(steps)
    # The Trainer reads the ingested TFRecords; a data spec in the config would be ignored, so say so by clearing it.
    cfg.data.spec = None
    cfg.data.eval_spec = None
    return cfg


def min_image_size_for(cfg: ExperimentConfig) -> int:
    """The smallest usable image side: random crops without resizing (`data.preprocess: crop`) need the crop size,
    the resizing modes accept any size."""
    return cfg.data.crop_size if cfg.data.preprocess == "crop" else 1


def data_fingerprint(data_root: str) -> str:
    """A digest of every file's relative path, size and modification time under `data_root` (names only, no
    reads; any file system `tf.io.gfile` knows): part of the ingestion's cache key, so changed data is ingested
    again. "" when the folder is not reachable from here (e.g. compiling for Kubeflow away from the data)."""
    import tensorflow as tf

    from i2i_keras.data import files

    if not files.is_dir(data_root):
        return ""
    digest = hashlib.sha256()
    for parent, dirs, names in tf.io.gfile.walk(data_root):
        dirs.sort()
        for name in sorted(names):
            path = files.join(parent, name)
            try:
                stat = tf.io.gfile.stat(path)
            except tf.errors.OpError:
                continue
            digest.update(f"{files.relative(path, data_root)}\0{stat.length}\0{stat.mtime_nsec}\n".encode())
    return digest.hexdigest()
