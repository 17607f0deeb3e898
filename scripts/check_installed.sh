#!/usr/bin/env bash
# The project as a user gets it: builds a wheel, installs it (core dependencies only, pinned) into a fresh Python
# 3.10 virtual environment, and from a folder outside the checkout trains Pix2Pix for 2 steps and checks the install
# (scripts/check_installed.py): the default config is the packaged copy of configs/, i2i_keras comes from the venv,
# the pipeline and serving code is installed as i2i_keras_pipeline / i2i_keras_serving, and no top-level
# `pipeline`, `serving` or `configs` package was installed.
#   scripts/check_installed.sh          (`make test-installed`; KEEP=1 keeps the work folder)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
. scripts/find_python.sh
py=$(find_python 3.10)
work="$(mktemp -d "${TMPDIR:-/tmp}/i2i-installed.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then echo "check_installed: work folder $work (kept)"; else trap 'rm -rf "$work"' EXIT; fi
start=$SECONDS
step() { echo "check_installed: [$((SECONDS - start))s] $*"; }

# Build from a copy of the files git would see (tracked and untracked, not ignored): no stale build/ or *.egg-info
# of the checkout can leak into the wheel, and nothing is written into the checkout.
step "copying the source tree"
mkdir -p "$work/src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf - | tar -xf - -C "$work/src"
else
  tar --exclude=./.venv --exclude=./.venv-modern --exclude=./build --exclude=./dist --exclude=./runs \
      --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -xf - -C "$work/src"
fi

step "fresh venv ($py)"
"$py" -m venv "$work/venv"
vpy="$work/venv/bin/python"
pip_log="$work/pip.log"
quiet_pip() {  # pip's output goes to a log, shown only if it fails
  "$vpy" -m pip "$@" >>"$pip_log" 2>&1 || { cat "$pip_log" >&2; echo "error: pip $* failed" >&2; return 1; }
}
quiet_pip install --upgrade "pip<26"

step "building the wheel"
quiet_pip wheel --no-deps -w "$work/dist" "$work/src"
wheel=("$work"/dist/*.whl)
[ "${#wheel[@]}" = 1 ] && [ -f "${wheel[0]}" ] || { echo "error: expected one wheel in $work/dist" >&2; exit 1; }

step "installing $(basename "${wheel[0]}") with requirements/constraints-py310.txt"
quiet_pip install -c requirements/constraints-py310.txt "${wheel[0]}"

# Outside the checkout, with nothing of it on the path (-I: no script folder, no PYTHON* variables, no user site).
mkdir -p "$work/outside"
cd "$work/outside"
unset PYTHONPATH PYTHONHOME
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
step "python -m i2i_keras.train --method pix2pix --steps 2 (from $work/outside)"
"$vpy" -I -m i2i_keras.train --method pix2pix --steps 2 --output "$work/run" > "$work/train.log" 2>&1 \
  || { cat "$work/train.log" >&2; echo "error: training from the installed package failed" >&2; exit 1; }

step "checking the install"
"$vpy" -I "$repo/scripts/check_installed.py" --repo "$repo" --venv "$work/venv" --run "$work/run"
step "ok (removing $work)"
