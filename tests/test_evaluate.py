"""Evaluation values: the report on a worked example, one softmax only, top-k per class count."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvideo.models import build_video_classifier
from kvideo.training.evaluate import classification_report, predict_video_scores, top_k_for
from tests.helpers import random_pixels

# Five videos of three classes, worked by hand below.
SCORES = np.array(
    [
        [0.7, 0.2, 0.1],  # class 0, predicted 0
        [0.1, 0.6, 0.3],  # class 0, predicted 1; not in the top 2 either
        [0.2, 0.5, 0.3],  # class 1, predicted 1
        [0.4, 0.1, 0.5],  # class 2, predicted 2
        [0.5, 0.1, 0.4],  # class 2, predicted 0; second best
    ]
)
LABELS = np.array([0, 0, 1, 2, 2])


def test_classification_report_on_a_worked_example():
    report = classification_report(SCORES, LABELS, ["a", "b", "c"], top_k=2)
    assert report["num_videos"] == 5
    assert report["top1"] == pytest.approx(3 / 5)
    assert report["top2"] == pytest.approx(4 / 5)
    assert report["per_class_accuracy"] == {"a": 0.5, "b": 1.0, "c": 0.5}
    assert report["mean_class_accuracy"] == pytest.approx(2 / 3)
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    # Asking for more than the classes reports top-3 (all of them), never a wrong name.
    assert classification_report(SCORES, LABELS, ["a", "b", "c"], top_k=5)["top3"] == 1.0
    assert "top2" not in classification_report(SCORES, LABELS, ["a", "b", "c"], top_k=None)


def test_top_k_adapts_to_the_number_of_classes():
    assert [top_k_for(n) for n in (2, 3, 5, 6, 101)] == [None, 2, 4, 5, 5]


def test_a_softmax_model_is_not_squashed_twice():
    model = build_video_classifier(
        "r3d_tiny", 6, input_shape=(4, 16, 16, 3), activation="softmax", dropout=0.0
    )
    dense = model.get_layer("logits")
    dense.kernel.assign(np.zeros(dense.kernel.shape, np.float32))
    dense.bias.assign(np.array([6.0, 0, 0, 0, 0, 0], np.float32))  # p(class 0) = 0.9876
    clips = random_pixels((3, 4, 16, 16, 3))
    dataset = tf.data.Dataset.from_tensor_slices(({"video": clips}, [0, 0, 1])).batch(2)
    scores, labels = predict_video_scores(model, dataset)
    expected = np.exp(6.0) / (np.exp(6.0) + 5)
    np.testing.assert_allclose(scores[:, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(scores, keras.ops.convert_to_numpy(model(clips)), atol=1e-6)
    np.testing.assert_array_equal(labels, [0, 0, 1])
