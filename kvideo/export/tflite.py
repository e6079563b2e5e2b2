"""Export a video classifier to TFLite with builtin ops only, and check it.

The flatbuffer takes one uint8 RGB clip, already sampled and cropped to `crop_size`, and
returns softmax scores; normalising happens inside (the model's `ClipPreprocessing`).
Sampling and cropping stay on the device app (they are recorded in a JSON beside the
model).
Conversion allows `TFLITE_BUILTINS` only: a model that needs Select TF ("Flex") ops
fails to convert here rather than at load time on a device without the Flex delegate.

Layout::

    <export_dir>/<name>.tflite
    <export_dir>/<name>.json      # expected input and preprocessing
    <export_dir>/labels.txt       # line i = class i
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

import kvideo
from kvideo.data.pipeline import Augmentation, ClipSampling
from kvideo.export import _common as common

QUANTIZATIONS = ("float32", "float16")


def export_tflite(
    model: keras.Model,
    export_dir: str | os.PathLike,
    class_names: Sequence[str],
    clip_length: int,
    crop_size: int,
    quantization: str = "float32",
    augmentation: Augmentation | None = None,
    clip_sampling: ClipSampling | None = None,
    name: str | None = None,
) -> str:
    """Converts `model` to a builtin-ops-only `.tflite` returning softmax scores.

    The TFLite model has one input, uint8 `(1, clip_length, crop_size, crop_size, 3)` (a
    clip of RGB frames already sampled and cropped as in evaluation, and resized to
    `crop_size`), and one output, float32 `(1, num_classes)` softmax probabilities.

    Args:
        model: classifier mapping uint8 clips to logits (or to softmax probabilities),
            starting with `ClipPreprocessing` (as `build_video_classifier` builds it).
        export_dir: directory for the `.tflite`, its JSON and `labels.txt` (created).
        class_names: one name per model output, in output order.
        clip_length: frames per clip.
        crop_size: height and width of a clip.
        quantization: "float32", or "float16" (weights stored in float16, about half the
            size; computation stays float32 on CPU).
        augmentation: the training/eval transform whose test crop the app must
            reproduce; default `Augmentation(crop_size=crop_size)`.
        clip_sampling: the temporal sampling, recorded in the JSON if given.
        name: file stem; default `model.name`, with "_float16" appended for float16.

    Returns:
        The path of the `.tflite` file.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"`quantization` must be one of {QUANTIZATIONS}. "
            f"Received: quantization={quantization!r}"
        )
    common.check_clip_shape(model, clip_length, crop_size)
    names = common.check_class_names(class_names, model)
    if augmentation is None:
        augmentation = Augmentation(crop_size=crop_size)
    elif not isinstance(augmentation, Augmentation) or augmentation.crop_size != crop_size:
        raise ValueError(
            f"`augmentation` must be an Augmentation with crop_size={crop_size}. "
            f"Received: augmentation={augmentation!r}"
        )
    if clip_sampling is not None and (
        not isinstance(clip_sampling, ClipSampling) or clip_sampling.clip_length != clip_length
    ):
        raise ValueError(
            f"`clip_sampling` must be a ClipSampling with clip_length={clip_length}. "
            f"Received: clip_sampling={clip_sampling!r}"
        )
    if name is None:
        name = model.name + ("_float16" if quantization == "float16" else "")
    if not isinstance(name, str) or not name or "/" in name or os.sep in name:
        raise ValueError(f"`name` must be a plain file stem. Received: name={name!r}")

    flatbuffer = convert(model, clip_length, crop_size, quantization)
    preprocessing = common.find_preprocessing(model)

    export_dir = os.fspath(export_dir)
    os.makedirs(export_dir, exist_ok=True)
    path = os.path.join(export_dir, f"{name}.tflite")
    with open(path, "wb") as f:
        f.write(flatbuffer)
    common.write_labels(export_dir, names)
    common.write_json(
        os.path.join(export_dir, f"{name}.json"),
        {
            "format": "kvideo.tflite/1",
            "kvideo_version": kvideo.__version__,
            "model_file": os.path.basename(path),
            "labels_file": common.LABELS_FILENAME,
            "quantization": quantization,
            "input": {
                "dtype": "uint8",
                "shape": [1, clip_length, crop_size, crop_size, 3],
                "layout": "(batch, frames, height, width, RGB)",
            },
            "output": {"dtype": "float32", "shape": [1, len(names)], "meaning": "softmax"},
            "preprocessing": {
                "clip_length": clip_length,
                "crop_size": crop_size,
                "test_crop": augmentation.test_crop,
                "test_crop_fraction": augmentation.test_crop_fraction,
                "resize": "bilinear, crop to crop_size",
                "pixels": "uint8 RGB; the model normalises (pixels / 255 - mean) / std",
                "mean": list(preprocessing.mean),
                "std": list(preprocessing.std),
            },
            "augmentation": dataclasses.asdict(augmentation),
            "clip_sampling": (
                dataclasses.asdict(clip_sampling) if clip_sampling is not None else None
            ),
        },
    )
    return path


def convert(model: keras.Model, clip_length: int, crop_size: int, quantization: str) -> bytes:
    """The builtin-ops-only flatbuffer of `softmax(model(clip))` for a batch-1 clip."""

    # Through a SavedModel, as from_keras_model does internally: converting a tf.function
    # of the model with from_concrete_functions left the Keras 3 variables as uninitialised
    # resource variables (NaN outputs) instead of freezing them.
    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "scores",
            lambda clip: {"scores": common.probabilities(model, clip)},
            input_signature=[
                tf.TensorSpec([1, clip_length, crop_size, crop_size, 3], tf.uint8, "clip")
            ],
        )
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["scores"])
        # Builtins only: the Python interpreters (and most device builds) cannot run Flex.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def check_tflite(
    path: str | os.PathLike, keras_model: keras.Model, clips: np.ndarray, num_threads: int = 1
) -> float:
    """Max absolute difference between the TFLite scores and the Keras softmax.

    Runs the `.tflite` in the standalone `ai_edge_litert` interpreter (install
    `kvideo[litert]`), one clip at a time as the model has batch 1.

    Args:
        path: a `.tflite` written by `export_tflite`.
        keras_model: the model it was converted from.
        clips: uint8 `(batch, clip_length, crop_size, crop_size, 3)` clips.

    Returns:
        `max |tflite - keras|` over all clips and classes.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:  # optional dependency
        raise ImportError(
            "check_tflite needs the LiteRT interpreter: pip install 'kvideo[litert]'"
        ) from err
    clips = np.asarray(clips)
    if clips.ndim != 5 or len(clips) == 0 or clips.dtype != np.uint8:
        raise ValueError(
            "`clips` must be a non-empty uint8 (batch, frames, height, width, 3) array. "
            f"Received: clips.shape={clips.shape}, dtype={clips.dtype}"
        )
    interpreter = Interpreter(model_path=os.fspath(path), num_threads=num_threads)
    interpreter.allocate_tensors()
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    if tuple(input_detail["shape"][1:]) != clips.shape[1:]:
        raise ValueError(
            f"The TFLite model takes clips of shape {tuple(input_detail['shape'])}. "
            f"Received: clips.shape={clips.shape}"
        )
    got = []
    for clip in clips:
        interpreter.set_tensor(input_detail["index"], clip[None])
        interpreter.invoke()
        got.append(interpreter.get_tensor(output_detail["index"])[0])
    expected = keras.ops.convert_to_numpy(common.probabilities(keras_model, tf.constant(clips)))
    return float(np.max(np.abs(np.stack(got) - expected)))
