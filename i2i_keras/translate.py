"""Translate image files with an exported model: `python -m i2i_keras.translate --model DIR --input IN --output OUT`.

`--model` is a model base path (its highest integer version is used) or one version directory written by
`i2i_keras.export.export_for_serving`. The CLI runs the SavedModel's `<mode>_bytes` signature, the one serving
uses, so what it produces is what TF Serving would return (the export is loaded with
`i2i_keras.evaluation.exported.ServedModel`, the loader the evaluators use). `--input` is an image file (then
`--output` is a .png file, or an existing directory to write `<input stem>.png` into) or a directory (then every
image in it, not recursively, is translated into the `--output` directory, keeping file names with a .png
suffix). Outputs have the inputs' sizes times the model's `output_scale` (metadata; super-resolution models
upscale), and are 16-bit PNGs for 16-bit PNG inputs, 8-bit otherwise.

Errors (missing or invalid model, unreadable, empty or corrupt image, output equal to an input, existing output
without `--overwrite`, unknown mode) print one line `error: <path or option>: <reason>` on stderr and exit with
status 2. All inputs and outputs are checked before anything is written, and each output is written to a temporary
file and renamed, so no existing file is replaced without `--overwrite` and no partial PNG is left behind.

Method options map onto the mode's extra inputs (standard names, see `i2i_keras.methods.base`):
`--target-domain N` (StarGAN's `target_domain`), `--num-samples N` and `--seed S` (random styles of MUNIT and
BicycleGAN: `*_sample` and `*_interpolate` modes; the seed defaults to a random one, which is printed so the run can
be repeated), `--reference IMAGE` (a style reference: `*_reference` modes). A flag the chosen mode does not take is
an error, as is a missing input the mode needs. Modes with several outputs per image write `<name>_0.png`,
`<name>_1.png`, ... next to where `<name>.png` would go. A multi-domain model given no `--target-domain` translates
to every domain and writes `<name>_<domain>.png` for each. Any other extra input: `--extra NAME=JSON`.

Generation modes (an unconditional generator's `generate` and `mix`, metadata `generation_modes`) take no
`--input`: `--num-samples N --seed S [--truncation-psi P]` (`generate`), `--seed-coarse A --seed-fine B
[--crossover K] [--truncation-psi P]` (`mix`) call the mode's `<mode>_bytes` signature with those scalars alone, and
the samples are written as one grid PNG (ceil(sqrt(N)) columns, row by row) when `--output` is a .png file, or as
`<mode>_0.png`, `<mode>_1.png`, ... into the `--output` directory otherwise. Inputs left out take the model's
defaults (metadata), seeds a random one (printed). The same inputs give the same images as
`model.translate(None, mode=..., ...)` in Python and a served model. `--model` may also be a training run directory
(its `export/`).

`--tile T [--overlap O]` translates each image in overlapping tiles of T input pixels (the `<mode>_bytes_tiled`
signature; `i2i_keras.tiling`): memory is bounded by the tile, so a large photo goes through a model that could not
hold it whole, and the tiles are blended without seams. T must be a multiple of the model's size_multiple and O at
most T/2 (default min(32, T/4)); a super-resolution model's output is still `output_scale` times the input.

Examples:
    python -m i2i_keras.translate --model exports/facades --input photo.jpg --output photo_labels.png
    python -m i2i_keras.translate --model exports/horse2zebra/3 --mode b2a --input zebras/ --output horses/
    python -m i2i_keras.translate --model exports/horse2zebra --list-modes
    python -m i2i_keras.translate --model exports/faces --target-domain 2 --input face.png --output blond.png
    python -m i2i_keras.translate --model exports/edges2shoes --mode translate_sample --num-samples 5 --seed 7 \
        --input edges.png --output shoes.png                                  # shoes_0.png ... shoes_4.png
    python -m i2i_keras.translate --model exports/cats2dogs --mode a2b_reference --reference dog.jpg \
        --input cat.jpg --output cat_as_that_dog.png
    python -m i2i_keras.translate --model exports/edsr_x4 --tile 256 --overlap 32 --input photo.jpg --output x4.png
    python -m i2i_keras.translate --model exports/faces_gan --num-samples 8 --seed 1 --output grid.png
    python -m i2i_keras.translate --model runs/faces_gan --mode mix --seed-coarse 1 --seed-fine 2 --crossover 4 \
        --output mixes/                                                      # mixes/mix_0.png
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional


from i2i_keras import storage  # noqa: E402  (after the log level: importing it loads TensorFlow)
from i2i_keras.data import files as _files  # noqa: E402
from i2i_keras.data.files import IMAGE_EXTENSIONS  # noqa: E402
from i2i_keras.errors import RequestError  # noqa: E402
from i2i_keras.errors import run_cli  # noqa: E402


class CliError(RequestError):
    """A bad request on the command line: printed as `error: <subject>: <reason>`, exit status 2."""

    def __init__(self, subject: str, reason: str, *, code: str = "bad_request"):
        super().__init__(f"{subject}: {reason}", code=code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m i2i_keras.translate",
        description="Translate images with an exported i2i_keras SavedModel (through its <mode>_bytes signature).")
    parser.add_argument("--model", required=True,
                        help="export base directory (highest version is used) or one version directory")
    parser.add_argument("--input", help="image file, or a directory of images (.png, .jpg, .jpeg, .bmp, .gif); "
                                        "not for generation modes, which take no input image")
    parser.add_argument("--output", help="output .png file (or existing directory) for a file input; output "
                                         "directory for a directory input (created if missing); generation "
                                         "modes: a .png file gets one grid of the samples, a directory one PNG "
                                         "per sample")
    parser.add_argument("--mode", help="translation mode (default: the model's first mode); see --list-modes")
    parser.add_argument("--target-domain", help="domain to translate to, by index or name (multi-domain models; "
                                                "--list-modes shows the names)")
    parser.add_argument("--num-samples", type=int, help="number of styles per image for *_sample / *_interpolate "
                                                         "modes (default 4)")
    parser.add_argument("--seed", type=int, help="seed of the random styles or generated samples (default: "
                                                  "random, printed)")
    parser.add_argument("--truncation-psi", type=float, help="truncation towards the average style of generation "
                                                            "modes (1: none; default: the model's, else 1)")
    parser.add_argument("--seed-coarse", type=int, help="seed of the coarse styles of a style-mixing mode (mix)")
    parser.add_argument("--seed-fine", type=int, help="seed of the fine styles of a style-mixing mode (mix)")
    parser.add_argument("--crossover", type=int, help="first layer taking the fine styles (mix; default: the "
                                                      "model's)")
    parser.add_argument("--reference", help="style reference image for *_reference modes")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=JSON",
                        help="value of an extra input of the mode (e.g. --extra target_label=[0,1,0]); repeatable")
    parser.add_argument("--tile", type=int, help="translate in tiles of this many input pixels (a multiple of the "
                                                  "model's size_multiple), blended without seams: memory bounded by "
                                                  "the tile, for large images (0: the whole image at once)")
    parser.add_argument("--overlap", type=int, help="overlap of neighbouring tiles in input pixels, at most half "
                                                    "the tile (default: 32, at most tile/4); needs --tile")
    parser.add_argument("--max-pixels", type=int, default=_files.DEFAULT_MAX_PIXELS,
                        help="refuse an image whose header declares more pixels (width x height), before decoding "
                             f"it (default {_files.DEFAULT_MAX_PIXELS:,}; 0: no limit)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--list-modes", action="store_true", help="print the model's modes and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    return parser


def main(argv: Optional[list] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.list_modes and args.output is None:
        parser.error("--output is required (unless --list-modes is given); --input too, except for generation "
                     "modes")
    if args.max_pixels < 0:
        parser.error("--max-pixels must be >= 0 (0: no limit)")
    if args.overlap is not None and args.tile is None:
        parser.error("--overlap needs --tile")
    return run_cli(lambda: _run(args), debug=args.debug)


# ----------------------------------------------------------------------------------------------- steps


def _run(args) -> int:
    from i2i_keras.errors import RequestError
    from i2i_keras.evaluation.exported import ServedModel

    version_dir = _resolve_model(args.model)
    planned = not args.list_modes and args.input is not None
    jobs = _plan(args.input, args.output, args.overwrite, args.max_pixels) if planned else []

    try:
        served = ServedModel(version_dir)
    except RequestError as err:
        raise CliError(f"--model {version_dir}", _strip_path(err, version_dir), code=err.code) from None
    metadata, modes = served.metadata, served.modes
    if args.list_modes:
        if metadata.get("domain_names"):
            print("domains: " + ", ".join(f"{i}={n}" for i, n in enumerate(metadata["domain_names"])))
        for name in modes:
            extras = served.extra_specs(name)
            note = "" if not extras else "  (extra inputs: " + ", ".join(
                f"{k} {v.dtype.name} {v.shape.as_list()}" for k, v in extras.items()) + ")"
            print(name + note + ("  [generation: no input image]" if served.generates(name) else ""))
        return 0
    mode = args.mode or modes[0]
    if mode not in modes:
        raise CliError(f"--mode {mode}", f"unknown mode; available: {', '.join(modes)}", code="unknown_mode")
    if served.generates(mode):
        return _generate(args, served, mode)
    if not planned:
        raise CliError("--input", f"mode {mode!r} translates images: give --input (an image file or a directory)",
                       code="missing_input")
    signature = served.signature(mode)
    if "images" not in signature.structured_outputs:
        # A classification mode (domain-adaptation methods' `classify`) answers probabilities, not images.
        image_modes = [m for m in modes if "images" in served.signature(m).structured_outputs]
        raise CliError(f"--mode {mode}", f"the mode answers {sorted(signature.structured_outputs)}, not images; "
                       f"translate with an image mode ({', '.join(image_modes) or 'this model has none'}) or "
                       f"classify with `serving.client --classify` / `i2i_keras.evaluate`", code="not_an_image_mode")
    specs = served.extra_specs(mode)
    if args.tile is not None:
        signature, tiled = _tiled_signature(served, mode, args.tile, args.overlap)
    extras = _parse_extras(args.extra, specs, mode, require_all=False)
    extras.update(_option_extras(args, {k: v for k, v in specs.items() if k not in extras}, specs, mode, metadata))
    sweep = None
    if _TARGET_DOMAIN in specs and _TARGET_DOMAIN not in extras:
        # No target given: translate to every domain, one file per domain, named after it.
        sweep = _all_domains(metadata)
    missing = sorted(set(specs) - set(extras) - ({_TARGET_DOMAIN} if sweep else set()))
    if missing:
        raise CliError("--extra", f"mode {mode!r} needs the extra inputs {missing} (pass --extra NAME=JSON)")
    multiple = served.returns_several(mode)
    if multiple:
        count = int(extras[_NUM_SAMPLES].numpy()) if _NUM_SAMPLES in extras else None
        if count is None:
            raise CliError("--mode", f"mode {mode!r} returns several images per input but takes no num_samples")
        jobs = _expand_jobs(jobs, [str(i) for i in range(count)], args.overwrite)
    elif sweep:
        jobs = _expand_jobs(jobs, [name for _, name in sweep], args.overwrite)

    if args.tile is not None:
        extras.update(tiled)
    for source, targets in jobs:
        data = _read(source, args.max_pixels)
        if sweep and not multiple:
            outputs = [_translate(signature, data, {**extras, _TARGET_DOMAIN: _domain_tensor(index, specs)}, source)
                       for index, _ in sweep]
        else:
            outputs = _translate(signature, data, extras, source)
        single = not multiple and not sweep
        for target, png in zip([targets] if single else targets, [outputs] if single else outputs):
            _write_atomic(target, png, args.overwrite)
            print(f"{source} -> {target}")
    return 0


def _resolve_model(path: str) -> str:
    """The version directory of `--model`: an export (base path or version) or a training run directory, whose
    export is `<run>/export`."""
    from i2i_keras.evaluation.exported import resolve_export

    try:
        return resolve_export(path)
    except RequestError as err:
        run_export = storage.join(path, "export")
        if err.code == "not_a_saved_model" and storage.isdir(run_export):
            return _resolve_model(run_export)
        raise CliError(f"--model {path}", _strip_path(err, path), code=err.code) from None


# ----------------------------------------------------------------------------------------------- generation


def _generate(args, served, mode: str) -> int:
    """A generation mode (no input image): its `<mode>_bytes` signature called with the flags' scalar inputs;
    the samples go into one grid PNG (`--output` a .png file) or one PNG each, `<mode>_<i>.png`, into the
    `--output` directory."""
    if args.input is not None:
        raise CliError(f"--input {args.input}", f"mode {mode!r} generates images from its inputs and takes no "
                       f"input image; leave --input out", code="unexpected_input")
    if args.tile is not None:
        raise CliError(f"--tile {args.tile}", f"mode {mode!r} generates whole images without an input image: it "
                       f"cannot be tiled", code="not_an_image_mode")
    specs = served.extra_specs(mode)
    extras = _parse_extras(args.extra, specs, mode, require_all=False)
    extras.update(_option_extras(args, {k: v for k, v in specs.items() if k not in extras}, specs, mode,
                                 served.metadata))
    missing = sorted(set(specs) - set(extras))
    if missing:
        raise CliError("--extra", f"mode {mode!r} needs the inputs {missing} (pass --extra NAME=JSON)")
    to_grid = args.output.lower().endswith(".png") and not storage.isdir(args.output)
    if to_grid:
        _check_target(args.output, args.overwrite)
    elif storage.exists(args.output) and not storage.isdir(args.output):
        raise CliError(args.output, "output must be a .png file (one grid) or a directory (one PNG per sample)",
                       code="bad_output_name")
    import tensorflow as tf

    try:
        pngs = list(served.signature(mode)(**extras)["images"].numpy())
    except tf.errors.InvalidArgumentError as err:
        raise CliError(f"--mode {mode}", f"the model rejected the inputs ({_graph_reason(err)})",
                       code="generation_failed") from None
    if to_grid:
        _write_atomic(args.output, png_grid(pngs), args.overwrite)
        print(f"{mode}: {len(pngs)} images -> {args.output}")
        return 0
    targets = [storage.join(args.output, f"{mode}_{i}.png") for i in range(len(pngs))]
    for target in targets:  # every file checked before the first is written
        _check_target(target, args.overwrite)
    for target, png in zip(targets, pngs):
        _write_atomic(target, png, args.overwrite)
        print(f"{mode} -> {target}")
    return 0


def _check_target(target: str, overwrite: bool) -> None:
    if storage.isdir(target):
        raise CliError(target, "output path is a directory", code="output_is_directory")
    if storage.exists(target) and not overwrite:
        raise CliError(target, "output file exists (use --overwrite to replace it)", code="output_exists")


def grid_shape(count: int) -> tuple:
    """(rows, columns) of a grid of `count` images: ceil(sqrt(count)) columns, filled row by row."""
    import math

    columns = max(1, math.ceil(math.sqrt(count)))
    return max(1, math.ceil(count / columns)), columns


def png_grid(pngs: list) -> bytes:
    """Same-size PNGs -> one PNG of them in a `grid_shape` grid, row by row (cells left over are black). The
    serving client writes the same grid (`serving/png_grid.py`, without TensorFlow: `serving` never imports this
    library; tests/serving/test_client_generation.py checks the two give the same pixels)."""
    import numpy as np
    import tensorflow as tf

    images = [tf.io.decode_png(data).numpy() for data in pngs]
    rows, columns = grid_shape(len(images))
    height, width, channels = images[0].shape
    grid = np.zeros((rows * height, columns * width, channels), images[0].dtype)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return tf.io.encode_png(grid).numpy()


def _tiled_signature(served, mode: str, tile: int, overlap: Optional[int]) -> tuple:
    """The mode's `<mode>_bytes_tiled` signature and its checked `tile` / `overlap` inputs (`i2i_keras.tiling`)."""
    import tensorflow as tf

    from i2i_keras import tiling
    from i2i_keras.errors import ConfigError
    from i2i_keras.export import TILED_BYTES_SUFFIX

    name = mode + TILED_BYTES_SUFFIX
    if name not in served.loaded.signatures:
        raise CliError(f"--tile {tile}", f"the export has no tiled signature {name!r} (exported before tiling "
                       f"existed: export the model again)", code="no_tiled_signature")
    overlap = tiling.default_overlap(tile) if overlap is None else overlap
    try:
        tiling.check_tiling(tile, overlap, int(served.metadata.get("size_multiple") or 1))
    except ConfigError as err:
        raise CliError(f"--tile {tile} --overlap {overlap}", str(err), code=err.code) from None
    return served.loaded.signatures[name], {tiling.TILE: tf.constant(tile, tf.int32),
                                            tiling.OVERLAP: tf.constant(overlap, tf.int32)}


def _all_domains(metadata: dict) -> list:
    names = list(metadata.get("domain_names") or [])
    count = metadata.get("num_domains") or len(names)
    if not count:
        raise CliError("--target-domain", "the model does not say how many domains it has; pass --target-domain")
    names = names if len(names) == count else [str(i) for i in range(count)]
    return list(enumerate(_safe_name(n) for n in names))


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name)) or "domain"


def _domain_tensor(index: int, specs: dict):
    import tensorflow as tf

    return tf.constant([index], specs[_TARGET_DOMAIN].dtype)


from i2i_keras.methods.base import NUM_SAMPLES as _NUM_SAMPLES  # noqa: E402  (the contract's input names)
from i2i_keras.methods.base import REFERENCE as _REFERENCE  # noqa: E402
from i2i_keras.methods.base import SEED as _SEED  # noqa: E402
from i2i_keras.methods.base import TARGET_DOMAIN as _TARGET_DOMAIN  # noqa: E402
from i2i_keras.methods.base import CROSSOVER as _CROSSOVER  # noqa: E402
from i2i_keras.methods.base import SEED_COARSE as _SEED_COARSE  # noqa: E402
from i2i_keras.methods.base import SEED_FINE as _SEED_FINE  # noqa: E402
from i2i_keras.methods.base import TRUNCATION_PSI as _TRUNCATION_PSI  # noqa: E402


def _domain_index(value: str, metadata: dict) -> int:
    names = list(metadata.get("domain_names") or [])
    count = metadata.get("num_domains") or len(names) or None
    listing = f" ({', '.join(f'{i}={n}' for i, n in enumerate(names))})" if names else ""
    if value.lstrip("-").isdigit():
        index = int(value)
    elif value in names:
        index = names.index(value)
    else:
        raise CliError(f"--target-domain {value}", f"not a domain index or name{listing or ' (the model has no names)'}")
    if index < 0 or (count is not None and index >= count):
        raise CliError(f"--target-domain {value}", f"out of range: the model has {count} domains{listing}"
                       if count is not None else "must be a non-negative domain index")
    return index


def _option_extras(args, specs: dict, all_specs: dict, mode: str, metadata: dict) -> dict:
    """The method flags as the mode's extra inputs (those not given with --extra); a flag the mode does not take is
    an error."""
    import numpy as np
    import tensorflow as tf

    given = {_TARGET_DOMAIN: ("--target-domain", args.target_domain), _NUM_SAMPLES: ("--num-samples", args.num_samples),
             _SEED: ("--seed", args.seed), _REFERENCE: ("--reference", args.reference),
             _TRUNCATION_PSI: ("--truncation-psi", args.truncation_psi),
             _SEED_COARSE: ("--seed-coarse", args.seed_coarse), _SEED_FINE: ("--seed-fine", args.seed_fine),
             _CROSSOVER: ("--crossover", args.crossover)}
    for name, (flag, value) in given.items():
        if value is not None and name not in all_specs:
            raise CliError(f"{flag} {value}", f"mode {mode!r} does not take {name} (its extra inputs: "
                                               f"{sorted(all_specs) or 'none'}); see --list-modes")
    values = {}
    if _TARGET_DOMAIN in specs and args.target_domain is not None:
        index = _domain_index(args.target_domain, metadata)
        values[_TARGET_DOMAIN] = tf.constant([index], specs[_TARGET_DOMAIN].dtype)
    if _NUM_SAMPLES in specs:
        count = 4 if args.num_samples is None else args.num_samples
        if count < 1:
            raise CliError(f"--num-samples {count}", "must be >= 1")
        values[_NUM_SAMPLES] = tf.constant(count, specs[_NUM_SAMPLES].dtype)
    for name in (_SEED, _SEED_COARSE, _SEED_FINE):
        if name in specs:
            flag, seed = given[name]
            if seed is None:
                seed = int(np.random.default_rng().integers(0, 2**31 - 1))
                print(f"{name} {seed} (pass {flag} {seed} to repeat these outputs)")
            values[name] = tf.constant(seed, specs[name].dtype)
    # Generation modes: the model's defaults (metadata `generation_modes`) for what the flags leave out.
    defaults = ((metadata.get("generation_modes") or {}).get(mode) or {}).get("defaults") or {}
    for name in (_TRUNCATION_PSI, _CROSSOVER):
        value = given[name][1] if given[name][1] is not None else defaults.get(name)
        if name in specs and value is not None:
            values[name] = tf.constant(value, specs[name].dtype)
    if _REFERENCE in specs and args.reference is not None:
        values[_REFERENCE] = tf.constant([_read(args.reference, args.max_pixels)])
    # A missing target domain means "every domain" (see _run).
    missing = [given[n][0] for n in specs if n in given and n not in values and n != _TARGET_DOMAIN]
    if missing:
        raise CliError(missing[0], f"mode {mode!r} needs {missing[0]}", code="missing_input")
    return values


def _expand_jobs(jobs: list, labels: list, overwrite: bool) -> list:
    """(input, [output_<label>, ...]) with the same up-front checks as single outputs."""
    expanded = []
    for source, target in jobs:
        stem, suffix = os.path.splitext(target)
        targets = [f"{stem}_{label}{suffix}" for label in labels]
        for path in targets:
            if _same_file(path, source):
                raise CliError(path, "output path is the input file", code="output_is_input")
            if storage.exists(path) and not overwrite:
                raise CliError(path, "output file exists (use --overwrite to replace it)", code="output_exists")
        expanded.append((source, targets))
    return expanded


def _same_file(a: str, b: str) -> bool:
    if storage.is_local(a) and storage.is_local(b):
        return os.path.realpath(a) == os.path.realpath(b)
    return a.rstrip("/") == b.rstrip("/")


def _stem_png(name: str) -> str:
    return os.path.splitext(name)[0] + ".png"


def _plan(input_path: str, output_path: str, overwrite: bool, max_pixels: int = _files.DEFAULT_MAX_PIXELS) -> list:
    """(input, output) pairs, every check that needs no model done up front so nothing is written on error."""
    if not storage.exists(input_path):
        raise CliError(input_path, "no such file or directory", code="file_not_found")
    if storage.isdir(input_path):
        if storage.exists(output_path) and not storage.isdir(output_path):
            raise CliError(output_path, "output must be a directory when --input is a directory",
                           code="output_not_a_directory")
        image_like = IMAGE_EXTENSIONS + tuple(_files.UNSUPPORTED_EXTENSIONS)
        names = sorted(n for n in storage.listdir(input_path)
                       if not n.startswith(".") and n.lower().endswith(image_like)
                       and not storage.isdir(storage.join(input_path, n)))
        for n in names:  # an image of a format the model cannot read is an error, never silently left out
            _check_format_name(storage.join(input_path, n))
        if not names:
            raise CliError(input_path, f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in this directory",
                           code="no_images")
        jobs = [(storage.join(input_path, n), storage.join(output_path, _stem_png(n))) for n in names]
    else:
        target = output_path
        if storage.isdir(output_path):
            target = storage.join(output_path, _stem_png(os.path.basename(input_path.rstrip("/"))))
        elif not output_path.lower().endswith(".png"):
            raise CliError(output_path, "output file must have a .png suffix (outputs are PNG images)",
                           code="bad_output_name")
        jobs = [(input_path, target)]

    seen = {}
    for source, target in jobs:
        for other, _ in jobs:
            if _same_file(target, other):
                raise CliError(target, f"output path is the input file {other}", code="output_is_input")
        key = os.path.realpath(target) if storage.is_local(target) else target
        if key in seen:
            raise CliError(target, f"two inputs map to this output: {seen[key]} and {source}",
                           code="output_collision")
        seen[key] = source
        if storage.isdir(target):
            raise CliError(target, "output path is a directory", code="output_is_directory")
        if storage.exists(target) and not overwrite:
            raise CliError(target, "output file exists (use --overwrite to replace it)", code="output_exists")
        _read(source, max_pixels)
    return jobs


def _check_format_name(path: str) -> None:
    name = _files.UNSUPPORTED_EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if name is not None:
        raise CliError(path, _files.unsupported_reason(name), code="unsupported_format")


def _read(path: str, max_pixels: int = _files.DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of an input image, refused before any decoding when its name or bytes are of a format TensorFlow
    cannot decode (``unsupported_format``) or its header declares no pixels or more than `max_pixels` (0: no
    limit; ``too_many_pixels``)."""
    _check_format_name(path)
    try:
        data = storage.read_bytes(path)
    except storage.IO_ERRORS as err:
        raise CliError(path, f"cannot read ({storage.describe(err)})", code="unreadable") from None
    if not data:
        raise CliError(path, "empty file (0 bytes), not an image", code="empty_file")
    kind = _files.sniff(data[:16])
    if kind is not None and kind not in _files.DECODABLE_FORMATS:
        raise CliError(path, _files.unsupported_reason(kind), code="unsupported_format")
    header = _files.image_header(data)
    if header is not None:
        _, width, height = header
        if width < 1 or height < 1:
            raise CliError(path, f"image has no pixels ({width}x{height})", code="no_pixels")
        if max_pixels and width * height > max_pixels:
            raise CliError(path, f"image is {width}x{height} ({width * height:,} pixels), more than --max-pixels="
                           f"{max_pixels:,} (0 = no limit); it is not decoded: downscale it", code="too_many_pixels")
    return data


def _parse_extras(items: list, specs: dict, mode: str, require_all: bool = True) -> dict:
    import numpy as np
    import tensorflow as tf

    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in specs:
            raise CliError(f"--extra {item}", f"expected NAME=JSON with NAME one of the extra inputs of mode "
                                              f"{mode!r}: {sorted(specs) or 'none'}")
        try:
            value = np.asarray(json.loads(text), dtype=specs[name].dtype.as_numpy_dtype)
        except (ValueError, TypeError) as err:
            raise CliError(f"--extra {item}", f"not a JSON value of dtype {specs[name].dtype.name} ({err})") from None
        spec = specs[name]
        if spec.shape.rank and spec.shape[0] is None:
            value = value[None]  # one row for the one image sent per call
        if not spec.shape.is_compatible_with(value.shape):
            raise CliError(f"--extra {item}", f"shape {list(value.shape)} does not fit {spec.shape.as_list()}")
        values[name] = tf.constant(value)
    missing = sorted(set(specs) - set(values))
    if missing and require_all:
        raise CliError("--extra", f"mode {mode!r} needs the extra inputs {missing} (pass --extra NAME=JSON)")
    return values


def _translate(signature, data: bytes, extras: dict, source: str) -> bytes:
    import tensorflow as tf

    try:
        outputs = signature(images=tf.constant([data]), **extras)
    except tf.errors.InvalidArgumentError as err:
        raise CliError(source, f"cannot decode or translate the image ({_graph_reason(err)})",
                       code="corrupt") from None
    return outputs["images"].numpy()[0]  # PNG bytes, or an array of N PNGs for multi-output modes


def _write_atomic(target: str, data: bytes, overwrite: bool) -> None:
    if storage.exists(target) and not overwrite:  # appeared since the up-front check
        raise CliError(target, "output file exists (use --overwrite to replace it)", code="output_exists")
    try:
        folder = os.path.dirname(target.rstrip("/"))
        if folder:
            storage.makedirs(folder)
        storage.write_atomic(target, data, tmp_suffix=f".tmp-{os.getpid()}")
    except storage.IO_ERRORS as err:
        raise CliError(target, f"cannot write ({storage.describe(err)})", code="unwritable") from None


# ----------------------------------------------------------------------------------------------- messages


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _strip_path(err: BaseException, path: str) -> str:
    message = _first_line(err)
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def _graph_reason(err) -> str:
    """The op's own message out of a graph execution error (drops the node / stack-trace boilerplate)."""
    skip = ("Graph execution error", "Detected at node", "<stack traces", "[[", "File ", "Traceback")
    for line in (err.message or "").splitlines():
        line = line.strip()
        if line and not line.startswith(skip) and not line.startswith("{{"):
            return line.rstrip(".")
    return "invalid image data"


if __name__ == "__main__":
    sys.exit(main())
