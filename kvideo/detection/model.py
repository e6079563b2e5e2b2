"""The model side of detection: what a model expects, and the one place it is called.

- `load_model_spec`: class names + `ClipSampling` + `Augmentation` of a model, from the
  files a training run or an export leaves beside it, or from explicit files.
- `ClipScorer`: softmax scores of uint8 clips for a Keras model or an exported
  SavedModel. Every model call of `kvideo.detection` goes through it.
- `load_detector_model`: both, from a path.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib

import keras
import numpy as np
import tensorflow as tf

from kvideo.data import augment
from kvideo.data.config import Augmentation, ClipSampling
from kvideo.export import CLIPS_SIGNATURE, CONTRACT_FILENAME, load_clip_config, read_labels
from kvideo.export._common import check_inputs, probabilities
from kvideo.export.from_files import _defaults_for as model_input_defaults
from kvideo.inputs import VIDEO

_log = logging.getLogger(__name__)

# What a training run writes beside `model.keras` (kvideo.training.trainer).
CLIP_CONFIG_FILENAME = "clip_config.json"
LABELS_FILENAME = "labels.txt"
# The model input that carries the clips.
VIDEO_INPUT = VIDEO


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a model expects and what its outputs mean.

    Attributes:
        class_names: one name per model output, in output order.
        clip_sampling: the evaluation sampling; a detection window is one clip of it.
        augmentation: the evaluation transform; its test crops are the spatial views.
        source: where these came from, in words (for logs and results).
    """

    class_names: tuple[str, ...]
    clip_sampling: ClipSampling
    augmentation: Augmentation
    source: str


def saved_model_dir(path: pathlib.Path) -> pathlib.Path:
    """The version directory of a SavedModel: `path` itself, or its highest version."""
    if (path / "saved_model.pb").is_file():
        return path
    versions = [p for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    if not versions:
        raise ValueError(
            f"No SavedModel in {path}: expected saved_model.pb there or in a numeric version "
            "directory (TF Serving layout)"
        )
    return max(versions, key=lambda p: int(p.name))


def load_model_spec(
    model_path: str | os.PathLike,
    model: keras.Model | None = None,
    *,
    clip_config: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
) -> ModelSpec:
    """Class names, clip sampling and evaluation transform of a model.

    Looked up in this order, each item separately:
    1. `clip_config` / `labels` when given (a JSON with `clip_sampling` and
       `augmentation`, as `kvideo.export.load_clip_config` reads; a labels file, one
       name per line);
    2. for a SavedModel directory, its `assets.extra/kvideo_export.json`;
    3. for a `.keras` file, the `clip_config.json` and `labels.txt` a training run writes
       beside `model.keras`, in the model's folder or its parent (for
       `checkpoints/best.keras`);
    4. the model's input (clip length, crop size) with kvideo's defaults for the rest,
       and names `class_0`, `class_1`, ..., each with a logged warning.

    Args:
        model_path: a `.keras` file or a SavedModel directory.
        model: the loaded Keras model, for step 4 (None for a SavedModel).
        clip_config: JSON file overriding what is found beside the model.
        labels: labels file overriding what is found beside the model.

    Returns:
        A `ModelSpec`.
    """
    path = pathlib.Path(model_path)
    sources = []
    names: list[str] | None = None
    sampling_and_transform: tuple[ClipSampling, Augmentation] | None = None
    if model is not None:
        defaults = model_input_defaults(model)
    else:
        defaults = (ClipSampling(), Augmentation())

    if path.is_dir():
        contract_path = saved_model_dir(path) / "assets.extra" / CONTRACT_FILENAME
        if contract_path.is_file():
            contract = json.loads(contract_path.read_text(encoding="utf-8"))
            names = list(contract.get("class_names") or []) or None
            sampling_and_transform = load_clip_config(contract_path, *defaults)
            sources.append(str(contract_path))
    else:
        for folder in (path.parent, path.parent.parent):
            if names is None and (folder / LABELS_FILENAME).is_file():
                names = read_labels(folder / LABELS_FILENAME)
                sources.append(str(folder / LABELS_FILENAME))
            if sampling_and_transform is None and (folder / CLIP_CONFIG_FILENAME).is_file():
                sampling_and_transform = load_clip_config(folder / CLIP_CONFIG_FILENAME, *defaults)
                sources.append(str(folder / CLIP_CONFIG_FILENAME))

    if clip_config is not None:
        sampling_and_transform = load_clip_config(clip_config, *defaults)
        sources.append(os.fspath(clip_config))
    if labels is not None:
        names = read_labels(labels)
        sources.append(os.fspath(labels))
    if sampling_and_transform is None:
        sampling_and_transform = defaults
        _log.warning(
            "No clip config found for %s: using %s and %s. Detection is only right if the "
            "model was evaluated with these; pass the run's clip_config.json.",
            path,
            *defaults,
        )
    if names is None:
        num_classes = None if model is None else model.output_shape[-1]
        if num_classes is None:
            raise ValueError(f"No class names found for {path}; pass a labels file.")
        names = [f"class_{i}" for i in range(num_classes)]
        _log.warning("No labels file found for %s: naming the classes class_0...", path)
    return ModelSpec(tuple(names), *sampling_and_transform, source=", ".join(sources) or "defaults")


class ClipScorer:
    """Softmax class probabilities of uint8 clips, from a Keras model or a SavedModel.

    The one adapter through which `kvideo.detection` calls a model: for a Keras model it
    calls the model (inside one `tf.function`) and applies a softmax when the model
    outputs logits; for a SavedModel it calls the `serve_clips` signature, whose input it
    finds by name in the signature (the only input, else the one named `video`).

    Call it with uint8 `(batch, clip_length, height, width, 3)` clips (crops as cut; the
    model resizes them) to get float32 `(batch, num_classes)` probabilities.

    Use `ClipScorer.from_keras` or `ClipScorer.from_saved_model`.
    """

    def __init__(self, function, clip_length: int | None, num_classes: int, description: str):
        self._function = function
        self.clip_length = clip_length
        self.num_classes = num_classes
        self.description = description

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        if clips.ndim != 5 or clips.dtype != np.uint8 or clips.shape[-1] != 3:
            raise ValueError(
                "Clips must be uint8 (batch, frames, height, width, 3). Received: "
                f"{clips.dtype} {clips.shape}"
            )
        if self.clip_length is not None and clips.shape[1] != self.clip_length:
            raise ValueError(
                f"The model takes clips of {self.clip_length} frames. Received: {clips.shape}"
            )
        return self._function(tf.constant(clips)).numpy()

    @classmethod
    def from_keras(cls, model: keras.Model, resize_to: int | None = None) -> ClipScorer:
        """Scores with a Keras classifier (logits or softmax outputs).

        Args:
            model: maps uint8 clips (a bare tensor, or a dict with a `video` entry) to
                `(batch, num_classes)` logits or probabilities.
            resize_to: resize crops to this size first (for models evaluated with
                `Augmentation(resize_in_pipeline=True)`), as the input pipeline does.
        """
        structure = model.input
        if isinstance(structure, dict):  # named inputs: the clips go to `video`
            key = VIDEO_INPUT if VIDEO_INPUT in structure else next(iter(structure))
            frames = structure[key].shape[1]
        else:
            key, frames = None, structure.shape[1]

        def inputs(clips: tf.Tensor):
            return clips if key is None else {key: clips}

        @tf.function(
            input_signature=[tf.TensorSpec([None, frames, None, None, 3], tf.uint8)],
            autograph=False,  # no Python control flow on tensors inside
        )
        def function(clips):
            return probabilities(model, inputs(_resized(clips, resize_to)))

        return cls(function, frames, int(model.output_shape[-1]), f"Keras model {model.name}")

    @classmethod
    def from_saved_model(cls, path: str | os.PathLike, resize_to: int | None = None) -> ClipScorer:
        """Scores with the `serve_clips` signature of a kvideo SavedModel export.

        Args:
            path: the SavedModel version directory, or the model directory above the
                versions (the highest version is used).
            resize_to: as in `from_keras`.
        """
        directory = saved_model_dir(pathlib.Path(path))
        loaded = tf.saved_model.load(str(directory))
        if CLIPS_SIGNATURE not in loaded.signatures:
            raise ValueError(
                f"The SavedModel {directory} has no {CLIPS_SIGNATURE!r} signature (it has "
                f"{sorted(loaded.signatures)}); export it with kvideo.export"
            )
        signature = loaded.signatures[CLIPS_SIGNATURE]
        _, specs = signature.structured_input_signature
        if len(specs) == 1:
            (name,) = specs
        elif VIDEO_INPUT in specs:
            name = VIDEO_INPUT
        else:
            raise ValueError(
                f"Cannot tell which input of {CLIPS_SIGNATURE} takes the clips: {sorted(specs)}"
            )
        frames = specs[name].shape[1]
        num_classes = signature.structured_outputs["scores"].shape[-1]

        def function(clips):
            # Keep `loaded` alive with the signature it owns.
            return signature(**{name: _resized(clips, resize_to)})["scores"]

        function.loaded = loaded
        return cls(function, frames, int(num_classes), f"SavedModel {directory}")


def _resized(clips: tf.Tensor, size: int | None) -> tf.Tensor:
    if size is None:
        return clips
    shape = tf.shape(clips)
    frames = tf.reshape(clips, tf.concat([[-1], shape[2:]], axis=0))
    frames = augment.resize(frames, size)
    return tf.reshape(frames, tf.concat([shape[:2], [size, size, 3]], axis=0))


def load_detector_model(
    model_path: str | os.PathLike,
    *,
    clip_config: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
) -> tuple[ClipScorer, ModelSpec]:
    """Loads a `.keras` model or a SavedModel directory with what it expects.

    Returns:
        `(scorer, spec)`; the spec's class count matches the model's outputs.

    Raises:
        ValueError: if the path is neither, or the class names or clip length do not
            match the model.
    """
    path = pathlib.Path(model_path)
    if path.is_dir():
        spec = load_model_spec(path, clip_config=clip_config, labels=labels)
        scorer = ClipScorer.from_saved_model(path, _resize_size(spec.augmentation))
    elif path.is_file() and path.suffix == ".keras":
        import kvideo.models  # noqa: F401  (registers kvideo's layers for deserialisation)

        model = keras.models.load_model(path, compile=False)
        spec = load_model_spec(path, model, clip_config=clip_config, labels=labels)
        # The model must take uint8 crops and resize them itself, as exports need too.
        check_inputs(model, spec.clip_sampling.clip_length, spec.augmentation.crop_size)
        scorer = ClipScorer.from_keras(model, _resize_size(spec.augmentation))
    else:
        raise ValueError(
            "`model_path` must be a `.keras` file or a SavedModel directory. "
            f"Received: model_path={os.fspath(model_path)!r}"
        )
    _check_match(scorer, spec)
    return scorer, spec


def _resize_size(augmentation: Augmentation) -> int | None:
    return augmentation.crop_size if augmentation.resize_in_pipeline else None


def _check_match(scorer: ClipScorer, spec: ModelSpec) -> None:
    if len(spec.class_names) != scorer.num_classes:
        raise ValueError(
            f"The model has {scorer.num_classes} outputs but {len(spec.class_names)} class "
            f"names were found ({spec.source})"
        )
    length = spec.clip_sampling.clip_length
    if scorer.clip_length is not None and scorer.clip_length != length:
        raise ValueError(
            f"The model takes {scorer.clip_length}-frame clips but its clip config has "
            f"{length} ({spec.source})"
        )
