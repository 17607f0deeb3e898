import numpy as np
import pytest
import tensorflow as tf

from data_test_utils import random_image
from i2i_keras.data import schema


def _png(seed, shape=(4, 5, 3)):
    return schema.encode_png(random_image(*shape, seed=seed))


@pytest.mark.parametrize(
    "kind, features",
    [
        ("paired", {"source": _png(1), "target": _png(2)}),
        ("unpaired", {"image": _png(3), "domain": 1}),
        ("multi_domain", {"image": _png(4), "label": [0, 1, 1, 0]}),
        ("single", {"image": _png(5)}),
        ("sr", {"image": _png(6)}),
    ],
)
def test_encode_parse_round_trip(kind, features):
    serialized = schema.encode_example(filename="dir/x.png", height=4, width=5, channels=3, **features)
    parsed = tf.function(lambda s: schema.parse_example(s, kind))(tf.constant(serialized))
    assert set(schema.required_keys(kind)) <= set(parsed)
    for key, value in features.items():
        got = parsed[key].numpy()
        if isinstance(value, bytes):
            assert got == value
        else:
            np.testing.assert_array_equal(got, value)
    assert parsed["filename"].numpy() == b"dir/x.png"
    assert (parsed["height"].numpy(), parsed["width"].numpy(), parsed["channels"].numpy()) == (4, 5, 3)


def test_optional_features_default_when_missing():
    parsed = schema.parse_example(tf.constant(schema.encode_example(image=_png(0))), "single")
    assert parsed["filename"].numpy() == b""
    assert parsed["height"].numpy() == 0


def test_missing_required_feature_fails_at_parse():
    serialized = schema.encode_example(image=_png(0))
    with pytest.raises(tf.errors.InvalidArgumentError):
        schema.parse_example(tf.constant(serialized), "paired")


def test_encode_accepts_numpy_and_bool_values():
    serialized = schema.encode_example(image=np.bytes_(b"abc"), label=np.array([True, False]), domain=np.int64(0))
    parsed = schema.parse_example(tf.constant(serialized), "multi_domain")
    np.testing.assert_array_equal(parsed["label"].numpy(), [1, 0])


def test_encode_rejects_unknown_key_and_bad_types():
    with pytest.raises(ValueError, match="Unknown feature key `img`"):
        schema.encode_example(img=b"x")
    with pytest.raises(ValueError, match="`domain` must be an integer"):
        schema.encode_example(domain=[0, 1])
    with pytest.raises(ValueError, match="`image` must be bytes"):
        schema.encode_example(image=3)


def test_encode_png_round_trip_8_and_16_bit():
    for dtype in (np.uint8, np.uint16):
        image = random_image(3, 4, 1, seed=7, dtype=dtype)
        decoded = tf.io.decode_png(schema.encode_png(image[..., 0]), dtype=tf.as_dtype(dtype)).numpy()
        np.testing.assert_array_equal(decoded, image)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        schema.encode_png(np.zeros((2, 2), np.float32))


def test_data_kinds_and_unknown_kind():
    from i2i_keras.data import kinds

    assert kinds.names() == ["domain_adaptation", "multi_domain", "paired", "single", "sr", "unpaired"]
    with pytest.raises(ValueError, match="data_kind='pairs'"):
        schema.parse_example(tf.constant(b""), "pairs")
