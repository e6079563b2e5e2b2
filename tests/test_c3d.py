"""C3D (Tran et al. 2015): exact size, the paper's poolings from builtin ops, fc6/fc7 in
the backbone, fc8 in the head.

Parameter count: C3D has no batch norm, so every Keras variable is a trainable weight
and ``count_params()`` equals PyTorch's ``sum(p.numel())`` over the port's ``C3D``:
eight conv kernels and biases (27,655,936), fc6 (8192 x 4096 + 4096), fc7 (4096 x 4096 +
4096) and, as the classifier's Dense layer, fc8 (4096 x 487 + 487): 79,991,015.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kvideo.models import build_video_classifier, get_model_spec
from kvideo.models.c3d import C3DBackbone
from tests.helpers import (
    random_clips,
    random_pixels,
    randomize_weights,
    run_config_round_trip,
    run_model_test,
    run_tflite_builtin_parity,
    trainable_param_count,
)


def test_parameter_count_with_the_sports1m_head():
    model = build_video_classifier("c3d", 487)
    assert model.count_params() == trainable_param_count(model) == 79_991_015
    backbone = model.backbone
    assert trainable_param_count(backbone) == 79_991_015 - (4096 * 487 + 487)
    assert backbone.get_layer("fc6").kernel.shape == (8192, 4096)
    assert model.get_layer("logits").kernel.shape == (4096, 487)  # fc8
    assert model.input_shape == (None, 16, None, None, 3)  # resized to 112 by the model


def test_the_papers_shapes_at_16x112x112():
    backbone = C3DBackbone(include_fc=False)
    shapes = {
        name: tuple(backbone.get_layer(name).output.shape[1:])
        for name in ("pool1", "pool2", "pool3", "pool4", "pool5")
    }
    assert shapes == {
        "pool1": (16, 56, 56, 64),  # 1x2x2: the frames stay
        "pool2": (8, 28, 28, 128),
        "pool3": (4, 14, 14, 256),
        "pool4": (2, 7, 7, 512),
        "pool5": (1, 4, 4, 512),  # padded by 1 in space, as the port
    }
    assert backbone.output_shape == (None, 1, 4, 4, 512) and backbone.num_features == 512


def test_short_clips_keep_a_frame_poolings_round_up():
    """Caffe's ceil mode: 4 frames -> 4, 2, 1, 1, 1 (floor would reach 0 at pool4)."""
    backbone = C3DBackbone(
        conv_widths=(4, 4, 4, 4, 4, 4, 4, 4), fc_width=8, input_shape=(4, 30, 30, 3)
    )
    assert [int(backbone.get_layer(f"pool{i}").output.shape[1]) for i in range(1, 6)] == [
        4,
        2,
        1,
        1,
        1,
    ]
    # Space: 30 -> 15 -> 8 -> 4 -> 2 -> 2 (pool5's pads of 1).
    assert tuple(backbone.get_layer("pool5").output.shape[2:4]) == (2, 2)
    features = keras.ops.convert_to_numpy(backbone(random_clips((2, 4, 30, 30, 3))))
    assert features.shape == (2, 8) and np.all(features >= 0)  # fc7's ReLU


def test_unknown_dimensions_take_the_papers_clip():
    assert C3DBackbone(fc_width=16, input_shape=(None, None, None, 3)).input_shape == (
        None,
        16,
        112,
        112,
        3,
    )


def test_round_trips_and_converts_to_builtin_tflite(tmp_path):
    model = build_video_classifier("c3d_tiny", 5, input_shape=(8, 32, 32, 3))
    assert get_model_spec("c3d_tiny").family == "c3d"
    clips = random_pixels((2, 8, 40, 36, 3))
    run_model_test(model, clips, (2, 5), tmp_path)
    assert b"Flex" not in run_tflite_builtin_parity(model, clips[:1])
    backbone = C3DBackbone(conv_widths=(4,) * 8, include_fc=False, input_shape=(4, 16, 16, 3))
    assert backbone.get_config()["include_fc"] is False
    run_config_round_trip(backbone, random_clips((1, 4, 16, 16, 3)))


def test_the_attention_head_on_c3d_features():
    """Without fc layers the pool5 map goes to any head, e.g. attention over space-time."""
    backbone = C3DBackbone(conv_widths=(8,) * 8, include_fc=False, input_shape=(16, 32, 32, 3))
    model = build_video_classifier(
        backbone, 3, head="transformer", head_args={"tokens": "spacetime", "num_heads": 2}
    )
    randomize_weights(model)
    scores = keras.ops.convert_to_numpy(model(random_pixels((1, 16, 32, 32, 3)), training=False))
    assert scores.shape == (1, 3) and np.all(np.isfinite(scores))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"conv_widths": (64,) * 7}, "conv_widths=(64, 64, 64, 64, 64, 64, 64)"),
        ({"fc_width": 0}, "fc_width=0"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"input_shape": (16, 112, 112)}, "input_shape=(16, 112, 112)"),
        ({"input_shape": (0, 112, 112, 3)}, "input_shape=(0, 112, 112, 3)"),
    ],
)
def test_bad_arguments_raise_value_errors_that_echo_them(kwargs, message):
    with pytest.raises(ValueError) as info:
        C3DBackbone(**kwargs)
    assert message in str(info.value)
