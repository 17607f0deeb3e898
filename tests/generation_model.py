"""A tiny unconditional generator that stands in for StyleGAN in the tests of the generation plumbing (translate,
export, the translate CLI, the serving client, evaluation). It is not registered: tests build it directly.

Modes (`TranslationMode(takes_images=False)`, the standard input names of `i2i_keras.methods.base`):
- `generate` {num_samples, seed, truncation_psi} -> [num_samples, S, S, 3]: latents z ~ N(0, 1) drawn statelessly
  from `seed` (row k from the seed and k, so the first samples do not depend on `num_samples`), scaled by
  `truncation_psi` (a mean latent of 0), through a Dense -> 4x4 -> upsampling conv net with tanh;
- `mix` {seed_coarse, seed_fine, crossover, truncation_psi} -> [1, S, S, 3]: latent entries before `crossover`
  from `seed_coarse`'s first sample, the others from `seed_fine`'s.
"""

import keras
import tensorflow as tf

from i2i_keras.methods import base

LATENT = 8


def latents(seed, count):
    """[count, LATENT] N(0, 1) draws; row k depends on (seed, k) alone."""
    seed = tf.cast(seed, tf.int64)
    rows = tf.range(tf.cast(count, tf.int64), dtype=tf.int64)
    return tf.map_fn(lambda k: tf.random.stateless_normal([LATENT], seed=tf.stack([seed, k])), rows,
                     fn_output_signature=tf.TensorSpec([LATENT], tf.float32))


class TinyGenerator(base.TranslationModel):
    method_name = "tiny_generator"
    data_kind = "single"

    def __init__(self, image_size=16, **kwargs):
        super().__init__(image_size=image_size, **kwargs)
        z = keras.Input((LATENT,))
        x = keras.layers.Dense(4 * 4 * 8, activation="relu")(z)
        x = keras.layers.Reshape((4, 4, 8))(x)
        while x.shape[1] < image_size:
            x = keras.layers.UpSampling2D()(x)
            x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(self.out_channels, 3, padding="same", activation="tanh")(x)
        self.synthesis = keras.Model(z, x, name="synthesis")

    def generator_variables(self):
        return self.synthesis.trainable_variables

    def _images(self, z, truncation_psi):
        return self.synthesis(z * tf.cast(truncation_psi, tf.float32), training=False)

    def _generate(self, num_samples, seed, truncation_psi):
        return self._images(latents(seed, num_samples), truncation_psi)

    def _mix(self, seed_coarse, seed_fine, crossover, truncation_psi):
        coarse = tf.range(LATENT) < tf.cast(crossover, tf.int32)
        z = tf.where(coarse[None], latents(seed_coarse, 1), latents(seed_fine, 1))
        return self._images(z, truncation_psi)

    def translation_modes(self):
        scalar = lambda dtype: tf.TensorSpec([], dtype)  # noqa: E731
        return {
            "generate": base.TranslationMode(
                self._generate, takes_images=False, description="samples from seeds",
                extra_inputs={base.NUM_SAMPLES: scalar(tf.int32), base.SEED: scalar(tf.int64),
                              base.TRUNCATION_PSI: scalar(tf.float32)}),
            "mix": base.TranslationMode(
                self._mix, takes_images=False, description="style mixing of two seeds",
                extra_inputs={base.SEED_COARSE: scalar(tf.int64), base.SEED_FINE: scalar(tf.int64),
                              base.CROSSOVER: scalar(tf.int32), base.TRUNCATION_PSI: scalar(tf.float32)},
                defaults={base.CROSSOVER: LATENT // 2}),
        }


def tiny_generator(seed=0, image_size=16):
    keras.utils.set_random_seed(seed)
    return TinyGenerator(image_size=image_size)
