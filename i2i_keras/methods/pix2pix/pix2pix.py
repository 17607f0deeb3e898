import keras
from keras import ops

from i2i_keras import losses
from i2i_keras.methods.base import (TranslationMode, TranslationModel, check_inference_norm, check_positive_ints,
                                    check_size_multiple)
from i2i_keras.networks import patch_discriminator, unet_generator
from i2i_keras.registry import register_method


@register_method("pix2pix")
class Pix2Pix(TranslationModel):
    """Pix2Pix: conditional GAN for paired translation (Isola et al., CVPR 2017, https://arxiv.org/abs/1611.07004).

    U-Net generator G(x); conditional PatchGAN D(x, y) on the channel-concatenated input and output;
    loss = GAN + 100 * L1. Dropout in the decoder is the noise source and, as in the paper, can stay on at
    inference (`dropout_at_inference=True`).

    Args:
        base_filters: generator and discriminator width (paper: 64).
        num_downs: U-Net depth (8 for 256 px; inputs must be multiples of 2**num_downs).
        norm: "batch" (paper, with batch size 1), "instance" or "none".
        dropout: decoder dropout rate (paper: 0.5).
        dropout_at_inference: keep dropout on in `translate` and the exported model.
        inference_norm: the generator's batch-norm statistics outside training: "moving" (the averages collected in
            training, Keras's and PyTorch's eval mode) or "batch" (the statistics of the batch being translated, as
            the reference `test.py` runs without `--eval`, i.e. in train mode; the paper config's value). Written
            into the exported metadata; every exported signature runs the generator this way.
        disc_layers: PatchGAN depth (3 = 70x70 receptive field).
        gan_mode: "vanilla" (paper), "lsgan", "hinge" or "wgan".
        (and the base-class arguments: image_size, in_channels, out_channels, loss_weights, seed)

    Loss terms: `g_adv`, `g_l1`, `d_adv`.

    Batch format (data kind "paired"): `{"source": [B,H,W,Cin], "target": [B,H,W,Cout]}` in [-1, 1].

    Example:
        model = Pix2Pix(image_size=32, base_filters=8, num_downs=5)
        model.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
        model.fit(paired_dataset, steps_per_epoch=10)
        fake = model.translate(images)
    """

    data_kind = "paired"
    default_loss_weights = {"g_adv": 1.0, "g_l1": 100.0, "d_adv": 1.0}
    paired_metrics = True

    def __init__(self, base_filters=64, num_downs=8, norm="batch", dropout=0.5, dropout_at_inference=False,
                 disc_layers=3, gan_mode="vanilla", inference_norm="moving", **kwargs):
        super().__init__(**kwargs)
        losses.check_gan_mode(gan_mode)
        check_inference_norm(inference_norm)
        check_positive_ints(base_filters=base_filters, num_downs=num_downs, disc_layers=disc_layers)
        self.base_filters = base_filters
        self.num_downs = num_downs
        self.norm = norm
        self.dropout = dropout
        self.dropout_at_inference = dropout_at_inference
        self.disc_layers = disc_layers
        self.gan_mode = gan_mode
        self.inference_norm = inference_norm
        check_size_multiple(self.image_size, 2 ** num_downs, "2**num_downs", num_downs=num_downs)
        self.generator = unet_generator(self.in_channels, self.out_channels, base_filters, num_downs, norm, dropout,
                                        dropout_at_inference, inference_norm=inference_norm, name="generator")
        self.discriminator = patch_discriminator(self.in_channels + self.out_channels, base_filters, disc_layers,
                                                 norm, name="discriminator")
        self.built = True

    @property
    def size_multiple(self):
        return 2 ** self.num_downs

    def generator_variables(self):
        return self.generator.trainable_variables

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def generate(self, batch, training):
        return {"fake": self.generator(batch["source"], training=training)}

    def _d(self, source, image, training=True):
        return self.discriminator(ops.concatenate([ops.cast(source, image.dtype), image], axis=-1),
                                  training=training)

    def discriminator_losses(self, batch, outputs, training=True):
        real = self._d(batch["source"], batch["target"], training)
        fake = self._d(batch["source"], outputs["fake"], training)
        return {"d_adv": losses.discriminator_adversarial(real, fake, self.gan_mode)}

    def generator_losses(self, batch, outputs, training=True):
        terms = {}
        if self.uses("g_adv"):
            fake_logits = self._d(batch["source"], outputs["fake"], training)
            terms["g_adv"] = losses.generator_adversarial(fake_logits, self.gan_mode)
        if self.uses("g_l1"):
            terms["g_l1"] = losses.l1(outputs["fake"], batch["target"])
        return terms

    def evaluation_pairs(self, batch, outputs):
        return [(outputs["fake"], batch["target"])]

    def translation_modes(self):
        return {"translate": TranslationMode(lambda images: self.generator(images, training=False),
                                             description="source -> target")}

    def sample_grid(self, batch):
        return [batch["source"], self.translate(batch["source"]), batch["target"]]

    def get_config(self):
        return {**super().get_config(), "base_filters": self.base_filters, "num_downs": self.num_downs,
                "norm": self.norm, "dropout": self.dropout, "dropout_at_inference": self.dropout_at_inference,
                "disc_layers": self.disc_layers, "gan_mode": self.gan_mode, "inference_norm": self.inference_norm}

    def metadata(self):
        return {**super().metadata(), "dropout_at_inference": bool(self.dropout_at_inference),
                "inference_norm": self.inference_norm}
