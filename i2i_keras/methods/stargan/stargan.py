import math

import numpy as np
import tensorflow as tf
from keras import ops

from i2i_keras import losses
from i2i_keras.errors import ConfigError
from i2i_keras.methods.base import TARGET_DOMAIN, TARGET_LABELS, TranslationMode, TranslationModel
from i2i_keras.networks import stargan_discriminator, stargan_generator
from i2i_keras.registry import register_method

# Extra input of the `attributes` mode: float32 [batch, num_domains] multi-hot target attributes in [0, 1].
LABEL_MODES = ("onehot", "attributes")
TARGET_RULES = ("permute", "data")
# Sample grids show the input and its translation to at most this many domains (or attribute flips).
_GRID_COLUMNS = 8


@register_method("stargan")
class StarGAN(TranslationModel):
    """StarGAN: one generator for translation between many domains (Choi et al., CVPR 2018,
    https://arxiv.org/abs/1711.09020).

    The generator G(x, c) takes an image and a target-domain label c, tiled over the image and concatenated as
    channels (sec. 3.1, appendix table 4). One discriminator D has two heads on shared features: D_src(x), a
    PatchGAN real/fake critic, and D_cls(x), domain logits (sec. 3.1, fig. 3, appendix table 5). Objectives
    (sec. 3.1, eq. 7 and the WGAN-GP form of sec. 3.3 / eq. 8), each a named term here:

    - `d_adv`  = mean D_src(G(x, c')) - mean D_src(x)                       (Wasserstein critic loss, weight 1)
    - `d_gp`   = mean (||grad D_src(x_hat)||_2 - 1)^2, x_hat between x and G(x, c')            (lambda_gp = 10)
    - `d_cls`  = classification loss of D_cls(x) against the real image's own label c         (lambda_cls = 1)
    - `g_adv`  = -mean D_src(G(x, c'))                                                        (weight 1)
    - `g_cls`  = classification loss of D_cls(G(x, c')) against the target label c'            (lambda_cls = 1)
    - `g_rec`  = mean |G(G(x, c'), c) - x|, the reconstruction (cycle) loss                    (lambda_rec = 10)

    The classification loss follows the reference code: binary cross-entropy summed over attributes for
    multi-hot attribute labels (CelebA), softmax cross-entropy for one domain per image (RaFD). The critic is
    updated `critic_steps` times per generator update (n_critic = 5, sec. 4.4), each time on its own batch; the
    generator update uses the last of them (so one train step consumes `critic_steps` batches, see
    `TranslationModel.batches_per_step`). Paper optimisation: Adam lr 1e-4, betas (0.5, 0.999), batch 16,
    linear decay to 0 over the second half of training (sec. 4.4; configs/stargan/paper_128.yaml).

    Args:
        num_domains: length of the label vector (domains or attributes); None takes len(domain_names). It must
            equal the data's label size (checked on the first batch; `data.domains` sets the order).
        domain_names: optional names of the label entries, in label order (carried into the exported metadata).
        label_mode: "onehot" (one domain per image, e.g. a folder per domain) or "attributes" (multi-hot
            attributes, several on at once, e.g. CelebA); attributes models also get the `attributes` mode.
        base_filters: generator and discriminator width (paper: 64).
        num_blocks: residual blocks of the generator (paper: 6).
        disc_layers: stride-2 convolutions of the discriminator; None ends on a 2x2 map as the paper (6 at 128 px).
        critic_steps: discriminator updates per generator update (paper n_critic: 5).
        target_rule: where a training step's target labels come from. "permute" (the reference, yunjey/stargan
            `solver.py`: `label_trg = label_org[torch.randperm(batch)]`): the real labels of the (critic) batch in a
            random order, so only attribute combinations that occur in the data are asked for. "data": the batch's
            `target_label`, drawn by the data layer (a uniformly random domain for one-hot labels, each attribute
            flipped with probability 1/2 for attribute labels, which can ask for two hair colours at once).
            Evaluation always uses the batch's `target_label`.
        norm: generator normalization, "instance_affine" (paper and reference: `nn.InstanceNorm2d(affine=True)`),
            "instance" (no scale and offset), "batch", "layer" or "none".
        (and the base-class arguments: image_size, in_channels, out_channels, loss_weights, seed)

    Batch format (data kind "multi_domain"): `{"image": [B,H,W,C] in [-1, 1], "label": [B,D] float, the image's
    own one-/multi-hot label, "target_label": [B,D] float, the sampled target}`; under `critic_steps=n` a training
    batch holds n x B rows.

    Translation modes:
        `translate`: extra input `target_domain` int32 [batch], the index of the domain to translate each image
            to (its one-hot label). Out-of-range indices raise ValueError in Python and InvalidArgumentError in
            the exported graph.
        `attributes` (label_mode "attributes" only): extra input `target_labels` float32 [batch, num_domains],
            the multi-hot target attributes in [0, 1].

    Example:
        model = StarGAN(image_size=32, in_channels=1, out_channels=1, base_filters=16, num_blocks=2,
                        critic_steps=5, domain_names=["t_shirt", "trouser", "sneaker"])
        model.compile(keras.optimizers.Adam(1e-4, 0.5, 0.999), keras.optimizers.Adam(1e-4, 0.5, 0.999))
        # multi-domain dict batches of 8 x model.batches_per_step (= 5) rows: 5 critic batches per step
        model.fit(dataset, steps_per_epoch=100)
        trousers = model.translate(images, target_domain=[1] * len(images))  # or target_domain=1 for all

    Reference: Y. Choi, M. Choi, M. Kim, J.-W. Ha, S. Kim, J. Choo, "StarGAN: Unified Generative Adversarial
    Networks for Multi-Domain Image-to-Image Translation", CVPR 2018; code: github.com/yunjey/stargan.
    """

    data_kind = "multi_domain"
    input_key = "image"
    # As the reference loop: D is updated on each batch, then (every n_critic-th batch) G on the same batch,
    # its adversarial and classification terms read the just-updated D.
    update_discriminator_first = True
    default_loss_weights = {"d_adv": 1.0, "d_gp": 10.0, "d_cls": 1.0, "g_adv": 1.0, "g_cls": 1.0, "g_rec": 10.0}

    def __init__(self, num_domains=None, domain_names=None, label_mode="onehot", base_filters=64, num_blocks=6,
                 disc_layers=None, critic_steps=5, norm="instance_affine", target_rule="permute", **kwargs):
        super().__init__(**kwargs)
        if domain_names is not None:
            if (isinstance(domain_names, str) or not isinstance(domain_names, (list, tuple))
                    or not all(isinstance(n, str) and n for n in domain_names)
                    or len(set(domain_names)) != len(domain_names)):
                raise ConfigError(f"`domain_names` must be a list of distinct non-empty strings or None. "
                                  f"Received: domain_names={domain_names!r}")
            domain_names = list(domain_names)
            if num_domains is None:
                num_domains = len(domain_names)
        if isinstance(num_domains, bool) or not isinstance(num_domains, (int, np.integer)) or num_domains < 2:
            raise ConfigError(f"`num_domains` must be an integer >= 2 (or None with `domain_names` given). "
                              f"Received: num_domains={num_domains!r}")
        if domain_names is not None and len(domain_names) != num_domains:
            raise ConfigError(f"`domain_names` must name every one of the {num_domains} domains. "
                              f"Received: num_domains={num_domains}, domain_names={domain_names!r}")
        if target_rule not in TARGET_RULES:
            raise ConfigError(f"`target_rule` must be one of {list(TARGET_RULES)}. "
                              f"Received: target_rule={target_rule!r}")
        if label_mode not in LABEL_MODES:
            raise ConfigError(f"`label_mode` must be one of {list(LABEL_MODES)}. Received: label_mode={label_mode!r}")
        if isinstance(critic_steps, bool) or not isinstance(critic_steps, (int, np.integer)) or critic_steps < 1:
            raise ConfigError(f"`critic_steps` must be a positive integer. Received: critic_steps={critic_steps!r}")
        if self.image_size % 4:
            raise ConfigError(f"`image_size` must be a multiple of 4 (two stride-2 generator stages). "
                              f"Received: image_size={self.image_size}")
        layers = disc_layers if disc_layers is not None else max(1, int(math.log2(self.image_size)) - 1)
        if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or not 1 <= layers:
            raise ConfigError(f"`disc_layers` must be a positive integer or None. "
                              f"Received: disc_layers={disc_layers!r}")
        if 2 ** layers > self.image_size:
            raise ConfigError(f"`disc_layers` halves the image {layers} times, more than image_size allows. "
                              f"Received: disc_layers={disc_layers!r}, image_size={self.image_size}")
        self.num_domains = int(num_domains)
        self.domain_names = domain_names
        self.label_mode = label_mode
        self.base_filters = base_filters
        self.num_blocks = num_blocks
        self.disc_layers = disc_layers
        self.critic_steps = int(critic_steps)
        self.norm = norm
        self.target_rule = target_rule
        # The base class's train step reads this: n critic updates, each on its own batch, per generator update.
        self.discriminator_steps = self.critic_steps
        self.generator = stargan_generator(self.in_channels, self.out_channels, self.num_domains, base_filters,
                                           num_blocks, 2, norm, name="generator")
        self.discriminator = stargan_discriminator(self.out_channels, self.num_domains, self.image_size,
                                                   base_filters, int(layers), name="discriminator")
        self.built = True

    @property
    def size_multiple(self):
        return 4

    def generator_variables(self):
        return self.generator.trainable_variables

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    # ------------------------------------------------------------------ batches
    def prepare_batch(self, data):
        """Checks the multi-domain batch against the model: keys, label size (= num_domains) and, for
        label_mode "onehot", that every label is one-hot."""
        batch = dict(super().prepare_batch(data))
        missing = [k for k in ("image", "label", "target_label") if k not in batch]
        if missing:
            raise ValueError(f"StarGAN batches are dicts with 'image', 'label' and 'target_label' (data kind "
                             f"multi_domain). Received: keys={sorted(batch)}")
        for key in ("label", "target_label"):
            value = ops.cast(batch[key], "float32")
            depth = value.shape[-1] if len(value.shape) else None
            if len(value.shape) != 2 or depth not in (None, self.num_domains):
                raise ValueError(f"The data's `{key}` vectors must have num_domains={self.num_domains} entries (one "
                                 f"per domain or attribute, in the order of data.domains); set model.num_domains "
                                 f"to the data's label size. Received: {key}.shape={tuple(value.shape)}")
            if self.label_mode == "onehot":
                value = _assert_one_hot(value, key)
            batch[key] = value
        return batch

    # ------------------------------------------------------------------ losses
    def _classification(self, logits, labels):
        if self.label_mode == "attributes":
            return losses.domain_classification(logits, labels)
        return softmax_classification(logits, labels)

    def generate(self, batch, training):
        target = batch["target_label"]
        if training and self.target_rule == "permute":
            target = self.permuted_labels(batch["label"])
        return {"fake": self.generator([batch["image"], target], training=training),
                "target_label": ops.cast(target, "float32")}

    def train_step(self, data):
        # `generate` numbers its permutations within a step (one per critic chunk), see `permuted_labels`.
        self._permutations = 0
        return super().train_step(data)

    def permuted_labels(self, labels):
        """The rows of `labels` in a random order (argsort of uniform noise), the reference's
        `label_org[torch.randperm(batch)]`. Under MirroredStrategy the permutation is of the global batch (every
        replica gathers all labels, draws the same global noise and keeps its own rows), so N replicas train on
        exactly the targets one device would. The noise is stateless, seeded by (seed, step, chunk): replicas
        reading a shared random state while another advances it could otherwise draw different permutations."""
        labels = ops.cast(labels, "float32")
        index = getattr(self, "_permutations", 0)
        self._permutations = index + 1
        step = ops.cast(self.train_steps.value, "int32") * int(self.critic_steps) + index
        seed = ops.stack([ops.convert_to_tensor(int(self.seed or 0), "int32"), step])
        context = tf.distribute.get_replica_context()
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        rows = ops.shape(labels)[0]
        if context is None or replicas == 1:
            return ops.take(labels, ops.argsort(tf.random.stateless_uniform([rows], seed)), axis=0)
        everyone = context.all_gather(labels, axis=0)
        order = ops.argsort(tf.random.stateless_uniform([rows * replicas], seed))
        start = tf.cast(context.replica_id_in_sync_group, tf.int32) * rows
        return ops.take(everyone, order, axis=0)[start:start + rows]

    def discriminator_losses(self, batch, outputs, training=True):
        real, fake = batch["image"], outputs["fake"]
        real_src, real_cls = self.discriminator(real, training=training)
        terms = {}
        if self.uses("d_adv"):
            fake_src, _ = self.discriminator(fake, training=training)
            terms["d_adv"] = losses.discriminator_adversarial(real_src, fake_src, "wgan")
        if self.uses("d_gp"):
            alpha = self.random_uniform([ops.shape(real)[0], 1, 1, 1])
            terms["d_gp"] = losses.gradient_penalty(lambda x: self.discriminator(x, training=training)[0],
                                                    real, fake, alpha)
        if self.uses("d_cls"):
            terms["d_cls"] = self._classification(real_cls, batch["label"])
        return terms

    def generator_losses(self, batch, outputs, training=True):
        fake = outputs["fake"]
        terms = {}
        if self.uses("g_adv") or self.uses("g_cls"):
            fake_src, fake_cls = self.discriminator(fake, training=training)
            if self.uses("g_adv"):
                terms["g_adv"] = losses.generator_adversarial(fake_src, "wgan")
            if self.uses("g_cls"):
                terms["g_cls"] = self._classification(fake_cls, outputs["target_label"])
        if self.uses("g_rec"):
            # Computed here, not in `generate`: the critic-only chunks of a step never need it.
            reconstructed = self.generator([fake, batch["label"]], training=training)
            terms["g_rec"] = losses.l1(reconstructed, batch["image"])
        return terms

    def classify(self, images):
        """The discriminator's domain logits [B, num_domains] for images at the training size (D_cls, sec. 3.1)."""
        return self.discriminator(images, training=False)[1]

    # ------------------------------------------------------------------ inference
    def translation_modes(self):
        names = f" ({', '.join(self.domain_names)})" if self.domain_names else ""
        modes = {"translate": TranslationMode(
            self._translate_to_domain, {TARGET_DOMAIN: tf.TensorSpec([None], tf.int32)},
            description=f"to domain `target_domain` (int32 [batch], 0..{self.num_domains - 1}{names})")}
        if self.label_mode == "attributes":
            modes["attributes"] = TranslationMode(
                self._translate_to_labels, {TARGET_LABELS: tf.TensorSpec([None, self.num_domains], tf.float32)},
                description=f"to the attributes `target_labels` (float32 [batch, {self.num_domains}] in [0, 1])")
        return modes

    def _translate_to_domain(self, images, target_domain):
        domain = self._checked_domain(target_domain, ops.shape(images)[0])
        return self.generator([images, ops.one_hot(domain, self.num_domains)], training=False)

    def _translate_to_labels(self, images, target_labels):
        labels = self._checked_labels(target_labels, ops.shape(images)[0])
        return self.generator([images, ops.cast(labels, images.dtype)], training=False)

    def _names_hint(self):
        return f"; domains: {self.domain_names}" if self.domain_names else ""

    def _checked_domain(self, target_domain, batch):
        """int32 [batch] domain indices: ValueError for values known now, graph assertions for served ones."""
        value = _known_value(target_domain)
        if value is not None:
            if value.dtype == bool or not np.issubdtype(value.dtype, np.integer) or value.ndim > 1:
                raise ValueError(f"`target_domain` must be integer domain indices, a scalar or one per image. "
                                 f"Received: target_domain={value.tolist()!r} (dtype {value.dtype}, shape "
                                 f"{list(value.shape)})")
            bad = value[(value < 0) | (value >= self.num_domains)]
            if bad.size:
                raise ValueError(f"`target_domain` must be in [0, {self.num_domains}){self._names_hint()}. "
                                 f"Received: target_domain={value.tolist()!r}")
            if value.ndim == 1 and isinstance(batch, int) and value.shape[0] != batch:
                raise ValueError(f"`target_domain` needs one index per image ({batch}). "
                                 f"Received: target_domain={value.tolist()!r}")
        domain = tf.convert_to_tensor(target_domain)
        if not domain.dtype.is_integer:
            raise ValueError(f"`target_domain` must be an integer tensor. Received: target_domain.dtype="
                             f"{domain.dtype.name}")
        domain = tf.cast(domain, tf.int32)
        if domain.shape.rank == 0:
            domain = tf.fill(tf.reshape(batch, [1]), domain)
        checks = [
            tf.debugging.assert_non_negative(domain, message=f"target_domain must be in [0, {self.num_domains})"),
            tf.debugging.assert_less(domain, tf.constant(self.num_domains, tf.int32),
                                     message=f"target_domain must be in [0, {self.num_domains})"),
            tf.debugging.assert_equal(tf.shape(domain)[0], tf.cast(batch, tf.int32),
                                      message="target_domain needs one index per image"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(domain)

    def _checked_labels(self, target_labels, batch):
        """float32 [batch, num_domains] target attributes in [0, 1], checked like `_checked_domain`."""
        value = _known_value(target_labels)
        if value is not None:
            if value.ndim != 2 or value.shape[1] != self.num_domains:
                raise ValueError(f"`{TARGET_LABELS}` must be [batch, num_domains={self.num_domains}] attribute "
                                 f"vectors{self._names_hint()}. Received: {TARGET_LABELS}.shape={list(value.shape)}")
            if isinstance(batch, int) and value.shape[0] != batch:
                raise ValueError(f"`{TARGET_LABELS}` needs one row per image ({batch}). "
                                 f"Received: {TARGET_LABELS}.shape={list(value.shape)}")
            if value.dtype == bool or not np.issubdtype(value.dtype, np.number) \
                    or not np.all((value >= 0) & (value <= 1)):
                raise ValueError(f"`{TARGET_LABELS}` must hold numbers in [0, 1] (multi-hot attributes). "
                                 f"Received: {TARGET_LABELS}={value.tolist()!r}")
        labels = tf.cast(tf.convert_to_tensor(target_labels), tf.float32)
        if labels.shape.rank != 2 or labels.shape[-1] not in (None, self.num_domains):
            raise ValueError(f"`{TARGET_LABELS}` must be [batch, {self.num_domains}]. "
                             f"Received: {TARGET_LABELS}.shape={labels.shape}")
        checks = [
            tf.debugging.assert_greater_equal(labels, 0.0, message=f"{TARGET_LABELS} must be in [0, 1]"),
            tf.debugging.assert_less_equal(labels, 1.0, message=f"{TARGET_LABELS} must be in [0, 1]"),
            tf.debugging.assert_equal(tf.shape(labels), tf.stack([tf.cast(batch, tf.int32), self.num_domains]),
                                      message=f"{TARGET_LABELS} must be [batch, {self.num_domains}]"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(labels)

    def predict_step(self, data):
        """`predict` on multi-domain dict batches translates each image to its `target_label`."""
        if isinstance(data, (tuple, list)) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict) or "target_label" not in data:
            raise ValueError("StarGAN.predict takes multi-domain dict batches with 'image' and 'target_label'; for "
                             "plain images call translate(images, target_domain=...). "
                             f"Received: {type(data).__name__}")
        labels = ops.cast(data["target_label"], "float32")
        return self.generator([data["image"], labels], training=False)

    def sample_grid(self, batch):
        """[input, translation to domain 0, 1, ...] (one-hot models), or [input, input with attribute k flipped
        for each k] (attribute models, as the reference code's samples); at most 8 translations."""
        images = batch["image"]
        count = int(ops.shape(images)[0])
        columns = [images]
        for k in range(min(self.num_domains, _GRID_COLUMNS)):
            if self.label_mode == "attributes":
                labels = np.array(batch["label"], dtype="float32", copy=True)
                labels[:, k] = 1.0 - labels[:, k]
                columns.append(self.translate(images, mode="attributes", **{TARGET_LABELS: labels}))
            else:
                columns.append(self.translate(images, **{TARGET_DOMAIN: np.full([count], k, "int32")}))
        return columns

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        return {**super().get_config(), "num_domains": self.num_domains, "domain_names": self.domain_names,
                "label_mode": self.label_mode, "base_filters": self.base_filters, "num_blocks": self.num_blocks,
                "disc_layers": self.disc_layers, "critic_steps": self.critic_steps, "norm": self.norm,
                "target_rule": self.target_rule}

    def metadata(self):
        return {**super().metadata(), "num_domains": self.num_domains, "domain_names": self.domain_names,
                "label_mode": self.label_mode}


def softmax_classification(logits, labels):
    """Softmax cross-entropy -sum_d c_d log softmax(D_cls(x))_d, averaged over the batch: StarGAN's domain
    classification loss for one domain per image (the reference code's F.cross_entropy on RaFD)."""
    logits, labels = ops.cast(logits, "float32"), ops.cast(labels, "float32")
    return ops.mean(-ops.sum(labels * ops.log_softmax(logits, axis=-1), axis=-1))


def _assert_one_hot(labels, key):
    check = tf.debugging.assert_equal(
        ops.sum(ops.cast(labels > 0.5, "float32"), axis=-1), ops.ones_like(labels[:, 0]),
        message=f"label_mode='onehot' needs one-hot `{key}` vectors (exactly one entry on); multi-hot attribute "
                f"data needs model.label_mode=attributes")
    with tf.control_dependencies([check]):
        return tf.identity(labels)


def _known_value(x):
    """The value of `x` as a numpy array when it is known now (Python value, numpy, eager or constant tensor)."""
    if isinstance(x, (tf.Tensor, tf.Variable)):
        value = tf.get_static_value(x)
        return None if value is None else np.asarray(value)
    return np.asarray(x)
