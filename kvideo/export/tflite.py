"""Export a video classifier to TFLite with builtin ops only, and check it.

The flatbuffer takes one uint8 clip per named input of the model (``video``; a two-stream
model also ``flow``, ...), already sampled and cropped to `crop_size`, and returns softmax
scores; normalising happens inside (the model's `ClipPreprocessing`). Sampling and
cropping stay on the device app: the JSON beside the model states the whole evaluation
transform (`ClipSampling` and `Augmentation`) and every input.
Conversion allows `TFLITE_BUILTINS` only: a model that needs Select TF ("Flex") ops
fails to convert here rather than at load time on a device without the Flex delegate.

Layout::

    <export_dir>/<name>.tflite     # signature "scores": inputs by name -> "scores"
    <export_dir>/<name>.json       # inputs, output, the evaluation transform
    <export_dir>/labels.txt        # line i = class i
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

import kvideo
from kvideo.data.config import Augmentation, ClipSampling
from kvideo.export import _common as common

QUANTIZATIONS = ("float32", "float16")
SIGNATURE = "scores"


def export_tflite(
    model: keras.Model,
    export_dir: str | os.PathLike,
    class_names: Sequence[str],
    clip_sampling: ClipSampling,
    augmentation: Augmentation,
    quantization: str = "float32",
    name: str | None = None,
) -> str:
    """Converts `model` to a builtin-ops-only `.tflite` returning softmax scores.

    The TFLite model's signature ``"scores"`` has one input per named input of the model,
    uint8 `(1, clip_length, crop_size, crop_size, channels)` (a clip already sampled and
    cropped as in evaluation, and resized to `crop_size`), and one output, ``scores``,
    float32 `(1, num_classes)` softmax probabilities.

    Args:
        model: classifier on uint8 clips (logits or softmax probabilities), every input
            starting with `ClipPreprocessing` (as `build_video_classifier` builds it).
        export_dir: directory for the `.tflite`, its JSON and `labels.txt` (created).
        class_names: one name per model output, in output order.
        clip_sampling: the evaluation's temporal sampling (the app must reproduce it).
        augmentation: the evaluation's spatial transform (its test crop, `crop_size`).
        quantization: "float32", or "float16" (weights stored in float16, about half the
            size; computation stays float32 on CPU).
        name: file stem; default `model.name`, with "_float16" appended for float16.

    Returns:
        The path of the `.tflite` file.
    """
    if not isinstance(clip_sampling, ClipSampling) or not isinstance(augmentation, Augmentation):
        raise ValueError(
            "export_tflite takes the whole evaluation transform, `clip_sampling` (a "
            "ClipSampling) and `augmentation` (an Augmentation), in place of the former "
            "`clip_length` and `crop_size`. Received: "
            f"clip_sampling={clip_sampling!r}, augmentation={augmentation!r}"
        )
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"`quantization` must be one of {QUANTIZATIONS}. "
            f"Received: quantization={quantization!r}"
        )
    clip_length, crop_size = clip_sampling.clip_length, augmentation.crop_size
    clip_inputs = common.check_inputs(model, clip_length, crop_size)
    names = common.check_class_names(class_names, model)
    if name is None:
        name = model.name + ("_float16" if quantization == "float16" else "")
    if not isinstance(name, str) or not name or "/" in name or os.sep in name:
        raise ValueError(f"`name` must be a plain file stem. Received: name={name!r}")

    flatbuffer = convert(model, clip_inputs, clip_length, quantization)

    export_dir = os.fspath(export_dir)
    os.makedirs(export_dir, exist_ok=True)
    path = os.path.join(export_dir, f"{name}.tflite")
    with open(path, "wb") as f:
        f.write(flatbuffer)
    common.write_labels(export_dir, names)
    inputs = []
    for spec in clip_inputs:
        described = spec.describe(clip_length)
        described["shape"] = [1, clip_length, crop_size, crop_size, spec.channels]
        inputs.append(described)
    common.write_json(
        os.path.join(export_dir, f"{name}.json"),
        {
            "format": "kvideo.tflite/2",
            "kvideo_version": kvideo.__version__,
            "model_file": os.path.basename(path),
            "labels_file": common.LABELS_FILENAME,
            "quantization": quantization,
            "signature": SIGNATURE,
            "inputs": inputs,
            "output": {
                "name": "scores",
                "dtype": "float32",
                "shape": [1, len(names)],
                "meaning": "softmax probabilities",
            },
            "preprocessing": {
                "clip_length": clip_length,
                "crop_size": crop_size,
                "frames": "sample the clip's frame indices as `clip_sampling` states (test "
                "indices), crop every frame with the test crop of `augmentation`, resize the "
                "crop to crop_size (bilinear); the model normalises",
                "views": "one view per call; average the scores of the "
                f"{clip_sampling.num_clips * augmentation.num_test_crops} views of a video",
            },
            "clip_sampling": dataclasses.asdict(clip_sampling),
            "augmentation": dataclasses.asdict(augmentation),
        },
    )
    return path


def convert(
    model: keras.Model,
    clip_inputs: Sequence[common.ClipInput],
    clip_length: int,
    quantization: str,
) -> bytes:
    """The builtin-ops-only flatbuffer of `softmax(model(clips))` for batch-1 clips."""
    input_names = [spec.name for spec in clip_inputs]

    def scores(*clips: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"scores": common.probabilities(model, dict(zip(input_names, clips, strict=True)))}

    # Through a SavedModel, as from_keras_model does internally: converting a tf.function
    # of the model with from_concrete_functions left the Keras 3 variables as uninitialised
    # resource variables (NaN outputs) instead of freezing them.
    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            SIGNATURE,
            scores,
            input_signature=[
                tf.TensorSpec(
                    [1, clip_length, spec.crop_size, spec.crop_size, spec.channels],
                    tf.uint8,
                    spec.name,
                )
                for spec in clip_inputs
            ],
        )
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[SIGNATURE])
        # Builtins only: the Python interpreters (and most device builds) cannot run Flex.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def check_tflite(
    path: str | os.PathLike,
    keras_model: keras.Model,
    clips: np.ndarray | Mapping[str, np.ndarray],
    num_threads: int = 1,
) -> float:
    """Max absolute difference between the TFLite scores and the Keras softmax.

    Runs the `.tflite` in the standalone `ai_edge_litert` interpreter (install
    `kvideo[litert]`), through its ``"scores"`` signature, one clip at a time as the model
    has batch 1.

    Args:
        path: a `.tflite` written by `export_tflite`.
        keras_model: the model it was converted from.
        clips: uint8 `(batch, clip_length, crop_size, crop_size, channels)` clips, or a dict
            of them by input name (the bare array for a one-input model).

    Returns:
        `max |tflite - keras|` over all clips and classes.
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:  # optional dependency
        raise ImportError(
            "check_tflite needs the LiteRT interpreter: pip install 'kvideo[litert]'"
        ) from err
    interpreter = Interpreter(model_path=os.fspath(path), num_threads=num_threads)
    runner = interpreter.get_signature_runner(SIGNATURE)
    expected_inputs = runner.get_input_details()
    if not isinstance(clips, Mapping):
        if len(expected_inputs) != 1:
            raise ValueError(
                f"The TFLite model takes {sorted(expected_inputs)}: pass a dict of clips."
            )
        clips = {next(iter(expected_inputs)): clips}
    clips = {name: np.asarray(value) for name, value in clips.items()}
    if set(clips) != set(expected_inputs):
        raise ValueError(
            f"The TFLite model takes inputs {sorted(expected_inputs)}. Received: {sorted(clips)}"
        )
    batch = {len(v) for v in clips.values()}
    for name, value in clips.items():
        shape = tuple(expected_inputs[name]["shape"][1:])
        if value.dtype != np.uint8 or value.ndim != 5 or value.shape[1:] != shape or batch == {0}:
            raise ValueError(
                f"`{name}` must be a non-empty uint8 array of shape (batch, *{shape}). "
                f"Received: shape={value.shape}, dtype={value.dtype}"
            )
    if len(batch) != 1:
        raise ValueError(f"Every input needs the same batch size. Received: {sorted(batch)}")
    got = [
        runner(**{name: value[i : i + 1] for name, value in clips.items()})["scores"][0]
        for i in range(batch.pop())
    ]
    expected = keras.ops.convert_to_numpy(
        common.probabilities(keras_model, {k: tf.constant(v) for k, v in clips.items()})
    )
    return float(np.max(np.abs(np.stack(got) - expected)))
