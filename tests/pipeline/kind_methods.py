"""Two small methods of the ``single`` and ``sr`` data kinds, registered only by the tests that use them.

They prove that a data kind goes through the whole pipeline (ingestion, training, evaluation, push, serving) by
its declaration alone: no method of these kinds ships yet, and nothing in pipeline/ or serving/ names a kind.

- ``kind_test_autoencoder`` (single): a small conv net trained to reproduce its input (L1).
- ``kind_test_upsampler`` (sr): bilinear x2 upsampling plus a learned conv residual, trained with L1 against the
  high-res image; ``output_scale = 2``.

`python -m tests.pipeline.kind_methods ARGS` runs `pipeline.run` with them registered (the pipeline's Trainer runs
in that process).
"""

import sys

import keras
from keras import ops

from i2i_keras import losses
from i2i_keras.methods.base import TranslationMode
from i2i_keras.methods.base import TranslationModel
from i2i_keras.registry import register_method


def _conv_net(in_channels, out_channels, filters, name):
    inputs = keras.Input((None, None, in_channels))
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    outputs = keras.layers.Conv2D(out_channels, 3, padding="same")(x)
    return keras.Model(inputs, outputs, name=name)


class _OneNetwork(TranslationModel):
    default_loss_weights = {"g_l1": 1.0}

    def __init__(self, filters=8, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.net = _conv_net(self.in_channels, self.out_channels, filters, "net")
        self.built = True

    def generator_variables(self):
        return self.net.trainable_variables

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@register_method("kind_test_autoencoder")
class KindTestAutoencoder(_OneNetwork):
    data_kind = "single"

    def _run(self, images, training=False):
        return ops.tanh(self.net(images, training=training))

    def generate(self, batch, training):
        return {"output": self._run(batch["image"], training)}

    def generator_losses(self, batch, outputs, training=True):
        return {"g_l1": losses.l1(outputs["output"], batch["image"])}

    def translation_modes(self):
        return {"translate": TranslationMode(self._run, description="image -> reconstruction")}

    def sample_grid(self, batch):
        return [batch["image"], self.translate(batch["image"])]


@register_method("kind_test_upsampler")
class KindTestUpsampler(_OneNetwork):
    data_kind = "sr"
    output_scale = 2
    paired_metrics = True

    def _run(self, images, training=False):
        up = keras.layers.UpSampling2D(2, interpolation="bilinear")(images)
        return ops.clip(up + self.net(up, training=training), -1.0, 1.0)

    def generate(self, batch, training):
        return {"output": self._run(batch["source"], training)}

    def generator_losses(self, batch, outputs, training=True):
        return {"g_l1": losses.l1(outputs["output"], batch["target"])}

    def evaluation_pairs(self, batch, outputs):
        return [(outputs["output"], batch["target"])]

    def translation_modes(self):
        return {"translate": TranslationMode(self._run, description="low-res -> high-res (x2)")}

    def sample_grid(self, batch):
        up = keras.layers.UpSampling2D(2)(batch["source"])
        return [up, self.translate(batch["source"]), batch["target"]]


if __name__ == "__main__":
    from pipeline.run import main

    sys.exit(main(sys.argv[1:]))
