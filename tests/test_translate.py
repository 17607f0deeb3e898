"""The translate CLI: file and folder translation through the SavedModel's bytes signature, and its error lines."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.data import transforms
from i2i_keras.export import export_for_serving
from i2i_keras.registry import get_method
from i2i_keras.translate import build_parser, main
from tests.helpers import save_saved_model_without_bytes_signatures


def _write_png(path, height, width, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    data = tf.io.encode_png(rng.integers(0, 256, (height, width, channels), dtype=np.uint8)).numpy()
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _write_jpeg(path, height, width, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(tf.io.encode_jpeg(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).numpy())
    return str(path)


def _read_png(path):
    with open(path, "rb") as f:
        return tf.io.decode_png(f.read()).numpy()


def _expected(model, path, mode):
    with open(path, "rb") as f:
        image = transforms.decode_image(f.read(), channels=model.in_channels)
    return transforms.to_uint8(model.translate(image[None], mode=mode))[0].numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = get_method("cyclegan")(image_size=32, base_filters=8, num_blocks=1, pool_size=0, seed=0)
    base = tmp_path_factory.mktemp("cyclegan_export")
    export_for_serving(model, str(base), tiled=False)
    return model, str(base)


def _error_lines(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_parser_defaults():
    args = build_parser().parse_args(["--model", "m", "--input", "a.png", "--output", "b.png"])
    assert (args.mode, args.overwrite, args.list_modes, args.extra) == (None, False, False, [])


def test_file_to_file_keeps_size_and_matches_model(exported, tmp_path, capsys):
    model, base = exported
    source = _write_png(tmp_path / "in.png", 37, 45)
    target = tmp_path / "sub" / "out.png"
    assert main(["--model", base, "--input", source, "--output", str(target)]) == 0
    out = _read_png(target)
    assert out.shape == (37, 45, 3)
    assert np.abs(out.astype(int) - _expected(model, source, "a2b").astype(int)).max() <= 1  # default: first mode
    assert not [n for n in os.listdir(target.parent) if n != "out.png"]  # no temporary file left


def test_mode_b2a_and_version_dir(exported, tmp_path, capsys):
    model, base = exported
    source = _write_jpeg(tmp_path / "photo.jpg", 20, 28)
    assert main(["--model", os.path.join(base, "1"), "--mode", "b2a", "--input", source,
                 "--output", str(tmp_path)]) == 0  # an existing directory: <stem>.png inside it
    out = _read_png(tmp_path / "photo.png")
    assert out.shape == (20, 28, 3)
    assert np.abs(out.astype(int) - _expected(model, source, "b2a").astype(int)).max() <= 1


def test_folder_to_folder(exported, tmp_path, capsys):
    _, base = exported
    src = tmp_path / "in"
    src.mkdir()
    _write_png(src / "a.png", 37, 45, seed=1)
    _write_jpeg(src / "b.JPG", 16, 24, seed=2)
    _write_png(src / "c.png", 9, 13, channels=1, seed=3)
    (src / "notes.txt").write_text("not an image")
    dst = tmp_path / "out"
    assert main(["--model", base, "--input", str(src), "--output", str(dst)]) == 0
    assert sorted(os.listdir(dst)) == ["a.png", "b.png", "c.png"]
    assert [_read_png(dst / n).shape for n in ("a.png", "b.png", "c.png")] == [(37, 45, 3), (16, 24, 3), (9, 13, 3)]


def test_list_modes(exported, capsys):
    assert main(["--model", exported[1], "--list-modes"]) == 0
    assert capsys.readouterr().out.split() == ["a2b", "b2a"]


def _case(name, tmp_path, base):
    """-> (argv, the path the error line must name, a file that must stay untouched or None)."""
    good = _write_png(tmp_path / "good.png", 12, 12)
    out = str(tmp_path / "out.png")
    if name == "missing_model":
        return ["--model", str(tmp_path / "nope"), "--input", good, "--output", out], "nope", None
    if name == "not_a_saved_model":
        (tmp_path / "junk" / "3").mkdir(parents=True)
        (tmp_path / "junk" / "3" / "readme.txt").write_text("x")
        return ["--model", str(tmp_path / "junk"), "--input", good, "--output", out], "junk", None
    if name == "missing_input":
        return ["--model", base, "--input", str(tmp_path / "gone.png"), "--output", out], "gone.png", None
    if name == "zero_byte":
        (tmp_path / "empty.png").write_bytes(b"")
        return ["--model", base, "--input", str(tmp_path / "empty.png"), "--output", out], "empty.png", None
    if name == "garbage":
        (tmp_path / "garbage.png").write_bytes(b"this is not an image at all")
        return ["--model", base, "--input", str(tmp_path / "garbage.png"), "--output", out], "garbage.png", None
    if name == "truncated_png":
        with open(good, "rb") as f:
            (tmp_path / "cut.png").write_bytes(f.read()[:60])
        return ["--model", base, "--input", str(tmp_path / "cut.png"), "--output", out], "cut.png", None
    if name == "output_is_input":
        return ["--model", base, "--input", good, "--output", good], "good.png", good
    if name == "existing_output":
        (tmp_path / "out.png").write_bytes(b"keep me")
        return ["--model", base, "--input", good, "--output", out], "out.png", out
    if name == "unknown_mode":
        return ["--model", base, "--mode", "c2d", "--input", good, "--output", out], "c2d", None
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["missing_model", "not_a_saved_model", "missing_input", "zero_byte", "garbage",
                                  "truncated_png", "output_is_input", "existing_output", "unknown_mode"])
def test_errors_are_one_line_exit_2_and_touch_nothing(exported, tmp_path, capsys, name):
    argv, named, keep = _case(name, tmp_path, exported[1])
    before = open(keep, "rb").read() if keep else None
    assert main(argv) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and named in lines[0], lines
    if name == "unknown_mode":
        assert "a2b, b2a" in lines[0]
    if keep:
        assert open(keep, "rb").read() == before
    if name != "existing_output":
        assert not os.path.exists(tmp_path / "out.png")


def test_unreadable_input(exported, tmp_path, capsys, monkeypatch):
    from i2i_keras import storage

    source = _write_png(tmp_path / "locked.png", 8, 8)
    real_read = storage.read_bytes

    def guarded_read(path):  # chmod 000 does not stop root, so refuse the read here (all reads go through gfile)
        if str(path) == source:
            raise PermissionError(13, "Permission denied", source)
        return real_read(path)

    monkeypatch.setattr(storage, "read_bytes", guarded_read)
    assert main(["--model", exported[1], "--input", source, "--output", str(tmp_path / "o.png")]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "locked.png" in lines[0] and "Permission denied" in lines[0]


def test_existing_output_replaced_with_overwrite(exported, tmp_path, capsys):
    source = _write_png(tmp_path / "in.png", 10, 14)
    (tmp_path / "out.png").write_bytes(b"old")
    assert main(["--model", exported[1], "--input", source, "--output", str(tmp_path / "out.png"),
                 "--overwrite"]) == 0
    assert _read_png(tmp_path / "out.png").shape == (10, 14, 3)


def test_folder_with_existing_output_writes_nothing(exported, tmp_path, capsys):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    dst.mkdir()
    _write_png(src / "a.png", 8, 8)
    _write_png(src / "b.png", 8, 8)
    (dst / "b.png").write_bytes(b"keep")
    assert main(["--model", exported[1], "--input", str(src), "--output", str(dst)]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "b.png" in lines[0]
    assert sorted(os.listdir(dst)) == ["b.png"] and (dst / "b.png").read_bytes() == b"keep"


def test_module_entry_point(exported, tmp_path):
    """`python -m i2i_keras.translate` end to end: the real CLI, its exit status and its one error line."""
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "i2i_keras.translate", "--model", exported[1], "--input",
                           str(tmp_path / "bad.png"), "--output", str(tmp_path / "out.png")],
                          capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "bad.png" in lines[0], proc.stderr[-2000:]
    assert not (tmp_path / "out.png").exists()


@pytest.fixture(scope="module")
def multimodal_export(tmp_path_factory):
    """A CycleGAN whose modes are replaced by the shared style modes over a hand-made decoder (brightness shift by
    the style's mean) and a target-domain mode, exported: the CLI flags are tested on real signatures."""
    import pytest as _pytest

    from i2i_keras.methods.base import TranslationMode
    from i2i_keras.methods.styles import style_modes

    model = get_method("cyclegan")(image_size=32, base_filters=8, num_blocks=1, pool_size=0, seed=0)

    def decode(images, styles):
        return tf.clip_by_value(images + 0.25 * tf.reduce_mean(styles, axis=1)[:, None, None, None], -1.0, 1.0)

    def encode(reference):
        return tf.repeat(tf.reduce_mean(reference, axis=(1, 2, 3))[:, None], 8, axis=1) * 4.0

    def to_domain(images, target_domain):
        return tf.clip_by_value(images * 0.0 + tf.cast(target_domain, tf.float32)[:, None, None, None] * 0.5 - 1.0,
                                -1.0, 1.0)

    modes = style_modes("a2b", decode, encode, 8, 3, "toy")
    modes["domain"] = TranslationMode(to_domain, {"target_domain": tf.TensorSpec([None], tf.int32)})
    patch = _pytest.MonkeyPatch()
    patch.setattr(model, "translation_modes", lambda: modes)
    metadata = model.metadata()
    patch.setattr(model, "metadata", lambda: {**metadata, "num_domains": 5,
                                              "domain_names": ["v0", "v1", "v2", "v3", "white"]})
    base = tmp_path_factory.mktemp("multimodal_export")
    export_for_serving(model, str(base), tiled=False)
    patch.undo()
    return model, modes, str(base)


def test_sample_flags_write_n_files_reproducibly(multimodal_export, tmp_path, capsys):
    _, modes, base = multimodal_export
    source = _write_png(tmp_path / "in.png", 12, 10)
    args = ["--model", base, "--mode", "a2b_sample", "--num-samples", "3", "--seed", "5", "--input", source]
    assert main(args + ["--output", str(tmp_path / "first.png")]) == 0
    assert main(args + ["--output", str(tmp_path / "again.png")]) == 0
    first = [_read_png(tmp_path / f"first_{i}.png") for i in range(3)]
    again = [_read_png(tmp_path / f"again_{i}.png") for i in range(3)]
    assert not (tmp_path / "first_3.png").exists() and first[0].shape == (12, 10, 3)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert len({a.tobytes() for a in first}) == 3  # three different styles
    with open(source, "rb") as f:
        image = transforms.decode_image(f.read())[None]
    want = transforms.to_uint8(modes["a2b_sample"].fn(image, num_samples=3, seed=5)[0]).numpy()
    for got, expected in zip(first, want):
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    # Without --seed a random one is used and printed, so the call can be repeated.
    assert main(["--model", base, "--mode", "a2b_interpolate", "--input", source,
                 "--output", str(tmp_path / "interp.png")]) == 0
    assert "seed " in capsys.readouterr().out
    assert all((tmp_path / f"interp_{i}.png").exists() for i in range(4))  # default --num-samples 4


def test_reference_and_target_domain_flags(multimodal_export, tmp_path):
    _, _, base = multimodal_export
    source = _write_png(tmp_path / "in.png", 9, 11)
    dark = tmp_path / "dark.png"
    dark.write_bytes(tf.io.encode_png(np.zeros((5, 5, 3), np.uint8)).numpy())
    bright = tmp_path / "bright.png"
    bright.write_bytes(tf.io.encode_png(np.full((7, 3, 3), 255, np.uint8)).numpy())
    for name, ref in (("dark", dark), ("bright", bright)):
        assert main(["--model", base, "--mode", "a2b_reference", "--reference", str(ref), "--input", source,
                     "--output", str(tmp_path / f"{name}_out.png")]) == 0
    assert _read_png(tmp_path / "dark_out.png").mean() < _read_png(tmp_path / "bright_out.png").mean()
    # The toy domain mode paints domain d as the value d / 2 - 1: domain 4 -> 1.0 (white), domain 0 -> -1 (black).
    assert main(["--model", base, "--mode", "domain", "--target-domain", "white", "--input", source,
                 "--output", str(tmp_path / "domain.png")]) == 0
    assert _read_png(tmp_path / "domain.png").min() == 255
    assert main(["--model", base, "--mode", "domain", "--extra", "target_domain=0", "--input", source,
                 "--output", str(tmp_path / "domain0.png")]) == 0
    assert _read_png(tmp_path / "domain0.png").max() == 0


@pytest.mark.parametrize("flags, message", [
    (["--mode", "a2b_sample", "--target-domain", "1"], "does not take target_domain"),
    (["--mode", "a2b", "--seed", "3"], "does not take seed"),
    (["--mode", "a2b_reference"], "needs --reference"),
    (["--mode", "a2b_sample", "--num-samples", "0"], "must be >= 1"),
    (["--mode", "domain", "--target-domain", "5"], "out of range: the model has 5 domains (0=v0"),
    (["--mode", "domain", "--target-domain", "black"], "not a domain index or name"),
])
def test_method_flag_errors_are_one_line(multimodal_export, tmp_path, capsys, flags, message):
    _, _, base = multimodal_export
    source = _write_png(tmp_path / "in.png", 8, 8)
    assert main(["--model", base, "--input", source, "--output", str(tmp_path / "o.png"), *flags]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and message in lines[0]
    assert not list(tmp_path.glob("o*.png"))


def test_no_target_domain_translates_to_every_domain(multimodal_export, tmp_path, capsys):
    _, _, base = multimodal_export
    source = _write_png(tmp_path / "in.png", 6, 7)
    assert main(["--model", base, "--mode", "domain", "--input", source, "--output", str(tmp_path / "o.png")]) == 0
    written = sorted(p.name for p in tmp_path.glob("o_*.png"))
    assert written == ["o_v0.png", "o_v1.png", "o_v2.png", "o_v3.png", "o_white.png"]
    assert _read_png(tmp_path / "o_v0.png").max() == 0 and _read_png(tmp_path / "o_white.png").min() == 255
    # Nothing is overwritten: a second run stops before writing and names the first existing file.
    assert main(["--model", base, "--mode", "domain", "--input", source, "--output", str(tmp_path / "o.png")]) == 2
    assert "o_v0.png: output file exists" in _error_lines(capsys)[0]


def test_loads_with_the_evaluators_loader(exported, tmp_path, capsys, monkeypatch):
    from i2i_keras.evaluation import exported as exported_module

    loaded = []
    real_init = exported_module.ServedModel.__init__

    def spy(self, path, *args, **kwargs):
        loaded.append(path)
        real_init(self, path, *args, **kwargs)

    monkeypatch.setattr(exported_module.ServedModel, "__init__", spy)
    assert main(["--model", exported[1], "--list-modes"]) == 0
    assert loaded == [os.path.join(exported[1], "1")]


def test_saved_model_without_bytes_signatures_is_one_error_line(tmp_path, capsys):
    save_saved_model_without_bytes_signatures(tmp_path / "bare")
    good = _write_png(tmp_path / "good.png", 8, 8)
    assert main(["--model", str(tmp_path / "bare"), "--input", good, "--output", str(tmp_path / "out.png")]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "bare" in lines[0] and "no <mode>_bytes signature" in lines[0], lines
    assert not os.path.exists(tmp_path / "out.png")


def test_translate_reads_and_writes_any_file_system(exported, tmp_path, monkeypatch):
    import uuid

    import tensorflow as tf

    from i2i_keras import storage

    monkeypatch.chdir(tmp_path)
    root = f"ram://translate-{uuid.uuid4().hex}"
    storage.makedirs(root + "/in")
    storage.write_atomic(root + "/in/a.png", open(_write_png(tmp_path / "a.png", 10, 14), "rb").read())
    try:
        assert main(["--model", exported[1], "--input", root + "/in", "--output", root + "/out"]) == 0
        assert tf.io.decode_png(storage.read_bytes(root + "/out/a.png")).shape[:2] == (10, 14)
        assert not os.path.exists(tmp_path / "ram:")
    finally:
        storage.rmtree(root)


def test_defects_are_not_disguised_as_bad_input(exported, tmp_path, capsys, monkeypatch):
    import i2i_keras.translate as translate

    def broken(*_, **__):
        raise ValueError("Incompatible shapes: [1,3] vs. [1,4]")

    monkeypatch.setattr(translate, "_translate", broken)
    source = _write_png(tmp_path / "in.png", 8, 8)
    assert main(["--model", exported[1], "--input", source, "--output", str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "Incompatible shapes" in err and "please report it" in err


def test_pixel_limit_and_undecodable_formats_are_refused_before_decoding(exported, tmp_path, capsys):
    from i2i_keras import translate
    from i2i_keras.errors import RequestError
    from tests.reliability import bad_inputs

    base = exported[1]
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bad_inputs.blank_png(40000, 40000, complete=False))  # a few hundred bytes, 1.6e9 pixels
    out = tmp_path / "out.png"
    assert main(["--model", base, "--input", str(bomb), "--output", str(out)]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "bomb.png" in lines[0] and "40000x40000" in lines[0] and "--max-pixels" in lines[0]
    with pytest.raises(RequestError) as info:
        translate._read(str(bomb))
    assert info.value.code == "too_many_pixels"

    small = _write_png(tmp_path / "small.png", 12, 12)
    assert main(["--model", base, "--input", small, "--output", str(out), "--max-pixels", "100"]) == 2
    assert "12x12 (144 pixels), more than --max-pixels=100" in _error_lines(capsys)[0]
    assert not out.exists()
    assert main(["--model", base, "--input", small, "--output", str(out), "--max-pixels", "0"]) == 0
    assert _read_png(out).shape == (12, 12, 3)

    # A folder holding an image the model cannot read fails naming it, before anything is written.
    src, dst = tmp_path / "in", tmp_path / "translated"
    src.mkdir()
    _write_png(src / "a.png", 8, 8)
    (src / "b.webp").write_bytes(bad_inputs.webp_bytes())
    assert main(["--model", base, "--input", str(src), "--output", str(dst)]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "b.webp" in lines[0] and "WebP is not supported" in lines[0], lines
    assert not dst.exists()
    renamed = tmp_path / "renamed.png"
    renamed.write_bytes(bad_inputs.webp_bytes())
    with pytest.raises(RequestError) as info:
        translate._read(str(renamed))
    assert info.value.code == "unsupported_format"


def test_an_image_mode_needs_input(exported, tmp_path, capsys):
    assert main(["--model", exported[1], "--output", str(tmp_path / "o.png")]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "--input" in lines[0] and "mode 'a2b' translates images" in lines[0], lines
    assert not (tmp_path / "o.png").exists()
