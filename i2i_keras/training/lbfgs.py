"""L-BFGS as a Keras optimizer: one gradient per `apply`, so that one `train_step` is one L-BFGS iteration.

Gatys et al. optimise the image with L-BFGS. TensorFlow Probability's `lbfgs_minimize` (not installed here, and
not a dependency) runs a whole minimisation with line searches inside one call, which does not fit `fit`'s one
step per batch with progress, summaries, checkpoints and resume. This is the iteration of PyTorch's
`torch.optim.LBFGS` without a line search (`line_search_fn=None`, what the PyTorch neural-style implementations
use), as torch/optim/lbfgs.py writes it: direction from the two-loop recursion over the last `history_size` pairs
(s = x_k - x_{k-1}, y = g_k - g_{k-1}, kept only when y.s > 1e-10), initial Hessian scale y.s / y.y of the newest
pair, step `learning_rate` (the first step `min(1, 1 / |g|_1) * learning_rate`).

Each variable has its own history (for `nst`, the one image variable, this is exactly L-BFGS over it). The state
(previous point and gradient, the pairs) lives in optimizer variables, so checkpoints and `--resume` continue the
same iteration.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="i2i_keras")
class LBFGS(keras.optimizers.Optimizer):
    """Limited-memory BFGS without line search (see the module docstring).

    Args:
        learning_rate: the step size (PyTorch's `lr`, default 1).
        history_size: how many (s, y) pairs are kept (PyTorch's default 100).
    """

    def __init__(self, learning_rate=1.0, history_size=100, name="lbfgs", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if isinstance(history_size, bool) or not isinstance(history_size, int) or history_size < 1:
            raise ValueError(f"`history_size` must be a positive integer. Received: history_size={history_size!r}")
        self.history_size = history_size

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._state = []
        for variable in variables:
            size = int(tf.size(variable))
            m = self.history_size
            names = variable.name.replace("/", "_").replace(":", "_")
            self._state.append({
                "prev_x": self.add_variable((size,), initializer="zeros", dtype="float32", name=f"{names}_prev_x"),
                "prev_g": self.add_variable((size,), initializer="zeros", dtype="float32", name=f"{names}_prev_g"),
                "s": self.add_variable((m, size), initializer="zeros", dtype="float32", name=f"{names}_s"),
                "y": self.add_variable((m, size), initializer="zeros", dtype="float32", name=f"{names}_y"),
                "rho": self.add_variable((m,), initializer="zeros", dtype="float32", name=f"{names}_rho"),
                "pairs": self.add_variable((), initializer="zeros", dtype="float32", name=f"{names}_pairs"),
                "h_diag": self.add_variable((), initializer="ones", dtype="float32", name=f"{names}_h_diag"),
                "started": self.add_variable((), initializer="zeros", dtype="float32", name=f"{names}_started"),
            })

    def update_step(self, gradient, variable, learning_rate):
        state = self._state[self._get_variable_index(variable)]
        m = self.history_size
        g = tf.reshape(tf.cast(gradient, tf.float32), [-1])
        x = tf.reshape(tf.cast(variable, tf.float32), [-1])
        started = state["started"] > 0
        s_new = x - state["prev_x"]
        y_new = g - state["prev_g"]
        ys = tf.reduce_sum(s_new * y_new)
        push = tf.logical_and(started, ys > 1e-10)

        def pushed():
            s_hist = tf.concat([state["s"][1:], s_new[None]], axis=0)
            y_hist = tf.concat([state["y"][1:], y_new[None]], axis=0)
            rho = tf.concat([state["rho"][1:], [1.0 / ys]], axis=0)
            return s_hist, y_hist, rho, tf.minimum(state["pairs"] + 1.0, float(m)), ys / tf.reduce_sum(y_new * y_new)

        s_hist, y_hist, rho, pairs, h_diag = tf.cond(
            push, pushed, lambda: (tf.identity(state["s"]), tf.identity(state["y"]), tf.identity(state["rho"]),
                                   tf.identity(state["pairs"]), tf.identity(state["h_diag"])))
        # Pairs sit at the end of the buffers (newest last); entries before m - pairs are empty and masked out.
        valid = tf.cast(tf.range(m), tf.float32) >= float(m) - pairs

        def first_loop(i, q, alphas):
            k = m - 1 - i
            alpha = tf.where(valid[k], rho[k] * tf.reduce_sum(s_hist[k] * q), 0.0)
            return i + 1, q - alpha * y_hist[k], tf.tensor_scatter_nd_update(alphas, [[k]], [alpha])

        _, q, alphas = tf.while_loop(lambda i, *_: i < m, first_loop, (0, -g, tf.zeros([m])))

        def second_loop(k, r):
            beta = rho[k] * tf.reduce_sum(y_hist[k] * r)
            return k + 1, tf.where(valid[k], r + s_hist[k] * (alphas[k] - beta), r)

        _, direction = tf.while_loop(lambda k, _: k < m, second_loop, (0, q * h_diag))
        lr = tf.cast(learning_rate, tf.float32)
        step = tf.where(started, lr, tf.minimum(1.0, 1.0 / tf.reduce_sum(tf.abs(g))) * lr)
        for key, value in (("s", s_hist), ("y", y_hist), ("rho", rho), ("pairs", pairs), ("h_diag", h_diag),
                           ("prev_x", x), ("prev_g", g)):
            self.assign(state[key], value)
        self.assign(state["started"], 1.0)
        self.assign_add(variable, tf.cast(tf.reshape(step * direction, tf.shape(variable)), variable.dtype))

    def get_config(self):
        return {**super().get_config(), "history_size": self.history_size}
