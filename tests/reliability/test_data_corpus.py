"""Every bad input of the corpus (`tests/reliability/bad_inputs.py`) is one clear error naming the file: through
the folder readers (`make_dataset`), through ingestion (planning plus the Beam DoFn, run in-process), and through
the training CLI (one `error:` line, exit status 2, no run directory)."""

import os
import subprocess
import sys

import pytest

from i2i_keras.config import DataConfig
from i2i_keras.data import DataError
from i2i_keras.data import make_dataset
from tests.reliability import bad_inputs

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = [pytest.param(case, id=case.name) for case in bad_inputs.CASES]
INGEST_CASES = [pytest.param(case, id=case.name) for case in bad_inputs.CASES if case.ingestion]


def _cfg(case):
    values = dict(load_size=10, crop_size=8, channels=3, shuffle_buffer=4, scale=2)
    values.update(case.cfg)
    return DataConfig(**values)


@pytest.mark.parametrize("case", CASES)
def test_folder_reader_names_the_bad_file(case, tmp_path):
    data, bad = case.build(str(tmp_path / case.name))
    with pytest.raises(DataError) as info:
        make_dataset(data, case.kind, _cfg(case), 1)
    error = info.value
    assert (error.code, error.path) == (case.code, bad), str(error)
    message = str(error)
    assert "\n" not in message and message.startswith(f"{bad}: ")


def _ingest(data, case, out):
    """Rejects (reason, path) and planning errors of ingesting `data`, without a Beam pipeline: the plan, then the
    DoFn on every candidate (what a worker runs)."""
    import apache_beam as beam

    from pipeline.components import images_to_examples as ingest

    options = ingest.IngestOptions(data_kind=case.kind, layout=case.cfg.get("layout", "auto"),
                                   max_reject_fraction=1.0)
    try:
        plan = ingest.plan_ingestion(data, options)
        if not plan.candidates and not plan.rejects:
            ingest.run_ingestion(data, out, options, None)  # fails before a pipeline is needed
    except DataError as e:
        return [(e.code, e.path)]
    partitions = [(split, group) for split in ingest.SPLITS for group in plan.groups]
    encode = ingest._EncodeCandidate(partitions, options.min_image_size)
    found = [(r["reason"], r["path"]) for r in plan.rejects]
    for candidate in plan.candidates:
        for output in encode.process(candidate):
            if isinstance(output, beam.pvalue.TaggedOutput):
                found.append((output.value["reason"], output.value["path"]))
    return found


@pytest.mark.parametrize("case", INGEST_CASES)
def test_ingestion_rejects_the_bad_file_with_its_code(case, tmp_path):
    pytest.importorskip("apache_beam", reason="ingestion needs Apache Beam (the Python 3.10 lane)")
    data, bad = case.build(str(tmp_path / case.name))
    assert _ingest(data, case, str(tmp_path / "out")) == [(case.ingestion, bad)]


def _train(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO_ROOT + os.pathsep + env.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "i2i_keras.train", *args], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case_name, method", [("huge_declared_png", "pix2pix"), ("webp", "cyclegan")])
def test_training_cli_gives_one_error_line_and_no_run_directory(case_name, method, tmp_path):
    case = bad_inputs.BY_NAME[case_name]
    data, bad = case.build(str(tmp_path / "data" / "trainA" if method == "cyclegan" else tmp_path / "data"))
    if method == "cyclegan":
        bad_inputs.good_images(str(tmp_path / "data" / "trainB"))
        data = str(tmp_path / "data")
    else:  # pix2pix reads AB images: good ones are twice as wide as high
        for i in range(3):
            bad_inputs.write(os.path.join(data, f"ok{i}.png"),
                             bad_inputs.png_bytes(bad_inputs.good_pixels(i, 16, 32)))
    run_dir = tmp_path / "run"
    proc = _train(["--method", method, "--config", os.path.join(REPO_ROOT, "configs", "tiny", f"{method}.yaml"),
                   "--data", data, "--output", str(run_dir), "--steps", "1"], tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert len(lines) == 1 and bad in lines[0] and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert {"too_many_pixels": "pixels", "unsupported_format": "not supported"}[case.code] in lines[0], lines[0]
    assert not run_dir.exists()
