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
        build_model(load_config(path, overrides=["model.base_filters=4"]), image_size=64)


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
    with pytest.raises(ValueError, match=r"Unknown model option `model.width`.*Allowed"):
        build_model(load_config(os.path.join(TINY, "pix2pix.yaml"), overrides=["model.width=3"]))
    with pytest.raises(ValueError, match=r"Unknown loss weight 'g_style'.*Allowed: \['d_adv', 'g_adv', 'g_l1'\]"):
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
