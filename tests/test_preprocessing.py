"""`ClipPreprocessing`: the model-side resize and normalisation of uint8 clips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvideo.models import KINETICS_MEAN, KINETICS_STD, ClipPreprocessing, build_video_classifier


def random_clip(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def test_normalises_per_channel_without_resizing_at_crop_size():
    clip = random_clip((2, 3, 8, 8, 3))
    out = keras.ops.convert_to_numpy(ClipPreprocessing(8)(clip))
    expected = (clip / 255.0 - np.array(KINETICS_MEAN)) / np.array(KINETICS_STD)
    assert out.dtype == np.float32 and out.shape == clip.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    # Custom statistics are honoured: white maps to (1 - mean) / std.
    white = np.full((1, 1, 4, 4, 3), 255, np.uint8)
    out = keras.ops.convert_to_numpy(ClipPreprocessing(4, (0.5, 0.5, 0.5), (0.25, 0.5, 1.0))(white))
    np.testing.assert_allclose(out[0, 0, 0, 0], [2.0, 1.0, 0.5], rtol=1e-6)


def test_resizes_any_size_bilinearly_then_normalises():
    clip = random_clip((2, 3, 20, 30, 3))
    layer = ClipPreprocessing(12, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    out = keras.ops.convert_to_numpy(layer(clip))
    frames = tf.image.resize(clip.reshape(6, 20, 30, 3), [12, 12], method="bilinear")
    expected = frames.numpy().reshape(2, 3, 12, 12, 3) / 255.0
    assert out.shape == (2, 3, 12, 12, 3)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_dynamic_size_at_crop_size_is_the_identity_resize():
    """With unknown spatial dims the layer always resizes; at crop size that changes nothing."""
    clip = random_clip((1, 2, 10, 10, 3))
    layer = ClipPreprocessing(10)
    dynamic = tf.function(
        layer, input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.uint8)]
    )
    np.testing.assert_allclose(dynamic(clip).numpy(), layer(clip).numpy(), atol=1e-6)


def test_output_follows_the_mixed_precision_policy():
    layer = ClipPreprocessing(6, dtype="mixed_bfloat16")
    out = layer(random_clip((1, 2, 9, 7, 3)))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"


def test_classifier_takes_uint8_clips_of_any_size_and_survives_saving(tmp_path):
    model = build_video_classifier("r3d_tiny", 4, input_shape=(4, 16, 16, 3), std=(0.5,) * 3)
    assert model.input_shape == (None, 4, None, None, 3)
    assert keras.backend.standardize_dtype(model.inputs[0].dtype) == "uint8"
    small, large = random_clip((2, 4, 16, 16, 3)), random_clip((2, 4, 24, 40, 3), seed=1)
    assert model.predict(small, verbose=0).shape == model.predict(large, verbose=0).shape
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.preprocessing.std == (0.5, 0.5, 0.5)
    np.testing.assert_allclose(
        loaded.predict(large, verbose=0), model.predict(large, verbose=0), atol=1e-5
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"crop_size": 0}, "crop_size"),
        ({"crop_size": 8, "mean": (0.5, 0.5)}, "mean"),
        ({"crop_size": 8, "std": (0.5, 0.0, 0.5)}, "std"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClipPreprocessing(**kwargs)


def test_classifier_needs_a_fixed_square_size_to_resize_to():
    with pytest.raises(ValueError, match="square"):
        build_video_classifier("r3d_tiny", 3, input_shape=(4, None, None, 3))
    # Without preprocessing the backbone's dynamic input is kept.
    model = build_video_classifier(
        "r3d_tiny", 3, input_shape=(4, None, None, 3), preprocessing=False
    )
    assert model.input_shape == (None, 4, None, None, 3) and model.preprocessing is None
