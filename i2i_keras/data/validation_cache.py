"""A persistent cache of validated images, so that a folder validated once is not decoded again on the next run.

Folder readers decode every image before training (`files.inspect_images`); for 100k+ images that takes minutes
and used to be repeated on every run. Here the shapes of the images that passed are kept in one JSON file per
folder (the common parent of the validated paths), each entry keyed by the file's relative path, size and
modification time. On the next run a file whose (size, mtime) is unchanged is not read, let alone decoded; a changed,
new or previously rejected file is validated again (errors are never cached, so a bad file is reported on every run).

Where: ``$I2I_KERAS_CACHE_DIR/validation/`` when set, else ``$XDG_CACHE_HOME/i2i_keras/validation/`` (default
``~/.cache/i2i_keras/validation/``). Never inside the data folder: it may be read-only, shared by users, or remote,
and a file we add there would be listed as data by other tools. ``I2I_KERAS_VALIDATION_CACHE=0`` turns it off.

File systems that report no modification time (``ram://`` and some object stores give 0) are keyed by a SHA-256
of the file's bytes instead: the file is read but not decoded, which still saves the decode, and a file rewritten
with the same size is never mistaken for the validated one.

The cache file is written atomically (`storage.write_atomic`, a temporary name per process and thread), so a
crash or a concurrent run leaves either the old or the new file; an unreadable or malformed cache file is ignored
(and replaced), and a cache directory that cannot be written only costs the speed-up (one warning).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from typing import Optional

from i2i_keras import storage

logger = logging.getLogger(__name__)

FORMAT = 1
ENV_DIR = "I2I_KERAS_CACHE_DIR"
ENV_SWITCH = "I2I_KERAS_VALIDATION_CACHE"
_warned = set()


def cache_dir() -> Optional[str]:
    """The folder holding the validation cache files, or None when the cache is switched off."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "off", "false", "no"):
        return None
    root = os.environ.get(ENV_DIR)
    if root:
        return storage.join(root, "validation")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "i2i_keras", "validation")


def common_folder(paths: list) -> str:
    """The deepest folder holding every path (local paths and URLs alike)."""
    if all(storage.is_local(p) for p in paths):
        return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    parents = [p.rsplit("/", 1)[0] for p in paths]
    prefix = os.path.commonprefix(parents)
    # A common prefix can stop inside a name ("ram://d/ab" and "ram://d/ac"): back up to a whole folder.
    if not all(p == prefix or p.startswith(prefix + "/") for p in parents):
        prefix = prefix.rsplit("/", 1)[0]
    return prefix


def cache_path(folder: str, directory: str) -> str:
    """The cache file of `folder`: named by a hash of the folder's absolute path or URL."""
    key = hashlib.sha256(folder.encode("utf-8")).hexdigest()[:32]
    return storage.join(directory, f"{key}.json")


def entries_digest(entries: dict) -> str:
    """SHA-256 over the sorted (relative path, size, mtime or content hash, shape) entries: the folder's fingerprint,
    and the check that a cache file was neither cut short nor edited (the shapes are covered too)."""
    h = hashlib.sha256()
    for rel in sorted(entries):
        h.update("\0".join([rel, *(str(v) for v in entries[rel])]).encode("utf-8") + b"\n")
    return h.hexdigest()


def content_stamp(data: bytes) -> str:
    """The stamp of a file whose file system reports no modification time."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FolderCache:
    """The validated entries of one folder: ``relative path -> [size, stamp, height, width, channels]``, where
    stamp is the mtime in nanoseconds or, without one, `content_stamp` of the bytes."""

    def __init__(self, folder: str, directory: Optional[str]):
        self.folder = folder
        self.path = cache_path(folder, directory) if directory else None
        self.entries: dict = {}
        self.changed = False
        self._lock = threading.Lock()
        if self.path is not None:
            self._load()

    def _load(self) -> None:
        try:
            if not storage.exists(self.path):
                return
            doc = json.loads(storage.read_text(self.path))
            if (not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("folder") != self.folder
                    or not isinstance(doc.get("entries"), dict)
                    or doc.get("digest") != entries_digest(doc["entries"])):
                # A cache of another format or folder (hash collision), or edited by hand: start afresh.
                logger.info("Ignoring the validation cache %s (not a format-%d cache of %s).", self.path, FORMAT,
                            self.folder)
                return
            self.entries = {rel: list(v) for rel, v in doc["entries"].items() if isinstance(v, list) and len(v) == 5}
        except (ValueError, UnicodeDecodeError, *storage.IO_ERRORS) as e:
            logger.info("Ignoring the unreadable validation cache %s (%s).", self.path, storage.describe(e))

    def relative(self, path: str) -> str:
        if storage.is_local(path):
            return os.path.relpath(os.path.abspath(path), self.folder).replace(os.sep, "/")
        return path[len(self.folder):].lstrip("/")

    def lookup(self, path: str, size: int, stamp) -> Optional[tuple]:
        """The cached (height, width, channels) of `path` when its size and stamp are those validated, else None."""
        entry = self.entries.get(self.relative(path))
        if entry is None or entry[0] != size or entry[1] != stamp:
            return None
        return tuple(int(d) for d in entry[2:])

    def store(self, path: str, size: int, stamp, shape: tuple) -> None:
        with self._lock:
            self.entries[self.relative(path)] = [int(size), stamp, *(int(d) for d in shape)]
            self.changed = True

    def save(self) -> None:
        """Writes the cache file when anything was added; a failure is one warning per cache folder, never fatal."""
        if self.path is None or not self.changed:
            return
        doc = {"format": FORMAT, "folder": self.folder, "digest": entries_digest(self.entries),
               "entries": self.entries}
        directory = os.path.dirname(self.path) if storage.is_local(self.path) else self.path.rsplit("/", 1)[0]
        try:
            storage.makedirs(directory)
            # A temporary name per process and thread: two runs validating the same folder at once each rename a
            # complete file into place, and the last one wins.
            storage.write_atomic(self.path, json.dumps(doc, separators=(",", ":")),
                                 tmp_suffix=f".tmp-{os.getpid()}-{threading.get_ident()}")
            self.changed = False
        except storage.IO_ERRORS as e:
            if directory not in _warned:
                _warned.add(directory)
                logger.warning("Cannot write the validation cache in %s (%s); images will be decoded again on the "
                               "next run. Set %s to a writable folder, or %s=0 to silence this.", directory,
                               storage.describe(e), ENV_DIR, ENV_SWITCH)
