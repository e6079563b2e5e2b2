"""Shared helpers for model tests (in the spirit of keras-hub's ``src/tests/test_case.py``).

A model test is then a few lines::

    model = build_video_classifier("r3d_tiny", 5, input_shape=(8, 32, 32, 3))
    run_model_test(model, random_pixels((2, 8, 32, 32, 3)), (2, 5), tmp_path)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np


def random_clips(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Float32 clips ``shape = (B, T, H, W, C)`` uniform in ``[0, 1)``, for backbones."""
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def random_pixels(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """uint8 clips ``shape = (B, T, H, W, C)`` over the full range, for classifiers."""
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def randomize_weights(model: keras.Model, seed: int = 0, scale: float = 0.1) -> None:
    """Gives every variable random values so that output comparisons mean something.

    Fresh models have BN statistics of 0/1 and tiny head weights; comparisons on them
    can pass by accident. Moving variances stay positive.
    """
    rng = np.random.default_rng(seed)
    for v in model.weights:
        shape = tuple(v.shape)
        if "moving_variance" in v.path:
            value = rng.uniform(0.5, 1.5, shape)
        elif "gamma" in v.path:
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, scale, shape)
        v.assign(value.astype(keras.backend.standardize_dtype(v.dtype)))


def trainable_param_count(model: keras.Model) -> int:
    """Number of trainable scalars (what PyTorch's ``numel`` over parameters counts)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def bn_moving_stat_count(model: keras.Model) -> int:
    """Number of BatchNormalization moving mean/variance scalars (PyTorch buffers)."""
    return int(
        sum(
            np.prod(w.shape)
            for w in model.non_trainable_weights
            if "moving_mean" in w.path or "moving_variance" in w.path
        )
    )


def run_forward(model: keras.Model, inputs: Any, expected_output_shape: Sequence[int]) -> Any:
    """Inference forward pass; checks the output shape and finiteness, returns numpy."""
    outputs = keras.ops.convert_to_numpy(model(inputs, training=False))
    assert tuple(outputs.shape) == tuple(expected_output_shape)
    assert np.all(np.isfinite(outputs))
    return outputs


def _json_config(model: keras.Model) -> str:
    return json.dumps(keras.saving.serialize_keras_object(model), sort_keys=True, default=str)


def run_config_round_trip(model: keras.Model, inputs: Any | None = None) -> keras.Model:
    """``get_config()`` -> ``from_config()`` gives the same config and architecture.

    With ``inputs``, also copies the weights over and compares outputs.
    """
    config = model.get_config()
    revived = model.__class__.from_config(config)
    assert _json_config(revived) == _json_config(model)
    assert revived.count_params() == model.count_params()
    assert [w.path for w in revived.weights] == [w.path for w in model.weights]
    if inputs is not None:
        revived.set_weights(model.get_weights())
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(revived(inputs, training=False)),
            keras.ops.convert_to_numpy(model(inputs, training=False)),
            atol=1e-6,
        )
    return revived


def run_saving_round_trip(model: keras.Model, inputs: Any, tmp_dir: str | os.PathLike) -> None:
    """``.keras`` save + ``load_model`` restores the class, config and exact outputs."""
    path = os.path.join(str(tmp_dir), f"{model.name}.keras")
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is type(model)
    assert _json_config(restored) == _json_config(model)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(restored(inputs, training=False)), expected
    )


def run_model_test(
    model: keras.Model,
    inputs: Any,
    expected_output_shape: Sequence[int],
    tmp_dir: str | os.PathLike,
    randomize: bool = True,
) -> np.ndarray:
    """Forward pass + config round trip + ``.keras`` round trip; returns the outputs."""
    if randomize:
        randomize_weights(model)
    outputs = run_forward(model, inputs, expected_output_shape)
    run_config_round_trip(model, inputs)
    run_saving_round_trip(model, inputs, tmp_dir)
    return outputs


def run_tflite_builtin_parity(model: keras.Model, inputs: Any, atol: float = 1e-5) -> bytes:
    """Converts with builtin TFLite ops only (no Select TF/Flex) and compares outputs.

    `inputs` is an array for a one-input model or a dict by input name. Conversion fails
    if any op would need Flex. The flatbuffer runs in the standalone ``ai_edge_litert``
    interpreter through its signature, whose output must match Keras within `atol`.
    Returns the flatbuffer.
    """
    import tempfile

    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    names = [t.name for t in model.inputs]
    if not isinstance(inputs, dict):
        inputs = {names[0]: inputs}
    specs = [
        tf.TensorSpec(inputs[n].shape, keras.backend.standardize_dtype(inputs[n].dtype), n)
        for n in names
    ]

    def serve(*tensors):
        return {"out": model(dict(zip(names, tensors, strict=True)), training=False)}

    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", serve, input_signature=specs)
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=["serve"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        flatbuffer = converter.convert()

    runner = Interpreter(model_content=flatbuffer).get_signature_runner("serve")
    got = runner(**inputs)["out"]
    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    np.testing.assert_allclose(got, expected, atol=atol, rtol=1e-5)
    return flatbuffer


def fit_steps(model: keras.Model, inputs: Any, labels: np.ndarray, steps: int = 2) -> list[float]:
    """Compiles with SGD and cross-entropy on the model's output kind, runs `steps` steps
    on one batch; returns the losses. The model's weights change."""
    from kvideo.models import outputs_logits

    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=outputs_logits(model)),
    )
    return [float(model.train_on_batch(inputs, labels)) for _ in range(steps)]


def forget_program_flags(module: Any) -> None:
    """Removes the absl flags that program `module` defined from the process-global
    `FLAGS`, so that another program loaded in the same test process may define flags of
    the same names (``--labels``, ``--model``, ...)."""
    from absl import flags

    flags.FLAGS.unparse_flags()
    for flag in flags.FLAGS.get_key_flags_for_module(module.__name__):
        if flag.name in flags.FLAGS:
            delattr(flags.FLAGS, flag.name)
