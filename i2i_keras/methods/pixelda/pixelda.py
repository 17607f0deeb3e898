import keras
import tensorflow as tf
from keras import layers, ops

from i2i_keras import losses
from i2i_keras.layers.normalization import normalization
from i2i_keras.methods.base import TranslationMode, TranslationModel, check_positive_ints
from i2i_keras.methods.dann.classification import ClassifierMethod, class_names_of, cross_entropy
from i2i_keras.networks.generators import initializer
from i2i_keras.registry import register_method


def pixelda_generator(channels, image_size, latent_dim, filters, num_blocks, name="generator"):
    """G(x, z): a dense layer turns the noise z into one image-shaped plane per channel, concatenated with x; conv
    3x3 + ReLU; `num_blocks` residual blocks (conv 3x3, batch norm, ReLU, conv 3x3, batch norm, + input); conv 3x3
    to `channels`, tanh (PyTorch-GAN implementations/pixelda/pixelda.py, `Generator`)."""
    init = initializer("gaussian")
    image = keras.Input((image_size, image_size, channels), name="image")
    noise = keras.Input((latent_dim,), name="noise")
    plane = layers.Reshape((image_size, image_size, channels))(
        layers.Dense(image_size * image_size * channels, name="noise_fc")(noise))
    x = layers.Concatenate(name="with_noise")([image, plane])
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer=init, name="in_conv")(x)
    for b in range(num_blocks):
        y = layers.Conv2D(filters, 3, padding="same", kernel_initializer=init, name=f"res{b}_conv0")(x)
        y = layers.ReLU()(_synced_batch_norm(f"res{b}_bn0")(y))
        y = layers.Conv2D(filters, 3, padding="same", kernel_initializer=init, name=f"res{b}_conv1")(y)
        x = layers.Add(name=f"res{b}_add")([x, _synced_batch_norm(f"res{b}_bn1")(y)])
    out = layers.Conv2D(channels, 3, padding="same", activation="tanh", kernel_initializer=init, dtype="float32",
                        name="out_conv")(x)
    return keras.Model([image, noise], out, name=name)


def _synced_batch_norm(name):
    """Batch norm (PyTorch's momentum and epsilon) with statistics over the global batch under MirroredStrategy,
    so N replicas normalise as the reference's single device does."""
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)


def _strided_blocks(x, base_filters, num_blocks, name):
    """conv 3x3 stride 2, LeakyReLU 0.2, instance norm (none on the first block): the reference's D and C blocks."""
    init = initializer("gaussian")
    for b in range(num_blocks):
        x = layers.Conv2D(base_filters * 2 ** b, 3, strides=2, padding="same", kernel_initializer=init,
                          name=f"{name}{b}_conv")(x)
        x = layers.LeakyReLU(0.2)(x)
        if b:
            x = normalization("instance", name=f"{name}{b}_norm")(x)
    return x


def pixelda_discriminator(channels, base_filters, num_blocks=4, name="discriminator"):
    """Patch discriminator: `num_blocks` strided blocks, then conv 3x3 to one LSGAN score per patch."""
    image = keras.Input((None, None, channels), name="image")
    x = _strided_blocks(image, base_filters, num_blocks, "block")
    out = layers.Conv2D(1, 3, padding="same", kernel_initializer=initializer("gaussian"), dtype="float32",
                        name="patch_scores")(x)
    return keras.Model(image, out, name=name)


def pixelda_classifier(channels, image_size, base_filters, num_classes, num_blocks=4, name="classifier"):
    """Task classifier: the discriminator's strided blocks, flattened, one dense layer to `num_classes` logits
    (the reference ends with a softmax that its cross-entropy applies again; these are plain logits)."""
    image = keras.Input((image_size, image_size, channels), name="image")
    x = layers.Flatten()(_strided_blocks(image, base_filters, num_blocks, "block"))
    return keras.Model(image, layers.Dense(num_classes, dtype="float32", name="logits")(x), name=name)


@register_method("pixelda")
class PixelDA(ClassifierMethod, TranslationModel):
    """PixelDA: unsupervised pixel-level domain adaptation with GANs (Bousmalis et al., CVPR 2017,
    https://arxiv.org/abs/1612.05424), as PyTorch-GAN's implementations/pixelda/pixelda.py implements it.

    A generator G(x, z) maps a labelled source image and noise z ~ U(-1, 1) to the target's look (residual
    blocks); a patch discriminator D (LSGAN) tells generated from real target images; a task classifier T is
    trained on translated and source images: task loss (CE(T(G(x, z)), y) + CE(T(x), y)) / 2 with weight 0.1,
    adversarial weight 1, and, as the reference, one optimizer for G and T together, then D's update on the same
    fakes (D loss = 0.5 [(D(target) - 1)^2 + D(G(x, z))^2]). T, which has seen target-looking images with
    source labels, classifies the target domain.

    Source-only baseline: with `loss_weights.g_source_only` > 0 (default 0.1, the task weight) a second classifier
    of T's architecture trains on the source images alone in the same steps (`classify_source_only`).

    Args:
        num_classes / class_names: the source's classes (names default to "0" ... "K-1").
        latent_dim: noise size (reference: 10).
        gen_filters, num_blocks: generator width and residual blocks (reference: 64, 6).
        base_filters: first width of D and T, doubling per block (reference: 64).
        disc_blocks: strided blocks of D and T (reference: 4, so image_size must be a multiple of 16).
        (and the base-class arguments; `image_size` is the generator's and classifier's size, reference 32)

    Modes: `classify` (T), `classify_source_only`, and `translate` (G with z = 0, the noise prior's mean: source
    -> target look, deterministic; images are resized to `image_size` and back).

    Loss terms: `g_adv`, `g_task`, `g_source_only`, `d_adv`.

    Batch format (data kind "domain_adaptation"): ``{"source", "source_label" (one-hot), "target"}``.
    """

    default_loss_weights = {"g_adv": 1.0, "g_task": 0.1, "g_source_only": 0.1, "d_adv": 1.0}
    # The reference updates G and T first, then D on the same (detached) fakes.
    update_discriminator_first = False
    input_key = "source"

    def __init__(self, num_classes=None, class_names=None, latent_dim=10, gen_filters=64, num_blocks=6,
                 base_filters=64, disc_blocks=4, **kwargs):
        super().__init__(**kwargs)
        self.class_names = class_names_of(10 if num_classes is None and class_names is None else num_classes,
                                          class_names)
        check_positive_ints(latent_dim=latent_dim, gen_filters=gen_filters, num_blocks=num_blocks,
                            base_filters=base_filters, disc_blocks=disc_blocks)
        if self.image_size % 2 ** disc_blocks:
            raise ValueError(f"image_size must be a multiple of 2**disc_blocks={2 ** disc_blocks}. "
                             f"Received: image_size={self.image_size}, disc_blocks={disc_blocks}")
        if self.in_channels != self.out_channels:
            raise ValueError("PixelDA's classifier reads source and translated images alike: in_channels must "
                             f"equal out_channels. Received: in_channels={self.in_channels}, "
                             f"out_channels={self.out_channels}")
        self.latent_dim, self.gen_filters, self.num_blocks = latent_dim, gen_filters, num_blocks
        self.base_filters, self.disc_blocks = base_filters, disc_blocks
        self.classifier_size = self.image_size
        c, s, k = self.in_channels, self.image_size, self.num_classes
        self.generator = pixelda_generator(c, s, latent_dim, gen_filters, num_blocks)
        self.discriminator = pixelda_discriminator(c, base_filters, disc_blocks)
        self.classifier = pixelda_classifier(c, s, base_filters, k, disc_blocks)
        self.has_baseline = self.uses("g_source_only")
        if self.has_baseline:
            self.baseline = pixelda_classifier(c, s, base_filters, k, disc_blocks, name="source_only_classifier")
        self.built = True

    def generator_variables(self):
        # One optimizer for G and T, as the reference's optimizer_G (and the baseline's classifier beside them).
        variables = self.generator.trainable_variables + self.classifier.trainable_variables
        return variables + (self.baseline.trainable_variables if self.has_baseline else [])

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def classify_logits(self, images, training=False):
        return self.classifier(images, training=training)

    def baseline_logits(self, images, training=False):
        return self.baseline(images, training=training)

    def generate(self, batch, training):
        source = self._classifier_input(batch["source"])
        noise = self.random_uniform((ops.shape(source)[0], self.latent_dim)) * 2.0 - 1.0
        return {"fake": self.generator([source, noise], training=training), "source": source}

    def generator_losses(self, batch, outputs, training=True):
        terms = {}
        labels = batch["source_label"]
        if self.uses("g_adv"):
            terms["g_adv"] = losses.generator_adversarial(self.discriminator(outputs["fake"], training=training),
                                                          "lsgan")
        if self.uses("g_task"):
            terms["g_task"] = 0.5 * (cross_entropy(labels, self.classifier(outputs["fake"], training=training))
                                     + cross_entropy(labels, self.classifier(outputs["source"], training=training)))
        if self.has_baseline:
            terms["g_source_only"] = cross_entropy(labels, self.baseline(outputs["source"], training=training))
        return terms

    def discriminator_losses(self, batch, outputs, training=True):
        target = self._classifier_input(batch["target"])
        return {"d_adv": losses.discriminator_adversarial(self.discriminator(target, training=training),
                                                          self.discriminator(outputs["fake"], training=training),
                                                          "lsgan")}

    def _translate(self, images):
        """Source -> target look at `image_size`, with z = 0, resized back to the input's size."""
        height, width = ops.shape(images)[1], ops.shape(images)[2]
        small = self._classifier_input(images)
        noise = ops.zeros((ops.shape(small)[0], self.latent_dim), small.dtype)
        out = self.generator([small, noise], training=False)
        # tf.image.resize takes the run-time size (ops.image.resize of some Keras versions needs it in Python).
        return ops.cast(tf.image.resize(out, tf.stack([height, width]), method="bilinear"), "float32")

    def translation_modes(self):
        return {**self.classification_modes(),
                "translate": TranslationMode(self._translate, description="source -> target look (z = 0)")}

    def sample_grid(self, batch):
        return [batch["source"], self.translate(batch["source"], mode="translate"), batch["target"]]

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "class_names": list(self.class_names),
                "latent_dim": self.latent_dim, "gen_filters": self.gen_filters, "num_blocks": self.num_blocks,
                "base_filters": self.base_filters, "disc_blocks": self.disc_blocks}

