"""Readers: turn a data spec into a ``tf.data.Dataset`` of dict batches, one structure per data kind.

A spec is a folder, a glob of TFRecord shards, ``tfds:NAME[/CONFIG][:SPLIT]``, ``embedded:NAME`` or None (the
embedded default for the data kind). Batches:

- paired: ``{"source": [B,h,w,C], "target": [B,H,W,C]}``
- sr: ``{"source": LR [B,H/s,W/s,C], "target": HR [B,H,W,C]}`` (LR made by `transforms.degrade_for_sr`, or
  read from real pairs)
- unpaired: ``{"domain_a": [B,H,W,C], "domain_b": [B,H,W,C]}``
- multi_domain: ``{"image": [B,H,W,C], "label": [B,D], "target_label": [B,D]}``
- single: ``{"image": [B,H,W,C]}``

Images are float32 in [-1, 1]; labels float32.

Determinism and resume: a training stream is a pure function of ``(seed, position)``. Each stream is a sequence
of epochs; epoch ``e`` visits every element once in an order drawn with a stateless shuffle seeded by
``(seed, e)``, and element ``i`` of epoch ``e`` is augmented with a stateless seed derived from ``(seed, e, i)``.
``skip_batches=n`` starts at element ``n * batch_size``: whole epochs are skipped arithmetically, only the rest
of one epoch is skipped by reading (and for folders that reads file names, not images).
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import glob as glob_lib
import os
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import schema
from i2i_keras.data import transforms
from i2i_keras.data.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_TIFF_EXTENSIONS = (".tif", ".tiff")
_SPLIT_NAMES = ("train", "test", "val")
# Which split folders serve a requested split, in order of preference.
_SPLIT_CANDIDATES = {"train": ("train",), "test": ("test", "val"), "val": ("val", "test")}
_PAIR_FOLDER_NAMES = (("A", "B"), ("source", "target"))
_ATTRIBUTES_FILE = "attributes.csv"
_EMBEDDED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "embedded")
_DEFAULT_SPECS = {
    "paired": "embedded:gray2color",
    "unpaired": "embedded:fashion_mnist",
    "multi_domain": "embedded:fashion_mnist",
    "single": "embedded:photos",
    "sr": "embedded:photos",
}
# Domains used when an embedded multi-domain set is read as unpaired data and `data.domains` is not set.
_EMBEDDED_UNPAIRED_DOMAINS = {"fashion_mnist": ["sneaker", "ankle_boot"]}
_MAX_EPOCHS = 2**62


def default_spec(data_kind: str) -> str:
    """The embedded data set used when ``data.spec`` is None."""
    schema.check_data_kind(data_kind)
    return _DEFAULT_SPECS[data_kind]


def embedded_path(name: str) -> str:
    """The folder of embedded data set `name` (raises DataError listing the available ones)."""
    path = os.path.join(_EMBEDDED_DIR, name)
    if not name or os.sep in name or not os.path.isdir(path):
        available = sorted(d for d in os.listdir(_EMBEDDED_DIR) if os.path.isdir(os.path.join(_EMBEDDED_DIR, d)))
        raise DataError(f"embedded:{name}", f"no such embedded data set; available: {available}")
    return path


# ----------------------------------------------------------------------------------------------- listing, checks


def _subdirs(folder: str) -> list:
    return sorted(
        d for d in os.listdir(folder) if not d.startswith(".") and os.path.isdir(os.path.join(folder, d))
    )


def scan_folder(folder: str, recursive: bool = True) -> tuple:
    """Lists `folder` without judging it: ``(images, others)``, both in walk order (folders top-down, sorted names).

    ``images`` are the files with an image extension (.png .jpg .jpeg .bmp .gif, any case) and TIFF files (which
    `list_images` refuses and `check_image_bytes` rejects); ``others`` are the remaining files. Hidden files and
    folders (names starting with ".") are skipped. Raises DataError only for a missing folder.
    """
    if not os.path.isdir(folder):
        raise DataError(folder, "folder not found")
    images, others = [], []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in sorted(files):
            if name.startswith("."):
                continue
            ext = os.path.splitext(name)[1].lower()
            (images if ext in IMAGE_EXTENSIONS + _TIFF_EXTENSIONS else others).append(os.path.join(parent, name))
    return images, others


def list_images(folder: str, recursive: bool = True) -> list:
    """Sorted paths of the images in `folder` (.png .jpg .jpeg .bmp .gif, any case), skipping hidden files and
    folders. Raises DataError for a missing folder, a TIFF file (TensorFlow cannot decode TIFF) or no images."""
    found, _ = scan_folder(folder, recursive)
    for path in found:
        if os.path.splitext(path)[1].lower() in _TIFF_EXTENSIONS:
            raise DataError(path, "TIFF is not supported (TensorFlow has no TIFF decoder); convert to PNG")
    if not found:
        raise DataError(folder, f"no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    return sorted(found)


def _sniff(head: bytes) -> Optional[str]:
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
    return None


def _decoder_message(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    text = text.split("}}")[-1].split("[Op:")[0]
    return " ".join(text.split())


# (realpath, size, mtime_ns) -> (height, width, channels); validating the same unchanged file twice is free.
_SHAPE_CACHE: dict = {}
_SHAPE_CACHE_LIMIT = 200_000


def check_image_bytes(path: str, data: bytes) -> tuple:
    """Fully decodes the encoded image `data` read from `path` and returns (height, width, channels).

    Raises DataError naming `path` when the bytes are empty, not a supported image format (TIFF included), corrupt
    or truncated, have an unsupported channel count or no pixels. `inspect_image` is this plus reading the file.
    """
    if not data:
        raise DataError(path, "empty file (0 bytes)")
    kind = _sniff(data[:16])
    if kind == "TIFF":
        raise DataError(path, "TIFF is not supported (TensorFlow has no TIFF decoder); convert to PNG")
    if kind is None:
        raise DataError(path, "not an image: unrecognised file format (expected PNG, JPEG, BMP or GIF)")
    try:
        shape = tuple(int(d) for d in tf.io.decode_image(data, channels=0, expand_animations=False).shape)
    except (tf.errors.OpError, ValueError) as e:
        raise DataError(path, f"corrupt or truncated {kind} image: {_decoder_message(e)}") from None
    if len(shape) != 3 or shape[2] not in (1, 2, 3, 4):
        raise DataError(path, f"unsupported channel count {shape[-1]} (expected 1 to 4)")
    if shape[0] < 1 or shape[1] < 1:
        raise DataError(path, f"image has no pixels ({shape[0]}x{shape[1]})")
    return shape


def inspect_image(path: str) -> tuple:
    """Fully decodes one image file eagerly and returns (height, width, channels); DataError if unusable."""
    try:
        stat = os.stat(path)
    except OSError:
        raise DataError(path, "file not found") from None
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if key in _SHAPE_CACHE:
        return _SHAPE_CACHE[key]
    if stat.st_size == 0:
        raise DataError(path, "empty file (0 bytes)")
    with open(path, "rb") as f:
        data = f.read()
    shape = check_image_bytes(path, data)
    if len(_SHAPE_CACHE) < _SHAPE_CACHE_LIMIT:
        _SHAPE_CACHE[key] = shape
    return shape


def inspect_images(paths: list) -> list:
    """`inspect_image` over many files in parallel; raises the DataError of the first bad file in list order."""
    if len(paths) < 16:
        return [inspect_image(p) for p in paths]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        futures = [pool.submit(inspect_image, p) for p in paths]
        return [f.result() for f in futures]


def _check_sizes(items: list, cfg: Any, min_size: int, what: str = "image") -> None:
    """items: (path, (h, w)) sizes after any AB split. Checks them against `cfg.preprocess`."""
    mode = cfg.preprocess
    if mode == "crop":
        for path, (h, w) in items:
            if h < min_size or w < min_size:
                raise DataError(
                    path,
                    f"{what} is {h}x{w}, smaller than the crop {min_size}x{min_size} (data.preprocess='crop' needs "
                    f"every image at least data.crop_size; use 'resize_and_crop' to resize first)",
                )
    elif mode == "none" and items:
        first_path, first = items[0]
        for path, size in items:
            if tuple(size) != tuple(first):
                raise DataError(
                    path,
                    f"{what} is {size[0]}x{size[1]} but {os.path.basename(first_path)} is {first[0]}x{first[1]}; "
                    f"data.preprocess='none' needs all images to share one size",
                )


def _split_dir(root: str, split: str) -> str:
    """`root/train` etc. when root holds split folders, else root itself."""
    if not os.path.isdir(root):
        raise DataError(root, "folder not found")
    subs = _subdirs(root)
    present = [s for s in _SPLIT_NAMES if s in subs]
    if not present:
        return root
    for name in _SPLIT_CANDIDATES.get(split, (split,)):
        if name in subs:
            return os.path.join(root, name)
    raise DataError(root, f"no folder for split {split!r} (split folders present: {present})")


def _pair_dirs(folder: str) -> Optional[tuple]:
    subs = set(_subdirs(folder))
    for a, b in _PAIR_FOLDER_NAMES:
        if a in subs and b in subs:
            return os.path.join(folder, a), os.path.join(folder, b)
    return None


# ----------------------------------------------------------------------------------------------- streams


@dataclasses.dataclass
class _Stream:
    """One stream of raw elements.

    ``epoch(e, seed, shuffle)`` returns the raw elements of one epoch (in a seeded order when shuffling);
    ``load(raw)`` decodes one raw element into a dict of tensors; ``count()`` is the number per epoch.
    """

    epoch: Callable
    load: Callable
    count: Callable
    name: str


def _permutation(n: Any, seed: tf.Tensor) -> tf.Tensor:
    return tf.random.experimental.stateless_shuffle(tf.range(tf.cast(n, tf.int64), dtype=tf.int64), seed=seed)


def _file_stream(columns: dict, load: Callable, name: str) -> _Stream:
    """A stream over an in-memory table (file paths, labels); elements are row indices, loaded by gathering."""
    n = len(next(iter(columns.values())))
    table = {k: tf.constant(v) for k, v in columns.items()}

    def epoch(e, seed, shuffle):
        index = _permutation(n, seed) if shuffle else tf.range(n, dtype=tf.int64)
        return tf.data.Dataset.from_tensor_slices(index)

    def load_row(i):
        return load({k: tf.gather(v, i) for k, v in table.items()})

    return _Stream(epoch=epoch, load=load_row, count=lambda: n, name=name)


def _window_shuffle(ds: tf.data.Dataset, window: int, seed: tf.Tensor) -> tf.data.Dataset:
    """A stateless stand-in for ``Dataset.shuffle``: permutes consecutive windows of `window` elements, each with
    its own seed, so the order is a pure function of the seed (``Dataset.shuffle`` also depends on the global
    seed)."""

    @tf.autograph.experimental.do_not_convert
    def permute(k, block):
        order = _permutation(tf.shape(tf.nest.flatten(block)[0])[0], transforms.sub_seed(seed, k))
        return tf.data.Dataset.from_tensor_slices(tf.nest.map_structure(lambda t: tf.gather(t, order), block))

    return ds.batch(window).enumerate().flat_map(permute)


def _keep_and_shuffle(ds: tf.data.Dataset, keep: Optional[Callable], shuffle: bool, window: int, seed) -> tf.data.Dataset:
    """The common tail of a record stream's epoch: filter by `keep`, then window-shuffle when training."""
    if keep is not None:
        ds = ds.filter(keep)
    if shuffle and window > 1:
        ds = _window_shuffle(ds, window, transforms.sub_seed(seed, 1))
    return ds


def _cached_count(epoch: Callable, known: Optional[int] = None) -> Callable:
    """Elements per epoch: `known` when the source says so, else counted once by reading an unshuffled epoch."""
    cache = {}

    def count():
        if "n" not in cache:
            cache["n"] = known if known is not None else int(
                epoch(0, None, False).reduce(np.int64(0), lambda n, _: n + 1).numpy())
        return cache["n"]

    return count


def _record_stream(
    files: list, compression: Optional[str], keep: Optional[Callable], load: Callable, window: int, name: str
) -> _Stream:
    """A stream over TFRecord shards: per epoch, the shard order is permuted, shards are interleaved and records
    are permuted in windows of `window`; `keep` filters serialized records (unpaired domains)."""
    file_tensor = tf.constant(files)

    def epoch(e, seed, shuffle):
        names = file_tensor
        if shuffle:
            names = tf.gather(file_tensor, _permutation(len(files), transforms.sub_seed(seed, 0)))
        read = lambda f: tf.data.TFRecordDataset(f, compression_type=compression or "")  # noqa: E731
        names_ds = tf.data.Dataset.from_tensor_slices(names)
        if shuffle:
            # Round-robin over several shards mixes them; `deterministic=True` keeps the order a function of the seed.
            cycle = min(len(files), 8)
            ds = names_ds.interleave(read, cycle_length=cycle, block_length=1, num_parallel_calls=cycle,
                                     deterministic=True)
        else:
            ds = names_ds.flat_map(read)
        return _keep_and_shuffle(ds, keep, shuffle, window, seed)

    return _Stream(epoch=epoch, load=load, count=_cached_count(epoch), name=name)


def _positioned(stream: _Stream, base_seed: tf.Tensor, training: bool, start: int, augment: Callable):
    """Elements of `stream` from position `start`, loaded and augmented, as a dataset of dicts."""
    order_seed = transforms.sub_seed(base_seed, 0)
    aug_seed = transforms.sub_seed(base_seed, 1)

    def tagged_epoch(e, shuffle):
        seed = transforms.sub_seed(order_seed, e) if shuffle else None
        tag = tf.autograph.experimental.do_not_convert(lambda i, raw: (e, i, raw))
        return stream.epoch(e, seed, shuffle).enumerate().map(tag)

    if training:
        first_epoch, offset = 0, 0
        if start:
            n = stream.count()
            first_epoch, offset = divmod(start, n)
        epochs = tf.data.Dataset.range(first_epoch, _MAX_EPOCHS)
        ds = epochs.flat_map(tf.autograph.experimental.do_not_convert(lambda e: tagged_epoch(e, True))).skip(offset)
    else:
        ds = tagged_epoch(tf.constant(0, tf.int64), False).skip(start)

    # No autograph: these functions branch only on Python values (tf.cond is explicit), and skipping the
    # conversion makes building a pipeline several times faster.
    @tf.autograph.experimental.do_not_convert
    def process(e, i, raw):
        return augment(stream.load(raw), transforms.sub_seed(aug_seed, e, i), training)

    return ds.map(process, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


# ----------------------------------------------------------------------------------------------- per-kind parts


def _decoder(cfg: Any) -> Callable:
    return lambda data: transforms.decode_image(data, cfg.channels)


def _read(path: tf.Tensor, cfg: Any) -> tf.Tensor:
    return transforms.decode_image(tf.io.read_file(path), cfg.channels)


def _augmenter(data_kind: str, cfg: Any, label_mode: str = "auto", sr_pairs: bool = False) -> Callable:
    if data_kind == "paired" or (data_kind == "sr" and sr_pairs):
        scale = cfg.scale if data_kind == "sr" else 1

        def paired(x, seed, training):
            source, target = transforms.preprocess_pair(x["source"], x["target"], cfg, seed, training, scale=scale)
            return {"source": source, "target": target}

        return paired
    if data_kind == "sr":

        def sr(x, seed, training):
            source, target = transforms.make_sr_pair(x["image"], cfg, seed, training)
            return {"source": source, "target": target}

        return sr
    if data_kind == "multi_domain":

        def multi(x, seed, training):
            image = transforms.preprocess(x["image"], cfg, seed, training)
            target = transforms.sample_target_label(x["label"], seed, label_mode)
            return {"image": image, "label": x["label"], "target_label": target}

        return multi
    return lambda x, seed, training: {"image": transforms.preprocess(x["image"], cfg, seed, training)}


@dataclasses.dataclass
class _Plan:
    """What a spec resolved to: the streams (two for unpaired) and how to augment their elements."""

    streams: list
    augment: Callable


def _swap(a, b, cfg):
    return (b, a) if cfg.direction == "b2a" else (a, b)


# ----------------------------------------------------------------------------------------------- folders


def _match_pairs(a_dir: str, b_dir: str, cfg: Any) -> tuple:
    """Matches the images of two folders by relative path without extension; returns (sources, targets)."""

    def by_stem(d):
        table = {}
        for path in list_images(d):
            stem = os.path.splitext(os.path.relpath(path, d))[0]
            if stem in table:
                raise DataError(path, f"two files share the name {stem!r} (also {table[stem]}); pairing is ambiguous")
            table[stem] = path
        return table

    a, b = by_stem(a_dir), by_stem(b_dir)
    for mine, other, other_dir in ((a, b, b_dir), (b, a, a_dir)):
        for stem in sorted(mine):
            if stem not in other:
                raise DataError(mine[stem], f"no partner with the same name in {other_dir} (pairs match by file name)")
    stems = sorted(a)
    return _swap([a[s] for s in stems], [b[s] for s in stems], cfg)


def _pair_table_load(cfg: Any) -> Callable:
    return lambda row: {"source": _read(row["source"], cfg), "target": _read(row["target"], cfg)}


def _paired_layout(folder: str, dirs: Optional[tuple], layout: str) -> str:
    """"ab" or "folders": what a paired folder holds under `data.layout` ("auto" picks folders when A/+B/ exist)."""
    if layout == "auto":
        layout = "folders" if dirs else "ab"
    if layout == "folders" and not dirs:
        raise DataError(folder, "layout 'folders' needs subfolders A/ and B/ (or source/ and target/)")
    return layout


def _paired_dirs(base: str, layout: str, split: str) -> Optional[tuple]:
    """The (A, B) folders of a paired split, or None; A/ and B/ may hold the split folders themselves (A/train, B/train:
    the pix2pix "combine" layout)."""
    dirs = _pair_dirs(base) if layout != "ab" else None
    if dirs:
        dirs = tuple(_split_dir(d, split) for d in dirs)
    return dirs


def _paired_folder(folder: str, dirs: Optional[tuple], cfg: Any) -> _Plan:
    layout = _paired_layout(folder, dirs, cfg.layout)
    if layout == "folders":
        sources, targets = _match_pairs(dirs[0], dirs[1], cfg)
        items_s = [(p, s[:2]) for p, s in zip(sources, inspect_images(sources))]
        items_t = [(p, s[:2]) for p, s in zip(targets, inspect_images(targets))]
        _check_sizes(items_s, cfg, cfg.crop_size)
        _check_sizes(items_t, cfg, cfg.crop_size)
        if cfg.preprocess == "crop":
            for (ps, ss), (pt, st) in zip(items_s, items_t):
                if tuple(ss) != tuple(st):
                    raise DataError(
                        pt, f"image is {st[0]}x{st[1]} but its partner {ps} is {ss[0]}x{ss[1]}; data.preprocess='crop' "
                        f"needs pairs of equal size",
                    )
        stream = _file_stream({"source": np.array(sources), "target": np.array(targets)}, _pair_table_load(cfg), folder)
        return _Plan([stream], _augmenter("paired", cfg))
    # "ab": source and target side by side in one image.
    paths = list_images(folder)
    shapes = inspect_images(paths)
    for path, (h, w, _) in zip(paths, shapes):
        if w % 2:
            raise DataError(path, f"AB image width {w} is odd; an AB image is source and target side by side, two "
                            f"halves of equal width")
    _check_sizes([(p, (h, w // 2)) for p, (h, w, _) in zip(paths, shapes)], cfg, cfg.crop_size, "AB half")

    def load_ab(row):
        image = _read(row["path"], cfg)
        half = tf.shape(image)[1] // 2
        source, target = _swap(image[:, :half, :], image[:, half:, :], cfg)
        return {"source": source, "target": target}

    return _Plan([_file_stream({"path": np.array(paths)}, load_ab, folder)], _augmenter("paired", cfg))


def _sr_pairs_folder(folder: str, dirs: tuple, cfg: Any) -> _Plan:
    """Real low-res / high-res pairs (A/ or source/ low-res, B/ or target/ `scale` times larger)."""
    sources, targets = _match_pairs(dirs[0], dirs[1], cfg)
    s = cfg.scale
    src_shapes, tgt_shapes = inspect_images(sources), inspect_images(targets)
    for ps, ss, pt, st in zip(sources, src_shapes, targets, tgt_shapes):
        if (st[0], st[1]) != (ss[0] * s, ss[1] * s):
            raise DataError(pt, f"high-res image is {st[0]}x{st[1]}; expected data.scale={s} times its low-res "
                            f"partner {ps} ({ss[0]}x{ss[1]} -> {ss[0] * s}x{ss[1] * s})")
    _check_sizes([(p, t[:2]) for p, t in zip(targets, tgt_shapes)], cfg, cfg.crop_size, "high-res image")
    stream = _file_stream({"source": np.array(sources), "target": np.array(targets)}, _pair_table_load(cfg), folder)
    return _Plan([stream], _augmenter("sr", cfg, sr_pairs=True))


def _image_stream(folder: str, cfg: Any, min_size: int) -> _Stream:
    paths = list_images(folder)
    shapes = inspect_images(paths)
    _check_sizes([(p, s[:2]) for p, s in zip(paths, shapes)], cfg, min_size)
    return _file_stream({"path": np.array(paths)}, lambda row: {"image": _read(row["path"], cfg)}, folder)


def _single_folder(folder: str, cfg: Any, data_kind: str) -> _Plan:
    paths = list_images(folder)
    shapes = inspect_images(paths)
    _check_sizes([(p, s[:2]) for p, s in zip(paths, shapes)], cfg, cfg.crop_size)
    if data_kind == "sr" and cfg.preprocess == "none":
        for p, (h, w, _) in zip(paths, shapes):
            if h < cfg.scale or w < cfg.scale:
                raise DataError(p, f"image is {h}x{w}, smaller than data.scale={cfg.scale}")
    stream = _file_stream({"path": np.array(paths)}, lambda row: {"image": _read(row["path"], cfg)}, folder)
    return _Plan([stream], _augmenter(data_kind, cfg))


def _split_prefixes(split: str) -> tuple:
    return _SPLIT_CANDIDATES.get(split, (split,))


def _unpaired_dirs(root: str, split: str, domains: Optional[list]) -> list:
    """The two domain folders of an unpaired split: `domains` names, else {split}A/{split}B, else two subfolders."""
    if domains is not None:
        if len(domains) != 2:
            raise DataError(root, f"unpaired data needs exactly two names in data.domains. Received: {domains}")
        base = _split_dir(root, split)
        dirs = []
        for name in domains:
            candidates = [os.path.join(base, name)] + [os.path.join(root, p + name) for p in _split_prefixes(split)]
            found = next((c for c in candidates if os.path.isdir(c)), None)
            if found is None:
                raise DataError(candidates[0], f"domain folder not found; subfolders there: {_subdirs(base)}")
            dirs.append(found)
    else:
        dirs = None
        for prefix in _split_prefixes(split):
            pair = [os.path.join(root, prefix + "A"), os.path.join(root, prefix + "B")]
            if all(os.path.isdir(d) for d in pair):
                dirs = pair
                break
        if dirs is None:
            base = _split_dir(root, split)
            subs = _subdirs(base)
            if len(subs) != 2:
                raise DataError(
                    base,
                    f"cannot tell the two domains: expected {split}A/ and {split}B/ or exactly two subfolders, found "
                    f"{subs}; name them in data.domains",
                )
            dirs = [os.path.join(base, s) for s in subs]
    return dirs


def _unpaired_folder(root: str, cfg: Any, split: str, domains: Optional[list]) -> _Plan:
    dirs = _unpaired_dirs(root, split, domains)
    streams = [_image_stream(d, cfg, cfg.crop_size) for d in dirs]
    return _Plan(streams, _augmenter("unpaired", cfg))


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
        DataError: the CSV is malformed (header, field counts, values) or names an unknown attribute.
    """
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise DataError(csv_path, "needs a header row (file name column, then attribute names) and at least one row")
    header = [c.strip() for c in rows[0]]
    names = header[1:]
    if len(names) < 1:
        raise DataError(csv_path, "header row names no attributes (first column is the file name)")
    chosen = list(domains) if domains is not None else names
    for name in chosen:
        if name not in names:
            raise DataError(csv_path, f"no attribute column {name!r} (data.domains); columns: {names}")
    columns = [names.index(n) + 1 for n in chosen]
    paths, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(csv_path, f"line {line} has {len(row)} fields; the header has {len(header)}")
        path = os.path.join(folder, row[0].strip())
        keep = check_file(path, line) if check_file is not None else _require_listed_file(path, line)
        label = []
        for c in columns:
            value = row[c].strip()
            if value not in ("0", "1", "-1"):
                raise DataError(csv_path, f"line {line}: value {value!r} of {header[c]!r} is not 0/1 or -1/1")
            label.append(1.0 if value == "1" else 0.0)
        if keep:
            paths.append(path)
            labels.append(label)
    return paths, np.array(labels, np.float32).reshape(len(labels), len(chosen)), chosen


def _require_listed_file(path: str, line: int) -> bool:
    if not os.path.isfile(path):
        raise DataError(path, f"listed in {_ATTRIBUTES_FILE} (line {line}) but not found")
    return True


def _read_attributes(csv_path: str, folder: str, domains: Optional[list]) -> tuple:
    return read_attributes_csv(csv_path, folder, domains)


def _multi_domain_layout(root: str, split: str, domains: Optional[list]) -> tuple:
    """``(base, csv_path, None)`` when the split folder has an attributes.csv, else ``(base, None, domain_names)``."""
    base = _split_dir(root, split)
    csv_path = os.path.join(base, _ATTRIBUTES_FILE)
    if os.path.isfile(csv_path):
        return base, csv_path, None
    subs = _subdirs(base)
    names = list(domains) if domains is not None else subs
    if len(names) < 2:
        raise DataError(base, f"multi-domain data needs at least two domain folders (or {_ATTRIBUTES_FILE}); "
                        f"found {subs}")
    return base, None, names


def _multi_domain_folder(root: str, cfg: Any, split: str) -> _Plan:
    base, csv_path, domains = _multi_domain_layout(root, split, cfg.domains)
    if csv_path is not None:
        paths, labels, _ = _read_attributes(csv_path, base, cfg.domains)
        mode = "attributes"
    else:
        paths, rows = [], []
        for index, name in enumerate(domains):
            d = os.path.join(base, name)
            if not os.path.isdir(d):
                raise DataError(d, f"domain folder not found (named in data.domains); subfolders there: "
                                f"{_subdirs(base)}")
            files = list_images(d)
            paths += files
            rows += [index] * len(files)
        labels = np.eye(len(domains), dtype=np.float32)[rows]
        mode = "onehot"
    shapes = inspect_images(paths)
    _check_sizes([(p, s[:2]) for p, s in zip(paths, shapes)], cfg, cfg.crop_size)

    def load(row):
        return {"image": _read(row["path"], cfg), "label": row["label"]}

    stream = _file_stream({"path": np.array(paths), "label": labels}, load, base)
    return _Plan([stream], _augmenter("multi_domain", cfg, label_mode=mode))


def _folder_plan(folder: str, data_kind: str, cfg: Any, split: str, domains: Optional[list]) -> _Plan:
    if data_kind == "unpaired":
        return _unpaired_folder(folder, cfg, split, domains)
    if data_kind == "multi_domain":
        return _multi_domain_folder(folder, cfg, split)
    base = _split_dir(folder, split)
    if data_kind in ("paired", "sr"):
        dirs = _paired_dirs(base, cfg.layout, split)
        if data_kind == "paired":
            return _paired_folder(base, dirs, cfg)
        if dirs:
            return _sr_pairs_folder(base, dirs, cfg)
    return _single_folder(base, cfg, data_kind)


def folder_sources(root: str, data_kind: str, split: str, *, layout: str = "auto",
                   domains: Optional[list] = None) -> dict:
    """Where the images of one split of a folder data set are, resolved exactly as `make_dataset` resolves folders,
    without listing or reading any image (ingestion validates files one by one instead of failing on the first).

    Args:
        root: the data folder.
        data_kind: "paired", "unpaired" or "multi_domain".
        split: "train", "test" or "val" (a folder without split subfolders is used whole for any split).
        layout: paired layout, as `data.layout` ("auto", "ab", "folders").
        domains: as `data.domains` (unpaired: the two folder names; multi_domain: domain folders or attributes).

    Returns:
        One of ``{"layout": "ab", "folder": F}`` (paired, source|target side by side), ``{"layout": "folders",
        "source": A, "target": B}`` (paired, matching file names), ``{"layout": "domains", "domains": [(name,
        folder), ...]}`` (unpaired: two; multi_domain: one per domain, in label order) or ``{"layout":
        "attributes", "folder": F, "csv": path}`` (multi_domain with an attributes.csv).

    Raises:
        DataError: the folders the data kind needs are not there.
    """
    if data_kind == "unpaired":
        dirs = _unpaired_dirs(root, split, domains)
        return {"layout": "domains", "domains": [(os.path.basename(d), d) for d in dirs]}
    if data_kind == "multi_domain":
        base, csv_path, names = _multi_domain_layout(root, split, domains)
        if csv_path is not None:
            return {"layout": "attributes", "folder": base, "csv": csv_path}
        for name in names:
            if not os.path.isdir(os.path.join(base, name)):
                raise DataError(os.path.join(base, name), f"domain folder not found (named in data.domains); "
                                f"subfolders there: {_subdirs(base)}")
        return {"layout": "domains", "domains": [(name, os.path.join(base, name)) for name in names]}
    if data_kind != "paired":
        raise ValueError(f"`data_kind` must be 'paired', 'unpaired' or 'multi_domain'. "
                         f"Received: data_kind={data_kind!r}")
    base = _split_dir(root, split)
    dirs = _paired_dirs(base, layout, split)
    if _paired_layout(base, dirs, layout) == "folders":
        return {"layout": "folders", "source": dirs[0], "target": dirs[1]}
    return {"layout": "ab", "folder": base}


# ----------------------------------------------------------------------------------------------- TFRecords


def _is_glob(spec: str) -> bool:
    return any(c in spec for c in "*?[")


def _record_plan(spec: str, data_kind: str, cfg: Any) -> _Plan:
    files = sorted(glob_lib.glob(spec)) if _is_glob(spec) else [spec]
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        raise DataError(spec, "no TFRecord files match")
    images = [f for f in files if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    if images:
        raise DataError(images[0], "a glob names TFRecord shards, not images; pass the image folder instead")
    gz = [f.endswith(".gz") for f in files]
    if any(gz) and not all(gz):
        raise DataError(spec, "the glob mixes gzip (.gz) and uncompressed TFRecord files")
    compression = "GZIP" if gz[0] else None
    window = max(1, cfg.shuffle_buffer)
    decode = _decoder(cfg)

    def first_record(keep=None):
        ds = tf.data.TFRecordDataset(files, compression_type=compression or "")
        if keep is not None:
            ds = ds.filter(keep)
        try:
            for record in ds.take(1):
                return record
        except tf.errors.OpError as e:
            raise DataError(spec, f"cannot read TFRecords: {_decoder_message(e)}") from None
        return None

    if data_kind == "unpaired":
        streams = []
        for domain in (0, 1):
            keep = (lambda d: lambda r: tf.equal(schema.parse_domain(r), d))(domain)
            if first_record(keep) is None:
                raise DataError(spec, f"no records with {schema.DOMAIN}={domain} (unpaired data needs both domains)")

            def load(r):
                return {"image": decode(schema.parse_example(r, "unpaired")[schema.IMAGE])}

            streams.append(_record_stream(files, compression, keep, load, window, f"{spec}[domain={domain}]"))
        return _Plan(streams, _augmenter("unpaired", cfg))

    first = first_record()
    if first is None:
        raise DataError(spec, "the TFRecord files hold no records")
    parse_kind = "single" if data_kind == "sr" else data_kind
    try:
        parsed = schema.parse_example(first, parse_kind)
    except tf.errors.OpError as e:
        raise DataError(spec, f"records do not match the {data_kind!r} schema: {_decoder_message(e)}") from None

    if data_kind == "paired":

        def load(r):
            x = schema.parse_example(r, "paired")
            source, target = _swap(decode(x[schema.SOURCE]), decode(x[schema.TARGET]), cfg)
            return {"source": source, "target": target}

    elif data_kind == "multi_domain":
        depth = int(parsed[schema.LABEL].shape[0])
        if cfg.domains is not None and len(cfg.domains) != depth:
            raise DataError(spec, f"records have {depth} labels but data.domains names {len(cfg.domains)}")

        def load(r):
            x = schema.parse_example(r, "multi_domain")
            label = tf.ensure_shape(tf.cast(x[schema.LABEL], tf.float32), [depth])
            return {"image": decode(x[schema.IMAGE]), "label": label}

    else:

        def load(r):
            return {"image": decode(schema.parse_example(r, parse_kind)[schema.IMAGE])}

    stream = _record_stream(files, compression, None, load, window, spec)
    return _Plan([stream], _augmenter(data_kind, cfg))


# ----------------------------------------------------------------------------------------------- TFDS


def _tfds_plan(spec: str, data_kind: str, cfg: Any, split: str) -> _Plan:
    try:
        import tensorflow_datasets as tfds  # lazy: an optional dependency
    except ImportError:
        raise ImportError(
            f"Reading {spec!r} needs TensorFlow Datasets. Install it with `pip install tensorflow-datasets`."
        ) from None
    body = spec[len("tfds:"):]
    name, _, spec_split = body.partition(":")
    if not name:
        raise DataError(spec, "expected tfds:NAME[/CONFIG][:SPLIT]")
    data_dir = os.environ.get("TFDS_DATA_DIR")
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # tfds raises its own DatasetNotFoundError and others; all mean "unusable spec".
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(spec, f"unknown TFDS data set: {reason}") from None
    if not builder.is_prepared():
        raise DataError(
            spec,
            f"TFDS data set is not prepared in {builder.data_dir}; i2i_keras never downloads: prepare it once with "
            f"`tfds build {name}` where the internet is reachable, and set TFDS_DATA_DIR",
        )
    features = builder.info.features
    splits = builder.info.splits
    feature_names = list(features.keys())
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    window = max(1, cfg.shuffle_buffer)

    def pick_split(candidates):
        for s in candidates:
            if s in splits:
                return s
        raise DataError(spec, f"no split among {list(candidates)}; splits: {sorted(splits.keys())}")

    # Images stay encoded (SkipDecoding): elements then have fixed shapes, so they can be window-shuffled, and
    # they are decoded by the same `decode_image` as every other source.
    decoders = {k: tfds.decode.SkipDecoding() for k in image_keys}

    def stream(split_name, load, keep=None):
        base = builder.as_dataset(split=split_name, shuffle_files=False, decoders=decoders)

        def epoch(e, seed, shuffle):
            return _keep_and_shuffle(base, keep, shuffle, window, seed)

        known = splits[split_name].num_examples if keep is None else None
        return _Stream(epoch=epoch, load=load, count=_cached_count(epoch, known), name=f"{spec}[{split_name}]")

    def to_float(encoded):
        return transforms.decode_image(encoded, cfg.channels)

    default_candidates = {"train": ("train",), "test": ("test", "validation"), "val": ("validation", "test")}
    candidates = (spec_split,) if spec_split else default_candidates.get(split, (split,))

    if data_kind == "unpaired":
        if cfg.domains is not None:
            names = list(cfg.domains)
        else:
            prefixes = (spec_split,) if spec_split else _split_prefixes(split)
            names = next(([p + "A", p + "B"] for p in prefixes if p + "A" in splits and p + "B" in splits), None)
            if names is None:
                raise DataError(spec, f"unpaired TFDS data needs two splits like trainA/trainB (or data.domains "
                                f"naming two splits); splits: {sorted(splits.keys())}")
        key = "image" if "image" in image_keys else (image_keys or [None])[0]
        if key is None:
            raise DataError(spec, "the data set has no image feature")
        streams = [stream(pick_split([s]), lambda x: {"image": to_float(x[key])}) for s in names]
        return _Plan(streams, _augmenter("unpaired", cfg))

    split_name = pick_split(candidates)
    if data_kind == "paired":
        if not cfg.domains or len(cfg.domains) != 2 or any(d not in image_keys for d in cfg.domains):
            raise DataError(spec, f"paired TFDS data needs data.domains = [source_feature, target_feature] from "
                            f"its image features {image_keys}. Received: data.domains={cfg.domains}")
        src_key, tgt_key = _swap(cfg.domains[0], cfg.domains[1], cfg)
        load = lambda x: {"source": to_float(x[src_key]), "target": to_float(x[tgt_key])}  # noqa: E731
        return _Plan([stream(split_name, load)], _augmenter("paired", cfg))
    key = "image" if "image" in image_keys else (image_keys or [None])[0]
    if key is None:
        raise DataError(spec, "the data set has no image feature")
    if data_kind == "multi_domain":
        if "label" in feature_names and isinstance(features["label"], tfds.features.ClassLabel):
            names = features["label"].names
            chosen = list(cfg.domains) if cfg.domains is not None else names
            unknown = [c for c in chosen if c not in names]
            if unknown:
                raise DataError(spec, f"unknown classes {unknown} in data.domains; classes: {names}")
            remap = np.full([len(names)], -1, np.int64)
            for i, c in enumerate(chosen):
                remap[names.index(c)] = i
            remap_t = tf.constant(remap)
            keep = (lambda x: tf.gather(remap_t, x["label"]) >= 0) if len(chosen) < len(names) else None
            load = lambda x: {  # noqa: E731
                "image": to_float(x[key]),
                "label": tf.one_hot(tf.gather(remap_t, x["label"]), len(chosen), dtype=tf.float32),
            }
            return _Plan([stream(split_name, load, keep)], _augmenter("multi_domain", cfg, "onehot"))
        if "attributes" in feature_names:
            if not cfg.domains:
                raise DataError(spec, f"set data.domains to the attributes to use; available: "
                                f"{sorted(features['attributes'].keys())}")
            attrs = list(cfg.domains)
            load = lambda x: {  # noqa: E731
                "image": to_float(x[key]),
                "label": tf.stack([tf.cast(x["attributes"][a], tf.float32) for a in attrs]),
            }
            return _Plan([stream(split_name, load)], _augmenter("multi_domain", cfg, "attributes"))
        raise DataError(spec, "multi-domain TFDS data needs a ClassLabel `label` or an `attributes` feature")
    return _Plan([stream(split_name, lambda x: {"image": to_float(x[key])})], _augmenter(data_kind, cfg))


# ----------------------------------------------------------------------------------------------- entry point


def _plan(spec: Optional[str], data_kind: str, cfg: Any, split: str) -> _Plan:
    spec = default_spec(data_kind) if spec is None else spec
    domains = cfg.domains
    if spec.startswith("embedded:"):
        name = spec[len("embedded:"):]
        if data_kind == "unpaired" and domains is None:
            domains = _EMBEDDED_UNPAIRED_DOMAINS.get(name)
        return _folder_plan(embedded_path(name), data_kind, cfg, split, domains)
    if spec.startswith("tfds:"):
        return _tfds_plan(spec, data_kind, cfg, split)
    if os.path.isdir(spec):
        return _folder_plan(spec, data_kind, cfg, split, domains)
    if _is_glob(spec) or os.path.isfile(spec):
        return _record_plan(spec, data_kind, cfg)
    raise DataError(spec, "no such folder or file, and not a glob, tfds: or embedded: spec")


def make_dataset(
    spec: Optional[str],
    data_kind: str,
    cfg: Any,
    batch_size: int,
    *,
    seed: int = 0,
    training: bool = True,
    skip_batches: int = 0,
    split: str = "train",
) -> tf.data.Dataset:
    """Builds the input pipeline for one data kind.

    Args:
        spec: a folder, a glob of TFRecord shards (gzip when the names end in .gz), "tfds:NAME[/CONFIG][:SPLIT]",
            "embedded:NAME", or None for `default_spec(data_kind)`.
        data_kind: one of `schema.DATA_KINDS`.
        cfg: a `DataConfig`.
        batch_size: the global batch size.
        seed: the stream is a pure function of (seed, position).
        training: True: augmented, reshuffled every epoch, repeated forever, whole batches only.
            False: one pass in file order, no random augmentation, last batch may be smaller.
        skip_batches: start at this batch (resume); yields exactly the batches the uninterrupted stream yields
            from there.
        split: "train", "test" or "val" for folders with split subfolders (test falls back to val and back); a
            folder without split subfolders is used whole for any split.

    Paired data: ``cfg.direction="b2a"`` swaps source and target for every source (AB halves, A/B folders,
    TFRecord ``source``/``target``). Super-resolution (``"sr"``) reads real pairs from A/ and B/ (or source/ and
    target/, the target ``cfg.scale`` times larger) when present, else degrades single images.
    TFRecord and TFDS streams shuffle within windows of ``cfg.shuffle_buffer`` elements (folders are fully
    permuted every epoch).

    Returns:
        A `tf.data.Dataset` of dict batches (see the module docstring).

    Raises:
        DataError: a file, folder or spec is unusable (the message names it and says why).

    Example:
    >>> ds = make_dataset("datasets/facades", "paired", cfg.data, batch_size=4)
    >>> batch = next(iter(ds))  # {"source": [4, 256, 256, 3], "target": [4, 256, 256, 3]}
    """
    schema.check_data_kind(data_kind)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    if skip_batches < 0:
        raise ValueError(f"`skip_batches` must be >= 0. Received: skip_batches={skip_batches!r}")
    if data_kind == "sr" and cfg.crop_size % cfg.scale:
        raise ValueError(
            f"`data.crop_size` must be divisible by `data.scale`. "
            f"Received: data.crop_size={cfg.crop_size}, data.scale={cfg.scale}"
        )
    plan = _plan(spec, data_kind, cfg, split)
    start = int(skip_batches) * int(batch_size)
    parts = []
    for salt, stream in enumerate(plan.streams):
        base_seed = tf.constant([int(seed), salt], tf.int64)
        parts.append(_positioned(stream, base_seed, training, start, plan.augment))
    if data_kind == "unpaired":
        ds = tf.data.Dataset.zip(tuple(parts)).map(
            tf.autograph.experimental.do_not_convert(lambda a, b: {"domain_a": a["image"], "domain_b": b["image"]}),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        ds = parts[0]
    ds = ds.batch(int(batch_size), drop_remainder=training)
    options = tf.data.Options()
    options.deterministic = True
    # Every worker builds the same stream (a function of the seed), so multi-worker training shards it by
    # element; file-based sharding cannot see through the per-epoch structure anyway.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
