from i2i_keras import losses
from i2i_keras.errors import ConfigError
from i2i_keras.layers import ImagePool
from i2i_keras.methods.base import (TranslationModel, check_size_multiple, cycle_translations, generator_pair_modes,
                                    round_trip_grid)
from i2i_keras.networks import patch_discriminator, resnet_generator
from i2i_keras.registry import register_method


@register_method("cyclegan")
class CycleGAN(TranslationModel):
    """CycleGAN: unpaired translation with cycle consistency (Zhu et al., ICCV 2017, https://arxiv.org/abs/1703.10593).

    Generators G: A -> B and F: B -> A (ResNet, 9 blocks at 256 px, 6 below), PatchGAN discriminators D_A, D_B,
    least-squares GAN loss, cycle loss weight 10 and identity loss 0.5 x cycle (= 5), and a 50-image history pool
    per domain for discriminator updates (kept as model state).

    Args:
        base_filters: network width (paper: 64).
        num_blocks: residual blocks; None picks 9 for image_size >= 256, else 6 (the paper's rule).
        norm: "instance" (paper), "batch" or "none".
        disc_layers: PatchGAN depth (3 = 70x70).
        pool_size: image history size per domain (paper: 50; 0 disables).
        gan_mode: "lsgan" (paper), "vanilla", "hinge" or "wgan".
        (and the base-class arguments: image_size, in_channels, out_channels, loss_weights, seed)

    Loss terms: `g_adv` (both directions), `g_cycle` (A->B->A and B->A->B), `g_identity`, `d_adv`.

    Batch format (data kind "unpaired"): `{"domain_a": [B,H,W,Cin], "domain_b": [B,H,W,Cout]}` in [-1, 1].

    Example:
        model = CycleGAN(image_size=32, base_filters=8, num_blocks=1)
        model.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
        model.fit(unpaired_dataset, steps_per_epoch=10)
        zebras = model.translate(horses, mode="a2b")
    """

    data_kind = "unpaired"
    # As the reference code: G (both directions) is updated first, then D on the new fakes through the pool.
    update_discriminator_first = False
    default_loss_weights = {"g_adv": 1.0, "g_cycle": 10.0, "g_identity": 5.0, "d_adv": 1.0}
    input_key = "domain_a"

    def __init__(self, base_filters=64, num_blocks=None, norm="instance", disc_layers=3, pool_size=50,
                 gan_mode="lsgan", **kwargs):
        super().__init__(**kwargs)
        losses.check_gan_mode(gan_mode)
        if self.uses("g_identity") and self.in_channels != self.out_channels:
            raise ConfigError("The identity loss needs in_channels == out_channels; set loss_weights.g_identity=0. "
                              f"Received: in_channels={self.in_channels}, out_channels={self.out_channels}")
        check_size_multiple(self.image_size, 4)
        self.base_filters = base_filters
        self.num_blocks = num_blocks
        self.norm = norm
        self.disc_layers = disc_layers
        self.pool_size = pool_size
        self.gan_mode = gan_mode
        blocks = num_blocks if num_blocks is not None else (9 if self.image_size >= 256 else 6)
        self.generator_ab = resnet_generator(self.in_channels, self.out_channels, base_filters, blocks, 2, norm,
                                             name="generator_ab")
        self.generator_ba = resnet_generator(self.out_channels, self.in_channels, base_filters, blocks, 2, norm,
                                             name="generator_ba")
        self.discriminator_a = patch_discriminator(self.in_channels, base_filters, disc_layers, norm,
                                                   name="discriminator_a")
        self.discriminator_b = patch_discriminator(self.out_channels, base_filters, disc_layers, norm,
                                                   name="discriminator_b")
        seed_a = None if self.seed is None else self.seed + 1
        seed_b = None if self.seed is None else self.seed + 2
        self.pool_a = ImagePool(pool_size, seed=seed_a, dtype="float32", name="pool_a")
        self.pool_b = ImagePool(pool_size, seed=seed_b, dtype="float32", name="pool_b")
        self.pool_a.build((None, self.image_size, self.image_size, self.in_channels))
        self.pool_b.build((None, self.image_size, self.image_size, self.out_channels))
        self.built = True

    @property
    def size_multiple(self):
        return 4

    def generator_variables(self):
        return self.generator_ab.trainable_variables + self.generator_ba.trainable_variables

    def discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables

    def generate(self, batch, training):
        outputs = cycle_translations(self, batch, training)
        if self.uses("g_identity"):
            outputs["same_a"] = self.generator_ba(batch["domain_a"], training=training)
            outputs["same_b"] = self.generator_ab(batch["domain_b"], training=training)
        return outputs

    def discriminator_losses(self, batch, outputs, training=True):
        fake_a, fake_b = outputs["fake_a"], outputs["fake_b"]
        if training:
            # Older fakes from the history pool stabilise D (CycleGAN sec. 4); only in training, not evaluation.
            fake_a, fake_b = self.pool_a(fake_a), self.pool_b(fake_b)
        loss_a = losses.discriminator_adversarial(self.discriminator_a(batch["domain_a"], training=training),
                                                  self.discriminator_a(fake_a, training=training), self.gan_mode)
        loss_b = losses.discriminator_adversarial(self.discriminator_b(batch["domain_b"], training=training),
                                                  self.discriminator_b(fake_b, training=training), self.gan_mode)
        return {"d_adv": loss_a + loss_b}

    def generator_losses(self, batch, outputs, training=True):
        terms = {}
        if self.uses("g_adv"):
            terms["g_adv"] = (losses.generator_adversarial(self.discriminator_b(outputs["fake_b"], training=training), self.gan_mode)
                              + losses.generator_adversarial(self.discriminator_a(outputs["fake_a"], training=training), self.gan_mode))
        if self.uses("g_cycle"):
            terms["g_cycle"] = (losses.l1(outputs["cycled_a"], batch["domain_a"])
                                + losses.l1(outputs["cycled_b"], batch["domain_b"]))
        if self.uses("g_identity"):
            terms["g_identity"] = (losses.l1(outputs["same_a"], batch["domain_a"])
                                   + losses.l1(outputs["same_b"], batch["domain_b"]))
        return terms

    # a2b / b2a run generator_ab / generator_ba; the sample grid is A | A -> B | A -> B -> A.
    translation_modes = generator_pair_modes
    sample_grid = round_trip_grid

    def get_config(self):
        return {**super().get_config(), "base_filters": self.base_filters, "num_blocks": self.num_blocks,
                "norm": self.norm, "disc_layers": self.disc_layers, "pool_size": self.pool_size,
                "gan_mode": self.gan_mode}
