"""Evaluation a person can read: accuracy at clip and video level, per-class precision,
recall, F1 and average precision, the confusion matrix, and the videos the model got wrong.

    predictions = predict_views(model, test_batches)      # every view of every video
    report = evaluate_predictions(predictions, class_names, "runs/x", name="test")
    # -> runs/x/test_evaluation.json, test_evaluation.txt, test_confusion.png,
    #    test_precision_recall.png, test_misclassified.tsv

Definitions (the report states them too, under ``"definitions"``):

* A **view** is one clip of a video (``num_clips`` along time) cut at one test crop
  (``num_test_crops`` in space). **Clip-level accuracy** (``clip_top1``) classifies every
  view on its own: the share of all views whose best class is their video's label.
* **Video-level accuracy** (``top1``, ``top{k}``) classifies a video by its class
  probabilities averaged over its views (`predict_views`), as papers report it.
* **Per class**, over videos: ``precision = TP / (TP + FP)`` (None when the class is never
  predicted), ``recall = TP / (TP + FN)`` (the class's accuracy; None without videos of the
  class), ``f1 = 2 TP / (2 TP + FP + FN)``. **Mean class accuracy** is the mean recall over
  the classes that have videos.
* **Average precision** of a class ranks every video by its probability for the class
  (one class against the rest) and sums precision times the recall gained at each
  distinct score, ``AP = sum_n (R_n - R_(n-1)) P_n`` with ``R_0 = 0``: the area under the
  step precision-recall curve, without interpolation (scikit-learn's
  ``average_precision_score``; VOC's interpolated AP is never lower). Videos tied on a
  score enter together. **mAP** is its mean over the classes that have videos.

Probabilities come from the model through `kvideo.models.outputs` (one softmax rule).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from kvideo.models.outputs import to_probabilities

DEFINITIONS = {
    "view": "one clip of a video (num_clips along time) at one test crop (num_test_crops)",
    "top1": "video level: argmax of the class probabilities averaged over the video's views",
    "clip_top1": "clip level: share of all views whose own argmax is their video's label",
    "mean_class_accuracy": "mean over classes with videos of the class's recall",
    "precision": "TP / (TP + FP) over videos; null when the class is never predicted",
    "recall": "TP / (TP + FN) over videos: the class's accuracy",
    "f1": "2 TP / (2 TP + FP + FN)",
    "average_precision": (
        "sum_n (R_n - R_(n-1)) P_n over the distinct scores of the class, videos ranked by "
        "their probability for it (step PR curve, not interpolated, as scikit-learn)"
    ),
    "mAP": "mean average precision over the classes that have videos",
}


@dataclasses.dataclass
class Predictions:
    """Class probabilities of every view of every video of an evaluation set.

    Attributes:
        view_scores: float32 `(videos, views, classes)`.
        labels: int `(videos,)`.
        video_ids: one id per video, when the dataset carried them (else None).
    """

    view_scores: np.ndarray
    labels: np.ndarray
    video_ids: list[str] | None = None

    @property
    def video_scores(self) -> np.ndarray:
        """`(videos, classes)`: the probabilities averaged over each video's views."""
        return self.view_scores.mean(axis=1)


def predict_views(model: keras.Model, dataset: tf.data.Dataset) -> Predictions:
    """Class probabilities of every view, the labels, and the video ids when given.

    Args:
        model: a classifier on named inputs, emitting logits or probabilities (the model
            says which: `kvideo.models.outputs`).
        dataset: batches from `make_clip_dataset(training=False)`: `(features, labels)`, or
            `(features, labels, video_ids)` with `with_video_ids=True`. `features` is a dict
            of named inputs (or one tensor), each `(batch, frames, h, w, channels)` or, with
            several views, `(batch, views, frames, h, w, channels)`.
    """
    # A direct call, not predict_on_batch: under a distribution strategy predict_on_batch
    # runs the batch on every replica and concatenates the copies.
    forward = tf.function(
        lambda x: to_probabilities(model, model(x, training=False)), reduce_retracing=True
    )
    all_scores, all_labels, all_ids = [], [], []
    for element in dataset:
        features, labels = element[0], element[1]
        views = 1
        first = tf.nest.flatten(features)[0]
        if first.shape.rank == 6:
            views = first.shape[1]
            features = tf.nest.map_structure(lambda x: tf.reshape(x, [-1, *x.shape[2:]]), features)
        scores = forward(features).numpy()
        all_scores.append(scores.reshape(-1, views, scores.shape[-1]))
        all_labels.append(labels.numpy())
        if len(element) > 2:
            all_ids.extend(v.decode("utf-8", "replace") for v in element[2].numpy())
    if not all_scores:
        raise ValueError("The evaluation dataset is empty: no video could be read.")
    return Predictions(
        view_scores=np.concatenate(all_scores),
        labels=np.concatenate(all_labels),
        video_ids=all_ids or None,
    )


def predict_video_scores(
    model: keras.Model, dataset: tf.data.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities per video, averaged over views, with the true labels.

    Returns:
        `(scores, labels)`: float32 `(videos, classes)` and int `(videos,)`. See
        `predict_views` for the arguments.
    """
    predictions = predict_views(model, dataset)
    return predictions.video_scores, predictions.labels


def top_k_for(num_classes: int, k: int = 5) -> int | None:
    """The top-k worth reporting for `num_classes`: `k`, or fewer for few classes, never all
    of them (top-`num_classes` accuracy is always 1); None for a binary problem."""
    k = min(k, num_classes - 1)
    return k if k >= 2 else None


def precision_recall_curve(
    scores: np.ndarray, positives: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall of "positive when score >= t" at every distinct score t.

    Args:
        scores: `(n,)` scores for one class.
        positives: `(n,)` bools, True where the example belongs to the class.

    Returns:
        `(precision, recall, thresholds)`, each `(distinct scores,)`, thresholds falling
        (recall rising). Empty arrays' recall is undefined: without positives, recall is
        NaN throughout.
    """
    scores = np.asarray(scores, np.float64)
    positives = np.asarray(positives, bool)
    order = np.argsort(-scores, kind="stable")
    scores, positives = scores[order], positives[order]
    # The last index of each run of equal scores: tied examples enter together.
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(positives)[last]
    predicted = last + 1
    total = positives.sum()
    precision = true_positives / predicted
    recall = true_positives / total if total else np.full(len(last), np.nan)
    return precision, recall, scores[last]


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float | None:
    """``sum_n (R_n - R_(n-1)) P_n`` over the distinct scores (module docstring); None
    without positives."""
    if not np.any(positives):
        return None
    precision, recall, _ = precision_recall_curve(scores, positives)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _ratio(numerator: int, denominator: int) -> float | None:
    return float(numerator / denominator) if denominator else None


def classification_report(
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    top_k: int | None = 5,
    *,
    view_scores: np.ndarray | None = None,
    video_ids: Sequence[str] | None = None,
) -> dict:
    """Every figure of the evaluation of one set of videos (definitions: module docstring).

    Args:
        scores: `(videos, classes)` class probabilities (video level).
        labels: `(videos,)` true labels.
        class_names: one name per class.
        top_k: reported as ``"top{k}"`` with ``k = min(top_k, classes)``; None reports no
            top-k.
        view_scores: `(videos, views, classes)`, for the clip-level accuracy.
        video_ids: one id per video, to name the misclassified videos.

    Returns:
        A JSON-ready dict: ``num_videos``, ``top1``, ``top{k}``, ``clip_top1`` (with
        `view_scores`), ``mean_class_accuracy``, ``mAP``, ``macro_f1``, ``per_class``
        (name -> support, precision, recall, f1, average_precision),
        ``per_class_accuracy``, ``class_names``, ``confusion_matrix`` (counts; rows: true
        class, columns: predicted), ``misclassified`` (most confident mistakes first) and
        ``definitions``.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    num_classes = scores.shape[-1]
    if len(class_names) != num_classes:
        raise ValueError(
            f"{num_classes} classes of scores but {len(class_names)} class names were given."
        )
    if video_ids is not None and len(video_ids) != len(labels):
        raise ValueError(f"{len(labels)} videos but {len(video_ids)} video ids were given.")
    ranked = np.argsort(-scores, axis=-1, kind="stable")
    predicted = ranked[:, 0]
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)

    per_class, per_class_accuracy = {}, {}
    for index, name in enumerate(class_names):
        tp = int(confusion[index, index])
        support = int(confusion[index].sum())
        predicted_as = int(confusion[:, index].sum())
        per_class[name] = {
            "support": support,
            "precision": _ratio(tp, predicted_as),
            "recall": _ratio(tp, support),
            "f1": _ratio(2 * tp, support + predicted_as),
            "average_precision": average_precision(scores[:, index], labels == index),
        }
        per_class_accuracy[name] = per_class[name]["recall"]

    def mean_of(key: str) -> float | None:
        values = [c[key] for c in per_class.values() if c["support"] and c[key] is not None]
        return float(np.mean(values)) if values else None

    report = {"num_videos": int(len(labels)), "top1": float(np.mean(predicted == labels))}
    if top_k is not None:
        k = min(top_k, num_classes)
        report[f"top{k}"] = float(np.mean((ranked[:, :k] == labels[:, None]).any(axis=1)))
    if view_scores is not None:
        view_scores = np.asarray(view_scores)
        report["views_per_video"] = int(view_scores.shape[1])
        report["clip_top1"] = float(np.mean(view_scores.argmax(axis=-1) == labels[:, None]))
    report.update(
        {
            "mean_class_accuracy": mean_of("recall"),
            "mAP": mean_of("average_precision"),
            "macro_f1": mean_of("f1"),
            "per_class": per_class,
            "per_class_accuracy": per_class_accuracy,
            "class_names": list(class_names),
            "confusion_matrix": confusion.tolist(),
            "misclassified": _misclassified(scores, labels, ranked, class_names, video_ids),
            "definitions": DEFINITIONS,
        }
    )
    return report


def _misclassified(
    scores: np.ndarray,
    labels: np.ndarray,
    ranked: np.ndarray,
    class_names: Sequence[str],
    video_ids: Sequence[str] | None,
    top: int = 3,
) -> list[dict]:
    """The wrongly classified videos, most confident mistake first."""
    wrong = np.flatnonzero(ranked[:, 0] != labels)
    wrong = wrong[np.argsort(-scores[wrong, ranked[wrong, 0]], kind="stable")]
    rows = []
    for i in wrong:
        label, guess = int(labels[i]), int(ranked[i, 0])
        rows.append(
            {
                "video_index": int(i),
                "video_id": None if video_ids is None else str(video_ids[i]),
                "label": class_names[label],
                "predicted": class_names[guess],
                "predicted_score": float(scores[i, guess]),
                "label_score": float(scores[i, label]),
                "label_rank": int(np.flatnonzero(ranked[i] == label)[0]) + 1,
                "top": [[class_names[c], float(scores[i, c])] for c in ranked[i, :top]],
            }
        )
    return rows


def format_report(report: dict, max_rows: int = 10) -> str:
    """A plain-text summary: the headline figures, the weakest classes, the worst mistakes."""
    lines = [f"{report['num_videos']} videos"]
    for key, value in report.items():
        if key.startswith(("top", "clip_top")) or key in (
            "mean_class_accuracy",
            "mAP",
            "macro_f1",
        ):
            lines.append(f"  {key:20s} {'-' if value is None else f'{value:.4f}'}")
    lines.append(f"\nClasses by average precision (weakest {max_rows}):")
    header = "".join(f" {h:>6s}" for h in ("videos", "prec", "recall", "f1", "AP"))
    lines.append(f"  {'class':28s}{header}")

    def fmt(value):
        return "     -" if value is None else f"{value:6.3f}"

    classes = sorted(
        report["per_class"].items(),
        key=lambda item: (item[1]["average_precision"] is None, item[1]["average_precision"]),
    )
    for name, c in classes[:max_rows]:
        lines.append(
            f"  {name[:28]:28s} {c['support']:6d} {fmt(c['precision'])} {fmt(c['recall'])} "
            f"{fmt(c['f1'])} {fmt(c['average_precision'])}"
        )
    wrong = report["misclassified"]
    lines.append(f"\nMisclassified: {len(wrong)} (most confident first)")
    for row in wrong[:max_rows]:
        who = row["video_id"] or f"#{row['video_index']}"
        lines.append(
            f"  {who}: {row['label']} -> {row['predicted']} ({row['predicted_score']:.3f}; "
            f"true class {row['label_score']:.3f}, rank {row['label_rank']})"
        )
    return "\n".join(lines) + "\n"


def write_report(report: dict, path: str | pathlib.Path) -> None:
    """Writes `report` as JSON to `path`, local or any `tf.io.gfile` file system."""
    from kvideo.training import files

    files.write_text(str(path), json.dumps(report, indent=2) + "\n")


def write_misclassified(report: dict, path: str | pathlib.Path) -> None:
    """The misclassified videos as TSV: id, true class, predicted class, both scores."""
    header = "video_id\tlabel\tpredicted\tpredicted_score\tlabel_score\tlabel_rank\n"
    rows = [
        f"{r['video_id'] or '#' + str(r['video_index'])}\t{r['label']}\t{r['predicted']}\t"
        f"{r['predicted_score']:.6f}\t{r['label_score']:.6f}\t{r['label_rank']}\n"
        for r in report["misclassified"]
    ]
    from kvideo.training import files

    files.write_text(str(path), header + "".join(rows))


def evaluate_predictions(
    predictions: Predictions,
    class_names: Sequence[str],
    output_dir: str | pathlib.Path,
    *,
    name: str = "test",
    top_k: int | None = None,
    extra: dict | None = None,
) -> dict:
    """The report of `predictions`, written into `output_dir` as

        {name}_evaluation.json   every figure (`classification_report`) and `extra`
        {name}_evaluation.txt    `format_report`
        {name}_confusion.png     the confusion matrix, each row normalised
        {name}_precision_recall.png  one precision-recall curve per class
        {name}_misclassified.tsv the videos the model got wrong, with their scores

    Args:
        top_k: the top-k to report; default `top_k_for(classes)`.
        extra: more entries for the JSON (e.g. the split and the views).

    Returns:
        The report, with ``"files"``: what was written.
    """
    from kvideo.training import files as gfiles
    from kvideo.training import plots

    output_dir = os.fspath(output_dir)  # any tf.io.gfile path
    gfiles.makedirs(output_dir)
    scores = predictions.video_scores
    report = classification_report(
        scores,
        predictions.labels,
        class_names,
        top_k=top_k if top_k is not None else top_k_for(len(class_names)),
        view_scores=predictions.view_scores,
        video_ids=predictions.video_ids,
    )
    report.update(extra or {})
    files = {
        "report": gfiles.join(output_dir, f"{name}_evaluation.json"),
        "summary": gfiles.join(output_dir, f"{name}_evaluation.txt"),
        "confusion": gfiles.join(output_dir, f"{name}_confusion.png"),
        "precision_recall": gfiles.join(output_dir, f"{name}_precision_recall.png"),
        "misclassified": gfiles.join(output_dir, f"{name}_misclassified.tsv"),
    }
    report["files"] = {key: str(path) for key, path in files.items()}
    plots.save_figure(
        plots.confusion_figure(np.asarray(report["confusion_matrix"]), class_names),
        files["confusion"],
    )
    plots.save_figure(
        plots.precision_recall_figure(scores, predictions.labels, class_names),
        files["precision_recall"],
    )
    write_misclassified(report, files["misclassified"])
    gfiles.write_text(files["summary"], format_report(report))
    write_report(report, files["report"])
    return report


def evaluate_classifier(
    model: keras.Model,
    dataset: tf.data.Dataset,
    class_names: Sequence[str],
    output_dir: str | pathlib.Path,
    *,
    name: str = "test",
    extra: dict | None = None,
) -> dict:
    """`predict_views` then `evaluate_predictions`: the whole report of `model` on
    `dataset` (batches from `make_clip_dataset(training=False)`, with video ids to name
    the misclassified videos)."""
    predictions = predict_views(model, dataset)
    return evaluate_predictions(predictions, class_names, output_dir, name=name, extra=extra)
