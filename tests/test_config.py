import os

import pytest

from i2i_keras import build_model, list_methods
from i2i_keras.config import ConfigError, default_config_path, load_config, set_image_size
from tests.helpers import REPO, TINY


def test_every_method_has_default_and_paper_configs_that_load_and_build():
    for method in list_methods():
        path = default_config_path(method)
        assert os.path.isfile(path), method  # a missing one raises ConfigError (tests/test_packaging.py)
        for name in sorted(os.listdir(os.path.join(REPO, "configs", method))):
            cfg = load_config(os.path.join(REPO, "configs", method, name))
            assert cfg.method == method
        # The method validates model kwargs and loss weights: the default config must build.
        narrow = ["model.base_filters=4"] if "base_filters" in load_config(path).model else []
        if method == "psp":  # its config names a trained stylegan run; the test builds on that run's architecture
            narrow = ["model.stylegan=stylegan/default.yaml"]
        build_model(load_config(path, overrides=narrow), image_size=64)


def test_overrides_and_types():
    cfg = load_config(os.path.join(TINY, "pix2pix.yaml"),
                      overrides=["train.steps=7", "loss_weights.g_l1=50", "data.flip=false", "optim.g_lr=1e-3"])
    assert cfg.train.steps == 7 and cfg.loss_weights["g_l1"] == 50 and cfg.data.flip is False
    assert cfg.optim.g_lr == pytest.approx(1e-3)
    set_image_size(cfg, 128)
    assert (cfg.data.crop_size, cfg.data.load_size) == (128, 143)


@pytest.mark.parametrize("override,match", [
    (["train.stepz=3"], r"Unknown config key `train.stepz`"),
    (["trian.steps=3"], r"Unknown config section `trian`"),
    (["train.steps=three"], r"`train.steps` must be an integer. Received: train.steps='three'"),
    (["train.steps=0"], r"`train.steps` must be positive"),
    (["data.preprocess=warp"], r"`data.preprocess` must be one of"),
    (["data.load_size=16"], r"load_size"),
    (["nodot"], r"section.key=value"),
])
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(os.path.join(TINY, "pix2pix.yaml"), overrides=override)


def test_unknown_model_option_and_loss_weight_are_rejected_at_build():
    with pytest.raises(ConfigError, match=r"Unknown model option `model.width`.*Allowed"):
        build_model(load_config(os.path.join(TINY, "pix2pix.yaml"), overrides=["model.width=3"]))
    with pytest.raises(ConfigError, match=r"Unknown loss weight 'g_style'.*Allowed: \['d_adv', 'g_adv', 'g_l1'\]"):
        build_model(load_config(os.path.join(TINY, "pix2pix.yaml"), overrides=["loss_weights.g_style=1"]))


def test_unknown_method_lists_the_valid_names():
    from i2i_keras import get_method

    with pytest.raises(ValueError, match=r"Unknown method 'munitt'. Available: \["):
        get_method("munitt")


def test_base_inheritance_and_bad_files(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text(f"base: {os.path.join(TINY, 'cyclegan.yaml')}\ntrain: {{steps: 9}}\n")
    cfg = load_config(str(child))
    assert cfg.method == "cyclegan" and cfg.train.steps == 9 and cfg.model["num_blocks"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="does not match"):
        load_config(os.path.join(TINY, "cyclegan.yaml"), method="pix2pix")


def test_config_errors_carry_codes_and_name_the_file(tmp_path):
    import pytest

    from i2i_keras.config import ConfigError, load_config

    cases = [
        (None, ["train.stepz=3"], "unknown_key"),
        (None, ["train.steps=many"], "bad_type"),
        (None, ["train.steps"], "bad_override"),
        (str(tmp_path / "missing.yaml"), [], "config_not_found"),
    ]
    for path, overrides, code in cases:
        with pytest.raises(ConfigError) as info:
            load_config(path, overrides=overrides, method="pix2pix")
        assert info.value.code == code, (overrides, info.value)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("method: [pix2pix\n")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"method: pix2pix\n# caf\xe9\n")
    for path, code in ((bad_yaml, "bad_yaml"), (latin, "not_utf8")):
        with pytest.raises(ConfigError) as info:
            load_config(str(path))
        assert info.value.code == code and str(path) in str(info.value)


@pytest.mark.parametrize("override,key", [
    ("optim.g_lr=.nan", "optim.g_lr"),
    ("optim.g_lr=.inf", "optim.g_lr"),
    ("optim.d_lr=nan", "optim.d_lr"),          # text read as a number for a float field
    ("optim.beta_1=-.inf", "optim.beta_1"),
    ("loss_weights.g_l1=.inf", "loss_weights.g_l1"),
    ("loss_weights.g_l1=nan", "loss_weights.g_l1"),
    ("model.dropout=.nan", "model.dropout"),
    ("train.steps=.inf", "train.steps"),
    ("data.domains=[a, .nan]", "data.domains[1]"),
])
def test_non_finite_numbers_are_rejected_everywhere(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(os.path.join(TINY, "pix2pix.yaml"), overrides=[override])
    assert info.value.code == "non_finite" and key in str(info.value), (info.value.code, str(info.value))


def test_on_nonfinite_choices():
    assert load_config(os.path.join(TINY, "pix2pix.yaml")).train.on_nonfinite == "stop"
    cfg = load_config(os.path.join(TINY, "pix2pix.yaml"), overrides=["train.on_nonfinite=skip_step"])
    assert cfg.train.on_nonfinite == "skip_step"
    with pytest.raises(ConfigError, match="train.on_nonfinite") as info:
        load_config(os.path.join(TINY, "pix2pix.yaml"), overrides=["train.on_nonfinite=ignore"])
    assert info.value.code == "bad_value"


@pytest.mark.parametrize("override,code,message", [
    ("model.base_filters=eight", "bad_type", "`model.base_filters` must be an integer"),
    ("model.base_filters=true", "bad_type", "`model.base_filters` must be an integer"),
    ("model.base_filters=null", "bad_type", "`model.base_filters` must be an integer"),
    ("model.dropout=half", "bad_type", "`model.dropout` must be a number"),
    ("model.dropout_at_inference=1", "bad_type", "`model.dropout_at_inference` must be true or false"),
    ("model.norm=3", "bad_type", "`model.norm` must be a string"),
    ("model.width=3", "unknown_key", "Unknown model option `model.width`"),
])
def test_model_options_are_type_checked_against_the_constructor_defaults(override, code, message):
    from i2i_keras.config import check_model_options

    cfg = load_config(os.path.join(TINY, "pix2pix.yaml"), overrides=[override])
    with pytest.raises(ConfigError) as info:
        check_model_options(cfg)
    assert info.value.code == code and message in str(info.value), str(info.value)


def test_model_options_of_the_right_kind_pass_and_convert():
    from i2i_keras.config import check_model_options

    cfg = load_config(os.path.join(TINY, "pix2pix.yaml"),
                      overrides=["model.base_filters=8.0", "model.dropout=0", "model.dropout_at_inference=false",
                                 "model.seed=3"])
    check_model_options(cfg)
    assert cfg.model["base_filters"] == 8 and isinstance(cfg.model["base_filters"], int)
    assert cfg.model["dropout"] == 0 and cfg.model["seed"] == 3
    cfg = load_config(os.path.join(TINY, "stargan.yaml"), overrides=["model.num_domains=5"])  # None default
    check_model_options(cfg)


def test_cli_model_option_of_the_wrong_type_and_bad_devices_are_one_line_errors(tmp_path, capsys):
    from i2i_keras.train import main

    base = ["--method", "pix2pix", "--config", os.path.join(TINY, "pix2pix.yaml"), "--steps", "1", "--no-export",
            "--output", str(tmp_path / "run")]
    for extra, expect in ((["--set", "model.base_filters=eight"], "model.base_filters"),
                          (["--devices", "0"], "--devices"), (["--devices", "-2"], "--devices")):
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in err and expect in lines[0], err
        with pytest.raises(ConfigError) as info:
            main(base + extra + ["--debug"])
        assert info.value.code in ("bad_type", "bad_value")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("method, override, message", [
    ("munit", "model.init=orthogonal", "`init` must be one of"),
    ("munit", "model.discriminator_styles=mixed", "`discriminator_styles` must be 'fresh' or 'shared'"),
    ("stargan", "model.target_rule=random", "`target_rule` must be one of"),
    ("stargan", "model.critic_steps=0", "`critic_steps` must be a positive integer"),
    ("cyclegan", "model.out_channels=1", "identity loss needs in_channels == out_channels"),
    ("pix2pix", "loss_weights.g_l1=-1", "Loss weights must be non-negative"),
])
def test_method_option_values_that_cannot_build_are_one_line_cli_errors(method, override, message, tmp_path, capsys):
    """Values of the right type that a method's constructor refuses are ConfigErrors too: one line, exit 2, no run."""
    from i2i_keras.train import main

    argv = ["--method", method, "--config", os.path.join(TINY, f"{method}.yaml"), "--set", override, "--steps", "1",
            "--no-export", "--output", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err and message in lines[0], err
    assert not (tmp_path / "run").exists()
