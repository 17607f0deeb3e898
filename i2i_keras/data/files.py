"""Listing and validating image files, on any file system TensorFlow knows (``tf.io.gfile``: local, ``gs://``,
``s3://`` with tensorflow-io, HDFS, ``ram://``).

This module decides what a folder holds (images, split folders, pair folders, an attributes.csv) and whether an
image is usable; it reads bytes but builds no dataset. Every problem is a `DataError` naming the path, with a
reason code (`DataError.code`) that ingestion reports as the reject reason.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import os
import struct
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf

from i2i_keras import storage
from i2i_keras.data import validation_cache
from i2i_keras.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
TIFF_EXTENSIONS = (".tif", ".tiff")
# Image formats TensorFlow cannot decode, by extension. A folder reader that meets one raises a DataError naming it
# (``unsupported_format``) and ingestion rejects it: an image is never skipped without a word.
UNSUPPORTED_EXTENSIONS = {".tif": "TIFF", ".tiff": "TIFF", ".webp": "WebP", ".heic": "HEIC", ".heif": "HEIF",
                          ".avif": "AVIF", ".jxl": "JPEG XL"}
SUPPORTED_FORMATS = "PNG, JPEG, BMP or GIF"
# The most pixels (width x height) an image may declare before it is decoded; 0 means no limit. An encoded image
# can be tiny and declare a huge size (an 8000x8000 PNG of one colour is 62 KB and decodes to 192 MB of RGB), so
# the header is checked first (`image_header`). ``data.max_pixels`` overrides it.
DEFAULT_MAX_PIXELS = 50_000_000
SPLIT_NAMES = ("train", "test", "val")
# Which split folders serve a requested split, in order of preference.
SPLIT_CANDIDATES = {"train": ("train",), "test": ("test", "val"), "val": ("val", "test")}
PAIR_FOLDER_NAMES = (("A", "B"), ("source", "target"))
ATTRIBUTES_FILE = "attributes.csv"


def unsupported_reason(format_name: str) -> str:
    """Why a file of an undecodable format (TIFF, WebP, HEIC, AVIF ...) is refused, and what to do."""
    return (f"{format_name} is not supported (TensorFlow has no {format_name} decoder; supported formats: "
            f"{SUPPORTED_FORMATS}); convert it to PNG")


# ----------------------------------------------------------------------------------------------- paths


join = storage.join


def relative(path: str, folder: str) -> str:
    """`path` relative to `folder`, with "/" separators, for local paths and URLs alike."""
    if not (storage.is_local(path) and storage.is_local(folder)):
        prefix = folder.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise ValueError(f"{path!r} is not inside {folder!r}")
        return path[len(prefix):]
    return os.path.relpath(path, folder).replace(os.sep, "/")


def basename(path: str) -> str:
    """The last name of a path or URL, trailing separators ignored."""
    return path.rstrip("/").rstrip(os.sep).replace(os.sep, "/").split("/")[-1]


def split_prefixes(split: str) -> tuple:
    return SPLIT_CANDIDATES.get(split, (split,))


def is_dir(path: str) -> bool:
    try:
        return tf.io.gfile.isdir(path)
    except tf.errors.OpError:
        return False


def is_file(path: str) -> bool:
    try:
        return tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path)
    except tf.errors.OpError:
        return False


def subdirs(folder: str) -> list:
    """Sorted names of the visible sub-folders of `folder`."""
    names = (n.rstrip("/") for n in tf.io.gfile.listdir(folder))
    return sorted(n for n in names if n and not n.startswith(".") and is_dir(join(folder, n)))


def glob(pattern: str) -> list:
    return sorted(tf.io.gfile.glob(pattern))


def read_bytes(path: str) -> bytes:
    """The bytes of a file; DataError ``file_not_found`` / ``unreadable``."""
    try:
        return storage.read_bytes(path)
    except tf.errors.NotFoundError:
        raise DataError(path, "file not found", code="file_not_found") from None
    except storage.IO_ERRORS as e:
        raise DataError(path, f"cannot read the file: {decoder_message(e)}", code="unreadable") from None


def read_text(path: str) -> str:
    """A UTF-8 text file; DataError ``not_utf8`` naming the file when it is not UTF-8."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(path, f"not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r}); save it as UTF-8",
                        code="not_utf8") from None


# ----------------------------------------------------------------------------------------------- listing


def scan_folder(folder: str, recursive: bool = True) -> tuple:
    """Lists `folder` without judging it: ``(images, others)``, both in walk order (folders top-down, sorted names).

    ``images`` are the files with an image extension (.png .jpg .jpeg .bmp .gif, any case) and those of image
    formats TensorFlow cannot decode (`UNSUPPORTED_EXTENSIONS`: TIFF, WebP, HEIC, AVIF ..., which `list_images`
    refuses and `check_image_bytes` rejects); ``others`` are the remaining files. Hidden files and folders (names
    starting with ".") are skipped. Raises DataError only for a missing folder.
    """
    if not is_dir(folder):
        raise DataError(folder, "folder not found", code="folder_not_found")
    images, others = [], []
    for parent, dirs, files in tf.io.gfile.walk(folder):
        # gfile.walk, like os.walk, descends into the list it yielded: pruning it in place prunes the walk.
        dirs[:] = sorted(d.rstrip("/") for d in dirs if not d.startswith(".")) if recursive else []
        for name in sorted(f.rstrip("/") for f in files):
            if name.startswith("."):
                continue
            ext = os.path.splitext(name)[1].lower()
            (images if ext in IMAGE_EXTENSIONS or ext in UNSUPPORTED_EXTENSIONS else others).append(join(parent, name))
    return images, others


def list_images(folder: str, recursive: bool = True) -> list:
    """Sorted paths of the images in `folder` (.png .jpg .jpeg .bmp .gif, any case), skipping hidden files and
    folders. Raises DataError for a missing folder, an image TensorFlow cannot decode (TIFF, WebP, HEIC, AVIF ...:
    ``unsupported_format``, naming the first such file) or no images."""
    found, _ = scan_folder(folder, recursive)
    for path in found:
        check_extension(path)
    if not found:
        raise DataError(folder, f"no images found (looked for {', '.join(IMAGE_EXTENSIONS)})", code="no_images")
    return sorted(found)


def split_dir(root: str, split: str) -> str:
    """`root/train` etc. when root holds split folders, else root itself."""
    if not is_dir(root):
        raise DataError(root, "folder not found", code="folder_not_found")
    subs = subdirs(root)
    present = [s for s in SPLIT_NAMES if s in subs]
    if not present:
        return root
    for name in split_prefixes(split):
        if name in subs:
            return join(root, name)
    raise DataError(root, f"no folder for split {split!r} (split folders present: {present})", code="no_split")


def pair_dirs(folder: str) -> Optional[tuple]:
    """``(A, B)`` (or ``(source, target)``) sub-folders of `folder`, or None."""
    subs = set(subdirs(folder))
    for a, b in PAIR_FOLDER_NAMES:
        if a in subs and b in subs:
            return join(folder, a), join(folder, b)
    return None


def match_pairs(a_dir: str, b_dir: str) -> tuple:
    """Matches the images of two folders by relative path without extension; returns (a_paths, b_paths)."""

    def by_stem(d):
        table = {}
        for path in list_images(d):
            stem = os.path.splitext(relative(path, d))[0]
            if stem in table:
                raise DataError(path, f"two files share the name {stem!r} (also {table[stem]}); pairing is ambiguous",
                                code="ambiguous_pair")
            table[stem] = path
        return table

    a, b = by_stem(a_dir), by_stem(b_dir)
    for mine, other, other_dir in ((a, b, b_dir), (b, a, a_dir)):
        for stem in sorted(mine):
            if stem not in other:
                raise DataError(mine[stem], f"no partner with the same name in {other_dir} (pairs match by file name)",
                                code="missing_partner")
    stems = sorted(a)
    return [a[s] for s in stems], [b[s] for s in stems]


# ----------------------------------------------------------------------------------------------- validation


_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
_AVIF_BRANDS = (b"avif", b"avis")
DECODABLE_FORMATS = ("PNG", "JPEG", "GIF", "BMP")


def sniff(head: bytes) -> Optional[str]:
    """The image format of a file from its first bytes ("PNG", "JPEG", "GIF", "BMP", and the undecodable "TIFF",
    "WebP", "AVIF", "HEIC"), or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp":
        if head[8:12] in _AVIF_BRANDS:
            return "AVIF"
        if head[8:12] in _HEIF_BRANDS:
            return "HEIC"
    return None


def image_header(data: bytes) -> Optional[tuple]:
    """``(format, width, height)`` of an encoded PNG, JPEG, GIF or BMP image, read from its header without decoding
    anything; None when `data` is none of these or its header is cut short (the decoder then says what is wrong).

    The sizes are those the TensorFlow decoder allocates for: the PNG IHDR, the JPEG frame header (SOFn), the
    largest frame of a GIF (TensorFlow ignores the logical screen size), the BMP info header (absolute height:
    negative means top-down rows). Checking them first keeps a tiny file that declares a huge image from being
    decoded (`check_pixel_count`).
    """
    data = bytes(data[:])  # bytes, bytearray or memoryview
    try:
        kind = sniff(data[:16])
        if kind == "PNG":
            if data[12:16] != b"IHDR":
                return None
            width, height = struct.unpack(">II", data[16:24])
            return kind, width, height
        if kind == "JPEG":
            size = _jpeg_size(data)
            return None if size is None else (kind, *size)
        if kind == "GIF":
            size = _gif_size(data)
            return None if size is None else (kind, *size)
        if kind == "BMP":
            (info,) = struct.unpack("<I", data[14:18])
            if info == 12:  # OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes
                width, height = struct.unpack("<HH", data[18:22])
            else:
                width, height = struct.unpack("<ii", data[18:26])
            return (kind, width, abs(height)) if width >= 0 else None
    except (struct.error, IndexError):  # cut short inside the header
        return None
    return None


# JPEG frame markers (SOF0-SOF15 but DHT, JPG and DAC) carry the image size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> Optional[tuple]:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length
    return None


def _gif_size(data: bytes) -> Optional[tuple]:
    """The largest frame's (width, height): the blocks are walked, the image data skipped, nothing decoded."""

    def skip_sub_blocks(at):
        while True:
            size = data[at]
            at += 1
            if size == 0:
                return at
            at += size

    flags = data[10]
    at = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    width = height = 0
    frames = 0
    try:
        while at < len(data):
            block = data[at]
            if block == 0x3B:  # trailer
                break
            if block == 0x21:  # extension: label, then sub-blocks
                at = skip_sub_blocks(at + 2)
            elif block == 0x2C:  # image descriptor
                w, h, local = struct.unpack("<HHB", data[at + 5:at + 10])
                width, height, frames = max(width, w), max(height, h), frames + 1
                at += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0)
                at = skip_sub_blocks(at + 1)  # LZW minimum code size, then the data
            else:
                break
    except (IndexError, struct.error):  # truncated: the frames read so far
        pass
    return (width, height) if frames else None


def check_extension(path: str) -> None:
    """DataError ``unsupported_format`` when `path` names an image format TensorFlow cannot decode (by extension)."""
    name = UNSUPPORTED_EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if name is not None:
        raise DataError(path, unsupported_reason(name), code="unsupported_format")


def max_pixels_of(cfg: Any) -> int:
    """The pixel limit of a data config: ``data.max_pixels`` when set (0: no limit), else `DEFAULT_MAX_PIXELS`."""
    value = getattr(cfg, "max_pixels", None) if cfg is not None else None
    return DEFAULT_MAX_PIXELS if value is None else int(value)


def check_pixel_count(path: str, width: int, height: int, max_pixels: int = DEFAULT_MAX_PIXELS,
                      setting: str = "data.max_pixels") -> None:
    """DataError ``no_pixels`` for a declared size of 0, ``too_many_pixels`` above `max_pixels` (0: no limit)."""
    if width < 1 or height < 1:
        raise DataError(path, f"image has no pixels ({width}x{height})", code="no_pixels")
    if max_pixels and width * height > max_pixels:
        raise DataError(path, f"image is {width}x{height} ({width * height:,} pixels), more than the limit of "
                        f"{max_pixels:,} ({setting}; 0 = no limit); it is not decoded: downscale it",
                        code="too_many_pixels")


def decoder_message(error: Exception) -> str:
    """The useful part of a TensorFlow op error's message, on one line."""
    text = getattr(error, "message", None) or str(error)
    text = text.split("}}")[-1].split("[Op:")[0]
    return " ".join(text.split())


# (path, size, stamp) -> (height, width, channels), stamp being the mtime or, on a file system without one, a
# hash of the bytes (`validation_cache.content_stamp`): validating the same unchanged file twice in a process is free.
_SHAPE_CACHE: dict = {}
_SHAPE_CACHE_LIMIT = 200_000
# Lists of at least this many images use the on-disk validation cache (`validation_cache`): below it, decoding
# takes about a second, less than is worth a cache file per folder (tests make thousands of small folders).
DISK_CACHE_MIN_IMAGES = 200
# Lists of at least this many images show a progress line on stderr while they are validated.
PROGRESS_MIN_IMAGES = 2000


def check_image_bytes(path: str, data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple:
    """Checks the header of the encoded image `data` read from `path`, then fully decodes it; returns (height,
    width, channels).

    Raises DataError naming `path` when the name or the bytes are of a format TensorFlow cannot decode
    (``unsupported_format``: TIFF, WebP, HEIC, AVIF ...), the bytes are empty (``empty_file``) or not an image
    (``not_an_image``), the header declares no pixels (``no_pixels``) or more than `max_pixels` (``too_many_pixels``,
    before any decoding; 0 = no limit), the image is corrupt or truncated (``corrupt``) or has an unsupported
    channel count (``unsupported_channels``).
    """
    check_extension(path)
    if not data:
        raise DataError(path, "empty file (0 bytes)", code="empty_file")
    kind = sniff(data[:16])
    if kind is not None and kind not in DECODABLE_FORMATS:
        raise DataError(path, unsupported_reason(kind), code="unsupported_format")
    if kind is None:
        raise DataError(path, f"not an image: unrecognised file format (expected {SUPPORTED_FORMATS})",
                        code="not_an_image")
    header = image_header(data)
    if header is not None:
        check_pixel_count(path, header[1], header[2], max_pixels)
    try:
        shape = tuple(int(d) for d in tf.io.decode_image(data, channels=0, expand_animations=False).shape)
    except (tf.errors.OpError, ValueError) as e:
        message = decoder_message(e)
        if "channels inherent in the image" in message:  # e.g. a 16-bit BMP, read as two channels
            raise DataError(path, f"unsupported {kind} pixel format: {message}",
                            code="unsupported_channels") from None
        raise DataError(path, f"corrupt or truncated {kind} image: {message}", code="corrupt") from None
    if len(shape) != 3 or shape[2] not in (1, 2, 3, 4):
        raise DataError(path, f"unsupported channel count {shape[-1]} (expected 1 to 4)", code="unsupported_channels")
    if shape[0] < 1 or shape[1] < 1:
        raise DataError(path, f"image has no pixels ({shape[0]}x{shape[1]})", code="no_pixels")
    return shape


def inspect_image(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple:
    """Checks and fully decodes one image file (`check_image_bytes`) and returns (height, width, channels);
    DataError if unusable. `max_pixels`: the header's size limit (0: none)."""
    return _inspect(path, max_pixels, None)


def _inspect(path: str, max_pixels: int, cache) -> tuple:
    """`inspect_image`, answered from the process's shape cache or the folder's `validation_cache.FolderCache`
    (None: none) when the file's size and stamp are those validated before."""
    check_extension(path)
    try:
        stat = tf.io.gfile.stat(path)
    except tf.errors.NotFoundError:
        raise DataError(path, "file not found", code="file_not_found") from None
    except tf.errors.OpError as e:
        raise DataError(path, f"cannot read the file: {decoder_message(e)}", code="unreadable") from None
    if stat.length == 0:
        raise DataError(path, "empty file (0 bytes)", code="empty_file")
    data = None
    if stat.mtime_nsec:
        stamp = int(stat.mtime_nsec)
    else:
        # No modification time (ram://, some object stores): only the bytes tell a rewritten file from the old one.
        data = read_bytes(path)
        stamp = validation_cache.content_stamp(data)
    key = (path, stat.length, stamp)
    shape = _SHAPE_CACHE.get(key)
    if shape is None and cache is not None:
        shape = cache.lookup(path, stat.length, stamp)
    if shape is not None:
        check_pixel_count(path, shape[1], shape[0], max_pixels)  # validated under another limit
        return shape
    shape = check_image_bytes(path, read_bytes(path) if data is None else data, max_pixels)
    if len(_SHAPE_CACHE) < _SHAPE_CACHE_LIMIT:
        _SHAPE_CACHE[key] = shape
    if cache is not None:
        cache.store(path, stat.length, stamp, shape)
    return shape


class _Progress:
    """``validating N images in FOLDER: done/N (rate/s)`` on stderr, at most twice a second (a terminal: one line
    rewritten; a log file: a line every 10 seconds)."""

    def __init__(self, total: int, folder: str):
        import sys
        import time

        self.total, self.folder, self.stream, self.clock = total, folder, sys.stderr, time.monotonic
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self.last = self.clock()

    def update(self, done: int, final: bool = False) -> None:
        now = self.clock()
        if not final and now - self.last < (0.5 if self.tty else 10.0):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        text = f"validating {self.total} images in {self.folder}: {done}/{self.total} ({rate:.0f}/s)"
        self.stream.write(("\r" + text + ("\n" if final else "")) if self.tty else text + "\n")
        self.stream.flush()


def inspect_images(paths: list, max_pixels: int = DEFAULT_MAX_PIXELS) -> list:
    """`inspect_image` over many files in parallel; raises the DataError of the first bad file in list order.

    Lists of `DISK_CACHE_MIN_IMAGES` or more use the on-disk `validation_cache`: a file validated by an earlier
    run and unchanged since (same size and modification time) is not decoded again. Lists of
    `PROGRESS_MIN_IMAGES` or more show their progress on stderr.
    """
    if len(paths) < 16:
        return [inspect_image(p, max_pixels) for p in paths]
    folder = validation_cache.common_folder(paths)
    cache = progress = None
    if len(paths) >= DISK_CACHE_MIN_IMAGES:
        cache = validation_cache.FolderCache(folder, validation_cache.cache_dir())
    if len(paths) >= PROGRESS_MIN_IMAGES:
        progress = _Progress(len(paths), folder)
    # Threads, not processes: decoding and file reads release the GIL, and the shapes come back without pickling.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    shapes = []
    try:
        futures = [pool.submit(_inspect, p, max_pixels, cache) for p in paths]
        for future in futures:
            shapes.append(future.result())
            if progress is not None:
                progress.update(len(shapes))
        if progress is not None:
            progress.update(len(shapes), final=True)
    finally:
        # On the first bad file the rest is not waited for; what was validated is kept for the next run.
        pool.shutdown(wait=True, cancel_futures=True)
        if cache is not None:
            cache.save()
    return shapes


def check_sizes(items: list, cfg: Any, min_size: int, what: str = "image") -> None:
    """items: (path, (h, w)) sizes after any AB split. Checks them against `cfg.preprocess`."""
    mode = cfg.preprocess
    if mode == "crop":
        for path, (h, w) in items:
            if h < min_size or w < min_size:
                raise DataError(
                    path,
                    f"{what} is {h}x{w}, smaller than the crop {min_size}x{min_size} (data.preprocess='crop' needs "
                    f"every image at least data.crop_size; use 'resize_and_crop' to resize first)",
                    code="too_small",
                )
    elif mode == "none" and items:
        first_path, first = items[0]
        for path, size in items:
            if tuple(size) != tuple(first):
                raise DataError(
                    path,
                    f"{what} is {size[0]}x{size[1]} but {os.path.basename(first_path)} is {first[0]}x{first[1]}; "
                    f"data.preprocess='none' needs all images to share one size",
                    code="size_mismatch",
                )


def inspected(paths: list, cfg: Any, min_size: int, what: str = "image") -> list:
    """Validates every image of `paths` (decoding each, within ``cfg.max_pixels``) and their sizes; returns their
    (h, w, c) shapes."""
    shapes = inspect_images(paths, max_pixels_of(cfg))
    check_sizes([(p, s[:2]) for p, s in zip(paths, shapes)], cfg, min_size, what)
    return shapes


# ----------------------------------------------------------------------------------------------- attributes.csv


def read_attributes_csv(csv_path: str, folder: str, domains: Optional[list] = None,
                        check_file: Optional[Callable] = None) -> tuple:
    """Parses an ``attributes.csv`` (header: file name column, then attribute names; values 0/1 or -1/1).

    Args:
        csv_path: the CSV file.
        folder: the folder its file names are relative to.
        domains: the attribute columns to use, in label order (default: all).
        check_file: called as ``check_file(path, line)`` for each row; a row is kept when it returns true. The
            default raises DataError for a file that does not exist.

    Returns:
        ``(paths, labels, names)``: the kept rows' paths, a float32 [rows, attributes] multi-hot array and the
        attribute names used.

    Raises:
        DataError: the CSV is not UTF-8 or malformed (header, field counts, values) or names an unknown attribute.
    """
    text = read_text(csv_path)
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise DataError(csv_path, "needs a header row (file name column, then attribute names) and at least one row",
                        code="bad_attributes")
    header = [c.strip() for c in rows[0]]
    names = header[1:]
    if len(names) < 1:
        raise DataError(csv_path, "header row names no attributes (first column is the file name)",
                        code="bad_attributes")
    chosen = list(domains) if domains is not None else names
    for name in chosen:
        if name not in names:
            raise DataError(csv_path, f"no attribute column {name!r} (data.domains); columns: {names}",
                            code="unknown_domain")
    columns = [names.index(n) + 1 for n in chosen]
    paths, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(csv_path, f"line {line} has {len(row)} fields; the header has {len(header)}",
                            code="bad_attributes")
        path = join(folder, row[0].strip())
        keep = check_file(path, line) if check_file is not None else _require_listed_file(path, line)
        label = []
        for c in columns:
            value = row[c].strip()
            if value not in ("0", "1", "-1"):
                raise DataError(csv_path, f"line {line}: value {value!r} of {header[c]!r} is not 0/1 or -1/1",
                                code="bad_attributes")
            label.append(1.0 if value == "1" else 0.0)
        if keep:
            paths.append(path)
            labels.append(label)
    return paths, np.array(labels, np.float32).reshape(len(labels), len(chosen)), chosen


def _require_listed_file(path: str, line: int) -> bool:
    if not is_file(path):
        raise DataError(path, f"listed in {ATTRIBUTES_FILE} (line {line}) but not found", code="missing_file")
    return True
