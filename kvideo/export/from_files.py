"""Export from files: a saved `.keras` model, its labels and its clip config."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from kvideo.data.config import Augmentation, ClipSampling, load_clip_config
from kvideo.export._common import read_labels
from kvideo.export.saved_model import export_saved_model
from kvideo.export.tflite import QUANTIZATIONS, export_tflite

_log = logging.getLogger(__name__)

FORMATS = ("saved_model", "tflite")


def export_from_files(
    model_path: str | os.PathLike,
    labels_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    model_name: str,
    *,
    version: int = 1,
    formats: Sequence[str] = FORMATS,
    clip_config: str | os.PathLike | None = None,
    top_k: int = 5,
    tflite_quantization: str = "float32",
    overwrite: bool = False,
) -> dict[str, str]:
    """Loads a `.keras` classifier and exports it in `formats`.

    Layout::

        <output_dir>/<model_name>/<version>/                 SavedModel (TF Serving)
        <output_dir>/<model_name>_tflite/<version>/<model_name>.tflite (+ .json, labels.txt)

    Args:
        model_path: a `.keras` file saved with `model.save`.
        labels_path: text file with one class name per line.
        output_dir: root of the exports.
        model_name: TF Serving model name and TFLite file stem.
        version: positive integer version.
        formats: any of "saved_model", "tflite".
        clip_config: JSON with the evaluation `clip_sampling` / `augmentation` fields (see
            `load_clip_config`). Fields it leaves out keep the kvideo defaults, except
            `num_frames` and `crop_size`, which default to the model's input shape.
        top_k: best classes returned by the SavedModel.
        tflite_quantization: "float32" or "float16".
        overwrite: replace an existing SavedModel version.

    Returns:
        `{format: path}` of what was written.
    """
    formats = [formats] if isinstance(formats, str) else list(formats)
    if not formats or any(f not in FORMATS for f in formats):
        raise ValueError(f"`formats` must be a non-empty subset of {FORMATS}. Received: {formats}")
    if tflite_quantization not in QUANTIZATIONS:
        raise ValueError(
            f"`tflite_quantization` must be one of {QUANTIZATIONS}. "
            f"Received: tflite_quantization={tflite_quantization!r}"
        )
    if not os.path.isfile(model_path):
        raise ValueError(f"No model file at model_path={os.fspath(model_path)!r}")
    if not os.path.isfile(labels_path):
        raise ValueError(f"No labels file at labels_path={os.fspath(labels_path)!r}")
    class_names = read_labels(labels_path)

    import keras

    import kvideo.models  # noqa: F401  (registers VideoClassifier for deserialisation)

    model = keras.models.load_model(model_path, compile=False)
    # Defaults fitted to the model's input; the clip config overrides any of them.
    clip_sampling, augmentation = _defaults_for(model)
    if clip_config is not None:
        clip_sampling, augmentation = load_clip_config(clip_config, clip_sampling, augmentation)
    else:
        _log.warning(
            "No clip config given: exporting with %s and %s. The export is only right if "
            "the model was evaluated with these.",
            clip_sampling,
            augmentation,
        )

    written = {}
    if "saved_model" in formats:
        written["saved_model"] = export_saved_model(
            model,
            class_names,
            clip_sampling,
            augmentation,
            output_dir,
            model_name,
            version=version,
            top_k=top_k,
            overwrite=overwrite,
        )
    if "tflite" in formats:
        written["tflite"] = export_tflite(
            model,
            os.path.join(os.fspath(output_dir), f"{model_name}_tflite", str(version)),
            class_names,
            clip_sampling,
            augmentation,
            quantization=tflite_quantization,
            name=model_name,
        )
    return written


def _defaults_for(model: Any) -> tuple[ClipSampling, Augmentation]:
    """Default sampling / transform with the clip length and crop size the model fixes."""
    from kvideo.models.video_classifier import preprocessing_layers

    frames = model.inputs[0].shape[1]
    clip_sampling = ClipSampling() if frames is None else ClipSampling(num_frames=frames)
    crop_sizes = {layer.crop_size for layer in preprocessing_layers(model).values()}
    return clip_sampling, Augmentation(crop_size=crop_sizes.pop())
