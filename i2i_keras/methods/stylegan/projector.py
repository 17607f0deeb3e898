"""Inverting images into a trained stylegan's W or W+ space by optimisation (StyleGAN2's projector).

Written after reading rosinality/stylegan2-pytorch `projector.py` (the reference's defaults below): the latent
starts at the mean of 10,000 mapped z's; Adam (lr 0.1, ramped up over the first 5% of the steps and down with a
cosine over the last 25%) optimises the latent and the per-layer noise maps against the LPIPS distance (+ an
optional pixel MSE, 0 by default as there) to the target; Gaussian noise of std latent_std * 0.05 * max(0, 1 -
t / 0.75)^2 is added to the latent in each step; the noise maps are kept unstructured by the multi-scale
autocorrelation penalty (weight 1e5) and re-normalised to zero mean and unit std after each step. The EMA
generator is the one inverted.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from i2i_keras.methods.base import check_positive_ints


@dataclasses.dataclass
class Projection:
    """`latent`: [B, style_dim] (W) or [B, num_latents, style_dim] (W+); `image`: the reconstruction [B, H, W, C]
    in [-1, 1]; `noises`: the optimised noise maps; `lpips`: the final LPIPS distance per image [B]."""

    latent: np.ndarray
    image: np.ndarray
    noises: list
    lpips: np.ndarray


def noise_regularization(noises) -> tf.Tensor:
    """Sum over noise maps and scales (down to 8 px, 2x2 average pooling) of the squared mean autocorrelation at a
    one-pixel shift in each direction (rosinality `noise_regularize`)."""
    total = tf.zeros((), tf.float32)
    for noise in noises:
        size = noise.shape[1]
        while True:
            total += tf.square(tf.reduce_mean(noise * tf.roll(noise, 1, axis=2))) + \
                tf.square(tf.reduce_mean(noise * tf.roll(noise, 1, axis=1)))
            if size <= 8:
                break
            noise = tf.nn.avg_pool2d(noise, 2, 2, "VALID")
            size //= 2
    return total


def _learning_rate(t, base, rampdown=0.25, rampup=0.05):
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return base * ramp * min(1.0, t / rampup)


def project(model, images, steps: int = 1000, *, w_plus: bool = False, learning_rate: float = 0.1,
            lpips_weight: float = 1.0, mse_weight: float = 0.0, noise_weight: float = 1e5,
            initial_noise: float = 0.05, noise_ramp: float = 0.75, mean_samples: int = 10000, seed: int = 0,
            lpips=None) -> Projection:
    """Finds latents (and noise maps) whose EMA-generator images match `images` ([B, H, W, C] floats in [-1, 1] at
    the model's size). `lpips`: an `i2i_keras.metrics.LPIPS` (default: the offline VGG16 one); with lpips_weight 0
    only the pixel term is used and no VGG is loaded."""
    from i2i_keras.metrics import LPIPS

    check_positive_ints(steps=steps, mean_samples=mean_samples)
    images = tf.convert_to_tensor(images, tf.float32)
    size = model.image_size
    if len(images.shape) != 4 or tuple(images.shape[1:]) != (size, size, model.out_channels):
        raise ValueError(f"project takes [batch, {size}, {size}, {model.out_channels}] images (the model's size). "
                         f"Received: images.shape={tuple(images.shape)}")
    if lpips_weight and lpips is None:
        lpips = LPIPS()
    batch = images.shape[0]
    z = tf.random.stateless_normal([mean_samples, model.style_dim], [seed, 0])
    w_samples = tf.cast(model.mapping_ema(z, training=False), tf.float32)
    w_mean = tf.reduce_mean(w_samples, axis=0)
    w_std = float(tf.sqrt(tf.reduce_sum(tf.square(w_samples - w_mean)) / mean_samples))
    shape = [batch, model.num_latents, model.style_dim] if w_plus else [batch, model.style_dim]
    latent = tf.Variable(tf.broadcast_to(w_mean, shape), name="latent")
    noises = [tf.Variable(tf.random.stateless_normal([batch, r, r, 1], [seed, 1 + k]), name=f"noise_{k}")
              for k, r in enumerate(model.noise_resolutions)]
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = [latent, *noises]
    optimizer.build(variables)

    def synthesise(w, maps):
        ws = w if w_plus else tf.repeat(w[:, None, :], model.num_latents, axis=1)
        return tf.cast(model.synthesis_ema([ws, *maps], training=False), tf.float32)

    def distance(generated):
        total = tf.zeros([batch], tf.float32)
        if lpips_weight:
            total += lpips_weight * lpips.distance(generated, images)
        if mse_weight:
            total += mse_weight * tf.reduce_mean(tf.square(generated - images), axis=[1, 2, 3])
        return total

    @tf.function
    def step(strength, rate, index):
        optimizer.learning_rate.assign(rate)
        with tf.GradientTape() as tape:
            jitter = tf.random.stateless_normal(tf.shape(latent), tf.stack([tf.constant(seed, tf.int64),
                                                                             2 + tf.cast(index, tf.int64)]))
            generated = synthesise(latent + strength * jitter, noises)
            loss = tf.reduce_sum(distance(generated)) + noise_weight * noise_regularization(noises)
        optimizer.apply(tape.gradient(loss, variables), variables)
        for noise in noises:  # rosinality `noise_normalize_`
            mean, var = tf.nn.moments(noise, axes=[1, 2, 3], keepdims=True)
            noise.assign((noise - mean) * tf.math.rsqrt(var))
        return loss

    for i in range(steps):
        t = i / steps
        strength = w_std * initial_noise * max(0.0, 1.0 - t / noise_ramp) ** 2
        step(tf.constant(strength, tf.float32), tf.constant(_learning_rate(t, learning_rate), tf.float32),
             tf.constant(i, tf.int32))
    image = tf.clip_by_value(synthesise(latent, noises), -1.0, 1.0)
    final = lpips.distance(image, images).numpy() if lpips is not None else np.full([batch], np.nan, np.float32)
    return Projection(latent=latent.numpy(), image=image.numpy(), noises=[n.numpy() for n in noises], lpips=final)


def reconstruct(model, latent, noises: Optional[list] = None):
    """The EMA generator's image of a projected `latent` (W [B, D] or W+ [B, L, D]) with `noises` (default: the
    model's fixed noise buffers, as the modes use)."""
    latent = tf.convert_to_tensor(latent, tf.float32)
    batch = latent.shape[0]
    ws = latent if len(latent.shape) == 3 else tf.repeat(latent[:, None, :], model.num_latents, axis=1)
    if noises is None:
        noises = [tf.tile(buffer, [batch, 1, 1, 1]) for buffer in model.noise_buffers]
    images = model.synthesis_ema([ws, *[tf.convert_to_tensor(n, tf.float32) for n in noises]], training=False)
    return tf.clip_by_value(tf.cast(images, tf.float32), -1.0, 1.0).numpy()
