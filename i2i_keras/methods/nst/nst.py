import keras
import numpy as np
import tensorflow as tf
from keras import ops

from i2i_keras import losses
from i2i_keras.errors import ConfigError
from i2i_keras.methods.base import TranslationModel
from i2i_keras.methods.style_transfer import frozen_vgg
from i2i_keras.registry import register_method

PAPER_CONTENT_TAPS = ("relu4_2",)
PAPER_STYLE_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
TUTORIAL_CONTENT_TAPS = ("relu5_2",)
INITS = ("content", "style", "noise")
NOT_A_TRANSLATOR = ("nst optimises the pixels of one image for one content/style pair: it has no input -> output "
                    "network to translate with or to export. Its result is `model.result()` (and result.png of a "
                    "training run); `python -m i2i_keras.stylize` stylises a photo in one command. For a served, "
                    "feed-forward stylisation train `fast_style` (one style) or `adain` (any style, as a reference "
                    "image)")


@keras.saving.register_keras_serializable(package="i2i_keras")
class ClipToRange(keras.constraints.Constraint):
    """Clips a variable into [low, high] after every optimiser update (the TF tutorial's `clip_0_1` of its image)."""

    def __init__(self, low=-1.0, high=1.0):
        self.low = float(low)
        self.high = float(high)

    def __call__(self, w):
        return ops.clip(w, self.low, self.high)

    def get_config(self):
        return {"low": self.low, "high": self.high}


@register_method("nst")
class NST(TranslationModel):
    """Neural style transfer by optimisation (Gatys, Ecker and Bethge, CVPR 2016): the trainable variable is the
    generated image, and one `train_step` is one optimiser step on it, so `fit` (and `python -m i2i_keras.train
    --method nst`) gives the progress bar, TensorBoard losses and sample grids, checkpoints and `--resume` as for
    every method. `python -m i2i_keras.stylize` wraps it in one command.

    The features come from a frozen VGG (`i2i_keras.networks.pretrained.VGGFeatures`): the paper's VGG19 where the
    user gives its weights (`network: vgg19`, `weights: <file>`), else the offline torchvision VGG16 (no VGG19
    weights can be had offline): VGG16 has the same blocks and tap names up to relu5_1 but 3 (not 4) convolutions in
    blocks 3-5, so its relu4_2 and relu5_1 are one layer less deep. The content, style and TV targets are computed
    once, at construction, and kept as (non-trainable) model state.

    Loss terms:
        g_content: ``mean((F_l(x) - F_l(content))^2)`` over each content tap (paper: conv4_2, i.e. relu4_2; the TF
            tutorial's block5_conv2 is relu5_2).
        g_style: ``sum_l w_l mean((G_l(x) - G_l(style))^2)`` with `losses.gram_matrix` (normalised by H*W*C) over the
            style taps (paper and tutorial: relu1_1 .. relu5_1, w_l = 1/5 by default: `style_layer_weights`).
        g_tv: `losses.total_variation_loss` (power 1; the tutorial's total-variation term, a mean not a sum).
        Gatys weights content/style as alpha/beta = 1e-3 .. 1e-4 with his own Gram normalisation (1/(4 N^2 M^2));
        with this library's normalisation the default weights below were chosen so that the style term dominates
        at first and the content stays recognisable (`configs/nst/*.yaml` say which settings each uses).

    Optimisers: Adam with the TF tutorial's settings (lr 0.02, beta_1 0.99, epsilon 0.1: `optim.epsilon`), or
    L-BFGS (`optim.optimizer: lbfgs`, `i2i_keras.training.lbfgs.LBFGS`: the paper's optimiser, one gradient per
    step). After each step the image is clipped to [-1, 1] (a variable constraint, as the tutorial's `clip_0_1`).

    Args:
        content / style: image specs (`i2i_keras.data.style_images`: a file, ``embedded:starry_night``,
            ``embedded:photos/test/astronaut_0.png``, ...), read at construction.
        max_dim: the content image is resized so that its longer side is this many pixels (tutorial: 512);
            `style_max_dim` likewise for the style image (None: `max_dim`).
        network / weights: the VGG (see above); `weights="random"` is a randomly initialised VGG (tests of the
            plumbing only).
        content_taps / style_taps / style_layer_weights: the VGG taps (`available_taps`) and per-tap style weights
            (None: 1 / number of style taps each, the paper's w_l).
        init: the start image: "content" (tutorial), "style" (resized to the content's size) or "noise" (the
            paper's white noise, uniform in [-1, 1], from `seed`).
        preserve_color: `result()` keeps the content's colours: the result's luminance with the content's
            chrominance (YUV), the luminance-only transfer of Gatys et al., "Preserving Color in Neural Artistic
            Style Transfer" (2016), applied to the result.

    Batch format: the `single` data kind's `{"image": ...}` batches only clock the steps (`fit` needs a dataset);
    the content and style are the model's own images.

    Not a translator: `translation_modes()` is empty, `translate` raises and `export_for_serving` refuses it with
    the reason; the shared method suite skips its translate and export checks for that reason.

    Reference: Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016; the
    TensorFlow tutorial tensorflow/docs site/en/tutorials/generative/style_transfer.ipynb (read for its layers,
    Adam settings, clipping and total-variation term; keras-io examples/generative/neural_style_transfer.py too).
    """

    data_kind = "single"
    input_key = "image"
    default_loss_weights = {"g_content": 1.0, "g_style": 1.0e6, "g_tv": 0.1}
    not_a_translator = NOT_A_TRANSLATOR

    def __init__(self, content="embedded:photos/test/astronaut_0.png", style="embedded:starry_night", max_dim=512,
                 style_max_dim=None, network="vgg16", weights="offline", content_taps=PAPER_CONTENT_TAPS,
                 style_taps=PAPER_STYLE_TAPS, style_layer_weights=None, init="content", preserve_color=False,
                 **kwargs):
        super().__init__(**kwargs)
        from i2i_keras.data import style_images

        if init not in INITS:
            raise ConfigError(f"`init` must be one of {list(INITS)}. Received: init={init!r}", code="bad_value")
        for arg, value in (("max_dim", max_dim), ("style_max_dim", style_max_dim)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 16):
                raise ConfigError(f"`{arg}` must be an integer >= 16. Received: {arg}={value!r}", code="bad_value")
        self.content = content
        self.style = style
        self.max_dim = max_dim
        self.style_max_dim = style_max_dim
        self.network = network
        self.weights_source = weights
        self.content_taps = tuple(content_taps)
        self.style_taps = tuple(style_taps)
        if style_layer_weights is None:
            style_layer_weights = [1.0 / len(self.style_taps)] * len(self.style_taps) if self.style_taps else []
        try:
            self._style_weighted = losses.tap_weights(self.style_taps, style_layer_weights)
        except ValueError as e:
            raise ConfigError(f"`style_layer_weights`: {e}. Received: style_layer_weights={style_layer_weights!r}",
                              code="bad_value") from None
        self.style_layer_weights = [w for _, w in self._style_weighted]
        self.init = init
        self.preserve_color = bool(preserve_color)
        self.features = frozen_vgg(self, network, weights, self.content_taps + self.style_taps, rgb=False)
        content_image = style_images.load(content, max_dim)[None]
        style_image = style_images.load(style, style_max_dim or max_dim)[None]
        for what, image in (("content", content_image), ("style", style_image)):
            if min(image.shape[1:3]) < self.features.min_size:
                raise ConfigError(f"the {what} image is {image.shape[1]}x{image.shape[2]} after resizing; the taps "
                                  f"need at least {self.features.min_size} px a side (raise max_dim)",
                                  code="bad_value")
        self.content_image = self.add_constant(content_image, "content_image")
        self.style_image = self.add_constant(style_image, "style_image")
        content_features = self.features(content_image)
        style_features = self.features(style_image)
        self.content_targets = [self.add_constant(content_features[t], f"content_target_{t}")
                                for t in self.content_taps]
        self.style_grams = [self.add_constant(losses.gram_matrix(style_features[t]), f"style_gram_{t}")
                            for t in self.style_taps]
        self.image = self.add_weight(shape=content_image.shape, dtype="float32", name="image",
                                     initializer=keras.initializers.Constant(self._start(content_image, style_image)),
                                     constraint=ClipToRange(-1.0, 1.0))
        self.built = True

    def _start(self, content, style):
        if self.init == "content":
            return content
        if self.init == "style":
            return tf.clip_by_value(tf.image.resize(style, content.shape[1:3], method="bicubic"), -1, 1).numpy()
        return np.random.default_rng(self.seed or 0).uniform(-1, 1, content.shape).astype("float32")

    # ------------------------------------------------------------------ training
    def generator_variables(self):
        return [self.image]

    def generate(self, batch, training):
        return {"image": ops.convert_to_tensor(self.image)}

    def generator_losses(self, batch, outputs, training=True):
        image = outputs["image"]
        terms = {}
        if self.uses("g_content") or self.uses("g_style"):
            features = self.features(image)
        if self.uses("g_content"):
            terms["g_content"] = sum(losses.mse(features[tap], target)
                                     for tap, target in zip(self.content_taps, self.content_targets))
        if self.uses("g_style"):
            terms["g_style"] = losses.gram_distance(
                features, {tap: gram for tap, gram in zip(self.style_taps, self.style_grams)}, self._style_weighted)
        if self.uses("g_tv"):
            terms["g_tv"] = losses.total_variation_loss(image)
        return terms

    # ------------------------------------------------------------------ results
    def translation_modes(self):
        return {}

    def translate(self, images, mode=None, **kwargs):
        raise ConfigError(NOT_A_TRANSLATOR, code="not_a_translator")

    def call(self, inputs, training=False):
        return ops.convert_to_tensor(self.image)

    def predict_step(self, data):
        raise ConfigError(NOT_A_TRANSLATOR, code="not_a_translator")

    def result(self) -> np.ndarray:
        """The stylised image, float32 [H, W, 3] in [-1, 1] (with the content's colours under `preserve_color`)."""
        image = np.asarray(self.image.numpy()[0])
        if not self.preserve_color:
            return image
        return preserve_colors(image, np.asarray(self.content_image.numpy()[0]))

    def final_images(self) -> dict:
        return {"result.png": self.result()}

    def sample_grid(self, batch):
        content = self.content_image.numpy()
        style = tf.clip_by_value(tf.image.resize(self.style_image, content.shape[1:3]), -1, 1).numpy()
        return [content, style, self.result()[None]]

    def get_config(self):
        return {**super().get_config(), "content": self.content, "style": self.style, "max_dim": self.max_dim,
                "style_max_dim": self.style_max_dim, "network": self.network, "weights": self.weights_source,
                "content_taps": list(self.content_taps), "style_taps": list(self.style_taps),
                "style_layer_weights": list(self.style_layer_weights), "init": self.init,
                "preserve_color": self.preserve_color}


def preserve_colors(stylised, content):
    """Luminance-only transfer: the stylised image's Y with the content's U and V (YUV, BT.601), in [-1, 1]."""
    stylised = tf.image.rgb_to_yuv((np.asarray(stylised) + 1.0) / 2.0)
    content = tf.image.rgb_to_yuv((np.asarray(content) + 1.0) / 2.0)
    mixed = tf.concat([stylised[..., :1], content[..., 1:]], axis=-1)
    return np.clip(tf.image.yuv_to_rgb(mixed).numpy() * 2.0 - 1.0, -1.0, 1.0).astype("float32")
