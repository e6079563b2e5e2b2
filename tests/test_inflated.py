"""Inflation: the boring-video identity, I3D's published shape, builtin-only 3D pooling,
I3D ResNet-50 from ImageNet weights, and every model of the issue through train_main.py.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from kvideo.layers import Pooling3D
from kvideo.models import MODELS, ResNet2DBackbone, build_video_classifier, get_model_spec
from kvideo.models.inflated import SamePadding3D, inflate, inflate_kernel
from kvideo.models.inflated.i3d import I3D_TIME_KERNELS, I3D_TIME_STRIDES, i3d_resnet50_backbone
from kvideo.models.per_frame.inception_bn import bn_inception, inception_v1_bn
from tests.helpers import random_clips, randomize_weights, run_tflite_builtin_parity

REPO = pathlib.Path(__file__).resolve().parents[1]


def _trainable(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


# --- I3D's published shape ------------------------------------------------------------


def test_i3d_rgb_and_flow_have_the_parameter_counts_of_the_pytorch_port():
    """pytorch-i3d's ``InceptionI3d(400)`` has 12,697,264 parameters: convolution kernels
    (no biases), BN scale and offset, and the 1x1x1 classifier's kernel and bias. Here the
    same: the backbone's trainable weights plus the Dense "logits" layer; BN moving
    statistics are not counted (PyTorch keeps them as buffers). Flow: 2 input channels."""
    rgb = build_video_classifier("i3d", 400, input_shape=(16, 224, 224, 3))
    assert _trainable(rgb) == 12_697_264
    assert tuple(rgb.backbone.output_shape) == (None, 2, 7, 7, 1024)
    flow = build_video_classifier("i3d_flow", 400)
    assert [t.name for t in flow.inputs] == ["flow"] and flow.inputs[0].shape[-1] == 2
    assert flow.preprocessing.mean == (0.5, 0.5)
    assert _trainable(flow) == 12_675_312


# --- The boring-video identity ------------------------------------------------------------


def _identity_error(model_2d: keras.Model, frames: int, seed: int = 0, **kwargs) -> float:
    """Largest difference, relative to the features' scale, between the 2D network's
    spatially pooled features of a frame and the inflated network's spatio-temporally
    pooled features of a clip of that frame repeated."""
    randomize_weights(model_2d, seed=seed, scale=0.05)
    model_3d = inflate(model_2d, num_frames=frames, **kwargs)
    frame = random_clips((2, *model_2d.input_shape[1:]), seed=seed + 1)
    clip = np.repeat(frame[:, None], frames, axis=1)
    expected = keras.ops.convert_to_numpy(model_2d(frame, training=False)).mean(axis=(1, 2))
    got = keras.ops.convert_to_numpy(model_3d(clip, training=False)).mean(axis=(1, 2, 3))
    scale = np.abs(expected).max()
    assert scale > 1e-3
    return float(np.abs(got - expected).max() / scale)


@pytest.mark.parametrize("init", ["repeat", "center"])
def test_inflated_i3d_on_a_repeated_frame_gives_the_2d_networks_features(init):
    """I3D's own inflation (its temporal kernels and strides) of Inception-v1 with BN."""
    base = inception_v1_bn((32, 32, 3), width=0.25)
    error = _identity_error(
        base,
        8,
        time_kernels=I3D_TIME_KERNELS,
        time_strides=I3D_TIME_STRIDES,
        init=init,
        temporal_padding="replicate",
    )
    assert error < 1e-5


def test_inflated_keras_applications_network_on_a_repeated_frame_gives_its_features():
    """keras.applications' MobileNetV2: strided and depthwise convolutions (per frame),
    every 3x3 kernel a 3x3x3 one."""
    base = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    assert _identity_error(base, 4, temporal_padding="replicate", time_strides={"Conv1": 2}) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, size", [("ResNet50", 32), ("InceptionV3", 75), ("VGG16", 32), ("EfficientNetB0", 32)]
)
def test_inflated_keras_applications_networks_keep_the_identity(name, size):
    base = getattr(keras.applications, name)(
        input_shape=(size, size, 3), include_top=False, weights=None
    )
    for w in base.weights:  # EfficientNet's Normalization layer needs a positive variance
        if w.path.endswith("normalization/variance"):
            w.assign(np.ones(w.shape, "float32"))
    assert _identity_error(base, 4, temporal_padding="replicate") < 1e-4


def test_inflated_kvideo_backbones_keep_the_identity():
    resnet = ResNet2DBackbone((1, 1), (8, 16), stem_width=8, input_shape=(32, 32, 3))
    assert _identity_error(resnet, 4, temporal_padding="replicate") < 1e-5
    inception = bn_inception((32, 32, 3), width=0.125)
    assert _identity_error(inception, 4, temporal_padding="replicate") < 1e-5


def test_zero_padding_is_i3ds_and_differs_at_the_ends():
    """With zero temporal padding (I3D's), the first and last frames of a constant clip
    see zeros: the identity holds in the middle of a long enough clip only."""
    frames = 9
    base = keras.Sequential(
        [keras.Input((8, 8, 2)), keras.layers.Conv2D(3, 3, padding="same", name="conv")]
    )
    randomize_weights(base, seed=3)
    model = inflate(base, num_frames=frames)
    frame = random_clips((1, 8, 8, 2), seed=4)
    got = keras.ops.convert_to_numpy(model(np.repeat(frame[:, None], frames, axis=1)))
    expected = keras.ops.convert_to_numpy(base(frame))
    np.testing.assert_allclose(got[:, 1:-1], np.repeat(expected[:, None], frames - 2, 1), atol=1e-6)
    np.testing.assert_allclose(got[:, 0], expected * 2 / 3 + 1 / 3 * base.layers[0].bias, atol=1e-6)


def test_inflated_kernels_are_the_2d_kernel_spread_over_time():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype("float32")
    repeated = inflate_kernel(kernel, 5)
    assert repeated.shape == (5, 3, 3, 2, 4)
    np.testing.assert_allclose(repeated.sum(axis=0), kernel, rtol=1e-6)
    np.testing.assert_allclose(repeated[2], kernel / 5, rtol=1e-6)
    centre = inflate_kernel(kernel, 3, "center")
    np.testing.assert_array_equal(centre[1], kernel)
    assert not centre[0].any() and not centre[2].any()


# --- Builtin-only 3D pooling and padding --------------------------------------------------


@pytest.mark.parametrize("frames", [7, None])
@pytest.mark.parametrize(
    "mode, keras_layer",
    [("max", keras.layers.MaxPooling3D), ("average", keras.layers.AveragePooling3D)],
)
def test_inflated_pooling_pads_space_as_the_2d_layer_and_time_as_same(mode, keras_layer, frames):
    """An inflated "valid" 2D pooling: space valid, time "same" (averages over the frames
    inside). Keras has no 3D pool with mixed padding, but a box pool is separable: Keras's
    valid pool over space, then its "same" pool over time, is the reference. With a static
    and a dynamic number of frames."""
    x = random_clips((2, 7, 9, 8, 3), seed=5) - 0.5
    inputs = keras.Input((frames, 9, 8, 3))
    pool = Pooling3D((3, 3, 2), (2, 2, 2), "valid", mode=mode, time_padding="same")
    ours = keras.Model(inputs, pool(inputs))
    space = keras_layer((1, 3, 2), (1, 2, 2), padding="valid")
    time = keras_layer((3, 1, 1), (2, 1, 1), padding="same")
    expected = keras.ops.convert_to_numpy(time(space(x)))
    assert expected.shape == (2, 4, 4, 4, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x)), expected, atol=1e-6)


@pytest.mark.parametrize("frames", [6, None])
def test_same_padding_then_valid_conv_equals_a_same_conv(frames):
    x = random_clips((1, 6, 9, 10, 2), seed=6)
    conv = keras.layers.Conv3D(4, (3, 3, 3), strides=(2, 2, 2), padding="same")
    conv.build(x.shape)
    valid = keras.layers.Conv3D(4, (3, 3, 3), strides=(2, 2, 2), padding="valid")
    inputs = keras.Input((frames, 9, 10, 2))
    padded = SamePadding3D((3, 3, 3), (2, 2, 2), pad_space=True)(inputs)
    ours = keras.Model(inputs, valid(padded))
    valid.set_weights(conv.get_weights())
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x)), keras.ops.convert_to_numpy(conv(x)), atol=1e-5
    )


def test_an_inflated_network_with_replicate_padding_converts_to_builtin_tflite(tmp_path):
    """Replicated time padding (GATHER), temporal max-pooling, a temporal stride, in a
    classifier: Keras and TFLite (builtin ops only) agree."""
    base = ResNet2DBackbone((1, 1), (8, 16), stem_width=8, input_shape=(32, 32, 3))
    base = keras.Model(
        base.inputs,
        keras.layers.MaxPooling2D(3, 2, padding="same", name="pool")(base.outputs[0]),
    )
    backbone = inflate(base, num_frames=4, temporal_padding="replicate", time_strides={"pool": 2})
    model = build_video_classifier(backbone, 3, input_shape=(4, 32, 32, 3))
    randomize_weights(model, seed=7)
    clips = np.random.default_rng(8).integers(0, 256, (1, 4, 40, 36, 3)).astype("uint8")
    run_tflite_builtin_parity(model, clips)


def test_bad_inflation_arguments_are_refused_with_the_received_values():
    base = ResNet2DBackbone((1,), (8,), stem_width=8, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="Received: init='middle'"):
        inflate(base, init="middle")
    with pytest.raises(ValueError, match="lacks: \\['conv9'\\]"):
        inflate(base, time_kernels={"conv9": 3})
    with pytest.raises(ValueError, match="Received: temporal_padding='reflect'"):
        inflate(base, temporal_padding="reflect")
    with pytest.raises(ValueError, match="must take frames"):
        inflate(keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="Received: mode='min'"):
        Pooling3D(2, mode="min")


# --- I3D ResNet-50 -----------------------------------------------------------------------


@pytest.mark.slow
def test_i3d_resnet50_inflates_keras_imagenet_weights_and_takes_extra_blocks(tmp_path, monkeypatch):
    """``weights="imagenet"`` goes to keras.applications (its download replaced by a file
    we wrote in the published format); the stem's 2D kernel, flipped to RGB, is spread
    over 5 frames. A hook inserts a block after a residual block. With 400 classes the
    model has 28,070,032 trainable parameters: mmaction2's I3D-R50 layout (28.0M there)
    plus the biases of Keras's ResNet-50 convolutions."""
    import h5py
    from keras.src.applications import resnet
    from keras.src.legacy.saving import legacy_h5_format

    reference = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=(224, 224, 3)
    )
    randomize_weights(reference, seed=9, scale=0.02)
    published = str(tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
    with h5py.File(published, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    monkeypatch.setattr(resnet.file_utils, "get_file", lambda *args, **kwargs: published)

    model = build_video_classifier(
        "i3d_resnet50", 400, input_shape=(16, 224, 224, 3), weights="imagenet"
    )
    assert _trainable(model) == 28_070_032
    assert tuple(model.backbone.output_shape) == (None, 2, 7, 7, 2048)
    stem_2d = keras.ops.convert_to_numpy(reference.get_layer("conv1_conv").kernel)[:, :, ::-1]
    stem_3d = keras.ops.convert_to_numpy(model.backbone.get_layer("conv1_conv").kernel)
    np.testing.assert_allclose(stem_3d, np.repeat(stem_2d[None] / 5, 5, axis=0), rtol=1e-6)
    assert model.backbone.get_layer("conv3_block1_1_conv").kernel.shape[0] == 3
    assert model.backbone.get_layer("conv3_block2_1_conv").kernel.shape[0] == 1

    def block(x, name):
        return keras.layers.Activation("linear", name=f"{name}_extra")(x)

    hooked = i3d_resnet50_backbone((8, 64, 64, 3), extra_blocks={"conv3_block1_out": block})
    assert hooked.get_layer("conv3_block1_out_extra") is not None


# --- Every model of the issue through train_main.py ---------------------------------------


def _issue_models() -> list:
    names = [n for n, s in MODELS.items() if s.family in ("per_frame", "inflated")]
    # i3d_tiny is trained a step, saved and converted by test_models in the default tier;
    # through train_main it takes a minute, so it joins the full-size models in `slow`.
    return [
        n if n.endswith("_tiny") and n != "i3d_tiny" else pytest.param(n, marks=pytest.mark.slow)
        for n in names
    ]


@pytest.mark.parametrize("name", _issue_models())
def test_train_main_trains_the_model_one_step_on_motion_demo(name, motion_demo_dir, tmp_path):
    """One step (the whole training split in one batch), evaluation, ``.keras`` saved."""
    if name in ("tsn_tiny", "lrcn_tiny", "cnn_transformer_tiny"):
        pytest.skip("trained through train_and_evaluate in test_per_frame.py")
    spec = get_model_spec(name)
    crop = 75 if "inception" in name and "bn_inception" not in name else 32
    flags = [
        f"--data_dir={motion_demo_dir}",
        f"--output_dir={tmp_path}",
        f"--model={name}",
        "--num_frames=4",
        "--frame_stride=8",
        f"--crop_size={crop}",
        "--batch_size=288",
        "--epochs=1",
        "--noexport",
    ]
    if spec.input_name != "video":
        pytest.skip(f"motion_demo has no {spec.input_name!r} input")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, str(REPO / "train_main.py"), *flags],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Test top-1 accuracy" in result.stdout
    restored = keras.models.load_model(tmp_path / "model.keras")
    assert restored.name == name
