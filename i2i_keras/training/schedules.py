import keras
from keras import ops


@keras.saving.register_keras_serializable(package="i2i_keras")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant learning rate for the first `decay_start` fraction of `total_steps`, then linear decay to zero.

    This is the CycleGAN/pix2pix "linear" policy (n_epochs at the initial rate, n_epochs_decay to zero), expressed
    in optimizer steps so that it resumes exactly from the optimizer's restored step counter.
    """

    def __init__(self, initial_learning_rate, total_steps, decay_start=0.5):
        if total_steps <= 0:
            raise ValueError(f"`total_steps` must be positive. Received: total_steps={total_steps!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.decay_start = float(decay_start)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        start = self.decay_start * self.total_steps
        span = max(self.total_steps - start, 1.0)
        fraction = ops.clip((step - start) / span, 0.0, 1.0)
        return self.initial_learning_rate * (1.0 - fraction)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "total_steps": self.total_steps,
                "decay_start": self.decay_start}


def make_optimizer(learning_rate, optim_cfg, total_steps):
    """Adam with the configured betas, epsilon and schedule (or L-BFGS with `optim.optimizer: lbfgs`).

    No `use_ema`: Keras's `fit` finalises an optimizer's weight averages over *all* of the model's trainable
    weights, which does not fit a model whose generator and discriminator have separate optimizers.
    """
    if optim_cfg.schedule == "linear":
        learning_rate = LinearDecay(learning_rate, total_steps, optim_cfg.decay_start)
    if optim_cfg.optimizer == "lbfgs":
        from i2i_keras.training.lbfgs import LBFGS

        return LBFGS(learning_rate)
    return keras.optimizers.Adam(learning_rate, beta_1=optim_cfg.beta_1, beta_2=optim_cfg.beta_2,
                                 epsilon=optim_cfg.epsilon)
