from keras import ops

from i2i_keras import losses
from i2i_keras.layers import NORMS
from i2i_keras.methods.base import (TranslationModel, check_size_multiple, direction_modes, half_squared_norm,
                                    reference_discriminator_loss, reference_generator_loss, round_trip_grid)
from i2i_keras.networks import multiscale_discriminator, unit_decoder, unit_encoder, unit_residual_stack
from i2i_keras.registry import register_method


@register_method("unit")
class UNIT(TranslationModel):
    """UNIT: unsupervised translation through a shared latent space with coupled VAE-GANs (Liu, Breuel, Kautz,
    NeurIPS 2017, https://arxiv.org/abs/1703.00848).

    Two VAEs {E_1, G_1}, {E_2, G_2} and two GANs {G_1, D_1}, {G_2, D_2} (paper sec. 3, fig. 1). Weight sharing
    (sec. 3, "Weight-sharing"): the last, high-level layers of E_1 and E_2 are one shared residual stack, and the
    first, high-level layers of G_1 and G_2 are another; each is a single Keras model called by both domains'
    streams, so the two encoders (generators) hold the very same variables and one optimizer step updates them once.

    Networks: the authors' 2017 code the paper was run with (`COCOResGen` and `COCODis` in mingyuliutw/UNIT
    `src/trainers/cocogan_nets.py`, layers in `src/trainers/common_net.py`, sizes of `exps/unit/cat2tiger.yaml`),
    layer for layer. Each encoder is a domain-specific front (`networks.unit_encoder`: a 7x7 convolution with
    LeakyReLU 0.01, two 3x3 stride-2 convolutions with instance norm and ReLU, `enc_blocks` residual blocks)
    followed by the shared `shared_blocks` residual blocks; each generator is the shared `shared_blocks` residual
    blocks followed by a domain-specific back (`networks.unit_decoder`: `dec_blocks` residual blocks, two 3x3
    stride-2 transposed convolutions with instance norm and ReLU, a 1x1 transposed convolution, tanh). Instance
    norm has no scale or offset and every convolution a bias, as the reference's. Discriminators
    (`networks.multiscale_discriminator`): `disc_layers` 3x3 stride-2 zero-padded convolutions (64 ... 2048 for the
    paper's 6) with LeakyReLU 0.01, no normalization, and a 1x1 logit convolution; `disc_scales > 1` adds scales
    on the input average-pooled by 2 (the 2018 code's multi-scale critic).

    VAE (sec. 3, "VAE"): the encoder outputs the mean mu of q(z|x) = N(mu, I); in training the latent is
    z = mu + N(0, I) noise (drawn with `random_normal`, so replicas get distinct noise), at inference z = mu.
    With unit variance, KL(q || N(0, I)) = 0.5 sum(mu^2); the authors' code (`_compute_kl`, both the 2017 and
    2018 versions) uses mean(mu^2) = `losses.mean_square(mu)`, and the loss weights below are calibrated to it.
    (The 2018 code takes it of the mean, as here; the 2017 code of the noisy z = mu + n, whose gradient has the
    same expectation.)

    Loss terms and weights (sec. 3, "Learning"). The defaults are the paper's (sec. 4: lambda_0 = 10,
    lambda_1 = lambda_3 = 0.1, lambda_2 = lambda_4 = 100), which are also those of the 2017 code the paper was run
    with (`exps/unit/*.yaml`: gan_w 10, kl_direct_link_w 0.1, ll_direct_link_w 100, kl_cycle_link_w 0.1,
    ll_cycle_link_w 100). The authors' 2018 rewrite uses gan_w 1, recon_kl_w 0.01, recon_x_w 10, recon_kl_cyc_w
    0.01, recon_x_cyc_w 10: every weight a tenth of the paper's, the same objective up to scale (which Adam
    ignores), so the paper's values are kept and named here.
        g_adv (lambda_0): GAN loss of both translations G_2(z_1) and G_1(z_2) (`gan_mode`, paper: "vanilla" BCE),
            summed over discriminator scales.
        g_kl (lambda_1): mean(mu_1^2) + mean(mu_2^2).
        g_rec (lambda_2): L1 image reconstruction |G_1(z_1) - x_1| + |G_2(z_2) - x_2| (the code's L1 for the
            Laplacian negative log-likelihood of the VAE loss).
        g_kl_cycle (lambda_3): the KL term of the re-encoded translations E_2(G_2(z_1)), E_1(G_1(z_2)).
        g_cycle (lambda_4): L1 cycle reconstruction |G_1(z_121) - x_1| + |G_2(z_212) - x_2| (sec. 3,
            "Cycle-consistency").
        d_adv (lambda_0): the discriminators' GAN loss on real images vs. the translations: BCE(real) + BCE(fake)
            per domain, as the reference's `dis_update` (without the library's 1/2, so that the weight decay
            below weighs against it as in the reference).
        g_weight_decay, d_weight_decay (1e-4): 0.5 * sum(w^2) over the encoders and generators / the
            discriminators: with these weights, exactly the coupled L2 weight decay of the reference's
            `torch.optim.Adam(..., weight_decay=0.0001)` (`src/trainers/cocogan_trainer.py`).
    D is updated before G on each batch, as both reference trainers do.

    Args:
        base_filters: width F of the first encoder layer (paper: 64); the latent has 4F channels at 1/4 resolution.
        enc_blocks: domain-specific residual blocks per encoder (paper: 3).
        dec_blocks: domain-specific residual blocks per generator (paper: 3).
        shared_blocks: residual blocks in each shared stack (paper: 1).
        norm: normalization of encoders and generators: "instance" (paper; no scale or offset), "instance_affine",
            "batch", "layer" or "none".
        disc_layers / disc_scales: discriminator depth and number of scales (see above).
        gan_mode: "vanilla" (paper), "lsgan" (2018 code), "hinge" or "wgan".
        (and the base-class arguments: image_size, in_channels, out_channels, loss_weights, seed)

    Batch format (data kind "unpaired"): `{"domain_a": [B,H,W,Cin], "domain_b": [B,H,W,Cout]}` in [-1, 1];
    domain A is the paper's X_1, domain B its X_2.

    Example:
        model = UNIT(image_size=256)
        model.compile(keras.optimizers.Adam(1e-4, 0.5), keras.optimizers.Adam(1e-4, 0.5))
        model.fit(unpaired_dataset, steps_per_epoch=100)
        night = model.translate(day, mode="a2b")

    Reference: Liu, Breuel, Kautz. Unsupervised Image-to-Image Translation Networks. NeurIPS 2017, sec. 2
    (shared-latent space assumption), sec. 3 (framework: VAE, weight sharing, GAN and cycle-consistency losses,
    learning) and sec. 4 (architecture and hyper-parameters, "Performance analysis").
    """

    data_kind = "unpaired"
    update_discriminator_first = True
    default_loss_weights = {"g_adv": 10.0, "g_kl": 0.1, "g_rec": 100.0, "g_kl_cycle": 0.1, "g_cycle": 100.0,
                            "g_weight_decay": 1e-4, "d_adv": 10.0, "d_weight_decay": 1e-4}
    input_key = "domain_a"

    def __init__(self, base_filters=64, enc_blocks=3, dec_blocks=3, shared_blocks=1, norm="instance", disc_layers=6,
                 disc_scales=1, gan_mode="vanilla", **kwargs):
        super().__init__(**kwargs)
        losses.check_gan_mode(gan_mode)
        for arg, value, low in (("base_filters", base_filters, 1), ("enc_blocks", enc_blocks, 0),
                                ("dec_blocks", dec_blocks, 0), ("shared_blocks", shared_blocks, 1),
                                ("disc_layers", disc_layers, 1), ("disc_scales", disc_scales, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"`{arg}` must be an integer >= {low}. Received: {arg}={value!r}")
        if norm not in NORMS:
            raise ValueError(f"`norm` must be one of {list(NORMS)}. Received: norm={norm!r}")
        check_size_multiple(self.image_size, 4)
        self.base_filters = base_filters
        self.enc_blocks = enc_blocks
        self.dec_blocks = dec_blocks
        self.shared_blocks = shared_blocks
        self.norm = norm
        self.disc_layers = disc_layers
        self.disc_scales = disc_scales
        self.gan_mode = gan_mode
        latent = 4 * base_filters
        front = dict(base_filters=base_filters, num_downsampling=2, num_blocks=enc_blocks, norm=norm)
        self.encoder_front_a = unit_encoder(self.in_channels, name="encoder_front_a", **front)
        self.encoder_front_b = unit_encoder(self.out_channels, name="encoder_front_b", **front)
        # One model each, called by both domains: the shared high-level layers of E_1/E_2 and G_1/G_2.
        self.shared_encoder = unit_residual_stack(latent, num_blocks=shared_blocks, norm=norm, name="shared_encoder")
        self.shared_decoder = unit_residual_stack(latent, num_blocks=shared_blocks, norm=norm, name="shared_decoder")
        back = dict(in_filters=latent, num_upsampling=2, num_blocks=dec_blocks, norm=norm)
        self.decoder_back_a = unit_decoder(self.in_channels, name="decoder_back_a", **back)
        self.decoder_back_b = unit_decoder(self.out_channels, name="decoder_back_b", **back)
        critic = dict(base_filters=base_filters, num_layers=disc_layers, num_scales=disc_scales, norm="none",
                      kernel_size=3, pad_mode="zero", slope=0.01)
        self.discriminator_a = multiscale_discriminator(self.in_channels, name="discriminator_a", **critic)
        self.discriminator_b = multiscale_discriminator(self.out_channels, name="discriminator_b", **critic)
        self.built = True

    @property
    def size_multiple(self):
        return 4

    def generator_variables(self):
        return _unique([v for m in (self.encoder_front_a, self.encoder_front_b, self.shared_encoder,
                                    self.shared_decoder, self.decoder_back_a, self.decoder_back_b)
                        for v in m.trainable_variables])

    def discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables

    # ------------------------------------------------------------------ the two VAEs
    def encode(self, images, domain, training=False):
        """E_1 (domain "a") or E_2 ("b"): images -> latent mean mu [B, H/4, W/4, 4F]."""
        front = self.encoder_front_a if domain == "a" else self.encoder_front_b
        return self.shared_encoder(front(images, training=training), training=training)

    def decode(self, latent, domain, training=False):
        """G_1 (domain "a") or G_2 ("b"): latent -> images in [-1, 1]."""
        back = self.decoder_back_a if domain == "a" else self.decoder_back_b
        return back(self.shared_decoder(latent, training=training), training=training)

    def sample_latent(self, mu, training):
        """z = mu + N(0, I) in training (q(z|x) has unit variance), z = mu at inference."""
        if not training:
            return mu
        return mu + ops.cast(self.random_normal(ops.shape(mu)), mu.dtype)

    def generate(self, batch, training):
        real_a, real_b = batch["domain_a"], batch["domain_b"]
        mu_a = self.encode(real_a, "a", training)
        mu_b = self.encode(real_b, "b", training)
        z_a, z_b = self.sample_latent(mu_a, training), self.sample_latent(mu_b, training)
        outputs = {"mu_a": mu_a, "mu_b": mu_b,
                   "recon_a": self.decode(z_a, "a", training), "recon_b": self.decode(z_b, "b", training),
                   "fake_b": self.decode(z_a, "b", training), "fake_a": self.decode(z_b, "a", training)}
        # Cycle: re-encode each translation in its new domain and decode back (sec. 3, "Cycle-consistency").
        mu_ab = self.encode(outputs["fake_b"], "b", training)
        mu_ba = self.encode(outputs["fake_a"], "a", training)
        outputs.update(mu_ab=mu_ab, mu_ba=mu_ba,
                       cycled_a=self.decode(self.sample_latent(mu_ab, training), "a", training),
                       cycled_b=self.decode(self.sample_latent(mu_ba, training), "b", training))
        return outputs

    def discriminator_losses(self, batch, outputs, training=True):
        terms = {}
        if self.uses("d_adv"):
            loss_a = reference_discriminator_loss(self.discriminator_a(batch["domain_a"], training=training),
                                                  self.discriminator_a(outputs["fake_a"], training=training),
                                                  self.gan_mode)
            loss_b = reference_discriminator_loss(self.discriminator_b(batch["domain_b"], training=training),
                                                  self.discriminator_b(outputs["fake_b"], training=training),
                                                  self.gan_mode)
            terms["d_adv"] = loss_a + loss_b
        if self.uses("d_weight_decay"):
            terms["d_weight_decay"] = half_squared_norm(self.discriminator_variables())
        return terms

    def generator_losses(self, batch, outputs, training=True):
        terms = {}
        if self.uses("g_adv"):
            terms["g_adv"] = (
                reference_generator_loss(self.discriminator_a(outputs["fake_a"], training=training), self.gan_mode)
                + reference_generator_loss(self.discriminator_b(outputs["fake_b"], training=training),
                                           self.gan_mode))
        if self.uses("g_kl"):
            terms["g_kl"] = losses.mean_square(outputs["mu_a"]) + losses.mean_square(outputs["mu_b"])
        if self.uses("g_rec"):
            terms["g_rec"] = (losses.l1(outputs["recon_a"], batch["domain_a"])
                              + losses.l1(outputs["recon_b"], batch["domain_b"]))
        if self.uses("g_kl_cycle"):
            terms["g_kl_cycle"] = losses.mean_square(outputs["mu_ab"]) + losses.mean_square(outputs["mu_ba"])
        if self.uses("g_cycle"):
            terms["g_cycle"] = (losses.l1(outputs["cycled_a"], batch["domain_a"])
                                + losses.l1(outputs["cycled_b"], batch["domain_b"]))
        if self.uses("g_weight_decay"):
            terms["g_weight_decay"] = half_squared_norm(self.generator_variables())
        return terms

    def translation_modes(self):
        return direction_modes(self, lambda images: self.decode(self.encode(images, "a"), "b"),
                               lambda images: self.decode(self.encode(images, "b"), "a"),
                               how=" through the shared latent mean")

    def sample_grid(self, batch):
        return round_trip_grid(self, batch)

    def get_config(self):
        return {**super().get_config(), "base_filters": self.base_filters, "enc_blocks": self.enc_blocks,
                "dec_blocks": self.dec_blocks, "shared_blocks": self.shared_blocks, "norm": self.norm,
                "disc_layers": self.disc_layers, "disc_scales": self.disc_scales, "gan_mode": self.gan_mode}


def _unique(variables):
    seen, out = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out
