"""The TFX pipeline: ingestion -> Trainer -> evaluation (against the last blessed model) -> Pusher.

`create_pipeline` only wires components; the runners (`pipeline.run`, `local_runner.py`, `kubeflow_runner.py`)
resolve the configuration and choose the orchestrator.

    ImageIngest (Beam) --examples--> Trainer (run_fn: pipeline.trainer_module) --model--> ImageEvaluator --blessing-->
    Pusher (only blessed models, to <serving_model_dir>/<version>/)
    latest_blessed_model_resolver --baseline_model--> ImageEvaluator
"""

import json
from typing import Optional, Sequence

from tfx import v1 as tfx

from i2i_keras.config import ExperimentConfig
from i2i_keras.data import files
from i2i_keras.data import kinds
from i2i_keras.registry import get_method
from . import configs
from .components.evaluate import ImageEvaluator
from .components.evaluate import validate_thresholds
from .components.images_to_examples import IngestOptions
from .components.ingest import ImageIngest


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    cfg: ExperimentConfig,
    serving_model_dir: str,
    config_source: Optional[dict] = None,
    thresholds: Optional[dict] = None,
    eval_fraction: float = configs.DEFAULT_EVAL_FRACTION,
    max_reject_fraction: float = configs.DEFAULT_MAX_REJECT_FRACTION,
    min_image_size: int = 1,
    num_shards: int = 0,
    max_pixels: Optional[int] = None,
    report_dir: str = "",
    max_eval_examples: int = configs.DEFAULT_MAX_EVAL_EXAMPLES,
    data_fingerprint: str = "",
    beam_pipeline_args: Optional[Sequence[str]] = None,
    metadata_connection_config=None,
    enable_cache: bool = True,
) -> tfx.dsl.Pipeline:
    """Wires the pipeline for `cfg.method` on the images under `data_root`.

    Args:
        pipeline_name / pipeline_root: TFX pipeline name and artifact root.
        data_root: the image folder (see `pipeline.components.ingest` for the layouts of each data kind).
        cfg: the resolved experiment config (`configs.resolve_experiment`); `cfg.train.steps` become the Trainer's
            `train_args.num_steps`, the data section drives ingestion (layout, domains) and training.
        serving_model_dir: TF Serving model base path the Pusher writes versions into
            (`<serving root>/<model name>`).
        config_source: provenance recorded next to the config in the Trainer's custom_config.
        thresholds: blessing thresholds (`i2i_keras.evaluation.blessing`); default: the data kind's
            ``default_thresholds`` (`i2i_keras.data.kinds`).
        eval_fraction, max_reject_fraction, min_image_size, num_shards, max_pixels: ingestion options
            (`IngestOptions`); `max_pixels` None takes ``cfg.data.max_pixels`` (or the library's default).
        report_dir: a folder outside the pipeline root's artifacts for a copy of each ingestion report (what a
            failed ingestion's error names; "" for none).
        max_eval_examples: images per evaluated domain.
        data_fingerprint: `configs.data_fingerprint(data_root)`, so that changed data is not served from cache.
        beam_pipeline_args: Beam options for the ingestion (default `configs.DEFAULT_BEAM_ARGS`).
        metadata_connection_config: ML Metadata connection (local runs); None for Kubeflow.
        enable_cache: reuse unchanged components' outputs from earlier runs.

    Raises:
        ValueError: the method's data kind has no ingestion, or an option or threshold is invalid.
    """
    data_kind = get_method(cfg.method).data_kind
    max_pixels = files.max_pixels_of(cfg.data) if max_pixels is None else max_pixels
    # Validated here so that a bad option fails when the pipeline is built, not minutes later inside a component.
    IngestOptions(data_kind=data_kind, layout=cfg.data.layout, domains=tuple(cfg.data.domains or ()) or None,
                  eval_fraction=eval_fraction, max_reject_fraction=max_reject_fraction,
                  min_image_size=min_image_size, num_shards=num_shards, max_pixels=max_pixels)
    thresholds = validate_thresholds(data_kind, kinds.get(data_kind).default_thresholds if thresholds is None
                                     else thresholds)

    ingest = ImageIngest(
        data_root=data_root,
        data_kind=data_kind,
        layout=cfg.data.layout,
        domains=json.dumps(list(cfg.data.domains)) if cfg.data.domains else "",
        eval_fraction=float(eval_fraction),
        max_reject_fraction=float(max_reject_fraction),
        min_image_size=int(min_image_size),
        num_shards=int(num_shards),
        max_pixels=int(max_pixels),
        report_dir=report_dir,
        data_fingerprint=data_fingerprint,
    )
    trainer = tfx.components.Trainer(
        run_fn=configs.TRAINER_RUN_FN,
        examples=ingest.outputs["examples"],
        train_args=tfx.proto.TrainArgs(num_steps=cfg.train.steps),
        custom_config={"method": cfg.method, "config": cfg.to_dict(), "source": config_source or {}},
    )
    baseline = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = ImageEvaluator(
        model=trainer.outputs["model"],
        examples=ingest.outputs["examples"],
        baseline_model=baseline.outputs["model"],
        thresholds=json.dumps(thresholds, sort_keys=True),
        max_examples=int(max_eval_examples),
        seed=int(cfg.train.seed),
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=serving_model_dir)),
    )
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[ingest, trainer, baseline, evaluator, pusher],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(configs.DEFAULT_BEAM_ARGS if beam_pipeline_args is None else beam_pipeline_args),
    )
