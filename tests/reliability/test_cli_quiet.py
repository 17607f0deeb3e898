"""A bad input prints exactly one line on stderr from every library CLI: no TensorFlow C++ start-up chatter and
no third-party warnings before it (`--debug` shows everything)."""

import os
import re
import subprocess
import sys

import pytest

from tests.helpers import REPO

# TensorFlow >= 2.20 prints these through absl before its logging is initialised, whatever TF_CPP_MIN_LOG_LEVEL says
# (not on TF 2.16); they are TensorFlow's import banner, not part of the CLI's answer.
_TF_IMPORT_BANNER = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called|"
                               r"I0000 .*\] oneDNN custom operations are on)")

CASES = [
    ["-m", "i2i_keras.train", "--method", "nope"],
    ["-m", "i2i_keras.translate", "--model", "/no/such/model", "--input", "a.png", "--output", "b.png"],
    ["-m", "i2i_keras.evaluate", "--model", "/no/such/model", "--data", "embedded:photos"],
    ["-m", "pipeline.run", "--method", "nope", "--data", ".", "--output", "out"],
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: a[1])
def test_bad_input_is_exactly_one_stderr_line(args, tmp_path):
    if args[1] == "pipeline.run":
        pytest.importorskip("tfx", reason="the pipeline needs TFX (the Python 3.10 lane)")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = REPO
    proc = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not _TF_IMPORT_BANNER.match(line)]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


def test_debug_lets_tensorflow_speak(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = REPO
    proc = subprocess.run([sys.executable, "-m", "i2i_keras.train", "--method", "nope", "--debug"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "Unknown method 'nope'" in proc.stderr
