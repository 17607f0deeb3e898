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


# ----------------------------------------------------------------------------------------------- served


@pytest.fixture(scope="module")
def served_dann(tmp_path_factory):
    """A DANN trained briefly on the embedded MNIST -> mnist_m_like task, exported and served by the development
    server (gRPC and REST); yields (server, the model, the labelled target test images and labels)."""
    import keras

    from i2i_keras.config import load_config
    from i2i_keras.data import make_dataset
    from i2i_keras.methods.base import build_model
    from i2i_keras.training.loop import compile_model
    from serving.dev_server import start_server
    from tests.helpers import REPO
    from tests.methods.test_dann import target_test_set

    cfg = load_config(f"{REPO}/configs/dann/default.yaml",
                      overrides=["train.steps=300", "model.schedule_steps=300", "loss_weights.g_source_only=0"])
    keras.utils.set_random_seed(0)
    model = build_model(cfg)
    compile_model(model, cfg)
    model.fit(make_dataset("embedded:mnist_m_like", "domain_adaptation", cfg.data, 32), steps_per_epoch=300,
              epochs=1, verbose=0)
    base = str(tmp_path_factory.mktemp("served") / "digits")
    export.export_for_serving(model, base)
    server = start_server(models={"digits": base}, max_workers=2)
    images, labels = target_test_set()
    yield server, model, images[::5], labels[::5]
    server.stop()


def test_grpc_and_rest_classify_target_images_as_the_model_does(served_dann):
    from i2i_keras.data import transforms
    from serving.client import classify_grpc, classify_rest

    server, model, images, labels = served_dann
    encoded = [tf.io.encode_png(transforms.to_uint8(x)).numpy() for x in images]
    local = model.translate(images, mode="classify").numpy()
    for ranked in (classify_grpc(f"127.0.0.1:{server.grpc_port}", "digits", encoded),
                   classify_rest(f"127.0.0.1:{server.rest_port}", "digits", encoded)):
        assert len(ranked) == len(images)
        top = [int(r[0][0]) for r in ranked]
        probabilities = [dict(r) for r in ranked]
        # The served classes and probabilities are the model's (PNG round trip of [-1, 1] floats: 1/255 steps).
        np.testing.assert_allclose([[p[str(k)] for k in range(10)] for p in probabilities], local, atol=0.02)
        assert all(r[0][1] >= r[1][1] for r in ranked)
        # Images of the target domain are classified well above chance (0.1) after 300 adapted steps.
        assert np.mean(np.asarray(top) == labels) > 0.3, (top, labels)


def test_client_cli_prints_the_top_classes(served_dann, tmp_path, capsys):
    from i2i_keras.data import transforms
    from serving.client import main

    server, model, images, _ = served_dann
    path = tmp_path / "digit.png"
    path.write_bytes(tf.io.encode_png(transforms.to_uint8(images[0])).numpy())
    assert main(["--server", f"127.0.0.1:{server.grpc_port}", "--model", "digits", "--classify", "--top", "2",
                 "--input", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    name, probability = lines[0].split("\t")
    assert name == str(int(model.translate(images[:1], mode="classify").numpy().argmax()))
    assert 0.0 < float(probability) <= 1.0 and float(probability) >= float(lines[1].split("\t")[1])
    # Classification takes the image alone; a translation flag is refused with the flag's name.
    assert main(["--server", f"127.0.0.1:{server.grpc_port}", "--model", "digits", "--classify", "--input",
                 str(path), "--output", str(tmp_path / "x.png")]) == 2
    assert "--classify prints classes and takes the image alone; received --output" in capsys.readouterr().err
    # A signature that is not a classifier names what it answered.
    assert main(["--server", f"127.0.0.1:{server.grpc_port}", "--model", "digits", "--classify", "--signature",
                 "metadata", "--input", str(path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_translate_cli_refuses_a_classification_mode_in_one_line(tmp_path, capsys):
    from i2i_keras.translate import main

    base = str(tmp_path / "export")
    export.export_for_serving(MeanBrightnessClassifier(), base)
    (tmp_path / "in.png").write_bytes(_png(100))
    assert main(["--model", base, "--input", str(tmp_path / "in.png"), "--output", str(tmp_path / "out.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --mode classify: the mode answers ['classes', 'probabilities'], not images; translate "
                   "with an image mode (this model has none) or classify with `serving.client --classify` / "
                   "`i2i_keras.evaluate`"]
    assert not (tmp_path / "out.png").exists()
