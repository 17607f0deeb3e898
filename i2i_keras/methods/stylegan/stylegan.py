"""`stylegan`: an unconditional style-based generator trained on a folder of images (StyleGAN / StyleGAN2)."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from i2i_keras import losses
from i2i_keras.errors import ConfigError
from i2i_keras.methods.base import (CROSSOVER, NUM_SAMPLES, SEED, SEED_COARSE, SEED_FINE, TRUNCATION_PSI,
                                    TranslationMode, TranslationModel, check_positive_ints,
                                    reference_discriminator_loss)
from i2i_keras.methods.stylegan import networks
from i2i_keras.registry import register_method

# Tag of the stateless draw of z from a mode's seed: z = stateless_normal(seed=(seed, Z_TAG)).
Z_TAG = 0


@register_method("stylegan")
class StyleGAN(TranslationModel):
    """StyleGAN2 (Karras et al., CVPR 2020, https://arxiv.org/abs/1912.04958), or StyleGAN's AdaIN synthesis
    (Karras et al., CVPR 2019, https://arxiv.org/abs/1812.04948) with `style_injection="adain"`.

    Networks (`networks.py`, after rosinality/stylegan2-pytorch `model.py` and NVlabs/stylegan
    `training/networks_stylegan.py`): a mapping network (pixel-normalised z, `mapping_layers` equalised dense layers
    with leaky ReLU and learning-rate multiplier `mapping_lr_mul`) gives w; the synthesis network starts from a
    learned 4x4 constant and injects one w per layer, by modulated/demodulated convolution (StyleGAN2) or AdaIN
    after instance norm (StyleGAN), adds per-layer noise inputs scaled by a learned strength (one number per layer
    in StyleGAN2, one per channel in StyleGAN) and, in StyleGAN2, sums the upsampled toRGB outputs of every
    resolution (skip architecture; StyleGAN has one toRGB at the end). The discriminator is StyleGAN2's residual
    network with minibatch standard deviation. All weights use the equalised learning rate.

    Training (after rosinality `train.py`): non-saturating logistic loss (`g_adv`, `d_adv`), R1 on real images
    (`d_r1`, weight gamma / 2 = 5 for gamma 10) with lazy regularisation: on every `r1_interval`-th step (16) the
    penalty, multiplied by the interval, joins that step's discriminator loss (the reference takes an extra
    Adam step for it and corrects the betas and rate by interval / (interval + 1); one update per step keeps the
    method's optimizer counts, checkpoints and resume like every other method's, and needs no correction); style
    mixing regularisation: with probability `mixing_prob` (0.9) a sample takes the styles of a second z from a
    random crossover layer on (drawn per sample, not per batch, so N replicas draw what one device draws); the
    discriminator is updated first on each batch, on the same fakes. After each step an exponential moving average
    of the generator (`ema_decay`; rosinality 0.5 ** (32 / 10000) for batch 32) is updated: the EMA generator is
    the one every mode, sample grid, export and evaluation uses. The average w (`w_avg`, for truncation) is an EMA
    (`w_avg_decay` 0.995, NVlabs `dlatent_avg_beta`) of the batch mean of the mapped w's, as NVlabs' G does.
    Path-length regularisation (`g_path`, off by default; paper config 2 as rosinality's `--path_regularize`) is
    lazy the same way: every `path_interval`-th step (4) the penalty on a fresh batch `path_batch_shrink` (2) times
    smaller, times the interval, joins that step's generator loss.

    Args:
        style_dim: length of z and w (paper 512).
        mapping_layers: dense layers of the mapping network (paper 8).
        mapping_lr_mul: learning-rate multiplier of the mapping network (paper 0.01).
        channel_base / max_channels: feature maps at resolution r are min(max_channels, channel_base // r), in the
            synthesis and the discriminator (rosinality's table: 32768 and 512, channel multiplier 2).
        style_injection: "modulated" (StyleGAN2) or "adain" (StyleGAN).
        mixing_prob: style-mixing probability in training (0.9).
        r1_interval: steps between R1 penalties (16; 1 = every step).
        ema_decay: decay of the generator's EMA per step, in [0, 1).
        w_avg_decay: decay of the tracked average w per step, in [0, 1).
        truncation_cutoff: truncation applies to the first this many layers' styles (None: all; NVlabs
            `truncation_cutoff`).
        mbstd_group / mbstd_features: minibatch standard deviation group size (4) and features (1).
        path_interval / path_batch_shrink: steps between path-length penalties (4) and the batch shrink (2).
        (and the base-class arguments: image_size (a power of 2, >= 8), in_channels = out_channels, loss_weights,
        seed)

    Batch format (data kind "single"): `{"image": [B, size, size, C]}` real images in [-1, 1].

    Modes (no input image, `takes_images=False`; z is a stateless draw from (seed, 0) and the noise inputs are
    fixed buffers drawn once at construction and saved with the model (rosinality's `noises` buffers,
    `randomize_noise=False`), so the same inputs give the same images in Python, the export and a server, and
    truncation_psi = 0 gives the same image for every seed):
        generate(num_samples, seed, truncation_psi) -> [num_samples, size, size, C]; sample i does not depend on
            num_samples (the draws are prefixes of one stream).
        mix(seed_coarse, seed_fine, crossover, truncation_psi) -> [1, size, size, C]: layers < crossover take the
            w of seed_coarse, the others the w of seed_fine, so crossover = `num_latents` is exactly
            `generate(1, seed_coarse, psi)`.
    In Python: `sample(num_samples, seed, truncation_psi=1.0)` and `mix_styles(seed_coarse, seed_fine, crossover,
    truncation_psi=1.0)`; `project(image, ...)` inverts an image into W or W+ (`projector.py`).

    Example:
        model = StyleGAN(image_size=32, style_dim=64, mapping_layers=4, channel_base=1024, max_channels=64)
        model.compile(keras.optimizers.Adam(2e-3, 0.0, 0.99), keras.optimizers.Adam(2e-3, 0.0, 0.99))
        model.fit(single_image_dataset, steps_per_epoch=100)
        images = model.sample(8, seed=1, truncation_psi=0.7)             # [8, 32, 32, 3] in [-1, 1]
        mixed = model.mix_styles(seed_coarse=1, seed_fine=2, crossover=4)

    Reference: Karras, Laine, Aila, "A Style-Based Generator Architecture for Generative Adversarial Networks",
    CVPR 2019; Karras, Laine, Aittala, Hellsten, Lehtinen, Aila, "Analyzing and Improving the Image Quality of
    StyleGAN", CVPR 2020 (sec. 2.2 demodulation, sec. 3.1 lazy regularisation, sec. 4.1 skip generator and residual
    discriminator); code https://github.com/rosinality/stylegan2-pytorch (`model.py`, `train.py`) and
    https://github.com/NVlabs/stylegan (`training/networks_stylegan.py`).
    """

    data_kind = "single"
    input_key = "image"
    # rosinality train.py: the discriminator step, then the generator step, on each batch.
    update_discriminator_first = True
    default_loss_weights = {"g_adv": 1.0, "g_path": 0.0, "d_adv": 1.0, "d_r1": 5.0}

    def __init__(self, style_dim=512, mapping_layers=8, mapping_lr_mul=0.01, channel_base=32768, max_channels=512,
                 style_injection="modulated", mixing_prob=0.9, r1_interval=16, ema_decay=0.998, w_avg_decay=0.995,
                 truncation_cutoff=None, mbstd_group=4, mbstd_features=1, path_interval=4, path_batch_shrink=2,
                 **kwargs):
        super().__init__(**kwargs)
        check_positive_ints(style_dim=style_dim, mapping_layers=mapping_layers, channel_base=channel_base,
                            max_channels=max_channels, r1_interval=r1_interval, mbstd_group=mbstd_group,
                            mbstd_features=mbstd_features, path_interval=path_interval,
                            path_batch_shrink=path_batch_shrink)
        if style_injection not in networks.INJECTIONS:
            raise ConfigError(f"`style_injection` must be one of {list(networks.INJECTIONS)}. "
                              f"Received: style_injection={style_injection!r}", code="bad_value")
        size = self.image_size
        if size < 8 or size & (size - 1):
            raise ConfigError(f"stylegan's image_size must be a power of 2, at least 8 (the synthesis doubles a 4x4 "
                              f"constant). Received: image_size={size}", code="bad_value")
        if self.in_channels != self.out_channels:
            raise ConfigError(f"stylegan generates and judges images of one kind: in_channels must equal "
                              f"out_channels. Received: in_channels={self.in_channels}, "
                              f"out_channels={self.out_channels}", code="bad_value")
        _check_fraction("mapping_lr_mul", mapping_lr_mul, open_low=True, high=math.inf)
        _check_fraction("mixing_prob", mixing_prob)
        _check_fraction("ema_decay", ema_decay, open_high=True)
        _check_fraction("w_avg_decay", w_avg_decay, open_high=True)
        self.num_latents = networks.num_latents(size)
        if truncation_cutoff is not None:
            if isinstance(truncation_cutoff, bool) or not isinstance(truncation_cutoff, int) or \
                    not 1 <= truncation_cutoff <= self.num_latents:
                raise ConfigError(f"`truncation_cutoff` must be null or an integer in [1, {self.num_latents}] (the "
                                  f"synthesis layers' styles at {size} px). "
                                  f"Received: truncation_cutoff={truncation_cutoff!r}", code="bad_value")
        last = networks.channels_at(4, channel_base, max_channels)
        if last % mbstd_features:
            raise ConfigError(f"`mbstd_features` must divide the discriminator's {last} channels at 4 px. "
                              f"Received: mbstd_features={mbstd_features}", code="bad_value")
        self.style_dim, self.mapping_layers, self.mapping_lr_mul = style_dim, mapping_layers, float(mapping_lr_mul)
        self.channel_base, self.max_channels, self.style_injection = channel_base, max_channels, style_injection
        self.mixing_prob, self.r1_interval = float(mixing_prob), r1_interval
        self.ema_decay, self.w_avg_decay = float(ema_decay), float(w_avg_decay)
        self.truncation_cutoff, self.mbstd_group, self.mbstd_features = truncation_cutoff, mbstd_group, mbstd_features
        self.path_interval, self.path_batch_shrink = path_interval, path_batch_shrink
        self.noise_resolutions = networks.noise_resolutions(size, style_injection)

        def generator(suffix):
            mapping = networks.mapping_network(style_dim, mapping_layers, self.mapping_lr_mul, name="mapping" + suffix)
            synthesis = networks.synthesis_network(size, style_dim, channel_base, max_channels, self.out_channels,
                                                   style_injection, name="synthesis" + suffix)
            return mapping, synthesis

        self.mapping, self.synthesis = generator("")
        self.discriminator = networks.residual_discriminator(size, self.out_channels, channel_base, max_channels,
                                                             mbstd_group, mbstd_features)
        # The EMA generator starts as a copy (rosinality: accumulate(g_ema, generator, 0)) and is never trained.
        self.mapping_ema, self.synthesis_ema = generator("_ema")
        for net in (self.mapping_ema, self.synthesis_ema):
            net.trainable = False
        for ema, weight in self._ema_pairs():
            ema.assign(weight)
        self.w_avg = self.add_weight(shape=(style_dim,), initializer="zeros", trainable=False, name="w_avg",
                                     aggregation="mean")
        self.path_mean = self.add_weight(shape=(), initializer="zeros", trainable=False, name="path_mean",
                                         aggregation="mean")
        rng = np.random.default_rng(0 if self.seed is None else self.seed)
        self.noise_buffers = [self.add_constant(rng.standard_normal((1, r, r, 1)), f"noise_{k}")
                              for k, r in enumerate(self.noise_resolutions)]
        self.built = True

    def _ema_pairs(self):
        return list(zip(self.mapping_ema.weights + self.synthesis_ema.weights,
                        self.mapping.weights + self.synthesis.weights))

    # ------------------------------------------------------------------ contract
    def generator_variables(self):
        return self.mapping.trainable_weights + self.synthesis.trainable_weights

    def discriminator_variables(self):
        return self.discriminator.trainable_weights

    def mixed_styles(self, w1, w2, crossover):
        """[B, num_latents, style_dim]: layer l takes w1 where l < crossover[b], else w2."""
        layers = ops.arange(self.num_latents)[None, :, None]
        first = layers < ops.cast(ops.reshape(crossover, (-1, 1, 1)), layers.dtype)
        return ops.where(first, w1[:, None, :], w2[:, None, :])

    def _random_styles(self, size, training, track_average=False):
        """Per-layer styles [size, num_latents, style_dim] of random z's with style mixing: with probability
        `mixing_prob` a sample takes a second z's w from a random crossover layer in [1, num_latents - 1] on."""
        w1 = self.mapping(self.random_normal((size, self.style_dim)), training=training)
        w2 = self.mapping(self.random_normal((size, self.style_dim)), training=training)
        if track_average:
            # Mean aggregation: N replicas' batch means average to the global batch's mean.
            mean = ops.mean(ops.cast(w1, "float32"), axis=0)
            self.w_avg.assign(self.w_avg_decay * self.w_avg + (1.0 - self.w_avg_decay) * mean)
        mixes = self.random_uniform((size,)) < self.mixing_prob
        layer = 1 + ops.cast(ops.floor(self.random_uniform((size,)) * (self.num_latents - 1)), "int32")
        crossover = ops.where(mixes, ops.minimum(layer, self.num_latents - 1), self.num_latents)
        return self.mixed_styles(w1, w2, crossover)

    def _random_noises(self, size):
        return [self.random_normal((size, r, r, 1)) for r in self.noise_resolutions]

    def generate(self, batch, training):
        """The training forward pass: fakes from random z's with style mixing and random noise inputs."""
        size = ops.shape(batch["image"])[0]
        ws = self._random_styles(size, training, track_average=training)
        return {"fake": self.synthesis([ws, *self._random_noises(size)], training=training)}

    def discriminator_losses(self, batch, outputs, training=True):
        real = batch["image"]
        values = {}
        if self.uses("d_adv"):
            values["d_adv"] = reference_discriminator_loss(self.discriminator(real, training=training),
                                                           self.discriminator(outputs["fake"], training=training),
                                                           "vanilla")
        if self.uses("d_r1"):
            if training and self.r1_interval > 1:
                due = ops.equal(self.train_steps.value % self.r1_interval, 0)
                values["d_r1"] = ops.cond(due, lambda: self.r1_interval * self.r1_penalty(real),
                                          lambda: ops.zeros((), "float32"))
            else:
                values["d_r1"] = self.r1_penalty(real)
        return values

    def r1_penalty(self, real):
        """mean_b |grad_x D(x_b)|^2 on real images (rosinality `d_r1_loss`), in float32."""
        real = ops.cast(real, "float32")
        with tf.GradientTape() as tape:
            tape.watch(real)
            logits = ops.cast(self.discriminator(real, training=True), "float32")
            total = ops.sum(logits)
        grad = tape.gradient(total, real)
        return ops.mean(ops.sum(ops.square(grad), axis=[1, 2, 3]))

    def generator_losses(self, batch, outputs, training=True):
        values = {"g_adv": losses.generator_adversarial(self.discriminator(outputs["fake"], training=training),
                                                        "vanilla")}
        if self.uses("g_path"):
            size = ops.shape(batch["image"])[0]
            if training and self.path_interval > 1:
                due = ops.equal(self.train_steps.value % self.path_interval, 0)

                def penalty():
                    value, mean = self.path_length_penalty(size)
                    return self.path_interval * value, mean

                value, mean = ops.cond(due, penalty, lambda: (ops.zeros((), "float32"), self.path_mean.value))
            else:
                value, mean = self.path_length_penalty(size)
            if training:
                # Outside the cond: a mean-aggregated assignment synchronises the replicas.
                self.path_mean.assign(mean)
            values["g_path"] = value
        return values

    def path_length_penalty(self, batch_size):
        """StyleGAN2's path-length regulariser (rosinality `g_path_regularize`) on a fresh batch of batch_size //
        `path_batch_shrink` mixed styles: the lengths |J_w^T y| (y ~ N(0, 1) / sqrt(H W) image-space noise, averaged
        over layers) are pulled towards their running mean (decay 0.01). Returns (penalty, updated running mean)."""
        size = ops.maximum(batch_size // self.path_batch_shrink, 1)
        ws = ops.cast(self._random_styles(size, training=True), "float32")
        noises = self._random_noises(size)
        with tf.GradientTape() as tape:
            tape.watch(ws)
            fake = ops.cast(self.synthesis([ws, *noises], training=True), "float32")
            pixels = float(self.image_size * self.image_size)
            total = ops.sum(fake * self.random_normal(ops.shape(fake)) / math.sqrt(pixels))
        grad = tape.gradient(total, ws)
        lengths = ops.sqrt(ops.mean(ops.sum(ops.square(grad), axis=2), axis=1))
        mean = ops.stop_gradient(self.path_mean + 0.01 * (ops.mean(lengths) - self.path_mean))
        return ops.mean(ops.square(lengths - mean)), mean

    def train_step(self, data):
        """The base step (D then G, scaling, trackers, skipping), then the EMA generator's update."""
        logs = super().train_step(data)
        decay = self.ema_decay
        for ema, weight in self._ema_pairs():
            ema.assign(decay * ema + (1.0 - decay) * ops.cast(weight, ema.dtype))
        return logs

    # ------------------------------------------------------------------ generation (EMA generator, stateless)
    def _seed_pair(self, seed, tag):
        return tf.stack([tf.cast(seed, tf.int64), tf.constant(tag, tf.int64)])

    def _mapped(self, seed, count):
        z = tf.random.stateless_normal(tf.stack([count, self.style_dim]), self._seed_pair(seed, Z_TAG))
        return self.mapping_ema(z, training=False)

    def truncated(self, ws, truncation_psi):
        """w_avg + psi (w - w_avg) on the styles of the layers below `truncation_cutoff` (all when None)."""
        psi = ops.cast(truncation_psi, "float32")
        cutoff = self.truncation_cutoff or self.num_latents
        layers = ops.arange(self.num_latents)[None, :, None]
        factor = ops.where(layers < cutoff, psi, 1.0)
        return self.w_avg + factor * (ws - self.w_avg)

    def _synthesised(self, ws, count):
        noises = [tf.tile(buffer, tf.stack([count, 1, 1, 1])) for buffer in self.noise_buffers]
        images = self.synthesis_ema([ws, *noises], training=False)
        return ops.clip(ops.cast(images, "float32"), -1.0, 1.0)

    def _generate(self, num_samples, seed, truncation_psi):
        count = tf.cast(num_samples, tf.int32)
        w = self._mapped(seed, count)
        ws = self.truncated(ops.repeat(w[:, None, :], self.num_latents, axis=1), truncation_psi)
        return self._synthesised(ws, count)

    def _mix(self, seed_coarse, seed_fine, crossover, truncation_psi):
        one = tf.constant(1, tf.int32)
        ws = self.mixed_styles(self._mapped(seed_coarse, one), self._mapped(seed_fine, one),
                               ops.reshape(crossover, (1,)))
        return self._synthesised(self.truncated(ws, truncation_psi), one)

    def translation_modes(self):
        scalar = lambda dtype: tf.TensorSpec([], dtype)  # noqa: E731
        return {
            "generate": TranslationMode(
                self._generate, takes_images=False,
                extra_inputs={NUM_SAMPLES: scalar(tf.int32), SEED: scalar(tf.int64),
                              TRUNCATION_PSI: scalar(tf.float32)},
                description="num_samples images of the EMA generator from seed, truncated towards the average w"),
            "mix": TranslationMode(
                self._mix, takes_images=False,
                extra_inputs={SEED_COARSE: scalar(tf.int64), SEED_FINE: scalar(tf.int64),
                              CROSSOVER: scalar(tf.int32), TRUNCATION_PSI: scalar(tf.float32)},
                description="one image: the styles of layers < crossover from seed_coarse, the rest from seed_fine"),
        }

    def sample(self, num_samples, seed, truncation_psi=1.0):
        """`generate` mode in Python: float images [num_samples, size, size, C] in [-1, 1]."""
        check_positive_ints(num_samples=int(num_samples))
        return self._generate(tf.constant(num_samples, tf.int32), tf.constant(seed, tf.int64),
                              tf.constant(truncation_psi, tf.float32))

    def mix_styles(self, seed_coarse, seed_fine, crossover, truncation_psi=1.0):
        """`mix` mode in Python: one float image [1, size, size, C] in [-1, 1]."""
        if isinstance(crossover, bool) or not isinstance(crossover, (int, np.integer)) or \
                not 0 <= crossover <= self.num_latents:
            raise ValueError(f"`crossover` must be an integer in [0, {self.num_latents}] (the synthesis layers' "
                             f"styles). Received: crossover={crossover!r}")
        return self._mix(tf.constant(seed_coarse, tf.int64), tf.constant(seed_fine, tf.int64),
                         tf.constant(crossover, tf.int32), tf.constant(truncation_psi, tf.float32))

    # Seed of the fixed samples of the training sample grids and of `final_images`.
    grid_seed = 0

    def sample_grid(self, batch):
        """[real images | EMA samples of fixed seeds], one row per real image of the (fixed) evaluation batch."""
        real = batch["image"]
        return [real, self.sample(int(real.shape[0]), self.grid_seed)]

    def final_images(self):
        """samples.png: a 4x4 grid of the final EMA generator's samples (seed `grid_seed`, no truncation)."""
        images = self.sample(16, self.grid_seed).numpy()
        rows = [np.concatenate(list(images[i * 4:(i + 1) * 4]), axis=1) for i in range(4)]
        return {"samples.png": np.concatenate(rows, axis=0)}

    def project(self, images, steps=1000, **kwargs):
        """Inverts `images` into W (or W+ with `w_plus=True`) by optimisation (`projector.project`, StyleGAN2's
        projector: LPIPS + optional pixel loss + noise regularisation): returns a `projector.Projection` with the
        latent and the reconstruction."""
        from i2i_keras.methods.stylegan.projector import project

        return project(self, images, steps, **kwargs)

    def get_config(self):
        return {**super().get_config(), "style_dim": self.style_dim, "mapping_layers": self.mapping_layers,
                "mapping_lr_mul": self.mapping_lr_mul, "channel_base": self.channel_base,
                "max_channels": self.max_channels, "style_injection": self.style_injection,
                "mixing_prob": self.mixing_prob, "r1_interval": self.r1_interval, "ema_decay": self.ema_decay,
                "w_avg_decay": self.w_avg_decay, "truncation_cutoff": self.truncation_cutoff,
                "mbstd_group": self.mbstd_group, "mbstd_features": self.mbstd_features,
                "path_interval": self.path_interval, "path_batch_shrink": self.path_batch_shrink}


def _check_fraction(arg, value, *, open_low=False, open_high=False, high=1.0):
    """Raises a ConfigError unless `value` is a number in [0, high] (or (0, ...) / [..., high) when open)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    ok = ok and (0 < value if open_low else 0 <= value) and (value < high if open_high else value <= high)
    if not ok:
        interval = f"{'(' if open_low else '['}0, {high}{')' if open_high or high == math.inf else ']'}"
        raise ConfigError(f"`{arg}` must be a number in {interval}. Received: {arg}={value!r}", code="bad_value")
