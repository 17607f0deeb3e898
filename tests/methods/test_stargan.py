"""StarGAN-specific tests: loss terms on hand-made tensors, critic steps, label checks, the attributes mode, the
paper's network sizes, and learning on real multi-domain images. (The shared contract suite in test_methods.py
also runs StarGAN through build / fit / evaluate / translate / export / save / 2 replicas / bfloat16.)"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import losses
from i2i_keras.config import load_config
from i2i_keras.methods.stargan.stargan import StarGAN, softmax_classification
from i2i_keras.networks import stargan_discriminator, stargan_generator
from tests.helpers import REPO, model_batches, synthetic_batches
from tests.methods.method_helpers import learning_setup, tiny_model


def _model(overrides=()):
    return tiny_model("stargan", overrides, compiled=True)


def _attribute_batches(batch=4, count=2, domains=3, size=32, seed=0):
    """Multi-hot attribute batches (several attributes on at once, as CelebA)."""
    rng = np.random.default_rng(seed)
    n = batch * count
    low = rng.uniform(-1, 1, (n, size // 4, size // 4, 3)).astype("float32")
    label = (rng.uniform(size=(n, domains)) < 0.5).astype("float32")
    label[:, 0] = 1.0  # at least one attribute on in every row, two or more in many
    target = np.where(rng.uniform(size=(n, domains)) < 0.5, 1.0 - label, label).astype("float32")
    data = {"image": tf.image.resize(low, (size, size)).numpy(), "label": label, "target_label": target}
    return tf.data.Dataset.from_tensor_slices(data).batch(batch, drop_remainder=True)


# ----------------------------------------------------------------------------------------------- loss terms


@pytest.mark.parametrize("norm", [0.3, 1.0, 2.5])
def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared(norm):
    """f(x) = <w, x> has gradient w everywhere, so the penalty is (||w|| - 1)^2 whatever the interpolation."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(1, 8, 8, 3)).astype("float32")
    w *= norm / np.linalg.norm(w)
    real = rng.uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    fake = rng.uniform(-1, 1, (4, 8, 8, 3)).astype("float32")
    alpha = rng.uniform(size=(4, 1, 1, 1)).astype("float32")
    critic = lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])  # noqa: E731
    gp = float(losses.gradient_penalty(critic, real, fake, alpha))
    np.testing.assert_allclose(gp, (norm - 1.0) ** 2, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_interpolates_with_the_given_alpha():
    """f(x) = sum x^2 / 2 has gradient x: the penalty reads x_hat = real + alpha (fake - real) exactly."""
    real = np.zeros((2, 4, 4, 1), "float32")
    fake = np.ones((2, 4, 4, 1), "float32")
    alpha = np.array([0.25, 0.5], "float32").reshape(2, 1, 1, 1)
    gp = float(losses.gradient_penalty(lambda x: 0.5 * tf.reduce_sum(x * x, axis=[1, 2, 3]), real, fake, alpha))
    norms = alpha.ravel() * 4.0  # ||x_hat|| = alpha * sqrt(16)
    np.testing.assert_allclose(gp, np.mean((norms - 1.0) ** 2), rtol=1e-5)


def test_domain_classification_matches_numpy_reference():
    """Binary cross-entropy with logits, summed over attributes and averaged over the batch, stable for large
    logits (the reference code's BCE(size_average=False) / batch)."""
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=3, size=(5, 4)).astype("float32")
    logits[0, 0], logits[1, 1] = 80.0, -80.0
    labels = (rng.uniform(size=(5, 4)) < 0.5).astype("float32")
    labels[0, 0], labels[1, 1] = 0.0, 1.0  # confidently wrong: loss ~80 each, not inf
    sigmoid = 1.0 / (1.0 + np.exp(-logits.astype("float64")))
    with np.errstate(divide="ignore"):
        per_entry = -(labels * np.log(sigmoid) + (1 - labels) * np.log1p(-sigmoid))
    per_entry[0, 0], per_entry[1, 1] = 80.0, 80.0  # float64 log(1 - sigmoid(80)) underflows; the limit is 80
    expected = per_entry.sum(axis=1).mean()
    np.testing.assert_allclose(float(losses.domain_classification(logits, labels)), expected, rtol=1e-5)


def test_softmax_classification_matches_numpy_reference():
    """One domain per image: softmax cross-entropy (the reference code's F.cross_entropy on RaFD)."""
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=4, size=(6, 5)).astype("float32")
    index = rng.integers(0, 5, 6)
    labels = np.eye(5, dtype="float32")[index]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = -log_probs[np.arange(6), index].mean()
    np.testing.assert_allclose(float(softmax_classification(logits, labels)), expected, rtol=1e-5)


def test_wgan_terms():
    real = np.array([[1.0], [3.0]], "float32")
    fake = np.array([[-2.0], [0.5]], "float32")
    np.testing.assert_allclose(float(losses.discriminator_adversarial(real, fake, "wgan")), -0.75 - 2.0)
    np.testing.assert_allclose(float(losses.generator_adversarial(fake, "wgan")), 0.75)


@pytest.mark.parametrize("label_mode", ["onehot", "attributes"])
def test_model_loss_terms_equal_their_definitions(label_mode):
    """Every term of the model, recomputed from the paper's definitions with the model's own networks: the
    classification terms use the real image's label (D) and the target label (G), the reconstruction maps the fake
    back with the source label, and the penalty is taken at real + alpha (fake - real)."""
    model = _model([f"model.label_mode={label_mode}"])
    data = _attribute_batches() if label_mode == "attributes" else model_batches(model)
    batch = model.prepare_batch(next(iter(data)))
    alpha = np.linspace(0.1, 0.9, batch["image"].shape[0]).astype("float32").reshape(-1, 1, 1, 1)
    model.random_uniform = lambda shape, dtype="float32": tf.constant(alpha)
    outputs = model.generate(batch, training=True)
    d_terms = model.discriminator_losses(batch, outputs)
    g_terms = model.generator_losses(batch, outputs)
    assert set(d_terms) == {"d_adv", "d_gp", "d_cls"} and set(g_terms) == {"g_adv", "g_cls", "g_rec"}

    x, label = (np.asarray(batch[k]) for k in ("image", "label"))
    # The reference's targets (target_rule "permute", the default): the batch's real labels in a random order.
    target = np.asarray(outputs["target_label"])
    assert sorted(map(tuple, target)) == sorted(map(tuple, label))
    fake = model.generator([x, target]).numpy()
    np.testing.assert_allclose(outputs["fake"], fake, atol=1e-6)
    src_real, cls_real = [t.numpy() for t in model.discriminator(x)]
    src_fake, cls_fake = [t.numpy() for t in model.discriminator(fake)]

    def cls_loss(logits, labels):
        if label_mode == "onehot":
            shifted = logits - logits.max(axis=1, keepdims=True)
            return -(labels * (shifted - np.log(np.exp(shifted).sum(1, keepdims=True)))).sum(1).mean()
        return (np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))).sum(1).mean()

    mixed = tf.constant(x + alpha * (fake - x))
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        total = tf.reduce_sum(model.discriminator(mixed)[0])
    norms = np.sqrt((tape.gradient(total, mixed).numpy() ** 2).sum(axis=(1, 2, 3)))
    reconstructed = model.generator([fake, label]).numpy()
    expected = {
        "d_adv": src_fake.mean() - src_real.mean(),
        "d_gp": ((norms - 1.0) ** 2).mean(),
        "d_cls": cls_loss(cls_real, label),
        "g_adv": -src_fake.mean(),
        "g_cls": cls_loss(cls_fake, target),
        "g_rec": np.abs(reconstructed - x).mean(),
    }
    for name, value in {**d_terms, **g_terms}.items():
        np.testing.assert_allclose(float(value), expected[name], rtol=1e-4, atol=1e-6, err_msg=name)
    # The labels really are the ones the paper names: swapping them changes the classification terms.
    assert not np.isclose(cls_loss(cls_real, target), expected["d_cls"])


def test_zero_weights_remove_terms():
    model = _model(["loss_weights.d_gp=0", "loss_weights.g_rec=0"])
    batch = model.prepare_batch(next(iter(model_batches(model))))
    outputs = model.generate(batch, training=True)
    assert set(model.discriminator_losses(batch, outputs)) == {"d_adv", "d_cls"}
    assert set(model.generator_losses(batch, outputs)) == {"g_adv", "g_cls"}


# ----------------------------------------------------------------------------------------------- critic steps


@pytest.mark.parametrize("critic_steps", [1, 3])
def test_critic_steps_updates_the_critic_n_times_per_generator_update(critic_steps):
    model = _model([f"model.critic_steps={critic_steps}"])
    assert model.discriminator_steps == critic_steps == model.batches_per_step
    ds = model_batches(model, batch=2).repeat()
    assert next(iter(ds))["image"].shape[0] == 2 * critic_steps  # n batches arrive as one
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2
    assert int(model.d_optimizer.iterations.numpy()) == 2 * critic_steps
    assert int(model.train_steps.numpy()) == 2


def test_paper_config_counts_steps_as_generator_updates():
    """paper_128: 200k iterations of the reference loop = 40k generator steps x n_critic 5; batch 16, 128 px."""
    cfg = load_config(os.path.join(REPO, "configs", "stargan", "paper_128.yaml"))
    assert cfg.train.steps * cfg.model["critic_steps"] == 200_000
    assert (cfg.train.batch_size, cfg.data.crop_size, cfg.model["num_domains"]) == (16, 128, 5)
    assert (cfg.optim.g_lr, cfg.optim.d_lr, cfg.optim.beta_1, cfg.optim.beta_2) == (1e-4, 1e-4, 0.5, 0.999)
    assert cfg.optim.schedule == "linear" and cfg.optim.decay_start == 0.5
    # data.domains names the attributes; build_model passes them to the model as domain_names.
    assert cfg.model["label_mode"] == "attributes" and len(cfg.data.domains) == cfg.model["num_domains"]
    assert cfg.loss_weights == {"d_adv": 1.0, "d_gp": 10.0, "d_cls": 1.0, "g_adv": 1.0, "g_cls": 1.0, "g_rec": 10.0}


def test_paper_networks_have_the_papers_parameter_count():
    """The paper reports 53.2M parameters for StarGAN on RaFD (table 3: 8 expressions, 128 px): G (6 residual
    blocks, width 64) and D (6 layers, 64 ... 2048 filters, a 2x2 domain kernel) built here match it."""
    g = stargan_generator(3, 3, num_domains=8, base_filters=64, num_blocks=6)
    d = stargan_discriminator(3, num_domains=8, image_size=128, base_filters=64, num_layers=6)
    total = g.count_params() + d.count_params()
    assert abs(total - 53.2e6) < 0.05e6, total
    assert d.get_layer("domain_conv").kernel.shape == (2, 2, 2048, 8)
    assert [d.get_layer(f"conv{i}").kernel.shape[-1] for i in range(6)] == [64, 128, 256, 512, 1024, 2048]


def test_discriminator_heads_and_sizes():
    d = stargan_discriminator(1, num_domains=4, image_size=32, base_filters=4, num_layers=4)
    src, cls = d(np.zeros((2, 32, 32, 1), "float32"))
    assert src.shape == (2, 2, 2, 1) and cls.shape == (2, 4)
    # Larger inputs: the size-matched kernel slides and its logits are averaged.
    src, cls = d(np.zeros((2, 64, 48, 1), "float32"))
    assert src.shape == (2, 4, 3, 1) and cls.shape == (2, 4)
    with pytest.raises(ValueError, match="image_size"):
        stargan_discriminator(3, 4, image_size=8, num_layers=4)
    # The paper's LeakyReLU slope 0.01 after every convolution.
    probe = keras.Model(d.input, [d.get_layer("conv0").output, d.get_layer("lrelu0").output])
    pre, post = [t.numpy() for t in probe(np.random.default_rng(0).normal(size=(1, 32, 32, 1)).astype("float32"))]
    assert (pre < 0).any() and (pre > 0).any()
    np.testing.assert_allclose(post, np.where(pre > 0, pre, 0.01 * pre), rtol=1e-6, atol=1e-7)


def test_generator_reads_the_label():
    g = stargan_generator(3, 3, num_domains=3, base_filters=4, num_blocks=1)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    a = g([x, np.eye(3, dtype="float32")[[0]]]).numpy()
    b = g([x, np.eye(3, dtype="float32")[[2]]]).numpy()
    assert a.shape == (1, 16, 16, 3) and np.abs(a - b).max() > 1e-4
    assert g.get_layer("down0_conv").kernel_size == (4, 4) and g.get_layer("down0_conv").strides == (2, 2)
    assert g.get_layer("up0_conv").kernel_size == (4, 4) and g.get_layer("in_conv").kernel.shape == (7, 7, 6, 4)


# ----------------------------------------------------------------------------------------------- labels


def test_constructor_checks():
    with pytest.raises(ValueError, match="label_mode='softmax'"):
        StarGAN(image_size=32, num_domains=3, label_mode="softmax")
    with pytest.raises(ValueError, match="num_domains=None"):
        StarGAN(image_size=32)
    with pytest.raises(ValueError, match="domain_names"):
        StarGAN(image_size=32, num_domains=3, domain_names=["a", "b"])
    with pytest.raises(ValueError, match="critic_steps=0"):
        StarGAN(image_size=32, num_domains=3, critic_steps=0)
    model = StarGAN(image_size=32, base_filters=4, num_blocks=1, domain_names=["a", "b", "c"])
    assert model.num_domains == 3
    assert model.metadata()["domain_names"] == ["a", "b", "c"] and model.metadata()["num_domains"] == 3
    assert StarGAN.from_config(model.get_config()).domain_names == ["a", "b", "c"]


def test_target_domain_out_of_range_fails_in_python_and_in_the_graph():
    model = _model(["model.critic_steps=1"])
    images = np.zeros((2, 32, 32, 3), "float32")
    with pytest.raises(ValueError, match=r"target_domain=\[0, 3\]"):
        model.translate(images, target_domain=np.array([0, 3], "int32"))
    with pytest.raises(ValueError, match=r"target_domain=\[-1, 1\]"):
        model.translate(images, target_domain=[-1, 1])
    with pytest.raises(ValueError, match="integer"):
        model.translate(images, target_domain=np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="one index per image"):
        model.translate(images, target_domain=[0, 1, 2])
    # A scalar index means every image; the result is the one-hot label's translation.
    np.testing.assert_allclose(model.translate(images, target_domain=2),
                               model.generator([images, np.eye(3, dtype="float32")[[2, 2]]]), atol=1e-6)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def served(domain):  # values unknown while tracing: the graph's own assertion has to catch them
        return model.translate(tf.zeros([2, 32, 32, 3]), target_domain=domain)

    assert served(tf.constant([1, 2])).shape == (2, 32, 32, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="target_domain must be in"):
        served(tf.constant([1, 7]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="one index per image"):
        served(tf.constant([1]))


def test_num_domains_must_match_the_data_labels():
    model = _model(["model.num_domains=4"])
    with pytest.raises(ValueError, match=r"num_domains=4.*label.shape=\(4, 3\)"):
        model.fit(synthetic_batches("multi_domain", batch=2 * model.batches_per_step, domains=3), epochs=1,
                  verbose=0)


def test_onehot_model_refuses_multi_hot_labels():
    model = _model()
    with pytest.raises(tf.errors.InvalidArgumentError, match="label_mode=attributes"):
        model.fit(_attribute_batches(batch=4), epochs=1, verbose=0)


def test_attributes_mode_translates_multi_hot_targets_and_exports(tmp_path):
    from i2i_keras.export import export_for_serving, load_exported

    model = _model(["model.label_mode=attributes", "model.domain_names=[black_hair,male,young]"])
    assert list(model.translation_modes()) == ["translate", "attributes"]
    history = model.fit(_attribute_batches(batch=2 * model.batches_per_step).repeat(), steps_per_epoch=2,
                        epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    images = np.random.default_rng(3).uniform(-1, 1, (2, 20, 28, 3)).astype("float32")
    labels = np.array([[1, 1, 0], [0, 1, 1]], "float32")
    out = np.asarray(model.translate(images, mode="attributes", target_labels=labels))
    assert out.shape == (2, 20, 28, 3)
    # 20 x 28 is a multiple of 4 already, so translate runs the generator on the images as they are.
    np.testing.assert_allclose(out, model.generator([images, labels]).numpy(), atol=1e-5)
    np.testing.assert_allclose(model.translate(images, mode="attributes", target_labels=np.eye(3)[[1, 2]]),
                               model.translate(images, target_domain=[1, 2]), atol=1e-6)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        model.translate(images, mode="attributes", target_labels=[[2, 0, 0], [0, 1, 0]])
    with pytest.raises(ValueError, match=r"target_labels.shape=\[2, 2\]"):
        model.translate(images, mode="attributes", target_labels=[[1, 0], [0, 1]])
    grid = model.sample_grid(next(iter(_attribute_batches(batch=2))))
    assert len(grid) == 4 and all(np.asarray(c).shape == (2, 32, 32, 3) for c in grid)

    loaded, metadata = load_exported(export_for_serving(model, str(tmp_path / "export"), tiled=False))
    assert metadata["domain_names"] == ["black_hair", "male", "young"] and metadata["label_mode"] == "attributes"
    served = loaded.signatures["attributes"](images=tf.constant(images), target_labels=tf.constant(labels))
    np.testing.assert_allclose(served["images"].numpy(), out, atol=2e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="target_labels must be in"):
        loaded.signatures["attributes"](images=tf.constant(images), target_labels=tf.constant(labels * 3))
    with pytest.raises(tf.errors.InvalidArgumentError, match="target_domain must be in"):
        loaded.signatures["translate"](images=tf.constant(images), target_domain=tf.constant([0, 3]))
    png = tf.io.encode_png(tf.zeros([8, 8, 3], tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="target_domain must be in"):
        loaded.signatures["translate_bytes"](images=tf.stack([png]), target_domain=tf.constant([5]))


def test_sample_grid_shows_every_domain_and_predict_uses_target_labels():
    model = _model(["model.critic_steps=1"])
    batch = next(iter(model_batches(model)))
    grid = model.sample_grid(batch)
    assert len(grid) == 1 + model.num_domains
    np.testing.assert_allclose(grid[2], model.translate(batch["image"], target_domain=[1, 1]), atol=1e-6)
    predicted = model.predict(model_batches(model), verbose=0)
    first = next(iter(model_batches(model)))
    np.testing.assert_allclose(predicted[:2], model.generator([first["image"], first["target_label"]]), atol=1e-5)


# ----------------------------------------------------------------------------------------------- learning


@pytest.mark.learning
def test_stargan_learns_to_translate_between_fashion_mnist_domains():
    """120 steps on embedded Fashion-MNIST t-shirts / trousers / sneakers (one channel, 32 px): the
    discriminator's domain head assigns held-out images translated to another domain to that target domain well
    above chance (1/3), the source -> target -> source reconstruction error falls well below its start, and the
    translations are not copies of their inputs."""
    model, train, test = learning_setup("stargan", [
        "data.channels=1", "data.domains=[t_shirt,trouser,sneaker]", "model.domain_names=[t_shirt,trouser,sneaker]",
        "model.base_filters=16", "model.num_blocks=2", "train.batch_size=8", "optim.g_lr=2e-4", "optim.d_lr=2e-4",
        "optim.schedule=constant"], test_batch=24)

    def measure():
        hits, errors, changes = [], [], []
        for b in test:
            source = np.argmax(b["label"], axis=-1).astype("int32")
            target = ((source + 1 + np.arange(len(source)) % 2) % 3).astype("int32")  # always another domain
            fake = model.translate(b["image"], target_domain=target)
            hits.append(np.argmax(model.classify(fake), axis=-1) == target)
            back = model.translate(fake, target_domain=source)
            errors.append(np.abs(np.asarray(back) - b["image"]).mean())
            changes.append(np.abs(np.asarray(fake) - b["image"]).mean())
        return float(np.mean(np.concatenate(hits))), float(np.mean(errors)), float(np.mean(changes))

    accuracy_before, error_before, _ = measure()
    model.fit(train, steps_per_epoch=120, epochs=1, verbose=0)
    accuracy_after, error_after, change = measure()
    assert accuracy_after > 1 / 3 + 0.3, (accuracy_before, accuracy_after)
    assert error_after < 0.5 * error_before, (error_before, error_after)
    assert change > 0.05, change


def test_target_rules_permute_the_real_labels_or_take_the_datas():
    """"permute" (yunjey/stargan solver.py: label_org[randperm]) asks only for label vectors present in the batch,
    in a new order each step; "data" takes the data layer's `target_label`; evaluation always takes the data's."""
    batch = {"image": tf.zeros((6, 32, 32, 3)),
             "label": tf.constant(np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2]]),
             "target_label": tf.constant(np.eye(3, dtype="float32")[[1, 1, 1, 1, 1, 1]])}
    permute = _model(["model.target_rule=permute"])
    orders = []
    for _ in range(4):
        target = np.asarray(permute.generate(permute.prepare_batch(batch), training=True)["target_label"])
        assert sorted(map(tuple, target)) == sorted(map(tuple, batch["label"].numpy()))
        orders.append(target.argmax(1).tolist())
    assert len(set(map(tuple, orders))) > 1  # a fresh permutation per step
    evaluated = permute.generate(permute.prepare_batch(batch), training=False)["target_label"]
    np.testing.assert_array_equal(evaluated, batch["target_label"])
    data = _model(["model.target_rule=data"])
    np.testing.assert_array_equal(data.generate(data.prepare_batch(batch), training=True)["target_label"],
                                  batch["target_label"])
    with pytest.raises(ValueError, match="target_rule='flip'"):
        _model(["model.target_rule=flip"])
