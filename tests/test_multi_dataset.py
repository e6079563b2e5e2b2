"""One backbone trained on two generated datasets with different classes, a head each.

Dataset "colours" (3 classes): a square of a random size and place is red, green or blue
on every frame. Dataset "motion" (2 classes): a grey square moves left or right. The
classes have nothing in common, and a single head could not tell which task a clip is
from; each head must learn its own. Both must reach 90% test accuracy (chance: 33% and
50%); each head, exported as a plain `VideoClassifier`, gives the multi-head model's own
scores, and its SavedModel gives the Keras softmax to 1e-5.
"""

from __future__ import annotations

import dataclasses
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvideo.data.config import Augmentation, ClipSampling
from kvideo.export import export_saved_model
from kvideo.models.multi_head import MultiHeadClassifier
from kvideo.models.video_classifier import VideoClassifier
from kvideo.training import multi_dataset

REPO = pathlib.Path(__file__).resolve().parents[1]
FRAMES, SIZE = 6, 16
COLOURS = np.array([(220, 40, 40), (40, 220, 40), (40, 40, 220)])


def colour_clips(count: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    clips = rng.integers(0, 60, (count, FRAMES, SIZE, SIZE, 3))
    for clip, label in zip(clips, labels, strict=True):
        side = rng.integers(3, 7)
        y, x = rng.integers(0, SIZE - side, 2)
        clip[:, y : y + side, x : x + side] = COLOURS[label]
    return clips.astype(np.uint8), labels


def motion_clips(count: int, seed: int):
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    clips = rng.integers(0, 60, (count, FRAMES, SIZE, SIZE, 3))
    for clip, label in zip(clips, labels, strict=True):
        y = rng.integers(0, SIZE - 4)
        start = rng.integers(0, SIZE - 4 - FRAMES)
        for t in range(FRAMES):
            x = start + t if label == 0 else start + FRAMES - 1 - t
            clip[t, y : y + 4, x : x + 4] = 200
    return clips.astype(np.uint8), labels


def tiny_backbone() -> keras.Model:
    inputs = keras.Input((FRAMES, SIZE, SIZE, 3))
    x = keras.layers.Conv3D(12, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv3D(16, 3, strides=(1, 2, 2), padding="same", activation="relu")(x)
    return keras.Model(inputs, x, name="tiny3d")


def batches(clips, labels) -> tf.data.Dataset:
    return (
        tf.data.Dataset.from_tensor_slices(({"video": clips}, labels))
        .shuffle(256, seed=0)
        .batch(16)
    )


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    from kvideo.layers.clip_preprocessing import ClipPreprocessing

    model = MultiHeadClassifier(
        tiny_backbone(),
        {"colours": 3, "motion": 2},
        dropout=0.0,
        preprocessing=ClipPreprocessing(SIZE, mean=(0.5,) * 3, std=(0.25,) * 3),
    )
    multi_dataset.compile_multi_head(model, keras.optimizers.Adam(3e-3))
    train = multi_dataset.mix_datasets(
        {"colours": batches(*colour_clips(96, 1)), "motion": batches(*motion_clips(96, 2))}
    )
    model.fit(train, steps_per_epoch=12, epochs=8, verbose=0)
    return model


def test_alternate_batches_carry_their_own_labels_and_weights():
    a = tf.data.Dataset.from_tensor_slices(({"video": np.zeros((4, 1))}, [1, 2, 1, 2])).batch(2)
    b = tf.data.Dataset.from_tensor_slices(({"video": np.ones((2, 1))}, [1, 1])).batch(2)
    mixed = list(multi_dataset.mix_datasets({"a": a, "b": b}).take(4).as_numpy_iterator())
    sources = [
        (
            features["video"][0, 0],
            labels["a"].tolist(),
            labels["b"].tolist(),
            weights["a"].tolist(),
            weights["b"].tolist(),
        )
        for features, labels, weights in mixed
    ]
    assert sources == [
        (0, [1, 2], [0, 0], [1, 1], [0, 0]),
        (1, [0, 0], [1, 1], [0, 0], [1, 1]),
        (0, [1, 2], [0, 0], [1, 1], [0, 0]),
        (1, [0, 0], [1, 1], [0, 0], [1, 1]),  # b repeats
    ]
    ratio = multi_dataset.mix_datasets({"a": a, "b": b}, "ratio", ratio=(3, 1), seed=1)
    from_a = [w["a"][0] for _, _, w in ratio.take(400).as_numpy_iterator()]
    assert 0.68 <= np.mean(from_a) <= 0.82  # 0.75 expected
    with pytest.raises(ValueError, match="interleave"):
        multi_dataset.mix_datasets({"a": a, "b": b}, "zip")


def test_both_heads_learn_their_own_dataset(trained):
    for name, (clips, labels), chance in (
        ("colours", colour_clips(60, 11), 1 / 3),
        ("motion", motion_clips(60, 12), 1 / 2),
    ):
        scores = trained.predict({"video": clips}, verbose=0)[name]
        accuracy = np.mean(np.argmax(scores, -1) == labels)
        print(f"{name}: test accuracy {accuracy:.3f} (chance {chance:.2f})")
        assert accuracy >= 0.9


def test_each_head_exports_as_a_plain_classifier(trained, tmp_path):
    clips = np.concatenate([colour_clips(4, 21)[0], motion_clips(4, 22)[0]])
    multi = trained.predict({"video": clips}, verbose=0)
    for name, names in (("colours", ["red", "green", "blue"]), ("motion", ["right", "left"])):
        classifier = trained.head_classifier(name)
        assert isinstance(classifier, VideoClassifier) and classifier.num_classes == len(names)
        keras_scores = classifier.predict(clips, verbose=0)
        np.testing.assert_allclose(keras_scores, multi[name], atol=1e-5)
        path = export_saved_model(
            classifier,
            names,
            ClipSampling(num_frames=FRAMES),
            Augmentation(crop_size=SIZE, test_crop_fraction=1.0),
            tmp_path,
            name,
        )
        serve = tf.saved_model.load(path).signatures["serve_clips"]
        exported = serve(video=tf.constant(clips))["scores"].numpy()
        np.testing.assert_allclose(exported, tf.nn.softmax(keras_scores).numpy(), atol=1e-5)


def test_multi_head_model_round_trips_through_keras_files(trained, tmp_path):
    clips = colour_clips(3, 31)[0]
    trained.save(tmp_path / "multi.keras")
    loaded = keras.models.load_model(tmp_path / "multi.keras")
    assert isinstance(loaded, MultiHeadClassifier) and loaded.dataset_names == ["colours", "motion"]
    inputs = {"video": clips}
    before, after = trained.predict(inputs, verbose=0), loaded.predict(inputs, verbose=0)
    for name in before:
        np.testing.assert_allclose(after[name], before[name], atol=1e-6)
    with pytest.raises(ValueError, match="No head 'ucf'"):
        loaded.head_classifier("ucf")
    with pytest.raises(ValueError, match="two datasets or more"):
        MultiHeadClassifier(tiny_backbone(), {"only": 3})


@pytest.mark.slow
def test_train_multi_dataset_on_two_built_datasets(motion_demo_dir, tmp_path):
    """The trainer's path: motion_demo (6 classes) and the video_folder dummy data
    (clapping, waving) from TFDS, one tiny R3D, a head each, evaluated and saved apart."""
    from kvideo.training.config import MultiDatasetExperiment
    from tests.test_training import tiny_experiment

    motion = tiny_experiment(motion_demo_dir, num_clips=1)
    folder = tiny_experiment(
        motion_demo_dir,
        num_clips=1,
        dataset="video_folder/jpeg",
        manual_dir=str(REPO / "tfds_builders" / "video_folder" / "dummy_data"),
        batch_size=2,  # 4 training videos
        validation_fraction=0.0,
    )
    # By ratio (of training videos: 259 and 4), as the UCF101 + HMDB51 experiment mixes.
    experiment = MultiDatasetExperiment(
        tasks=(("motion", motion), ("folder", folder)), interleave="ratio"
    )
    with pytest.raises(ValueError, match="'folder' has 4 training videos, fewer than its batch"):
        multi_dataset.train_multi_dataset(
            MultiDatasetExperiment(
                tasks=(("motion", motion), ("folder", dataclasses.replace(folder, batch_size=8)))
            ),
            tmp_path / "refused",
        )
    summary = multi_dataset.train_multi_dataset(experiment, tmp_path)
    print(summary)
    assert summary["motion"]["test_videos"] == 72 and summary["motion"]["test_top1"] >= 0.5
    for name, classes in (("motion", 6), ("folder", 2)):
        loaded = keras.models.load_model(tmp_path / name / "model.keras")
        assert isinstance(loaded, VideoClassifier) and loaded.num_classes == classes
        assert (tmp_path / name / "test_evaluation.json").is_file()


def test_multi_dataset_settings_that_cannot_work_are_refused(tmp_path):
    import subprocess
    import sys

    from kvideo.training import get_experiment, replace_fields
    from kvideo.training.config import MultiDatasetExperiment

    named = get_experiment("ucf101_hmdb51_r2plus1d_18")
    assert named.names == ["ucf101", "hmdb51"] and named.interleave == "ratio"
    ucf, hmdb = (task for _, task in named.tasks)
    with pytest.raises(ValueError, match=r"one length and crop size.*\(16, 112\), \(16, 128\)"):
        MultiDatasetExperiment(tasks=(("a", ucf), ("b", replace_fields(hmdb, crop_size=128))))
    with pytest.raises(ValueError, match="`ratio` needs one non-negative number per task"):
        MultiDatasetExperiment(tasks=(("a", ucf), ("b", hmdb)), ratio=(1.0,))
    with pytest.raises(ValueError, match="distinct names"):
        MultiDatasetExperiment(tasks=(("a", ucf), ("a", hmdb)))
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "train_main.py"),
            "--experiment=ucf101_hmdb51_r2plus1d_18",
            "--dataset=motion_demo/jpeg",
            f"--output_dir={tmp_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "--dataset does not apply to a multi-dataset experiment" in result.stderr
