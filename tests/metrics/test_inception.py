"""The Keras FID Inception network (`i2i_keras.metrics.inception`): its size equals pytorch-fid's FIDInceptionV3,
its weights file round-trips and is checked, missing weights are a `WeightsUnavailable`, and features have the
documented shape for inputs of any size, dtype and channel count. The 299x299 forward is heavy on CPU: it runs
once, in the `features` fixture. (tests/reference/ compares outputs with pytorch-fid's network where torch is.)"""

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.errors import WeightsUnavailable
from i2i_keras.metrics import inception
from i2i_keras.metrics.inception import FID_WEIGHTS_ENV
from i2i_keras.metrics.inception import FIDInceptionFeatures
from i2i_keras.metrics.inception import build_fid_inception
from i2i_keras.metrics.inception import fid_weight_layout
from i2i_keras.metrics.inception import load_fid_weights
from i2i_keras.metrics.inception import save_fid_weights

# pytorch-fid's FIDInceptionV3 (torchvision's Inception3 with num_classes=1008, aux_logits=False and the FID blocks)
# counted by hand from torchvision's layer definitions: sum(p.numel() for p in parameters()) = conv weights +
# batch-norm weight and bias + fc (2048 * 1008 + 1008); its buffers (running mean and variance) = 2 x the 17,216
# batch-norm channels. Confirmed with torch 2.14.1, torchvision 0.29.1 and pytorch-fid 0.3.0 by tests/reference/.
TORCH_PARAMETERS = 23_850_960
TORCH_BN_BUFFERS = 34_432
STATE_DICT_ARRAYS = 94 * 5 + 2  # 94 BasicConv2d (conv.weight + bn.{weight,bias,running_mean,running_var}) + fc


@pytest.fixture(scope="module")
def model():
    return build_fid_inception()


@pytest.fixture(scope="module")
def weights_file(model, tmp_path_factory):
    """A weights file in the documented layout with random, seeded values (positive variances and scales), as the
    converter would write it."""
    rng = np.random.default_rng(0)
    arrays = {}
    for key, (variable, transpose) in fid_weight_layout(model).items():
        shape = tuple(variable.shape) if transpose is None else tuple(np.array(variable.shape)[np.argsort(transpose)])
        if key.endswith(("running_var", "bn.weight")):
            value = rng.uniform(0.5, 1.5, shape)
        elif len(shape) > 1:  # He-scaled kernels keep the signal alive through the depth to pool3
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
        else:
            value = rng.normal(0.0, 0.1, shape)
        arrays[key] = value.astype(np.float32)
    path = tmp_path_factory.mktemp("fid") / "fid_inception.npz"
    np.savez(path, **arrays)
    return str(path), arrays


@pytest.fixture(scope="module")
def features(weights_file):
    """The only forward passes: images of three sizes, uint8 / float, gray / RGB, through FIDInceptionFeatures."""
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (33, 33, 1), dtype=np.uint8)
    images = [rgb, rgb.astype(np.float32) / 127.5 - 1.0, gray, np.repeat(gray, 3, axis=-1)]
    network = FIDInceptionFeatures(weights_file[0])
    return network(images), network


def test_parameter_count_equals_pytorch_fid(model):
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == TORCH_PARAMETERS
    assert sum(int(np.prod(v.shape)) for v in model.non_trainable_weights) == TORCH_BN_BUFFERS
    layout = fid_weight_layout(model)
    assert len(layout) == STATE_DICT_ARRAYS
    assert layout["fc.weight"][0].shape == (2048, 1008) and "Mixed_7c.branch_pool.bn.running_var" in layout


def test_average_pool_excludes_padding_as_pytorch_fid():
    # count_include_pad=False: a constant image stays constant at the border (counting the zero padding would
    # make the corner 4/9); the FIDInceptionA/C/E_1 blocks rely on this.
    pooled = tf.keras.layers.AveragePooling2D(3, strides=1, padding="same")(tf.ones((1, 5, 5, 1)))
    np.testing.assert_allclose(pooled.numpy(), 1.0, atol=1e-7)


def test_weights_round_trip(model, weights_file, tmp_path):
    path, arrays = weights_file
    load_fid_weights(model, path)
    layout = fid_weight_layout(model)
    kernel = layout["Conv2d_1a_3x3.conv.weight"][0].numpy()
    np.testing.assert_array_equal(kernel, arrays["Conv2d_1a_3x3.conv.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(layout["Mixed_6b.branch7x7_2.bn.running_var"][0].numpy(),
                                  arrays["Mixed_6b.branch7x7_2.bn.running_var"])
    np.testing.assert_array_equal(layout["fc.weight"][0].numpy(), arrays["fc.weight"].T)
    written = save_fid_weights(model, str(tmp_path / "again.npz"))
    with np.load(written) as again:
        assert sorted(again.files) == sorted(arrays)
        for key in arrays:
            np.testing.assert_array_equal(again[key], arrays[key], err_msg=key)


def test_bad_weight_files_are_refused(model, weights_file, tmp_path):
    _, arrays = weights_file
    missing = dict(arrays)
    del missing["Mixed_5b.branch1x1.bn.bias"]
    np.savez(tmp_path / "missing.npz", **missing, extra=np.zeros(1))
    with pytest.raises(WeightsUnavailable, match=r"1 missing key\(s\) \['Mixed_5b.branch1x1.bn.bias'\], 1 "
                                                 r"unexpected key\(s\) \['extra'\]") as error:
        load_fid_weights(model, str(tmp_path / "missing.npz"))
    assert error.value.code == "bad_weights"
    wrong = dict(arrays, **{"fc.bias": np.zeros(1000, np.float32)})
    np.savez(tmp_path / "wrong.npz", **wrong)
    with pytest.raises(WeightsUnavailable, match=r"fc.bias has shape \(1000,\), expected \(1008,\)"):
        load_fid_weights(model, str(tmp_path / "wrong.npz"))
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(WeightsUnavailable, match="is not a readable .npz"):
        load_fid_weights(model, str(tmp_path / "text.npz"))


def test_missing_weights_say_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv(FID_WEIGHTS_ENV, raising=False)
    with pytest.raises(WeightsUnavailable, match=f"no file given .*{FID_WEIGHTS_ENV} is not set") as error:
        FIDInceptionFeatures()
    message = str(error.value)
    assert error.value.code == "weights_unavailable"
    assert inception.FID_WEIGHTS_URL in message and "scripts/convert_fid_inception.py" in message
    absent = str(tmp_path / "absent.npz")
    monkeypatch.setenv(FID_WEIGHTS_ENV, absent)
    with pytest.raises(WeightsUnavailable, match=f"{absent} \\(from \\${FID_WEIGHTS_ENV}\\) is not a file"):
        FIDInceptionFeatures()
    # an explicit path wins over the environment
    with pytest.raises(WeightsUnavailable, match="other.npz \\(from the weights argument\\)"):
        FIDInceptionFeatures(str(tmp_path / "other.npz"))


def test_features_shape_and_input_conventions(features):
    values, _ = features
    assert values.shape == (4, 2048) and values.dtype == np.float64
    assert np.all(np.isfinite(values)) and np.all(values >= 0.0)  # averages of ReLU outputs
    # uint8 0-255 and float [-1, 1] are the same image; gray is replicated to RGB
    np.testing.assert_allclose(values[1], values[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(values[3], values[2], rtol=1e-6, atol=1e-6)
    # different images give different features (the weights are not inert)
    assert np.abs(values[0] - values[2]).max() > 1e-3


def test_features_env_variable_and_bad_input(weights_file, features, monkeypatch):
    _, network = features
    monkeypatch.setenv(FID_WEIGHTS_ENV, weights_file[0])
    assert inception.resolve_fid_weights() == weights_file[0]
    with pytest.raises(ValueError, match=r"FID Inception input: .* got values in \[0, 255\]"):
        network(np.array([[[[0.0, 255.0, 0.0]]]], np.float32))


def _converter():
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "convert_fid_inception.py")
    spec = importlib.util.spec_from_file_location("convert_fid_inception", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converter_keeps_the_state_dict_and_refuses_other_networks(weights_file):
    _, arrays = weights_file
    state_dict = dict(arrays, **{"Conv2d_1a_3x3.bn.num_batches_tracked": np.array(0)})
    state_dict["fc.bias"] = state_dict["fc.bias"].astype(np.float64)
    converted = _converter().state_dict_to_arrays(state_dict)
    assert sorted(converted) == sorted(arrays) and converted["fc.bias"].dtype == np.float32
    torchvision_head = dict(arrays, **{"fc.weight": np.zeros((1000, 2048), np.float32)})
    with pytest.raises(ValueError, match=r"got 472 arrays and fc.weight of shape \(1000, 2048\), expected 472 "
                                         r"arrays and fc.weight \(1008, 2048\)"):
        _converter().state_dict_to_arrays(torchvision_head)
