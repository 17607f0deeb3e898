"""`psp`: pixel2style2pixel, image-to-image translation through a frozen, library-trained StyleGAN."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from i2i_keras import losses
from i2i_keras import storage
from i2i_keras.errors import ConfigError
from i2i_keras.layers import NORMS
from i2i_keras.methods.base import (NUM_SAMPLES, REFERENCE, SEED, TranslationMode, TranslationModel,
                                    check_positive_ints)
from i2i_keras.methods.psp import networks
from i2i_keras.methods.stylegan import networks as stylegan_networks
from i2i_keras.registry import register_method

DATA_KINDS = ("paired", "single")
# The stylegan options the frozen generator copy needs (its architecture); the rest of a stylegan's config is
# training state that psp never uses.
GENERATOR_OPTIONS = ("image_size", "out_channels", "style_dim", "mapping_layers", "mapping_lr_mul", "channel_base",
                     "max_channels", "style_injection")
# Tag of the stateless draw of the fine styles' z from a mode's seed (as stylegan's Z_TAG = 0 draws its z's).
Z_TAG = 0


def resolve_stylegan_path(path) -> str:
    """The `.keras` file of `model.stylegan`: a training run directory (its `model.keras`, written by
    `i2i_keras.training.loop`) or a `.keras` file; a `.yaml` names a stylegan config (`load_stylegan`)."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"`model.stylegan` must name a trained stylegan: a run directory holding model.keras, a "
                          f".keras file, or a stylegan config .yaml. Received: stylegan={path!r}", code="bad_value")
    if path.endswith((".yaml", ".yml")):
        return path
    candidate = storage.join(path, "model.keras") if storage.isdir(path) else path
    if not candidate.endswith(".keras") or not storage.exists(candidate):
        if storage.isdir(path):
            why = "no model.keras in it"
        elif not storage.exists(candidate):
            why = "not found"
        else:
            why = "not a .keras file"
        raise ConfigError(f"`model.stylegan` must be a stylegan run directory holding model.keras or a .keras file. "
                          f"Received: stylegan={path!r} ({why})", code="missing_stylegan")
    return candidate


def load_stylegan(path: str):
    """The stylegan model named by `model.stylegan` (`resolve_stylegan_path`). A config `.yaml` (looked up as given,
    then under the configs folder, e.g. "tiny/stylegan.yaml") builds an *untrained* generator of that architecture,
    for smoke runs and the shared method suite only: its translations mean nothing until trained."""
    from i2i_keras.methods.stylegan.stylegan import StyleGAN

    resolved = resolve_stylegan_path(path)
    if resolved.endswith((".yaml", ".yml")):
        from i2i_keras.config import configs_root, load_config
        from i2i_keras.methods.base import build_model

        if not storage.exists(resolved):
            resolved = storage.join(configs_root(), resolved)
        cfg = load_config(resolved)
        if cfg.method != "stylegan":
            raise ConfigError(f"`model.stylegan` config {path!r} must be a stylegan config. Received: "
                              f"method={cfg.method!r}", code="bad_value")
        return build_model(cfg)
    try:
        model = keras.saving.load_model(resolved, compile=False)
    except Exception as error:  # a corrupt or foreign file: say which and what was expected
        raise ConfigError(f"`model.stylegan` {resolved!r} could not be loaded as a stylegan model "
                          f"({type(error).__name__}: {error})", code="bad_stylegan") from error
    if not isinstance(model, StyleGAN):
        raise ConfigError(f"`model.stylegan` must be a stylegan model. Received: {resolved!r} holds a "
                          f"{type(model).__name__} ({getattr(model, 'method_name', None)!r})", code="bad_stylegan")
    return model


@register_method("psp")
class PSP(TranslationModel):
    """pixel2style2pixel (Richardson et al., CVPR 2021, https://arxiv.org/abs/2008.00951): an encoder maps an
    image straight into the W+ space of a frozen, pretrained StyleGAN, whose synthesis network renders the output.

    Read for this module: eladrich/pixel2style2pixel `models/psp.py` (pSp.forward: codes = encoder(x) + latent_avg
    with `start_from_latent_avg`; style mixing of random latents into the layers of `latent_mask` for multi-modal
    synthesis; input_nc), `models/encoders/psp_encoders.py` (GradualStyleEncoder, GradualStyleBlock),
    `models/encoders/helpers.py` (IR / IR-SE blocks), `training/coach.py` (calc_loss: F.mse_loss l2, lpips, id,
    w_norm terms, each times its lambda), `options/train_options.py` (defaults: l2_lambda 1.0, lpips_lambda 0.8,
    id_lambda 0.1, w_norm_lambda 0, Ranger, lr 1e-4, batch_size 4, `--start_from_latent_avg` a flag), the
    repository's README.md (its training commands: batch 8 and `--start_from_latent_avg` for every task; conditional
    synthesis adds w_norm_lambda 0.005 and style mixing into latents 8-17 at inference) and `criteria/w_norm.py`
    (WNormLoss: mean over the batch of ||w - latent_avg||_2 over the flattened W+ codes).

    The generator: `stylegan` names a library-trained stylegan (`model.keras` of its run directory, or a `.keras`
    file). Its EMA synthesis network, EMA mapping network (for the random fine styles of `translate_sample`), the
    average w and the fixed noise buffers are copied into this model, frozen (never in `generator_variables`, not
    trained), so the psp `.keras` file and its SavedModel export are self-contained. `get_config` stores the path
    and the generator's architecture (`stylegan_architecture`); `from_config` (loading a psp `.keras` file) builds
    the networks from that architecture without reading the stylegan file, and the weights come from the psp file:
    a saved psp model loads after its stylegan file is gone.

    Encoder (`networks.py`): the GradualStyleEncoder, an IR-SE backbone (`widths`, `blocks`, `se`, `norm`; paper:
    IR-SE50, widths 64/128/256/512, blocks 3/4/14/3, batch norm) with a three-level feature pyramid, one map2style
    block per style of the generator (num_ws = 2 log2(size) - 2, `stylegan.networks.num_latents`): the first
    `coarse_styles` (3) from the deepest map, the next `medium_styles` (4) from the middle one, the rest from the
    shallowest. With `start_from_latent_avg` (paper: true) the codes are offsets from the generator's average w.
    Noise inputs: in training, fresh random noise per step (`randomize_noise`, the reference's decoder default in
    training); every mode uses the stylegan's fixed noise buffers (deterministic, as pSp's inference script's
    `randomize_noise=False`), so Python, the export and a server give the same images.

    Sizes: the generator renders at its own resolution (`resolution`). As pSp (inputs resized to 256, the 1024
    output pooled to 256 for the losses), training resizes the source crops (`image_size`) to the generator's
    resolution and the output to the target's size; every mode resizes its input (and `reference`) bilinearly to
    the generator's resolution, renders, and resizes the result back to the input's size, so `translate` keeps the
    library's contract (output size = input size) for any input size. Crops of the generator's resolution need no
    resizing (the default and tiny configs).

    The encoder starts from random weights: the reference initialises the IR-SE50 backbone from ArcFace face
    recognition weights (`model_paths['ir_se50']`), which are not available offline.

    Losses (no discriminator): `g_l2` (pixel MSE, 1.0), `g_lpips` (LPIPS VGG, 0.8; the reference uses LPIPS-alex,
    the library's offline LPIPS is the VGG one), `g_w_norm` (0; ||w - w_avg||, criteria/w_norm.py). pSp's identity
    (ArcFace, faces only) and MoCo losses are left out.

    Data kinds (`data_kind`): "paired" (`{"source", "target"}`: source -> target, e.g. the embedded gray2color
    set) or "single" (`{"image"}`: inversion, the target is the input).

    Modes (image modes):
        translate(images) -> [B, H, W, C]: encode, synthesise.
        translate_sample(images, num_samples, seed) -> [B, N, H, W, C]: the styles of layers < `mix_layer` from the
            encoder, the rest from N random z's (stateless, from `seed`) through the frozen mapping network (pSp's
            multi-modal synthesis with mix_alpha 1); sample n does not depend on num_samples.
        translate_reference(images, reference) -> [B, H, W, C]: the styles of layers >= `mix_layer` from the
            encoded `reference` (one image for the batch, or one per image).

    Args:
        stylegan: the trained stylegan (run directory or .keras file; a stylegan config .yaml builds an untrained
            generator of that architecture, for smoke runs).
        data_kind: "paired" or "single".
        widths / blocks: the four backbone stages' widths and IR blocks.
        se: squeeze-excitation in the IR blocks (IR-SE).
        norm: the backbone's normalisation ("batch" as the reference; "none" / "instance" for tiny runs).
        coarse_styles / medium_styles: styles from the deepest / middle pyramid level (3 / 4).
        start_from_latent_avg: add the generator's average w to the codes.
        randomize_noise: random noise inputs in training (else the fixed buffers, as in the modes).
        mix_layer: first layer whose styles `translate_sample` / `translate_reference` replace (None: the first
            fine style, coarse_styles + medium_styles, at most num_ws - 1).
        stylegan_architecture: set by `get_config`; when given, the generator copy is built from it and the
            stylegan file is not read (its weights come from the psp file being loaded).
    """

    # The class defaults; `data_kind="single"` sets the instance's (inversion: `{"image"}` batches).
    data_kind = "paired"
    input_key = "source"
    paired_metrics = True
    default_loss_weights = {"g_l2": 1.0, "g_lpips": 0.8, "g_w_norm": 0.0}

    def __init__(self, stylegan=None, data_kind="paired", widths=(64, 128, 256, 512), blocks=(3, 4, 14, 3), se=True,
                 norm="batch", coarse_styles=3, medium_styles=4, start_from_latent_avg=True, mix_layer=None,
                 randomize_noise=True, stylegan_architecture=None, **kwargs):
        super().__init__(**kwargs)
        if data_kind not in DATA_KINDS:
            raise ConfigError(f"`data_kind` must be one of {list(DATA_KINDS)}. Received: data_kind={data_kind!r}",
                              code="bad_value")
        widths, blocks = list(widths), list(blocks)
        if len(widths) != 4 or len(blocks) != 4:
            raise ConfigError(f"`widths` and `blocks` must list the backbone's 4 stages. Received: widths={widths}, "
                              f"blocks={blocks}", code="bad_value")
        check_positive_ints(**{f"widths[{i}]": w for i, w in enumerate(widths)},
                            **{f"blocks[{i}]": b for i, b in enumerate(blocks)},
                            coarse_styles=coarse_styles)
        if isinstance(medium_styles, bool) or not isinstance(medium_styles, int) or medium_styles < 0:
            raise ConfigError(f"`medium_styles` must be a non-negative integer. Received: "
                              f"medium_styles={medium_styles!r}", code="bad_value")
        if norm not in NORMS:
            raise ConfigError(f"`norm` must be one of {list(NORMS)}. Received: norm={norm!r}", code="bad_value")
        self.stylegan_path, self.data_kind = stylegan, data_kind
        self.input_key = "source" if data_kind == "paired" else "image"
        self.widths, self.blocks, self.se, self.norm = widths, blocks, bool(se), norm
        self.coarse_styles, self.medium_styles = coarse_styles, medium_styles
        self.start_from_latent_avg = bool(start_from_latent_avg)
        self.randomize_noise = bool(randomize_noise)
        self.noise_resolutions = None
        source = None
        if stylegan_architecture is None:
            source = load_stylegan(stylegan)
            stylegan_architecture = {key: getattr(source, key) for key in GENERATOR_OPTIONS}
        self.stylegan_architecture = arch = dict(stylegan_architecture)
        self.resolution = size = int(arch["image_size"])
        if size < 16 or self.image_size < 16:
            raise ConfigError(f"psp needs a generator and training crops of at least 16 px (the encoder's four "
                              f"stride-2 stages, LPIPS). Received: the stylegan's image_size={size}, "
                              f"image_size={self.image_size}", code="bad_value")
        if int(arch["out_channels"]) != self.out_channels:
            raise ConfigError(f"out_channels must be the stylegan's channels ({arch['out_channels']}). "
                              f"Received: out_channels={self.out_channels}", code="bad_value")
        if data_kind == "single" and self.in_channels != self.out_channels:
            raise ConfigError(f"data_kind 'single' inverts images: in_channels must equal out_channels. Received: "
                              f"in_channels={self.in_channels}, out_channels={self.out_channels}", code="bad_value")
        self.style_dim = int(arch["style_dim"])
        self.num_ws = stylegan_networks.num_latents(size)
        default_mix = min(coarse_styles + medium_styles, self.num_ws - 1)
        self.mix_layer = default_mix if mix_layer is None else mix_layer
        if isinstance(self.mix_layer, bool) or not isinstance(self.mix_layer, int) or \
                not 0 <= self.mix_layer <= self.num_ws:
            raise ConfigError(f"`mix_layer` must be null or an integer in [0, {self.num_ws}] (the generator's "
                              f"styles). Received: mix_layer={mix_layer!r}", code="bad_value")
        self._mix_layer_option = mix_layer
        self.encoder = networks.gradual_style_encoder(size, self.in_channels, self.num_ws, self.style_dim, widths,
                                                      blocks, coarse_styles, medium_styles, norm, self.se)
        injection = arch["style_injection"]
        self.synthesis = stylegan_networks.synthesis_network(size, self.style_dim, arch["channel_base"],
                                                             arch["max_channels"], self.out_channels, injection,
                                                             name="synthesis")
        self.mapping = stylegan_networks.mapping_network(self.style_dim, arch["mapping_layers"],
                                                         float(arch["mapping_lr_mul"]), name="mapping")
        for net in (self.synthesis, self.mapping):
            net.trainable = False
        self.noise_resolutions = resolutions = stylegan_networks.noise_resolutions(size, injection)
        self.w_avg = self.add_constant(np.zeros(self.style_dim), "w_avg")
        self.noise_buffers = [self.add_constant(np.zeros((1, r, r, 1)), f"noise_{k}")
                              for k, r in enumerate(resolutions)]
        if source is not None:
            self._copy_generator(source)
        self._lpips = None
        self.built = True

    def _copy_generator(self, source):
        """Copies the stylegan's EMA synthesis and mapping, its average w and noise buffers into the frozen copy."""
        for target, origin in ((self.synthesis, source.synthesis_ema), (self.mapping, source.mapping_ema)):
            for mine, theirs in zip(target.weights, origin.weights):
                mine.assign(theirs)
        self.w_avg.assign(source.w_avg)
        for mine, theirs in zip(self.noise_buffers, source.noise_buffers):
            mine.assign(theirs)

    # ------------------------------------------------------------------ contract
    def generator_variables(self):
        return self.encoder.trainable_weights

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        if self.uses("g_lpips"):
            self._lpips_metric()  # built here, outside the traced training step

    def _lpips_metric(self):
        """The LPIPS of `g_lpips` (offline weights), built once."""
        if self._lpips is None:
            from i2i_keras.metrics import LPIPS

            self._lpips = LPIPS()
        return self._lpips

    def prepare_batch(self, data):
        batch = super().prepare_batch(data)
        if self.data_kind == "single":
            return {"source": batch["image"], "target": batch["image"]}
        return batch

    def encode(self, images, training=False):
        """W+ codes [B, num_ws, style_dim] of images at the generator's resolution (w_avg added when
        `start_from_latent_avg`)."""
        codes = ops.cast(self.encoder(images, training=training), "float32")
        return codes + self.w_avg if self.start_from_latent_avg else codes

    def synthesise(self, ws, random_noise=False):
        """Images [B, size, size, C] of W+ codes through the frozen synthesis, with the fixed noise buffers (or, with
        `random_noise`, fresh N(0, 1) noise inputs from the model's seed state)."""
        count = tf.shape(ws)[0]
        if random_noise:
            noises = [self.random_normal((count, r, r, 1)) for r in self.noise_resolutions]
        else:
            noises = [tf.tile(buffer, tf.stack([count, 1, 1, 1])) for buffer in self.noise_buffers]
        return ops.cast(self.synthesis([ws, *noises], training=False), "float32")

    def generate(self, batch, training):
        """pSp's forward pass: the source resized to the generator's resolution, encoded, synthesised, and the
        output resized to the target's size (the reference's 256 px input and `face_pool` of the output)."""
        source = batch["source"]
        if source.shape[1] != self.resolution or source.shape[2] != self.resolution:
            source = self._resized(source, (self.resolution, self.resolution))
        ws = self.encode(source, training=training)
        fake = self.synthesise(ws, random_noise=training and self.randomize_noise)
        target = batch["target"]
        if target.shape[1] != self.resolution or target.shape[2] != self.resolution:
            fake = tf.image.resize(fake, tf.shape(target)[1:3], method="bilinear", antialias=True)
        return {"fake": fake, "ws": ws}

    def generator_losses(self, batch, outputs, training=True):
        fake, target = outputs["fake"], ops.cast(batch["target"], "float32")
        values = {}
        if self.uses("g_l2"):
            values["g_l2"] = losses.mse(fake, target)
        if self.uses("g_lpips"):
            values["g_lpips"] = ops.mean(self._lpips_metric().distance(fake, target))
        if self.uses("g_w_norm"):
            # criteria/w_norm.py: the codes' distance from the average w (from 0 without start_from_latent_avg).
            offsets = outputs["ws"] - self.w_avg if self.start_from_latent_avg else outputs["ws"]
            values["g_w_norm"] = ops.mean(ops.sqrt(ops.sum(ops.square(offsets), axis=[1, 2])))
        return values

    def evaluation_pairs(self, batch, outputs):
        return [(ops.clip(outputs["fake"], -1.0, 1.0), batch["target"])]

    # ------------------------------------------------------------------ inference
    def _resized(self, images, size):
        return tf.image.resize(ops.cast(images, "float32"), size, method="bilinear", antialias=True)

    def _rendered(self, ws, height, width):
        images = ops.clip(self.synthesise(ws), -1.0, 1.0)
        if height is None:
            return images
        return ops.clip(tf.image.resize(images, tf.stack([height, width]), method="bilinear", antialias=True),
                        -1.0, 1.0)

    def _encoded_input(self, images):
        """(W+ codes of images resized to the generator's resolution, the input's height, width)."""
        shape = tf.shape(images)
        size = (self.resolution, self.resolution)
        return self.encode(self._resized(images, size)), shape[1], shape[2]

    def mixed(self, ws, other):
        """Layers < mix_layer keep `ws` [B, L, D]; the others take `other` (broadcastable to ws)."""
        layers = ops.arange(self.num_ws)[None, :, None]
        return ops.where(layers < self.mix_layer, ws, other)

    def _translate(self, images):
        ws, height, width = self._encoded_input(images)
        return self._rendered(ws, height, width)

    def _sample(self, images, num_samples, seed):
        ws, height, width = self._encoded_input(images)
        count = tf.cast(num_samples, tf.int32)
        seed_pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(Z_TAG, tf.int64)])
        z = tf.random.stateless_normal(tf.stack([count, self.style_dim]), seed_pair)
        w = ops.cast(self.mapping(z, training=False), "float32")  # [N, D]
        batch = tf.shape(ws)[0]
        mixed = self.mixed(ws[:, None], w[None, :, None, :])  # [B, N, L, D]
        flat = tf.reshape(mixed, tf.stack([batch * count, self.num_ws, self.style_dim]))
        out = self._rendered(flat, height, width)
        return tf.reshape(out, tf.concat([tf.stack([batch, count]), tf.shape(out)[1:]], axis=0))

    def _reference(self, images, reference):
        batch, ref_batch = images.shape[0], reference.shape[0]
        if batch is not None and ref_batch is not None and ref_batch not in (1, batch):
            raise ValueError(f"`{REFERENCE}` must hold one image, or one per input image ({batch}). "
                             f"Received: {REFERENCE}.shape={tuple(reference.shape)}")
        ws, height, width = self._encoded_input(images)
        ref_ws = self.encode(self._resized(reference, (self.resolution, self.resolution)))
        return self._rendered(self.mixed(ws, ref_ws), height, width)

    def translation_modes(self):
        return {
            "translate": TranslationMode(self._translate, description="encode into W+, synthesise"),
            "translate_sample": TranslationMode(
                self._sample, {NUM_SAMPLES: tf.TensorSpec([], tf.int32), SEED: tf.TensorSpec([], tf.int64)},
                multiple_outputs=True,
                description=f"encoded styles below layer {self.mix_layer}, random styles from {SEED} above"),
            "translate_reference": TranslationMode(
                self._reference, {REFERENCE: tf.TensorSpec([None, None, None, self.in_channels], tf.float32)},
                image_inputs=(REFERENCE,),
                description=f"encoded styles below layer {self.mix_layer}, the reference's styles above"),
        }

    def sample_grid(self, batch):
        batch = self.prepare_batch(batch)
        columns = [batch["source"], self.translate(batch["source"])]
        return columns + ([batch["target"]] if self.data_kind == "paired" else [])

    def get_config(self):
        return {**super().get_config(), "stylegan": self.stylegan_path, "data_kind": self.data_kind,
                "widths": list(self.widths), "blocks": list(self.blocks), "se": self.se, "norm": self.norm,
                "coarse_styles": self.coarse_styles, "medium_styles": self.medium_styles,
                "start_from_latent_avg": self.start_from_latent_avg, "mix_layer": self._mix_layer_option,
                "randomize_noise": self.randomize_noise,
                "stylegan_architecture": dict(self.stylegan_architecture)}

    def metadata(self):
        return {**super().metadata(), "style_dim": self.style_dim, "num_ws": self.num_ws,
                "generator_size": self.resolution}
