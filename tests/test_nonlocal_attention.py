"""Non-local blocks and self-attention over 3D features.

Non-local blocks (Wang et al. 2018) go into the ResNet-3D backbone after chosen blocks and
start as the identity; the Transformer head takes a pooling size before it tokenises a
3D map. Both train through ``train_main.py`` from the registry (``r3d_nonlocal_tiny``,
``r3d_attention_tiny``); tests/test_models.py takes every registered model through fit,
``.keras`` and builtin-only TFLite.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from kvideo.models import ResNet3DBackbone, build_video_classifier
from kvideo.models.resnet3d.nonlocal_block import (
    NonLocalAttention,
    check_nonlocal_blocks,
    nonlocal_block,
)
from tests.helpers import (
    random_clips,
    random_pixels,
    randomize_weights,
    run_config_round_trip,
    run_saving_round_trip,
    run_tflite_builtin_parity,
)

REPO = pathlib.Path(__file__).resolve().parents[1]
SMALL = dict(
    stage_depths=(1, 2),
    stage_widths=(8, 16),
    stem_width=8,
    stage_conv_types="3d",
    input_shape=(4, 16, 16, 3),
)


# --- The pairwise function ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["embedded_gaussian", "dot_product"])
def test_attention_computes_the_papers_pairwise_function(mode):
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(2, 2, 3, 3, 4)).astype(np.float32)
    phi = rng.normal(size=(2, 2, 2, 2, 4)).astype(np.float32)  # sub-sampled keys
    g = rng.normal(size=(2, 2, 2, 2, 4)).astype(np.float32)
    got = keras.ops.convert_to_numpy(NonLocalAttention(mode)([theta, phi, g]))
    q, k, v = theta.reshape(2, 18, 4), phi.reshape(2, 8, 4), g.reshape(2, 8, 4)
    affinity = q @ k.transpose(0, 2, 1)
    if mode == "embedded_gaussian":
        affinity = np.exp(affinity / 2.0)  # 1 / sqrt(C') with C' = 4
        affinity /= affinity.sum(-1, keepdims=True)
    else:
        affinity /= 8  # N: the number of key positions
    np.testing.assert_allclose(got, (affinity @ v).reshape(2, 2, 3, 3, 4), rtol=1e-5, atol=1e-6)


# --- Identity at initialisation ---------------------------------------------------------


def _with_weights_of(target: keras.Model, source: keras.Model) -> None:
    """Copies `source`'s layers' weights into `target`'s layers of the same name."""
    for layer in source.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())


@pytest.mark.parametrize("mode", ["embedded_gaussian", "dot_product"])
def test_inserted_nonlocal_blocks_start_as_the_identity(mode):
    plain = ResNet3DBackbone(**SMALL)
    randomize_weights(plain, seed=1)  # a "pretrained" network
    placed = ResNet3DBackbone(**SMALL, nonlocal_blocks=((1,), (1, 2)), nonlocal_mode=mode)
    _with_weights_of(placed, plain)
    names = [layer.name for layer in placed.layers if isinstance(layer, NonLocalAttention)]
    assert names == [
        "stage1_block1_nonlocal_attention",
        "stage2_block1_nonlocal_attention",
        "stage2_block2_nonlocal_attention",
    ]
    clips = random_clips((2, *SMALL["input_shape"]), seed=2)
    expected = keras.ops.convert_to_numpy(plain(clips, training=False))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(placed(clips, training=False)), expected
    )
    # Also in training mode (batch statistics): the output norm's scale is zero.
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(placed(clips, training=True)),
        keras.ops.convert_to_numpy(plain(clips, training=True)),
    )
    # Not vacuous: once its output norm has a scale, a block changes the features.
    placed.get_layer("stage2_block1_nonlocal_out_bn").gamma.assign(np.ones(16, np.float32))
    changed = keras.ops.convert_to_numpy(placed(clips, training=False))
    assert np.abs(changed - expected).max() > 1e-3


def test_a_nonlocal_block_learns_from_identity():
    inputs = keras.Input((2, 5, 5, 8))
    model = keras.Model(inputs, nonlocal_block(inputs, name="nl", sub_sample=True))
    x = random_clips((4, 2, 5, 5, 8), seed=3) - 0.5
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), x)
    model.compile(keras.optimizers.SGD(0.5), "mse")
    model.fit(x, 2 * x, epochs=3, verbose=0)
    assert np.abs(model.get_layer("nl_out_bn").gamma.numpy()).max() > 0
    assert np.abs(keras.ops.convert_to_numpy(model(x)) - x).max() > 1e-4


def test_nonlocal_backbone_round_trips_and_converts_to_builtin_tflite(tmp_path):
    backbone = ResNet3DBackbone(
        **SMALL, nonlocal_blocks=((), (2,)), nonlocal_mode="dot_product", nonlocal_sub_sample=False
    )
    config = backbone.get_config()
    assert config["nonlocal_blocks"] == [[], [2]]
    assert (config["nonlocal_mode"], config["nonlocal_sub_sample"]) == ("dot_product", False)
    randomize_weights(backbone, seed=4)
    clips = random_clips((1, *SMALL["input_shape"]), seed=5)
    run_config_round_trip(backbone, clips)
    run_saving_round_trip(backbone, clips, tmp_path)
    model = build_video_classifier(backbone, 3, input_shape=(4, 16, 16, 3))
    assert b"Flex" not in run_tflite_builtin_parity(model, random_pixels((1, 4, 16, 16, 3)))


def test_a_dynamic_clip_size_with_nonlocal_blocks():
    backbone = ResNet3DBackbone(
        **{**SMALL, "input_shape": (None, None, None, 3)}, nonlocal_blocks=((1,), (2,))
    )
    for shape in [(1, 4, 16, 16, 3), (2, 3, 9, 13, 3)]:
        features = keras.ops.convert_to_numpy(backbone(random_clips(shape), training=False))
        assert features.shape[0] == shape[0] and np.all(np.isfinite(features))


@pytest.mark.parametrize(
    "blocks, message",
    [
        (((1,),), "for each of the 2 stages"),
        (((1,), (3,)), "nonlocal_blocks=((1,), (3,))"),
        (((0,), ()), "nonlocal_blocks=((0,), ())"),
        (((1, 1), ()), "nonlocal_blocks=((1, 1), ())"),
        ("stage2", "nonlocal_blocks='stage2'"),
    ],
)
def test_bad_placements_raise_value_errors_that_echo_them(blocks, message):
    with pytest.raises(ValueError) as info:
        check_nonlocal_blocks(blocks, (1, 2))
    assert message in str(info.value)
    with pytest.raises(ValueError, match="nonlocal_mode='gaussian'"):
        ResNet3DBackbone(**SMALL, nonlocal_mode="gaussian")
    assert check_nonlocal_blocks(None, (1, 2)) == ((), ())
    assert check_nonlocal_blocks([[2, 1], []], (2, 2)) == ((1, 2), ())


# --- Attention over 3D features ----------------------------------------------------------


def test_attention_head_pools_the_map_before_it_makes_tokens():
    model = build_video_classifier("r3d_attention_tiny", 5, input_shape=(16, 112, 112, 3))
    assert model.head == "transformer"
    assert model.head_args["tokens"] == "spacetime"
    # r3d_tiny maps 16x112x112 to 2x7x7; (1, 2, 2) pooling ("same") to 2x4x4 tokens.
    assert tuple(model.backbone.output_shape) == (None, 2, 7, 7, 128)
    assert tuple(model.get_layer("token_pool").output.shape) == (None, 2, 4, 4, 128)
    assert tuple(model.get_layer("position_embedding").embedding.shape) == (1, 33, 128)
    unpooled = build_video_classifier(
        "r3d_tiny",
        5,
        head="transformer",
        head_args={"tokens": "spacetime", "num_heads": 4},
        input_shape=(16, 112, 112, 3),
    )
    assert tuple(unpooled.get_layer("position_embedding").embedding.shape) == (1, 99, 128)
    # The tokens are the averages of the windows: compare with Keras's own 3D pooling.
    randomize_weights(model, seed=6)
    clips = random_pixels((1, 16, 112, 112, 3), seed=7)
    features = model.backbone(model.preprocessing(clips), training=False)
    pooled = keras.layers.AveragePooling3D((1, 2, 2), padding="same")(features)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.get_layer("token_pool")(features)),
        keras.ops.convert_to_numpy(pooled),
        rtol=1e-5,
        atol=1e-6,
    )


def test_pool_size_needs_a_feature_map():
    frame_vectors = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3), keras.layers.GlobalAveragePooling2D()]
    )
    with pytest.raises(ValueError, match="pool_size.*features of shape \\(None, 4, 8\\)"):
        build_video_classifier(
            frame_vectors,
            3,
            head="transformer",
            head_args={"pool_size": (2, 1, 1), "num_heads": 2},
            input_shape=(4, 32, 32, 3),
        )
    with pytest.raises(ValueError, match="pool_size=\\(1, 0, 2\\)"):
        build_video_classifier("r3d_attention_tiny", 3, head_args={"pool_size": (1, 0, 2)})


# --- Through train_main.py ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name, layer",
    [
        # The registry test trains both a step, saves and converts them (default tier).
        pytest.param(
            "r3d_nonlocal_tiny", "stage2_block1_nonlocal_attention", marks=pytest.mark.slow
        ),
        pytest.param("r3d_attention_tiny", "token_pool", marks=pytest.mark.slow),
    ],
)
def test_registered_model_trains_through_train_main(name, layer, motion_demo_dir, tmp_path):
    flags = [
        f"--data_dir={motion_demo_dir}",
        f"--output_dir={tmp_path}",
        f"--model={name}",
        # r3d_tiny maps 4x48x48 clips to 1x3x3; the attention head pools them to 4 tokens.
        "--num_frames=4",
        "--frame_stride=8",
        "--crop_size=48",
        "--epochs=1",
        "--noexport",
    ]
    result = subprocess.run(
        [sys.executable, str(REPO / "train_main.py"), *flags],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Test top-1 accuracy" in result.stdout
    model = keras.models.load_model(tmp_path / "model.keras")
    assert model.name == name
    model.get_layer(layer) if layer == "token_pool" else model.backbone.get_layer(layer)
