"""`Pooling3D`: what Keras's 3D poolings (and PyTorch's padded max pooling) compute, from
builtin TFLite ops."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kvideo.layers import Pooling3D
from tests.helpers import run_config_round_trip, run_tflite_builtin_parity

CASES = [((2, 2, 2), None), ((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (1, 1, 1)), ((3, 2, 1), (2, 1, 2))]


def _clips(shape=(2, 7, 9, 10, 3), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


KERAS_POOLS = {"max": keras.layers.MaxPooling3D, "average": keras.layers.AveragePooling3D}


@pytest.mark.parametrize("mode", list(KERAS_POOLS))
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool_size, strides", CASES)
def test_equals_keras_3d_pooling(mode, pool_size, strides, padding):
    """Maxima exactly; averages to rounding (edge windows of "same" average only the
    positions inside the clip, as Keras's)."""
    x = _clips()
    layer = Pooling3D(pool_size, strides, padding, mode=mode)
    got = keras.ops.convert_to_numpy(layer(x))
    expected = keras.ops.convert_to_numpy(KERAS_POOLS[mode](pool_size, strides, padding)(x))
    assert got.shape == expected.shape == layer.compute_output_shape(x.shape)
    if mode == "max":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_explicit_padding_never_wins_a_maximum():
    """PyTorch's MaxPool3d(padding=...) pads with -inf: here, all values are negative,
    so a zero pad would win every edge window; -inf pads never do."""
    x = -np.abs(_clips((1, 4, 7, 7, 2))) - 1.0
    pads = ((0, 1), (1, 1), (1, 1))
    got = keras.ops.convert_to_numpy(Pooling3D(2, padding=pads)(x))
    padded = np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=-np.inf)
    expected = keras.ops.convert_to_numpy(keras.layers.MaxPooling3D(2)(padded))
    assert got.shape == (1, 2, 4, 4, 2)
    np.testing.assert_array_equal(got, expected)
    assert np.all(np.isfinite(got)) and np.all(got < -1.0)


def test_dynamic_shapes_and_config_round_trip():
    inputs = keras.Input((None, None, None, 3))
    model = keras.Model(inputs, Pooling3D((2, 2, 2), padding="same", mode="average")(inputs))
    assert model.output_shape == (None, None, None, None, 3)
    x = _clips((1, 5, 6, 7, 3))
    assert tuple(model(x).shape) == (1, 3, 3, 4, 3)
    layer = Pooling3D(2, padding=((0, 1), (1, 1), (1, 1)), name="pool5")
    assert Pooling3D.from_config(layer.get_config()).get_config() == layer.get_config()
    run_config_round_trip(model, x)


def test_converts_to_builtin_tflite_with_the_same_outputs():
    inputs = keras.Input((5, 9, 10, 3), name="video")
    x = Pooling3D(2, padding=((0, 1), (1, 1), (1, 1)))(inputs)
    x = Pooling3D((1, 3, 3), (1, 2, 2), padding="same", mode="average")(x)
    flatbuffer = run_tflite_builtin_parity(keras.Model(inputs, x), _clips((1, 5, 9, 10, 3)))
    assert b"Flex" not in flatbuffer


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pool_size": 0}, "pool_size=0"),
        ({"pool_size": (2, 2)}, "pool_size=(2, 2)"),
        ({"pool_size": 2, "strides": (1, 0, 1)}, "strides=(1, 0, 1)"),
        ({"pool_size": 2, "padding": "full"}, "padding='full'"),
        ({"pool_size": 2, "padding": ((0, 2), (0, 0), (0, 0))}, "((0, 2), (0, 0), (0, 0))"),
        ({"pool_size": 2, "mode": "min"}, "mode='min'"),
        ({"pool_size": 2, "mode": "average", "padding": ((1, 1),) * 3}, "mode='average'"),
    ],
)
def test_bad_arguments_raise_value_errors_that_echo_them(kwargs, message):
    with pytest.raises(ValueError) as info:
        Pooling3D(**kwargs)
    assert message in str(info.value)
