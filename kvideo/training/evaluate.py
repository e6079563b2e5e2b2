"""Video-level evaluation: average class probabilities over every test view of a video."""

from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import tensorflow as tf


def predict_video_scores(
    model: keras.Model, dataset: tf.data.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax scores per video, averaged over views, with the true labels.

    Args:
        model: a classifier returning logits for `(batch, frames, height, width, 3)`.
        dataset: `(clips, labels)` batches from `make_clip_dataset(training=False)`; clips
            are `(batch, frames, h, w, 3)` or, with several views,
            `(batch, views, frames, h, w, 3)`.

    Returns:
        `(scores, labels)`: float32 `(videos, classes)` and int `(videos,)`.
    """
    # A direct call, not predict_on_batch: under a distribution strategy predict_on_batch
    # runs the batch on every replica and concatenates the copies.
    forward = tf.function(lambda clips: model(clips, training=False), reduce_retracing=True)
    all_scores, all_labels = [], []
    for clips, labels in dataset:
        views = 1
        if clips.shape.rank == 6:
            views = clips.shape[1]
            clips = tf.reshape(clips, [-1, *clips.shape[2:]])
        logits = forward(clips)
        scores = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1).numpy()
        all_scores.append(scores.reshape(-1, views, scores.shape[-1]).mean(axis=1))
        all_labels.append(labels.numpy())
    if not all_scores:
        raise ValueError("The evaluation dataset is empty: no video could be read.")
    return np.concatenate(all_scores), np.concatenate(all_labels)


def classification_report(
    scores: np.ndarray, labels: np.ndarray, class_names: list[str], top_k: int = 5
) -> dict:
    """Top-1, top-k, per-class accuracy and the confusion matrix (rows: true class)."""
    num_classes = scores.shape[-1]
    ranked = np.argsort(-scores, axis=-1)
    predicted = ranked[:, 0]
    k = min(top_k, num_classes)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    for index, name in enumerate(class_names):
        total = int(confusion[index].sum())
        per_class[name] = float(confusion[index, index] / total) if total else None
    return {
        "num_videos": int(len(labels)),
        "top1": float(np.mean(predicted == labels)),
        f"top{top_k}": float(np.mean((ranked[:, :k] == labels[:, None]).any(axis=1))),
        "mean_class_accuracy": float(np.mean([a for a in per_class.values() if a is not None])),
        "per_class_accuracy": per_class,
        "class_names": list(class_names),
        "confusion_matrix": confusion.tolist(),
    }


def write_report(report: dict, path: str | pathlib.Path) -> None:
    pathlib.Path(path).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
