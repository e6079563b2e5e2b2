"""Checks and small helpers shared by the SavedModel and TFLite exporters."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from kvideo.layers.clip_preprocessing import ClipPreprocessing

LABELS_FILENAME = "labels.txt"


def check_class_names(class_names: Sequence[str], model: keras.Model) -> list[str]:
    """Validated class names as a list; one per model output, usable as lines of a file."""
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise ValueError(
            f"`class_names` must be a sequence of strings. Received: class_names={class_names!r}"
        )
    names = list(class_names)
    bad = [n for n in names if not isinstance(n, str) or not n or "\n" in n or "\r" in n]
    if bad:
        # labels.txt holds one name per line, so a name must be a non-empty single line.
        raise ValueError(
            "Every class name must be a non-empty single-line string. "
            f"Received: class_names containing {bad[:5]!r}"
        )
    num_classes = model.output_shape[-1]
    if len(names) != num_classes:
        raise ValueError(
            f"The model has {num_classes} outputs but {len(names)} class names were given. "
            f"Received: len(class_names)={len(names)}"
        )
    return names


def check_clip_shape(model: keras.Model, clip_length: int, crop_size: int) -> None:
    """Raises unless `model` takes uint8 RGB clips and resizes them to `crop_size`.

    Exports hand the model uint8 crops (as the input pipeline does), so the model must
    start with a `ClipPreprocessing` (as `build_video_classifier` builds it by default).
    """
    for name, value in (("clip_length", clip_length), ("crop_size", crop_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    shape = tuple(model.input_shape)
    if len(shape) != 5 or shape[-1] not in (None, 3):
        raise ValueError(
            "The model must take RGB clips `(batch, frames, height, width, 3)`. "
            f"Received: model.input_shape={shape}"
        )
    preprocessing = find_preprocessing(model)
    if preprocessing is None or keras.backend.standardize_dtype(model.inputs[0].dtype) != "uint8":
        raise ValueError(
            "Export needs a model that takes uint8 clips and starts with ClipPreprocessing "
            "(build_video_classifier(..., preprocessing=True), the default). "
            f"Received: a model with input dtype {model.inputs[0].dtype}"
        )
    if shape[1] is not None and shape[1] != clip_length:
        raise ValueError(
            f"The model's input has {shape[1]} frames but the clip has {clip_length}. "
            f"Received: clip_length={clip_length}, model.input_shape={shape}"
        )
    if preprocessing.crop_size != crop_size:
        raise ValueError(
            f"The model resizes clips to {preprocessing.crop_size} but the transform's "
            f"crop_size is {crop_size}. Received: crop_size={crop_size}"
        )


def find_preprocessing(model: keras.Model) -> ClipPreprocessing | None:
    """The model's `ClipPreprocessing` layer, or None."""
    for layer in model.layers:
        if isinstance(layer, ClipPreprocessing):
            return layer
    return None


def outputs_logits(model: keras.Model) -> bool:
    """Whether `model` emits logits (True) or softmax probabilities (False).

    `VideoClassifier` emits logits by default and probabilities when built with
    `activation="softmax"`; other activations cannot be turned into class probabilities.
    """
    activation = getattr(model, "activation", None)
    if activation not in (None, "softmax"):
        raise ValueError(
            "Export needs a model that outputs logits (activation=None) or softmax "
            f"probabilities. Received: model.activation={activation!r}"
        )
    return activation is None


def probabilities(model: keras.Model, clips: tf.Tensor) -> tf.Tensor:
    """Softmax class probabilities `(batch, num_classes)` float32 of `clips`."""
    outputs = tf.cast(model(clips, training=False), tf.float32)
    return tf.nn.softmax(outputs, axis=-1) if outputs_logits(model) else outputs


def write_labels(directory: str, class_names: Sequence[str]) -> str:
    """Writes `labels.txt` (one class name per line, line i = class i); returns its path."""
    path = os.path.join(directory, LABELS_FILENAME)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{name}\n" for name in class_names))
    return path


def read_labels(path: str | os.PathLike) -> list[str]:
    """Reads a labels file written as one class name per line (blank trailing lines ignored)."""
    with open(path, encoding="utf-8") as f:
        names = f.read().splitlines()
    while names and not names[-1].strip():
        names.pop()
    return names


def write_json(path: str, content: dict[str, Any]) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2)
        f.write("\n")
    return path
