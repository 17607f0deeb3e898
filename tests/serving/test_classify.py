"""Classification modes in the export contract: `classify` (float images -> probabilities [B, K]) and
`classify_bytes` (encoded images -> probabilities and class names), checked on a small hand-made classifier."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import export
from i2i_keras.data import schema
from i2i_keras.methods.base import PROBABILITIES_OUTPUT, TranslationMode, TranslationModel

CLASSES = ["dark", "mid", "bright"]


class MeanBrightnessClassifier(TranslationModel):
    """Softmax over -|mean brightness - centre_k| * 10: a deterministic classifier whose answers are known."""

    data_kind = "domain_adaptation"
    method_name = "toy_classifier"

    def __init__(self, **kwargs):
        super().__init__(image_size=8, **kwargs)
        self.centres = self.add_weight(shape=(3,), initializer=keras.initializers.Constant([-0.8, 0.0, 0.8]),
                                       trainable=False, name="centres")
        self.built = True

    def generator_variables(self):
        return []

    def classify(self, images):
        mean = tf.reduce_mean(images, axis=[1, 2, 3])[:, None]
        return tf.nn.softmax(-tf.abs(mean - self.centres) * 10.0)

    def translation_modes(self):
        return {"classify": TranslationMode(self.classify, output=PROBABILITIES_OUTPUT)}

    def metadata(self):
        return {**super().metadata(), "class_names": CLASSES}


def _png(value, size=(6, 9)):
    return schema.encode_png(np.full((*size, 3), value, np.uint8))


def test_classify_signatures_return_probabilities_and_class_names(tmp_path):
    model = MeanBrightnessClassifier()
    version = export.export_for_serving(model, str(tmp_path / "export"))
    loaded, metadata = export.load_exported(version)
    assert metadata["class_names"] == CLASSES
    assert set(loaded.signatures) >= {"classify", "classify_bytes", "serving_default", "metadata"}
    images = np.stack([np.full((8, 8, 3), v, np.float32) for v in (-0.9, 0.1, 0.7)])
    probabilities = loaded.signatures["classify"](images=tf.constant(images))["probabilities"].numpy()
    assert probabilities.shape == (3, 3)
    np.testing.assert_allclose(probabilities, model.translate(images).numpy(), atol=1e-6)
    assert list(probabilities.argmax(-1)) == [0, 1, 2]
    # Encoded images of different sizes in one request; classes[i, k] names probabilities[i, k].
    out = loaded.signatures["classify_bytes"](images=tf.constant([_png(240, (5, 7)), _png(10, (9, 4))]))
    assert out["probabilities"].shape == (2, 3)
    assert [[c.decode() for c in row] for row in out["classes"].numpy()] == [CLASSES, CLASSES]
    assert list(out["probabilities"].numpy().argmax(-1)) == [2, 0]
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)
    meta = json.loads(loaded.signatures["metadata"]()["metadata_json"].numpy())
    assert meta["class_names"] == CLASSES


def test_a_classification_mode_without_class_names_is_refused(tmp_path):
    class Nameless(MeanBrightnessClassifier):
        def metadata(self):
            return TranslationModel.metadata(self)

    with pytest.raises(ValueError, match="needs `class_names`.*Received: class_names=None"):
        export.export_for_serving(Nameless(), str(tmp_path / "export"))
    assert not (tmp_path / "export").exists()


def test_an_unknown_mode_output_is_refused(tmp_path):
    class Odd(MeanBrightnessClassifier):
        def translation_modes(self):
            return {"classify": TranslationMode(self.classify, output="logits")}

    with pytest.raises(ValueError, match="must be one of \\['images', 'probabilities'\\]. Received: output='logits'"):
        export.export_for_serving(Odd(), str(tmp_path / "export"))
