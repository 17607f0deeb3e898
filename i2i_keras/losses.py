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


# ----------------------------------------------------------------------------------------------- feature-space terms
# `extractor(images) -> {tap: [B, h, w, C]}`: an `i2i_keras.networks.pretrained.VGGFeatures`, or any callable that
# treats examples independently (prediction and target go through it as one batch, which halves the op launches).


def gram_matrix(features):
    """[B, H, W, C] -> [B, C, C]: ``F^T F / (H W C)`` with F the [H W, C] matrix of each example's features.

    The normalisation by H*W*C is Johnson et al. 2016's (fast style transfer); Gatys et al. 2016 use the plain sum
    with a 1 / (4 C^2 (H W)^2) factor in the loss instead. Dividing here makes the loss independent of image size.
    """
    f = _f32(features)
    shape = ops.shape(f)
    size = ops.cast(shape[1] * shape[2] * shape[3], "float32")
    return ops.einsum("bhwc,bhwd->bcd", f, f) / size


def _tap_weights(taps, layer_weights):
    """``[(tap, weight)]``: every weight 1.0 when `layer_weights` is None, else a {tap: w} dict or a sequence
    aligned with `taps`."""
    taps = (taps,) if isinstance(taps, str) else tuple(taps)
    if not taps:
        raise ValueError("feature losses need at least one tap; received taps=()")
    if layer_weights is None:
        return [(tap, 1.0) for tap in taps]
    if isinstance(layer_weights, dict):
        extra = sorted(set(layer_weights) - set(taps))
        if extra:
            raise ValueError(f"layer_weights name taps {extra} that are not in taps {list(taps)}")
        return [(tap, float(layer_weights.get(tap, 0.0))) for tap in taps]
    layer_weights = [float(w) for w in layer_weights]
    if len(layer_weights) != len(taps):
        raise ValueError(f"layer_weights has {len(layer_weights)} entries for {len(taps)} taps {list(taps)}; "
                         f"expected one weight per tap (or a {{tap: weight}} dict)")
    return list(zip(taps, layer_weights))


def _features(extractor, images, taps):
    out = extractor(images)
    missing = [tap for tap in taps if tap not in out]
    if missing:
        raise ValueError(f"the feature extractor returned taps {sorted(out)}; the loss asked for {missing} too")
    return out


def _paired_features(extractor, prediction, target, taps):
    """``(prediction features, target features)`` from one pass; the target side is a constant (no gradient goes
    into the data it comes from, as in pix2pixHD's and SRGAN's feature losses)."""
    count = ops.shape(prediction)[0]
    both = _features(extractor, ops.concatenate([_f32(prediction), _f32(target)], axis=0), taps)
    return ({tap: _f32(both[tap][:count]) for tap in taps},
            {tap: ops.stop_gradient(_f32(both[tap][count:])) for tap in taps})


def _instance_normalized(features, epsilon=1e-5):
    """Each channel of each example normalised over space (mean 0, variance 1; no affine), as
    `torch.nn.InstanceNorm2d(affine=False)`."""
    mean = ops.mean(features, axis=(1, 2), keepdims=True)
    variance = ops.var(features, axis=(1, 2), keepdims=True)
    return (features - mean) / ops.sqrt(variance + epsilon)


def perceptual_loss(extractor, prediction, target, taps, layer_weights=None, distance="l1", normalize=None):
    """Feature reconstruction loss: ``sum_i w_i mean |phi_i(prediction) - phi_i(target)|`` (``distance="l1"``) or
    with squared differences (``"l2"``), over `taps` of `extractor`, each tap's mean over its own elements.

    Weights default to 1.0 per tap (pix2pixHD's VGG loss is taps relu1_1..relu5_1 with 1/32, 1/16, 1/8, 1/4, 1;
    SRGAN's content loss is one tap with l2). Prediction and target are [B, H, W, C] in [-1, 1].
    ``normalize="instance"`` instance-normalises both feature maps first: MUNIT's domain-invariant perceptual loss
    (NVlabs/MUNIT trainer.py ``compute_vgg_loss``: relu5_3, ``InstanceNorm2d(affine=False)``, squared distance),
    which compares content while ignoring the feature statistics that carry a domain's style.
    """
    if distance not in ("l1", "l2"):
        raise ValueError(f"perceptual_loss distance must be 'l1' or 'l2'; received distance={distance!r}")
    if normalize not in (None, "instance"):
        raise ValueError(f"perceptual_loss normalize must be None or 'instance'; received normalize={normalize!r}")
    weighted = _tap_weights(taps, layer_weights)
    predicted, wanted = _paired_features(extractor, prediction, target, [tap for tap, _ in weighted])
    total = 0.0
    for tap, weight in weighted:
        a, b = predicted[tap], wanted[tap]
        if normalize == "instance":
            a, b = _instance_normalized(a), _instance_normalized(b)
        diff = a - b
        total = total + weight * ops.mean(ops.abs(diff) if distance == "l1" else ops.square(diff))
    return _f32(total)


def _style_pair(extractor, prediction, style_images, taps):
    """Features of the prediction and (constant) of the style images; a style batch of 1 serves every example."""
    styles, batch = ops.shape(style_images)[0], ops.shape(prediction)[0]
    if isinstance(styles, int) and isinstance(batch, int) and styles not in (1, batch):
        raise ValueError(f"style_images must have batch 1 or the prediction's batch {batch}; received batch {styles}")
    predicted = _features(extractor, _f32(prediction), taps)
    style = _features(extractor, _f32(style_images), taps)
    return predicted, {tap: ops.stop_gradient(_f32(style[tap])) for tap in taps}


def style_loss(extractor, prediction, style_images, taps, layer_weights=None):
    """Gram-matrix style loss (Gatys et al. 2016, as Johnson et al. 2016 normalise it): ``sum_i w_i
    mean((G(phi_i(prediction)) - G(phi_i(style)))^2)`` with `gram_matrix` (normalised by H*W*C); the mean runs over
    the batch and the C x C entries. `style_images` has batch 1 (one style for all) or the prediction's batch."""
    weighted = _tap_weights(taps, layer_weights)
    predicted, style = _style_pair(extractor, prediction, style_images, [tap for tap, _ in weighted])
    return gram_distance(predicted, {tap: gram_matrix(style[tap]) for tap, _ in weighted}, weighted)


def gram_distance(features, target_grams, weighted):
    """``sum_i w_i mean((G(features_i) - target_grams_i)^2)`` over ``weighted = [(tap, w_i)]`` (`_tap_weights`):
    the distance of `style_loss`, for targets computed once (Gatys' optimisation keeps its style's Gram matrices,
    [1 or B, C, C], fixed over all its steps)."""
    total = 0.0
    for tap, weight in weighted:
        total = total + weight * ops.mean(ops.square(gram_matrix(features[tap]) - _f32(target_grams[tap])))
    return _f32(total)


def tap_weights(taps, layer_weights=None):
    """``[(tap, weight)]`` of a feature loss: 1.0 each, or a {tap: w} dict, or a sequence aligned with `taps`."""
    return _tap_weights(taps, layer_weights)


def mean_std_loss(extractor, prediction, style_images, taps, layer_weights=None, epsilon=1e-5):
    """AdaIN's style loss (Huang & Belongie 2017): ``sum_i w_i [MSE(mu_i(p), mu_i(s)) + MSE(sigma_i(p),
    sigma_i(s))]`` with per-example, per-channel spatial mean and ``sigma = sqrt(var + epsilon)``.

    The variance is the population one (divided by H*W), as this library's `AdaptiveInstanceNorm` computes it (the
    reference PyTorch code uses the unbiased one; at feature-map sizes the difference is negligible). The AdaIN
    paper's taps are relu1_1, relu2_1, relu3_1, relu4_1 with weight 1.
    """
    weighted = _tap_weights(taps, layer_weights)
    predicted, style = _style_pair(extractor, prediction, style_images, [tap for tap, _ in weighted])
    return mean_std_distance(predicted, style, weighted, epsilon)


def channel_mean_std(features, epsilon=1e-5):
    """Per-example, per-channel spatial statistics of [B, H, W, C] features: (mean [B, C], sqrt(var + eps) [B, C])
    in float32 (what AdaIN matches)."""
    features = _f32(features)
    return ops.mean(features, axis=(1, 2)), ops.sqrt(ops.var(features, axis=(1, 2)) + epsilon)


def mean_std_distance(predicted, style, weighted, epsilon=1e-5):
    """The distance of `mean_std_loss` between feature dicts already computed (``weighted = [(tap, w_i)]``, from
    `tap_weights`); `style` entries have batch 1 or the prediction's."""
    total = 0.0
    for tap, weight in weighted:
        (p_mean, p_std), (s_mean, s_std) = channel_mean_std(predicted[tap], epsilon), channel_mean_std(style[tap],
                                                                                                     epsilon)
        total = total + weight * (ops.mean(ops.square(p_mean - s_mean)) + ops.mean(ops.square(p_std - s_std)))
    return _f32(total)


def total_variation_loss(images, power=1):
    """Anisotropic total variation: ``mean |x[i+1, j] - x[i, j]|^p + mean |x[i, j+1] - x[i, j]|^p`` over the batch,
    pixels and channels (``power`` 1 or 2). Means rather than sums (tf.image.total_variation sums) keep its weight
    independent of image size."""
    if power not in (1, 2):
        raise ValueError(f"total_variation_loss power must be 1 or 2; received power={power!r}")
    x = _f32(images)
    down = x[:, 1:, :, :] - x[:, :-1, :, :]
    right = x[:, :, 1:, :] - x[:, :, :-1, :]
    norm = ops.abs if power == 1 else ops.square
    return ops.mean(norm(down)) + ops.mean(norm(right))
