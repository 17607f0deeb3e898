# The two commands of the README: `make demo` and `make test`. Both create the virtual environment if missing.
# The bootstrap fetches the offline VGG16 weights, so the test targets require them (I2I_REQUIRE_WEIGHTS=1: the
# tests that need them fail instead of skipping).
PY := .venv/bin/python
MODERN := .venv-modern/bin/python
RUN ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv demo test test-modern test-installed test-reference bench clean-venv

venv:
	@scripts/bootstrap.sh

demo: venv
	$(PY) -m i2i_keras.train --method pix2pix --output $(RUN)

test: venv
	I2I_REQUIRE_WEIGHTS=1 $(PY) -m pytest -q -n 2 --dist worksteal --durations=30

# Library tests on Python 3.11 + tensorflow-cpu 2.21 + Keras 3.15 (no TFX): proves the library on current TF.
# Not here: the learning tests (minutes of training; the main lane runs them) and tests/bench (`make bench` runs on
# the main lane's venv).
test-modern:
	@scripts/bootstrap.sh modern
	I2I_REQUIRE_WEIGHTS=1 $(MODERN) -m pytest -q -n 2 --dist worksteal --durations=30 -m "not learning" \
		--ignore tests/bench

# The package as users get it: a wheel installed into a fresh Python 3.10 venv (core dependencies, pinned), trained
# for 2 steps from outside the checkout and checked (packaged configs, install names, no top-level pipeline/serving).
test-installed:
	scripts/check_installed.sh

# The benchmark runner on 2 CPU cores (taskset where there is one, so figures from bigger machines compare), under
# 15 minutes; BENCH_ARGS adds runner flags (bench/README.md). Writes bench/results/latest.json.
bench: venv
	$$(command -v taskset >/dev/null && echo taskset -c 0,1) $(PY) bench/run.py $(BENCH_ARGS)

# Layer-by-layer equivalence with the reference PyTorch implementations (tests/reference; they skip without torch).
test-reference:
	@scripts/bootstrap.sh reference
	.venv-reference/bin/python -m pytest -q tests/reference

clean-venv:
	rm -rf .venv .venv-modern .venv-reference
