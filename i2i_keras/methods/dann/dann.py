import math

import keras
from keras import layers, ops

from i2i_keras.methods.base import TranslationModel, check_positive_ints
from i2i_keras.methods.dann.classification import (ClassifierMethod, class_names_of, cross_entropy,
                                                   mnist_classifier, reverse_gradient)
from i2i_keras.registry import register_method


@register_method("dann")
class DANN(ClassifierMethod, TranslationModel):
    """DANN: domain-adversarial training of neural networks (Ganin et al., JMLR 2016, https://arxiv.org/abs/1505.07818).

    A feature extractor G_f, a label predictor G_y trained on the labelled source, and a domain classifier G_d
    trained to tell source features from target features behind a gradient-reversal layer: G_d minimises the
    domain loss, G_f receives its gradient times -lambda and so learns features the domain classifier cannot
    separate, while G_y keeps them discriminative for the classes. The paper updates all three at once from one
    forward pass; here the base class's two updates do exactly that: the generator update (G_f, G_y) on
    ``g_class + g_domain`` with the reversal, then (`update_discriminator_first = False`) the domain classifier's
    update (the "discriminator", G_d) on ``d_domain``, the same domain loss on the same, detached features of that
    forward pass, with the weights G_d had before the step. Both optimizers get the same settings and schedule.

    The paper's schedules, from the training progress p = train_steps / `schedule_steps` (clipped to 1):
    lambda_p = 2 / (1 + exp(-`lambda_gamma` p)) - 1 (gamma 10) and the learning rate
    mu_p = mu_0 / (1 + `lr_alpha` p) ** `lr_beta` (alpha 10, beta 0.75), applied to the optimizer's constant rate
    before each step (so `optim.schedule` must be "constant"; `lr_alpha` 0 turns the annealing off). The paper
    uses SGD with momentum 0.9 and mu_0 = 0.01: with `sgd_momentum` set, `compile` replaces the Adam optimizer the
    training loop builds for every method by SGD with that momentum at the same learning rate (Adam's per-weight
    step normalisation adapts clearly worse here: on the embedded MNIST -> mnist_m_like task, 600 steps, the
    target accuracy was 0.53 with Adam and 0.59 with SGD).

    Networks (`mnist_classifier`): the paper's MNIST -> MNIST-M architecture, conv 5x5x32 / pool / conv 5x5x48 /
    pool features, label predictor FC 100-100-K; domain classifier FC `domain_hidden` (paper: 100), ReLU, FC 1.

    Source-only baseline: with `loss_weights.g_source_only` > 0 (the default) a second, independent copy of
    G_f + G_y is trained on the source labels alone, on the same batches, with the same optimizer settings and
    schedule, so every run reports what adaptation adds (`classify_source_only`, `source_only_target_accuracy`).

    Args:
        num_classes / class_names: the source's classes (names default to "0" ... "K-1").
        conv_filters, hidden, domain_hidden: layer widths (paper: (32, 48), (100, 100), (100,)).
        schedule_steps: training steps that p runs over (set it to train.steps).
        lambda_gamma, lambda_max: lambda_p = lambda_max * (2 / (1 + exp(-gamma p)) - 1).
        lr_alpha, lr_beta: the learning-rate annealing.
        sgd_momentum: None (keep the given optimizer) or the momentum of the SGD optimizer that replaces it.
        (and the base-class arguments; `image_size` is the classifier's input size, paper 28)

    Loss terms: `g_class` (cross-entropy on source labels), `g_domain` (binary cross-entropy of the domain
    classifier, source 0 / target 1, whose gradient reaches G_f reversed), `d_domain` (the same loss for G_d),
    `g_source_only` (the baseline's cross-entropy).

    Batch format (data kind "domain_adaptation"): ``{"source", "source_label" (one-hot), "target"}``.

    Example:
        model = DANN(image_size=28, schedule_steps=3000)
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9), keras.optimizers.SGD(0.01, momentum=0.9))
        model.fit(domain_adaptation_dataset, steps_per_epoch=100, epochs=30)
        probabilities = model.translate(target_images, mode="classify")      # [B, 10]
    """

    default_loss_weights = {"g_class": 1.0, "g_domain": 1.0, "g_source_only": 1.0, "d_domain": 1.0}
    # One simultaneous step as the paper: G_f/G_y first, then G_d on the same forward pass (see the class docstring).
    update_discriminator_first = False

    def __init__(self, num_classes=None, class_names=None, conv_filters=(32, 48), hidden=(100, 100),
                 domain_hidden=(100,), schedule_steps=10000, lambda_gamma=10.0, lambda_max=1.0, lr_alpha=10.0,
                 lr_beta=0.75, sgd_momentum=None, **kwargs):
        super().__init__(**kwargs)
        # MNIST's ten digits unless told otherwise.
        self.class_names = class_names_of(10 if num_classes is None and class_names is None else num_classes,
                                          class_names)
        conv_filters, hidden, domain_hidden = tuple(conv_filters), tuple(hidden), tuple(domain_hidden)
        check_positive_ints(schedule_steps=schedule_steps, **{f"conv_filters[{i}]": f for i, f in
                                                              enumerate(conv_filters)})
        for name, value in (("lambda_gamma", lambda_gamma), ("lambda_max", lambda_max), ("lr_alpha", lr_alpha),
                            ("lr_beta", lr_beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
                raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
        if self.image_size % 2 ** len(conv_filters):
            raise ValueError(f"image_size must be a multiple of 2**len(conv_filters)={2 ** len(conv_filters)} (one "
                             f"max-pool per conv). Received: image_size={self.image_size}, conv_filters={conv_filters}")
        if sgd_momentum is not None and (isinstance(sgd_momentum, bool) or not isinstance(sgd_momentum, (int, float))
                                         or not 0.0 <= sgd_momentum < 1.0):
            raise ValueError(f"`sgd_momentum` must be None or a number in [0, 1). Received: sgd_momentum={sgd_momentum!r}")
        self.sgd_momentum = None if sgd_momentum is None else float(sgd_momentum)
        self.conv_filters, self.hidden, self.domain_hidden = conv_filters, tuple(hidden), domain_hidden
        self.schedule_steps = int(schedule_steps)
        self.lambda_gamma, self.lambda_max = float(lambda_gamma), float(lambda_max)
        self.lr_alpha, self.lr_beta = float(lr_alpha), float(lr_beta)
        self.classifier_size = self.image_size
        k = self.num_classes
        self.features, self.label_predictor = mnist_classifier(self.in_channels, self.image_size, k, conv_filters,
                                                               hidden, name="dann")
        width = self.features.output_shape[-1]
        inputs = keras.Input((width,), name="features")
        x = inputs
        for i, units in enumerate(domain_hidden):
            x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        self.domain_classifier = keras.Model(inputs, layers.Dense(1, name="logit", dtype="float32")(x),
                                             name="domain_classifier")
        self.has_baseline = self.uses("g_source_only")
        if self.has_baseline:
            self.baseline_features, self.baseline_predictor = mnist_classifier(
                self.in_channels, self.image_size, k, conv_filters, hidden, name="source_only")
        self.built = True

    # ------------------------------------------------------------------ schedules
    def progress(self):
        """p in [0, 1]: the share of `schedule_steps` done (model state, so resume continues the schedules)."""
        return ops.minimum(ops.cast(self.train_steps.value, "float32") / float(self.schedule_steps), 1.0)

    def reversal_scale(self):
        """lambda_p = lambda_max * (2 / (1 + exp(-gamma p)) - 1): 0 at the start, when the features are still
        noise, rising to lambda_max."""
        return self.lambda_max * (2.0 / (1.0 + ops.exp(-self.lambda_gamma * self.progress())) - 1.0)

    def compile(self, optimizer=None, d_optimizer=None, **kwargs):
        optimizer, d_optimizer = self._sgd(optimizer), self._sgd(d_optimizer)
        super().compile(optimizer=optimizer, d_optimizer=d_optimizer, **kwargs)
        self._base_rates = []
        if self.lr_alpha:
            for opt in (self.optimizer, self.d_optimizer):
                rate = opt.learning_rate
                if not isinstance(rate, keras.Variable):
                    raise ValueError("DANN's learning-rate annealing (lr_alpha > 0) scales a constant learning "
                                     "rate (optim.schedule: constant); set model.lr_alpha=0 to use another "
                                     f"schedule. Received: learning_rate={rate!r}")
                self._base_rates.append((opt, float(ops.convert_to_numpy(rate))))

    def _sgd(self, optimizer):
        """`optimizer`, or with `sgd_momentum` an SGD at its learning rate (a schedule object is kept as is)."""
        if self.sgd_momentum is None or optimizer is None or isinstance(optimizer, keras.optimizers.SGD):
            return optimizer
        # `_learning_rate` is what was given: a variable (constant rate) or a schedule, which SGD takes as it is.
        rate = keras.optimizers.get(optimizer)._learning_rate
        rate = float(ops.convert_to_numpy(rate)) if isinstance(rate, keras.Variable) else rate
        return keras.optimizers.SGD(rate, momentum=self.sgd_momentum)

    def _decay_learning_rates(self):
        # Called by the base train_step before each step: mu_p = mu_0 / (1 + alpha p) ** beta, for both optimizers.
        factor = 1.0 / ops.power(1.0 + self.lr_alpha * self.progress(), self.lr_beta)
        for opt, rate in getattr(self, "_base_rates", []):
            opt.learning_rate.assign(ops.cast(rate * factor, opt.learning_rate.dtype))

    # ------------------------------------------------------------------ contract
    def generator_variables(self):
        variables = self.features.trainable_variables + self.label_predictor.trainable_variables
        if self.has_baseline:
            variables += self.baseline_features.trainable_variables + self.baseline_predictor.trainable_variables
        return variables

    def discriminator_variables(self):
        return self.domain_classifier.trainable_variables

    def classify_logits(self, images, training=False):
        return self.label_predictor(self.features(images, training=training), training=training)

    def baseline_logits(self, images, training=False):
        return self.baseline_predictor(self.baseline_features(images, training=training), training=training)

    def generate(self, batch, training):
        source = self._classifier_input(batch["source"])
        outputs = {}
        source_features = self.features(source, training=training)
        outputs["class_logits"] = self.label_predictor(source_features, training=training)
        if self.uses("g_domain") or self.uses("d_domain"):
            target_features = self.features(self._classifier_input(batch["target"]), training=training)
            outputs["domain_features"] = ops.concatenate([source_features, target_features], axis=0)
        if self.has_baseline:
            outputs["baseline_logits"] = self.baseline_logits(source, training=training)
        return outputs

    def generator_losses(self, batch, outputs, training=True):
        terms = {}
        if self.uses("g_class"):
            terms["g_class"] = cross_entropy(batch["source_label"], outputs["class_logits"])
        if self.uses("g_domain"):
            # The reversal turns G_f's descent on this loss into ascent, scaled by lambda_p.
            reversed_features = reverse_gradient(outputs["domain_features"], self.reversal_scale())
            terms["g_domain"] = self._domain_loss(batch, reversed_features, training)
        if self.has_baseline:
            terms["g_source_only"] = cross_entropy(batch["source_label"], outputs["baseline_logits"])
        return terms

    def discriminator_losses(self, batch, outputs, training=True):
        if not self.uses("d_domain"):
            return {}
        return {"d_domain": self._domain_loss(batch, outputs["domain_features"], training)}

    def _domain_loss(self, batch, features, training):
        """Binary cross-entropy of G_d on [source; target] features: source 0, target 1."""
        logits = ops.cast(self.domain_classifier(features, training=training), "float32")
        sources = ops.shape(batch["source"])[0]
        domain = ops.concatenate([ops.zeros((sources, 1)), ops.ones((ops.shape(logits)[0] - sources, 1))], axis=0)
        return ops.mean(ops.binary_crossentropy(domain, logits, from_logits=True))

    def translation_modes(self):
        return self.classification_modes()

    def sample_grid(self, batch):
        # No image output: the grid shows what the classifier is adapted between, source | target.
        return [batch["source"], batch["target"]]

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "class_names": list(self.class_names),
                "conv_filters": list(self.conv_filters), "hidden": list(self.hidden),
                "domain_hidden": list(self.domain_hidden), "schedule_steps": self.schedule_steps,
                "lambda_gamma": self.lambda_gamma, "lambda_max": self.lambda_max, "lr_alpha": self.lr_alpha,
                "lr_beta": self.lr_beta, "sgd_momentum": self.sgd_momentum}

