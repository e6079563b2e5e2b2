"""Cross-modality initialisation (TSN) and the RGB-difference layer, by their values.

The relation tested (stated in `kvideo.models.cross_modality`): for an RGB first
convolution with kernel ``W`` (``(..., 3, F)``) and bias ``b``, the initialised one on
``C`` channels has kernel ``mean_c W`` replicated ``C`` times, so on an input whose ``C``
channels all hold one image ``g``

    conv_C(g, ..., g) - b = (C / 3) * (conv_RGB(g, g, g) - b)

and with ``preserve_scale=True`` (kernel times ``3 / C``) the two are equal, so the whole
initialised network gives the RGB network's output on the grey image.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kvideo import inputs
from kvideo.layers import ClipPreprocessing, RGBDifference
from kvideo.models import ResNet2DBackbone, build_video_classifier
from kvideo.models.cross_modality import (
    cross_modality_backbone,
    cross_modality_classifier,
    cross_modality_kernel,
    first_convolution,
)
from tests.helpers import randomize_weights


def test_the_kernel_is_the_rgb_mean_replicated():
    # Two output filters over R, G, B: means 2 and -1/3, by hand.
    kernel = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 0.0]], np.float32).T.reshape(1, 1, 3, 2)
    got = cross_modality_kernel(kernel, 4)
    assert got.shape == (1, 1, 4, 2)
    np.testing.assert_allclose(got[0, 0], [[2.0, -1 / 3]] * 4, rtol=1e-6)
    scaled = cross_modality_kernel(kernel, 4, preserve_scale=True)
    np.testing.assert_allclose(scaled[0, 0], [[1.5, -0.25]] * 4, rtol=1e-6)


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    """Equal to float32 rounding: sums in another order differ by a few parts in 1e6 of
    the largest value (a 3D network's outputs here reach 1e5)."""
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.abs(want).max())


def _with_bias(channels: int) -> keras.Model:
    """A small functional 2D network whose first convolution has a bias."""
    x = inputs_ = keras.Input((12, 12, channels), name="frames")
    x = keras.layers.Conv2D(6, 3, strides=2, name="first")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(4, 3, name="second")(x)
    return keras.Model(inputs_, keras.layers.GlobalAveragePooling2D()(x), name="with_bias")


def _resnet3d_backbone() -> keras.Model:
    model = build_video_classifier("r3d_tiny", 3, input_shape=(4, 16, 16, 3))
    return model.backbone


BACKBONES = {
    "conv2d_with_bias": lambda: _with_bias(3),
    "resnet2d": lambda: ResNet2DBackbone((1, 1), (8, 16), stem_width=8, input_shape=(16, 16, 3)),
    "resnet3d": _resnet3d_backbone,
}


@pytest.mark.parametrize("backbone_name", sorted(BACKBONES))
@pytest.mark.parametrize("input_name, length", [("flow", 5), ("rgb_diff", 5), ("flow", 1)])
def test_equal_channels_give_the_rgb_layer_on_the_grey_image(backbone_name, input_name, length):
    rgb = BACKBONES[backbone_name]()
    randomize_weights(rgb, seed=3, scale=0.3)
    channels = inputs.input_channels(input_name, length)
    if input_name == inputs.RGB_DIFF:
        channels -= 3  # the backbone sees L differences
    rng = np.random.default_rng(4)
    grey = rng.normal(0.0, 1.0, (2, *rgb.inputs[0].shape[1:-1], 1)).astype(np.float32)
    rgb_input = np.repeat(grey, 3, axis=-1)
    stack = np.repeat(grey, channels, axis=-1)

    def first_output(model, x):
        conv = first_convolution(model)
        probe = keras.Model(model.inputs, conv.output)
        out = keras.ops.convert_to_numpy(probe(x, training=False))
        bias = 0.0 if conv.bias is None else keras.ops.convert_to_numpy(conv.bias)
        return out, bias

    new = cross_modality_backbone(rgb, channels)
    assert tuple(new.inputs[0].shape[1:]) == (*rgb.inputs[0].shape[1:-1], channels)
    got, bias = first_output(new, stack)
    want, rgb_bias = first_output(rgb, rgb_input)
    np.testing.assert_array_equal(bias, rgb_bias)
    if backbone_name == "conv2d_with_bias":
        assert np.abs(bias).min() > 0  # the bias is there and kept
    assert_close(got - bias, channels / 3 * (want - bias))
    # Every other weight is the RGB network's.
    first = first_convolution(new).kernel.path
    for a, b in zip(rgb.weights, new.weights, strict=True):
        if b.path != first:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), b.numpy())

    # Scale preserved: the whole network on the equal channels is the RGB network on grey.
    same = cross_modality_backbone(rgb, channels, preserve_scale=True)
    assert_close(
        keras.ops.convert_to_numpy(same(stack, training=False)),
        keras.ops.convert_to_numpy(rgb(rgb_input, training=False)),
    )


def test_without_initialisation_the_first_kernel_is_fresh():
    rgb = _with_bias(3)
    randomize_weights(rgb, seed=1, scale=0.3)
    new = cross_modality_backbone(rgb, 10, initialize=False)
    kernel = first_convolution(new).kernel.numpy()
    # A fresh Glorot kernel, not a replicated mean: its channels differ.
    assert not np.allclose(kernel[..., 0, :], kernel[..., 1, :])


def test_a_registered_rgb_model_becomes_a_flow_and_an_rgb_difference_model():
    rgb = build_video_classifier("tsn_tiny", 6, input_shape=(3, 32, 32, 3))
    randomize_weights(rgb, seed=2)
    flow = cross_modality_classifier(rgb, "flow", 5)
    diff = cross_modality_classifier(rgb, "rgb_diff", 5)
    assert [x.name for x in flow.inputs] == ["flow"]
    assert tuple(flow.inputs[0].shape[1:]) == (3, None, None, 10)
    assert [x.name for x in diff.inputs] == ["rgb_diff"]
    assert tuple(diff.inputs[0].shape[1:]) == (3, None, None, 18)
    assert isinstance(diff.preprocessing, RGBDifference)
    # Flow codes become displacements in px at TSN's bound of 20 (`flow_statistics`).
    assert flow.preprocessing.mean == (0.5, 0.5)
    assert flow.preprocessing.std == (1 / 40, 1 / 40)
    # RGB difference keeps the RGB network's normalisation.
    assert diff.preprocessing.std == rgb.preprocessing.std
    # The backbone is the RGB one but for its first kernel; the head starts afresh.
    first = first_convolution(flow.backbone).kernel.path
    for a, b in zip(rgb.backbone.weights, flow.backbone.weights, strict=True):
        if b.path != first:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    clip = np.random.default_rng(0).integers(0, 256, (2, 3, 40, 40, 10), dtype=np.uint8)
    assert keras.ops.convert_to_numpy(flow(clip)).shape == (2, 6)
    with pytest.raises(ValueError, match="Unknown input"):
        cross_modality_classifier(rgb, "depth", 5)


def test_rgb_difference_is_the_difference_of_normalised_consecutive_frames():
    length, crop = 3, 8
    std = (0.2, 0.25, 0.3)
    layer = RGBDifference(crop, mean=(0.4, 0.5, 0.6), std=std)
    rng = np.random.default_rng(0)
    stacks = rng.integers(0, 256, (2, 4, crop, crop, 3 * (length + 1)), dtype=np.uint8)
    got = keras.ops.convert_to_numpy(layer(stacks))
    assert got.shape == (2, 4, crop, crop, 3 * length)
    frames = stacks.astype(np.float64).reshape(2, 4, crop, crop, length + 1, 3)
    # The means cancel: (next - this) / (255 std), channel by channel.
    expected = (frames[..., 1:, :] - frames[..., :-1, :]) / (255 * np.array(std))
    np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=1e-5, atol=1e-5)
    # Resized the same way as ClipPreprocessing resizes: differences of resized frames.
    big = rng.integers(0, 256, (1, 2, 13, 17, 6), dtype=np.uint8)
    resized = keras.ops.convert_to_numpy(ClipPreprocessing(crop, (0.4, 0.5, 0.6), std)(big))
    got = keras.ops.convert_to_numpy(RGBDifference(crop, (0.4, 0.5, 0.6), std)(big))
    np.testing.assert_allclose(got, resized[..., 3:] - resized[..., :3], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="3 \\(L \\+ 1\\) channels"):
        RGBDifference(crop)(stacks[..., :3])
