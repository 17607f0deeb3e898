#!/usr/bin/env bash
# Creates (or completes) a virtual environment and installs i2i_keras into it, with pinned versions.
#   scripts/bootstrap.sh            Python 3.10 + TF 2.16 + TFX 1.16 (the full stack)  -> .venv
#   scripts/bootstrap.sh modern     Python 3.11 + tensorflow-cpu 2.21 + Keras 3.15 (library only) -> .venv-modern
# Idempotent: a venv whose stamp matches the pins is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
lane="${1:-main}"

. scripts/find_python.sh  # find_python VERSION

if [ "$lane" = "modern" ]; then
  venv=.venv-modern; py=$(find_python 3.11); pins=requirements/modern-py311.txt
  install=(-r "$pins")
else
  venv=.venv; py=$(find_python 3.10); pins=requirements/constraints-py310.txt
  install=(-c "$pins" "tfx==1.16.0" "apache-beam" "dill" "kfp-pipeline-spec" "tensorflow-datasets" "tensorflow-serving-api" "pytest" "pytest-xdist" "scikit-image" "pyyaml")
fi
stamp="$venv/.i2i-stamp"
want="$(cat "$pins" setup.py | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade "pip<26" >/dev/null
"$venv/bin/python" -m pip install --quiet "${install[@]}"
"$venv/bin/python" -m pip install --quiet --no-deps -e .
echo "$want" > "$stamp"
echo "bootstrap: $venv ready ($("$venv/bin/python" -c 'import tensorflow as tf, keras; print("TF", tf.__version__, "Keras", keras.__version__)' 2>/dev/null))"
