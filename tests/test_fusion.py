"""A two-input model end to end: named inputs through fit, evaluation, SavedModel, TFLite.

Two streams, RGB frames (``video``, 3 channels) and a 2-channel stream named ``flow``,
fused by weighted score averaging (`FusionClassifier`), as a two-stream network is. The
SavedModel runs in a fresh process that imports TensorFlow only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvideo.data import Augmentation, ClipSampling, batch_views
from kvideo.export import check_tflite, export_saved_model, export_tflite
from kvideo.models import FusionClassifier, ResNet2DBackbone, build_video_classifier
from kvideo.training.evaluate import predict_video_scores
from tests.helpers import randomize_weights, run_saving_round_trip

CLASSES = ["dark", "dim", "bright"]
FRAMES, CROP = 4, 24
WEIGHTS = (1.0, 1.5)  # RGB 1, flow 1.5, as TSN's two-stream fusion


def _stream(name: str, input_name: str, channels: int, mean, std) -> keras.Model:
    backbone = ResNet2DBackbone((1,), (8,), stem_width=8, input_shape=(CROP, CROP, channels))
    return build_video_classifier(
        backbone,
        len(CLASSES),
        head="consensus",
        input_shape=(FRAMES, CROP, CROP, channels),
        input_name=input_name,
        mean=mean,
        std=std,
        dropout=0.0,
        name=name,
    )


def _two_stream() -> FusionClassifier:
    keras.utils.set_random_seed(0)
    rgb = _stream("rgb_stream", "video", 3, (0.45,) * 3, (0.25,) * 3)
    flow = _stream("flow_stream", "flow", 2, (0.5, 0.5), (0.2, 0.2))
    return FusionClassifier([rgb, flow], fusion_weights=WEIGHTS, name="two_stream")


def _videos(count: int, frames: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Class k: RGB brightness around 40 + 80 k; the flow stream is noise around 128."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % len(CLASSES)
    level = 40 + 80 * labels[:, None, None, None, None]
    video = np.clip(level + rng.normal(0, 20, (count, frames, 30, 34, 3)), 0, 255)
    flow = rng.normal(128, 20, (count, frames, 30, 34, 2)).clip(0, 255)
    return {"video": video.astype(np.uint8), "flow": flow.astype(np.uint8)}, labels


@pytest.fixture(scope="module")
def trained():
    model = _two_stream()
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    features, labels = _videos(24, FRAMES, seed=1)
    crops = {k: v[:, :, 3 : 3 + CROP, 5 : 5 + CROP] for k, v in features.items()}
    model.fit(crops, labels, batch_size=8, epochs=8, verbose=0, shuffle=False)
    return model


def test_fused_scores_are_the_weighted_average_of_the_streams():
    model = _two_stream()
    randomize_weights(model, seed=2)
    features, _ = _videos(3, FRAMES, seed=3)
    rgb, flow = (keras.ops.convert_to_numpy(s(features, training=False)) for s in model.streams)
    expected = (WEIGHTS[0] * rgb + WEIGHTS[1] * flow) / sum(WEIGHTS)
    got = keras.ops.convert_to_numpy(model(features, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert model.output_kind == "logits"
    assert sorted(t.name for t in model.inputs) == ["flow", "video"]


def test_probability_fusion_averages_softmax_scores():
    rgb = _stream("rgb_stream", "video", 3, (0.45,) * 3, (0.25,) * 3)
    flow = _stream("flow_stream", "flow", 2, (0.5, 0.5), (0.2, 0.2))
    model = FusionClassifier([rgb, flow], fusion_weights=WEIGHTS, fuse="probabilities")
    randomize_weights(model, seed=4)
    features, _ = _videos(2, FRAMES, seed=5)
    probs = [
        keras.ops.convert_to_numpy(keras.ops.softmax(s(features, training=False)))
        for s in (rgb, flow)
    ]
    expected = (WEIGHTS[0] * probs[0] + WEIGHTS[1] * probs[1]) / sum(WEIGHTS)
    got = keras.ops.convert_to_numpy(model(features, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert model.output_kind == "probabilities"


def test_two_stream_model_learns_and_evaluates_on_named_inputs(trained):
    features, labels = _videos(12, 10, seed=6)
    sampling = ClipSampling(num_frames=FRAMES, frame_stride=2, num_clips=2)
    augmentation = Augmentation(crop_size=CROP, test_crop="three_crop")
    views = {k: batch_views(tf.constant(v), sampling, augmentation) for k, v in features.items()}
    assert views["video"].shape[:3] == (12, 6, FRAMES)  # 2 clips x 3 crops per video
    dataset = tf.data.Dataset.from_tensor_slices((views, labels)).batch(5)
    scores, got_labels = predict_video_scores(trained, dataset)
    np.testing.assert_array_equal(got_labels, labels)
    accuracy = np.mean(scores.argmax(axis=1) == labels)
    assert accuracy >= 0.9, accuracy
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)  # probabilities, once


def test_two_stream_model_survives_keras_saving(trained, tmp_path):
    features, _ = _videos(2, FRAMES, seed=7)
    run_saving_round_trip(trained, features, tmp_path)
    restored = keras.models.load_model(tmp_path / "two_stream.keras")
    assert isinstance(restored, FusionClassifier)
    assert restored.fusion_weights == list(WEIGHTS)


_SERVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    export_dir, inputs_path, out_path = sys.argv[1:]
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    inputs = np.load(inputs_path)
    result = serve(video=tf.constant(inputs["video"]), flow=tf.constant(inputs["flow"]))
    assert not any(m.split(".")[0] == "kvideo" for m in sys.modules), "kvideo was imported"
    names = sorted(serve.structured_input_signature[1])
    np.savez(out_path, scores=result["scores"].numpy(), inputs=np.array(names))
    """
)


def test_two_stream_saved_model_in_a_fresh_process_matches_evaluation(trained, tmp_path):
    sampling = ClipSampling(num_frames=FRAMES, frame_stride=2, num_clips=2)
    augmentation = Augmentation(crop_size=CROP, test_crop="three_crop")
    export_dir = export_saved_model(
        trained, CLASSES, sampling, augmentation, tmp_path / "serving", "two_stream"
    )
    features, _ = _videos(3, 9, seed=8)
    np.savez(tmp_path / "inputs.npz", **features)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(
        [sys.executable, "-c", _SERVE, export_dir, str(tmp_path / "inputs.npz"), "out.npz"],
        check=True,
        env=env,
        cwd=str(tmp_path),  # keep the repository (and kvideo) off sys.path
    )
    got = np.load(tmp_path / "out.npz")
    assert sorted(got["inputs"]) == ["flow", "video"]
    views = {k: batch_views(tf.constant(v), sampling, augmentation) for k, v in features.items()}
    dataset = tf.data.Dataset.from_tensor_slices((views, np.zeros(3, np.int32))).batch(3)
    expected, _ = predict_video_scores(trained, dataset)
    np.testing.assert_allclose(got["scores"], expected, atol=1e-5, rtol=0)


def test_two_stream_tflite_is_builtin_only_and_matches_keras(trained, tmp_path):
    sampling = ClipSampling(num_frames=FRAMES)
    path = export_tflite(trained, tmp_path, CLASSES, sampling, Augmentation(crop_size=CROP))
    with open(path, "rb") as f:
        assert b"Flex" not in f.read()
    features, _ = _videos(2, FRAMES, seed=9)
    crops = {k: np.ascontiguousarray(v[:, :, :CROP, :CROP]) for k, v in features.items()}
    assert check_tflite(path, trained, crops) <= 1e-5
