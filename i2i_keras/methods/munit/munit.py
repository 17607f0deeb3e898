from keras import ops

from i2i_keras import losses
from i2i_keras.errors import ConfigError
from i2i_keras.methods.base import (TranslationModel, check_positive_ints, check_size_multiple, half_squared_norm,
                                    reference_discriminator_loss)
from i2i_keras.methods.styles import check_encoder_crop, style_modes
from i2i_keras.networks import adain_decoder, content_encoder, multiscale_discriminator, style_encoder
from i2i_keras.networks.style import INITS
from i2i_keras.registry import register_method


@register_method("munit")
class MUNIT(TranslationModel):
    """MUNIT: multimodal unsupervised translation (Huang et al., ECCV 2018, https://arxiv.org/abs/1804.04732).

    Each domain has a content encoder (instance norm; the content code is a feature map), a style encoder (no
    normalization; the style code is a `style_dim` vector) and a decoder whose residual blocks use AdaIN with
    parameters predicted from the style code by an MLP (sec. 3, and sec. 5 for the architecture). A -> B keeps the
    content of A and takes a style of B: `decoder_b(content_encoder_a(x_a), s)`, with s ~ N(0, I) for random outputs or
    `style_encoder_b(x_ref)` for an example-guided output. Two multi-scale LSGAN discriminators (3 scales, no
    normalization) judge the translations.

    Loss terms (sec. 3, the bidirectional reconstruction and adversarial losses and the total loss; weights of the
    reference configs, `edges2shoes_folder.yaml`):
        g_adv (1): LSGAN, both directions, summed over the discriminator scales as the reference `MsImageDis` does.
        g_rec_x (10): within-domain image reconstruction |dec_a(c_a, s_a) - x_a|_1 (+ B).
        g_rec_c (1): content reconstruction |E^c_b(x_ab) - c_a|_1 (+ B).
        g_rec_s (1): style reconstruction |E^s_b(x_ab) - s_b|_1 with the random style s_b (+ A).
        g_cycle (0): the optional explicit cycle |dec_a(E^c_b(x_ab), s_a) - x_a|_1 (+ B); the reference's
            `recon_x_cyc_w`, off in the paper's configs.
        g_weight_decay, d_weight_decay (1e-4): 0.5 * sum(w^2) over the generator / discriminator weights, whose
            gradient wd * w is exactly the coupled L2 weight decay of the reference's
            `torch.optim.Adam(..., weight_decay=1e-4)` (Keras's Adam has no coupled decay; AdamW's is decoupled).
        d_adv (1): LSGAN discriminator loss, both domains, summed over scales, as the reference's `calc_dis_loss`:
            mean(D(fake)^2) + mean((D(real) - 1)^2) per scale, without the library's 1/2 (which would double the
            weight decay's relative weight).
        g_vgg (0): the reference's domain-invariant perceptual loss (`vgg_w`, 0 in its configs; trainer.py
            `compute_vgg_loss`): the mean squared difference of the instance-normalised VGG16 relu5_3 features of
            x_ba and x_b (+ x_ab and x_a), `losses.perceptual_loss(..., distance="l2", normalize="instance")`. The
            reference loads caffe VGG16 weights; here `perceptual_weights` picks them (default: the offline
            torchvision VGG16 of `i2i_keras.weights`, with the preprocessing those weights expect), and the
            config records which.

    Training follows the reference `train.py` and `trainer.py`: on each batch the discriminators are updated first,
    then the encoders and decoders (one optimizer for all six networks, one for both discriminators). The
    discriminator update translates with styles of its own (`discriminator_styles="fresh"`: `dis_update` draws new
    `torch.randn` styles; "shared" reuses the generator step's). The learning rates are halved every 100k steps
    (`lr_step_size`, `lr_step_gamma`; the reference's `lr_policy: step`, `step_size: 100000`, `gamma: 0.5`, stepped
    after every iteration). Random styles come from `random_normal`, so replicas draw different styles and N
    replicas equal one device.

    Args:
        base_filters: width of the first encoder layer (paper: 64); the content code has
            base_filters * 2**num_downsampling channels.
        num_downsampling: stride-2 layers of the content encoder, mirrored by the decoder (paper: 2).
        num_blocks: residual blocks of the content encoder and of the decoder (paper: 4).
        style_dim: length of the style code (paper: 8).
        mlp_dim: width of the style MLP (paper: 256).
        style_downsampling: stride-2 layers of the style encoder (paper: 4); reference images must be at least
            2**style_downsampling pixels high and wide.
        disc_filters: width of the discriminators' first layer (paper: 64).
        disc_layers: stride-2 layers per discriminator scale (paper: 4).
        disc_scales: discriminator scales (paper: 3).
        gan_mode: "lsgan" (paper), "vanilla", "hinge" or "wgan".
        init: generator initialisation, "kaiming" (paper configs) or "gaussian" (N(0, 0.02)); the discriminators
            always use N(0, 0.02), as the reference does.
        lr_step_size / lr_step_gamma: multiply both learning rates by lr_step_gamma every lr_step_size training
            steps (paper config: 100000 / 0.5; 0 turns it off and needs no constant schedule).
        discriminator_styles: "fresh" (reference) or "shared" (see above).
        perceptual_network / perceptual_weights / perceptual_tap: the feature network of g_vgg
            (`i2i_keras.networks.pretrained.VGGFeatures`: "vgg16" or "vgg19"; "offline", "imagenet" or a weights file;
            reference tap "relu5_3"); loaded only when g_vgg > 0.
        (and the base-class arguments: image_size, in_channels, out_channels, loss_weights, seed)

    Batch format (data kind "unpaired"): `{"domain_a": [B,H,W,Cin], "domain_b": [B,H,W,Cout]}` in [-1, 1].

    Translation modes (`i2i_keras.methods.styles.style_modes`), for each direction `a2b` and `b2a`:
    `a2b` (the mean style z = 0, deterministic), `a2b_sample` (num_samples, seed -> [B, N, H, W, C]),
    `a2b_reference` (the style of a reference image of the output domain), `a2b_interpolate` (num_samples, seed).

    Example:
        model = MUNIT(image_size=32, base_filters=16, num_blocks=2, mlp_dim=64)
        model.compile(keras.optimizers.Adam(1e-4, 0.5), keras.optimizers.Adam(1e-4, 0.5))
        model.fit(unpaired_dataset, steps_per_epoch=100)
        boots = model.translate(sneakers, mode="a2b_sample", num_samples=4, seed=7)   # [B, 4, H, W, C]
        styled = model.translate(sneakers, mode="a2b_reference", reference=one_boot)

    Reference: Huang, Liu, Belongie, Kautz, "Multimodal Unsupervised Image-to-Image Translation", ECCV 2018: sec. 3
    (model and losses), sec. 5 (implementation details: the architecture) and the appendix's training details (Adam
    lr 1e-4, betas (0.5, 0.999), weight decay 1e-4, lr halved every 100k iterations, batch 1); code
    https://github.com/NVlabs/MUNIT (`trainer.py`, `networks.py`, `configs/edges2shoes_folder.yaml`).
    """

    data_kind = "unpaired"
    # The reference loop calls `dis_update` before `gen_update` on every batch.
    update_discriminator_first = True
    default_loss_weights = {"g_adv": 1.0, "g_rec_x": 10.0, "g_rec_c": 1.0, "g_rec_s": 1.0, "g_cycle": 0.0,
                            "g_vgg": 0.0, "g_weight_decay": 1e-4, "d_adv": 1.0, "d_weight_decay": 1e-4}
    input_key = "domain_a"

    def __init__(self, base_filters=64, num_downsampling=2, num_blocks=4, style_dim=8, mlp_dim=256,
                 style_downsampling=4, disc_filters=64, disc_layers=4, disc_scales=3, gan_mode="lsgan",
                 init="kaiming", lr_step_size=0, lr_step_gamma=0.5, discriminator_styles="fresh",
                 perceptual_network="vgg16", perceptual_weights="offline", perceptual_tap="relu5_3", **kwargs):
        super().__init__(**kwargs)
        self.perceptual_network = perceptual_network
        self.perceptual_weights = perceptual_weights
        self.perceptual_tap = perceptual_tap
        # Built only when the term is on: the VGG weights load once, are never trained, checkpointed or exported.
        self.perceptual_features = None
        if self.uses("g_vgg"):
            from i2i_keras.networks.pretrained import VGGFeatures

            self.perceptual_features = VGGFeatures(perceptual_network, perceptual_weights, taps=(perceptual_tap,))
        if isinstance(lr_step_size, bool) or not isinstance(lr_step_size, int) or lr_step_size < 0:
            raise ConfigError(f"`lr_step_size` must be a non-negative integer (0: no step decay). "
                              f"Received: lr_step_size={lr_step_size!r}")
        if isinstance(lr_step_gamma, bool) or not isinstance(lr_step_gamma, (int, float)) or not 0 < lr_step_gamma <= 1:
            raise ConfigError(f"`lr_step_gamma` must be in (0, 1]. Received: lr_step_gamma={lr_step_gamma!r}")
        if discriminator_styles not in ("fresh", "shared"):
            raise ConfigError(f"`discriminator_styles` must be 'fresh' or 'shared'. "
                              f"Received: discriminator_styles={discriminator_styles!r}")
        self.lr_step_size = int(lr_step_size)
        self.lr_step_gamma = float(lr_step_gamma)
        self.discriminator_styles = discriminator_styles
        losses.check_gan_mode(gan_mode)
        if init not in INITS:
            raise ConfigError(f"`init` must be one of {list(INITS)}. Received: init={init!r}")
        check_positive_ints(base_filters=base_filters, num_downsampling=num_downsampling, style_dim=style_dim,
                            mlp_dim=mlp_dim, style_downsampling=style_downsampling, disc_filters=disc_filters,
                            disc_layers=disc_layers, disc_scales=disc_scales)
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 0:
            raise ConfigError(f"`num_blocks` must be a non-negative integer. Received: num_blocks={num_blocks!r}")
        check_size_multiple(self.image_size, 2 ** num_downsampling, "2**num_downsampling",
                            num_downsampling=num_downsampling)
        check_encoder_crop(self.image_size, "style encoder", style_downsampling=style_downsampling)
        self.base_filters = base_filters
        self.num_downsampling = num_downsampling
        self.num_blocks = num_blocks
        self.style_dim = style_dim
        self.mlp_dim = mlp_dim
        self.style_downsampling = style_downsampling
        self.disc_filters = disc_filters
        self.disc_layers = disc_layers
        self.disc_scales = disc_scales
        self.gan_mode = gan_mode
        self.init = init
        content_filters = base_filters * 2 ** num_downsampling
        for domain, channels in (("a", self.in_channels), ("b", self.out_channels)):
            setattr(self, f"content_encoder_{domain}", content_encoder(
                channels, base_filters, num_downsampling, num_blocks, "instance", "relu",
                name=f"content_encoder_{domain}", init=init))
            setattr(self, f"style_encoder_{domain}", style_encoder(
                channels, base_filters, style_downsampling, style_dim, name=f"style_encoder_{domain}", init=init))
            setattr(self, f"decoder_{domain}", adain_decoder(
                channels, content_filters, num_downsampling, num_blocks, style_dim, mlp_dim, "layer",
                name=f"decoder_{domain}", init=init))
            setattr(self, f"discriminator_{domain}", multiscale_discriminator(
                channels, disc_filters, disc_layers, disc_scales, "none", name=f"discriminator_{domain}"))
        self.built = True

    @property
    def size_multiple(self):
        return 2 ** self.num_downsampling

    def _networks(self, domain):
        return (getattr(self, f"content_encoder_{domain}"), getattr(self, f"style_encoder_{domain}"),
                getattr(self, f"decoder_{domain}"))

    def generator_variables(self):
        return [v for d in "ab" for net in self._networks(d) for v in net.trainable_variables]

    def discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables

    # ------------------------------------------------------------------ training
    def generate(self, batch, training):
        x_a, x_b = batch["domain_a"], batch["domain_b"]
        content_a, style_enc_a, decoder_a = self._networks("a")
        content_b, style_enc_b, decoder_b = self._networks("b")
        # Random styles from the prior, as the reference's `torch.randn(batch, style_dim)` in `gen_update`.
        s_a = self.random_normal([ops.shape(x_b)[0], self.style_dim])
        s_b = self.random_normal([ops.shape(x_a)[0], self.style_dim])
        c_a, s_a_prime = content_a(x_a, training=training), style_enc_a(x_a, training=training)
        c_b, s_b_prime = content_b(x_b, training=training), style_enc_b(x_b, training=training)
        out = {
            "s_a": s_a, "s_b": s_b, "c_a": c_a, "c_b": c_b,
            "x_a_recon": decoder_a([c_a, s_a_prime], training=training),
            "x_b_recon": decoder_b([c_b, s_b_prime], training=training),
            "x_ba": decoder_a([c_b, s_a], training=training),
            "x_ab": decoder_b([c_a, s_b], training=training),
        }
        if self.uses("g_rec_c") or self.uses("g_rec_s") or self.uses("g_cycle"):
            # Encode the translations again (latent reconstruction, sec. 3).
            out["c_b_recon"] = content_a(out["x_ba"], training=training)
            out["s_a_recon"] = style_enc_a(out["x_ba"], training=training)
            out["c_a_recon"] = content_b(out["x_ab"], training=training)
            out["s_b_recon"] = style_enc_b(out["x_ab"], training=training)
        if self.uses("g_cycle"):
            out["x_aba"] = decoder_a([out["c_a_recon"], s_a_prime], training=training)
            out["x_bab"] = decoder_b([out["c_b_recon"], s_b_prime], training=training)
        return out

    def _scales(self, logits):
        return list(logits) if isinstance(logits, (list, tuple)) else [logits]

    def discriminator_fakes(self, outputs, training):
        """(x_ba, x_ab) for the discriminator update: the generator step's translations, or (with
        `discriminator_styles="fresh"`, in training) the same content codes decoded with newly drawn styles, as the
        reference's `dis_update`. No gradient reaches the generator either way."""
        if not training or self.discriminator_styles == "shared":
            return outputs["x_ba"], outputs["x_ab"]
        c_a, c_b = ops.stop_gradient(outputs["c_a"]), ops.stop_gradient(outputs["c_b"])
        s_a = self.random_normal([ops.shape(c_b)[0], self.style_dim])
        s_b = self.random_normal([ops.shape(c_a)[0], self.style_dim])
        x_ba = self.decoder_a([c_b, s_a], training=training)
        x_ab = self.decoder_b([c_a, s_b], training=training)
        return ops.stop_gradient(x_ba), ops.stop_gradient(x_ab)

    def discriminator_losses(self, batch, outputs, training=True):
        terms = {}
        if self.uses("d_adv"):
            x_ba, x_ab = self.discriminator_fakes(outputs, training)
            total = 0.0
            for disc, real, fake in ((self.discriminator_a, batch["domain_a"], x_ba),
                                     (self.discriminator_b, batch["domain_b"], x_ab)):
                total += reference_discriminator_loss(self._scales(disc(real, training=training)),
                                                      self._scales(disc(fake, training=training)), self.gan_mode)
            terms["d_adv"] = total
        if self.uses("d_weight_decay"):
            terms["d_weight_decay"] = half_squared_norm(self.discriminator_variables())
        return terms

    def generator_losses(self, batch, outputs, training=True):
        x_a, x_b = batch["domain_a"], batch["domain_b"]
        terms = {}
        if self.uses("g_adv"):
            total = 0.0
            for disc, fake in ((self.discriminator_a, outputs["x_ba"]), (self.discriminator_b, outputs["x_ab"])):
                logits = self._scales(disc(fake, training=training))
                total += len(logits) * losses.generator_adversarial(logits, self.gan_mode)
            terms["g_adv"] = total
        if self.uses("g_rec_x"):
            terms["g_rec_x"] = losses.l1(outputs["x_a_recon"], x_a) + losses.l1(outputs["x_b_recon"], x_b)
        if self.uses("g_rec_c"):
            terms["g_rec_c"] = (losses.l1(outputs["c_a_recon"], outputs["c_a"])
                                + losses.l1(outputs["c_b_recon"], outputs["c_b"]))
        if self.uses("g_rec_s"):
            terms["g_rec_s"] = (losses.l1(outputs["s_a_recon"], outputs["s_a"])
                                + losses.l1(outputs["s_b_recon"], outputs["s_b"]))
        if self.uses("g_cycle"):
            terms["g_cycle"] = losses.l1(outputs["x_aba"], x_a) + losses.l1(outputs["x_bab"], x_b)
        if self.uses("g_vgg"):
            terms["g_vgg"] = sum(
                losses.perceptual_loss(self.perceptual_features, fake, source, [self.perceptual_tap], distance="l2",
                                       normalize="instance")
                for fake, source in ((outputs["x_ba"], x_b), (outputs["x_ab"], x_a)))
        if self.uses("g_weight_decay"):
            terms["g_weight_decay"] = half_squared_norm(self.generator_variables())
        return terms

    # ------------------------------------------------------------------ inference
    def _translator(self, source, target):
        content = getattr(self, f"content_encoder_{source}")
        decoder = getattr(self, f"decoder_{target}")
        style_enc = getattr(self, f"style_encoder_{target}")

        def decode(images, styles):
            return decoder([content(images, training=False), styles], training=False)

        def encode(reference):
            return style_enc(reference, training=False)

        return decode, encode

    def translation_modes(self):
        modes = {}
        channels = {"a": self.in_channels, "b": self.out_channels}
        for source, target in (("a", "b"), ("b", "a")):
            decode, encode = self._translator(source, target)
            # References come from the output domain; b2a translates domain-B images.
            modes.update(style_modes(f"{source}2{target}", decode, encode, self.style_dim, channels[target],
                                     f"{source.upper()} -> {target.upper()}",
                                     input_channels=None if source == "a" else channels["b"],
                                     encoder_downsampling=self.style_downsampling, encoder="style encoder"))
        return modes

    def reconstruct(self, images, domain="a"):
        """Within-domain autoencoding `decoder_d(content_encoder_d(x), style_encoder_d(x))` of domain "a" or "b"
        images whose sides are multiples of `size_multiple` (what the `g_rec_x` term trains)."""
        if domain not in ("a", "b"):
            raise ValueError(f"`domain` must be 'a' or 'b'. Received: domain={domain!r}")
        content, style_enc, decoder = self._networks(domain)
        images = ops.convert_to_tensor(images)
        return decoder([content(images, training=False), style_enc(images, training=False)], training=False)

    def sample_grid(self, batch, num_styles=3):
        """[A, A -> B with `num_styles` fixed random styles, B, B -> A with as many] (seed 0, the same styles at every
        step, like the reference's fixed display styles)."""
        a, b = batch["domain_a"], batch["domain_b"]
        ab = self.translate(a, mode="a2b_sample", num_samples=num_styles, seed=0)
        ba = self.translate(b, mode="b2a_sample", num_samples=num_styles, seed=0)
        return [a, *[ab[:, i] for i in range(num_styles)], b, *[ba[:, i] for i in range(num_styles)]]

    def get_config(self):
        return {**super().get_config(), "base_filters": self.base_filters, "num_downsampling": self.num_downsampling,
                "num_blocks": self.num_blocks, "style_dim": self.style_dim, "mlp_dim": self.mlp_dim,
                "style_downsampling": self.style_downsampling, "disc_filters": self.disc_filters,
                "disc_layers": self.disc_layers, "disc_scales": self.disc_scales, "gan_mode": self.gan_mode,
                "init": self.init, "lr_step_size": self.lr_step_size, "lr_step_gamma": self.lr_step_gamma,
                "discriminator_styles": self.discriminator_styles, "perceptual_network": self.perceptual_network,
                "perceptual_weights": self.perceptual_weights, "perceptual_tap": self.perceptual_tap}

    def metadata(self):
        return {**super().metadata(), "style_dim": int(self.style_dim)}

