"""Tests of the ResNet-3D family (R3D, MC3, R(2+1)D) and the video classifier.

Parameter-count convention: PyTorch's ``sum(p.numel() for p in model.parameters())``
counts conv kernels, BatchNorm weight/bias and the fc layer, but not BatchNorm
``running_mean``/``running_var`` (buffers). Keras' ``count_params()`` also counts the BN
moving mean/variance (non-trainable weights). The torchvision/VMZ numbers are
reproduced, for all seven models, by **Keras trainable params** (identically:
``count_params()`` minus the BN moving statistics); `test_reference_counts_are_torchvisions`
recomputes them with torchvision's constructors.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from kvideo.models import (
    ResNet3DBackbone,
    VideoClassifier,
    build_video_classifier,
    list_presets,
    resnet3d_backbone,
)
from kvideo.models.resnet3d import r2plus1d_midplanes
from tests.helpers import (
    bn_moving_stat_count,
    random_clips,
    random_pixels,
    randomize_weights,
    run_config_round_trip,
    run_forward,
    run_model_test,
    run_saving_round_trip,
    run_tflite_builtin_parity,
    trainable_param_count,
)

TINY = ["r3d_tiny", "mc3_tiny", "r2plus1d_tiny"]
REPO = pathlib.Path(__file__).resolve().parents[1]


# --- Exact parameter counts (400-class head) --------------------------------------


@pytest.mark.parametrize(
    "preset, expected",
    [
        ("r3d_18", 33_371_472),
        ("mc3_18", 11_695_440),
        ("r2plus1d_18", 33_370_839),  # paper: per-conv intermediate width M
        ("r2plus1d_34", 63_697_175),  # paper: per-conv M (IG65M/VMZ layout)
        ("r2plus1d_18_torchvision", 31_505_325),  # torchvision: M shared per block
        ("r3d_34", 63_681_104),  # torchvision VideoResNet, Conv3DSimple, [3, 4, 6, 3]
        ("mc3_34", 21_951_056),  # torchvision VideoResNet, Conv3DNoTemporal above stage 1
    ],
)
def test_param_counts_match_reference(preset, expected):
    model = build_video_classifier(preset, 400, input_shape=(16, 112, 112, 3))
    assert trainable_param_count(model) == expected
    assert model.count_params() - bn_moving_stat_count(model) == expected
    assert model.output_shape == (None, 400)
    frames = 16 if preset.startswith("mc3") else 2
    assert model.backbone.output_shape == (None, frames, 7, 7, 512)


def test_reference_counts_are_torchvisions():
    """The table above, from torchvision's ``VideoResNet`` (in a process of its own:
    torchvision cannot be imported after TensorFlow)."""
    from tests.test_converters import require_torch

    require_torch()
    script = (
        "from torchvision.models.video import resnet as tv\n"
        "from tests.torch_reference import ig65m_r2plus1d_34\n"
        "n = lambda m: sum(p.numel() for p in m.parameters())\n"
        "print(n(tv.r3d_18()), n(tv.mc3_18()), n(tv.r2plus1d_18()),\n"
        "      n(tv.VideoResNet(tv.BasicBlock, [tv.Conv3DSimple] * 4, [3, 4, 6, 3],\n"
        "                       tv.BasicStem)),\n"
        "      n(tv.VideoResNet(tv.BasicBlock, [tv.Conv3DSimple] + [tv.Conv3DNoTemporal] * 3,\n"
        "                       [3, 4, 6, 3], tv.BasicStem)),\n"
        "      n(ig65m_r2plus1d_34(400)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts = [int(c) for c in result.stdout.split()]
    # r3d_18, mc3_18, r2plus1d_18 (kvideo: r2plus1d_18_torchvision), r3d_34, mc3_34 and
    # IG65M's R(2+1)D-34 (kvideo: r2plus1d_34).
    assert counts == [33_371_472, 11_695_440, 31_505_325, 63_681_104, 21_951_056, 63_697_175]


def test_bn_epsilon_is_the_weights_and_carried_in_the_config():
    # Caffe2's 1e-3 for the IG65M layout, PyTorch's 1e-5 elsewhere.
    small = dict(stage_depths=(1, 1), stage_widths=(8, 16), stage_conv_types=("3d", "2plus1d"))
    ig65m = resnet3d_backbone("r2plus1d_34", **small)
    torchvision = resnet3d_backbone("r3d_18", **small)
    for backbone, epsilon in ((ig65m, 1e-3), (torchvision, 1e-5)):
        norms = [x for x in backbone.layers if isinstance(x, keras.layers.BatchNormalization)]
        assert norms and {x.epsilon for x in norms} == {epsilon}
        assert {x.momentum for x in norms} == {0.9}  # PyTorch's 0.1 on the new value
        assert backbone.get_config()["bn_epsilon"] == epsilon
    revived = run_config_round_trip(ig65m)
    assert revived.get_layer("stem_spatial_bn").epsilon == 1e-3
    with pytest.raises(ValueError, match="bn_epsilon=0"):
        ResNet3DBackbone(bn_epsilon=0)


def test_midplanes_formula_and_modes():
    # floor(t d^2 Nin Nout / (d^2 Nin + t Nout)), t = d = 3.
    assert r2plus1d_midplanes(64, 64) == 144
    assert r2plus1d_midplanes(64, 128) == 230
    assert r2plus1d_midplanes(128, 128) == 288
    kw = dict(
        stage_depths=(1, 1),
        stage_widths=(64, 128),
        stage_conv_types="2plus1d",
        stem_type="2plus1d",
        input_shape=(4, 16, 16, 3),
    )
    paper = ResNet3DBackbone(midplanes="per_conv", **kw)
    shared = ResNet3DBackbone(midplanes="shared", **kw)
    width = lambda m, name: m.get_layer(name).kernel.shape[-1]  # noqa: E731
    assert width(paper, "stage2_block1_conv1_spatial") == 230
    assert width(paper, "stage2_block1_conv2_spatial") == 288
    assert width(shared, "stage2_block1_conv1_spatial") == 230
    assert width(shared, "stage2_block1_conv2_spatial") == 230
    assert width(paper, "stem_spatial") == 45


# --- Shapes ------------------------------------------------------------------------


def _stage_shapes(backbone):
    return [
        tuple(backbone.get_layer(f"stage{i + 1}_block{d}_out").output.shape[1:])
        for i, d in enumerate(backbone.stage_depths)
    ]


@pytest.mark.parametrize("preset", TINY)
def test_feature_map_strides_16x112x112(preset):
    backbone = resnet3d_backbone(preset, input_shape=(16, 112, 112, 3))
    frames = [16, 16, 16, 16] if preset.startswith("mc3") else [16, 8, 4, 2]
    expected = [
        (t, s, s, c) for t, s, c in zip(frames, [56, 28, 14, 7], [16, 32, 64, 128], strict=True)
    ]
    assert _stage_shapes(backbone) == expected
    assert tuple(
        backbone.get_layer(
            "stem_relu" if "r2plus1d" not in preset else "stem_temporal_relu"
        ).output.shape[1:]
    ) == (16, 56, 56, 16)
    assert backbone.output_shape == (None, *expected[-1])
    assert backbone.num_features == 128


@pytest.mark.parametrize("preset", TINY)
def test_tiny_input_forward(preset):
    x = random_clips((2, 8, 32, 32, 3))
    backbone = resnet3d_backbone(preset, input_shape=(8, 32, 32, 3))
    frames = 8 if preset.startswith("mc3") else 1
    run_forward(backbone, x, (2, frames, 2, 2, 128))
    classifier = VideoClassifier(backbone, num_classes=7)
    logits = run_forward(classifier, x, (2, 7))
    assert classifier.output.dtype == "float32"
    assert classifier.get_layer("logits").activation is keras.activations.linear
    assert not np.allclose(logits.sum(axis=-1), 1.0)


def test_dynamic_input_shape():
    backbone = resnet3d_backbone("r2plus1d_tiny")  # (None, None, None, 3)
    run_forward(backbone, random_clips((1, 8, 32, 48, 3)), (1, 1, 2, 3, 128))
    run_forward(backbone, random_clips((1, 4, 64, 64, 3)), (1, 1, 4, 4, 128))


def test_softmax_activation_and_mixed_precision(tmp_path):
    backbone = resnet3d_backbone("r3d_tiny", input_shape=(8, 32, 32, 3), dtype="mixed_float16")
    model = VideoClassifier(backbone, 5, activation="softmax")
    x = random_clips((2, 8, 32, 32, 3))
    probs = run_forward(model, x, (2, 5))
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)
    assert backbone.output.dtype == "float16"
    assert model.output.dtype == "float32"
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    # The policy survives serialization (layers are rebuilt in mixed precision).
    revived = run_config_round_trip(model, x)
    assert revived.backbone.output.dtype == "float16"
    run_saving_round_trip(model, x, tmp_path)


# --- Serialization -----------------------------------------------------------------


@pytest.mark.parametrize("preset", TINY)
def test_classifier_round_trips(preset, tmp_path):
    model = build_video_classifier(preset, 5, dropout=0.3, input_shape=(8, 32, 32, 3))
    run_model_test(model, random_pixels((2, 8, 32, 32, 3)), (2, 5), tmp_path)


def test_backbone_round_trips(tmp_path):
    backbone = resnet3d_backbone(
        "r2plus1d_tiny",
        midplanes="shared",
        stage_depths=(1, 2),
        stage_widths=(8, 16),
        stage_conv_types=("3d", "2plus1d"),
        stem_width=8,
    )
    assert backbone.get_config()["stage_depths"] == [1, 2]
    run_model_test(backbone, random_clips((1, 4, 16, 16, 3)), (1, 2, 4, 4, 16), tmp_path)
    run_config_round_trip(
        VideoClassifier.from_config(VideoClassifier(backbone, 3, activation="softmax").get_config())
    )


# --- TFLite (builtin ops only) -----------------------------------------------------


@pytest.mark.slow  # test_models checks builtin-only TFLite parity of every registered model
@pytest.mark.parametrize("preset", ["r2plus1d_tiny", "r3d_tiny"])
def test_tflite_builtin_only_parity(preset):
    model = build_video_classifier(preset, 5, input_shape=(8, 32, 32, 3))
    randomize_weights(model)
    flatbuffer = run_tflite_builtin_parity(model, random_pixels((1, 8, 32, 32, 3)))
    assert b"Flex" not in flatbuffer


# --- Presets and argument validation -----------------------------------------------


def test_presets_listed():
    names = list_presets()
    for name in [
        "r3d_18",
        "mc3_18",
        "r2plus1d_18",
        "r2plus1d_34",
        "r2plus1d_18_torchvision",
        "r3d_tiny",
        "mc3_tiny",
        "r2plus1d_tiny",
    ]:
        assert name in names


def test_depth_shorthand():
    backbone = resnet3d_backbone("r3d_tiny", depth=34, input_shape=(4, 16, 16, 3))
    assert backbone.stage_depths == (3, 4, 6, 3)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: resnet3d_backbone("r3d_18", depth=19), "depth=19"),
        (lambda: resnet3d_backbone("r4d_18"), "name='r4d_18'"),
        (lambda: ResNet3DBackbone(stage_depths=(2, 0, 2, 2)), "stage_depths=(2, 0, 2, 2)"),
        (lambda: ResNet3DBackbone(stage_widths=(64, 128)), "stage_widths=(64, 128)"),
        (lambda: ResNet3DBackbone(stage_conv_types="4d"), "stage_conv_types='4d'"),
        (lambda: ResNet3DBackbone(stem_type="2d"), "stem_type='2d'"),
        (lambda: ResNet3DBackbone(stem_width=0), "stem_width=0"),
        (lambda: ResNet3DBackbone(midplanes="paper"), "midplanes='paper'"),
        (lambda: ResNet3DBackbone(input_shape=(112, 112, 3)), "input_shape=(112, 112, 3)"),
        (lambda: build_video_classifier("r3d_tiny", 0), "num_classes=0"),
        (lambda: build_video_classifier("r3d_tiny", 5, dropout=1.5), "dropout=1.5"),
        (lambda: build_video_classifier("r3d_tiny", 5, activation="nope"), "activation='nope'"),
        (lambda: VideoClassifier("r3d_tiny", 5), "backbone='r3d_tiny'"),
    ],
)
def test_bad_arguments_raise_value_error(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert message in str(info.value)


def test_strided_convolution_pads_symmetrically_like_pytorch():
    """A 1x3x3 kernel of ones, stride (1, 2, 2), on a 4x4 frame holding 1..16: PyTorch pads
    one pixel on every side, so the windows are centred on pixels (0, 0), (0, 2), (2, 0)
    and (2, 2). Keras's own "same" padding would centre them on (1, 1), (1, 3), ... and
    give [[54, 45], [72, 54]] instead."""
    from kvideo.models.resnet3d.blocks import padded_conv3d

    inputs = keras.Input((1, 4, 4, 1))
    model = keras.Model(inputs, padded_conv3d(inputs, 1, (1, 3, 3), (1, 2, 2), name="conv"))
    model.get_layer("conv").kernel.assign(np.ones((1, 3, 3, 1, 1), np.float32))
    frame = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4, 1)
    out = keras.ops.convert_to_numpy(model(frame))[0, 0, :, :, 0]
    # 1+2+5+6, 2+3+4+6+7+8, 5+6+9+10+13+14, 6+7+8+10+11+12+14+15+16
    np.testing.assert_array_equal(out, [[14, 30], [57, 99]])
