"""Loss terms as pure functions returning per-replica, *unscaled* float32 scalars.

The method base class weights, sums and scales them for the number of replicas exactly once; never divide by
the replica count here. Discriminator outputs may be a tensor or a list of tensors (multi-scale); list terms are
averaged over scales.
"""

from keras import ops

GAN_MODES = ("lsgan", "vanilla", "hinge", "wgan")


def _f32(x):
    return ops.cast(x, "float32")


def _over_scales(fn, *outputs):
    if isinstance(outputs[0], (list, tuple)):
        terms = [fn(*parts) for parts in zip(*outputs)]
        return ops.mean(ops.stack(terms))
    return fn(*outputs)


def check_gan_mode(mode):
    if mode not in GAN_MODES:
        raise ValueError(f"Unknown GAN loss {mode!r}; expected one of {list(GAN_MODES)}. Received: gan_mode={mode!r}")


def discriminator_adversarial(real_logits, fake_logits, mode="lsgan"):
    """D loss. lsgan: 0.5 [(D(x)-1)^2 + D(G(z))^2]; vanilla: BCE(D(x),1) + BCE(D(G(z)),0);
    hinge: relu(1-D(x)) + relu(1+D(G(z))); wgan: D(G(z)) - D(x). (The 0.5 for lsgan/vanilla follows the
    CycleGAN code, which halves D's objective to slow it relative to G.)"""
    check_gan_mode(mode)

    def one(real, fake):
        real, fake = _f32(real), _f32(fake)
        if mode == "lsgan":
            return 0.5 * (ops.mean(ops.square(real - 1.0)) + ops.mean(ops.square(fake)))
        if mode == "vanilla":
            return 0.5 * (ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake)))
        if mode == "hinge":
            return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))
        return ops.mean(fake) - ops.mean(real)

    return _over_scales(one, real_logits, fake_logits)


def generator_adversarial(fake_logits, mode="lsgan"):
    """G loss. lsgan: (D(G(z))-1)^2; vanilla (non-saturating): BCE(D(G(z)),1); hinge and wgan: -D(G(z))."""
    check_gan_mode(mode)

    def one(fake):
        fake = _f32(fake)
        if mode == "lsgan":
            return ops.mean(ops.square(fake - 1.0))
        if mode == "vanilla":
            return ops.mean(ops.softplus(-fake))
        return -ops.mean(fake)

    return _over_scales(one, fake_logits)


def l1(a, b):
    """mean |a - b|."""
    return ops.mean(ops.abs(_f32(a) - _f32(b)))


def mse(a, b):
    """mean (a - b)^2."""
    return ops.mean(ops.square(_f32(a) - _f32(b)))


def gradient_penalty(critic, real, fake, alpha):
    """WGAN-GP (Gulrajani et al. 2017): mean (||grad_x D(x_hat)||_2 - 1)^2 at x_hat = x + a (G(z) - x), with
    a ~ U(0, 1) per example given by the caller as [B, 1, 1, 1] (`TranslationModel.random_uniform`).
    `critic(images)` returns the critic's logits (a tensor, or a list: the first one is used)."""
    import tensorflow as tf  # GradientTape: Keras ops have no gradient-of-input primitive

    real, fake = _f32(real), _f32(fake)
    mixed = real + _f32(alpha) * (fake - real)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        logits = critic(mixed)
        if isinstance(logits, (list, tuple)):
            logits = logits[0]
        total = ops.sum(_f32(logits))
    grads = tape.gradient(total, mixed)
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=(1, 2, 3)) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


def kl_divergence(mu, logvar=None):
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dimensions, averaged over the batch:
    -0.5 sum(1 + logvar - mu^2 - exp(logvar)). With `logvar=None` the posterior has unit variance and the KL
    reduces to 0.5 sum(mu^2)."""
    mu = _f32(mu)
    if logvar is None:
        return ops.mean(0.5 * ops.sum(ops.square(mu), axis=-1))
    logvar = _f32(logvar)
    return ops.mean(-0.5 * ops.sum(1.0 + logvar - ops.square(mu) - ops.exp(logvar), axis=-1))


def mean_square(x):
    """mean x^2 (UNIT's KL term for a unit-variance Gaussian posterior, up to constants, as its reference code)."""
    return ops.mean(ops.square(_f32(x)))


def domain_classification(logits, labels):
    """StarGAN's classification loss: binary cross-entropy with logits summed over domains/attributes, averaged
    over the batch (the reference code's sum / batch size; for one-hot labels it plays the role of softmax CE)."""
    logits, labels = _f32(logits), _f32(labels)
    per_entry = ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.mean(ops.sum(per_entry, axis=-1))
