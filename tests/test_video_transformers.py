"""TimeSformer and VideoMAE's ViT: parity with Hugging Face ``transformers``, weights import,
training, export.

The reference models are built from their ``transformers`` configuration with random
weights in a process of their own (`tests.hf_reference`), saved as the hub saves them,
and converted by kvideo's converters; the converted Keras models must give the same
logits to 1e-4, relative to the largest logit. Base width and depth run at a small clip
(the embeddings are sized to the clip; the blocks are not) in the default suite; the
standard clip sizes (8x224x224, 16x224x224) in the slow one.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from kvideo.layers.transformer import sinusoid_table
from kvideo.models import build_video_classifier, list_presets
from kvideo.models import weights as weights_table
from kvideo.models.timesformer import convert_transformers as timesformer_hf
from kvideo.models.videomae import convert_transformers as videomae_hf
from tests.helpers import random_pixels, run_config_round_trip

REPO = pathlib.Path(__file__).resolve().parents[1]
HAS_TRANSFORMERS = all(importlib.util.find_spec(m) for m in ("torch", "transformers"))
needs_transformers = pytest.mark.skipif(
    not HAS_TRANSFORMERS, reason="needs torch and transformers: pip install '.[transformers]'"
)
TOLERANCE = 1e-4

TIMESFORMER_B = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12}
VIDEOMAE_B = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12}
VIDEOMAE_S = {
    "hidden_size": 384,
    "num_hidden_layers": 12,
    "num_attention_heads": 6,  # VideoMAE's ViT-S (Hugging Face's config says 16)
    "intermediate_size": 1536,
}
TINY = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
}
CONVERTERS = {"timesformer": timesformer_hf, "videomae": videomae_hf}


def run_references(specs: dict[str, dict], root: pathlib.Path) -> dict[str, tuple]:
    """Runs `tests.hf_reference` on every spec in one fresh process.

    Returns:
        ``{name: (checkpoint directory, reference arrays)}``.
    """
    specs = [{**spec, "out": str(root / name)} for name, spec in specs.items()]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-m", "tests.hf_reference", json.dumps(specs)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = {}
    for spec in specs:
        out = pathlib.Path(spec["out"])
        found[out.name] = (out, dict(np.load(out / "reference.npz")))
    return found


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


def keras_logits(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Logits of a classifier without preprocessing on Hugging Face's (B, T, C, H, W)."""
    return keras.ops.convert_to_numpy(model(np.transpose(x, (0, 1, 3, 4, 2)), training=False))


# --- Parity with the reference implementation ------------------------------------------

PARITY_CASES = {
    # name: (family, registered model, reference config, checkpoint format)
    "timesformer_b": (
        "timesformer",
        "timesformer_b",
        {**TIMESFORMER_B, "image_size": 32, "num_frames": 2},
        "safetensors",
    ),
    "videomae_vit_b": (
        "videomae",
        "videomae_vit_b",
        {**VIDEOMAE_B, "image_size": 32, "num_frames": 4},
        "safetensors",
    ),
    "videomae_vit_s": (
        "videomae",
        "videomae_vit_s",
        {**VIDEOMAE_S, "image_size": 32, "num_frames": 4},
        "safetensors",
    ),
    "timesformer_joint_tiny": (
        "timesformer",
        "timesformer_joint_tiny",
        {**TINY, "image_size": 32, "num_frames": 4, "attention_type": "joint_space_time"},
        "safetensors",
    ),
    "timesformer_space_only_tiny": (
        "timesformer",
        "timesformer_space_only_tiny",
        {**TINY, "image_size": 32, "num_frames": 4, "attention_type": "space_only"},
        "safetensors",
    ),
    # A PyTorch pickle, as the published TimeSformer file is.
    "timesformer_tiny_bin": (
        "timesformer",
        "timesformer_tiny",
        {**TINY, "image_size": 48, "num_frames": 3},
        "bin",
    ),
    # The published VideoMAE files name the attention biases q_bias/v_bias.
    "videomae_tiny_published": (
        "videomae",
        "videomae_tiny",
        {**TINY, "image_size": 32, "num_frames": 4},
        "published",
    ),
}


COUNT_CASES = {
    # TimesformerForVideoClassification: 121,258,752 + a 400-class head.
    "timesformer_b": ("timesformer", TIMESFORMER_B, 121_566_352),
    "videomae_vit_b": ("videomae", VIDEOMAE_B, 86_534_800),
    "videomae_vit_s": ("videomae", VIDEOMAE_S, 22_033_936),
}
SMALL = {**TINY, "image_size": 32, "num_frames": 4}


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Every reference of this module, from one process (importing transformers is slow)."""
    if not HAS_TRANSFORMERS:
        pytest.skip("needs torch and transformers: pip install '.[transformers]'")
    specs = {
        case: {"family": family, "config": {**config, "num_labels": 7}, "format": fmt}
        for case, (family, _, config, fmt) in PARITY_CASES.items()
    }
    for name, (family, config, _) in COUNT_CASES.items():
        # The reference model at 224x224 with 400 classes, counted without building it.
        count = {**config, "num_labels": 400}
        specs[f"count_{name}"] = {"family": family, "config": count, "count_only": True}
    specs["videomae_pretraining"] = {
        "family": "videomae",
        "kind": "pretraining",
        "config": {**SMALL, "use_mean_pooling": False},
        "format": "bin",
    }
    for family in CONVERTERS:
        specs[f"tiny_{family}"] = {"family": family, "config": {**SMALL, "num_labels": 5}}
    return run_references(specs, tmp_path_factory.mktemp("references"))


@needs_transformers
@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_converted_logits_match_the_reference(case, references):
    family, name, _, _ = PARITY_CASES[case]
    checkpoint, ref = references[case]
    model = CONVERTERS[family].build_classifier(checkpoint, name, preprocessing=False)
    shutil.rmtree(checkpoint)  # up to 485 MB each
    error = relative_error(keras_logits(model, ref["x"]), ref["out"])
    print(f"{case}: relative error {error:.2e}, {model.count_params():,} parameters")
    assert error < TOLERANCE
    assert model.count_params() == int(ref["params"])  # the same parameters, one for one


@needs_transformers
@pytest.mark.parametrize("name", list(COUNT_CASES))
def test_parameter_counts_equal_the_references_at_the_standard_size(name, references):
    # The Keras model is built at its registered size, 8 or 16 x 224 x 224, 400 classes.
    model = build_video_classifier(name, 400)
    assert model.count_params() == int(references[f"count_{name}"][1]["params"])
    assert model.count_params() == COUNT_CASES[name][2]


@needs_transformers
def test_the_self_supervised_encoder_becomes_a_mean_pooled_backbone(references, tmp_path):
    checkpoint, ref = references["videomae_pretraining"]
    path = videomae_hf.convert(checkpoint, tmp_path / "encoder.weights.h5", "videomae_tiny")
    model = build_video_classifier(
        "videomae_tiny", 3, input_shape=(4, 32, 32, 3), preprocessing=False, weights=path
    )
    features = model.backbone(np.transpose(ref["x"], (0, 1, 3, 4, 2)), training=False)
    assert relative_error(keras.ops.convert_to_numpy(features), ref["out"]) < TOLERANCE
    gamma = model.backbone.get_layer("fc_norm").gamma
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(gamma), 1.0)
    with pytest.raises(ValueError, match="no classifier"):
        videomae_hf.build_classifier(checkpoint, "videomae_tiny")


@needs_transformers
@pytest.mark.slow
@pytest.mark.parametrize(
    "family, name, config",
    [
        ("timesformer", "timesformer_b", {**TIMESFORMER_B, "image_size": 224, "num_frames": 8}),
        ("videomae", "videomae_vit_b", {**VIDEOMAE_B, "image_size": 224, "num_frames": 16}),
    ],
)
def test_parity_at_the_standard_clip_size(family, name, config, tmp_path):
    spec = {"family": family, "config": {**config, "num_labels": 400}, "batch": 1}
    checkpoint, ref = run_references({name: spec}, tmp_path)[name]
    model = CONVERTERS[family].build_classifier(checkpoint, name, preprocessing=False)
    error = relative_error(keras_logits(model, ref["x"]), ref["out"])
    print(f"{name} at {config['num_frames']}x224x224: relative error {error:.2e}")
    assert error < TOLERANCE
    assert model.count_params() == int(ref["params"])


# --- Weights: the registered entries and the converters' errors ---------------------------


@pytest.fixture(scope="module")
def tiny_checkpoints(references):
    """``tiny_checkpoints / family``: a tiny checkpoint (safetensors + config.json)."""
    return {family: references[f"tiny_{family}"][0] for family in CONVERTERS}


def test_registered_weights_are_pinned_hub_files_converted_on_first_use():
    entries = {(m, n): e for m, named in weights_table.WEIGHTS.items() for n, e in named.items()}
    assert {
        ("timesformer_b", "kinetics400"),
        ("videomae_vit_b", "kinetics400"),
        ("videomae_vit_b", "kinetics400_pretrain"),
        ("videomae_vit_s", "kinetics400"),
    } <= set(entries)
    for (model, _), entry in entries.items():
        if model.startswith(("timesformer", "videomae")):
            assert entry.origin.startswith("https://huggingface.co/")
            assert "/resolve/" in entry.origin and entry.convert is not None
            assert entry.file_hash is not None or len(entry.origin.split("/")[-2]) == 40


def test_registered_weights_download_convert_and_load(tiny_checkpoints, tmp_path, monkeypatch):
    """The whole path of `weights=NAME`: fetch (here from a file:// origin), check the
    SHA-256, convert once, load into the backbone."""
    import hashlib

    from keras.src.backend import config as keras_config

    (tmp_path / "keras_home").mkdir()  # Keras caches elsewhere when it cannot write here
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras_home"))
    checkpoint = tiny_checkpoints["videomae"] / "model.safetensors"
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    entry = weights_table.PretrainedWeights(
        name="tiny_test",
        description="a random tiny VideoMAE",
        source="tests",
        origin=checkpoint.as_uri(),
        file_name="videomae-tiny-test.safetensors",
        file_hash=digest,
        convert=videomae_hf.convert,
    )
    monkeypatch.setitem(weights_table.WEIGHTS, "videomae_tiny", {"tiny_test": entry})
    model = build_video_classifier(
        "videomae_tiny", 3, input_shape=(4, 32, 32, 3), preprocessing=False, weights="tiny_test"
    )
    reference = videomae_hf.build_classifier(tiny_checkpoints["videomae"], "videomae_tiny")
    clips = np.random.default_rng(0).normal(size=(1, 4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.backbone(clips)),
        keras.ops.convert_to_numpy(reference.backbone(clips)),
        rtol=1e-6,
        atol=1e-6,
    )
    assert (tmp_path / "keras_home" / "kvideo" / "videomae_tiny_tiny_test.weights.h5").exists()


def test_a_checkpoint_of_another_architecture_is_refused_with_its_tensors_named(
    tiny_checkpoints, tmp_path
):
    with pytest.raises(ValueError, match="not a checkpoint of this architecture"):
        timesformer_hf.convert(
            tiny_checkpoints["videomae"], tmp_path / "a.weights.h5", "timesformer_tiny"
        )
    with pytest.raises(ValueError, match="has 2 layers, 'videomae_vit_s' has 12"):
        videomae_hf.convert(
            tiny_checkpoints["videomae"], tmp_path / "b.weights.h5", "videomae_vit_s"
        )
    with pytest.raises(ValueError, match="makes videomae models"):
        videomae_hf.convert(tiny_checkpoints["videomae"], tmp_path / "c.weights.h5", "r3d_tiny")
    with pytest.raises(ValueError, match="No model.safetensors or pytorch_model.bin"):
        videomae_hf.convert(tmp_path, tmp_path / "d.weights.h5", "videomae_tiny")
    # Weights converted at one clip length do not fit TimeSformer's time embeddings of another.
    path = timesformer_hf.convert(
        tiny_checkpoints["timesformer"], tmp_path / "t.weights.h5", "timesformer_tiny"
    )
    with pytest.raises(ValueError, match="do not fit model 'timesformer_tiny'"):
        build_video_classifier("timesformer_tiny", 3, input_shape=(8, 32, 32, 3), weights=path)


def test_converter_command_line_writes_backbone_and_classifier(tiny_checkpoints, tmp_path):
    output, classifier = tmp_path / "tiny.weights.h5", tmp_path / "tiny.keras"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kvideo.models.timesformer.convert_transformers",
            f"--checkpoint={tiny_checkpoints['timesformer']}",
            "--model=timesformer_tiny",
            f"--output={output}",
            f"--classifier_output={classifier}",
        ],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model = keras.models.load_model(classifier)
    assert model.name == "timesformer_tiny" and model.output_shape == (None, 5)
    assert model.preprocessing.mean == (0.45, 0.45, 0.45)  # TimeSformer's training statistics
    loaded = build_video_classifier(
        "timesformer_tiny", 2, input_shape=(4, 32, 32, 3), weights=str(output)
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.backbone.get_layer("class_token").token),
        keras.ops.convert_to_numpy(model.backbone.get_layer("class_token").token),
    )


# --- The models themselves --------------------------------------------------------------


def test_registry_names_both_families_and_their_inputs():
    assert list(list_presets("timesformer")) == [
        "timesformer_b",
        "timesformer_b_joint",
        "timesformer_b_space_only",
        "timesformer_tiny",
        "timesformer_joint_tiny",
        "timesformer_space_only_tiny",
    ]
    assert list(list_presets("videomae")) == ["videomae_vit_s", "videomae_vit_b", "videomae_tiny"]
    timesformer = list_presets()["timesformer_b"]
    assert timesformer.input_description == "video: uint8 (batch, 8, H, W, 3) -> 224x224"
    videomae = list_presets()["videomae_vit_b"]
    assert videomae.input_description == "video: uint8 (batch, 16, H, W, 3) -> 224x224"
    assert videomae.mean == (0.485, 0.456, 0.406)


def test_sinusoid_table_is_the_reference_formula():
    table = sinusoid_table(5, 6)
    for position in range(5):
        for j in range(6):
            angle = position / 10000 ** (2 * (j // 2) / 6)
            expected = np.sin(angle) if j % 2 == 0 else np.cos(angle)
            assert abs(table[position, j] - expected) < 1e-6


@pytest.mark.parametrize(
    "name", ["timesformer_tiny", "timesformer_space_only_tiny", "videomae_tiny"]
)
def test_drop_path_acts_in_training_only_and_checkpointing_keeps_the_gradients(name):
    """Drop path changes training outputs, never inference ones; gradient checkpointing
    recomputes the blocks with the same masks, so the gradients equal those without it."""
    import tensorflow as tf

    kwargs = {"input_shape": (4, 32, 32, 3), "preprocessing": False, "drop_path_rate": 0.5}
    plain = build_video_classifier(name, 3, **kwargs)
    checkpointed = build_video_classifier(name, 3, gradient_checkpointing=True, **kwargs)
    checkpointed.set_weights(plain.get_weights())
    clips = np.random.default_rng(1).normal(size=(4, 4, 32, 32, 3)).astype(np.float32)
    inference = [
        keras.ops.convert_to_numpy(m(clips, training=False)) for m in (plain, checkpointed)
    ]
    np.testing.assert_allclose(inference[0], inference[1], rtol=1e-6, atol=1e-6)

    def gradients(model):
        keras.utils.set_random_seed(7)  # the same drop-path masks for both models
        for layer in model.backbone.layers:
            if hasattr(layer, "seed_generator"):
                layer.seed_generator.state.assign(np.array([7, 0], dtype="uint32"))
        with tf.GradientTape() as tape:
            out = model(clips, training=True)
            loss = tf.reduce_sum(out**2)
        return out.numpy(), tape.gradient(loss, model.trainable_variables)

    out_plain, grads_plain = gradients(plain)
    out_checkpointed, grads_checkpointed = gradients(checkpointed)
    assert np.max(np.abs(out_plain - inference[0])) > 1e-3  # paths were dropped
    np.testing.assert_allclose(out_checkpointed, out_plain, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads_plain, grads_checkpointed, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-6)


def test_bad_arguments_are_errors_that_echo_them():
    from kvideo.models.timesformer.timesformer_backbone import TimeSformerBackbone
    from kvideo.models.videomae.videomae_backbone import VideoMAEBackbone

    with pytest.raises(ValueError, match="attention_type='spatial'"):
        TimeSformerBackbone(attention_type="spatial")
    with pytest.raises(ValueError, match="hidden_dim=100, num_heads=12"):
        TimeSformerBackbone(hidden_dim=100)
    with pytest.raises(ValueError, match="do not split into 1x16x16"):
        TimeSformerBackbone(input_shape=(8, 100, 100, 3))
    with pytest.raises(ValueError, match="do not split into 2x16x16"):
        VideoMAEBackbone(input_shape=(5, 224, 224, 3))
    with pytest.raises(ValueError, match="drop_path_rate"):
        VideoMAEBackbone(num_layers=1, drop_path_rate=1.5)
    with pytest.raises(ValueError, match="attention_dropout=0.1, gradient_checkpointing=True"):
        VideoMAEBackbone(num_layers=1, attention_dropout=0.1, gradient_checkpointing=True)


@pytest.mark.parametrize("name", ["timesformer_tiny", "videomae_tiny"])
def test_config_round_trip_keeps_every_argument(name):
    model = build_video_classifier(
        name, 4, input_shape=(4, 32, 32, 3), drop_path_rate=0.2, gradient_checkpointing=True
    )
    revived = run_config_round_trip(model, random_pixels((1, 4, 32, 32, 3)))
    assert revived.backbone.drop_path_rate == 0.2 and revived.backbone.gradient_checkpointing


# --- Training and export ------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["timesformer_tiny", pytest.param("videomae_tiny", marks=pytest.mark.slow)]
)
def test_train_main_trains_a_tiny_transformer(name, motion_demo_dir, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "train_main.py"),
            f"--model={name}",
            f"--data_dir={motion_demo_dir}",
            f"--output_dir={tmp_path}",
            "--num_frames=4",
            "--frame_stride=8",
            "--crop_size=32",
            "--batch_size=16",
            "--epochs=1",
            "--noexport",
        ],
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Test top-1 accuracy" in result.stdout
    model = keras.models.load_model(tmp_path / "model.keras")
    assert model.name == name and model.input_shape == (None, 4, None, None, 3)


@pytest.mark.slow
def test_the_fine_tuning_recipe_trains_end_to_end(motion_demo_dir, tmp_path):
    """VideoMAE's recipe on a tiny model: soft targets from Mixup/CutMix and label
    smoothing, layer-wise decayed AdamW with warmup, drop path, gradient checkpointing."""
    from kvideo.data.mixing import Mixing
    from kvideo.training import get_experiment, replace_fields, train_and_evaluate
    from kvideo.training.optimizers import LayerDecayAdamW

    experiment = replace_fields(
        get_experiment("motion_demo"),
        data_dir=str(motion_demo_dir),
        preset="videomae_tiny",
        num_frames=4,
        frame_stride=8,
        crop_size=32,
        batch_size=16,
        epochs=1,
        export=False,
        name="adamw",
        learning_rate=1e-3,
        weight_decay=0.05,
        layer_decay=0.7,
        warmup_epochs=0.5,
        backbone_args={"drop_path_rate": 0.2, "gradient_checkpointing": True},
        mixing=Mixing(),
    )
    summary = train_and_evaluate(experiment, tmp_path)
    assert summary["test_videos"] == 72
    model = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(model.optimizer, LayerDecayAdamW)
    assert model.optimizer.layer_decay == 0.7 and model.optimizer.iterations > 0
    assert model.backbone.gradient_checkpointing and model.backbone.drop_path_rate == 0.2
    assert "val_top1" in (tmp_path / "metrics.csv").read_text()


_SERVE_CLIPS = """
import sys
import numpy as np
import tensorflow as tf

export_dir, clips_path, out_path = sys.argv[1:]
serve = tf.saved_model.load(export_dir).signatures["serve_clips"]
scores = serve(video=tf.constant(np.load(clips_path)))["scores"].numpy()
assert not any(m.split(".")[0] == "kvideo" for m in sys.modules), "kvideo was imported"
np.save(out_path, scores)
"""


@pytest.mark.parametrize(
    "name", ["timesformer_tiny", pytest.param("videomae_tiny", marks=pytest.mark.slow)]
)
def test_saved_model_in_a_fresh_process_matches_keras(name, tmp_path):
    from kvideo.data import Augmentation, ClipSampling
    from kvideo.export import export_saved_model
    from tests.helpers import randomize_weights

    model = build_video_classifier(name, 3, input_shape=(4, 32, 32, 3))
    randomize_weights(model, seed=3, scale=0.05)
    export_dir = export_saved_model(
        model,
        ["a", "b", "c"],
        ClipSampling(num_frames=4),
        Augmentation(crop_size=32),
        tmp_path / "serving",
        name,
    )
    clips = random_pixels((2, 4, 40, 36, 3), seed=4)  # any crop size: the model resizes
    np.save(tmp_path / "clips.npy", clips)
    subprocess.run(
        [sys.executable, "-c", _SERVE_CLIPS, export_dir, "clips.npy", "scores.npy"],
        check=True,
        cwd=tmp_path,  # kvideo off sys.path
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
        timeout=300,
    )
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(clips, training=False)))
    np.testing.assert_allclose(np.load(tmp_path / "scores.npy"), expected, atol=1e-5, rtol=0)
