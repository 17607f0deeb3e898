"""The FID Inception network in Keras: the 2015-12-05 ImageNet Inception graph that TensorFlow's FID (TTUR) and
pytorch-fid use, so features (and FIDs computed on them) compare with published numbers.

The architecture follows pytorch-fid's ``src/pytorch_fid/inception.py`` (read for this module: `fid_inception_v3`
and its blocks), which patches torchvision's InceptionV3:

- torchvision's InceptionV3 topology without the auxiliary classifier, every convolution a `BasicConv2d` (conv
  without bias, batch norm with eps 0.001, ReLU);
- the FID blocks: ``Mixed_5b``-``5d`` (FIDInceptionA), ``Mixed_6b``-``6e`` (FIDInceptionC) and ``Mixed_7b``
  (FIDInceptionE_1) average-pool their pool branch without counting the padding (TensorFlow's ``SAME`` average
  pooling, which is what Keras' ``AveragePooling2D(padding="same")`` does), and ``Mixed_7c`` (FIDInceptionE_2)
  max-pools it instead;
- a 1008-class fully connected layer (``fc``) on the 2048-d global average pool (``pool3``, the FID features).

Input: float32 images [N, H, W, 3] in [-1, 1] (the network's own range: pytorch-fid scales [0, 1] by ``2x - 1``),
any H and W, resized bilinearly (half-pixel centres, no antialiasing: ``F.interpolate(..., mode="bilinear",
align_corners=False)``) to 299x299 inside the model. `FIDInceptionFeatures` takes uint8 (0-255) or float [-1, 1]
images and gray ones, as the other metrics do.

**Weights** come only from a file the user provides: nothing is downloaded. Get pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth`` (`FID_WEIGHTS_URL`) and convert it where PyTorch is installed with
``python scripts/convert_fid_inception.py pt_inception-2015-12-05-6726825d.pth fid_inception.npz``, then pass
the ``.npz`` path (``weights=``) or set the environment variable ``I2I_KERAS_FID_WEIGHTS`` to it.

**The .npz layout**: one array per entry of pytorch-fid's ``FIDInceptionV3`` ``state_dict()``, under the same key
and in PyTorch's layout, float32: ``<block>.conv.weight`` [out, in, kh, kw]; ``<block>.bn.weight``,
``<block>.bn.bias``, ``<block>.bn.running_mean``, ``<block>.bn.running_var`` [out]; ``fc.weight`` [1008, 2048],
``fc.bias`` [1008]; 472 arrays (94 convolutions x 5 + 2). ``num_batches_tracked`` entries are ignored if present.
`load_fid_weights` transposes into Keras' layouts (kernels [kh, kw, in, out], dense [in, out]) and refuses a file
with a missing, unexpected or misshapen array.
"""

from __future__ import annotations

import io
import os
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from i2i_keras import storage
from i2i_keras.errors import WeightsUnavailable
from i2i_keras.metrics.image import _as_0_255

FEATURE_NETWORK = "fid_inception_2015_12_05"
FID_WEIGHTS_ENV = "I2I_KERAS_FID_WEIGHTS"
FID_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{FID_WEIGHTS_FILE}"
INPUT_SIZE = 299
FEATURE_SIZE = 2048
NUM_CLASSES = 1008
BN_EPSILON = 1e-3
# Keras' BatchNormalization variables in order, and the state_dict entries they come from.
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")
_HOW_TO_GET = (f"download {FID_WEIGHTS_FILE} from {FID_WEIGHTS_URL}, convert it where PyTorch is installed with "
               f"`python scripts/convert_fid_inception.py {FID_WEIGHTS_FILE} fid_inception.npz` (from the i2i_keras "
               f"repository), and pass the .npz path or set {FID_WEIGHTS_ENV} to it")


# ------------------------------------------------------------------------------------------- architecture


def _conv(x, name: str, filters: int, kernel, strides: int = 1, padding: str = "valid"):
    """pytorch-fid's BasicConv2d: conv (no bias) -> batch norm (eps 0.001) -> ReLU. Layer names are the
    state_dict prefixes (``<name>.conv``, ``<name>.bn``). torchvision pads every stride-1 conv by kernel // 2
    (``same``) and no stride-2 one (``valid``)."""
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=f"{name}.conv",
                            dtype="float32")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}.bn", dtype="float32")(x)
    return keras.layers.ReLU(name=f"{name}.relu", dtype="float32")(x)


def _avg_pool_same(x, name: str):
    # SAME average pooling divides by the number of real pixels: pytorch-fid's count_include_pad=False patch.
    return keras.layers.AveragePooling2D(3, strides=1, padding="same", name=name, dtype="float32")(x)


def _concat(branches, name: str):
    return keras.layers.Concatenate(axis=-1, name=name, dtype="float32")(branches)


def _inception_a(x, name: str, pool_features: int):
    b1 = _conv(x, f"{name}.branch1x1", 64, 1)
    b5 = _conv(x, f"{name}.branch5x5_1", 48, 1)
    b5 = _conv(b5, f"{name}.branch5x5_2", 64, 5, padding="same")
    b3 = _conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    b3 = _conv(b3, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    b3 = _conv(b3, f"{name}.branch3x3dbl_3", 96, 3, padding="same")
    bp = _conv(_avg_pool_same(x, f"{name}.avg_pool"), f"{name}.branch_pool", pool_features, 1)
    return _concat([b1, b5, b3, bp], name)


def _inception_b(x, name: str):
    b3 = _conv(x, f"{name}.branch3x3", 384, 3, strides=2)
    bd = _conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    bd = _conv(bd, f"{name}.branch3x3dbl_2", 96, 3, padding="same")
    bd = _conv(bd, f"{name}.branch3x3dbl_3", 96, 3, strides=2)
    bp = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.max_pool", dtype="float32")(x)
    return _concat([b3, bd, bp], name)


def _inception_c(x, name: str, channels_7x7: int):
    c = channels_7x7
    b1 = _conv(x, f"{name}.branch1x1", 192, 1)
    b7 = _conv(x, f"{name}.branch7x7_1", c, 1)
    b7 = _conv(b7, f"{name}.branch7x7_2", c, (1, 7), padding="same")
    b7 = _conv(b7, f"{name}.branch7x7_3", 192, (7, 1), padding="same")
    bd = _conv(x, f"{name}.branch7x7dbl_1", c, 1)
    bd = _conv(bd, f"{name}.branch7x7dbl_2", c, (7, 1), padding="same")
    bd = _conv(bd, f"{name}.branch7x7dbl_3", c, (1, 7), padding="same")
    bd = _conv(bd, f"{name}.branch7x7dbl_4", c, (7, 1), padding="same")
    bd = _conv(bd, f"{name}.branch7x7dbl_5", 192, (1, 7), padding="same")
    bp = _conv(_avg_pool_same(x, f"{name}.avg_pool"), f"{name}.branch_pool", 192, 1)
    return _concat([b1, b7, bd, bp], name)


def _inception_d(x, name: str):
    b3 = _conv(x, f"{name}.branch3x3_1", 192, 1)
    b3 = _conv(b3, f"{name}.branch3x3_2", 320, 3, strides=2)
    b7 = _conv(x, f"{name}.branch7x7x3_1", 192, 1)
    b7 = _conv(b7, f"{name}.branch7x7x3_2", 192, (1, 7), padding="same")
    b7 = _conv(b7, f"{name}.branch7x7x3_3", 192, (7, 1), padding="same")
    b7 = _conv(b7, f"{name}.branch7x7x3_4", 192, 3, strides=2)
    bp = keras.layers.MaxPooling2D(3, strides=2, name=f"{name}.max_pool", dtype="float32")(x)
    return _concat([b3, b7, bp], name)


def _inception_e(x, name: str, max_pool: bool):
    """FIDInceptionE_1 (`max_pool` False: padding-excluding average pool) or FIDInceptionE_2 (True: a 3x3 stride-1
    max pool, the quirk of the 2015 graph that pytorch-fid reproduces)."""
    b1 = _conv(x, f"{name}.branch1x1", 320, 1)
    b3 = _conv(x, f"{name}.branch3x3_1", 384, 1)
    b3 = _concat([_conv(b3, f"{name}.branch3x3_2a", 384, (1, 3), padding="same"),
                  _conv(b3, f"{name}.branch3x3_2b", 384, (3, 1), padding="same")], f"{name}.branch3x3")
    bd = _conv(x, f"{name}.branch3x3dbl_1", 448, 1)
    bd = _conv(bd, f"{name}.branch3x3dbl_2", 384, 3, padding="same")
    bd = _concat([_conv(bd, f"{name}.branch3x3dbl_3a", 384, (1, 3), padding="same"),
                  _conv(bd, f"{name}.branch3x3dbl_3b", 384, (3, 1), padding="same")], f"{name}.branch3x3dbl")
    if max_pool:
        pooled = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}.max_pool",
                                           dtype="float32")(x)
    else:
        pooled = _avg_pool_same(x, f"{name}.avg_pool")
    bp = _conv(pooled, f"{name}.branch_pool", 192, 1)
    return _concat([b1, b3, bd, bp], name)


def build_fid_inception() -> keras.Model:
    """The FID Inception network with freshly initialised (not pretrained) weights: `load_fid_weights` sets them.

    Input: float32 [N, H, W, 3] in [-1, 1], any H, W (resized to 299x299 inside). Outputs: a dict with ``pool3``
    [N, 2048] (the FID features) and ``logits`` [N, 1008]. Call it with ``training=False`` (batch-norm statistics).
    """
    inputs = keras.Input((None, None, 3), name="images", dtype="float32")
    x = keras.layers.Resizing(INPUT_SIZE, INPUT_SIZE, interpolation="bilinear", name="resize",
                              dtype="float32")(inputs)
    x = _conv(x, "Conv2d_1a_3x3", 32, 3, strides=2)
    x = _conv(x, "Conv2d_2a_3x3", 32, 3)
    x = _conv(x, "Conv2d_2b_3x3", 64, 3, padding="same")
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool1", dtype="float32")(x)
    x = _conv(x, "Conv2d_3b_1x1", 80, 1)
    x = _conv(x, "Conv2d_4a_3x3", 192, 3)
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool2", dtype="float32")(x)
    x = _inception_a(x, "Mixed_5b", 32)
    x = _inception_a(x, "Mixed_5c", 64)
    x = _inception_a(x, "Mixed_5d", 64)
    x = _inception_b(x, "Mixed_6a")
    for name, channels in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = _inception_c(x, name, channels)
    x = _inception_d(x, "Mixed_7a")
    x = _inception_e(x, "Mixed_7b", max_pool=False)
    x = _inception_e(x, "Mixed_7c", max_pool=True)
    pool3 = keras.layers.GlobalAveragePooling2D(name="pool3", dtype="float32")(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="fc", dtype="float32")(pool3)
    return keras.Model(inputs, {"pool3": pool3, "logits": logits}, name=FEATURE_NETWORK)


# ------------------------------------------------------------------------------------------------ weights


def fid_weight_layout(model: keras.Model) -> dict:
    """``{npz key: (variable, transpose)}`` for every variable of a `build_fid_inception` model: the pytorch-fid
    state_dict key it is stored under and the axis permutation from the stored (PyTorch) array to the variable
    (None: as is)."""
    layout = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layout[f"{layer.name}.weight"] = (layer.kernel, (2, 3, 1, 0))  # [out, in, kh, kw] -> [kh, kw, in, out]
        elif isinstance(layer, keras.layers.BatchNormalization):
            variables = (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
            for key, variable in zip(_BN_KEYS, variables):
                layout[f"{layer.name}.{key}"] = (variable, None)
        elif isinstance(layer, keras.layers.Dense):
            layout[f"{layer.name}.weight"] = (layer.kernel, (1, 0))  # [out, in] -> [in, out]
            layout[f"{layer.name}.bias"] = (layer.bias, None)
    return layout


def _stored_shape(variable, transpose) -> tuple:
    shape = tuple(variable.shape)
    if transpose is None:
        return shape
    # The inverse permutation of `transpose` takes the variable's shape back to the stored one.
    return tuple(shape[transpose.index(axis)] for axis in range(len(shape)))


def resolve_fid_weights(path: Optional[str] = None) -> str:
    """The FID weights file to use: `path` if given, else ``$I2I_KERAS_FID_WEIGHTS``; `WeightsUnavailable` when
    neither names an existing file (the message says how to get one)."""
    source = "the weights argument"
    if not path:
        path, source = os.environ.get(FID_WEIGHTS_ENV, ""), f"${FID_WEIGHTS_ENV}"
    if not path:
        raise WeightsUnavailable(f"FID Inception weights: no file given (no weights argument and {FID_WEIGHTS_ENV} "
                                 f"is not set); {_HOW_TO_GET}")
    if not storage.exists(path) or storage.isdir(path):
        raise WeightsUnavailable(f"FID Inception weights: {path} (from {source}) is not a file; {_HOW_TO_GET}")
    return path


def load_fid_weights(model: keras.Model, path: str) -> None:
    """Sets every variable of a `build_fid_inception` model from the .npz at `path` (the layout in the module
    docstring). `WeightsUnavailable` (code ``bad_weights``) when the file is unreadable or its arrays do not match
    the network: missing, unexpected or misshapen keys are named."""
    try:
        data = storage.read_bytes(path)
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:  # arrays only: no pickled objects
            arrays = {key: archive[key] for key in archive.files if not key.endswith(".num_batches_tracked")}
    except storage.IO_ERRORS as e:
        raise WeightsUnavailable(f"FID Inception weights: cannot read {path}: {storage.describe(e)}",
                                 code="bad_weights") from e
    except (ValueError, OSError, EOFError) as e:  # np.load: not an npz, truncated, or holding pickled objects
        raise WeightsUnavailable(f"FID Inception weights: {path} is not a readable .npz of arrays "
                                 f"({type(e).__name__}: {e}); expected the output of "
                                 f"scripts/convert_fid_inception.py", code="bad_weights") from e
    layout = fid_weight_layout(model)
    missing = sorted(set(layout) - set(arrays))
    unexpected = sorted(set(arrays) - set(layout))
    if missing or unexpected:
        raise WeightsUnavailable(
            f"FID Inception weights: {path} does not match the network: {len(missing)} missing key(s) "
            f"{missing[:3]}, {len(unexpected)} unexpected key(s) {unexpected[:3]} (expected the {len(layout)} "
            f"state_dict arrays of pytorch-fid's FIDInceptionV3)", code="bad_weights")
    for key, (variable, transpose) in layout.items():
        expected = _stored_shape(variable, transpose)
        if arrays[key].shape != expected:
            raise WeightsUnavailable(f"FID Inception weights: {path}: {key} has shape {arrays[key].shape}, "
                                     f"expected {expected}", code="bad_weights")
    for key, (variable, transpose) in layout.items():
        value = arrays[key] if transpose is None else np.transpose(arrays[key], transpose)
        variable.assign(value.astype(np.float32))


def save_fid_weights(model: keras.Model, path: str) -> str:
    """Writes a `build_fid_inception` model's variables as the .npz layout `load_fid_weights` reads (what the
    converter writes from pytorch-fid's file); atomically, through `storage`. Returns `path`."""
    arrays = {}
    for key, (variable, transpose) in fid_weight_layout(model).items():
        value = keras.ops.convert_to_numpy(variable)
        # argsort of a permutation is its inverse: back from the Keras layout to PyTorch's.
        arrays[key] = value if transpose is None else np.transpose(value, np.argsort(transpose))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return storage.write_atomic(path, buffer.getvalue())


# ----------------------------------------------------------------------------------------------- features


class FIDInceptionFeatures:
    """FID Inception pool3 features (and logits) of images, with the pretrained weights.

    Args:
        weights: path of the converted .npz; ``$I2I_KERAS_FID_WEIGHTS`` when None. `WeightsUnavailable` when
            there is none.
        batch_size: images per forward pass for batches of equal-sized images.

    Calling it on a batch [N, H, W, C] or a list of images ([H, W, C] or [1, H, W, C], sizes may differ), C = 1
    (replicated to RGB) or 3, uint8 0-255 or float in [-1, 1], returns float64 features [N, 2048]
    (``logits=True``: [N, 1008] logits).
    """

    name = FEATURE_NETWORK

    def __init__(self, weights: Optional[str] = None, batch_size: int = 32):
        self.weights_path = resolve_fid_weights(weights)
        self.batch_size = int(batch_size)
        self.model = build_fid_inception()
        load_fid_weights(self.model, self.weights_path)
        self._forward = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)

    def __call__(self, images, logits: bool = False) -> np.ndarray:
        output = "logits" if logits else "pool3"
        if isinstance(images, (list, tuple)):
            batches = [_network_input(image) for image in images]
        else:
            batch = _network_input(images)
            batches = [batch[i:i + self.batch_size] for i in range(0, len(batch), self.batch_size)]
        rows = [self._forward(tf.constant(batch))[output].numpy() for batch in batches if len(batch)]
        width = NUM_CLASSES if logits else FEATURE_SIZE
        return np.concatenate(rows).astype(np.float64) if rows else np.zeros((0, width))


def _network_input(images) -> np.ndarray:
    """uint8 0-255 or float [-1, 1], gray or RGB -> float32 RGB [N, H, W, 3] in [-1, 1]."""
    array = _as_0_255(images, "FID Inception input") / 127.5 - 1.0
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array.astype(np.float32)
