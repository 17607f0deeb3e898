"""DANN: gradient reversal, the paper's lambda and learning-rate schedules, no target label in training, and a
learning test on the embedded MNIST -> mnist_m_like task (target accuracy above the source-only baseline)."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras.data import make_dataset, transforms
from i2i_keras.data.sources import embedded_path
from i2i_keras.methods.base import build_model
from i2i_keras.methods.dann.classification import reverse_gradient
from i2i_keras.training.loop import compile_model
from tests.helpers import LEARNING_SEEDS, REPO, model_batches, tiny_config


def _tiny(overrides=()):
    cfg = tiny_config("dann", overrides)
    model = build_model(cfg)
    compile_model(model, cfg)
    return cfg, model


def test_gradient_reversal_is_identity_forward_and_minus_scale_backward():
    x = tf.constant([[1.0, -2.0, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = reverse_gradient(x, 0.25)
        loss = tf.reduce_sum(y * tf.constant([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(y.numpy(), x.numpy())
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), [[-0.25, -0.5, -0.75]])


def test_lambda_and_learning_rate_follow_the_paper_schedules():
    _, model = _tiny(["model.schedule_steps=100"])
    for step, progress in ((0, 0.0), (30, 0.3), (100, 1.0), (250, 1.0)):
        model.train_steps.assign(step)
        assert float(model.progress()) == pytest.approx(progress)
        assert float(model.reversal_scale()) == pytest.approx(2.0 / (1.0 + np.exp(-10.0 * progress)) - 1.0, abs=1e-6)
        model._decay_learning_rates()
        for optimizer in (model.optimizer, model.d_optimizer):
            assert float(optimizer.learning_rate) == pytest.approx(0.01 / (1.0 + 10.0 * progress) ** 0.75, rel=1e-5)
    # The paper's optimizer: SGD with momentum 0.9 replaces the loop's Adam, for both updates.
    assert isinstance(model.optimizer, keras.optimizers.SGD) and float(model.optimizer.momentum) == 0.9
    assert isinstance(model.d_optimizer, keras.optimizers.SGD)


def test_one_step_is_the_papers_simultaneous_update():
    """The features get -lambda times the domain loss's gradient (plus the class loss's); the domain classifier
    gets the domain loss's own gradient at the features and weights of the same forward pass."""
    _, model = _tiny(["model.schedule_steps=4", "loss_weights.g_source_only=0", "model.lr_alpha=0"])
    model.train_steps.assign(2)  # lambda = 2/(1+e^-5) - 1
    batch = next(iter(model_batches(model)))
    lam = float(model.reversal_scale())
    feature_vars = model.features.trainable_variables
    domain_vars = model.domain_classifier.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        outputs = model.generate(batch, training=True)
        domain = model._domain_loss(batch, outputs["domain_features"], True)
        classes = model.generator_losses(batch, outputs)["g_class"]
    expected_features = [c - lam * d for c, d in zip(tape.gradient(classes, feature_vars),
                                                      tape.gradient(domain, feature_vars))]
    expected_domain = tape.gradient(domain, domain_vars)
    before = [v.numpy().copy() for v in feature_vars + domain_vars]
    for optimizer in (model.optimizer, model.d_optimizer):  # plain SGD steps: the update is -lr * gradient
        optimizer.momentum = 0.0
    model.train_step(batch)
    rate = 0.01
    for v, b, g in zip(feature_vars + domain_vars, before, expected_features + expected_domain):
        np.testing.assert_allclose(v.numpy(), b - rate * g.numpy(), atol=2e-6, err_msg=v.path)


def test_no_target_label_reaches_the_training_step(tmp_path):
    """The training data of a folder whose target is sorted into class folders: every batch the train step gets
    holds the source's labels and the target's images, nothing else."""
    root = tmp_path / "da"
    for split in ("train", "test"):
        for k, name in enumerate(["a", "b", "c"]):
            for i in range(2):
                for side, seed in (("source", 10 * k + i), ("target", 99 - 10 * k - i)):
                    path = root / split / side / name / f"{i}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3)).astype(np.uint8)
                    path.write_bytes(tf.io.encode_png(pixels).numpy())
    cfg, model = _tiny(["model.num_classes=3"])
    seen = []
    step = model.train_step

    def spy(data):
        seen.append(sorted(data))  # traced once: the structure of every batch
        return step(data)

    model.train_step = spy
    model.fit(make_dataset(str(root), "domain_adaptation", cfg.data, 2), steps_per_epoch=2, epochs=1, verbose=0)
    assert seen and all(keys == ["source", "source_label", "target"] for keys in seen)
    # Evaluation batches do carry them, and the evaluation reports target accuracy from them.
    results = model.evaluate(make_dataset(str(root), "domain_adaptation", cfg.data, 2, training=False, split="test"),
                             return_dict=True, verbose=0)
    assert 0.0 <= results["target_accuracy"] <= 1.0 and "source_only_target_accuracy" in results


def test_bad_arguments_name_what_was_received():
    with pytest.raises(ValueError, match="image_size must be a multiple of 2\\*\\*len\\(conv_filters\\)=4.*"
                                         "Received: image_size=30"):
        build_model(tiny_config("dann", ["data.crop_size=30"]))
    with pytest.raises(ValueError, match="`num_classes` must equal len\\(class_names\\).*num_classes=3"):
        build_model(tiny_config("dann", ["model.num_classes=3", "model.class_names=[a, b]"]))
    with pytest.raises(ValueError, match="Received: sgd_momentum=1.5"):
        build_model(tiny_config("dann", ["model.sgd_momentum=1.5"]))
    cfg = tiny_config("dann", ["optim.schedule=linear"])
    with pytest.raises(ValueError, match="optim.schedule: constant"):
        compile_model(build_model(cfg), cfg)


def test_configs_build():
    from i2i_keras.config import load_config

    for name in ("default", "paper_28"):
        cfg = load_config(os.path.join(REPO, "configs", "dann", f"{name}.yaml"))
        model = build_model(cfg)
        assert model.metadata()["class_names"] == [str(d) for d in range(10)]
        assert model.features.output_shape[-1] == 7 * 7 * 48  # the paper's 28 px -> 7x7x48 features


def target_test_set():
    """The embedded mnist_m_like labelled target split: float images [N, 28, 28, 3] and labels [N]."""
    root = os.path.join(embedded_path("mnist_m_like"), "test", "target")
    paths = sorted(glob.glob(os.path.join(root, "*", "*.png")))
    labels = np.array([int(os.path.basename(os.path.dirname(p))) for p in paths])
    with_images = [transforms.decode_image(tf.io.read_file(p), 3).numpy() for p in paths]
    return np.stack(with_images), labels


def train_embedded(cfg, seed):
    """Trains `cfg` on embedded:mnist_m_like; returns (target accuracy, source-only target accuracy)."""
    keras.utils.set_random_seed(seed)
    model = build_model(cfg)
    compile_model(model, cfg)
    train = make_dataset("embedded:mnist_m_like", "domain_adaptation", cfg.data, cfg.train.batch_size, seed=seed)
    model.fit(train, steps_per_epoch=cfg.train.steps, epochs=1, verbose=0)
    images, labels = target_test_set()
    return tuple(float((model.translate(images, mode=mode).numpy().argmax(-1) == labels).mean())
                 for mode in ("classify", "classify_source_only"))


@pytest.mark.learning
@pytest.mark.parametrize("seed", LEARNING_SEEDS)
def test_dann_beats_the_source_only_baseline_on_the_target(seed):
    """configs/dann/default.yaml (the paper's networks and schedules, 1500 steps of 32 + 32): the adapted
    classifier's accuracy on the 250 labelled mnist_m_like test targets beats the source-only classifier trained
    on the same batches, with the same optimizer and schedule, in the same run, by MARGIN."""
    from i2i_keras.config import load_config

    cfg = load_config(os.path.join(REPO, "configs", "dann", "default.yaml"), overrides=[f"train.seed={seed}"])
    adapted, source_only = train_embedded(cfg, seed)
    assert adapted >= source_only + MARGIN, (adapted, source_only)


MARGIN = 0.10


@pytest.mark.parametrize("method", ["dann", "pixelda"])
def test_interrupted_and_resumed_run_equals_uninterrupted_run(method, tmp_path):
    """Through the training loop on the embedded data: the schedules (lambda, annealed rates) and the SGD / Adam
    slots resume from the checkpoint, so 3 + 3 steps reach the weights of 6 straight steps."""
    from i2i_keras.training import checkpoint
    from i2i_keras.training.loop import run
    from tests.helpers import interrupt_at

    overrides = ["train.steps=6", "train.checkpoint_every=3", "train.sample_every=0", "train.eval_batches=0",
                 "data.spec=embedded:mnist_m_like"] + (["model.schedule_steps=6"] if method == "dann" else [])
    straight = run(tiny_config(method, overrides), str(tmp_path / "straight"), export=False, verbose=0).model
    straight_state = [v.numpy().copy() for v in straight.variables]
    with pytest.raises(KeyboardInterrupt):
        run(tiny_config(method, overrides), str(tmp_path / "resumed"), export=False, verbose=0,
            extra_callbacks=[interrupt_at(3)])
    assert checkpoint.latest(str(tmp_path / "resumed" / "checkpoints")).endswith("ckpt-00000003.npz")
    resumed = run(tiny_config(method, overrides), str(tmp_path / "resumed"), resume=True, export=False,
                  verbose=0).model
    assert int(resumed.train_steps.numpy()) == 6
    for a, v in zip(straight_state, resumed.variables):
        np.testing.assert_allclose(v.numpy(), a, rtol=1e-5, atol=1e-6, err_msg=v.path)
    if method == "dann":  # the annealed rate of step 6 is in place: mu_0 / (1 + 10 * 5/6) ** 0.75
        assert float(resumed.optimizer.learning_rate) == pytest.approx(0.01 / (1 + 10 * 5 / 6) ** 0.75, rel=1e-5)
