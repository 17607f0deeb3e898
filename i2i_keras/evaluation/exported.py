"""An export as TF Serving serves it: loading one and calling its ``<mode>_bytes`` signatures from Python.

`ServedModel` is the one loader of exports outside `i2i_keras.export`: the evaluators and the translate CLI both
use it, so what they compute is what a TF Serving client gets back (encoded images in, PNG bytes out).

Errors are `RequestError`s whose message starts with the path they are about:

| code | when |
| --- | --- |
| ``model_not_found`` | the path does not exist |
| ``not_a_saved_model`` | neither a SavedModel nor a base path with an integer version holding one |
| ``unloadable_model`` | `tf.saved_model.load` (or reading the metadata) failed |
| ``no_bytes_signature`` | the SavedModel has no ``<mode>_bytes`` signature |
| ``bad_metadata`` | a metadata field has an unusable value (e.g. ``output_scale``) |
| ``unknown_mode`` | a mode that is not among the export's modes |
| ``mode_needs_inputs`` | the mode an evaluation needs takes inputs besides the images or returns several images (a
  generation mode: inputs besides `num_samples` and `seed` without a default in the metadata) |
| ``no_label_mode`` | no mode takes one target-label input (multi-domain evaluation) |
| ``translation_failed`` | the signature rejected the request (undecodable image, bad extra input) |
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import numpy as np
import tensorflow as tf

from i2i_keras import export
from i2i_keras.errors import RequestError
from i2i_keras.methods.base import NUM_SAMPLES, SEED

BYTES_SUFFIX = export.BYTES_SUFFIX
IMAGES_KEY = export.IMAGES_KEY
DEFAULT_BATCH = 8


def first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def resolve_export(path: str) -> str:
    """The version directory of `path` (itself, or the highest version under a model base path)."""
    try:
        return export.resolve_version_dir(path)
    except RequestError:
        raise
    except FileNotFoundError as err:
        raise RequestError(first_line(err), code="model_not_found") from None
    except ValueError as err:
        raise RequestError(first_line(err), code="not_a_saved_model") from None


class ServedModel:
    """An exported model, called through its bytes signatures.

    Attributes:
        path: the path given; ``version_dir`` the resolved version directory.
        loaded, metadata: what `i2i_keras.export.load_exported` returns.
        modes: the translation modes with a ``<mode>_bytes`` signature, in the metadata's order (the first one is
            also ``serving_default``).
        mode: the mode `translate` uses (initially the first one; see `use`, `use_first_mode`, `use_label_mode`).
    """

    def __init__(self, path: str, batch_size: int = DEFAULT_BATCH):
        self.path = str(path)
        self.batch_size = int(batch_size)
        # Called as progress(images done, images asked) after each batch of `translate` (e.g. a CLI's bar).
        self.progress: Optional[Callable[[int, int], None]] = None
        self.version_dir = resolve_export(self.path)
        try:
            self.loaded, self.metadata = export.load_exported(self.version_dir)
        except Exception as err:  # noqa: BLE001 - any failure to load is one line about the export
            raise RequestError(f"{self.version_dir}: cannot load SavedModel ({type(err).__name__}: "
                               f"{first_line(err)})", code="unloadable_model") from None
        available = [name[: -len(BYTES_SUFFIX)] for name in self.loaded.signatures if name.endswith(BYTES_SUFFIX)]
        self.modes = [m for m in (self.metadata.get("modes") or []) if m in available] or available
        if not self.modes:
            raise RequestError(f"{self.version_dir}: the SavedModel has no <mode>_bytes signature; was it written by "
                               f"i2i_keras.export.export_for_serving?", code="no_bytes_signature")
        self.use(self.modes[0])

    # ------------------------------------------------------------------------------------------- metadata

    @property
    def data_kind(self) -> Optional[str]:
        return self.metadata.get("data_kind")

    @property
    def method(self) -> Optional[str]:
        return self.metadata.get("method")

    @property
    def in_channels(self) -> int:
        return int(self.metadata.get("in_channels") or 3)

    @property
    def out_channels(self) -> int:
        return int(self.metadata.get("out_channels") or 3)

    @property
    def output_scale(self) -> int:
        return output_scale_of(self.metadata, self.version_dir)

    # ------------------------------------------------------------------------------------------- modes

    def signature(self, mode: Optional[str] = None):
        mode = self.mode if mode is None else mode
        if mode not in self.modes:
            raise RequestError(f"{mode}: unknown mode; available: {', '.join(self.modes)}", code="unknown_mode")
        return self.loaded.signatures[mode + BYTES_SUFFIX]

    def extra_specs(self, mode: Optional[str] = None) -> dict:
        """The mode's inputs besides the images: name -> `tf.TensorSpec`."""
        specs = dict(self.signature(mode).structured_input_signature[1])
        specs.pop(IMAGES_KEY, None)
        return specs

    def generates(self, mode: Optional[str] = None) -> bool:
        """True for a generation mode: its signature takes no images, only scalar inputs (`num_samples`, `seed`,
        ...), and returns [N] PNGs."""
        return IMAGES_KEY not in self.signature(mode).structured_input_signature[1]

    def returns_several(self, mode: Optional[str] = None) -> bool:
        """True when the mode returns several images per input ([batch, n] PNGs)."""
        return self.signature(mode).structured_outputs[IMAGES_KEY].shape.rank == 2

    def use(self, mode: str) -> None:
        self.signature(mode)
        self.mode = mode

    def use_first_mode(self) -> str:
        """Uses the first mode (``serving_default``), which must take the images alone and return one image each."""
        mode = self.modes[0]
        extras = self.extra_specs(mode)
        if extras or self.returns_several(mode):
            what = f"takes {sorted(extras)} besides {IMAGES_KEY!r}" if extras else "returns several images per input"
            raise RequestError(f"{self.version_dir}: the first translation mode {mode!r} {what}; this evaluation "
                               f"needs one taking images only and returning one image each", code="mode_needs_inputs")
        self.use(mode)
        return mode

    def _label_kind(self, mode: str, depth: int) -> Optional[str]:
        """"vector" (float [batch, depth]), "index" (int [batch]) or None for a mode's extra inputs."""
        extras = self.extra_specs(mode)
        if len(extras) != 1 or self.returns_several(mode):
            return None
        spec = next(iter(extras.values()))
        shape = spec.shape
        if spec.dtype.is_floating and shape.rank == 2 and shape[1] in (None, depth):
            return "vector"
        if spec.dtype.is_integer and (shape.rank == 1 or (shape.rank == 2 and shape[1] in (None, 1))):
            return "index"
        return None

    def use_label_mode(self, depth: int, prefer: str) -> tuple:
        """Uses the first mode with one target-label input of kind `prefer` ("vector" or "index"), else the first
        of the other kind; returns ``(input name, kind)``."""
        found = {}
        for mode in self.modes:
            kind = self._label_kind(mode, depth)
            if kind and kind not in found:
                found[kind] = (mode, next(iter(self.extra_specs(mode))))
        if not found:
            raise RequestError(f"{self.version_dir}: no translation mode takes a target label (float "
                               f"[batch, {depth}] or int [batch]) besides {IMAGES_KEY!r}; modes: {self.modes}",
                               code="no_label_mode")
        kind = prefer if prefer in found else next(iter(found))
        mode, name = found[kind]
        self.use(mode)
        return name, kind

    def sampling_mode(self) -> Optional[str]:
        """The first mode drawing several outputs per image from a seed (inputs ``num_samples`` and ``seed`` only,
        e.g. MUNIT's ``a2b_sample``, BicycleGAN's ``sample``), or None."""
        for mode in self.modes:
            extras = self.extra_specs(mode)
            if self.returns_several(mode) and NUM_SAMPLES in extras and set(extras) <= {NUM_SAMPLES, SEED}:
                return mode
        return None

    def generation_mode(self) -> Optional[str]:
        """The first mode when it is a generation mode (an unconditional generator's `generate`: no input image),
        else None."""
        mode = self.modes[0]
        return mode if self.generates(mode) else None

    # ------------------------------------------------------------------------------------------- calls

    def generate(self, count: int, seed: int, mode: Optional[str] = None) -> list:
        """`count` PNGs of generation mode `mode`, `batch_size` per call: call k asks for the next samples with
        seed `seed + k`; inputs besides `num_samples` and `seed` take the metadata's defaults (`generation_modes`,
        e.g. `truncation_psi` 1: no truncation)."""
        mode = self.mode if mode is None else mode
        specs = self.extra_specs(mode)
        defaults = ((self.metadata.get("generation_modes") or {}).get(mode) or {}).get("defaults") or {}
        missing = sorted(set(specs) - {NUM_SAMPLES, SEED} - set(defaults))
        if not self.generates(mode) or NUM_SAMPLES not in specs or SEED not in specs or missing:
            raise RequestError(f"{self.version_dir}: mode {mode!r} is not a generation mode taking {NUM_SAMPLES!r} "
                               f"and {SEED!r} (its inputs: {sorted(specs)}, without default: {missing})",
                               code="mode_needs_inputs")
        fixed = {name: tf.constant(defaults[name], dtype=spec.dtype) for name, spec in specs.items()
                 if name not in (NUM_SAMPLES, SEED)}
        outputs = []
        for call, start in enumerate(range(0, int(count), self.batch_size)):
            size = min(self.batch_size, int(count) - start)
            result = self._call(mode, {**fixed, NUM_SAMPLES: tf.constant(size, specs[NUM_SAMPLES].dtype),
                                       SEED: tf.constant(int(seed) + call, specs[SEED].dtype)})
            outputs += list(result[IMAGES_KEY].numpy())
            if self.progress is not None:
                self.progress(len(outputs), int(count))
        return outputs

    def sample(self, encoded: bytes, num_samples: int, seed: int, mode: str) -> list:
        """`num_samples` PNG outputs of one encoded image through sampling mode `mode` (`sampling_mode`)."""
        specs = self.extra_specs(mode)
        kwargs = {IMAGES_KEY: tf.constant([encoded]),
                  NUM_SAMPLES: tf.constant(int(num_samples), dtype=specs[NUM_SAMPLES].dtype)}
        if SEED in specs:
            kwargs[SEED] = tf.constant(int(seed), dtype=specs[SEED].dtype)
        return list(self._call(mode, kwargs)[IMAGES_KEY].numpy()[0])

    def translate(self, encoded: Iterable[bytes], extra: Optional[np.ndarray] = None,
                  extra_name: Optional[str] = None) -> list:
        """Encoded images -> the served PNG bytes of the current mode, `batch_size` at a time (`extra`: the value
        of input `extra_name`, one row per image)."""
        encoded = list(encoded)
        specs = self.extra_specs()
        if extra is not None and extra_name not in specs:
            raise RequestError(f"{extra_name}: mode {self.mode!r} has no such input; its extra inputs: "
                               f"{sorted(specs)}", code="bad_input")
        outputs = []
        for start in range(0, len(encoded), self.batch_size):
            kwargs = {IMAGES_KEY: tf.constant(encoded[start:start + self.batch_size])}
            if extra is not None:
                kwargs[extra_name] = tf.constant(np.asarray(extra)[start:start + self.batch_size],
                                                 dtype=specs[extra_name].dtype)
            outputs += list(self._call(self.mode, kwargs)[IMAGES_KEY].numpy())
            if self.progress is not None:
                self.progress(len(outputs), len(encoded))
        return outputs

    def _call(self, mode: str, kwargs: dict) -> dict:
        """The outputs of mode `mode`'s bytes signature on `kwargs`; a rejected request is a RequestError."""
        try:
            return self.signature(mode)(**kwargs)
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as err:
            raise RequestError(f"{self.version_dir}: mode {mode!r} rejected the request "
                               f"({type(err).__name__}: {first_line(err)})", code="translation_failed") from None


def output_scale_of(metadata: dict, where: str = "export") -> int:
    """The export's ``output_scale`` (output size / input size; super-resolution), 1 when absent."""
    value = metadata.get("output_scale", 1)
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise RequestError(f"{where}: metadata output_scale must be a positive integer. Received: {value!r}",
                           code="bad_metadata")
    return int(value)
