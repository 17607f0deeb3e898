import io

import numpy as np
import pytest
import tensorflow as tf

from data_test_utils import random_image
from data_test_utils import small_cfg
from data_test_utils import to_float
from i2i_keras.data import schema
from i2i_keras.data import transforms

SEED = tf.constant([3, 4], tf.int64)


def test_decode_8bit_png_exact():
    image = random_image(5, 6, 3, seed=0)
    out = transforms.decode_image(schema.encode_png(image), 3).numpy()
    assert out.dtype == np.float32 and out.shape == (5, 6, 3)
    np.testing.assert_allclose(out, to_float(image), atol=1e-6)


def test_decode_16bit_png_keeps_full_precision():
    image = random_image(4, 4, 3, seed=1, dtype=np.uint16)
    out = transforms.decode_image(schema.encode_png(image), 3).numpy()
    np.testing.assert_allclose(out, to_float(image, bits=16), atol=1e-6)
    # Two 16-bit values that share their high byte must stay distinct (no silent 8-bit truncation).
    pair = np.array([[[1000], [1100]]], np.uint16)
    decoded = transforms.decode_image(schema.encode_png(pair), 1).numpy()
    assert decoded[0, 0, 0] < decoded[0, 1, 0]


def test_decode_gray_replicated_to_three_channels_and_kept_for_one():
    gray = random_image(3, 3, 1, seed=2)
    three = transforms.decode_image(schema.encode_png(gray), 3).numpy()
    one = transforms.decode_image(schema.encode_png(gray), 1).numpy()
    for c in range(3):
        np.testing.assert_allclose(three[..., c], to_float(gray[..., 0]), atol=1e-6)
    np.testing.assert_allclose(one, to_float(gray), atol=1e-6)


def test_decode_rgb_to_one_channel_is_luminance():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [200, 100, 50]]], np.uint8)
    out = transforms.decode_image(schema.encode_png(rgb), 1).numpy()
    expected = (rgb.astype(np.float64) @ [0.299, 0.587, 0.114]) / 255.0 * 2 - 1
    np.testing.assert_allclose(out[..., 0], expected, atol=1e-5)


def test_decode_rgba_composited_over_white():
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 0, 0], [0, 0, 255, 128]]], np.uint8)
    out = transforms.decode_image(schema.encode_png(rgba), 3).numpy()
    np.testing.assert_allclose(out[0, 0], [1, -1, -1], atol=1e-6)  # opaque red stays red
    np.testing.assert_allclose(out[0, 1], [1, 1, 1], atol=1e-6)  # transparent (black RGB) becomes white
    a = 128 / 255
    np.testing.assert_allclose(out[0, 2], np.array([1 - a, 1 - a, 1.0]) * 2 - 1, atol=1e-5)


def test_decode_gray_alpha_composited_over_white():
    la = np.array([[[0, 0], [0, 255]]], np.uint8)
    out = transforms.decode_image(schema.encode_png(la), 3).numpy()
    np.testing.assert_allclose(out[0], [[1, 1, 1], [-1, -1, -1]], atol=1e-6)


def test_decode_jpeg_bmp_gif():
    image = random_image(8, 8, 3, seed=3)
    jpeg = tf.io.encode_jpeg(image, quality=100).numpy()
    out = transforms.decode_image(jpeg, 3).numpy()
    np.testing.assert_allclose(out, to_float(tf.io.decode_jpeg(jpeg).numpy()), atol=1e-6)
    pil = pytest.importorskip("PIL.Image")
    bmp = io.BytesIO()
    pil.fromarray(image).save(bmp, format="BMP")
    np.testing.assert_allclose(transforms.decode_image(bmp.getvalue(), 3).numpy(), to_float(image), atol=1e-6)
    frames = [pil.fromarray(np.full((4, 4, 3), v, np.uint8)) for v in (0, 255)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    out = transforms.decode_image(gif.getvalue(), 3).numpy()
    assert out.shape == (4, 4, 3)
    np.testing.assert_allclose(out, -1.0, atol=1e-6)  # first frame (black) only


def test_decode_inside_serving_function():
    fn = tf.function(lambda b: transforms.decode_image(b, 3), input_signature=[tf.TensorSpec([], tf.string)])
    image = random_image(4, 6, 3, seed=4)
    for data in (schema.encode_png(image), tf.io.encode_jpeg(image).numpy()):
        assert tuple(fn(tf.constant(data)).shape) == (4, 6, 3)


def test_from_uint_matches_decode():
    for dtype, bits in ((np.uint8, 8), (np.uint16, 16)):
        image = random_image(3, 5, 4, seed=6, dtype=dtype)
        for channels in (1, 3):
            np.testing.assert_allclose(
                transforms.from_uint(image, channels).numpy(),
                transforms.decode_image(schema.encode_png(image), channels).numpy(),
                atol=1e-6,
            )
    with pytest.raises(ValueError, match="uint8 or uint16"):
        transforms.from_uint(np.zeros((2, 2, 3), np.float32))


def test_to_uint8_inverts_decode():
    image = random_image(4, 4, 3, seed=5)
    restored = transforms.to_uint8(transforms.decode_image(schema.encode_png(image), 3)).numpy()
    assert restored.dtype == np.uint8
    np.testing.assert_array_equal(restored, image)
    np.testing.assert_array_equal(transforms.to_uint8([-2.0, -1.0, 0.0, 1.0, 3.0]).numpy(), [0, 0, 128, 255, 255])


def _float_image(h, w, seed=0):
    return tf.constant(to_float(random_image(h, w, 3, seed=seed)), tf.float32)


@pytest.mark.parametrize(
    "mode, size", [("resize_and_crop", 8), ("crop", 8), ("resize", 8), ("none", 12)]
)
def test_preprocess_shapes_and_range(mode, size):
    cfg = small_cfg(preprocess=mode)
    image = _float_image(12, 12)
    for training in (True, False):
        out = transforms.preprocess(image, cfg, SEED, training).numpy()
        assert out.shape == (size, size, 3)
        assert out.min() >= -1.0 and out.max() <= 1.0


def test_preprocess_is_a_function_of_the_seed():
    cfg = small_cfg(preprocess="crop")
    image = _float_image(16, 16)
    a = transforms.preprocess(image, cfg, SEED, True).numpy()
    b = transforms.preprocess(image, cfg, SEED, True).numpy()
    np.testing.assert_array_equal(a, b)
    others = [transforms.preprocess(image, cfg, tf.constant([s, 0], tf.int64), True).numpy() for s in range(8)]
    assert any(not np.array_equal(a, o) for o in others)


def test_preprocess_crop_is_a_window_of_the_image_and_eval_is_centred():
    cfg = small_cfg(preprocess="crop", flip=False)
    image = _float_image(12, 14).numpy()
    out = transforms.preprocess(tf.constant(image), cfg, SEED, True).numpy()
    windows = [image[t : t + 8, l : l + 8] for t in range(5) for l in range(7)]
    assert any(np.array_equal(out, w) for w in windows)
    centre = transforms.preprocess(tf.constant(image), cfg, SEED, False).numpy()
    np.testing.assert_array_equal(centre, image[2:10, 3:11])


def test_flip_happens_for_some_seeds_only():
    cfg = small_cfg(preprocess="none", flip=True)
    image = _float_image(4, 4).numpy()
    seeds = [tf.constant([s, 1], tf.int64) for s in range(16)]
    outs = [transforms.preprocess(tf.constant(image), cfg, seed, True).numpy() for seed in seeds]
    flipped = [np.array_equal(o, image[:, ::-1]) for o in outs]
    kept = [np.array_equal(o, image) for o in outs]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_pair_gets_the_same_crop_and_flip():
    cfg = small_cfg(preprocess="resize_and_crop", load_size=14)
    image = _float_image(12, 12)
    for s in range(6):
        seed = tf.constant([s, 9], tf.int64)
        src, tgt = transforms.preprocess_pair(image, image * -1.0, cfg, seed, True)
        np.testing.assert_allclose(src.numpy(), -tgt.numpy(), atol=1e-6)
        np.testing.assert_allclose(src.numpy(), transforms.preprocess(image, cfg, seed, True).numpy(), atol=1e-6)


def test_super_resolution_pair_crops_aligned_windows():
    cfg = small_cfg(preprocess="crop", crop_size=8, scale=2)
    low = _float_image(6, 7).numpy()
    high = np.kron(low, np.ones((2, 2, 1), np.float32))  # nearest-neighbour x2: aligned by construction
    for s in range(5):
        src, tgt = transforms.preprocess_pair(tf.constant(low), tf.constant(high), cfg, tf.constant([s, 2]), True, 2)
        assert src.shape == (4, 4, 3) and tgt.shape == (8, 8, 3)
        np.testing.assert_array_equal(np.kron(src.numpy(), np.ones((2, 2, 1), np.float32)), tgt.numpy())


def test_degrade_for_sr():
    hr = tf.fill([2, 8, 12, 3], 0.25)
    lr = transforms.degrade_for_sr(hr, 4)
    assert tuple(lr.shape) == (2, 2, 3, 3)
    np.testing.assert_allclose(lr.numpy(), 0.25, atol=1e-5)
    single = transforms.degrade_for_sr(_float_image(8, 8), 2)
    assert tuple(single.shape) == (4, 4, 3)
    with pytest.raises(ValueError, match="scale=0"):
        transforms.degrade_for_sr(hr, 0)


def test_make_sr_pair_shapes():
    cfg = small_cfg(preprocess="crop", crop_size=8, scale=4)
    lr, hr = transforms.make_sr_pair(_float_image(12, 12), cfg, SEED, True)
    assert lr.shape == (2, 2, 3) and hr.shape == (8, 8, 3)


def test_sample_target_label():
    onehot = [transforms.sample_target_label([0.0, 1.0, 0.0], tf.constant([s, 0]), "onehot").numpy() for s in range(20)]
    assert all(o.sum() == 1 and set(np.unique(o)) <= {0.0, 1.0} for o in onehot)
    assert len({int(o.argmax()) for o in onehot}) == 3
    label = np.array([1, 0, 1, 1, 0, 0, 1, 0] * 4, np.float32)
    flipped = transforms.sample_target_label(label, SEED, "attributes").numpy()
    changed = (flipped != label).mean()
    assert set(np.unique(flipped)) <= {0.0, 1.0} and 0.2 < changed < 0.8
    np.testing.assert_array_equal(flipped, transforms.sample_target_label(label, SEED, "attributes").numpy())
    auto = transforms.sample_target_label([0.0, 0.0, 1.0], SEED, "auto").numpy()
    assert auto.sum() == 1
