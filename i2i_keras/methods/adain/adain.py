import numpy as np
import tensorflow as tf
from keras import ops

from i2i_keras import losses
from i2i_keras.errors import ConfigError
from i2i_keras.layers import AdaptiveInstanceNorm
from i2i_keras.methods.base import (ALPHA, REFERENCE, TranslationMode, TranslationModel, check_positive_ints,
                                    pad_to_multiple)
from i2i_keras.methods.style_transfer import frozen_vgg
from i2i_keras.networks.style_transfer import adain_vgg_decoder
from i2i_keras.registry import register_method

ENCODER_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


@register_method("adain")
class AdaIN(TranslationModel):
    """Arbitrary style transfer with adaptive instance normalisation (Huang and Belongie, ICCV 2017).

    A frozen VGG encoder f up to relu4_1, AdaIN (the content features re-normalised to the style features'
    per-channel mean and standard deviation: ``t = sigma(f(s)) (f(c) - mu(f(c))) / sigma(f(c)) + mu(f(s))``, the
    `i2i_keras.layers.AdaptiveInstanceNorm` op that MUNIT's decoder also uses) and a trained decoder g
    (`networks.style_transfer.adain_vgg_decoder`, the reference's mirror of VGG up to relu4_1). Any style image is
    a `reference` input at inference; `alpha` trades content (0: t = f(c), the decoder reproduces the content) for
    style (1); several styles are interpolated with `interpolate`.

    Encoder: the paper's is VGG19 to relu4_1; offline it is the torchvision VGG16 to relu4_1 (`weights: offline`,
    the default; VGG19 with `network: vgg19, weights: <file>` where the user has those weights). Both give 512
    channels at 1/8 of the input size; VGG16's relu4_1 sits after 7 convolutions instead of VGG19's 9. The encoder's
    (frozen) conv weights are kept by the model, so the .keras file and the SavedModel carry them.

    Loss terms (paper eqs. 11-13, the reference's defaults):
        g_content (1): ``mean((f(g(t)) - t)^2)`` at relu4_1 (the AdaIN output is the target, not f(c)).
        g_style (10): ``sum_i [MSE(mu(phi_i(g(t))), mu(phi_i(s))) + MSE(sigma(...), sigma(...))]`` over relu1_1,
            relu2_1, relu3_1, relu4_1 (`losses.mean_std_loss`'s distance).
        g_identity_pixel (0: off; 12.5 in the default config) and g_identity_feature (0: off, in every config):
            the identity losses of SANet (Park and Lee, "Arbitrary Style Transfer with Style-Attentional Networks",
            CVPR 2019; computed as public PyTorch SANet training code does, Icc / Iss with l_identity1 / 2): the
            content and the style image each decoded from its own relu4_1 features (AdaIN(f(c), f(c)) = f(c): what
            alpha=0 decodes) must give the image back, ``MSE(g(f(c)), c) + MSE(g(f(s)), s)`` on pixels and the same
            summed over relu1_1..relu4_1 features. Not in the AdaIN paper (its config keeps them 0): with them the
            decoder learns to invert the encoder early, so alpha=0 reproduces the content after a CPU-sized training
            (without them, 300 steps on 32 px photos leave the alpha=0 output unrelated to its content:
            tests/methods/test_adain.py). The weight 12.5 is this library's choice, measured by that test (SANet
            weighs its two identity terms 50 and 1; the feature term on the unnormalised VGG16 is ~100x the pixel
            term, which is why the default leaves it off).

    Data: content images from the `single` data kind; the styles are the model's own (`styles`: a folder or
    ``embedded:styles``), each resized so its shorter side is 2 x `image_size` and kept as model state; every
    training example draws a random style and a random image_size crop of it (the paper: random 256 crops of
    images resized to 512).

    Args:
        styles: style image spec (`i2i_keras.data.style_images`).
        base_filters: decoder width (paper: 64; the decoder's first conv maps the encoder's 512 channels to 4x).
        network / weights: the encoder's VGG (see above); "random" = a random VGG (tests of the plumbing only).
        alpha: the default style strength of the `reference` mode (paper: 1).
        (and the base-class arguments: image_size, in_channels, out_channels, loss_weights, seed)

    Translation modes: `stylize` (images only: the first image of `styles` in file-name order, `brick` for
    ``embedded:styles``), `reference` (images, reference: one style image per
    content image, or one for all) and `reference_alpha` (images, reference, alpha: a float scalar). All are
    exported (float and bytes signatures; the bytes one takes the reference as encoded image bytes).

    Example:
        model = AdaIN(image_size=256, styles="path/to/wikiart")
        model.compile(keras.optimizers.Adam(1e-4))
        model.fit(content_dataset, steps_per_epoch=1000)
        out = model.translate(photos, mode="reference_alpha", reference=paintings, alpha=0.7)
        mixed = model.interpolate(photos, [starry, brick], weights=[0.5, 0.5])

    Reference: Huang, Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization", ICCV
    2017; code naoto0804/pytorch-AdaIN (net.py: decoder, `adaptive_instance_normalization`, `calc_style_loss`;
    train.py: Adam lr 1e-4, lr_decay 5e-5, batch 8, style_weight 10, content_weight 1, 160k iterations).
    """

    data_kind = "single"
    input_key = "image"
    default_loss_weights = {"g_content": 1.0, "g_style": 10.0, "g_identity_pixel": 0.0, "g_identity_feature": 0.0}

    def __init__(self, styles="embedded:styles", base_filters=64, network="vgg16", weights="offline", alpha=1.0,
                 **kwargs):
        super().__init__(**kwargs)
        from i2i_keras.data import style_images

        check_positive_ints(base_filters=base_filters)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"`alpha` must be in [0, 1]. Received: alpha={alpha!r}", code="bad_value")
        self.styles = styles
        self.base_filters = base_filters
        self.network = network
        self.weights_source = weights
        self.alpha = float(alpha)
        self.encoder = frozen_vgg(self, network, weights, ENCODER_TAPS)
        if self.image_size < self.encoder.min_size:
            raise ConfigError(f"image_size must be at least {self.encoder.min_size} (relu4_1 is 1/8 of the input). "
                              f"Received: image_size={self.image_size}", code="bad_value")
        # Tracked (frozen): saved with the model and captured by its export.
        self.encoder_layers = self.encoder.conv_layers
        for layer in self.encoder_layers:
            layer.trainable = False
        self.adain = AdaptiveInstanceNorm(name="adain")
        self.adain.build([(None, None, None, 512), (None, 1024)])  # no weights; built so Keras never guess-builds
        self.decoder = adain_vgg_decoder(512, base_filters, 3, name="decoder")
        self.style_bank = self.add_constant(style_images.load_square_stack(styles, 2 * self.image_size),
                                            "style_bank")
        self.built = True

    @property
    def size_multiple(self):
        return 8

    def generator_variables(self):
        return self.decoder.trainable_variables

    # ------------------------------------------------------------------ the operation
    def _transfer(self, content_features, style_features):
        """AdaIN(f(c), f(s)) at relu4_1: the content features with the style features' channel mean and std."""
        mean, std = losses.channel_mean_std(style_features)
        return ops.cast(self.adain([content_features, ops.concatenate([std, mean], axis=-1)]), "float32")

    def _decode(self, features):
        return self.decoder(features, training=False)

    def style_crops(self, batch_size):
        """A random style of the bank and a random image_size crop of it for each of `batch_size` examples."""
        count = self.style_bank.shape[0]
        index = ops.cast(ops.minimum(self.random_uniform([batch_size]) * count, count - 1), "int32")
        corner = self.random_uniform([batch_size, 2]) * 0.5
        boxes = ops.concatenate([corner, corner + 0.5], axis=-1)
        size = self.image_size
        return tf.image.crop_and_resize(self.style_bank, boxes, index, (size, size), method="bilinear")

    def generate(self, batch, training):
        content = ops.cast(batch["image"], "float32")
        style = self.style_crops(ops.shape(content)[0])
        content_features = self.encoder(content)["relu4_1"]
        style_features = self.encoder(style)
        target = ops.stop_gradient(self._transfer(content_features, style_features["relu4_1"]))
        output = self.decoder(target, training=training)
        outputs = {"style": style, "target": target, "output": output,
                   "style_features": {k: ops.stop_gradient(v) for k, v in style_features.items()}}
        if self.uses("g_identity_pixel") or self.uses("g_identity_feature"):
            # Content and style decoded from their own relu4_1 features, in one decoder call.
            own = ops.stop_gradient(ops.concatenate([content_features, style_features["relu4_1"]], axis=0))
            outputs["identity"] = self.decoder(own, training=training)
            outputs["identity_source"] = ops.concatenate([content, style], axis=0)
        return outputs

    def generator_losses(self, batch, outputs, training=True):
        features = self.encoder(outputs["output"])
        terms = {}
        if self.uses("g_content"):
            terms["g_content"] = losses.mse(features["relu4_1"], outputs["target"])
        if self.uses("g_style"):
            terms["g_style"] = losses.mean_std_distance(features, outputs["style_features"],
                                                        losses.tap_weights(ENCODER_TAPS))
        if "identity" in outputs:
            # Sums of the content's and the style's MSEs (SANet's), not one mean over both.
            identity, source = outputs["identity"], outputs["identity_source"]
            half = ops.shape(identity)[0] // 2
            pairs = ((identity[:half], source[:half]), (identity[half:], source[half:]))
            if self.uses("g_identity_pixel"):
                terms["g_identity_pixel"] = sum(losses.mse(a, b) for a, b in pairs)
            if self.uses("g_identity_feature"):
                decoded, original = self.encoder(identity), self.encoder(source)
                terms["g_identity_feature"] = sum(
                    losses.mse(decoded[tap][:half], original[tap][:half])
                    + losses.mse(decoded[tap][half:], original[tap][half:]) for tap in ENCODER_TAPS)
        return terms

    # ------------------------------------------------------------------ inference
    def stylize(self, images, references, alpha=None):
        """[B,H,W,3] content (sides multiples of 8) with one style image per row of `references` (any size >= 8):
        decoder(alpha * AdaIN(f(c), f(s)) + (1 - alpha) * f(c)), clipped to [-1, 1]."""
        alpha = self.alpha if alpha is None else alpha
        content_features = self.encoder(images)["relu4_1"]
        target = self._transfer(content_features, self.encoder(references)["relu4_1"])
        alpha = ops.cast(alpha, "float32")
        return ops.clip(self._decode(alpha * target + (1.0 - alpha) * content_features), -1.0, 1.0)

    def interpolate(self, images, styles, weights=None, alpha=None):
        """Content `images` [B,H,W,3] in a mix of several styles (paper sec. 7.3): each style (an image [1,h,w,3] or
        [B,h,w,3]) gives AdaIN targets that are averaged with `weights` (default equal; normalised to sum 1)."""
        if not styles:
            raise ValueError("`styles` must hold at least one style image. Received: styles=[]")
        weights = np.full(len(styles), 1.0 / len(styles)) if weights is None else np.asarray(weights, np.float64)
        if weights.shape != (len(styles),) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"`weights` must be {len(styles)} non-negative numbers, not all 0. "
                             f"Received: weights={weights.tolist()}")
        weights = weights / weights.sum()
        images = self._checked_images(images, "images", 3)
        padded, height, width = pad_to_multiple(images, self.size_multiple)
        content_features = self.encoder(padded)["relu4_1"]
        target = 0.0
        for weight, style in zip(weights, styles):
            style = self._checked_images(style, "styles", 3)
            target = target + float(weight) * self._transfer(content_features, self.encoder(style)["relu4_1"])
        alpha = ops.cast(self.alpha if alpha is None else alpha, "float32")
        out = ops.clip(self._decode(alpha * target + (1.0 - alpha) * content_features), -1.0, 1.0)
        return out[:, :height, :width, :]

    def translation_modes(self):
        reference = tf.TensorSpec([None, None, None, 3], tf.float32)
        return {
            # Image-only: the first style of the model's own bank (serving without a reference; the evaluate CLI).
            "stylize": TranslationMode(lambda images: self.stylize(images, self.style_bank[:1]),
                                       description=f"the first style of the model's bank ({self.styles})"),
            "reference": TranslationMode(lambda images, reference: self.stylize(images, reference),
                                         {REFERENCE: reference}, f"the style of a reference image (alpha "
                                                                 f"{self.alpha:g})", image_inputs=(REFERENCE,)),
            "reference_alpha": TranslationMode(
                lambda images, reference, alpha: self.stylize(images, reference, alpha),
                {REFERENCE: reference, ALPHA: tf.TensorSpec([], tf.float32)},
                "the style of a reference image at strength alpha (0: the content, 1: full style)",
                image_inputs=(REFERENCE,)),
        }

    def sample_grid(self, batch):
        content = batch["image"]
        style = tf.image.resize(self.style_bank[:1], tf.shape(content)[1:3])
        style = tf.repeat(tf.clip_by_value(style, -1, 1), tf.shape(content)[0], axis=0)
        return [content, style, self.translate(content, mode="reference", reference=style)]

    def get_config(self):
        return {**super().get_config(), "styles": self.styles, "base_filters": self.base_filters,
                "network": self.network, "weights": self.weights_source, "alpha": self.alpha}

