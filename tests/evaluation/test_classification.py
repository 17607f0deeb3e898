"""ClassificationEvaluator: target accuracy, source accuracy and the source-only baseline, from an export."""

import numpy as np
import pytest
import tensorflow as tf

from i2i_keras import export
from i2i_keras.data import kinds
from i2i_keras.data import schema
from i2i_keras.errors import DataError
from i2i_keras.evaluation import ServedModel
from i2i_keras.evaluation.blessing import check_blessing
from i2i_keras.evaluation.classification import ClassificationEvaluator
from i2i_keras.methods.base import PROBABILITIES_OUTPUT, TranslationMode
from tests.serving.test_classify import CLASSES, MeanBrightnessClassifier

LEVELS = {0: 20, 1: 128, 2: 235}  # pixel values the toy classifier puts in classes 0, 1, 2


class WithBaseline(MeanBrightnessClassifier):
    """`classify` is the toy classifier; `classify_source_only` always answers class 0."""

    def translation_modes(self):
        return {"classify": TranslationMode(self.classify, output=PROBABILITIES_OUTPUT),
                "classify_source_only": TranslationMode(
                    lambda images: tf.one_hot(tf.zeros(tf.shape(images)[:1], tf.int32), 3),
                    output=PROBABILITIES_OUTPUT)}


def _record(domain, value, label=None):
    image = schema.encode_png(np.full((6, 6, 3), value, np.uint8))
    example = schema.encode_example(image=image, domain=domain,
                                    label=None if label is None else [int(label == k) for k in range(3)])
    return ClassificationEvaluator.parse(tf.constant(example), "domain_adaptation")


def _records():
    # Target: 6 labelled images, 4 classified right (two class-1 images are as bright as class 2);
    # one unlabelled target record, which cannot be scored. Source: 3 labelled images, all right.
    target = [(0, 0), (1, 1), (2, 2), (0, 0), (2, 1), (2, 1)]
    rows = [_record(1, LEVELS[level], label) for level, label in target]
    rows.append(_record(1, LEVELS[1]))
    rows += [_record(0, LEVELS[k], k) for k in range(3)]
    return rows


def test_accuracies_side_by_side(tmp_path):
    version = export.export_for_serving(WithBaseline(), str(tmp_path / "export"))
    model = ServedModel(version)
    evaluator = ClassificationEvaluator(_records(), model.metadata)
    assert evaluator.num_images == 9 and evaluator.reference["target_images"] == 6
    values = evaluator.metrics(model)
    assert set(values) == set(kinds.get("domain_adaptation").metrics)
    assert values["target_accuracy"] == pytest.approx(4 / 6)
    assert values["source_accuracy"] == pytest.approx(1.0)
    # The baseline answers class 0: right on the 2 class-0 target images.
    assert values["source_only_target_accuracy"] == pytest.approx(2 / 6)
    assert values["adaptation_gain"] == pytest.approx(2 / 6)
    assert not evaluator.skipped
    # Report rows: each labelled target image beside a source image of the class it was assigned.
    assert len(evaluator.samples) == 6 and all(len(row) == 2 for _, row in evaluator.samples)
    assert evaluator.samples[4][1][1] == bytes(_records()[9][schema.IMAGE])  # (2, 1) -> classified 2


def test_blessing_is_on_target_accuracy(tmp_path):
    kind = kinds.get("domain_adaptation")
    assert set(kind.default_thresholds) == {"target_accuracy"}
    thresholds = {"target_accuracy": {"lower_bound": 0.8}}
    assert check_blessing({"target_accuracy": 0.9}, thresholds, directions=kind.metrics)[0]
    assert not check_blessing({"target_accuracy": 0.7}, thresholds, directions=kind.metrics)[0]
    # The default: a candidate may not lose more than 0.05 target accuracy against the last blessed model.
    defaults = {m: dict(c) for m, c in kind.default_thresholds.items()}
    assert check_blessing({"target_accuracy": 0.80}, defaults, {"target_accuracy": 0.84}, directions=kind.metrics)[0]
    assert not check_blessing({"target_accuracy": 0.70}, defaults, {"target_accuracy": 0.84},
                              directions=kind.metrics)[0]


def test_an_export_without_a_baseline_mode_reports_why(tmp_path):
    version = export.export_for_serving(MeanBrightnessClassifier(), str(tmp_path / "export"))
    model = ServedModel(version)
    evaluator = ClassificationEvaluator(_records(), model.metadata)
    values = evaluator.metrics(model)
    assert values["target_accuracy"] == pytest.approx(4 / 6)
    assert values["source_only_target_accuracy"] is None and values["adaptation_gain"] is None
    assert "no 'classify_source_only' mode" in evaluator.skipped["source_only_target_accuracy"]


def test_an_eval_split_without_labelled_targets_is_refused():
    with pytest.raises(DataError, match="no labelled target images") as err:
        ClassificationEvaluator([_record(1, 10), _record(0, 10, 0)], {"class_names": CLASSES})
    assert err.value.code == "empty_eval_split"


def test_labels_must_match_the_exports_classes():
    with pytest.raises(DataError, match="eval labels have 3 classes but the export classifies into 2"):
        ClassificationEvaluator([_record(1, 10, 0)], {"class_names": ["a", "b"]})
