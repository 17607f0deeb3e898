"""SavedModel export for TensorFlow Serving, defined once and reused by the pipeline, serving/ and the translate CLI.

`export_for_serving(model, base_dir)` writes `base_dir/<version>/`, the layout TF Serving watches (`base_dir` is
its `--model_base_path`). For every translation mode `m` of the model (`model.translation_modes()`) the SavedModel
has two signatures, both taking the mode's extra inputs (if any) after `images`:

- `<m>_bytes`: `images` tf.string [batch] of encoded images (PNG 8/16-bit, JPEG, BMP, GIF; each may have its own
  size) -> `{"images": tf.string [batch]}` PNG bytes of the same sizes (times the metadata's `output_scale`:
  super-resolution), 16-bit for a 16-bit PNG input and 8-bit otherwise. A request whose images share one size goes
  through the network as one batch (`batches_exactly`: not for batch-statistics normalisation, inference-time
  randomness, scalar or image extra inputs, which go one image at a time, as do requests of mixed sizes). Decoding
  is `transforms.decode_image`, the same function training uses, so served inputs are normalised exactly like
  training inputs.
- `<m>`: `images` float32 [batch, height, width, in_channels] in [-1, 1] -> `{"images": float32 in [-1, 1]}`.
- `<m>_bytes_tiled` (image modes, metadata `tiled_modes`): the inputs of `<m>_bytes` plus int32 scalars `tile` and
  `overlap` (input pixels; tile 0 = the whole image) -> the same PNGs, computed tile by tile and blended without
  seams, memory bounded by the tile (`i2i_keras.tiling`); `serving_default_tiled` is the first mode's.

A classification mode (`TranslationMode.output == "probabilities"`, e.g. `classify` of the domain-adaptation
methods) returns class probabilities instead of images: `<m>` gives `{"probabilities": float32 [batch, K]}`, and
`<m>_bytes` gives `{"probabilities": float32 [batch, K], "classes": tf.string [batch, K]}` (`classes[i, k]` names
`probabilities[i, k]`, as TF Serving's Classify API pairs `classes` with `scores`). The names are the metadata's
`class_names`, which such a model must have.

Extra inputs use standard names (`target_domain` int32 [batch], `num_samples` int32 scalar, `seed` int64 scalar,
`reference`: see `i2i_keras.methods.base`). An extra input with a leading `None` dimension has one row per image; an
image input (`TranslationMode.image_inputs`, e.g. `reference`) is float [batch, h, w, C] (C from its spec) in the float signature and
encoded bytes [batch] in the bytes signature. A multi-output mode (`multiple_outputs`, e.g. `a2b_sample`) returns
float [batch, N, H, W, C] and PNG bytes [batch, N].

A generation mode (`TranslationMode.takes_images` False: an unconditional generator's `generate` / `mix`) takes no
image: `<m>` maps its scalar inputs (`num_samples` int32, `seed` int64, `truncation_psi` float32, ...) to
`{"images": float32 [N, H, W, C]}` and `<m>_bytes` maps them to `{"images": tf.string [N]}`, 8-bit PNGs of the same
images; it has no tiled signature. The metadata's `generation_modes` gives each one's inputs and client defaults.

The first mode's bytes signature is also `serving_default`. A `metadata` signature without inputs returns the
model's `metadata()` as constants (plus the whole dict as JSON in `metadata_json`), and the same dict is written to
`<version>/assets.extra/i2i_metadata.json`, which clients read without running the graph (TF Serving ignores
`assets.extra` apart from warm-up data).

Batch-norm statistics at inference follow the model's `inference_norm` (metadata key `inference_norm`, pix2pix and
DiscoGAN): "moving" uses the averages collected in training; "batch" normalises with the statistics of the images
translated together, as the reference test scripts' train-mode batch norm: the float signatures over the request's
batch, the bytes signatures (which translate one image at a time) over each image alone. Serving never changes
the moving averages. (`tests/test_export.py` checks both signatures against the training-mode forward pass.)

Example:
    path = export_for_serving(model, "/models/facades")        # -> "/models/facades/1"
    loaded, meta = load_exported("/models/facades")            # highest version
    png = loaded.signatures["translate_bytes"](images=tf.constant([open("in.png", "rb").read()]))["images"][0]
"""

from __future__ import annotations

import json
import numbers
import os
import re
import uuid
from typing import Any, Optional

import keras
import tensorflow as tf

from i2i_keras import tiling
from i2i_keras.data import transforms
from i2i_keras.errors import ConfigError, RequestError, RunStateError
from i2i_keras import storage

METADATA_ENDPOINT = "metadata"
METADATA_JSON_KEY = "metadata_json"
METADATA_ASSET = os.path.join("assets.extra", "i2i_metadata.json")
BYTES_SUFFIX = "_bytes"
IMAGES_KEY = "images"
PROBABILITIES_KEY = "probabilities"
CLASSES_KEY = "classes"
CLASS_NAMES = "class_names"

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Names the exported object or the SavedModel already uses for something else.
_RESERVED_NAMES = {METADATA_ENDPOINT, "serving_default", "variables", "trainable_variables",
                   "non_trainable_variables", "signatures"}
_TMP_PREFIX = ".tmp-export-"
#: Name prefix of the temporary directory a version is built in (left behind only by a killed process).
TEMPORARY_PREFIX = _TMP_PREFIX


# ----------------------------------------------------------------------------------------------- public API


def export_for_serving(model, base_dir: str, version: Optional[int] = None, tiled: bool = True) -> str:
    """Exports `model` as SavedModel version `version` under `base_dir`; returns the version directory.

    Args:
        model: a `TranslationModel` (built; every method builds its networks in `__init__`).
        base_dir: the model base path TF Serving watches; created if missing.
        version: integer version directory name; default: highest existing integer version + 1, or 1.
        tiled: also write the `<mode>_bytes_tiled` signatures (tiled inference; metadata `tiled_modes`). They
            cost export time (tracing the tiled loop, about a third more for a many-mode method); False leaves
            them and the metadata key out.

    The SavedModel is written to a hidden temporary directory inside `base_dir` and renamed into place, so a crash
    never leaves a half-written version for TF Serving to load. An existing version is never overwritten.
    `base_dir` may be a URL (gs://bucket/models/x, ram://...): all file access goes through `tf.io.gfile`; where
    directories cannot be renamed (object stores, ram://) the files are copied in, `saved_model.pb` last.

    Raises:
        ValueError: `model`, one of its translation modes or `version` is unusable (a defect of the caller).
        ConfigError: (code ``not_exportable``) the method has no input -> output network to serve (`nst`); the
            message says why and what to use instead.
        RunStateError: `base_dir` is a file (code ``not_a_directory``), the version directory already exists
            (code ``version_exists``) or a weight is NaN or infinite (code ``non_finite_state``: such a model only
            serves garbage, e.g. black images).
    """
    from i2i_keras.methods.base import TranslationModel

    if not isinstance(model, TranslationModel):
        raise ValueError(f"`model` must be a TranslationModel. Received: model={type(model).__name__}")
    if not model.translation_modes() and model.not_a_translator:
        raise ConfigError(f"{model.method_name} cannot be exported for serving: {model.not_a_translator}",
                          code="not_exportable")
    if not isinstance(base_dir, (str, os.PathLike)) or not os.fspath(base_dir):
        raise ValueError(f"`base_dir` must be a non-empty path. Received: base_dir={base_dir!r}")
    base_dir = os.fspath(base_dir)
    if tf.io.gfile.exists(base_dir) and not tf.io.gfile.isdir(base_dir):
        raise RunStateError(f"{base_dir}: the export base path exists and is not a directory. "
                            f"Received: base_dir={base_dir!r}", code="not_a_directory")
    if version is not None and (isinstance(version, bool) or not isinstance(version, numbers.Integral)
                                or version < 0):
        raise ValueError(f"`version` must be a non-negative integer or None. Received: version={version!r}")

    _check_finite_weights(model)
    modes = _checked_modes(model)
    metadata = _checked_metadata(model)
    _check_class_names(modes, metadata)
    if tiled:
        _check_tiled_inputs(modes)
    else:
        metadata.pop("tiled_modes", None)
    if version is None:
        version = max(list_versions(base_dir), default=0) + 1
    target = os.path.join(base_dir, str(int(version)))
    if tf.io.gfile.exists(target):
        raise _version_exists(target)

    archive = _build_archive(model, modes, metadata, tiled)
    tf.io.gfile.makedirs(base_dir)
    tmp = os.path.join(base_dir, f"{_TMP_PREFIX}{int(version)}-{uuid.uuid4().hex[:8]}")
    try:
        archive.write_out(tmp, verbose=False)
        asset = os.path.join(tmp, METADATA_ASSET)
        tf.io.gfile.makedirs(os.path.dirname(asset))
        with tf.io.gfile.GFile(asset, "w") as f:
            f.write(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
        if tf.io.gfile.exists(target):  # created by someone else while we were writing
            raise _version_exists(target)
        try:
            storage.publish_dir(tmp, target, last=("saved_model.pb",))
        except (FileExistsError, tf.errors.AlreadyExistsError):
            raise _version_exists(target) from None
    except BaseException:
        storage.remove_quietly(tmp)  # never masks the error that got us here
        raise
    return target


def _check_finite_weights(model) -> None:
    for variable in model.variables:
        if not str(variable.dtype).startswith(("float", "bfloat")):
            continue
        if not bool(tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(variable)))):
            raise RunStateError(f"{model.name}: weight {variable.path} holds NaN or infinity; a model that is not "
                                f"finite is never exported", code="non_finite_state")


def _version_exists(target: str) -> RunStateError:
    return RunStateError(f"{target}: SavedModel version directory already exists (versions are never overwritten)",
                         code="version_exists")


def list_versions(base_dir: str) -> list:
    """Sorted integer version directories of a model base path (other entries, like temporaries, are ignored)."""
    if not tf.io.gfile.isdir(base_dir):
        return []
    versions = []
    for name in tf.io.gfile.listdir(base_dir):
        name = name.rstrip("/")
        if name.isdigit() and tf.io.gfile.isdir(os.path.join(base_dir, name)):
            versions.append(int(name))
    return sorted(versions)


def resolve_version_dir(path: str) -> str:
    """A version directory as is, or the highest version holding a SavedModel under a model base path.

    Raises:
        RequestError: `path` does not exist (code ``model_not_found``), or is neither a SavedModel nor a base path
            with a SavedModel version in it (code ``not_a_saved_model``).
    """
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise RequestError(f"{path}: no such file or directory", code="model_not_found")
    if not tf.io.gfile.isdir(path):
        raise RequestError(f"{path}: not a SavedModel directory (it is a file)", code="not_a_saved_model")
    if _is_saved_model(path):
        return path
    for version in reversed(list_versions(path)):
        candidate = os.path.join(path, str(version))
        if _is_saved_model(candidate):
            return candidate
    raise RequestError(f"{path}: not a SavedModel (no saved_model.pb in it, nor in an integer version subdirectory)",
                       code="not_a_saved_model")


def read_metadata(version_dir: str) -> Optional[dict]:
    """The `assets.extra/i2i_metadata.json` dict of an exported version, or None if it has none."""
    asset = os.path.join(version_dir, METADATA_ASSET)
    if not tf.io.gfile.exists(asset):
        return None
    with tf.io.gfile.GFile(asset, "r") as f:
        return json.loads(f.read())


def load_exported(path: str):
    """Loads an export: `path` is a version directory or a model base path (then the highest version is used).

    Returns:
        `(loaded, metadata)`: the `tf.saved_model.load` object (signatures under `loaded.signatures`) and the
        metadata dict (from the JSON asset, else from the `metadata` signature, else `{}`).
    """
    version_dir = resolve_version_dir(path)
    loaded = tf.saved_model.load(version_dir)
    metadata = read_metadata(version_dir)
    if metadata is None and METADATA_ENDPOINT in loaded.signatures:
        outputs = loaded.signatures[METADATA_ENDPOINT]()
        metadata = json.loads(outputs[METADATA_JSON_KEY].numpy().decode("utf-8"))
    return loaded, metadata or {}


# ----------------------------------------------------------------------------------------------- validation


def _checked_modes(model) -> dict:
    try:
        modes = model.translation_modes()
    except NotImplementedError:
        modes = None
    if not isinstance(modes, dict) or not modes:
        raise ValueError(f"`model.translation_modes()` must return a non-empty dict of name -> TranslationMode. "
                         f"Received: model={type(model).__name__}, translation_modes={modes!r}")
    names = set(modes)
    for name, mode in modes.items():
        if not isinstance(name, str) or not _NAME_RE.match(name) or name in _RESERVED_NAMES:
            raise ValueError(f"Translation mode names must be identifiers other than {sorted(_RESERVED_NAMES)} "
                             f"(they name SavedModel signatures). Received: mode={name!r}")
        if name + BYTES_SUFFIX in names:
            raise ValueError(f"Mode {name + BYTES_SUFFIX!r} clashes with the bytes signature of mode {name!r}. "
                             f"Received: mode={name + BYTES_SUFFIX!r}")
        if not callable(getattr(mode, "fn", None)):
            raise ValueError(f"Translation mode {name!r} has no callable `fn`. Received: mode={mode!r}")
        extras = getattr(mode, "extra_inputs", None) or {}
        if not isinstance(extras, dict):
            raise ValueError(f"`extra_inputs` of mode {name!r} must be a dict of name -> tf.TensorSpec. "
                             f"Received: extra_inputs={extras!r}")
        for key, spec in extras.items():
            if not isinstance(key, str) or not _NAME_RE.match(key) or key == IMAGES_KEY:
                raise ValueError(f"Extra input names of mode {name!r} must be identifiers other than "
                                 f"{IMAGES_KEY!r}. Received: extra_inputs key={key!r}")
            if not isinstance(spec, tf.TensorSpec):
                raise ValueError(f"Extra input {key!r} of mode {name!r} must be a tf.TensorSpec. "
                                 f"Received: extra_inputs[{key!r}]={spec!r}")
        if not getattr(mode, "takes_images", True):
            _check_generation_mode(name, mode, extras)
        for key in getattr(mode, "image_inputs", ()) or ():
            spec = extras.get(key)
            if spec is None or spec.shape.rank != 4 or spec.shape[-1] is None or not spec.dtype.is_floating:
                raise ValueError(f"Image input {key!r} of mode {name!r} must be an extra input with a float "
                                 f"[batch, height, width, channels] spec. Received: {key}={spec!r}")
    return modes


def _check_generation_mode(name: str, mode, extras: dict) -> None:
    """A generation mode's signatures take scalar inputs alone and return one image per generated sample."""
    from i2i_keras.methods.base import IMAGES_OUTPUT

    if mode.image_inputs or mode.multiple_outputs or getattr(mode, "output", IMAGES_OUTPUT) != IMAGES_OUTPUT:
        raise ValueError(f"Generation mode {name!r} (takes_images=False) takes scalar inputs and returns images "
                         f"[N, H, W, C]. Received: image_inputs={mode.image_inputs}, multiple_outputs="
                         f"{mode.multiple_outputs}, output={mode.output!r}")
    not_scalar = {key: spec.shape.as_list() if spec.shape.rank is not None else None
                  for key, spec in extras.items() if spec.shape.rank != 0}
    if not_scalar:
        raise ValueError(f"The inputs of generation mode {name!r} must be scalars (shape []). Received: "
                         f"{', '.join(f'{k} shape {v}' for k, v in not_scalar.items())}")


def _check_class_names(modes: dict, metadata: dict) -> None:
    """A classification mode needs the class names (metadata `class_names`) its `classes` output carries."""
    from i2i_keras.methods.base import MODE_OUTPUTS, PROBABILITIES_OUTPUT

    for name, mode in modes.items():
        output = getattr(mode, "output", MODE_OUTPUTS[0])
        if output not in MODE_OUTPUTS:
            raise ValueError(f"`output` of mode {name!r} must be one of {list(MODE_OUTPUTS)}. Received: "
                             f"output={output!r}")
        if output != PROBABILITIES_OUTPUT:
            continue
        names = metadata.get(CLASS_NAMES)
        if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
            raise ValueError(f"Classification mode {name!r} needs `class_names` (a list of at least two strings) in "
                             f"`model.metadata()`. Received: class_names={names!r}")
        if mode.multiple_outputs or mode.image_inputs:
            raise ValueError(f"Classification mode {name!r} takes images alone and returns one probability row per "
                             f"image. Received: multiple_outputs={mode.multiple_outputs}, "
                             f"image_inputs={mode.image_inputs}")


def _checked_metadata(model) -> dict:
    metadata = model.metadata()
    if not isinstance(metadata, dict):
        raise ValueError(f"`model.metadata()` must return a dict. Received: metadata={metadata!r}")
    for key in metadata:
        if not isinstance(key, str) or not _NAME_RE.match(key) or key == METADATA_JSON_KEY:
            raise ValueError(f"Metadata keys must be identifiers other than {METADATA_JSON_KEY!r}. "
                             f"Received: metadata key={key!r}")
    try:
        # Round-trip so the graph constants, the JSON asset and what a client parses are one and the same dict.
        return json.loads(json.dumps(metadata))
    except (TypeError, ValueError) as err:
        raise ValueError(f"`model.metadata()` must be JSON-serialisable ({err}). Received: metadata={metadata!r}") \
            from None


def _is_saved_model(path: str) -> bool:
    return any(tf.io.gfile.exists(os.path.join(path, name)) for name in ("saved_model.pb", "saved_model.pbtxt"))


# ----------------------------------------------------------------------------------------------- the archive


def _is_per_example(spec: tf.TensorSpec) -> bool:
    """Extra inputs with a leading unknown dimension are batched like the images (one row per image)."""
    return spec.shape.rank is not None and spec.shape.rank >= 1 and spec.shape[0] is None


def _float_endpoint(model, mode_name: str, extra_names: list):
    def serve(images, *extras):
        out = model.translate(images, mode=mode_name, **dict(zip(extra_names, extras)))
        return {IMAGES_KEY: tf.cast(out, tf.float32)}

    return serve


def batches_exactly(metadata: dict, extra_specs: dict, image_inputs: dict, multiple_outputs: bool) -> bool:
    """Whether a mode's bytes signature may translate the same-size images of one request as one batch, each image
    getting exactly the output it gets alone: not when the network normalises with the batch's own statistics
    (``inference_norm: batch``) or draws random numbers at inference (dropout; styles from a scalar seed), nor for
    modes with scalar or image extra inputs."""
    if metadata.get("inference_norm") == "batch" or metadata.get("dropout_at_inference"):
        return False
    if multiple_outputs or image_inputs:
        return False
    return all(_is_per_example(spec) for spec in extra_specs.values())


def _decoded_batch(images, channels: int) -> tuple:
    """Encoded images [n] -> (a TensorArray of the decoded [H, W, C] images, their sizes [n, 2])."""
    n = tf.shape(images)[0]
    decoded = tf.TensorArray(tf.float32, size=n, infer_shape=False,
                             element_shape=tf.TensorShape([None, None, channels]))
    sizes = tf.TensorArray(tf.int32, size=n)

    def body(i, decoded, sizes):
        image = tf.cast(transforms.decode_image(images[i], channels=channels), tf.float32)
        return i + 1, decoded.write(i, image), sizes.write(i, tf.shape(image)[:2])

    _, decoded, sizes = tf.while_loop(lambda i, *_: i < n, body, (tf.constant(0), decoded, sizes))
    return decoded, sizes.stack()


def _bytes_endpoint(model, mode_name: str, extra_specs: dict, image_inputs: dict, multiple_outputs: bool,
                    channels: int, batch_same_size: bool = False):
    """The ``<mode>_bytes`` signature. With `batch_same_size` (`batches_exactly`), a request whose images all have
    one size goes through the network as one batch (what TF Serving's request batching and a GPU need); images of
    different sizes, and every request of other modes, go one image at a time."""
    names = list(extra_specs)
    per_example = [_is_per_example(extra_specs[n]) or n in image_inputs for n in names]

    def serve(images, *extras):
        batched = [x for x, row in zip(extras, per_example) if row]

        def one(elems):
            data, rows = elems[0], list(elems[1:])
            kwargs = {}
            for name, value, row in zip(names, extras, per_example):
                if name in image_inputs:
                    kwargs[name] = transforms.decode_image(rows.pop(0), channels=image_inputs[name])[None]
                else:
                    kwargs[name] = rows.pop(0)[None] if row else value
            image = transforms.decode_image(data, channels=channels)
            out = model.translate(image[None], mode=mode_name, **kwargs)[0]
            if multiple_outputs:  # [N, H, W, C] -> N PNGs
                return tf.map_fn(lambda x: transforms.encode_png_like(x, data), out,
                                 fn_output_signature=tf.TensorSpec([], tf.string))
            return transforms.encode_png_like(out, data)

        shape = [None] if multiple_outputs else []

        def separately():
            return tf.map_fn(one, (images, *batched), fn_output_signature=tf.TensorSpec(shape, tf.string))

        if not batch_same_size:
            return {IMAGES_KEY: separately()}
        decoded, sizes = _decoded_batch(images, channels)

        def together():
            out = model.translate(decoded.stack(), mode=mode_name, **dict(zip(names, extras)))
            return tf.map_fn(lambda x: transforms.encode_png_like(*x), (tf.cast(out, tf.float32), images),
                             fn_output_signature=tf.TensorSpec([], tf.string))

        one_size = tf.logical_and(tf.shape(images)[0] > 0, tf.reduce_all(tf.equal(sizes, sizes[:1])))
        return {IMAGES_KEY: tf.cond(one_size, together, separately)}

    return serve


# ----------------------------------------------------------------------------------------------- tiled signatures
# `<mode>_bytes_tiled`: the inputs of `<mode>_bytes` plus int32 scalars `tile` and `overlap` (input pixels; tile 0 =
# the whole image), for every image mode; `serving_default_tiled` is the first mode's. A separate signature, not
# optional inputs of `<mode>_bytes` (a SavedModel signature has no optional inputs): requests without tiling keep
# their signature, inputs and same-size batching. Each image is translated alone, through `model.translate(...,
# tile=, overlap=)` (`i2i_keras.tiling`), so the library call, this signature and the translate CLI agree.
TILED_BYTES_SUFFIX = BYTES_SUFFIX + tiling.TILED_SUFFIX
DEFAULT_TILED = "serving_default" + tiling.TILED_SUFFIX
_TILE_SPECS = (tf.TensorSpec([], tf.int32, name=tiling.TILE), tf.TensorSpec([], tf.int32, name=tiling.OVERLAP))


def _check_tiled_inputs(modes: dict) -> None:
    """The tiled signature of a mode adds the inputs `tile` and `overlap`: no extra input of the mode may have
    those names."""
    for name in tiling.tiled_modes(modes):
        clash = {tiling.TILE, tiling.OVERLAP} & set(modes[name].extra_inputs or {})
        if clash:
            raise ValueError(f"Extra inputs of mode {name!r} must not be named {sorted(clash)}: its tiled signature "
                             f"takes them. Received: extra_inputs={sorted(modes[name].extra_inputs)}")


class _TiledTranslation:
    """A model whose `translate` tiles with the given (tensor) tile and overlap: the bytes endpoint runs it."""

    def __init__(self, model, tile, overlap):
        self.model, self.tile, self.overlap = model, tile, overlap

    def translate(self, images, mode=None, **kwargs):
        return self.model.translate(images, mode=mode, tile=self.tile, overlap=self.overlap, **kwargs)


def _tiled_bytes_endpoint(model, mode_name: str, extra_specs: dict, image_inputs: dict, multiple_outputs: bool,
                          channels: int):
    def serve(images, *inputs):
        *extras, tile, overlap = inputs
        endpoint = _bytes_endpoint(_TiledTranslation(model, tile, overlap), mode_name, extra_specs, image_inputs,
                                   multiple_outputs, channels)
        return endpoint(images, *extras)

    return serve


def _generation_endpoints(model, mode_name: str, names: list) -> tuple:
    """The `<mode>` and `<mode>_bytes` signatures of a generation mode: its scalar inputs -> float images
    [N, H, W, C] in [-1, 1], or their 8-bit PNGs [N]."""

    def generated(inputs):
        return tf.cast(model.translate(None, mode=mode_name, **dict(zip(names, inputs))), tf.float32)

    def as_floats(*inputs):
        return {IMAGES_KEY: generated(inputs)}

    def as_pngs(*inputs):
        return {IMAGES_KEY: tf.map_fn(transforms.encode_png8, generated(inputs),
                                      fn_output_signature=tf.TensorSpec([], tf.string))}

    return as_floats, as_pngs


def _classify_float_endpoint(model, mode_name: str, extra_names: list):
    def serve(images, *extras):
        out = model.translate(images, mode=mode_name, **dict(zip(extra_names, extras)))
        return {PROBABILITIES_KEY: tf.cast(out, tf.float32)}

    return serve


def _classify_bytes_endpoint(model, mode_name: str, extra_specs: dict, channels: int, class_names: list):
    names = list(extra_specs)
    per_example = [_is_per_example(extra_specs[n]) for n in names]
    depth = len(class_names)

    def serve(images, *extras):
        batched = [x for x, row in zip(extras, per_example) if row]

        def one(elems):
            # One image at a time: each request image may have its own size.
            data, rows = elems[0], list(elems[1:])
            kwargs = {name: (rows.pop(0)[None] if row else value)
                      for name, value, row in zip(names, extras, per_example)}
            image = transforms.decode_image(data, channels=channels)
            return tf.cast(model.translate(image[None], mode=mode_name, **kwargs), tf.float32)[0]

        probabilities = tf.map_fn(one, (images, *batched), fn_output_signature=tf.TensorSpec([depth], tf.float32))
        # classes[i, k] names probabilities[i, k] (class order), as the Classify API pairs classes and scores.
        classes = tf.tile(tf.constant(class_names)[None], [tf.shape(probabilities)[0], 1])
        return {PROBABILITIES_KEY: probabilities, CLASSES_KEY: classes}

    return serve


def _metadata_endpoint(metadata: dict):
    def serve():
        outputs = {key: tensor for key, value in metadata.items()
                   if (tensor := _metadata_constant(value)) is not None}
        outputs[METADATA_JSON_KEY] = tf.constant(json.dumps(metadata, sort_keys=True))
        return outputs

    return serve


def _metadata_constant(value: Any):
    """A metadata value as a graph constant: str/bool/int/float and flat lists of one of them; None is left out
    (it has no tensor form) and anything else becomes a JSON string. `metadata_json` always has the exact dict."""
    if value is None:
        return None
    for kind, dtype in ((bool, tf.bool), (numbers.Integral, tf.int64), (numbers.Real, tf.float32), (str, tf.string)):
        if isinstance(value, kind):
            return tf.constant(value, dtype)
        if isinstance(value, list) and value and all(isinstance(v, kind) for v in value):
            if kind is numbers.Integral and any(isinstance(v, bool) for v in value):
                continue
            return tf.constant(value, dtype)
    return tf.constant(json.dumps(value))


def _build_archive(model, modes: dict, metadata: dict, tiled: bool = True) -> keras.export.ExportArchive:
    archive = keras.export.ExportArchive()
    bytes_spec = tf.TensorSpec([None], tf.string, name=IMAGES_KEY)
    endpoints = []
    # The first endpoint added becomes `serving_default` (ExportArchive.write_out): the first mode's bytes form.
    for name, mode in modes.items():
        channels = mode.input_channels or model.in_channels
        image_spec = tf.TensorSpec([None, None, None, channels], tf.float32, name=IMAGES_KEY)
        extras = {key: tf.TensorSpec(spec.shape, spec.dtype, name=key)
                  for key, spec in (mode.extra_inputs or {}).items()}
        image_inputs = {key: int(extras[key].shape[-1]) for key in (mode.image_inputs or ())}
        # Extra images travel encoded in the bytes signature, like `images`.
        bytes_extras = {key: (tf.TensorSpec([None], tf.string, name=key) if key in image_inputs else spec)
                        for key, spec in extras.items()}
        if not getattr(mode, "takes_images", True):  # a generation mode: scalar inputs, no tiled form
            as_floats, as_pngs = _generation_endpoints(model, name, list(extras))
            endpoints.append(archive.add_endpoint(name + BYTES_SUFFIX, as_pngs, input_signature=list(extras.values())))
            endpoints.append(archive.add_endpoint(name, as_floats, input_signature=list(extras.values())))
            continue
        if getattr(mode, "output", None) == PROBABILITIES_KEY:
            endpoints.append(archive.add_endpoint(
                name + BYTES_SUFFIX, _classify_bytes_endpoint(model, name, bytes_extras, channels,
                                                              metadata[CLASS_NAMES]),
                input_signature=[bytes_spec, *bytes_extras.values()]))
            endpoints.append(archive.add_endpoint(name, _classify_float_endpoint(model, name, list(extras)),
                                                  input_signature=[image_spec, *extras.values()]))
            continue
        endpoints.append(archive.add_endpoint(
            name + BYTES_SUFFIX, _bytes_endpoint(model, name, bytes_extras, image_inputs, mode.multiple_outputs,
                                                 channels, batches_exactly(metadata, bytes_extras, image_inputs,
                                                                           mode.multiple_outputs)),
            input_signature=[bytes_spec, *bytes_extras.values()]))
        endpoints.append(archive.add_endpoint(name, _float_endpoint(model, name, list(extras)),
                                              input_signature=[image_spec, *extras.values()]))
        if not tiled:
            continue
        endpoints.append(archive.add_endpoint(
            name + TILED_BYTES_SUFFIX, _tiled_bytes_endpoint(model, name, bytes_extras, image_inputs,
                                                             mode.multiple_outputs, channels),
            input_signature=[bytes_spec, *bytes_extras.values(), *_TILE_SPECS]))
        if name == next(iter(modes)):
            archive.add_endpoint(DEFAULT_TILED, endpoints[-1])
    archive.add_endpoint(METADATA_ENDPOINT, _metadata_endpoint(metadata), input_signature=[])
    _track_inference_layers(archive, model, endpoints)
    return archive


def _track_inference_layers(archive, model, endpoints) -> None:
    """Tracks the model's sub-networks that the endpoints use (the generators).

    Tracking the whole method would also store its discriminators and, for CycleGAN, the image history pools
    (50 images per domain), about doubling the artifact for nothing inference needs. If the endpoints use a variable
    outside the sub-networks (e.g. the method's own seed state), the whole model is tracked instead.
    """
    used = set()
    for fn in endpoints:
        used |= {id(v) for v in fn.get_concrete_function().variables}

    def ids(layer):
        return {id(getattr(v, "value", v)) for v in layer.variables}

    chosen = [layer for layer in model.layers if ids(layer) & used]
    covered = set().union(*(ids(layer) for layer in chosen)) if chosen else set()
    if not chosen or not used <= covered:
        archive.track(model)
        return
    for layer in chosen:
        archive.track(layer)
