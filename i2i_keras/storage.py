"""File access through `tf.io.gfile`, so a path may be local or a URL that a
TensorFlow file system serves (``gs://bucket/run``, ``ram://run`` in tests, ``s3://``, ``hdfs://`` with plugins).

Writes are atomic where the file system allows it: the bytes go to a temporary name next to the target, which is
then renamed into place (an atomic rename on local disk; copy-and-delete on object stores, where a reader still
never sees a partial file under the final name). Directories are never renamed on non-local file systems: some
(``ram://``) move only the directory entry and lose its contents, so `publish_dir` copies file by file there.
"""

from __future__ import annotations

import os
import posixpath
from typing import Iterable, Union

import tensorflow as tf

gfile = tf.io.gfile

#: What a failed file-system call raises: Python's own errors on some paths, TensorFlow's on others.
IO_ERRORS = (OSError, tf.errors.OpError)


def describe(error: BaseException) -> str:
    """``"<Type>: <message>"`` of a file-system error, on one line (for messages of the library's errors)."""
    message = getattr(error, "message", None) or getattr(error, "strerror", None) or str(error)
    return f"{type(error).__name__}: {' '.join(str(message).split())}"


def is_local(path: str) -> bool:
    """Whether `path` is on the local disk (no URL scheme, or ``file://``)."""
    path = os.fspath(path)
    return "://" not in path or path.startswith("file://")


def join(base: str, *parts: str) -> str:
    """`os.path.join` for local paths, ``/``-joins for URLs (whatever the local OS separator is)."""
    base = os.fspath(base)
    return os.path.join(base, *parts) if is_local(base) else posixpath.join(base, *parts)


def exists(path: str) -> bool:
    return gfile.exists(path)


def isdir(path: str) -> bool:
    return gfile.isdir(path)


def makedirs(path: str) -> None:
    gfile.makedirs(path)


def listdir(path: str) -> list:
    """Entry names of a directory (without trailing ``/``), [] when it does not exist."""
    if not gfile.isdir(path):
        return []
    names = [name.rstrip("/") for name in gfile.listdir(path)]
    if is_local(path):
        return names
    # Some file systems list by name prefix (ram:// lists "run/assets.extra/x" as "run/assets/.extra"): only
    # entries that exist under their own name are children.
    return [name for name in names if gfile.exists(join(path, name))]


def walk(directory: str):
    """`(relative_dirs, relative_files)` of everything under `directory`, ``/``-separated and sorted."""
    dirs, files = [], []
    pending = [""]
    while pending:
        rel = pending.pop()
        here = join(directory, *rel.split("/")) if rel else directory
        for name in listdir(here):
            child = f"{rel}/{name}" if rel else name
            if gfile.isdir(join(here, name)):
                dirs.append(child)
                pending.append(child)
            else:
                files.append(child)
    return sorted(dirs), sorted(files)


def rmtree(path: str) -> None:
    """Deletes a directory and everything in it (nothing when it does not exist)."""
    if not gfile.exists(path):
        return
    try:
        gfile.rmtree(path)
        return
    except tf.errors.NotFoundError:  # a file system whose listing shows entries that are not there (ram://)
        pass
    dirs, files = walk(path)
    for rel in files:
        remove(join(path, *rel.split("/")))
    for rel in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
        try:
            gfile.remove(join(path, *rel.split("/")))
        except tf.errors.OpError:
            pass
    try:
        gfile.remove(path)
    except tf.errors.OpError:
        pass


def read_bytes(path: str) -> bytes:
    with gfile.GFile(path, "rb") as f:
        return f.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def remove(path: str) -> bool:
    """Deletes a file; False when it was not there."""
    try:
        gfile.remove(path)
    except tf.errors.NotFoundError:
        return False
    return True


def write_atomic(path: str, data: Union[bytes, str], tmp_suffix: str = ".tmp") -> str:
    """Writes `data` to `path + tmp_suffix` and renames it to `path` (replacing an older `path`); returns `path`.

    A failed write leaves any previous `path` untouched and removes the temporary file.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = path + tmp_suffix
    try:
        with gfile.GFile(tmp, "wb") as f:
            f.write(data)
        gfile.rename(tmp, path, overwrite=True)
    except BaseException:
        remove_quietly(tmp)
        raise
    return path


def remove_quietly(path: str) -> None:
    """Deletes a file or directory tree if it is there, ignoring file-system errors (for clean-up paths)."""
    try:
        if gfile.isdir(path):
            rmtree(path)
        elif gfile.exists(path):
            gfile.remove(path)
    except IO_ERRORS:
        pass


def publish_dir(tmp: str, target: str, last: Iterable[str] = ()) -> None:
    """Moves the finished directory `tmp` to `target`, which must not exist.

    Local disk: one atomic rename. Other file systems: the files are copied (the relative paths in `last`, e.g.
    ``saved_model.pb``, after all others, so a watcher that waits for them never sees a partial directory) and
    `tmp` is deleted.

    Raises:
        tf.errors.AlreadyExistsError / OSError: `target` exists.
    """
    if is_local(tmp) and is_local(target):
        gfile.rename(tmp, target, overwrite=False)
        return
    if gfile.exists(target):
        raise tf.errors.AlreadyExistsError(None, None, f"{target} already exists")
    last = tuple(last)
    dirs, files = walk(tmp)
    order = [f for f in files if f not in last] + [f for f in last if f in files]
    try:
        gfile.makedirs(target)
        for rel in dirs:  # empty directories (e.g. `assets/`) are part of the layout too
            gfile.makedirs(join(target, *rel.split("/")))
        for rel in order:
            gfile.copy(join(tmp, *rel.split("/")), join(target, *rel.split("/")), overwrite=False)
    except BaseException:
        remove_quietly(target)
        raise
    remove_quietly(tmp)
