"""The package as installed: default configs resolve (or fail loudly), the wheel ships configs/ as i2i_keras/configs
and installs pipeline/ and serving/ under names that cannot collide. `make test-installed` checks a real install in
a fresh venv; these are the cheap checks."""

import ast
import importlib.util
import os
import subprocess
import sys
import zipfile

import pytest

from i2i_keras import config as config_module
from i2i_keras.config import ConfigError, configs_root, default_config_path, load_config
from i2i_keras.registry import list_methods
from tests.helpers import REPO


def test_default_config_resolves_for_every_registered_method():
    assert os.path.samefile(configs_root(), os.path.join(REPO, "configs"))
    for method in list_methods():
        path = default_config_path(method)
        assert os.path.isfile(path) and path.endswith(os.path.join(method, "default.yaml")), method
        assert load_config(path).method == method


def test_missing_default_config_is_a_config_error_naming_the_path():
    with pytest.raises(ConfigError) as info:
        default_config_path("no_such_method")
    assert info.value.code == "missing_default_config"
    assert os.path.join(configs_root(), "no_such_method", "default.yaml") in str(info.value)


def test_missing_configs_folder_is_a_config_error_naming_where_it_looked(monkeypatch, tmp_path):
    gone = str(tmp_path / "nowhere" / "configs")
    monkeypatch.setattr(config_module, "_configs_candidates", lambda: [gone])
    with pytest.raises(ConfigError) as info:
        configs_root()
    assert info.value.code == "missing_configs" and gone in str(info.value)
    with pytest.raises(ConfigError) as info:
        default_config_path("pix2pix")
    assert info.value.code == "missing_default_config"
    assert os.path.join(gone, "pix2pix", "default.yaml") in str(info.value)


def test_training_cli_refuses_to_run_without_its_default_config(monkeypatch, tmp_path, capsys):
    """No silent fallback to the dataclass defaults: `--method NAME` without its default.yaml is an input error."""
    from i2i_keras import train
    from i2i_keras.training import distribute

    monkeypatch.setattr(config_module, "_configs_candidates", lambda: [str(tmp_path / "configs")])
    monkeypatch.setattr(distribute, "configure_devices", lambda devices: None)
    code = train.main(["--method", "pix2pix", "--steps", "1", "--output", str(tmp_path / "run")])
    assert code == 2
    assert "pix2pix" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_pipeline_imports_its_own_package_relatively():
    offenders = []
    for folder, _, files in os.walk(os.path.join(REPO, "pipeline")):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                absolute = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                            [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                offenders += [f"{os.path.relpath(path, REPO)}:{node.lineno}" for m in absolute
                              if m and m.split(".")[0] in ("pipeline", "serving")]
    assert not offenders, offenders


def test_trainer_run_fn_follows_the_package_name():
    from pipeline import configs

    assert configs.TRAINER_RUN_FN == "pipeline.trainer_module.run_fn"
    # The same file under the installed name (loaded by path, as a package called i2i_keras_pipeline_alias).
    alias = "i2i_keras_pipeline_alias"
    folder = os.path.join(REPO, "pipeline")
    spec = importlib.util.spec_from_file_location(alias, os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    sys.modules[alias] = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(sys.modules[alias])
        sub = importlib.import_module(f"{alias}.configs")
        assert sub.TRAINER_RUN_FN == f"{alias}.trainer_module.run_fn"
    finally:
        for name in [n for n in sys.modules if n == alias or n.startswith(alias + ".")]:
            del sys.modules[name]


def _source_copy(dest: str) -> str:
    """The files git sees (tracked and untracked, not ignored), copied: no stale build/ of the checkout leaks in."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                                check=True, capture_output=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    import shutil

    for rel in filter(None, listed):
        src = os.path.join(REPO, rel)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel))
    return dest


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    import setuptools

    work = tmp_path_factory.mktemp("wheel")
    src = _source_copy(str(work / "src"))
    # The test environment's setuptools builds it (no index needed) where it can make wheels on its own.
    can_build_here = importlib.util.find_spec("wheel") is not None or \
        tuple(int(p) for p in setuptools.__version__.split(".")[:2]) >= (70, 1)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), src]
    if can_build_here:
        cmd.insert(5, "--no-build-isolation")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = [f for f in os.listdir(work / "dist") if f.endswith(".whl")]
    with zipfile.ZipFile(work / "dist" / wheel) as z:
        return set(z.namelist())


def test_wheel_ships_configs_data_and_renamed_packages(wheel_names):
    names = wheel_names
    for method in list_methods():
        assert f"i2i_keras/configs/{method}/default.yaml" in names, method
    for folder, _, files in os.walk(os.path.join(REPO, "configs")):
        for name in files:
            if name.endswith(".yaml"):
                rel = os.path.relpath(os.path.join(folder, name), REPO).replace(os.sep, "/")
                assert f"i2i_keras/{rel}" in names, rel
    assert "i2i_keras/data/embedded/README.md" in names
    assert any(n.startswith("i2i_keras/data/embedded/gray2color/") and n.endswith(".png") for n in names)
    for module in ("run.py", "configs.py", "trainer_module.py", "local_runner.py", "components/evaluate.py",
                   "components/ingest.py"):
        assert f"i2i_keras_pipeline/{module}" in names, module
    assert {"i2i_keras_serving/client.py", "i2i_keras_serving/dev_server.py"} <= names
    tops = {n.split("/")[0] for n in names}
    (dist_info,) = [t for t in tops if t.endswith(".dist-info")]
    assert tops - {dist_info} == {"i2i_keras", "i2i_keras_pipeline", "i2i_keras_serving"}, tops
