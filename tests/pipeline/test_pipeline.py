"""Pipeline wiring, the runners' argument handling and errors, the Trainer module's config handling, and the
Kubeflow Pipelines V2 compilation (no cluster)."""

import json
import os

import pytest

pytest.importorskip("tfx", reason="the pipeline needs TFX (the Python 3.10 lane)")

from i2i_keras.config import ConfigError  # noqa: E402
from i2i_keras.config import load_config  # noqa: E402
from pipeline import configs  # noqa: E402
from pipeline import kubeflow_runner  # noqa: E402
from pipeline import run  # noqa: E402
from pipeline import trainer_module  # noqa: E402


def _args(tmp_path, *extra):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return run.build_parser().parse_args(["--method", "pix2pix", "--config", "configs/tiny/pix2pix.yaml",
                                          "--data", str(data), "--output", str(tmp_path / "out"), *extra])


def _exec_property(component, key):
    return component.exec_properties[key]


def test_pipeline_wiring(tmp_path):
    args = _args(tmp_path, "--steps", "3", "--set", "data.crop_size=24", "--threshold", "psnr.lower_bound=18",
                 "--beam-arg=--direct_running_mode=in_memory", "--serving-dir", str(tmp_path / "models"))
    pipeline = run.build_pipeline(args)
    components = {c.id: c for c in pipeline.components}
    assert set(components) == {"ImageIngest", "Trainer", "latest_blessed_model_resolver", "ImageEvaluator", "Pusher"}
    ingest, trainer, evaluator, pusher = (components[k] for k in ("ImageIngest", "Trainer", "ImageEvaluator",
                                                                   "Pusher"))
    resolver = components["latest_blessed_model_resolver"]
    assert pipeline.pipeline_info.pipeline_name == "i2i-pix2pix"
    assert pipeline.pipeline_info.pipeline_root == os.path.join(str(tmp_path / "out"), "tfx", "i2i-pix2pix")
    assert pipeline.beam_pipeline_args == [*configs.DEFAULT_BEAM_ARGS, "--direct_running_mode=in_memory"]

    assert _exec_property(ingest, "data_kind") == "paired"
    assert _exec_property(ingest, "data_root") == str(tmp_path / "data")
    assert _exec_property(ingest, "data_fingerprint") == configs.data_fingerprint(str(tmp_path / "data"))
    # The ingestion report's copy goes outside the artifacts, which TFX deletes when an execution fails.
    assert _exec_property(ingest, "report_dir") == os.path.join(str(tmp_path / "out"), "reports")
    assert _exec_property(ingest, "max_pixels") == 50_000_000
    limited = {c.id: c for c in run.build_pipeline(_args(tmp_path, "--max-pixels", "0")).components}
    assert _exec_property(limited["ImageIngest"], "max_pixels") == 0

    assert _exec_property(trainer, "run_fn") == "pipeline.trainer_module.run_fn"
    assert json.loads(_exec_property(trainer, "train_args"))["num_steps"] == 3
    custom = json.loads(_exec_property(trainer, "custom_config"))
    cfg = trainer_module.resolve_config(custom)
    assert cfg.method == "pix2pix" and cfg.train.steps == 3 and cfg.data.crop_size == 24
    assert custom["source"] == {"config_path": "configs/tiny/pix2pix.yaml", "overrides": ["data.crop_size=24"]}

    assert "LatestBlessedModelStrategy" in str(resolver.exec_properties["resolver_class"])
    assert evaluator.inputs["baseline_model"] is resolver.outputs["model"]
    assert evaluator.inputs["model"] is trainer.outputs["model"]
    assert json.loads(_exec_property(evaluator, "thresholds")) == {
        "psnr": {"lower_bound": 18.0, "max_regression": 1.0}}

    destination = json.loads(_exec_property(pusher, "push_destination"))
    assert destination["filesystem"]["base_directory"] == os.path.join(str(tmp_path / "models"), "i2i")
    assert pusher.inputs["model_blessing"] is evaluator.outputs["blessing"]


def test_bad_options_fail_when_the_pipeline_is_built(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown metric 'frechet_distance' for paired data"):
        run.build_pipeline(_args(tmp_path, "--threshold", "frechet_distance.upper_bound=3"))
    with pytest.raises(ValueError, match=r"`eval_fraction` must be in \(0, 1\)"):
        run.build_pipeline(_args(tmp_path, "--eval-fraction", "1.5"))
    with pytest.raises(ConfigError, match=r"--threshold takes METRIC.CHECK=VALUE"):
        run.build_pipeline(_args(tmp_path, "--threshold", "psnr=3"))
    with pytest.raises(ConfigError, match=r"Unknown config key `train.stepz`"):
        run.build_pipeline(_args(tmp_path, "--set", "train.stepz=3"))


def test_run_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    status = run.main(["--method", "pix2pix", "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "o")])
    assert status == run.EXIT_ERROR
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing'}: data folder not found"
    (tmp_path / "d").mkdir()
    status = run.main(["--method", "nosuch", "--data", str(tmp_path / "d"), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert status == run.EXIT_ERROR and err.startswith("error: ") and "nosuch" in err and "\n" not in err


def test_run_cli_shows_defects_with_their_traceback(tmp_path, capsys, monkeypatch):
    (tmp_path / "d").mkdir()

    def broken(*_, **__):
        raise ValueError("Incompatible shapes: [2,3] vs. [2,4]")  # what a Keras/TF bug looks like

    monkeypatch.setattr(run, "build_pipeline", broken)
    status = run.main(["--method", "pix2pix", "--data", str(tmp_path / "d"), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback (most recent call last)" in err and "Incompatible shapes" in err
    assert err.strip().endswith("please report it with the traceback above") and "error: " not in err


def test_thresholds_merge_and_config_defaults():
    assert configs.merge_thresholds("paired", ["psnr.lower_bound=20", "ssim.upper_bound=0.9"]) == {
        "psnr": {"max_regression": 1.0, "lower_bound": 20}, "ssim": {"upper_bound": 0.9}}
    assert configs.merge_thresholds("paired", ["psnr.max_regression=none"]) == {}
    cfg = load_config("configs/tiny/pix2pix.yaml", overrides=["data.preprocess=crop", "data.load_size=32"])
    assert configs.min_image_size_for(cfg) == 32
    cfg.data.preprocess = "resize"
    assert configs.min_image_size_for(cfg) == 1


def test_trainer_config_forms():
    cfg = load_config("configs/tiny/cyclegan.yaml")
    assert trainer_module.resolve_config({"config": cfg.to_dict()}).to_dict() == cfg.to_dict()
    by_path = trainer_module.resolve_config({"method": "cyclegan", "config_path": "configs/tiny/cyclegan.yaml",
                                             "overrides": ["train.steps=7"]})
    assert by_path.train.steps == 7 and by_path.model == cfg.model
    with pytest.raises(ConfigError, match=r"names method 'pix2pix' but its config is for 'cyclegan'"):
        trainer_module.resolve_config({"method": "pix2pix", "config": cfg.to_dict()})
    with pytest.raises(ConfigError, match=r"needs `config` or `method`"):
        trainer_module.resolve_config({})
    with pytest.raises(ValueError, match=r"one train split"):
        trainer_module._single_pattern(["a/*", "b/*"], "train")  # pylint: disable=protected-access


def test_kubeflow_v2_compiles(tmp_path):
    output = tmp_path / "spec" / "i2i-cyclegan.json"
    status = kubeflow_runner.main([
        "--method", "cyclegan", "--config", "configs/tiny/cyclegan.yaml", "--data", "/gcs/bucket/horse2zebra",
        "--output", "gs://bucket/i2i", "--image", "registry.example/i2i-keras:1.0", "--output-file", str(output),
        "--beam-arg=--runner=DataflowRunner"])
    assert status == 0
    spec = json.loads(output.read_text())["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert {"ImageIngest", "Trainer", "ImageEvaluator", "Pusher"} <= set(tasks)
    assert any(name.startswith("latest_blessed_model_resolver") for name in tasks)
    assert set(tasks["Pusher"]["dependentTasks"]) >= {"ImageEvaluator", "Trainer"}
    executors = spec["deploymentSpec"]["executors"]
    for name in ("ImageIngest", "Trainer", "ImageEvaluator", "Pusher"):
        assert executors[f"{name}_executor"]["container"]["image"] == "registry.example/i2i-keras:1.0"
    ingest_args = executors["ImageIngest_executor"]["container"]["args"]
    assert "--runner=DataflowRunner" in ingest_args and "--direct_running_mode=multi_processing" in ingest_args
    trainer_parameters = tasks["Trainer"]["inputs"]["parameters"]
    assert trainer_parameters["run_fn"]["runtimeValue"]["constantValue"]["stringValue"] == \
        "pipeline.trainer_module.run_fn"
    custom = json.loads(trainer_parameters["custom_config"]["runtimeValue"]["constantValue"]["stringValue"])
    assert custom["config"]["method"] == "cyclegan" and custom["config"]["model"]["base_filters"] == 8
    ingest_parameters = tasks["ImageIngest"]["inputs"]["parameters"]
    assert ingest_parameters["data_root"]["runtimeValue"]["constantValue"]["stringValue"] == "/gcs/bucket/horse2zebra"
    assert ingest_parameters["data_kind"]["runtimeValue"]["constantValue"]["stringValue"] == "unpaired"
