"""The method contract: `TranslationModel`, a `keras.Model` that owns a translation method's training algorithm.

A method subclass builds its networks (Functional models from `i2i_keras.networks`) in `__init__` and implements:

- `generator_variables()` / `discriminator_variables()`: the variables each optimizer updates;
- `generate(batch, training)`: the generator forward pass of one step, returning a dict of tensors;
- `discriminator_losses(batch, outputs, training)` and `generator_losses(batch, outputs, training)`: dicts of named, unweighted,
  per-replica scalars, only for the terms whose weight in `loss_weights` is non-zero (`self.uses(name)`);
- `translation_modes()`: the inference operations (name -> `TranslationMode`), which become Python methods'
  behaviour and exported serving signatures alike.

The base class does everything that must be done once and right: it weights and sums the terms, scales the totals
by 1/replicas for MirroredStrategy (optimizers sum gradients over replicas; trackers get unscaled values), runs the
discriminator update on detached outputs before or after the generator update (`update_discriminator_first`, set per
method to match its reference code: pix2pix updates D first, CycleGAN G first), skips it when no `d_*` term has a
weight, applies the two optimizers on explicit variable lists (no `trainable` toggling), handles loss scaling for
mixed_float16, and keeps one `Mean` tracker per loss term.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import keras
import tensorflow as tf
from keras import ops

from i2i_keras import losses
from i2i_keras import metrics as i2i_metrics
from i2i_keras.errors import ConfigError
from i2i_keras.layers import INFERENCE_NORMS


# Standard names of extra inputs, shared by every method, the exported signatures, the CLIs and serving clients.
TARGET_DOMAIN = "target_domain"   # int32 [batch]: index of the domain to translate to (multi-domain methods)
TARGET_LABELS = "target_labels"   # float32 [batch, domains]: multi-hot target attributes (attribute models)
NUM_SAMPLES = "num_samples"       # int32 scalar: how many styles / points to produce per input image
SEED = "seed"                     # int64 scalar: makes random styles reproducible
REFERENCE = "reference"           # image [batch, h, w, C] (bytes [batch] in `_bytes` signatures): a style source
ALPHA = "alpha"                   # float32 scalar in [0, 1]: style strength (0 keeps the content; AdaIN's alpha)
TRUNCATION_PSI = "truncation_psi"  # float32 scalar: truncation towards the average style (1 = none, 0 = the average)
SEED_COARSE = "seed_coarse"       # int64 scalar: seed of the coarse (early-layer) styles of a style-mixing image
SEED_FINE = "seed_fine"           # int64 scalar: seed of the fine (late-layer) styles of a style-mixing image
CROSSOVER = "crossover"           # int32 scalar: first synthesis layer that takes the fine styles

# `TranslationMode.output` values: a mode returns images, or class probabilities [batch, K].
IMAGES_OUTPUT = "images"
PROBABILITIES_OUTPUT = "probabilities"
MODE_OUTPUTS = (IMAGES_OUTPUT, PROBABILITIES_OUTPUT)

# The metric counting training steps whose update was not applied (`TranslationModel.skip_nonfinite_updates`).
SKIPPED_STEPS = "skipped_steps"


@dataclasses.dataclass
class TranslationMode:
    """One inference operation: `fn(images, **extra_inputs) -> images` on float images in [-1, 1].

    `extra_inputs` maps input names to `tf.TensorSpec`s (e.g. a target label or a seed) for the serving signature.
    Names listed in `image_inputs` are extra *images* (e.g. a style reference): float [batch, h, w, C] in [-1, 1] in
    Python and the float signature, encoded image bytes [batch] in the `_bytes` signature; they may have any size
    and are not padded (their channels are the last dimension of their spec). With `multiple_outputs`, `fn` returns [batch, N, H, W, C] (N styles per input) and the
    `_bytes` signature returns PNG bytes [batch, N].
    """

    fn: Callable
    extra_inputs: dict = dataclasses.field(default_factory=dict)
    description: str = ""
    image_inputs: tuple = ()
    multiple_outputs: bool = False
    # Channels of `images` when they are not the model's `in_channels` (a b2a direction takes domain-B images).
    input_channels: Optional[int] = None
    # False for a generation mode (an unconditional generator's `generate` / `mix`): `fn(**extra_inputs)` takes no
    # input image and returns float images [N, H, W, C] in [-1, 1] (N from its inputs, e.g. `num_samples`; H = W =
    # the model's `image_size`), a pure function of its inputs (random draws are stateless, from `seed`), so
    # Python, the exported signature and a served model give the same images for the same inputs.
    takes_images: bool = True
    # What `fn` returns: "images", or "probabilities" (float [batch, K] class probabilities of a classification
    # mode, whose class names are the model's metadata `class_names`; exported as `probabilities` + `classes`).
    output: str = IMAGES_OUTPUT
    # Values a client may leave out (CLIs, serving clients), recorded in the metadata's `generation_modes`; Python
    # and the exported signatures still take every input. Standard ones come from `INPUT_DEFAULTS`.
    defaults: dict = dataclasses.field(default_factory=dict)


# Defaults of standard inputs that clients may leave out when a mode gives none (`TranslationMode.defaults`).
INPUT_DEFAULTS = {TRUNCATION_PSI: 1.0}


def generation_modes_metadata(modes: dict) -> dict:
    """Metadata `generation_modes`: mode -> {"inputs": {name: {"dtype", "shape"}}, "defaults": {name: value}} of
    each generation mode (`takes_images` False), so clients build requests from the metadata alone."""
    facts = {}
    for name, mode in modes.items():
        if mode.takes_images:
            continue
        inputs = {key: {"dtype": spec.dtype.name, "shape": list(spec.shape.as_list() if spec.shape.rank is not None
                                                                  else [])}
                  for key, spec in mode.extra_inputs.items()}
        defaults = {key: value for key, value in INPUT_DEFAULTS.items() if key in inputs}
        defaults.update(mode.defaults or {})
        facts[name] = {"inputs": inputs, "defaults": defaults}
    return facts


class TranslationModel(keras.Model):
    """Base class of every trainable translation method.

    Args:
        image_size: training crop size (networks accept any multiple of `size_multiple` at inference).
        in_channels / out_channels: image channels of the source and target domains.
        loss_weights: overrides of `default_loss_weights`; a weight of 0 removes the term. Unknown names raise.
        seed: seed of the method's own random draws (image pool, sampled styles).

    Batch format: a dict whose keys depend on `data_kind` (see `i2i_keras.data`).
    """

    method_name: Optional[str] = None  # set by @register_method
    data_kind: Optional[str] = None
    default_loss_weights: dict = {}
    # Metrics computed by `test_step` when a ground-truth target exists.
    paired_metrics: bool = False
    # Update order on each batch; the generator's adversarial term sees the discriminator as it is at that moment.
    update_discriminator_first: bool = True
    # Discriminator (critic) updates per generator update, e.g. 5 for WGAN-GP (StarGAN). See `train_step`.
    discriminator_steps: int = 1
    # Outputs are this many times the input's height and width (super-resolution); `translate`, the exported
    # signatures and their metadata (`output_scale`) follow it.
    output_scale: int = 1
    # Step decay of both optimizers' (constant) learning rates, kept by the model: every `lr_step_size` training
    # steps the rates are multiplied by `lr_step_gamma` (PyTorch's `StepLR`, MUNIT's `lr_policy: step`); 0 = off.
    # It lives here because the rates follow `train_steps`, which checkpoints and `--resume` restore exactly.
    lr_step_size: int = 0
    lr_step_gamma: float = 1.0

    def __init__(self, image_size=256, in_channels=3, out_channels=3, loss_weights=None, seed=None, name=None,
                 **kwargs):
        super().__init__(name=name or self.method_name, **kwargs)
        if int(image_size) <= 0:
            raise ConfigError(f"`image_size` must be positive. Received: image_size={image_size!r}", code="bad_value")
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value not in (1, 3):
                raise ConfigError(f"`{arg}` must be 1 or 3. Received: {arg}={value!r}", code="bad_value")
        self.image_size = int(image_size)
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.seed = seed
        self.loss_weights = resolve_loss_weights(type(self), loss_weights)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_optimizer = None
        self._trackers = {}
        # Training steps taken, as model state: checkpoints, resume and the data stream's position use it. The
        # optimizers' `iterations` are not enough: under mixed_float16 a loss-scale optimizer skips (and does not
        # count) steps whose gradients overflowed, though the batch was consumed.
        self.train_steps = self.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False,
                                           aggregation="only_first_replica", name="train_steps")

    # ------------------------------------------------------------------ contract, implemented by methods
    @property
    def size_multiple(self) -> int:
        """Spatial sizes the generators accept at inference must be multiples of this."""
        return 1

    def generator_variables(self) -> list:
        raise NotImplementedError

    def discriminator_variables(self) -> list:
        return []

    def generate(self, batch: dict, training: bool) -> dict:
        raise NotImplementedError

    def discriminator_losses(self, batch: dict, outputs: dict, training: bool = True) -> dict:
        return {}

    def generator_losses(self, batch: dict, outputs: dict, training: bool = True) -> dict:
        raise NotImplementedError

    def translation_modes(self) -> dict:
        raise NotImplementedError

    # Why a method has no translation modes (`translation_modes()` is empty: e.g. `nst`, which optimises one image
    # and has no input -> output network): `export_for_serving` refuses it with this reason, the training loop skips
    # its export, and the shared method suite skips its translate and export checks.
    not_a_translator: str = ""

    def final_images(self) -> dict:
        """file name -> float image [H, W, C] in [-1, 1] that a training run writes into its directory at the end
        (e.g. `nst`'s result.png); none by default."""
        return {}

    def evaluation_pairs(self, batch: dict, outputs: dict) -> list:
        """(prediction, ground truth) pairs scored by PSNR/SSIM/L1 in `test_step`; none by default."""
        return []

    def sample_grid(self, batch: dict) -> list:
        """Images shown side by side in sample grids: [input, output, (target)], each [B,H,W,C] in [-1, 1]."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers for methods
    def random_normal(self, shape, dtype="float32"):
        """Training noise N(0, 1) of `shape` (first axis: this replica's batch), from the model's seed state.

        Under MirroredStrategy every replica reads the same seed state, so a plain `keras.random.normal` would give
        all replicas identical noise. Noise is therefore drawn for the whole global batch and each replica keeps its
        own rows: replicas get different noise and N replicas draw exactly what one device draws.
        """
        return self._replica_rows(keras.random.normal, shape, dtype)

    def random_uniform(self, shape, dtype="float32"):
        """U(0, 1) training noise, drawn like `random_normal`."""
        return self._replica_rows(keras.random.uniform, shape, dtype)

    def _replica_rows(self, draw, shape, dtype):
        context = tf.distribute.get_replica_context()
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if context is None or replicas == 1:
            return draw(shape, dtype=dtype, seed=self.seed_generator)
        rows = shape[0]
        noise = draw([rows * replicas, *shape[1:]], dtype=dtype, seed=self.seed_generator)
        start = tf.cast(context.replica_id_in_sync_group, tf.int32) * rows
        return noise[start:start + rows]

    def add_constant(self, value, name: str):
        """A non-trainable float32 weight holding the array `value`: fixed state a method computes at construction
        (style transfer's style images and Gram targets), saved and exported with the model."""
        import numpy as np

        value = np.asarray(value, np.float32)
        return self.add_weight(shape=value.shape, dtype="float32", trainable=False, name=name,
                               initializer=keras.initializers.Constant(value))

    def uses(self, name: str) -> bool:
        return self.loss_weights.get(name, 0.0) != 0.0

    def has_discriminator_terms(self) -> bool:
        """A discriminator exists and at least one `d_*` term has a weight (else D is never updated)."""
        return bool(self.discriminator_variables()) and any(self.uses(n) for n in self.loss_weights
                                                            if n.startswith("d_"))

    def translate(self, images=None, mode: Optional[str] = None, *, tile=None, overlap=None, **kwargs):
        """Translates float images in [-1, 1] of any size: reflect-pads to `size_multiple`, runs the mode, crops.

        With `tile` (input pixels, a multiple of `size_multiple`; 0: the whole image) the mode runs tile by tile
        with `overlap` px of overlap (default: `tiling.default_overlap(tile)`) and the tiles are blended without
        seams; whole-image statistics (instance norm, ...) come from the downscaled whole image
        (`i2i_keras.tiling`). Only image modes tile.

        A generation mode (`TranslationMode.takes_images` False, e.g. `generate`) takes no input image: `images`
        must be None and the mode's inputs (`num_samples`, `seed`, ...) give float images [N, H, W, C] in [-1, 1];
        nothing is padded or tiled.
        """
        modes = self.translation_modes()
        mode = mode or next(iter(modes))
        if mode not in modes:
            raise ValueError(f"Unknown translation mode {mode!r} for {self.method_name}; expected one of "
                             f"{list(modes)}. Received: mode={mode!r}")
        kwargs = dict(kwargs)
        spec = modes[mode]
        if not spec.takes_images:
            return self._generated(mode, spec, images, tile, overlap, kwargs)
        if images is None:
            raise ValueError(f"Mode {mode!r} of {self.method_name} translates input images; `images` must be float "
                             f"images [batch, height, width, channels] in [-1, 1]. Received: images=None")
        images = ops.convert_to_tensor(images)
        dtype = keras.backend.standardize_dtype(images.dtype)
        if not dtype.startswith(("float", "bfloat")):
            # uint8 pixels cast silently would be read as values far outside [-1, 1].
            raise ValueError(f"{self.method_name} translates float images in [-1, 1] (uint8 x: x / 127.5 - 1). "
                             f"Received: images.dtype={dtype}")
        channels = spec.input_channels or self.in_channels
        if len(images.shape) != 4 or images.shape[-1] not in (None, channels):
            raise ValueError(f"{self.method_name} translates [batch, height, width, {channels}] images in mode "
                             f"{mode!r}. Received: images.shape={tuple(images.shape)}")
        self._check_mode_inputs(mode, spec, kwargs)
        for name in spec.image_inputs:
            kwargs[name] = self._checked_images(kwargs[name], name, spec.extra_inputs[name].shape[-1])
        if tile is not None and spec.output == PROBABILITIES_OUTPUT:
            raise ConfigError(f"Mode {mode!r} of {self.method_name} answers class probabilities, not images: it "
                              f"cannot be tiled. Received: tile={tile!r}", code="not_an_image_mode")
        if tile is None and overlap is not None:
            raise ConfigError(f"`overlap` needs `tile`. Received: overlap={overlap!r}, tile=None", code="bad_value")
        padded, height, width = pad_to_multiple(images, self.size_multiple)
        if tile is None:
            out = spec.fn(padded, **kwargs)
        else:
            from i2i_keras import tiling

            tile, overlap = tiling.checked(tile, overlap, self.size_multiple)
            out = tiling.tiled_call(spec.fn, padded, tile, overlap, scale=self.output_scale,
                                    size_multiple=self.size_multiple, layers=tiling.whole_image_layers(self),
                                    extras=kwargs, multiple_outputs=spec.multiple_outputs)
        if spec.output == PROBABILITIES_OUTPUT:
            return out  # [batch, K]: nothing spatial to crop back
        scale = self.output_scale
        return out[..., :height * scale, :width * scale, :]

    def _check_mode_inputs(self, mode: str, spec: TranslationMode, kwargs: dict) -> None:
        unknown = sorted(set(kwargs) - set(spec.extra_inputs))
        missing = sorted(set(spec.extra_inputs) - set(kwargs))
        if unknown or missing:
            raise ValueError(f"Mode {mode!r} of {self.method_name} takes the inputs {sorted(spec.extra_inputs)}. "
                             f"Received: missing={missing}, unknown={unknown}")

    def _generated(self, mode: str, spec: TranslationMode, images, tile, overlap, kwargs: dict):
        """`translate` of a generation mode: the images its inputs give, unpadded and untiled."""
        if images is not None:
            shape = tuple(getattr(images, "shape", ()) or ())
            raise ValueError(f"Mode {mode!r} of {self.method_name} generates images from its inputs "
                             f"{sorted(spec.extra_inputs)} and takes no input image; call translate(None, "
                             f"mode={mode!r}, ...). Received: images of shape {shape}")
        if tile is not None or overlap is not None:
            raise ConfigError(f"Mode {mode!r} of {self.method_name} generates whole images without an input image: "
                              f"it cannot be tiled. Received: tile={tile!r}, overlap={overlap!r}",
                              code="not_an_image_mode")
        self._check_mode_inputs(mode, spec, kwargs)
        return spec.fn(**kwargs)

    def _checked_images(self, images, name, channels):
        images = ops.convert_to_tensor(images)
        dtype = keras.backend.standardize_dtype(images.dtype)
        if not dtype.startswith(("float", "bfloat")):
            raise ValueError(f"`{name}` must be float images in [-1, 1]. Received: {name}.dtype={dtype}")
        if len(images.shape) != 4 or images.shape[-1] not in (None, channels):
            raise ValueError(f"`{name}` must be [batch, height, width, {channels}] images. "
                             f"Received: {name}.shape={tuple(images.shape)}")
        return images

    def call(self, inputs, training=False):
        return self.translate(inputs)

    # ------------------------------------------------------------------ compile / optimizers
    def compile(self, optimizer=None, d_optimizer=None, **kwargs):
        """`optimizer` updates `generator_variables()`, `d_optimizer` updates `discriminator_variables()`.

        Both are built here, inside the caller's strategy scope, on exactly the variables they update.
        """
        if d_optimizer is not None and d_optimizer is optimizer:
            raise ValueError("`optimizer` and `d_optimizer` must be two optimizer objects: one optimizer holds the "
                             "slots of one variable list. Received: the same object twice")
        optimizer = keras.optimizers.get(optimizer or "adam")
        if self.discriminator_variables():
            if d_optimizer is None:
                raise ValueError(f"{self.method_name} has a discriminator and needs `d_optimizer`. "
                                 f"Received: d_optimizer=None")
            d_optimizer = keras.optimizers.get(d_optimizer)
        elif d_optimizer is not None:
            raise ValueError(f"{self.method_name} has no discriminator; `d_optimizer` must be None. "
                             f"Received: d_optimizer={d_optimizer!r}")
        if keras.config.dtype_policy().name == "mixed_float16":
            optimizer = _loss_scaled(optimizer)
            d_optimizer = _loss_scaled(d_optimizer) if d_optimizer is not None else None
        super().compile(optimizer=optimizer, **kwargs)
        self.d_optimizer = d_optimizer
        if not self.optimizer.built:
            self.optimizer.build(self.generator_variables())
        if self.d_optimizer is not None and not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator_variables())
        self._base_learning_rates = self._constant_learning_rates() if self.lr_step_size else []
        self._create_trackers()

    def _constant_learning_rates(self) -> list:
        """(optimizer, initial rate) of both optimizers for the step decay, which needs constant rates to scale."""
        rates = []
        for optimizer in (self.optimizer, self.d_optimizer):
            if optimizer is None:
                continue
            rate = optimizer.learning_rate
            if not isinstance(rate, keras.Variable):
                raise ConfigError(f"{self.method_name}'s learning-rate step decay (lr_step_size={self.lr_step_size}) "
                                  f"needs optimizers with a constant learning rate (optim.schedule: constant). "
                                  f"Received: learning_rate={rate!r}")
            rates.append((optimizer, float(rate.numpy())))
        return rates

    def _decay_learning_rates(self) -> None:
        """Sets each optimizer's rate to initial * lr_step_gamma ** (train_steps // lr_step_size) before a step."""
        if not self.lr_step_size:
            return
        periods = ops.cast(ops.floor_divide(self.train_steps.value, self.lr_step_size), "float32")
        factor = ops.power(float(self.lr_step_gamma), periods)
        for optimizer, rate in self._base_learning_rates:
            optimizer.learning_rate.assign(ops.cast(rate * factor, optimizer.learning_rate.dtype))

    def get_compile_config(self):
        if not self.compiled:
            return None
        config = {"optimizer": keras.saving.serialize_keras_object(self.optimizer)}
        if self.d_optimizer is not None:
            config["d_optimizer"] = keras.saving.serialize_keras_object(self.d_optimizer)
        return config

    def compile_from_config(self, config):
        optimizer = keras.saving.deserialize_keras_object(config["optimizer"])
        d_optimizer = config.get("d_optimizer")
        d_optimizer = keras.saving.deserialize_keras_object(d_optimizer) if d_optimizer else None
        self.compile(optimizer=optimizer, d_optimizer=d_optimizer)

    # ------------------------------------------------------------------ trackers
    def _create_trackers(self):
        if self._trackers:
            return
        names = [n for n in self.loss_weights if self.uses(n) and n.startswith("d_")]
        names += [n for n in self.loss_weights if self.uses(n) and n.startswith("g_")]
        names += ["d_total"] if self.has_discriminator_terms() else []
        names += ["g_total"]
        if self.paired_metrics:
            names += ["psnr", "ssim", "l1"]
        self._trackers = {n: keras.metrics.Mean(name=n) for n in names}
        if self.skip_nonfinite_updates:
            self._trackers[SKIPPED_STEPS] = keras.metrics.Sum(name=SKIPPED_STEPS)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def _track(self, values: dict, applied=None):
        """Adds a step's values to the trackers; with `applied` (a bool tensor: the step's updates were applied),
        the values of a skipped step are left out, so the logged means stay finite."""
        for name, value in values.items():
            if name not in self._trackers:
                raise KeyError(f"{self.method_name} returned loss {name!r}, which has no weight/tracker. "
                               f"Known: {sorted(self._trackers)}")
            if applied is None:
                self._trackers[name].update_state(value)
            else:
                weight = ops.cast(applied, "float32")
                self._trackers[name].update_state(ops.where(applied, ops.cast(value, "float32"), 0.0),
                                                  sample_weight=weight)

    # ------------------------------------------------------------------ the training step
    def _weighted_total(self, losses: dict):
        total = ops.zeros((), "float32")
        for name, value in losses.items():
            total = total + self.loss_weights[name] * ops.cast(value, "float32")
        return total

    @property
    def batches_per_step(self) -> int:
        """Batches of `train.batch_size` one `train_step` consumes (the data pipeline batches this many at once)."""
        return self.discriminator_steps if self.has_discriminator_terms() else 1

    # `train.on_nonfinite=skip_step` (set by the training loop before `compile`): an update whose losses or
    # gradients are not finite is not applied; such steps are counted by the `skipped_steps` metric. Off by default,
    # where the step does no extra work (the loop stops at the first non-finite loss it sees in the logs).
    skip_nonfinite_updates: bool = False

    def train_step(self, data):
        self._decay_learning_rates()
        batch = self.prepare_batch(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        trains_d = self.d_optimizer is not None and self.has_discriminator_terms()
        d_losses = {}
        applied = []  # per update, whether it was applied (only with skip_nonfinite_updates)
        if trains_d and self.discriminator_steps > 1:
            # n critic updates per generator update, each on its own batch, as in the WGAN-GP / StarGAN reference
            # loops (D every iteration, G every n-th). The n batches arrive as one batch of n x batch_size and are
            # split here: a step-dependent `tf.cond` around the generator update is not possible under
            # MirroredStrategy (an optimizer's cross-replica merge_call cannot sit inside control flow).
            chunks = _split_batch(batch, self.discriminator_steps)
            for chunk in chunks[:-1]:
                d_losses = self._discriminator_update(chunk, detached(self.generate(chunk, training=True)),
                                                      replicas, applied)
            batch = chunks[-1]
        with tf.GradientTape() as g_tape:
            outputs = self.generate(batch, training=True)
            if trains_d and self.update_discriminator_first:
                with g_tape.stop_recording():
                    d_losses = self._discriminator_update(batch, detached(outputs), replicas, applied)
            g_losses = self.generator_losses(batch, outputs)
            g_total = self._weighted_total(g_losses)
            g_scaled = self.optimizer.scale_loss(g_total / replicas)
        g_vars = self.generator_variables()
        g_grads = g_tape.gradient(g_scaled, g_vars)
        self._apply(self.optimizer, g_grads, g_vars, [*g_losses.values(), g_total], applied)
        if trains_d and not self.update_discriminator_first:
            d_losses = self._discriminator_update(batch, detached(outputs), replicas, applied)
        self.train_steps.assign_add(1)
        return self._report({**d_losses, **g_losses, "g_total": g_total}, applied)

    def _report(self, values: dict, applied: list) -> dict:
        """Tracks a training step's loss values and returns the logs (with `skip_nonfinite_updates`, leaving out a
        step whose updates were not all applied, and counting it)."""
        if not self.skip_nonfinite_updates:
            self._track(values)
            # Only the terms trained on are reported; the evaluation-only metrics (psnr, ...) belong to `evaluate`.
            return {name: self._trackers[name].result() for name in values}
        step_applied = ops.all(ops.stack(applied))
        self._track(values, step_applied)
        self._trackers[SKIPPED_STEPS].update_state(1.0 - ops.cast(step_applied, "float32"))
        return {name: self._trackers[name].result() for name in [*values, SKIPPED_STEPS]}

    def _discriminator_update(self, batch, outputs, replicas, applied=None):
        d_vars = self.discriminator_variables()
        with tf.GradientTape() as d_tape:
            d_losses = self.discriminator_losses(batch, outputs)
            d_total = self._weighted_total(d_losses)
            d_scaled = self.d_optimizer.scale_loss(d_total / replicas)
        d_grads = d_tape.gradient(d_scaled, d_vars)
        self._apply(self.d_optimizer, d_grads, d_vars, [*d_losses.values(), d_total],
                    [] if applied is None else applied)
        return {**d_losses, "d_total": d_total}

    def _apply(self, optimizer, grads, variables, losses, applied, when=None):
        """`optimizer.apply(grads, variables)`; with `skip_nonfinite_updates`, only when the losses and gradients
        are finite on every replica (appends that bool to `applied`). A loss-scale optimizer (mixed_float16) checks
        its gradients itself (overflow lowers its scale), so only the losses are checked for it. `when` (a bool
        tensor, the same on every replica) applies the update only when true (a method that alternates updates)."""
        if not self.skip_nonfinite_updates:
            if when is None:
                optimizer.apply(grads, variables)
            else:
                _apply_if(optimizer, grads, variables, when)
            return
        checks = [ops.all(ops.isfinite(ops.cast(v, "float32"))) for v in losses]
        if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            checks += [ops.all(ops.isfinite(g)) for g in grads if g is not None]
        finite = ops.all(ops.stack(checks))
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            # Every replica must take the same branch: a replica whose values are finite skips when another's are not.
            bad = context.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - ops.cast(finite, "float32"))
            finite = ops.equal(bad, 0.0)
        applied.append(finite)
        _apply_if(optimizer, grads, variables, finite if when is None else ops.logical_and(finite, when))

    def test_step(self, data):
        batch = self.prepare_batch(data)
        outputs = self.generate(batch, training=False)
        values = {}
        if self.has_discriminator_terms():
            d_losses = self.discriminator_losses(batch, outputs, training=False)
            values.update(d_losses, d_total=self._weighted_total(d_losses))
        g_losses = self.generator_losses(batch, outputs, training=False)
        values.update(g_losses, g_total=self._weighted_total(g_losses))
        if self.paired_metrics:
            for prediction, truth in self.evaluation_pairs(batch, outputs):
                values["psnr"] = i2i_metrics.psnr(prediction, truth)
                values["ssim"] = i2i_metrics.ssim(prediction, truth)
                values["l1"] = ops.mean(ops.abs(ops.cast(prediction, "float32") - ops.cast(truth, "float32")))
        self._track(values)
        return {m.name: m.result() for m in self.metrics if m.name != SKIPPED_STEPS}

    def predict_step(self, data):
        """`model.predict` takes image arrays or dict batches (the method's `input_key` is translated)."""
        if isinstance(data, (tuple, list)) and len(data) == 1:
            data = data[0]
        return self.translate(data[self.input_key] if isinstance(data, dict) else data)

    # The batch entry that `predict` translates and sample grids start from.
    input_key = "source"

    def prepare_batch(self, data):
        """Checks the batch is the dict this method's data kind produces and casts images to the compute dtype."""
        if isinstance(data, (tuple, list)) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise ValueError(f"{self.method_name} expects dict batches for data kind {self.data_kind!r}. "
                             f"Received: {type(data).__name__}")
        return data

    # ------------------------------------------------------------------ serialization
    def get_config(self):
        return {"image_size": self.image_size, "in_channels": self.in_channels, "out_channels": self.out_channels,
                "loss_weights": dict(self.loss_weights), "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def metadata(self) -> dict:
        """Facts that travel inside the exported SavedModel (read by serving clients and the translate CLI).

        `tiled_modes` (only when there is one) lists the modes with a tiled bytes signature (`i2i_keras.tiling`);
        `generation_modes` (only when there is one) describes the modes without an input image
        (`generation_modes_metadata`).
        """
        from i2i_keras import tiling

        modes = self.translation_modes()
        facts = {"method": self.method_name, "data_kind": self.data_kind, "value_range": [-1.0, 1.0],
                 "size_multiple": self.size_multiple, "image_size": self.image_size,
                 "in_channels": self.in_channels, "out_channels": self.out_channels, "output_scale": self.output_scale,
                 "modes": list(modes)}
        tiled = tiling.tiled_modes(modes)
        generation = generation_modes_metadata(modes)
        return {**facts, **({"tiled_modes": tiled} if tiled else {}),
                **({"generation_modes": generation} if generation else {})}


def direction_modes(model, a2b: Callable, b2a: Callable, how: str = "") -> dict:
    """The `a2b` and `b2a` modes of a two-domain method; `b2a` takes domain-B images (`model.out_channels`)."""
    return {"a2b": TranslationMode(a2b, description=f"A -> B{how}"),
            "b2a": TranslationMode(b2a, description=f"B -> A{how}", input_channels=model.out_channels)}


def round_trip_grid(model, batch: dict) -> list:
    """Sample-grid columns of a two-domain method: domain-A input | translated to B | translated back to A."""
    fake_b = model.translate(batch["domain_a"], mode="a2b")
    return [batch["domain_a"], fake_b, model.translate(fake_b, mode="b2a")]


def generator_pair_modes(model) -> dict:
    """`direction_modes` of a two-domain method whose directions are its `generator_ab` and `generator_ba`."""
    return direction_modes(model, lambda images: model.generator_ab(images, training=False),
                           lambda images: model.generator_ba(images, training=False))


def cycle_translations(model, batch: dict, training: bool) -> dict:
    """A two-generator method's translations of an unpaired batch and their round trips: fake_b = G_ab(A),
    fake_a = G_ba(B), cycled_a = G_ba(fake_b), cycled_b = G_ab(fake_a)."""
    fake_b = model.generator_ab(batch["domain_a"], training=training)
    fake_a = model.generator_ba(batch["domain_b"], training=training)
    return {"fake_a": fake_a, "fake_b": fake_b,
            "cycled_a": model.generator_ba(fake_b, training=training),
            "cycled_b": model.generator_ab(fake_a, training=training)}


# The argument checks below raise ConfigError (a ValueError): a model option that does not fit is the user's config
# to change, which the CLIs report in one line, not a defect.
def check_size_multiple(image_size: int, multiple: int, name: str = "", **received) -> None:
    """Raises a ConfigError unless `image_size` is a multiple of `multiple`; the message names the multiple (`name`,
    e.g. "2**num_downs") and the received arguments that set it after image_size."""
    if image_size % multiple:
        what = f"{name}={multiple}" if name else f"{multiple}"
        extra = "".join(f", {arg}={value}" for arg, value in received.items())
        raise ConfigError(f"image_size must be a multiple of {what}. Received: image_size={image_size}{extra}",
                          code="bad_value")


def check_inference_norm(inference_norm) -> None:
    """Raises a ConfigError unless `inference_norm` is one of `layers.INFERENCE_NORMS` ("moving" or "batch")."""
    if inference_norm not in INFERENCE_NORMS:
        raise ConfigError(f"`inference_norm` must be one of {list(INFERENCE_NORMS)}. "
                          f"Received: inference_norm={inference_norm!r}", code="bad_value")


def half_squared_norm(variables):
    """0.5 * sum(w^2) over `variables`: its gradient is w, so a loss weight wd on it is exactly PyTorch Adam's
    coupled `weight_decay=wd` (the gradient gets wd * w before the moments; Keras's AdamW decay is decoupled)."""
    total = ops.zeros((), "float32")
    for v in variables:
        total = total + ops.sum(ops.square(ops.cast(v, "float32")))
    return 0.5 * total


def reference_discriminator_loss(real_logits, fake_logits, gan_mode):
    """The discriminator loss as the UNIT and MUNIT references write it: the sum of the real and fake terms (BCE or
    squared error), without the 1/2 of `losses.discriminator_adversarial`'s lsgan and vanilla forms, summed over the
    scales of a multi-scale critic. Adam ignores a constant factor on its own, but not next to a weight-decay term,
    which this keeps at the reference's relative weight."""
    scales = len(real_logits) if isinstance(real_logits, (list, tuple)) else 1
    factor = 2.0 if gan_mode in ("lsgan", "vanilla") else 1.0
    return factor * scales * losses.discriminator_adversarial(real_logits, fake_logits, gan_mode)


def reference_generator_loss(fake_logits, gan_mode):
    """The generator's adversarial loss summed (not averaged) over the scales of a multi-scale critic, as the UNIT
    and MUNIT references add one term per scale."""
    scales = len(fake_logits) if isinstance(fake_logits, (list, tuple)) else 1
    return scales * losses.generator_adversarial(fake_logits, gan_mode)


def check_positive_ints(**values) -> None:
    """Raises a ConfigError naming the first argument that is not a positive integer (a bool is not one)."""
    for arg, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"`{arg}` must be a positive integer. Received: {arg}={value!r}", code="bad_value")


def _split_batch(batch: dict, parts: int) -> list:
    """Chunk k = rows k, k + parts, k + 2 parts, ...: each replica holds a contiguous slice of the global batch, so
    strided chunks of the slices are exactly the global batch's strided chunks (N replicas take the same critic steps
    as one device)."""
    size = tf.shape(next(iter(batch.values())))[0]
    tf.debugging.assert_equal(size % parts, 0, message=f"a training batch must hold {parts} equal chunks "
                                                       f"(one per critic step); its size is not a multiple of {parts}")
    return [{key: value[k::parts] for key, value in batch.items()} for k in range(parts)]


def _apply_if(optimizer, grads, variables, finite) -> None:
    """`optimizer.apply(grads, variables)` when the bool tensor `finite` is true (the same on every replica).

    Under MirroredStrategy an optimizer's `apply` makes a cross-replica `merge_call`, which cannot sit inside a
    replica-context `cond`: the `cond` is made in cross-replica context and the update runs per replica inside it
    (how Keras's LossScaleOptimizer skips non-finite steps).
    """
    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        ops.cond(finite, lambda: optimizer.apply(grads, variables), lambda: None)
        return

    def cross_replica(distribution, grads, finite):
        flag = distribution.experimental_local_results(finite)[0]

        def apply_fn():
            distribution.extended.call_for_each_replica(optimizer.apply, args=(grads, variables))

        ops.cond(flag, apply_fn, lambda: None)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(grads, finite))


def detached(outputs: dict) -> dict:
    return {k: ops.stop_gradient(v) for k, v in outputs.items()}


def _loss_scaled(optimizer):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


def resolve_loss_weights(cls, loss_weights: Optional[dict]) -> dict:
    """Merges user weights over the method's defaults; unknown names raise with the allowed names listed."""
    weights = dict(cls.default_loss_weights)
    for name, value in (loss_weights or {}).items():
        if isinstance(value, str):
            try:
                value = float(value)  # YAML 1.1 reads `1e2` (no dot) as a string
            except ValueError:
                pass
        if name not in weights:
            raise ConfigError(f"Unknown loss weight {name!r} for {cls.method_name}. Allowed: "
                              f"{sorted(weights)}. Received: loss_weights.{name}={value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"Loss weights must be non-negative numbers. Received: loss_weights.{name}={value!r}")
        weights[name] = float(value)
    return weights


def pad_to_multiple(images, multiple: int):
    """Pads [B,H,W,C] images at the bottom/right to multiples of `multiple`; returns (padded, H, W).

    Mirror padding avoids a hard border the network never saw in training; an image smaller than the padding it
    needs (mirroring is impossible there) is edge-padded instead.
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    if multiple <= 1:
        return images, height, width
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    paddings = [[0, 0], [0, pad_h], [0, pad_w], [0, 0]]
    fits = tf.logical_and(pad_h <= height, pad_w <= width)
    padded = tf.cond(fits, lambda: tf.pad(images, paddings, mode="SYMMETRIC"),
                     lambda: _edge_pad(images, pad_h, pad_w))
    return padded, height, width


def _edge_pad(images, pad_h, pad_w):
    bottom = tf.repeat(images[:, -1:, :, :], pad_h, axis=1)
    images = tf.concat([images, bottom], axis=1)
    right = tf.repeat(images[:, :, -1:, :], pad_w, axis=2)
    return tf.concat([images, right], axis=2)


def build_model(cfg, image_size: Optional[int] = None):
    """`get_method(cfg.method)(image_size=..., **cfg.model, loss_weights=cfg.loss_weights)` with checked kwargs."""
    import inspect

    from i2i_keras.registry import get_method

    cls = get_method(cfg.method)
    allowed = set()
    for klass in cls.__mro__:
        if klass is keras.Model:
            break
        if "__init__" in vars(klass):
            allowed |= {p for p in inspect.signature(klass.__init__).parameters if p not in ("self", "kwargs")}
    allowed -= {"loss_weights", "name"}
    unknown = sorted(set(cfg.model) - allowed)
    if unknown:
        raise ConfigError(f"Unknown model option `model.{unknown[0]}` for {cfg.method}. Allowed: {sorted(allowed)}. "
                          f"Received: model.{unknown[0]}={cfg.model[unknown[0]]!r}")
    kwargs = dict(cfg.model)
    if "domain_names" in allowed and cfg.data.domains is not None:
        # Multi-domain methods name their label positions after the data's domains (exported as metadata).
        kwargs.setdefault("domain_names", list(cfg.data.domains))
    if "scale" in allowed:
        # Super-resolution methods upscale by the data's factor; a different model.scale could never train.
        if "scale" in kwargs and kwargs["scale"] != cfg.data.scale:
            raise ConfigError(f"`model.scale` must equal `data.scale` (the factor the low-res inputs are made "
                              f"with). Received: model.scale={kwargs['scale']!r}, data.scale={cfg.data.scale!r}",
                              code="bad_value")
        kwargs.setdefault("scale", cfg.data.scale)
    kwargs.setdefault("image_size", image_size or cfg.data.crop_size)
    kwargs.setdefault("in_channels", cfg.data.channels)
    kwargs.setdefault("out_channels", cfg.data.channels)
    kwargs.setdefault("seed", cfg.train.seed)
    return cls(loss_weights=cfg.loss_weights, **kwargs)
