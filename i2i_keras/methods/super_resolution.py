"""What the super-resolution methods (SRCNN, EDSR, SRGAN) share: the ``sr`` batch, an output `scale` times the
input's size, one ``upscale`` mode, the bicubic column of sample grids, and starting from another run's weights.

A method subclasses `SuperResolutionModel`, builds its network as `self.generator` and implements
`upscale(low_res, training)`, returning the high-res prediction (float, unclipped: losses see the raw output;
`translate` and the exports clip it to [-1, 1]).
"""

from __future__ import annotations

from typing import Optional

import keras
from keras import ops

from i2i_keras import storage
from i2i_keras.data import transforms
from i2i_keras.errors import ConfigError
from i2i_keras.methods.base import TranslationMode, TranslationModel


class SuperResolutionModel(TranslationModel):
    """Base of the super-resolution methods.

    Args:
        scale: upscaling factor (the data's ``data.scale``; `build_model` passes it): outputs are `scale` times the
            input's height and width (`output_scale`, exported in the metadata).
        init_from: a run directory (its ``model.keras``) or a ``.keras`` file whose weights start this model: every
            layer of the same network with the same name and weight shapes is copied, except the layers the method
            keeps new (`fresh_layer_prefixes`, e.g. EDSR's upsampler when an x4 model starts from an x2 run). Read
            once, at construction; not part of `get_config` (a saved model holds its weights already).
        lr_step_size / lr_step_gamma: multiply the learning rates by lr_step_gamma every lr_step_size training
            steps (0: off; the papers' step decay, `TranslationModel.lr_step_size`).
        (and the base-class arguments)

    Batch format (data kind "sr"): ``{"source": low-res [B,h,w,C], "target": high-res [B,h*scale,w*scale,C]}``.
    """

    data_kind = "sr"
    paired_metrics = True
    # Scales the network can be built for.
    supported_scales: tuple = (2, 3, 4)
    # Layer-name prefixes `init_from` does not copy.
    fresh_layer_prefixes: tuple = ()

    def __init__(self, scale=4, init_from=None, lr_step_size=0, lr_step_gamma=0.5, **kwargs):
        super().__init__(**kwargs)
        if isinstance(lr_step_size, bool) or not isinstance(lr_step_size, int) or lr_step_size < 0:
            raise ConfigError(f"`lr_step_size` must be a non-negative integer (0: no step decay). "
                              f"Received: lr_step_size={lr_step_size!r}", code="bad_value")
        if isinstance(lr_step_gamma, bool) or not isinstance(lr_step_gamma, (int, float)) or \
                not 0 < lr_step_gamma <= 1:
            raise ConfigError(f"`lr_step_gamma` must be in (0, 1]. Received: lr_step_gamma={lr_step_gamma!r}",
                              code="bad_value")
        self.lr_step_size = int(lr_step_size)
        self.lr_step_gamma = float(lr_step_gamma)
        if isinstance(scale, bool) or scale not in self.supported_scales:
            raise ConfigError(f"{self.method_name} upscales by one of {list(self.supported_scales)}. "
                              f"Received: scale={scale!r}", code="bad_value")
        self.scale = int(scale)
        self.output_scale = self.scale
        self.init_from = init_from

    # ------------------------------------------------------------------ contract
    def upscale(self, low_res, training=False):
        raise NotImplementedError

    def networks(self) -> dict:
        """name -> network (Functional model attribute) whose weights `init_from` copies: the `generator`."""
        return {"generator": self.generator}

    def generator_variables(self):
        return self.generator.trainable_variables

    def generate(self, batch, training):
        return {"output": self.upscale(batch["source"], training=training)}

    def evaluation_pairs(self, batch, outputs):
        return [(ops.clip(outputs["output"], -1.0, 1.0), batch["target"])]

    def translation_modes(self):
        return {"upscale": TranslationMode(lambda images: ops.clip(self.upscale(images, training=False), -1.0, 1.0),
                                           description=f"low-res -> high-res (x{self.scale})")}

    def sample_grid(self, batch):
        return [transforms.upscale_bicubic(batch["source"], self.scale), self.translate(batch["source"]),
                batch["target"]]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "lr_step_size": self.lr_step_size,
                "lr_step_gamma": self.lr_step_gamma}

    def metadata(self):
        return {**super().metadata(), "scale": self.scale}

    # ------------------------------------------------------------------ starting from another run
    def initialize_from(self, path: Optional[str]) -> int:
        """Copies matching layers' weights from `path` (see `init_from`); returns how many layers were copied."""
        if path is None:
            return 0
        return copy_matching_layers(self.networks(), path, self.fresh_layer_prefixes)


def resolve_keras_file(path: str, option: str = "model.init_from") -> str:
    """A run directory -> its ``model.keras``; a ``.keras`` file as it is; ConfigError when neither exists."""
    if not isinstance(path, str) or not path:
        raise ConfigError(f"`{option}` must be a run directory or a .keras file. Received: {option}={path!r}",
                          code="bad_value")
    candidate = storage.join(path, "model.keras") if storage.isdir(path) else path
    if not candidate.endswith(".keras") or not storage.exists(candidate):
        raise ConfigError(f"`{option}`: no trained model at {candidate} (expected a run directory holding "
                          f"model.keras, or a .keras file). Received: {option}={path!r}", code="not_found")
    return candidate


def copy_matching_layers(networks: dict, path: str, fresh_prefixes: tuple = ()) -> int:
    """Copies into each network of `networks` (name -> Functional model) the weights of the same-named network of
    the model saved at `path`, layer by layer, where the layer names and weight shapes match and the name does not
    start with one of `fresh_prefixes`. Raises a ConfigError when nothing matches (another method's run)."""
    source = keras.saving.load_model(resolve_keras_file(path), compile=False)
    copied = 0
    for name, network in networks.items():
        other = getattr(source, name, None)
        if not isinstance(other, keras.Model):
            continue
        layers = {layer.name: layer for layer in other.layers}
        for layer in network.layers:
            match = layers.get(layer.name)
            if not layer.weights or match is None or layer.name.startswith(tuple(fresh_prefixes)):
                continue
            if [tuple(w.shape) for w in match.weights] == [tuple(w.shape) for w in layer.weights]:
                layer.set_weights(match.get_weights())
                copied += 1
    if not copied:
        raise ConfigError(f"`model.init_from`: no layer of {sorted(networks)} matches the model at {path} "
                          f"(a run of another method or width?)", code="bad_value")
    return copied
