from keras import ops

from i2i_keras import losses
from i2i_keras.errors import ConfigError
from i2i_keras.methods.base import TranslationMode, TranslationModel, check_positive_ints
from i2i_keras.methods.style_transfer import frozen_vgg
from i2i_keras.networks.style_transfer import transformer_net
from i2i_keras.registry import register_method

STYLE_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_TAPS = ("relu2_2",)


@register_method("fast_style")
class FastStyle(TranslationModel):
    """Fast (feed-forward) style transfer: Johnson, Alahi and Fei-Fei, "Perceptual Losses for Real-Time Style
    Transfer and Super-Resolution", ECCV 2016. One transformer network per style, trained on content photos; at
    inference one forward pass stylises an image of any size (sides padded to multiples of 4).

    Network: `networks.style_transfer.transformer_net` (9x9 conv, two stride-2 convs, 5 residual blocks, two
    upsample-convs, instance norm with affine parameters, reflection padding), as pytorch/examples
    fast_neural_style/neural_style/transformer_net.py (1,679,235 parameters at width 32), with a tanh output.

    Loss terms (VGG16, the paper's and the reference's network: the offline torchvision VGG16 by default):
        g_content: ``mean((phi_relu2_2(y) - phi_relu2_2(x))^2)`` (feature reconstruction at relu2_2).
        g_style: ``sum_l mean((G(phi_l(y)) - G(phi_l(s)))^2)`` over relu1_2, relu2_2, relu3_3, relu4_3 with
            `losses.gram_matrix` (normalised by H*W*C, as the reference's `gram_matrix`); the style's Gram matrices
            are computed once, at construction, and kept as model state.
        g_tv: `losses.total_variation_loss` (the paper's total-variation regulariser; the PyTorch example has none,
            its weight here is this library's choice).
        Weights: the reference `neural_style.py` defaults (content 1e5, style 1e10) on the same feature scale
        (torchvision normalisation of RGB in [0, 1]).

    Args:
        style: the style image spec (`i2i_keras.data.style_images`, e.g. ``embedded:starry_night``).
        style_size: the style image is resized so its longer side is this (the reference's `--style-size`).
        base_filters / num_blocks: network width (paper 32) and residual blocks (paper 5).
        network / weights: the loss network (`VGGFeatures`); "random" = a random VGG (tests of the plumbing only).
        (and the base-class arguments: image_size, in_channels, out_channels, loss_weights, seed)

    Batch format (data kind "single"): `{"image": [B,H,W,3]}` content images in [-1, 1].

    Translation mode: `stylize` (images -> the images in the model's style, same size); exported like any
    translator.

    Reference: the paper (sec. 3, the appendix's network); code pytorch/examples fast_neural_style
    (transformer_net.py, neural_style.py: Adam lr 1e-3, batch 4, 256 px COCO crops, 2 epochs).
    """

    data_kind = "single"
    input_key = "image"
    default_loss_weights = {"g_content": 1.0e5, "g_style": 1.0e10, "g_tv": 1.0e3}

    def __init__(self, style="embedded:starry_night", style_size=256, base_filters=32, num_blocks=5,
                 network="vgg16", weights="offline", **kwargs):
        super().__init__(**kwargs)
        from i2i_keras.data import style_images

        check_positive_ints(style_size=style_size, base_filters=base_filters, num_blocks=num_blocks)
        self.style = style
        self.style_size = style_size
        self.base_filters = base_filters
        self.num_blocks = num_blocks
        self.network = network
        self.weights_source = weights
        self.features = frozen_vgg(self, network, weights, STYLE_TAPS + CONTENT_TAPS)
        style_image = style_images.load(style, style_size)[None]
        if min(style_image.shape[1:3]) < self.features.min_size:
            raise ConfigError(f"the style image is {style_image.shape[1]}x{style_image.shape[2]} after resizing; "
                              f"the taps need {self.features.min_size} px a side (raise style_size)",
                              code="bad_value")
        style_features = self.features(style_image)
        self.style_grams = [self.add_constant(losses.gram_matrix(style_features[tap]), f"style_gram_{tap}")
                            for tap in STYLE_TAPS]
        self.transformer = transformer_net(3, base_filters, num_blocks, name="transformer")
        self.built = True

    @property
    def size_multiple(self):
        return 4

    def generator_variables(self):
        return self.transformer.trainable_variables

    def generate(self, batch, training):
        return {"output": self.transformer(batch["image"], training=training)}

    def generator_losses(self, batch, outputs, training=True):
        output = ops.cast(outputs["output"], "float32")
        count = ops.shape(output)[0]
        both = self.features(ops.concatenate([output, ops.cast(batch["image"], "float32")], axis=0))
        features = {tap: value[:count] for tap, value in both.items()}
        terms = {}
        if self.uses("g_content"):
            terms["g_content"] = sum(losses.mse(features[tap], ops.stop_gradient(both[tap][count:]))
                                     for tap in CONTENT_TAPS)
        if self.uses("g_style"):
            terms["g_style"] = losses.gram_distance(features, dict(zip(STYLE_TAPS, self.style_grams)),
                                                    losses.tap_weights(STYLE_TAPS))
        if self.uses("g_tv"):
            terms["g_tv"] = losses.total_variation_loss(output)
        return terms

    def style_distance(self, images):
        """The g_style term of `images` (float [B,H,W,3] in [-1, 1]) against the model's style."""
        return losses.gram_distance(self.features(images), dict(zip(STYLE_TAPS, self.style_grams)),
                                    losses.tap_weights(STYLE_TAPS))

    def translation_modes(self):
        return {"stylize": TranslationMode(lambda images: self.transformer(images, training=False),
                                           description=f"the style of {self.style}")}

    def sample_grid(self, batch):
        return [batch["image"], self.translate(batch["image"])]

    def get_config(self):
        return {**super().get_config(), "style": self.style, "style_size": self.style_size,
                "base_filters": self.base_filters, "num_blocks": self.num_blocks, "network": self.network,
                "weights": self.weights_source}
