"""Planning the ingestion of an image folder: which files make which example, in which split and shard group.

Only names are read here (cheap, on the launcher); reading, validating and encoding the files is the pipeline's
Beam work (`pipeline/components/images_to_examples.py`). A data kind's declaration (`i2i_keras.data.kinds`) says
how its folders are laid out (`DataKind.ingestion.sources`, the same resolution its folder reader uses); the
layouts it returns are planned here:

| layout | example | group |
| --- | --- | --- |
| ``ab`` | one image, source and target side by side | ``pairs`` |
| ``folders`` | a source file and the target file with the same name | ``pairs`` |
| ``two_domains`` | one image of domain A (0) or B (1) | ``domain_a`` / ``domain_b`` |
| ``domains`` | one image of a domain folder, one-hot label | the domain's name |
| ``attributes`` | one image listed in attributes.csv, multi-hot label | ``images`` |
| ``images`` | one image | ``images`` |
| ``source_target`` | a labelled source image (domain 0, one-hot label) or a target image (domain 1; labelled only in the eval split) | ``source`` / ``target`` |

Splits: split folders (train/ and test/ or val/) are kept; otherwise an example goes to eval when
``sha256(key) / 2**256 < eval_fraction``, ``key`` being its path relative to its folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import files
from i2i_keras.data import schema
from i2i_keras.data import transforms
from i2i_keras.errors import DataError

SPLITS = ("train", "eval")
# Label conventions of multi-domain examples, written into every record (`schema.LABEL_MODE`).
ONEHOT = "onehot"
ATTRIBUTES = "attributes"


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One example to be: the file(s) it is made from and where it goes.

    ``kind`` is "ab" (one image, source|target halves), "pair" (source file, target file) or "image".
    ``target_scale`` (pairs): the target must be this many times the source's size; None allows any integer
    multiple (super-resolution pairs, checked against ``data.scale`` when read).
    """

    key: str
    split: str
    group: str
    kind: str
    paths: tuple
    domain: Optional[int] = None
    label: Optional[tuple] = None
    label_mode: Optional[str] = None
    target_scale: Optional[int] = 1


@dataclasses.dataclass
class IngestPlan:
    """What the launcher found: the candidates, the rejects and ignored files known from names alone, and the
    shard groups (in partition order)."""

    candidates: list
    rejects: list
    ignored: list
    groups: list
    layout: str
    split_source: str
    names: list
    label_mode: Optional[str] = None


def reject(path: str, reason: str, message: str, **extra: Any) -> dict:
    """A reject record of the ingestion report: the file, a reason code and a one-line message."""
    return {"path": path, "reason": reason, "message": " ".join(str(message).split()), **extra}


class CandidateRejected(Exception):
    """A candidate's file cannot make an example; ``record`` is its reject record (`reject`)."""

    def __init__(self, record: dict):
        super().__init__(record["message"])
        self.record = record


def _decode_keep_depth(data: bytes) -> np.ndarray:
    """Pixels of an encoded image with its own channel count and bit depth (16-bit PNGs stay 16-bit)."""
    is_png16 = data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24 and data[24] == 16
    if is_png16:
        return tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy()
    return tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False).numpy()


def _target_size_ok(source: tuple, target: tuple, scale: Optional[int]) -> bool:
    """Whether a pair's target has `scale` times its source's height and width (None: any one integer factor)."""
    (sh, sw), (th, tw) = source[:2], target[:2]
    if scale is None:
        return th % sh == 0 and tw % sw == 0 and th // sh == tw // sw
    return (th, tw) == (sh * scale, sw * scale)


def _read_checked(path: str, max_pixels: int) -> tuple:
    try:
        data = files.read_bytes(path)
    except DataError as e:
        raise CandidateRejected(reject(path, "unreadable", e.reason)) from None
    try:
        shape = files.check_image_bytes(path, data, max_pixels)
    except DataError as e:
        raise CandidateRejected(reject(path, e.code, e.reason)) from None
    return data, shape


def _check_size(path: str, height: int, width: int, min_size: int, what: str = "image") -> None:
    if height < min_size or width < min_size:
        raise CandidateRejected(reject(path, "too_small", f"{what} is {height}x{width}, smaller than "
                                                          f"min_image_size={min_size}"))


def encode_candidate(c: Candidate, min_size: int = 1, max_pixels: int = files.DEFAULT_MAX_PIXELS) -> dict:
    """Reads and fully validates the file(s) of one candidate -> the features of its example (the keyword
    arguments of `schema.encode_example`, without ``filename``). The pipeline's Beam ingestion and the evaluate
    CLI's folder reader both call it, so a folder is read the same way by both.

    Raises:
        CandidateRejected: with the reject record (reason codes of `files.check_image_bytes`, ``unreadable``,
            ``too_small``, ``odd_ab_width``, ``pair_size_mismatch``).
    """
    if c.kind == "ab":
        data, (h, w, ch) = _read_checked(c.paths[0], max_pixels)
        if w % 2:
            raise CandidateRejected(reject(c.paths[0], "odd_ab_width", f"AB image width {w} is odd; an AB image is "
                                           f"source and target side by side, two halves of equal width"))
        _check_size(c.paths[0], h, w // 2, min_size, "AB half")
        pixels = _decode_keep_depth(data)
        return {schema.SOURCE: schema.encode_png(pixels[:, : w // 2], transforms.PNG_COMPRESSION),
                schema.TARGET: schema.encode_png(pixels[:, w // 2:], transforms.PNG_COMPRESSION),
                schema.HEIGHT: h, schema.WIDTH: w // 2, schema.CHANNELS: ch}
    if c.kind == "pair":
        (src, s_shape), (tgt, t_shape) = (_read_checked(p, max_pixels) for p in c.paths)
        for path, shape in zip(c.paths, (s_shape, t_shape)):
            _check_size(path, shape[0], shape[1], min_size)
        if not _target_size_ok(s_shape, t_shape, c.target_scale):
            expected = ("the same size" if c.target_scale == 1 else
                        f"{c.target_scale} times its size" if c.target_scale else "an integer multiple of its size")
            raise CandidateRejected(reject(c.paths[1], "pair_size_mismatch", f"image is {t_shape[0]}x{t_shape[1]} "
                                           f"but its partner {c.paths[0]} is {s_shape[0]}x{s_shape[1]}; the target "
                                           f"must have {expected}"))
        return {schema.SOURCE: src, schema.TARGET: tgt, schema.HEIGHT: s_shape[0], schema.WIDTH: s_shape[1],
                schema.CHANNELS: s_shape[2]}
    data, (h, w, ch) = _read_checked(c.paths[0], max_pixels)
    _check_size(c.paths[0], h, w, min_size)
    return {schema.IMAGE: data, schema.DOMAIN: c.domain, schema.LABEL: list(c.label) if c.label else None,
            schema.LABEL_MODE: c.label_mode, schema.HEIGHT: h, schema.WIDTH: w, schema.CHANNELS: ch}


def split_of(key: str, eval_fraction: float) -> str:
    """"eval" when the sha256 of `key`, read as a fraction of 2**256, is below `eval_fraction`, else "train"."""
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest(), "big")
    return "eval" if digest / 2.0**256 < eval_fraction else "train"


def group_names(names: list) -> list:
    """Shard file name prefixes for domain names: letters, digits, '-' and '_' only, made unique by position."""
    groups = []
    for index, name in enumerate(names):
        group = "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "domain"
        groups.append(f"{group}_{index}" if group in groups else group)
    return groups


def _scan(folder: str, plan: IngestPlan) -> list:
    images, others = files.scan_folder(folder)
    plan.ignored.extend({"path": p, "reason": "not an image file name (extension)"} for p in others)
    return images


def _add_group(plan: IngestPlan, group: str) -> None:
    if group not in plan.groups:
        plan.groups.append(group)


def _plan_files(sources: dict, place, plan: IngestPlan, group: str, candidate_kind: str) -> None:
    """One example per image file of ``sources["folder"]`` (AB images, or plain images)."""
    folder = sources["folder"]
    _add_group(plan, group)
    for path in _scan(folder, plan):
        key = files.relative(path, folder)
        plan.candidates.append(Candidate(key, place(key), group, candidate_kind, (path,)))


def _plan_ab(sources: dict, place, plan: IngestPlan) -> None:
    _plan_files(sources, place, plan, "pairs", "ab")


def _plan_folders(sources: dict, place, plan: IngestPlan) -> None:
    # Pairs match by relative path without extension, as the library's folder reader matches them.
    _add_group(plan, "pairs")
    tables = []
    for side in ("source", "target"):
        folder, table = sources[side], {}
        for path in _scan(folder, plan):
            table.setdefault(os.path.splitext(files.relative(path, folder))[0], []).append(path)
        tables.append(table)
    src, tgt = tables
    for stem in sorted(set(src) | set(tgt)):
        mine = src.get(stem, []) + tgt.get(stem, [])
        if len(src.get(stem, [])) > 1 or len(tgt.get(stem, [])) > 1:
            for path in mine:
                plan.rejects.append(reject(path, "ambiguous_pair", f"{len(mine)} files share the pair name "
                                           f"{stem!r} ({', '.join(os.path.basename(p) for p in mine)})"))
        elif stem not in tgt or stem not in src:
            other = sources["target"] if stem not in tgt else sources["source"]
            plan.rejects.append(reject(mine[0], "missing_partner", f"no partner with the same name in {other} "
                                       f"(pairs match by file name)"))
        else:
            plan.candidates.append(Candidate(stem, place(stem), "pairs", "pair", (src[stem][0], tgt[stem][0]),
                                             target_scale=sources.get("target_scale", 1)))


def _check_names(plan: IngestPlan, names: list, folder: str, by_position: bool) -> None:
    if not plan.names:
        plan.names = names
    elif plan.names != names and not by_position:
        raise DataError(folder, f"the test split's domains {names} differ from the train split's {plan.names}; "
                        f"labels would not mean the same", code="split_domains_differ")


def _plan_two_domains(sources: dict, place, plan: IngestPlan) -> None:
    domains = sources["domains"]
    # Unpaired folders are trainA/testA ...: the splits' domains match by position, not by name.
    _check_names(plan, [name for name, _ in domains], domains[0][1], by_position=True)
    for index, ((name, folder), group) in enumerate(zip(domains, ("domain_a", "domain_b"))):
        _add_group(plan, group)
        for path in _scan(folder, plan):
            key = f"{name}/{files.relative(path, folder)}"
            plan.candidates.append(Candidate(key, place(key), group, "image", (path,), domain=index))


def _plan_domains(sources: dict, place, plan: IngestPlan) -> None:
    domains = sources["domains"]
    names = [name for name, _ in domains]
    _check_names(plan, names, domains[0][1], by_position=False)
    plan.label_mode = ONEHOT
    for index, ((name, folder), group) in enumerate(zip(domains, group_names(names))):
        _add_group(plan, group)
        label = tuple(int(i == index) for i in range(len(domains)))
        for path in _scan(folder, plan):
            key = f"{name}/{files.relative(path, folder)}"
            plan.candidates.append(Candidate(key, place(key), group, "image", (path,), label=label,
                                             label_mode=ONEHOT))


def _plan_attributes(sources: dict, place, plan: IngestPlan, domains: Optional[list] = None) -> None:
    folder, csv_path = sources["folder"], sources["csv"]

    def check_file(path, line):
        if files.is_file(path):
            return True
        plan.rejects.append(reject(path, "missing_file", f"listed in {os.path.basename(csv_path)} (line {line}) "
                                   f"but not found"))
        return False

    paths, labels, names = files.read_attributes_csv(csv_path, folder, domains, check_file)
    _check_names(plan, list(names), folder, by_position=False)
    plan.label_mode = ATTRIBUTES
    listed = set(paths)
    images, others = files.scan_folder(folder)
    plan.ignored.extend({"path": p, "reason": "not an image file name (extension)"} for p in others if p != csv_path)
    plan.ignored.extend({"path": p, "reason": f"not listed in {os.path.basename(csv_path)}"} for p in images
                        if p not in listed)
    _add_group(plan, "images")
    for path, label in zip(paths, labels):
        key = files.relative(path, folder)
        plan.candidates.append(Candidate(key, place(key), "images", "image", (path,),
                                         label=tuple(int(v) for v in label), label_mode=ATTRIBUTES))


def _plan_images(sources: dict, place, plan: IngestPlan) -> None:
    _plan_files(sources, place, plan, "images", "image")


def _plan_source_target(sources: dict, place, plan: IngestPlan) -> None:
    """Domain adaptation: source images of a folder per class, and target images whose class (when the target is
    sorted into the classes' folders) is written only into eval examples: a training example never holds a target
    label, which the training step must not see."""
    classes = sources["classes"]
    names = [name for name, _ in classes]
    _check_names(plan, names, sources["target"], by_position=False)
    eye = [tuple(int(i == k) for i in range(len(names))) for k in range(len(names))]
    for group in ("source", "target"):
        _add_group(plan, group)
    for index, (name, folder) in enumerate(classes):
        for path in _scan(folder, plan):
            key = f"source/{name}/{files.relative(path, folder)}"
            plan.candidates.append(Candidate(key, place(key), "source", "image", (path,), domain=0,
                                             label=eye[index]))
    target = sources["target"]
    for path in _scan(target, plan):
        relative = files.relative(path, target)
        key = f"target/{relative}"
        split = place(key)
        folder = relative.split("/")[0] if "/" in relative else None
        label = eye[names.index(folder)] if split == "eval" and folder in names else None
        plan.candidates.append(Candidate(key, split, "target", "image", (path,), domain=1, label=label))


_PLANNERS = {"ab": _plan_ab, "folders": _plan_folders, "two_domains": _plan_two_domains, "domains": _plan_domains,
             "attributes": _plan_attributes, "images": _plan_images,
             "source_target": _plan_source_target}


def plan_folder(data_root: str, kind: Any, *, layout: str = "auto", domains: Optional[list] = None,
                eval_fraction: float = 0.2) -> IngestPlan:
    """Lists `data_root` as the kind's folder reader resolves it and assigns every example its split and group.

    Args:
        data_root: the image folder (any file system).
        kind: the `kinds.DataKind`.
        layout, domains: as ``data.layout`` and ``data.domains``.
        eval_fraction: the share of examples hashed into eval when the folder has no split folders.

    Raises:
        DataError: the folder, or a folder the data kind needs, does not exist; an attributes.csv is malformed;
            the train and test splits are laid out differently.
    """
    if not files.is_dir(data_root):
        raise DataError(data_root, "data folder not found", code="folder_not_found")
    locate = kind.ingestion.sources
    train = locate(data_root, "train", layout=layout, domains=domains)
    try:
        test = locate(data_root, "test", layout=layout, domains=domains)
    except DataError:
        test = None  # e.g. only a train/ folder: hash-split it like a folder without split folders
    folder_split = test is not None and test != train
    plan = IngestPlan([], [], [], [], train["layout"], "folders" if folder_split else "hash", [])
    parts = [(train, "train"), (test, "eval")] if folder_split else [(train, None)]
    for sources, split in parts:
        if sources["layout"] != train["layout"]:
            raise DataError(data_root, f"the train split is laid out as {train['layout']!r} but the test split as "
                            f"{sources['layout']!r}", code="split_layouts_differ")

        def place(key, split=split):
            return split or split_of(key, eval_fraction)

        planner = _PLANNERS[sources["layout"]]
        if sources["layout"] == "attributes":
            planner(sources, place, plan, domains)
        else:
            planner(sources, place, plan)
    return plan
