"""The Keras FID Inception network against pytorch-fid's own, with the same random weights passed through the
converter: pool3 features and logits agree to float32 round-off, and the parameter counts are equal.

Needs a Python with torch, torchvision and pytorch-fid (not part of either test lane): set
``I2I_KERAS_TORCH_PYTHON`` to it (default: the running interpreter); skipped when it cannot import them."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.metrics.inception import build_fid_inception
from i2i_keras.metrics.inception import load_fid_weights

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_PYTHON = os.environ.get("I2I_KERAS_TORCH_PYTHON", sys.executable)


def _has_torch() -> bool:
    probe = subprocess.run([TORCH_PYTHON, "-c", "import torch, torchvision, pytorch_fid"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _has_torch(), reason=f"{TORCH_PYTHON} cannot import torch, torchvision and pytorch_fid "
                                             f"(set I2I_KERAS_TORCH_PYTHON to a Python that can)")
def test_keras_network_matches_pytorch_fid(tmp_path):
    subprocess.run([TORCH_PYTHON, os.path.join(HERE, "fid_inception_torch_side.py"), str(tmp_path)], check=True)
    model = build_fid_inception()
    load_fid_weights(model, str(tmp_path / "weights.npz"))
    parameters, buffers = np.load(tmp_path / "counts.npy")
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == parameters
    assert sum(int(np.prod(v.shape)) for v in model.non_trainable_weights) == buffers
    # pytorch-fid takes [N, 3, H, W] in [0, 1]; this network [N, H, W, 3] in [-1, 1]
    inputs = np.load(tmp_path / "inputs.npy").transpose(0, 2, 3, 1) * 2.0 - 1.0
    outputs = model(tf.constant(inputs, tf.float32), training=False)
    for name in ("pool3", "logits"):
        reference = np.load(tmp_path / f"{name}.npy")
        np.testing.assert_allclose(outputs[name].numpy(), reference, atol=1e-5, rtol=1e-4, err_msg=name)
