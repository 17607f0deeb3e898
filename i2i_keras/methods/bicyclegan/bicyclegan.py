import keras
import tensorflow as tf
from keras import ops

from i2i_keras import losses
from i2i_keras.methods.base import TranslationModel, check_positive_ints, check_size_multiple
from i2i_keras.methods.styles import check_encoder_crop, style_modes
from i2i_keras.networks import multiscale_patch_discriminator, resnet_encoder, style_encoder, unet_generator
from i2i_keras.networks.generators import check_init
from i2i_keras.registry import register_method


@register_method("bicyclegan")
class BicycleGAN(TranslationModel):
    """BicycleGAN: multimodal paired translation (Zhu et al., NeurIPS 2017, https://arxiv.org/abs/1711.11586).

    A U-Net generator G(A, z) takes a latent code z (8 numbers, tiled and concatenated to the input of every U-Net
    block, the reference's default `G_Unet_add_all`, or to the image only, `G_Unet_add_input`), an encoder E(B)
    (the reference's `E_ResNet`) gives a Gaussian posterior [mu, logvar] over z, and two 2-scale PatchGAN
    discriminators (`D_NLayersMulti`) judge the outputs of the two cycles (sec. 3). Networks as junyanz/BicycleGAN
    `models/networks.py`: instance norm without scale or offset, a bias on every convolution, xavier-normal
    initialisation with gain 0.02 (`init_type: xavier`, `init_gain: 0.02`; biases zero):

    - cVAE-GAN (B -> z -> B', sec. 3.2): z = mu + exp(logvar / 2) * eps from E(B), G(A, z) must reconstruct B
      (`g_l1`) and fool D_vae (`g_adv_vae`); the posterior is pulled to N(0, I) (`g_kl`).
    - cLR-GAN (z -> B' -> z', sec. 3.3): z ~ N(0, I), G(A, z) must fool D_lr (`g_adv_lr`), and E must recover z from
      it: the latent regression |mu(E(G(A, z))) - z|_1 (`g_latent`).

    As in the paper (sec. 3.5, training details: optimising E on the latent loss too lets G and E hide z in the image)
    and the reference code (`backward_G_alone`, with E frozen), `g_latent` updates G only: E is applied with its
    weights held constant there, so the term's gradient reaches G through E but never E's weights. E is trained by
    the cVAE-GAN terms (`g_adv_vae`, `g_l1`, `g_kl`). The generator side (G and E) is updated first, then both
    discriminators (the reference's `optimize_parameters`).

    A training batch is split as the reference splits its batch of 2: even rows train the cVAE-GAN and provide the
    conditions A of the cLR-GAN's samples, odd rows are the cLR-GAN discriminator's real images (one pair each with
    the paper's batch size of 2). Interleaving (rather than halves) keeps the split the same when a global batch is
    spread over replicas, as long as the per-replica batch is even. A batch of one image serves both roles.

    Loss terms (weights: the reference's `train_options.py` and the paper, sec. 3.5):
        g_adv_vae (1), g_adv_lr (1): LSGAN, summed over the discriminator's scales (the reference's `GANLoss` on a
            list of predictions).
        g_l1 (10): |G(A, z_E) - B|_1.
        g_latent (0.5): |mu(E(G(A, z))) - z|_1, updating G only.
        g_kl (0.01): KL(N(mu, exp(logvar)) || N(0, I)), summed over the 8 dimensions and averaged over images (the
            reference sums over its batch of one).
        d_adv (1): LSGAN loss of D_vae (real B vs G(A, z_E)) plus D_lr (real B of the odd rows vs G(A, z)), summed over
            scales (the library's LSGAN halves each term; Adam is insensitive to that constant).

    Args:
        base_filters: U-Net width (reference `ngf`: 64).
        num_downs: U-Net depth (8 for 256 px, the reference's `unet_256`); inputs must be multiples of 2**num_downs.
        norm: "instance" (reference), "batch" or "none"; for G and both discriminators.
        dropout: U-Net decoder dropout during training (reference: off, `--use_dropout` in some scripts).
        latent_dim: length of z (reference `nz`: 8).
        encoder_filters: width of E (reference `nef`: 64).
        encoder: "resnet" (reference `E_ResNet`, `networks.resnet_encoder`) or "conv" (the library's
            `networks.style_encoder(variational=True)`: strided convolutions, no normalization).
        encoder_downsampling: halvings of E before global pooling: for "resnet" the stride-2 stem plus
            encoder_downsampling - 1 residual blocks (5 = the reference's `resnet_256`), for "conv" its stride-2
            layers.
        latent_at: where z enters G: "all" (every U-Net block, reference default `--where_add all`) or "input".
        init: kernel initialisation of G, E and the discriminators: "xavier" (reference, gain 0.02), "gaussian"
            (N(0, 0.02)), "kaiming" or "torch_default".
        disc_filters: width of the finest discriminator scale (reference `ndf`: 64); the scale below has half
            (the reference's `D_NLayersMulti`).
        disc_layers: PatchGAN depth per scale (3: 70x70 at the finest scale, `basic_256_multi`).
        disc_scales: discriminator scales (reference `num_Ds`: 2), each scale on the input average-pooled by 2 again.
        gan_mode: "lsgan" (reference), "vanilla", "hinge" or "wgan".
        (and the base-class arguments: image_size, in_channels, out_channels, loss_weights, seed)

    Batch format (data kind "paired"): `{"source": [B,H,W,Cin], "target": [B,H,W,Cout]}` in [-1, 1]; use an even
    per-replica batch size (the reference's is 2).

    Translation modes (`i2i_keras.methods.styles.style_modes`): `translate` (z = 0, the prior's mean:
    deterministic; also what `evaluate` scores against the target), `translate_sample` (num_samples, seed ->
    [B, N, H, W, C], z ~ N(0, I)), `translate_reference` (z = mu of E(reference), the reference's `encode=True`
    test mode), `translate_interpolate` (num_samples, seed: z on the line between two random codes, the
    reference's `video.py`).

    Example:
        model = BicycleGAN(image_size=64, base_filters=32, num_downs=6)
        model.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
        model.fit(paired_dataset, steps_per_epoch=100)
        colourings = model.translate(gray, mode="translate_sample", num_samples=5, seed=3)   # [B, 5, H, W, C]

    Reference: Zhu, Zhang, Pathak, Darrell, Efros, Wang, Shechtman, "Toward Multimodal Image-to-Image
    Translation", NeurIPS 2017: sec. 3.2-3.4 (cVAE-GAN, cLR-GAN, the hybrid objective, eq. 9), sec. 3.5
    (implementation: U-Net G, PatchGAN Ds, LSGAN, lambda = 10, lambda_latent = 0.5, lambda_KL = 0.01, |z| = 8,
    Adam lr 2e-4, batch 2, G only for the latent loss, two discriminators); code
    https://github.com/junyanz/BicycleGAN (`models/bicycle_gan_model.py`, `options/train_options.py`).
    """

    data_kind = "paired"
    paired_metrics = True
    # The reference's `optimize_parameters`: `update_G_and_E()` then `update_D()`.
    update_discriminator_first = False
    default_loss_weights = {"g_adv_vae": 1.0, "g_adv_lr": 1.0, "g_l1": 10.0, "g_latent": 0.5, "g_kl": 0.01,
                            "d_adv": 1.0}

    def __init__(self, base_filters=64, num_downs=8, norm="instance", dropout=0.0, latent_dim=8, encoder_filters=64,
                 encoder_downsampling=5, disc_filters=64, disc_layers=3, disc_scales=2, gan_mode="lsgan",
                 encoder="resnet", latent_at="all", init="xavier", **kwargs):
        super().__init__(**kwargs)
        losses.check_gan_mode(gan_mode)
        check_init(init)
        if encoder not in ("resnet", "conv"):
            raise ValueError(f"`encoder` must be 'resnet' or 'conv'. Received: encoder={encoder!r}")
        if latent_at not in ("all", "input"):
            raise ValueError(f"`latent_at` must be 'all' or 'input'. Received: latent_at={latent_at!r}")
        check_positive_ints(base_filters=base_filters, latent_dim=latent_dim, encoder_filters=encoder_filters,
                            encoder_downsampling=encoder_downsampling, disc_filters=disc_filters,
                            disc_layers=disc_layers, disc_scales=disc_scales)
        if disc_filters < 2 ** (disc_scales - 1):
            raise ValueError(f"`disc_filters` must leave at least one filter at the coarsest of {disc_scales} scales "
                             f"(it halves per scale). Received: disc_filters={disc_filters}, "
                             f"disc_scales={disc_scales}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        check_size_multiple(self.image_size, 2 ** num_downs, "2**num_downs", num_downs=num_downs)
        check_encoder_crop(self.image_size, "encoder", encoder_downsampling=encoder_downsampling)
        self.base_filters = base_filters
        self.num_downs = num_downs
        self.norm = norm
        self.dropout = dropout
        self.latent_dim = latent_dim
        self.encoder_filters = encoder_filters
        self.encoder_downsampling = encoder_downsampling
        self.disc_filters = disc_filters
        self.disc_layers = disc_layers
        self.disc_scales = disc_scales
        self.gan_mode = gan_mode
        self.encoder_kind = encoder
        self.latent_at = latent_at
        self.init = init
        self.generator = unet_generator(self.in_channels, self.out_channels, base_filters, num_downs, norm, dropout,
                                        False, latent_dim=latent_dim, latent_at=latent_at, use_bias=True, init=init,
                                        name="generator")
        if encoder == "resnet":
            self.encoder = resnet_encoder(self.out_channels, encoder_filters, encoder_downsampling, latent_dim, norm,
                                          init=init, name="encoder")
        else:
            self.encoder = style_encoder(self.out_channels, encoder_filters, encoder_downsampling, latent_dim,
                                         variational=True, activation="lrelu", name="encoder", init=init)
        critic = dict(use_bias=True, init=init)
        self.discriminator_vae = multiscale_patch_discriminator(self.out_channels, disc_filters, disc_layers,
                                                                disc_scales, norm, name="discriminator_vae", **critic)
        self.discriminator_lr = multiscale_patch_discriminator(self.out_channels, disc_filters, disc_layers,
                                                               disc_scales, norm, name="discriminator_lr", **critic)
        self.built = True

    @property
    def size_multiple(self):
        return 2 ** self.num_downs

    def generator_variables(self):
        return self.generator.trainable_variables + self.encoder.trainable_variables

    def discriminator_variables(self):
        # A discriminator whose adversarial term is off is neither used nor trained (the reference's use_D/use_D2).
        variables = []
        if self.uses("g_adv_vae"):
            variables += self.discriminator_vae.trainable_variables
        if self.uses("g_adv_lr"):
            variables += self.discriminator_lr.trainable_variables
        return variables

    # ------------------------------------------------------------------ training
    @staticmethod
    def _split(images):
        """(even rows, odd rows) of a batch; a batch of one image gives it to both."""
        size = tf.shape(images)[0]
        odd = tf.range(1, tf.maximum(size, 2), 2) % size
        return images[0::2], tf.gather(images, odd)

    def generate(self, batch, training):
        source, _ = self._split(batch["source"])  # the odd rows' A images are unused, as in the reference
        target, target_random = self._split(batch["target"])
        rows = ops.shape(source)[0]
        mu, logvar = self.encoder(target, training=training)
        # Reparameterisation (the reference's `encode`): z = mu + exp(logvar / 2) * eps, eps ~ N(0, I).
        z_encoded = mu + ops.exp(0.5 * logvar) * self.random_normal([rows, self.latent_dim])
        z_random = self.random_normal([rows, self.latent_dim])
        out = {"target": target, "target_random": target_random, "mu": mu, "logvar": logvar, "z_random": z_random,
               "fake_encoded": self.generator([source, z_encoded], training=training),
               "fake_random": self.generator([source, z_random], training=training)}
        if not training:
            # What `evaluate` scores: the deterministic translation (z = 0) of every source image.
            zeros = ops.zeros([ops.shape(batch["source"])[0], self.latent_dim], "float32")
            out["fake_mean"] = self.generator([batch["source"], zeros], training=False)
        return out

    def _scales(self, logits):
        return list(logits) if isinstance(logits, (list, tuple)) else [logits]

    def _d_loss(self, disc, real, fake, training):
        real_logits = self._scales(disc(real, training=training))
        fake_logits = self._scales(disc(fake, training=training))
        return len(real_logits) * losses.discriminator_adversarial(real_logits, fake_logits, self.gan_mode)

    def _g_adv(self, disc, fake, training):
        logits = self._scales(disc(fake, training=training))
        return len(logits) * losses.generator_adversarial(logits, self.gan_mode)

    def discriminator_losses(self, batch, outputs, training=True):
        if not self.uses("d_adv"):
            return {}
        total = ops.zeros((), "float32")
        if self.uses("g_adv_vae"):
            total += self._d_loss(self.discriminator_vae, outputs["target"], outputs["fake_encoded"], training)
        if self.uses("g_adv_lr"):
            total += self._d_loss(self.discriminator_lr, outputs["target_random"], outputs["fake_random"], training)
        return {"d_adv": total}

    def generator_losses(self, batch, outputs, training=True):
        terms = {}
        if self.uses("g_adv_vae"):
            terms["g_adv_vae"] = self._g_adv(self.discriminator_vae, outputs["fake_encoded"], training)
        if self.uses("g_adv_lr"):
            terms["g_adv_lr"] = self._g_adv(self.discriminator_lr, outputs["fake_random"], training)
        if self.uses("g_l1"):
            terms["g_l1"] = losses.l1(outputs["fake_encoded"], outputs["target"])
        if self.uses("g_kl"):
            terms["g_kl"] = losses.kl_divergence(outputs["mu"], outputs["logvar"])
        if self.uses("g_latent"):
            mu_predicted = self.frozen_encoder_mean(outputs["fake_random"])
            terms["g_latent"] = latent_regression(mu_predicted, outputs["z_random"])
        return terms

    def frozen_encoder_mean(self, images):
        """mu of E(images) with E's weights held constant: gradients flow to `images` (hence to G), not to E."""
        frozen = [ops.stop_gradient(v) for v in self.encoder.trainable_variables]
        state = [v.value for v in self.encoder.non_trainable_variables]
        (mu, _), _ = self.encoder.stateless_call(frozen, state, images, training=False)
        return mu

    def evaluation_pairs(self, batch, outputs):
        return [(outputs["fake_mean"], batch["target"])]

    # ------------------------------------------------------------------ inference
    def translation_modes(self):
        def decode(images, latents):
            return self.generator([images, latents], training=False)

        def encode(reference):
            return self.encoder(reference, training=False)[0]

        return style_modes("translate", decode, encode, self.latent_dim, self.out_channels, "source -> target",
                           encoder_downsampling=self.encoder_downsampling)

    def sample_grid(self, batch, num_samples=3):
        """[source, `num_samples` outputs for fixed random codes (seed 0), the output with the target's own code
        (E(target)'s mu), target]."""
        source, target = batch["source"], batch["target"]
        samples = self.translate(source, mode="translate_sample", num_samples=num_samples, seed=0)
        encoded = self.translate(source, mode="translate_reference", reference=target)
        return [source, *[samples[:, i] for i in range(num_samples)], encoded, target]

    def get_config(self):
        return {**super().get_config(), "base_filters": self.base_filters, "num_downs": self.num_downs,
                "norm": self.norm, "dropout": self.dropout, "latent_dim": self.latent_dim,
                "encoder_filters": self.encoder_filters, "encoder_downsampling": self.encoder_downsampling,
                "disc_filters": self.disc_filters, "disc_layers": self.disc_layers, "disc_scales": self.disc_scales,
                "gan_mode": self.gan_mode, "encoder": self.encoder_kind, "latent_at": self.latent_at,
                "init": self.init}

    def metadata(self):
        return {**super().metadata(), "latent_dim": int(self.latent_dim)}


def latent_regression(predicted, latent):
    """cLR-GAN's latent regression: mean |E(G(A, z)) - z| (BicycleGAN eq. 7; the reference's `criterionZ`, L1)."""
    return losses.l1(predicted, latent)
