"""The model API: the registry of every family, heads, per-frame backbones, weights.

Every registered model goes through the same path (build, train, `.keras` round trip,
builtin-only TFLite), enumerated from the registry so that a new model cannot skip it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kvideo.layers import ClipPreprocessing, SegmentConsensus
from kvideo.models import (
    MODELS,
    ResNet2DBackbone,
    VideoClassifier,
    build_video_classifier,
    get_model_spec,
    list_presets,
)
from kvideo.models.heads import HEADS, head_arguments
from kvideo.models.spec import HEAD_NAMES
from tests.helpers import (
    fit_steps,
    random_clips,
    random_pixels,
    randomize_weights,
    run_config_round_trip,
    run_saving_round_trip,
    run_tflite_builtin_parity,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES, CROP = 4, 32

# --- The registry ---------------------------------------------------------------------


def test_registry_lists_every_family_with_its_input_and_head():
    models = list_presets()
    assert list(list_presets("resnet3d")) == [
        "r3d_18",
        "mc3_18",
        "r2plus1d_18",
        "r2plus1d_34",
        "r2plus1d_18_torchvision",
        "r3d_34",
        "mc3_34",
        "r3d_tiny",
        "mc3_tiny",
        "r2plus1d_tiny",
        "r3d_nonlocal_tiny",
        "r3d_attention_tiny",
    ]
    per_frame = list(list_presets("per_frame"))
    assert per_frame[:3] == ["tsn_tiny", "lrcn_tiny", "cnn_transformer_tiny"]
    assert list(list_presets("c3d")) == ["c3d", "c3d_tiny"]
    families = ("resnet3d", "per_frame", "inflated", "c3d", "timesformer", "videomae")
    assert {spec.family for spec in models.values()} == set(families)
    assert set(models) == set().union(*(list_presets(f) for f in families))
    r2plus1d = models["r2plus1d_18"]
    assert r2plus1d.family == "resnet3d" and r2plus1d.head == "pool"
    assert r2plus1d.input_description == "video: uint8 (batch, 16, H, W, 3) -> 112x112"
    lrcn = models["lrcn_tiny"]
    assert (lrcn.family, lrcn.backbone_input, lrcn.head) == ("per_frame", "frame", "recurrent")
    assert lrcn.head_args == {"cell": "lstm", "units": 64}
    assert "lrcn_tiny" in lrcn.summary() and "recurrent(cell=lstm, units=64)" in lrcn.summary()
    assert tuple(HEADS) == HEAD_NAMES  # the Keras-free copy of the head names


def test_unknown_names_are_errors_that_list_the_valid_ones():
    with pytest.raises(ValueError, match="r2plus1d_18.*lrcn_tiny|lrcn_tiny.*r2plus1d_18"):
        build_video_classifier("r2plus1d_81", 3)
    with pytest.raises(ValueError, match="Choose from .*resnet3d"):
        list_presets("resnet4d")
    with pytest.raises(ValueError, match="Choose from .*'consensus'.*Received: head='lstm'"):
        build_video_classifier("tsn_tiny", 3, head="lstm")
    with pytest.raises(ValueError, match="accepts \\['cell', 'units', 'num_layers', 'readout'\\]"):
        build_video_classifier("lrcn_tiny", 3, head_args={"layers": 2})


def test_registry_and_train_main_help_do_not_load_tensorflow():
    script = (
        "import runpy, sys\n"
        "from kvideo.models import list_presets\n"
        "names = list(list_presets())\n"
        "sys.argv = ['train_main.py', '--help']\n"
        "try:\n"
        "    runpy.run_path('train_main.py', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED False False" in result.stdout
    help_text = (result.stdout + result.stderr).replace("\n", "").replace(" ", "")
    for name in MODELS:  # every model of every family is named
        assert name in help_text, name


# --- Every registered model -----------------------------------------------------------


def _tiny_inputs(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    spec = get_model_spec(name)
    clips = random_pixels((2, FRAMES, 36, 44, spec.channels), seed=seed)
    return clips, np.array([0, 2])


def _is_full_size(name: str) -> bool:
    return not name.endswith("_tiny")


def _crop(name: str) -> int:
    # keras.applications' Inception networks refuse inputs under 75x75.
    return 75 if name in ("tsn_inception_v3", "tsn_inception_resnet_v2") else CROP


# Full-size models take seconds each to build (the per-frame and inflated families hold
# two dozen): the default tier builds the tiny ones, the slow tier every one.
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if _is_full_size(n) else n for n in MODELS],
)
def test_every_registered_model_builds_and_runs_with_its_defaults(name):
    """Every model: the registered defaults build and score a small clip."""
    spec = get_model_spec(name)
    model = build_video_classifier(
        name, 3, input_shape=(FRAMES, _crop(name), _crop(name), spec.channels)
    )
    assert model.name == name
    assert model.head == spec.head and model.dropout == spec.dropout
    assert model.preprocessing.mean == tuple(spec.mean)
    clips, _ = _tiny_inputs(name)
    scores = keras.ops.convert_to_numpy(model({spec.input_name: clips}, training=False))
    assert scores.shape == (2, 3) and np.all(np.isfinite(scores))
    run_config_round_trip(model)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if _is_full_size(n) else n for n in MODELS],
)
def test_every_registered_model_trains_saves_and_converts_to_builtin_tflite(name, tmp_path):
    spec = get_model_spec(name)
    model = build_video_classifier(
        name, 3, input_shape=(FRAMES, _crop(name), _crop(name), spec.channels)
    )
    clips, labels = _tiny_inputs(name)
    before = [w.copy() for w in model.get_weights()]
    losses = fit_steps(model, {spec.input_name: clips}, labels)
    assert all(np.isfinite(losses))
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True)]
    assert sum(changed) > len(changed) // 2  # training moved the weights
    run_saving_round_trip(model, {spec.input_name: clips}, tmp_path)
    run_tflite_builtin_parity(model, {spec.input_name: clips[:1]})


# --- Heads ----------------------------------------------------------------------------


def test_segment_consensus_values():
    scores = np.array([[[1.0, -2.0], [3.0, 0.0], [-1.0, 5.0]]], np.float32)  # (1, T=3, C=2)
    avg = keras.ops.convert_to_numpy(SegmentConsensus("avg")(scores))
    np.testing.assert_allclose(avg, [[1.0, 1.0]], rtol=1e-6)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(SegmentConsensus("max")(scores)), [[3.0, 5.0]]
    )
    weighted = SegmentConsensus("weighted")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weighted(scores)), avg, rtol=1e-6)
    weighted.segment_weights.assign(np.array([0.0, 1.0, 2.0], np.float32))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(weighted(scores)), [[1.0, 10.0]], rtol=1e-6
    )


def _resnet2d() -> ResNet2DBackbone:
    return ResNet2DBackbone((1, 1), (8, 16), stem_width=8, input_shape=(CROP, CROP, 3))


def test_a_2d_backbone_runs_on_every_frame_of_every_clip():
    """TSN's average consensus equals the mean over frames of the 2D network's scores,
    computed here frame by frame, so frames are never mixed between clips."""
    backbone = _resnet2d()
    model = build_video_classifier(
        backbone, 5, head="consensus", input_shape=(FRAMES, None, None, 3), preprocessing=False
    )
    randomize_weights(model, seed=3)
    clips = random_clips((2, FRAMES, CROP, CROP, 3), seed=4)
    got = keras.ops.convert_to_numpy(model(clips, training=False))
    dense = model.get_layer("logits")
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (dense.kernel, dense.bias))
    expected = np.zeros((2, 5), np.float32)
    for b in range(2):
        for t in range(FRAMES):
            feature_map = keras.ops.convert_to_numpy(backbone(clips[b, t][None], training=False))
            expected[b] += (feature_map.mean(axis=(1, 2))[0] @ kernel + bias) / FRAMES
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "head, head_args, sees_order",
    [
        ("pool", None, False),
        ("consensus", {"mode": "avg"}, False),
        ("consensus", {"mode": "max"}, False),
        ("recurrent", {"cell": "lstm", "units": 16}, True),
        ("recurrent", {"cell": "gru", "units": 16, "readout": "average"}, True),
        ("transformer", {"num_heads": 2, "num_layers": 1}, True),
    ],
)
def test_only_temporal_heads_see_the_order_of_frames(head, head_args, sees_order):
    model = build_video_classifier(
        _resnet2d(), 4, head=head, head_args=head_args, input_shape=(FRAMES, CROP, CROP, 3)
    )
    randomize_weights(model, seed=5)
    clips = random_pixels((2, FRAMES, CROP, CROP, 3), seed=6)
    forward = keras.ops.convert_to_numpy(model(clips, training=False))
    backward = keras.ops.convert_to_numpy(model(clips[:, ::-1], training=False))
    if sees_order:
        assert np.max(np.abs(forward - backward)) > 1e-3
    else:
        np.testing.assert_allclose(forward, backward, rtol=1e-5, atol=1e-6)


def _backbone(kind: str) -> keras.Model:
    if kind == "keras.applications":
        # The smallest network there (86 layers): MobileNetV3's 200+ layers triple the time.
        return keras.applications.MobileNet(
            input_shape=(CROP, CROP, 3), alpha=0.25, include_top=False, weights=None
        )
    return _resnet2d()


HEAD_CASES = {
    "pool": None,
    "consensus": {"mode": "weighted"},
    "recurrent": {"cell": "lstm", "units": 8},
    "transformer": {"num_heads": 2, "num_layers": 1, "width": 16},
}


# The 3D backbones' own head (pool) goes through the registry test above; the heads that
# look at time are most used on per-frame features, so they are crossed with 2D networks.
@pytest.mark.parametrize(
    "backbone_kind",
    [pytest.param("keras.applications", marks=pytest.mark.slow), "kvideo 2D"],
)
@pytest.mark.parametrize("head", list(HEAD_CASES))
def test_each_head_on_2d_backbones_trains_saves_and_converts(backbone_kind, head, tmp_path):
    model = build_video_classifier(
        _backbone(backbone_kind),
        3,
        head=head,
        head_args=HEAD_CASES[head],
        input_shape=(FRAMES, CROP, CROP, 3),
    )
    assert isinstance(model, VideoClassifier) and model.head == head
    clips = random_pixels((2, FRAMES, 40, 36, 3), seed=7)
    losses = fit_steps(model, clips, np.array([1, 2]))
    assert all(np.isfinite(losses))
    run_saving_round_trip(model, clips, tmp_path)
    run_tflite_builtin_parity(model, clips[:1])


def test_head_arguments_are_named_per_head():
    assert head_arguments("pool") == ()
    assert head_arguments("consensus") == ("mode",)
    assert head_arguments("transformer") == (
        "num_layers",
        "num_heads",
        "width",
        "mlp_ratio",
        "attention_dropout",
        "tokens",
        "pool_size",
    )


def test_registered_head_arguments_merge_with_given_ones():
    model = build_video_classifier("lrcn_tiny", 2, head_args={"cell": "gru"})
    assert model.head_args == {"cell": "gru", "units": 64}
    assert model.get_layer("gru1").units == 64
    other = build_video_classifier("lrcn_tiny", 2, head="consensus")
    assert other.head_args == {}


def test_spacetime_tokens_attend_over_every_position_of_a_3d_map():
    model = build_video_classifier(
        "r3d_tiny",
        2,
        head="transformer",
        head_args={"tokens": "spacetime", "num_heads": 4},
        input_shape=(8, 32, 32, 3),
    )
    # r3d_tiny maps 8x32x32 to a 1x2x2 map of 128 features: 4 tokens and the class token.
    assert tuple(model.backbone.output_shape) == (None, 1, 2, 2, 128)
    assert tuple(model.get_layer("position_embedding").embedding.shape) == (1, 5, 128)


@pytest.mark.parametrize(
    "backbone, kwargs, message",
    [
        (
            lambda: keras.Sequential([keras.Input((7,)), keras.layers.Dense(4)]),
            {},
            "`backbone` must map clips .*Received: input shape \\(None, 7\\)",
        ),
        (
            lambda: keras.Sequential([keras.Input((4, 8, 8, 3)), keras.layers.Reshape((4, 8, 24))]),
            {},
            "Received: input shape \\(None, 4, 8, 8, 3\\), output shape \\(None, 4, 8, 24\\)",
        ),
        (lambda: "nope", {}, "must be a registered model name|Unknown model"),
        (
            _resnet2d,
            {"head": "recurrent", "input_shape": (None, CROP, CROP, 3)},
            "needs a fixed number of frames",
        ),
        (lambda: "r3d_tiny", {"head": "transformer", "head_args": {"tokens": "pixels"}}, "tokens"),
        (lambda: "r3d_tiny", {"activation": "sigmoid"}, "activation='sigmoid'"),
    ],
)
def test_a_wrong_backbone_or_head_gets_a_clear_error(backbone, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_video_classifier(backbone(), 3, **kwargs)


# --- Weights --------------------------------------------------------------------------


def test_backbone_weights_load_from_a_file_and_the_head_is_new(tmp_path):
    source = build_video_classifier("r3d_tiny", 5, input_shape=(FRAMES, CROP, CROP, 3))
    randomize_weights(source.backbone, seed=8)
    path = str(tmp_path / "r3d_tiny.weights.h5")
    source.backbone.save_weights(path)
    target = build_video_classifier(
        "r3d_tiny", 2, input_shape=(FRAMES, CROP, CROP, 3), weights=path
    )
    clips = random_clips((1, FRAMES, CROP, CROP, 3), seed=9)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(target.backbone(clips, training=False)),
        keras.ops.convert_to_numpy(source.backbone(clips, training=False)),
    )
    assert target.output_shape == (None, 2)


def test_weights_that_do_not_fit_are_refused(tmp_path):
    other = build_video_classifier("mc3_tiny", 2, input_shape=(FRAMES, CROP, CROP, 3))
    mc3 = str(tmp_path / "mc3.weights.h5")
    other.backbone.save_weights(mc3)
    deeper = build_video_classifier("r3d_tiny", 2, depth=18, input_shape=(FRAMES, CROP, CROP, 3))
    r3d_18 = str(tmp_path / "deeper.weights.h5")
    deeper.backbone.save_weights(r3d_18)
    shape = (FRAMES, CROP, CROP, 3)
    with pytest.raises(ValueError, match="do not fit model 'r3d_tiny'"):
        build_video_classifier("r3d_tiny", 2, input_shape=shape, weights=mc3)
    # Keras alone would load the first layers of a deeper network without a word.
    with pytest.raises(ValueError, match="do not fit model 'r3d_tiny'.*holds \\d+ arrays"):
        build_video_classifier("r3d_tiny", 2, input_shape=shape, weights=r3d_18)
    with pytest.raises(ValueError, match="No weights file at"):
        build_video_classifier("r3d_tiny", 2, weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match="No weights named 'kinetics400' are registered"):
        build_video_classifier("r2plus1d_18", 2, weights="kinetics400")


# --- ClipPreprocessing for any input ----------------------------------------------------


def test_preprocessing_takes_any_channel_count_with_tiled_statistics():
    white = np.full((1, 1, 2, 2, 4), 255, np.uint8)  # a stack of two (x, y) flow fields
    layer = ClipPreprocessing(2, mean=(0.5, 0.25), std=(0.25, 0.5))
    out = keras.ops.convert_to_numpy(layer(white))
    np.testing.assert_allclose(out[0, 0, 0, 0], [2.0, 1.5, 2.0, 1.5], rtol=1e-6)
    grey = np.full((1, 1, 2, 2, 2), 128, np.uint8)
    out = keras.ops.convert_to_numpy(ClipPreprocessing(2, mean=(0.5,), std=(0.5,))(grey))
    np.testing.assert_allclose(out, (128 / 255 - 0.5) / 0.5, atol=1e-6)
    with pytest.raises(ValueError, match="3 channel statistics, which do not tile .* 2 channels"):
        ClipPreprocessing(2)(grey)


# --- Saved models load after `import kvideo` ----------------------------------------------


@pytest.mark.parametrize("first", ["keras", "tensorflow"])  # TensorFlow looks Keras up first
def test_import_kvideo_is_enough_to_load_a_saved_model_with_its_schedule(tmp_path, first):
    from kvideo.training.schedules import WarmupSchedule

    model = build_video_classifier("tsn_tiny", 3, input_shape=(FRAMES, CROP, CROP, 3))
    model.compile(keras.optimizers.SGD(WarmupSchedule(0.1, 100, 10)), "mse")
    model.save(tmp_path / "model.keras")
    script = (
        "import sys\n"
        "import kvideo\n"
        "assert 'tensorflow' not in sys.modules\n"
        f"import {first}\n"
        "import keras\n"
        f"model = keras.models.load_model({str(tmp_path / 'model.keras')!r})\n"
        "print('LOADED', type(model).__name__, type(model.optimizer.learning_rate).__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": REPO},  # this checkout, wherever kvideo is installed
    )
    assert "LOADED VideoClassifier" in result.stdout, result.stderr[-2000:]


def test_every_module_with_keras_objects_is_registered_by_import_kvideo():
    package = os.path.join(REPO, "kvideo")
    declaring = set()
    for root, _, files in os.walk(package):
        for file in files:
            if not file.endswith(".py"):
                continue
            path = os.path.join(root, file)
            with open(path, encoding="utf-8") as f:
                if 'register_keras_serializable(package="kvideo")' in f.read():
                    module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                    declaring.add(module)
    assert len(declaring) >= 5
    script = "import json, sys, kvideo, keras; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO
    )
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert declaring <= loaded, declaring - loaded
