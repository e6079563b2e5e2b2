"""Checks and small helpers shared by the SavedModel and TFLite exporters.

Exporters derive what they take from the model's named inputs (`kvideo.inputs`): one
uint8 clip input ``(batch, frames, height, width, channels)`` per name, each resized and
normalised by the model's own `ClipPreprocessing`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from kvideo import inputs as named_inputs
from kvideo.models.outputs import to_probabilities
from kvideo.models.video_classifier import preprocessing_layers

LABELS_FILENAME = "labels.txt"


@dataclasses.dataclass(frozen=True)
class ClipInput:
    """One named input of an exported model.

    Attributes:
        name: the input's name (``"video"``, ``"flow"``, ...).
        channels: channels per frame.
        crop_size: the size the model resizes clips to.
        mean, std: the per-channel normalisation the model applies to [0, 1] pixels.
    """

    name: str
    channels: int
    crop_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def describe(self, frames: int | str) -> dict[str, Any]:
        """The input as the JSON contracts state it."""
        described = {
            "name": self.name,
            "dtype": "uint8",
            "shape": ["batch", frames, "height", "width", self.channels],
            "layout": "(batch, frames, height, width, channels)",
            "crop_size": self.crop_size,
            "normalisation": "the model computes (pixels / 255 - mean) / std per channel",
            "mean": list(self.mean),
            "std": list(self.std),
        }
        if self.name in named_inputs.CONTENTS:
            described["content"] = named_inputs.CONTENTS[self.name]
            if self.name != named_inputs.VIDEO:
                length = named_inputs.stack_length_of(self.name, self.channels)
                described["stack_length"] = length
        if self.name == named_inputs.RGB_DIFF:
            described["normalisation"] += ", then takes the differences of consecutive frames"
        return described


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
    num_classes = model.outputs[0].shape[-1]
    if len(names) != num_classes:
        raise ValueError(
            f"The model has {num_classes} outputs but {len(names)} class names were given. "
            f"Received: len(class_names)={len(names)}"
        )
    return names


def check_top_k(top_k: int, num_classes: int) -> int:
    """`top_k` clipped to the number of classes (a binary model returns its 2 classes)."""
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive integer. Received: {top_k=}")
    return min(top_k, num_classes)


def check_inputs(model: keras.Model, clip_length: int, crop_size: int) -> list[ClipInput]:
    """The model's named inputs, checked against the clip length and crop size.

    Exports hand the model uint8 crops (as the input pipeline does), so every input must
    be a uint8 clip ``(batch, frames, height, width, channels)`` whose `ClipPreprocessing`
    resizes to `crop_size`, and whose frame count (when fixed) is `clip_length`.

    Raises:
        ValueError: saying which input does not fit, and why.
    """
    for name, value in (("clip_length", clip_length), ("crop_size", crop_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    layers = preprocessing_layers(model)
    found = []
    for tensor in model.inputs:
        name = tensor.name
        shape = tuple(tensor.shape)
        if name not in layers:
            raise ValueError(
                f"The model's input {name!r} has no ClipPreprocessing; exports feed uint8 "
                f"clips to every input. Received: inputs {[t.name for t in model.inputs]}"
            )
        if len(shape) != 5 or keras.backend.standardize_dtype(tensor.dtype) != "uint8":
            raise ValueError(
                f"The model's input {name!r} must be uint8 clips (batch, frames, height, width, "
                f"channels). Received: shape={shape}, dtype={tensor.dtype}"
            )
        if shape[1] is not None and shape[1] != clip_length:
            raise ValueError(
                f"The model's input {name!r} has {shape[1]} frames but the clip has "
                f"{clip_length}. Received: clip_length={clip_length}, input shape {shape}"
            )
        layer = layers[name]
        if layer.crop_size != crop_size:
            raise ValueError(
                f"The model resizes {name!r} clips to {layer.crop_size} but the transform's "
                f"crop_size is {crop_size}. Received: crop_size={crop_size}"
            )
        mean, std = layer.channel_stats(shape[-1])
        found.append(
            ClipInput(name, shape[-1], crop_size, tuple(mean.tolist()), tuple(std.tolist()))
        )
    return found


def probabilities(model: keras.Model, clips: Any) -> tf.Tensor:
    """Softmax class probabilities `(batch, num_classes)` float32 of `clips`.

    `clips` is the dict of named inputs (or, for one input, the bare tensor).
    """
    return to_probabilities(model, model(clips, training=False))


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
