"""Checks a non-editable install of i2i_keras (run by scripts/check_installed.sh with the fresh venv's Python, -I,
from a folder outside the checkout). Exits 1 listing every failed check.

    python -I scripts/check_installed.py --repo CHECKOUT --venv VENV --run RUN_DIR

RUN_DIR is the output of `python -m i2i_keras.train --method pix2pix --steps 2` run with the installed package.
Only the core dependencies are installed, so the pipeline and serving packages are checked as files and import
specs, never imported (except `i2i_keras_pipeline.configs`, which needs only the core library).
"""

import argparse
import importlib.metadata
import importlib.util
import os
import sys

# Modules of the renamed packages that must be installed (checkout folder -> installed name).
EXPECTED_MODULES = (
    "i2i_keras_pipeline.configs", "i2i_keras_pipeline.run", "i2i_keras_pipeline.pipeline",
    "i2i_keras_pipeline.trainer_module", "i2i_keras_pipeline.local_runner", "i2i_keras_pipeline.kubeflow_runner",
    "i2i_keras_pipeline.components.ingest", "i2i_keras_pipeline.components.evaluate",
    "i2i_keras_pipeline.components.images_to_examples",
    "i2i_keras_serving.client", "i2i_keras_serving.dev_server",
)
FORBIDDEN_TOP_LEVEL = ("pipeline", "serving", "configs")


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def _module_file(name: str) -> str:
    """The file a module would load from, without importing it (only its parent packages' __init__ files, which
    in these packages import nothing heavy)."""
    spec = importlib.util.find_spec(name)
    return spec.origin if spec is not None and spec.origin else ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", required=True)
    p.add_argument("--venv", required=True)
    p.add_argument("--run", required=True)
    args = p.parse_args()
    failures = []

    def check(ok: bool, what: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    import yaml

    import i2i_keras
    from i2i_keras.config import ConfigError, configs_root, default_config_path, load_config

    check(_inside(i2i_keras.__file__, args.venv) and not _inside(i2i_keras.__file__, args.repo),
          f"i2i_keras is imported from the venv, not the checkout: {i2i_keras.__file__}")
    root = configs_root()
    check(_inside(root, args.venv), f"configs_root() is the installed package data: {root}")

    # Every config of the checkout is installed, byte for byte.
    repo_configs = os.path.join(args.repo, "configs")
    missing, differ = [], []
    for folder, _, files in os.walk(repo_configs):
        for name in files:
            if not name.endswith(".yaml"):
                continue
            rel = os.path.relpath(os.path.join(folder, name), repo_configs)
            installed = os.path.join(root, rel)
            if not os.path.isfile(installed):
                missing.append(rel)
            elif open(installed, "rb").read() != open(os.path.join(repo_configs, rel), "rb").read():
                differ.append(rel)
    check(not missing and not differ, f"all configs/**/*.yaml installed and identical (missing {missing}, "
                                      f"different {differ})")

    from i2i_keras.registry import list_methods

    for method in list_methods():
        try:
            path = default_config_path(method)
            check(_inside(path, args.venv), f"default config of {method}: {path}")
        except ConfigError as e:
            check(False, f"default config of {method}: {e}")

    # The training run resolved the packaged configs/pix2pix/default.yaml, not the dataclass defaults.
    with open(os.path.join(args.run, "config.yaml"), encoding="utf-8") as f:
        resolved = yaml.safe_load(f)
    expected = load_config(os.path.join(repo_configs, "pix2pix", "default.yaml"), overrides=["train.steps=2"]).to_dict()
    fallback = load_config(None, overrides=["train.steps=2"], method="pix2pix").to_dict()
    check(expected != fallback, "the checkout's pix2pix default differs from the dataclass defaults (check is real)")
    diff = sorted(f"{section}" for section in set(expected) | set(resolved) if expected.get(section) != resolved.get(section))
    check(resolved == expected, f"{args.run}/config.yaml == configs/pix2pix/default.yaml with steps=2 "
                                f"(differing sections: {diff})")

    # Pipeline and serving under their install names.
    for name in EXPECTED_MODULES:
        origin = _module_file(name)
        check(bool(origin) and _inside(origin, args.venv) and os.path.isfile(origin), f"{name} installed: {origin}")
    try:
        from i2i_keras_pipeline import configs as pipeline_configs

        run_fn = pipeline_configs.TRAINER_RUN_FN
        check(run_fn == "i2i_keras_pipeline.trainer_module.run_fn", f"TRAINER_RUN_FN names the installed module: {run_fn}")
        check(bool(_module_file(run_fn.rpartition(".")[0])), f"TRAINER_RUN_FN's module resolves: {run_fn}")
    except ModuleNotFoundError as e:  # a pipeline-only dependency (TFX) is not installed here: say so, do not fail
        if (e.name or "").startswith("i2i_keras"):
            check(False, f"import i2i_keras_pipeline.configs: {e}")
        else:
            print(f"  skip TRAINER_RUN_FN check: i2i_keras_pipeline.configs needs {e.name}, not installed here")

    # The TFX CLI runs local_runner.py as a script: it must find its package under the installed name.
    import subprocess

    runner = _module_file("i2i_keras_pipeline.local_runner")
    proc = subprocess.run([sys.executable, "-I", runner, "--help"], capture_output=True, text=True, timeout=300)
    missing = [line for line in proc.stderr.splitlines() if "ModuleNotFoundError" in line and "i2i_keras" not in line]
    if proc.returncode != 0 and missing:
        print(f"  skip local_runner.py as a script: needs a pipeline extra ({missing[-1].strip()})")
    else:
        check(proc.returncode == 0 and "usage:" in proc.stdout,
              f"python {runner} --help runs (exit {proc.returncode}) {proc.stderr.strip().splitlines()[-1:]}")

    # Nothing under a generic top-level name.
    files = [str(f) for f in (importlib.metadata.files("i2i_keras") or [])]
    for top in FORBIDDEN_TOP_LEVEL:
        shipped = [f for f in files if f.split("/")[0] == top]
        spec = importlib.util.find_spec(top)
        check(not shipped and spec is None,
              f"no top-level `{top}` installed (files: {shipped[:3]}, importable from: "
              f"{spec and (spec.origin or list(spec.submodule_search_locations or []))})")
    top_level = importlib.metadata.distribution("i2i_keras").read_text("top_level.txt") or ""
    check(sorted(top_level.split()) == ["i2i_keras", "i2i_keras_pipeline", "i2i_keras_serving"],
          f"top_level.txt: {top_level.split()}")

    if failures:
        print(f"check_installed: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("check_installed: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
