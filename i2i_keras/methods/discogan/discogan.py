import tensorflow as tf
from keras import ops

from i2i_keras import losses
from i2i_keras.methods.base import (TranslationModel, check_inference_norm, check_positive_ints, check_size_multiple,
                                    cycle_translations, detached, generator_pair_modes, half_squared_norm,
                                    round_trip_grid)
from i2i_keras.networks import dcgan_discriminator, encoder_decoder_generator
from i2i_keras.registry import register_method


@register_method("discogan")
class DiscoGAN(TranslationModel):
    """DiscoGAN: unpaired cross-domain translation with two coupled GANs and reconstruction losses (Kim et al.,
    ICML 2017, "Learning to Discover Cross-Domain Relations with Generative Adversarial Networks",
    https://arxiv.org/abs/1703.05192).

    Generators G_AB and G_BA are encoder-decoders without skips or residual blocks (4x4 stride-2 convolutions with
    LeakyReLU 0.2 and batch norm, none on the first; 4x4 stride-2 transposed convolutions with batch norm and ReLU;
    tanh out; 4 down / 4 up at the paper's 64 px). Discriminators D_A, D_B are the generator's encoder followed by
    one more 4x4 convolution to a logit (sec. 2.2 "Notation and Architecture" of the paper; `discogan/model.py` of the
    authors' code, github.com/SKTBrain/DiscoGAN).

    Losses (paper sec. 2.3-2.4): L_G = L_GAN_B + L_CONST_A + L_GAN_A + L_CONST_B with equal weights, where
    L_GAN is the standard GAN loss -E[log D(G(x))] (BCE on D's sigmoid, as `nn.BCELoss` in the authors' code) and
    L_CONST = d(G_BA(G_AB(x_A)), x_A) is a reconstruction distance; the paper allows L2, L1 or robust (Huber)
    distances and the authors' code uses MSE (`nn.MSELoss`) on [0, 1] images, so `g_rec` is the MSE of [0, 1]
    pixels (a quarter of the MSE on this library's [-1, 1] images), which keeps the paper's 1:1 weighting of the two
    terms (and makes the code's weights carry over unchanged).

    The authors' code (`discogan/image_translation.py`) trains differently from the paper's description; every
    piece is an option here (configs/discogan/authors_code_64.yaml sets them all, paper_64.yaml none):
    (1) a feature-matching term on D's intermediate activations (`g_fm`: squared difference of the batch means of
    real and fake features, summed over D's normalized layers), weighted 0.9 against 0.1 for the GAN term;
    (2) a curriculum on the reconstruction weight (`recon_rate`, `recon_rate_start`, `curriculum_steps`: the
    generator objective is (GAN and feature-matching terms) x (1 - rate) + reconstruction x rate, rate 0.01 for the
    first 10k iterations and 0.5 after); (3) D updated on every third iteration and G on the other two
    (`update_interval=3`; each iteration is one batch, one train step here); (4) Adam's coupled weight decay of
    1e-5 (`g_weight_decay`, `d_weight_decay`: 0.5 * sum(w^2), whose gradient adds wd * w as torch.optim.Adam's
    `weight_decay`). With update_interval=1 (paper) G and D are both updated on every batch, G first. Note that
    batch norm (and the batch means of `g_fm`) use per-replica statistics under MirroredStrategy.

    Inference: the reference never switches its networks to eval mode, so batch norm normalises with the test
    batch's own statistics; `inference_norm="batch"` (the paper config) does the same, "moving" uses the averages
    collected in training.

    Args:
        base_filters: width F of the first layer of every network (paper: 64).
        num_downs: stride-2 convolutions in each generator's encoder (paper: 4 at 64 px; bottleneck image_size / 16).
        disc_layers: stride-2 convolutions in each discriminator before the final 4x4 logit convolution (paper: 4
            at 64 px); image_size must be a multiple of 2**disc_layers and at least 4 * 2**disc_layers.
        norm: "batch" (paper), "instance" or "none".
        use_bias: biases in every convolution (the authors' code has none: False).
        inference_norm: batch-norm statistics outside training, "batch" (reference) or "moving" (see above).
        update_interval: 1 (paper: D and G on every batch) or n > 1 (authors' code, 3: D on the steps whose index is
            a multiple of n, G on the others).
        recon_rate: None (paper: the loss weights alone), or the weight between the adversarial side and the
            reconstruction (authors' code: 0.5) after `curriculum_steps` steps, `recon_rate_start` before (0.01 for
            10000 steps).
        (and the base-class arguments: image_size, in_channels, out_channels, loss_weights, seed)

    Loss terms: `g_adv` (both directions), `g_rec` (A->B->A and B->A->B), `g_fm` (default 0), `g_weight_decay`
    (default 0), `d_adv`, `d_weight_decay` (default 0).

    Batch format (data kind "unpaired"): `{"domain_a": [B,H,W,Cin], "domain_b": [B,H,W,Cout]}` in [-1, 1].

    Example:
        model = DiscoGAN(image_size=64)
        model.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
        model.fit(unpaired_dataset, steps_per_epoch=100)
        shoes = model.translate(handbags, mode="a2b")

    Reference: Kim, Cha, Kim, Lee, Kim. Learning to Discover Cross-Domain Relations with Generative Adversarial
    Networks. ICML 2017, sec. 2.2 (architecture), 2.3 (GAN with a reconstruction loss), 2.4 (DiscoGAN's loss).
    """

    data_kind = "unpaired"
    # G first, then D on the same fakes (both every batch; see the class docstring for the authors' 1:2 schedule).
    update_discriminator_first = False
    default_loss_weights = {"g_adv": 1.0, "g_rec": 1.0, "g_fm": 0.0, "g_weight_decay": 0.0, "d_adv": 1.0,
                            "d_weight_decay": 0.0}
    input_key = "domain_a"

    def __init__(self, base_filters=64, num_downs=4, disc_layers=4, norm="batch", use_bias=False,
                 inference_norm="moving", update_interval=1, recon_rate=None, recon_rate_start=None,
                 curriculum_steps=0, **kwargs):
        super().__init__(**kwargs)
        check_positive_ints(base_filters=base_filters, num_downs=num_downs, disc_layers=disc_layers,
                            update_interval=update_interval)
        check_inference_norm(inference_norm)
        for arg, value in (("recon_rate", recon_rate), ("recon_rate_start", recon_rate_start)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0.0 <= value <= 1.0):
                raise ValueError(f"`{arg}` must be None or a number in [0, 1]. Received: {arg}={value!r}")
        if isinstance(curriculum_steps, bool) or not isinstance(curriculum_steps, int) or curriculum_steps < 0:
            raise ValueError(f"`curriculum_steps` must be a non-negative integer. "
                             f"Received: curriculum_steps={curriculum_steps!r}")
        if recon_rate is None and (recon_rate_start is not None or curriculum_steps):
            raise ValueError(f"A reconstruction curriculum needs `recon_rate`. Received: recon_rate=None, "
                             f"recon_rate_start={recon_rate_start!r}, curriculum_steps={curriculum_steps!r}")
        if norm not in ("batch", "instance", "none"):
            raise ValueError(f"`norm` must be 'batch', 'instance' or 'none'. Received: norm={norm!r}")
        check_size_multiple(self.image_size, 2 ** num_downs, "2**num_downs", num_downs=num_downs)
        if self.image_size % 2 ** disc_layers or self.image_size < 4 * 2 ** disc_layers:
            raise ValueError(f"image_size must be a multiple of 2**disc_layers and at least 4 * 2**disc_layers = "
                             f"{4 * 2 ** disc_layers} (the final 4x4 logit convolution). "
                             f"Received: image_size={self.image_size}, disc_layers={disc_layers}")
        self.base_filters = base_filters
        self.num_downs = num_downs
        self.disc_layers = disc_layers
        self.norm = norm
        self.use_bias = bool(use_bias)
        self.inference_norm = inference_norm
        self.update_interval = int(update_interval)
        self.recon_rate = None if recon_rate is None else float(recon_rate)
        self.recon_rate_start = None if recon_rate_start is None else float(recon_rate_start)
        self.curriculum_steps = int(curriculum_steps)
        generator = dict(base_filters=base_filters, num_downs=num_downs, norm=norm, use_bias=use_bias,
                         inference_norm=inference_norm)
        self.generator_ab = encoder_decoder_generator(self.in_channels, self.out_channels, name="generator_ab",
                                                      **generator)
        self.generator_ba = encoder_decoder_generator(self.out_channels, self.in_channels, name="generator_ba",
                                                      **generator)
        # The discriminators always return their features (the same weights either way); `g_fm` reads them.
        critic = dict(base_filters=base_filters, num_layers=disc_layers, norm=norm, return_features=True,
                      use_bias=use_bias)
        self.discriminator_a = dcgan_discriminator(self.in_channels, name="discriminator_a", **critic)
        self.discriminator_b = dcgan_discriminator(self.out_channels, name="discriminator_b", **critic)
        self.built = True

    @property
    def size_multiple(self):
        return 2 ** self.num_downs

    def generator_variables(self):
        return self.generator_ab.trainable_variables + self.generator_ba.trainable_variables

    def discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables

    def generate(self, batch, training):
        return cycle_translations(self, batch, training)

    def discriminator_losses(self, batch, outputs, training=True):
        real_a = self.discriminator_a(batch["domain_a"], training=training)[0]
        fake_a = self.discriminator_a(outputs["fake_a"], training=training)[0]
        real_b = self.discriminator_b(batch["domain_b"], training=training)[0]
        fake_b = self.discriminator_b(outputs["fake_b"], training=training)[0]
        # The library's vanilla loss is 0.5 BCE(real) + 0.5 BCE(fake), the authors' `get_gan_loss` exactly.
        terms = {"d_adv": (losses.discriminator_adversarial(real_a, fake_a, "vanilla")
                           + losses.discriminator_adversarial(real_b, fake_b, "vanilla"))}
        if self.uses("d_weight_decay"):
            terms["d_weight_decay"] = half_squared_norm(self.discriminator_variables())
        return terms

    def generator_losses(self, batch, outputs, training=True):
        terms = {}
        if self.uses("g_adv") or self.uses("g_fm"):
            fake_a = self.discriminator_a(outputs["fake_a"], training=training)
            fake_b = self.discriminator_b(outputs["fake_b"], training=training)
        if self.uses("g_adv"):
            terms["g_adv"] = (losses.generator_adversarial(fake_b[0], "vanilla")
                              + losses.generator_adversarial(fake_a[0], "vanilla"))
        if self.uses("g_rec"):
            terms["g_rec"] = (reconstruction_loss(outputs["cycled_a"], batch["domain_a"])
                              + reconstruction_loss(outputs["cycled_b"], batch["domain_b"]))
        if self.uses("g_fm"):
            real_a = self.discriminator_a(batch["domain_a"], training=training)
            real_b = self.discriminator_b(batch["domain_b"], training=training)
            terms["g_fm"] = (feature_matching_loss(real_a[1:], fake_a[1:])
                             + feature_matching_loss(real_b[1:], fake_b[1:]))
        if self.uses("g_weight_decay"):
            terms["g_weight_decay"] = half_squared_norm(self.generator_variables())
        return terms

    # ------------------------------------------------------------------ the authors' code's schedule
    def current_recon_rate(self):
        """The curriculum's rate at this step (a float32 scalar), or None without a curriculum."""
        if self.recon_rate is None:
            return None
        start = self.recon_rate if self.recon_rate_start is None else self.recon_rate_start
        early = ops.less(self.train_steps.value, self.curriculum_steps)
        return ops.where(early, start, self.recon_rate)

    def _weighted_total(self, losses_):
        rate = self.current_recon_rate()
        if rate is None:
            return super()._weighted_total(losses_)
        # (GAN + feature matching) x (1 - rate) + reconstruction x rate; weight decay stays outside the mix.
        total = ops.zeros((), "float32")
        for name, value in losses_.items():
            factor = {"g_adv": 1.0 - rate, "g_fm": 1.0 - rate, "g_rec": rate}.get(name, 1.0)
            total = total + factor * self.loss_weights[name] * ops.cast(value, "float32")
        return total

    def train_step(self, data):
        if self.update_interval == 1:
            return super().train_step(data)
        # One batch per step; D is updated on the steps whose index is a multiple of update_interval and G on the
        # others (the authors' `iters % update_interval == 0`). Both losses come from one forward pass, as theirs.
        batch = self.prepare_batch(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        d_turn = ops.equal(ops.mod(self.train_steps.value, self.update_interval), 0)
        with tf.GradientTape() as g_tape:
            outputs = self.generate(batch, training=True)
            g_losses = self.generator_losses(batch, outputs)
            g_total = self._weighted_total(g_losses)
            g_scaled = self.optimizer.scale_loss(g_total / replicas)
        with tf.GradientTape() as d_tape:
            d_losses = self.discriminator_losses(batch, detached(outputs))
            d_total = self._weighted_total(d_losses)
            d_scaled = self.d_optimizer.scale_loss(d_total / replicas)
        g_vars, d_vars = self.generator_variables(), self.discriminator_variables()
        applied = []
        self._apply(self.optimizer, g_tape.gradient(g_scaled, g_vars), g_vars, [*g_losses.values(), g_total],
                    applied, when=ops.logical_not(d_turn))
        self._apply(self.d_optimizer, d_tape.gradient(d_scaled, d_vars), d_vars, [*d_losses.values(), d_total],
                    applied, when=d_turn)
        self.train_steps.assign_add(1)
        return self._report({**d_losses, "d_total": d_total, **g_losses, "g_total": g_total}, applied)

    # a2b / b2a run generator_ab / generator_ba; the sample grid is A | A -> B | A -> B -> A.
    translation_modes = generator_pair_modes
    sample_grid = round_trip_grid

    def get_config(self):
        return {**super().get_config(), "base_filters": self.base_filters, "num_downs": self.num_downs,
                "disc_layers": self.disc_layers, "norm": self.norm, "use_bias": self.use_bias,
                "inference_norm": self.inference_norm, "update_interval": self.update_interval,
                "recon_rate": self.recon_rate, "recon_rate_start": self.recon_rate_start,
                "curriculum_steps": self.curriculum_steps}

    def metadata(self):
        return {**super().metadata(), "inference_norm": self.inference_norm}


def reconstruction_loss(reconstructed, images):
    """DiscoGAN's L_CONST: mean ((x' + 1) / 2 - (x + 1) / 2)^2, the MSE of [0, 1] pixels as in the authors' code
    (= a quarter of the MSE of [-1, 1] pixels)."""
    return 0.25 * losses.mse(reconstructed, images)


def feature_matching_loss(real_features, fake_features):
    """sum over layers of mean_{h,w,c} (E_batch[f_real] - E_batch[f_fake])^2: the authors' `get_fm_loss` (its
    HingeEmbeddingLoss with target 1 is the plain mean)."""
    total = ops.zeros((), "float32")
    for real, fake in zip(real_features, fake_features):
        real = ops.mean(ops.cast(real, "float32"), axis=0)
        fake = ops.mean(ops.cast(fake, "float32"), axis=0)
        total = total + ops.mean(ops.square(real - fake))
    return total
