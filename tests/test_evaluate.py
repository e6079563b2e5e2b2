"""Evaluation values: the report on a worked example, one softmax only, top-k per class count."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvideo.data import Augmentation, ClipSampling, load_examples, make_clip_dataset
from kvideo.models import build_video_classifier
from kvideo.training.evaluate import (
    average_precision,
    classification_report,
    precision_recall_curve,
    predict_video_scores,
    predict_views,
    top_k_for,
)
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


def test_per_class_precision_recall_f1_and_average_precision_on_the_worked_example():
    report = classification_report(SCORES, LABELS, ["a", "b", "c"], top_k=2)
    # Confusion [[1, 1, 0], [0, 1, 0], [1, 0, 1]]: predicted as a: videos 0, 4; as b: 1, 2.
    a, b, c = (report["per_class"][name] for name in "abc")
    assert (a["support"], a["precision"], a["recall"]) == (2, 0.5, 0.5)
    assert (b["support"], b["precision"], b["recall"]) == (1, 0.5, 1.0)
    assert (c["support"], c["precision"], c["recall"]) == (2, 1.0, 0.5)
    assert a["f1"] == pytest.approx(0.5)  # 2*1 / (2*1 + 1 + 1)
    assert b["f1"] == pytest.approx(2 / 3)  # 2 / (2 + 1 + 0)
    assert c["f1"] == pytest.approx(2 / 3)  # 2 / (2 + 0 + 1)
    assert report["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    # Class a ranks the videos 0.7 (a) 0.5 0.4 0.2 0.1 (a): P = 1 at R = 1/2, then 2/5 at
    # R = 1, so AP = 1/2 * 1 + 1/2 * 2/5 = 0.7.
    assert a["average_precision"] == pytest.approx(0.7)
    # Class b: 0.6 (not b) 0.5 (b): AP = 1 * 1/2.
    assert b["average_precision"] == pytest.approx(0.5)
    # Class c: its two videos score highest (0.5, 0.4): AP = 1.
    assert c["average_precision"] == pytest.approx(1.0)
    assert report["mAP"] == pytest.approx((0.7 + 0.5 + 1.0) / 3)


def test_precision_recall_curve_and_ties():
    precision, recall, thresholds = precision_recall_curve(SCORES[:, 0], LABELS == 0)
    np.testing.assert_allclose(thresholds, [0.7, 0.5, 0.4, 0.2, 0.1])
    np.testing.assert_allclose(precision, [1, 1 / 2, 1 / 3, 1 / 4, 2 / 5])
    np.testing.assert_allclose(recall, [0.5, 0.5, 0.5, 0.5, 1.0])
    # A positive and a negative tied at 0.5 enter together: P = 2/3 at R = 1, whatever
    # their order, so AP = 1/2 * 1 + 1/2 * 2/3 = 5/6 (neither 1 nor 3/4).
    tied = np.array([0.9, 0.5, 0.5, 0.1])
    for positives in ([1, 1, 0, 0], [1, 0, 1, 0]):
        precision, recall, thresholds = precision_recall_curve(tied, np.array(positives, bool))
        np.testing.assert_allclose(thresholds, [0.9, 0.5, 0.1])
        np.testing.assert_allclose(precision, [1.0, 2 / 3, 1 / 2])
        np.testing.assert_allclose(recall, [0.5, 1.0, 1.0])
        assert average_precision(tied, np.array(positives, bool)) == pytest.approx(5 / 6)
    assert average_precision(tied, np.zeros(4, bool)) is None


def test_clip_level_accuracy_and_misclassified_videos():
    # Two videos of two views each; video 1 is right on average but wrong on one view.
    views = np.array(
        [
            [[0.2, 0.8], [0.4, 0.6]],  # label 0: both views wrong
            [[0.9, 0.1], [0.3, 0.7]],  # label 1: views wrong, right; mean 0.6 / 0.4 -> wrong
            [[0.1, 0.9], [0.2, 0.8]],  # label 1: both right
        ]
    )
    labels = np.array([0, 1, 1])
    scores = views.mean(axis=1)
    report = classification_report(
        scores, labels, ["x", "y"], top_k=None, view_scores=views, video_ids=["v0", "v1", "v2"]
    )
    assert report["views_per_video"] == 2
    assert report["clip_top1"] == pytest.approx(3 / 6)
    assert report["top1"] == pytest.approx(1 / 3)
    # Most confident mistake first: v0 (0.7 for y) before v1 (0.6 for x).
    assert [(r["video_id"], r["label"], r["predicted"]) for r in report["misclassified"]] == [
        ("v0", "x", "y"),
        ("v1", "y", "x"),
    ]
    first = report["misclassified"][0]
    assert first["predicted_score"] == pytest.approx(0.7)
    assert first["label_score"] == pytest.approx(0.3)
    assert first["label_rank"] == 2
    # Class x is never predicted correctly and predicted once (v1): precision 0; class y is
    # predicted twice, right once.
    assert report["per_class"]["x"]["precision"] == 0.0
    assert report["per_class"]["y"]["precision"] == 0.5


def test_classes_never_predicted_or_absent():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]])
    report = classification_report(scores, np.array([0, 2]), ["a", "b", "c"], top_k=None)
    # c has a video but is never predicted: no precision; its video ranks first for c.
    assert report["per_class"]["c"] == {
        "support": 1,
        "precision": None,
        "recall": 0.0,
        "f1": 0.0,
        "average_precision": 1.0,
    }
    # b has no video but is predicted once: precision 0, no recall, no AP.
    assert report["per_class"]["b"] == {
        "support": 0,
        "precision": 0.0,
        "recall": None,
        "f1": 0.0,
        "average_precision": None,
    }
    # Means over the classes that have videos (a and c).
    assert report["mean_class_accuracy"] == 0.5
    assert report["mAP"] == 1.0


def test_video_ids_ride_along_without_changing_the_clips(motion_demo_dir, storage_kind):
    num_clips = 2
    examples, kind, _ = load_examples(
        f"motion_demo/{storage_kind}", "test", data_dir=str(motion_demo_dir)
    )
    examples = examples.take(5)
    settings = dict(
        storage_kind=kind,
        training=False,
        batch_size=2,
        clip_sampling=ClipSampling(num_frames=2, frame_stride=4, num_clips=num_clips),
        augmentation=Augmentation(crop_size=16),
    )
    plain = list(make_clip_dataset(examples, **settings))
    tagged = list(make_clip_dataset(examples, with_video_ids=True, **settings))
    assert [len(element) for element in plain] == [2, 2, 2]
    assert [len(element) for element in tagged] == [3, 3, 3]
    for (features, labels), (tagged_features, tagged_labels, _) in zip(plain, tagged, strict=True):
        np.testing.assert_array_equal(features["video"], tagged_features["video"])
        np.testing.assert_array_equal(labels, tagged_labels)
    ids = [i.decode() for element in tagged for i in element[2].numpy()]
    assert ids == [e["video_id"].decode() for e in examples.as_numpy_iterator()]
    # predict_views keeps them in order, one per video, with every view's scores.
    model = build_video_classifier("r3d_tiny", 6, input_shape=(2, 16, 16, 3))
    predictions = predict_views(model, make_clip_dataset(examples, with_video_ids=True, **settings))
    assert predictions.video_ids == ids
    assert predictions.view_scores.shape == (5, num_clips, 6)
