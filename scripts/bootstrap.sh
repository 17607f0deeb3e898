#!/usr/bin/env bash
# Creates (or completes) a virtual environment and installs i2i_keras into it, with pinned versions.
#   scripts/bootstrap.sh            Python 3.10 + TF 2.16 + TFX 1.16 (the full stack)  -> .venv
#   scripts/bootstrap.sh modern     Python 3.11 + tensorflow-cpu 2.21 + Keras 3.15 (library only) -> .venv-modern
#   scripts/bootstrap.sh reference  the modern lane + PyTorch (tests/reference only) -> .venv-reference
# Idempotent: a venv whose stamp matches the pins is left as it is. Then fetches the offline VGG16 weights once
# (python -m i2i_keras.weights fetch; a file test when they are there).
set -euo pipefail
cd "$(dirname "$0")/.."
lane="${1:-main}"

. scripts/find_python.sh  # find_python VERSION

if [ "$lane" = "modern" ]; then
  venv=.venv-modern; py=$(find_python 3.11); pins=requirements/modern-py311.txt
  install=(-r "$pins")
elif [ "$lane" = "reference" ]; then
  # The modern lane plus PyTorch: the layer-by-layer equivalence checks against the reference implementations
  # (tests/reference). Never a dependency of the library.
  venv=.venv-reference; py=$(find_python 3.11); pins=requirements/modern-py311.txt
  install=(-r "$pins" "torch>=2.13")
else
  venv=.venv; py=$(find_python 3.10); pins=requirements/constraints-py310.txt
  install=(-c "$pins" "tfx==1.16.0" "apache-beam" "dill" "kfp-pipeline-spec" "tensorflow-datasets" "tensorflow-serving-api" "pytest" "pytest-xdist" "scikit-image" "pyyaml")
fi
stamp="$venv/.i2i-stamp"
want="$(cat "$pins" setup.py | sha256sum | cut -d' ' -f1)"
if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; }; then
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade "pip<26" >/dev/null
  "$venv/bin/python" -m pip install --quiet "${install[@]}"
  "$venv/bin/python" -m pip install --quiet --no-deps -e .
  echo "$want" > "$stamp"
  echo "bootstrap: $venv ready ($("$venv/bin/python" -c 'import tensorflow as tf, keras; print("TF", tf.__version__, "Keras", keras.__version__)' 2>/dev/null))"
fi
# The offline ImageNet VGG16 weights (perceptual losses, LPIPS): pip-downloaded once into the shared weights folder
# ($I2I_KERAS_WEIGHTS_DIR, else ~/.cache/i2i_keras/weights) and converted to .npz. Outside the stamp check so an
# existing venv gets them too; the check below is a file test, so a venv with the weights in place costs nothing.
weights_file="${I2I_KERAS_WEIGHTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/i2i_keras/weights}/vgg16_torchvision_lpips_v0.1.npz"
if [ ! -f "$weights_file" ]; then
  TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" -m i2i_keras.weights fetch
fi
