"""fast_style (Johnson et al.): learning on real photos against The Starry Night, compared with Gatys' optimisation
on the same pair; the network and its options."""

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.data import style_images
from i2i_keras.errors import ConfigError
from i2i_keras.methods.fast_style.fast_style import STYLE_TAPS
from tests.methods.method_helpers import learning_setup, tiny_model

HELD_OUT = "embedded:photos/test/chelsea_0.png"


@pytest.mark.learning
def test_fast_style_learns_the_style_on_held_out_photos_near_gatys(vgg16_offline):
    """200 steps on the embedded train photos (32 px crops, batch 4, starry_night at 64 px, width 16, 2 residual
    blocks): on the held-out test photos the Gram style loss falls to under a quarter of the untrained network's,
    and on one held-out photo it is within 10x of what 100 L-BFGS steps of Gatys' optimisation reach for the same
    content, style, taps and style scale (one network pass against a per-image optimisation)."""
    model, train, test = learning_setup("fast_style", ["model.weights=offline", "model.style_size=64",
                                                       "model.base_filters=16", "model.num_blocks=2",
                                                       "train.batch_size=4"])
    content = np.concatenate([b["image"] for b in test])
    untrained = float(model.style_distance(model.translate(content)))
    model.fit(train, steps_per_epoch=200, epochs=1, verbose=0)
    trained = float(model.style_distance(model.translate(content)))
    assert trained < untrained / 4, (untrained, trained)

    gatys = tiny_model("nst", ["model.weights=offline", f"model.content={HELD_OUT}", "model.max_dim=32",
                               "model.style_max_dim=64", "model.content_taps=[relu2_2]",
                               f"model.style_taps=[{','.join(STYLE_TAPS)}]", "model.style_layer_weights=[1,1,1,1]",
                               "loss_weights.g_style=1e5", "loss_weights.g_tv=0.01", "optim.optimizer=lbfgs",
                               "optim.g_lr=1.0"], compiled=True)
    clock = tf.data.Dataset.from_tensors({"image": np.zeros((1, 16, 16, 3), np.float32)}).repeat()
    gatys.fit(clock, steps_per_epoch=100, epochs=1, verbose=0)
    photo = style_images.load(HELD_OUT, 32)[None]
    optimised = float(model.style_distance(gatys.result()[None]))
    fast = float(model.style_distance(model.translate(photo)))
    assert fast < 10 * optimised, (fast, optimised)
    assert optimised < float(model.style_distance(photo)) / 4


def test_stylize_keeps_any_size_and_options_raise():
    model = tiny_model("fast_style")
    images = np.random.default_rng(0).uniform(-1, 1, (1, 21, 30, 3)).astype("float32")
    assert model.translate(images).shape == (1, 21, 30, 3)
    # The style Gram matrices are fixed model state, one per tap (relu4_3 has 512 channels).
    assert [tuple(g.shape) for g in model.style_grams] == [(1, 64, 64), (1, 128, 128), (1, 256, 256), (1, 512, 512)]
    with pytest.raises(ConfigError, match="style_size"):
        tiny_model("fast_style", ["model.style_size=0"])
    with pytest.raises(ConfigError, match="in_channels"):
        tiny_model("fast_style", ["data.channels=1"])
