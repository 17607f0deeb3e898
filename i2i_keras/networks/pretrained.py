"""Pretrained ImageNet feature networks (VGG16, VGG19) with named taps, for perceptual/style losses and metrics.

The architectures are Keras' own (``keras.applications.VGG16/VGG19(weights=None, include_top=False)``: building
downloads nothing); the weights come from what the caller names, in this order of preference:

- a local (or `tf.io.gfile`) file of the user's: ``.weights.h5`` / ``.h5`` in Keras' layout for that model, or
  ``.npz`` in the layout of `i2i_keras.weights` (``kernel_NN`` / ``bias_NN``);
- ``"imagenet"``: Keras' caffe-trained ImageNet weights, downloaded and cached by Keras (``~/.keras/models``) where
  the internet is reachable; never used offline or in tests;
- ``"offline"`` (the default): the torchvision ImageNet VGG16 weights that ``python -m i2i_keras.weights fetch``
  put in the weights folder. VGG16 only: no VGG19 weights can be had offline, so asking for them is an error.
- ``None``: Keras' random initialisation (shape checks and tests only; `description` says ``"random"``).

Inputs are float images in [-1, 1], RGB (one channel is replicated to three), any size from ``2**pools`` pixels
(the number of poolings before the deepest tap). The input normalisation follows the weights: torchvision weights
(the offline file, or a user ``.npz``) want RGB in [0, 1] minus the ImageNet mean over its std; Keras' ``imagenet``
weights (and, by default, a user ``.weights.h5``: Keras' layout is taken to mean Keras' caffe convention) want BGR
in 0-255 minus the caffe means. ``normalization=`` overrides it (``"lpips"`` is LPIPS' scaling layer).

Taps: ``reluB_C`` (a conv's output after its ReLU, e.g. ``relu4_3``), ``convB_C`` (the same conv before the ReLU,
e.g. ``conv5_4`` as ESRGAN uses it) and ``poolB`` (after block B's max-pooling). Keras' conv layers apply their
ReLU inside, so the features are computed here layer by layer from each conv's kernel and bias, which also stops
at the deepest tap asked for (no wasted layers).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import warnings
from typing import Iterable, Optional

import keras
import numpy as np
from keras import ops

from i2i_keras import weights as weights_lib
from i2i_keras.errors import ConfigError
from i2i_keras.errors import WeightsUnavailable

NETWORKS = ("vgg16", "vgg19")
NORMALIZATIONS = ("torchvision", "caffe", "lpips", "identity")
LPIPS_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")

# torchvision / ImageNet statistics of RGB in [0, 1]; caffe's BGR means on 0-255 (Keras' vgg16.preprocess_input);
# LPIPS v0.1's ScalingLayer on [-1, 1] inputs (lpips/lpips.py).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)

_CONV = re.compile(r"^block(\d+)_conv(\d+)$")
_POOL = re.compile(r"^block(\d+)_pool$")

# (network, weights key) -> the arrays in Keras' `set_weights` order. Weight files are read (and the offline pickle
# converted) once per process; every VGGFeatures builds its own small Keras model and copies the arrays in, so
# models built under different distribution strategies never share variables.
_ARRAYS: dict = {}
_ARRAYS_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forgets the weight arrays read so far (the next `VGGFeatures` reads its file again)."""
    with _ARRAYS_LOCK:
        _ARRAYS.clear()


def available_taps(network: str = "vgg16") -> tuple:
    """Every tap name of `network`, in network order (``conv1_1, relu1_1, ..., pool5``)."""
    _check_network(network)
    taps = []
    for name in _layer_names(network):
        conv, pool = _CONV.match(name), _POOL.match(name)
        if conv:
            taps += [f"conv{conv[1]}_{conv[2]}", f"relu{conv[1]}_{conv[2]}"]
        elif pool:
            taps.append(f"pool{pool[1]}")
    return tuple(taps)


def _layer_names(network):
    blocks = (2, 2, 3, 3, 3) if network == "vgg16" else (2, 2, 4, 4, 4)
    names = []
    for block, convs in enumerate(blocks, start=1):
        names += [f"block{block}_conv{i}" for i in range(1, convs + 1)] + [f"block{block}_pool"]
    return names


def _check_network(network):
    if network not in NETWORKS:
        raise ConfigError(f"unknown feature network {network!r}; expected one of {list(NETWORKS)}", code="bad_value")


def _build_model(network, weights=None):
    """``keras.applications`` VGG without its top, any input size, built in float32 whatever the global policy
    (features feed float32 losses and metrics; a bfloat16 VGG would change LPIPS values)."""
    application = keras.applications.VGG16 if network == "vgg16" else keras.applications.VGG19
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        return application(weights=weights, include_top=False, input_shape=(None, None, 3))
    finally:
        keras.config.set_dtype_policy(previous)


# ----------------------------------------------------------------------------------------------- weight sources


def _resolve_source(network, weights):
    """``(cache key, description of the source, normalisation the weights want)`` for `weights` as given."""
    if weights is None:
        return None, {"weights": "random", "weights_file": None}, "torchvision"
    if weights == "imagenet":
        return "imagenet", {"weights": "imagenet", "weights_file": None,
                            "source": f"keras.applications.{network.upper()} ImageNet weights (caffe-trained)"}, "caffe"
    if weights == "offline":
        if network != "vgg16":
            raise WeightsUnavailable(
                f"no offline weights exist for {network} (only VGG16's, from `{weights_lib.FETCH_COMMAND}`); "
                f"use network='vgg16', or name a {network} .weights.h5 / .npz file of your own, or weights="
                f"'imagenet' where the internet is reachable")
        path = weights_lib.offline_vgg16_path()
        return path, {"weights": "offline", "weights_file": path}, "torchvision"
    if not isinstance(weights, (str, os.PathLike)):
        raise ConfigError(f"weights={weights!r}: expected 'offline', 'imagenet', None or a path to a .weights.h5 / "
                          f".npz file", code="bad_value")
    path = os.fspath(weights)
    if path.endswith(".npz"):
        return path, {"weights": "file", "weights_file": path}, None  # the file says (torchvision by default)
    if path.endswith(".h5"):
        return path, {"weights": "file", "weights_file": path}, "caffe"
    raise WeightsUnavailable(f"weights file {path!r}: unknown format; expected a .weights.h5 (Keras' layout for "
                             f"{network}) or an .npz (kernel_NN / bias_NN, see i2i_keras.weights)", code="bad_weights")


def _load_arrays(network, key, model):
    """``{"flat": arrays in set_weights order, "normalization": what the file declares or None, "source": ...}`` for
    `key` (a path or ``"imagenet"``), from the process cache or read once into it."""
    with _ARRAYS_LOCK:
        cached = _ARRAYS.get((network, key))
        if cached is None:
            cached = _read_arrays(network, key, model)
            _ARRAYS[(network, key)] = cached
    return cached


def _read_arrays(network, key, model):
    from i2i_keras import storage

    if key == "imagenet":
        try:
            flat = _build_model(network, "imagenet").get_weights()
        except Exception as err:  # noqa: BLE001 - keras.utils.get_file raises a bare Exception on a failed download
            raise WeightsUnavailable(
                f"keras.applications.{network.upper()}(weights='imagenet') could not get its weights (Keras downloads "
                f"them to ~/.keras/models; that needs the internet): {type(err).__name__}: {err}") from None
        return {"flat": flat, "normalization": None, "source": None}
    if not storage.exists(key):
        raise WeightsUnavailable(f"weights file not found: {key} (expected a .weights.h5 or .npz for {network})")
    if key.endswith(".npz"):
        arrays = weights_lib.load_npz(key)
        return {"flat": weights_lib.vgg_conv_weights(arrays, network, origin=key),
                "normalization": weights_lib.npz_normalization(arrays, origin=key),
                "source": str(arrays["source"]) if "source" in arrays else None}
    return {"flat": _read_keras_h5(network, key, model), "normalization": None, "source": None}


def _read_keras_h5(network, path, model):
    """Loads a Keras ``.weights.h5`` into `model` (copied to local disk first when remote: h5py reads local files)
    and returns the arrays."""
    from i2i_keras import storage

    local, folder = path, None
    if not storage.is_local(path):
        folder = tempfile.mkdtemp(prefix="i2i-weights-")
        local = os.path.join(folder, os.path.basename(path))
        with open(local, "wb") as f:
            f.write(storage.read_bytes(path))
    expected = f"Keras weights of keras.applications.{network.upper()}(include_top=False)"
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    before = [np.array(layer.kernel) for layer in convs]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(local)
    except (ValueError, KeyError, OSError) as err:
        raise WeightsUnavailable(f"{path}: not {expected} ({type(err).__name__}: {' '.join(str(err).split())[:300]})",
                                 code="bad_weights") from None
    finally:
        if folder:
            storage.remove_quietly(folder)
    # Newer Keras versions skip parts of a file that do not match the model with only a warning, leaving those
    # layers at their random initialisation: a kernel still equal to its initial value was not in the file.
    missing = [layer.name for layer, old in zip(convs, before) if np.array_equal(np.array(layer.kernel), old)]
    if missing:
        said = f"; Keras said: {' '.join(str(caught[0].message).split())[:300]}" if caught else ""
        raise WeightsUnavailable(f"{path}: not {expected}: no weights for {missing}{said}", code="bad_weights")
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return model.get_weights()


# ----------------------------------------------------------------------------------------------- the extractor


class VGGFeatures:
    """A frozen VGG returning named intermediate features: ``features(images) -> {tap: [B, h, w, C] float32}``.

    Args:
        network: ``"vgg16"`` or ``"vgg19"``.
        weights: ``"offline"`` (default; VGG16 only), ``"imagenet"``, a path to a ``.weights.h5`` / ``.npz``, or
            None (random; tests only). See the module docstring.
        taps: tap names (`available_taps`); the output dict has them in this order.
        normalization: None (what the weights want), or one of `NORMALIZATIONS` to override it.

    Not a Keras layer on purpose: its weights are nobody's to train, checkpoint or export, so a model that keeps one
    as an attribute does not track them (they are not in its trainable variables or its checkpoints). Callable on
    NumPy arrays or tensors, eagerly or inside `tf.function` / `train_step`; gradients flow to the images.
    `description` is a JSON-ready dict (network, weights, file, normalisation, taps) for configs and reports.
    """

    def __init__(self, network: str = "vgg16", weights: Optional[str] = "offline",
                 taps: Iterable[str] = LPIPS_TAPS, normalization: Optional[str] = None):
        _check_network(network)
        taps = (taps,) if isinstance(taps, str) else tuple(taps)
        known = available_taps(network)
        unknown = [tap for tap in taps if tap not in known]
        if not taps or unknown:
            raise ConfigError(f"taps {list(taps)}: unknown {unknown or 'none given'}; {network} has {list(known)}",
                              code="bad_value")
        if normalization is not None and normalization not in NORMALIZATIONS:
            raise ConfigError(f"normalization {normalization!r}; expected None or one of {list(NORMALIZATIONS)}",
                              code="bad_value")
        key, description, wanted = _resolve_source(network, weights)
        self.network = network
        self.taps = taps
        self.model = _build_model(network)
        self.model.trainable = False
        if key is not None:
            loaded = _load_arrays(network, key, self.model)
            self.model.set_weights(loaded["flat"])
            wanted = loaded["normalization"] or wanted  # an .npz declares its own (torchvision by default)
            if loaded["source"]:
                description["source"] = loaded["source"]
        self.normalization = normalization or wanted
        self.description = {"network": network, **description, "normalization": self.normalization,
                            "taps": list(taps)}
        self._plan, self.min_size = self._make_plan(known.index(max(taps, key=known.index)))

    def _make_plan(self, deepest):
        """``[(layer, tap names it produces)]`` up to the deepest tap asked for, and the smallest input side that
        leaves every tap at least one pixel (one halving per pooling before the deepest tap)."""
        plan, order, pools, position = [], available_taps(self.network), 0, 0
        for layer in self.model.layers[1:]:
            produced = 2 if isinstance(layer, keras.layers.Conv2D) else 1
            plan.append((layer, order[position:position + produced]))
            pools += produced == 1
            position += produced
            if position > deepest:
                break
        return plan, 2 ** pools

    @property
    def conv_layers(self) -> list:
        """The Keras conv layers this extractor computes (up to its deepest tap). A model that uses the features at
        inference (AdaIN's encoder) keeps them as an attribute, so that their (frozen) weights are tracked, saved
        with it and captured by its SavedModel export."""
        return [layer for layer, names in self._plan if len(names) == 2]

    def _normalize(self, images):
        if self.normalization == "torchvision":
            return ((images + 1.0) * 0.5 - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
        if self.normalization == "caffe":
            return ops.flip((images + 1.0) * 127.5, axis=-1) - np.array(CAFFE_BGR_MEAN, np.float32)
        if self.normalization == "lpips":
            return (images - np.array(LPIPS_SHIFT, np.float32)) / np.array(LPIPS_SCALE, np.float32)
        return images

    def __call__(self, images) -> dict:
        x = ops.cast(ops.convert_to_tensor(images), "float32")
        shape = tuple(x.shape)
        if len(shape) != 4 or shape[-1] not in (1, 3):
            raise ValueError(f"{self.network} features need images [B, H, W, 1 or 3] in [-1, 1]; received shape "
                             f"{shape}")
        small = [side for side in shape[1:3] if side is not None and side < self.min_size]
        if small:
            raise ValueError(f"{self.network} taps {list(self.taps)} need images of at least {self.min_size}x"
                             f"{self.min_size}; received {shape[1]}x{shape[2]}")
        if shape[-1] == 1:
            x = ops.concatenate([x, x, x], axis=-1)
        x = self._normalize(x)
        wanted, features = set(self.taps), {}
        for layer, names in self._plan:
            if len(names) == 2:  # conv: pre-activation from its own kernel and bias, then the ReLU it would apply
                x = ops.conv(x, layer.kernel, strides=1, padding="same") + layer.bias
                if names[0] in wanted:
                    features[names[0]] = x
                x = ops.relu(x)
            else:
                x = ops.max_pool(x, pool_size=2, strides=2, padding="valid")
            if names[-1] in wanted:
                features[names[-1]] = x
        return {tap: features[tap] for tap in self.taps}

    def __repr__(self):
        return (f"VGGFeatures(network={self.network!r}, weights={self.description['weights']!r}, "
                f"normalization={self.normalization!r}, taps={self.taps!r})")
