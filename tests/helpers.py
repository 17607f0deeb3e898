"""Shared test helpers (tiny configs and synthetic dict batches)."""

import os

import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "configs", "tiny")
# Seeds of the learning tests that repeat a run per seed (the domain adaptation ones): CI runs seed 0;
# `I2I_LEARNING_SEEDS=0,1,2 make test` (or `pytest -m learning`) checks the others.
LEARNING_SEEDS = [int(seed) for seed in os.environ.get("I2I_LEARNING_SEEDS", "0").split(",") if seed.strip()]


def tiny_config(method, overrides=()):
    from i2i_keras.config import load_config

    return load_config(os.path.join(TINY, f"{method}.yaml"), overrides=list(overrides))


def synthetic_batches(kind, size=32, channels=3, batch=2, count=4, seed=0, domains=3):
    """A small dict-batch dataset of the given data kind (smooth random images in [-1, 1]), as the kind declares."""
    from i2i_keras.data import kinds

    return kinds.get(kind).synthetic_batches(size=size, channels=channels, batch=batch, count=count, seed=seed,
                                             domains=domains)


def model_batches(model, batch=2, count=4, seed=0):
    """`synthetic_batches` shaped for `model`: its data kind, channels, domains, batches per training step and
    output scale (super-resolution: 32 px targets, 32 / scale px sources)."""
    from i2i_keras.data import kinds

    return kinds.get(model.data_kind).synthetic_batches(
        size=32, channels=model.in_channels, batch=batch * model.batches_per_step, count=count, seed=seed,
        domains=getattr(model, "num_domains", 3), scale=model.output_scale)


def mode_inputs(model, mode, images, num_samples=3, seed=1):
    """Example values for the extra inputs of `mode` (standard names from i2i_keras.methods.base); `images` may be
    None for a generation mode (no input image)."""
    import numpy as np

    from i2i_keras.methods import base

    values = {}
    batch = None if images is None else images.shape[0]
    spec_of_mode = model.translation_modes()[mode]
    for name, spec in spec_of_mode.extra_inputs.items():
        if name == base.TARGET_DOMAIN:
            values[name] = np.arange(batch, dtype="int32") % model.num_domains
        elif name == base.TARGET_LABELS:
            values[name] = ((np.arange(batch)[:, None] + np.arange(model.num_domains)) % 2).astype("float32")
        elif name == base.NUM_SAMPLES:
            values[name] = np.int32(num_samples)
        elif name == base.SEED:
            values[name] = np.int64(seed)
        elif name == base.REFERENCE:
            values[name] = np.flip(np.asarray(images), axis=1).copy()
        elif name == base.ALPHA:
            values[name] = np.float32(0.5)
        elif name == base.TRUNCATION_PSI:
            values[name] = np.float32(0.7)
        elif name in (base.SEED_COARSE, base.SEED_FINE):
            values[name] = np.int64(seed if name == base.SEED_COARSE else seed + 1)
        elif name == base.CROSSOVER:
            values[name] = np.int32(spec_of_mode.defaults.get(name, 1))
        else:
            raise ValueError(f"no example value for extra input {name!r} of mode {mode!r}")
    return values


def run_mode(model, mode, images, **inputs):
    """`model.translate` of `mode` with `mode_inputs` (overridden by `inputs`): on `images` for an image mode, on
    no image for a generation mode."""
    spec = model.translation_modes()[mode]
    values = {**mode_inputs(model, mode, images if spec.takes_images else None), **inputs}
    return model.translate(images if spec.takes_images else None, mode=mode, **values)


def assert_learns_unpaired_translation(model, train, test, steps):
    """Trains `steps` on `train` and checks on the held-out unpaired `test` batches that the A -> B -> A error falls
    below half its start and below an all-background guess, that translations are not copies, and that translated
    A images move to domain B's mean image (closer to it than to A's mean, and than the two real means are)."""
    import numpy as np

    real_a = np.concatenate([b["domain_a"] for b in test])
    real_b = np.concatenate([b["domain_b"] for b in test])

    def cycle_error():
        fake_b = np.asarray(model.translate(real_a, mode="a2b"))
        return float(np.abs(np.asarray(model.translate(fake_b, mode="b2a")) - real_a).mean()), fake_b

    before, _ = cycle_error()
    model.fit(train, steps_per_epoch=steps, epochs=1, verbose=0)
    after, fake_b = cycle_error()
    background = float(np.abs(real_a + 1.0).mean())
    assert after < 0.5 * before and after < 0.75 * background, (before, after, background)
    assert np.abs(fake_b - real_a).mean() > 0.1
    to_b = np.abs(fake_b.mean(0) - real_b.mean(0)).mean()
    to_a = np.abs(fake_b.mean(0) - real_a.mean(0)).mean()
    a_to_b = np.abs(real_a.mean(0) - real_b.mean(0)).mean()
    assert to_b < to_a and to_b < a_to_b, (to_b, to_a, a_to_b)


def interrupt_at(step):
    """A Keras callback that simulates a crash (KeyboardInterrupt) right after training step `step`, i.e. after its
    checkpoint was written."""
    import keras

    class InterruptAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.train_steps.numpy()) == step:
                raise KeyboardInterrupt("simulated interruption")

    return InterruptAt()


def save_saved_model_without_bytes_signatures(path):
    """A SavedModel with only a `serving_default` that echoes strings: loadable, but not an i2i_keras export."""

    class Bare(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, images):
            return {"images": images}

    bare = Bare()
    tf.saved_model.save(bare, str(path), signatures={"serving_default": bare.serve})
    return str(path)
