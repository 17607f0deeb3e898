"""The evaluator of the ``domain_adaptation`` kind: classification accuracy on the labelled target split.

Each eval record is a source image (``domain`` 0) or a target image (``domain`` 1) with its one-hot ``label``;
target records without a label (an unlabelled target split) cannot be scored and are skipped. The export's
classification modes (`TranslationMode.output == "probabilities"`) are called through their ``<mode>_bytes``
signatures, the artifact that is served:

- ``target_accuracy``: the ``classify`` mode's top-1 accuracy on the target images (the number blessing uses);
- ``source_accuracy``: the same classifier on the held-out source images;
- ``source_only_target_accuracy``: the ``classify_source_only`` mode on the target images: the same classifier
  trained on the source alone, with the same steps and batches, in the same run (the baseline adaptation must
  beat); None with a reason when the export has no such mode;
- ``adaptation_gain``: target_accuracy - source_only_target_accuracy.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

import numpy as np
import tensorflow as tf

from i2i_keras.data import schema
from i2i_keras.errors import DataError, RequestError
from i2i_keras.evaluation.base import Evaluator
from i2i_keras.evaluation.exported import first_line

CLASSIFY_MODE = "classify"
SOURCE_ONLY_MODE = "classify_source_only"
PROBABILITIES = "probabilities"
BATCH = 64


class ClassificationEvaluator(Evaluator):
    """Target vs source-only accuracy of a domain-adaptation export (see the module docstring)."""

    protocol_name = "classification_v1"
    description = ("top-1 accuracy of the classify_bytes signature on the labelled target eval images "
                   "(target_accuracy) and held-out source images (source_accuracy); classify_source_only_bytes "
                   "(the same classifier trained on the source alone, same run and budget) on the target images "
                   "(source_only_target_accuracy); adaptation_gain = the difference")
    metric_names = ("target_accuracy", "source_accuracy", "source_only_target_accuracy", "adaptation_gain")

    def _collect(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.images = {0: [], 1: []}
        self.labels = {0: [], 1: []}
        depth = None
        for record in records:
            domain = int(record[schema.DOMAIN])
            label = np.asarray(record[schema.LABEL])
            if domain not in self.images or label.size == 0 or len(self.images[domain]) >= self.max_examples:
                continue
            if depth is None:
                depth = label.size
            elif label.size != depth:
                raise DataError(self.source, f"eval records have labels of {depth} and {label.size} classes",
                                code="inconsistent_labels")
            self.images[domain].append(bytes(record[schema.IMAGE]))
            self.labels[domain].append(int(label.argmax()))
            if all(len(v) >= self.max_examples for v in self.images.values()):
                break
        if not self.images[1]:
            raise DataError(self.source, "the eval split has no labelled target images (domain 1 with a label); "
                            "target accuracy needs the target's eval split sorted into class folders",
                            code="empty_eval_split")
        names = self.metadata.get("class_names")
        if isinstance(names, list) and depth != len(names):
            raise DataError(self.source, f"eval labels have {depth} classes but the export classifies into "
                            f"{len(names)} ({names})", code="inconsistent_labels")
        self.reference = {"target_images": len(self.images[1]), "source_images": len(self.images[0]),
                          "chance_accuracy": 1.0 / depth}

    @property
    def num_images(self) -> int:
        return len(self.images[0]) + len(self.images[1])

    def _accuracy(self, model: Any, mode: str, domain: int) -> Optional[float]:
        predictions = self._predict(model, mode, domain)
        if predictions is None:
            return None
        return float(np.mean(np.asarray(predictions) == np.asarray(self.labels[domain])))

    def _predict(self, model: Any, mode: str, domain: int) -> Optional[list]:
        """Predicted class indices of the mode for the images of `domain` (None when there are none)."""
        if not self.images[domain]:
            return None
        signature = model.loaded.signatures[mode + "_bytes"]
        predictions = []
        for start in range(0, len(self.images[domain]), BATCH):
            try:
                out = signature(images=tf.constant(self.images[domain][start:start + BATCH]))
            except (tf.errors.InvalidArgumentError, TypeError, ValueError) as err:
                raise RequestError(f"{model.version_dir}: mode {mode!r} rejected the request ({type(err).__name__}: "
                                   f"{first_line(err)})", code="translation_failed") from None
            if PROBABILITIES not in out:
                raise RequestError(f"{model.version_dir}: mode {mode!r} returns {sorted(out)}, not "
                                   f"{PROBABILITIES!r}: it is not a classification mode", code="not_a_classifier")
            predictions += list(out[PROBABILITIES].numpy().argmax(-1))
        return predictions

    def metrics(self, model: Any) -> dict:
        if CLASSIFY_MODE not in model.modes:
            raise RequestError(f"{model.version_dir}: the export has no {CLASSIFY_MODE!r} mode (modes: "
                               f"{model.modes}); domain-adaptation evaluation needs a classifier",
                               code="not_a_classifier")
        predicted = self._predict(model, CLASSIFY_MODE, 1)
        values = {"target_accuracy": float(np.mean(np.asarray(predicted) == np.asarray(self.labels[1])))}
        self._keep_class_samples(predicted)
        if self.wants("source_accuracy"):
            values["source_accuracy"] = self._accuracy(model, CLASSIFY_MODE, 0)
            if values["source_accuracy"] is None:
                self.skip(["source_accuracy"], "the eval split has no labelled source images")
        if SOURCE_ONLY_MODE in model.modes:
            values["source_only_target_accuracy"] = self._accuracy(model, SOURCE_ONLY_MODE, 1)
            values["adaptation_gain"] = values["target_accuracy"] - values["source_only_target_accuracy"]
        else:
            self.skip(["source_only_target_accuracy", "adaptation_gain"],
                      f"the export has no {SOURCE_ONLY_MODE!r} mode (train with a source-only baseline)")
        return self.selected_values(values)

    def _keep_class_samples(self, predicted: list) -> None:
        """Report rows: a target image | a source eval image of the class it was assigned (the image itself when
        the eval split has no source image of that class), so a reader sees what the classifier decided."""
        examples = {}
        for image, label in zip(self.images[0], self.labels[0]):
            examples.setdefault(label, image)
        self.keep_samples(CLASSIFY_MODE, [[image, examples.get(int(c), image)]
                                          for image, c in zip(self.images[1], predicted)])

    def incompatibility(self, metadata: Mapping[str, Any]) -> Optional[str]:
        reason = super().incompatibility(metadata)
        if reason is None and metadata.get("class_names") != self.metadata.get("class_names"):
            reason = f"class names {metadata.get('class_names')} differ from {self.metadata.get('class_names')}"
        return reason
