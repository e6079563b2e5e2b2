"""Video-level evaluation: average class probabilities over every test view of a video."""

from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import tensorflow as tf

from kvideo.models.outputs import to_probabilities


def predict_video_scores(
    model: keras.Model, dataset: tf.data.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities per video, averaged over views, with the true labels.

    Args:
        model: a classifier on named inputs, emitting logits or probabilities (the model
            says which: `kvideo.models.outputs`).
        dataset: `(features, labels)` batches from `make_clip_dataset(training=False)`:
            `features` is a dict of named inputs (or one tensor), each
            `(batch, frames, h, w, channels)` or, with several views,
            `(batch, views, frames, h, w, channels)`.

    Returns:
        `(scores, labels)`: float32 `(videos, classes)` and int `(videos,)`.
    """
    # A direct call, not predict_on_batch: under a distribution strategy predict_on_batch
    # runs the batch on every replica and concatenates the copies.
    forward = tf.function(
        lambda x: to_probabilities(model, model(x, training=False)), reduce_retracing=True
    )
    all_scores, all_labels = [], []
    for features, labels in dataset:
        views = 1
        first = tf.nest.flatten(features)[0]
        if first.shape.rank == 6:
            views = first.shape[1]
            features = tf.nest.map_structure(lambda x: tf.reshape(x, [-1, *x.shape[2:]]), features)
        scores = forward(features).numpy()
        all_scores.append(scores.reshape(-1, views, scores.shape[-1]).mean(axis=1))
        all_labels.append(labels.numpy())
    if not all_scores:
        raise ValueError("The evaluation dataset is empty: no video could be read.")
    return np.concatenate(all_scores), np.concatenate(all_labels)


def top_k_for(num_classes: int, k: int = 5) -> int | None:
    """The top-k worth reporting for `num_classes`: `k`, or fewer for few classes, never all
    of them (top-`num_classes` accuracy is always 1); None for a binary problem."""
    k = min(k, num_classes - 1)
    return k if k >= 2 else None


def classification_report(
    scores: np.ndarray, labels: np.ndarray, class_names: list[str], top_k: int | None = 5
) -> dict:
    """Top-1, top-k, per-class accuracy and the confusion matrix (rows: true class).

    Args:
        scores: `(videos, classes)` class scores.
        labels: `(videos,)` true labels.
        class_names: one name per class.
        top_k: reported as ``"top{k}"`` with ``k = min(top_k, classes)``; None reports no
            top-k.
    """
    num_classes = scores.shape[-1]
    if len(class_names) != num_classes:
        raise ValueError(
            f"{num_classes} classes of scores but {len(class_names)} class names were given."
        )
    ranked = np.argsort(-scores, axis=-1, kind="stable")
    predicted = ranked[:, 0]
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    for index, name in enumerate(class_names):
        total = int(confusion[index].sum())
        per_class[name] = float(confusion[index, index] / total) if total else None
    report = {
        "num_videos": int(len(labels)),
        "top1": float(np.mean(predicted == labels)),
    }
    if top_k is not None:
        k = min(top_k, num_classes)
        report[f"top{k}"] = float(np.mean((ranked[:, :k] == labels[:, None]).any(axis=1)))
    report.update(
        {
            "mean_class_accuracy": float(np.mean([a for a in per_class.values() if a is not None])),
            "per_class_accuracy": per_class,
            "class_names": list(class_names),
            "confusion_matrix": confusion.tolist(),
        }
    )
    return report


def write_report(report: dict, path: str | pathlib.Path) -> None:
    """Writes `report` as JSON to `path`, local or any `tf.io.gfile` file system."""
    from kvideo.training import files

    files.write_text(str(path), json.dumps(report, indent=2) + "\n")
