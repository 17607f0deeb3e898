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
