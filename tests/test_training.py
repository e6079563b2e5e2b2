"""Training end to end on motion_demo: motion is learned, runs resume, flags are checked."""

from __future__ import annotations

import csv
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kvideo.training import get_experiment, replace_fields, train_and_evaluate
from kvideo.training.schedules import WarmupSchedule

REPO = pathlib.Path(__file__).resolve().parents[1]
CHANCE = 1 / 6


def tiny_experiment(data_dir, **overrides):
    """motion_demo with a tiny R3D on 32x32 crops: seconds per epoch on 2 cores."""
    settings = dict(
        data_dir=str(data_dir),
        preset="r3d_tiny",
        num_frames=8,
        frame_stride=4,
        crop_size=32,
        batch_size=8,
        epochs=6,
        learning_rate=0.05,
        warmup_epochs=0.5,
        export=False,
    )
    settings.update(overrides)
    return replace_fields(get_experiment("motion_demo"), **settings)


def test_temporal_model_learns_motion_that_single_frames_cannot_show(motion_demo_dir, tmp_path):
    # Same network, data, seed and number of steps; only the clip length differs.
    temporal = train_and_evaluate(tiny_experiment(motion_demo_dir), tmp_path / "temporal")
    single = train_and_evaluate(tiny_experiment(motion_demo_dir, num_frames=1), tmp_path / "single")
    print("temporal", temporal["test_top1"], "single frame", single["test_top1"])
    assert temporal["test_videos"] == single["test_videos"] == 72
    assert temporal["test_top1"] >= 0.75, temporal
    # One frame cannot separate the time-reversed pairs: at best a third of the classes.
    assert single["test_top1"] <= 0.5, single
    assert temporal["test_top1"] - single["test_top1"] >= 0.3


def test_run_writes_its_artefacts_and_finished_run_is_not_retrained(motion_demo_dir, tmp_path):
    experiment = tiny_experiment(motion_demo_dir, epochs=1)
    first = train_and_evaluate(experiment, tmp_path)
    for name in (
        "experiment.json",
        "labels.txt",
        "augmented_clip.png",
        "metrics.csv",
        "training_curves.png",
        "model.keras",
        "test_evaluation.json",
        "test_evaluation.txt",
        "test_confusion.png",
        "test_precision_recall.png",
        "test_misclassified.tsv",
        "validation_videos.txt",
        "checkpoints/last.keras",
        "checkpoints/best_validation.keras",
    ):
        assert (tmp_path / name).is_file(), name
    assert any((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert not (tmp_path / "backup").exists()  # removed once training finished
    labels = (tmp_path / "labels.txt").read_text().split()
    assert labels[0] == "moving_up" and len(labels) == 6
    report = json.loads((tmp_path / "test_evaluation.json").read_text())
    assert report["top1"] == first["test_top1"] and report["mAP"] == first["test_mAP"]
    assert report["views_per_video"] == 1 and report["split"] == "test"
    # The misclassified videos are named by their ids, listed in the TSV too.
    wrong = [row["video_id"] for row in report["misclassified"]]
    assert len(wrong) == round((1 - report["top1"]) * 72)
    assert all(video_id.startswith("test_") for video_id in wrong)
    tsv = (tmp_path / "test_misclassified.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in tsv[1:]] == wrong

    again = train_and_evaluate(experiment, tmp_path)
    assert again["test_top1"] == first["test_top1"]
    assert len(_epochs_logged(tmp_path)) == 1


def _epochs_logged(output_dir: pathlib.Path) -> list[int]:
    with open(output_dir / "metrics.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _train_main(*flags: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, str(REPO / "train_main.py"), *flags],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def test_train_main_resumes_after_being_killed(motion_demo_dir, tmp_path):
    flags = [
        f"--data_dir={motion_demo_dir}",
        f"--output_dir={tmp_path}",
        "--model=r3d_tiny",
        "--num_frames=4",
        "--frame_stride=8",
        "--crop_size=32",
        "--epochs=3",
        "--noexport",
    ]
    process = _train_main(*flags)
    deadline = time.time() + 300
    # Kill hard as soon as the first epoch is on disk.
    while not (tmp_path / "metrics.csv").exists() or not _epochs_logged(tmp_path):
        assert process.poll() is None, process.stdout.read()
        assert time.time() < deadline, "first epoch took too long"
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "model.keras").exists()
    assert (tmp_path / "backup").exists()

    process = _train_main(*flags)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    epochs = _epochs_logged(tmp_path)
    # Resumed after the finished epoch(s): every epoch logged once, none started over.
    assert epochs == sorted(set(epochs)) and epochs[-1] == 2, epochs
    assert "Test top-1 accuracy" in output and "model.keras" in output
    assert "Resuming the interrupted run" in output


@pytest.mark.parametrize(
    "flags, message",
    [
        (["stray"], "Unexpected arguments"),
        (["--epochs=0"], "epochs"),
        (["--strategy=cluster"], "strategy"),
        (["--experiment=nope"], "experiment"),
        (["--model=r2plus1d_81"], "r2plus1d_18"),  # lists the registered names
        (["--head=lstm"], "consensus"),
        (["--head_args=units"], "name=value"),
    ],
)
def test_train_main_rejects_bad_flags(flags, message, tmp_path):
    process = _train_main(*flags, f"--output_dir={tmp_path}")
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0
    assert message in output
    assert not (tmp_path / "metrics.csv").exists()


@pytest.mark.slow  # test_models trains every head on a 2D backbone; this adds train_main
def test_a_per_frame_model_with_a_chosen_head_trains_from_the_registry(motion_demo_dir, tmp_path):
    import keras

    experiment = tiny_experiment(
        motion_demo_dir,
        preset="lrcn_tiny",
        head_args={"cell": "gru", "units": 16},
        num_frames=4,
        epochs=1,
    )
    summary = train_and_evaluate(experiment, tmp_path)
    assert summary["test_videos"] == 72
    model = keras.models.load_model(tmp_path / "model.keras")
    assert (model.head, model.head_args) == ("recurrent", {"cell": "gru", "units": 16})
    assert model.get_layer("gru1").units == 16
    assert model.input_shape == (None, 4, None, None, 3)
    assert model.preprocessing.crop_size == 32


def test_replace_fields_reaches_nested_settings_and_rejects_unknown_names():
    base = get_experiment("motion_demo")
    changed = replace_fields(base, num_frames=4, crop_size=48, learning_rate=0.2, epochs=None)
    assert changed.data.clip_sampling.num_frames == 4
    assert changed.data.augmentation.crop_size == 48
    assert changed.optimizer.learning_rate == 0.2
    assert changed.epochs == base.epochs  # None keeps the experiment's value
    with pytest.raises(ValueError, match="colour"):
        replace_fields(base, colour="red")
    with pytest.raises(ValueError, match="strategy"):
        replace_fields(base, strategy="cluster")


@pytest.mark.parametrize("kind", ["constant", "step", "cosine"])
def test_warmup_schedule_shapes(kind):
    schedule = WarmupSchedule(
        peak=0.1, total_steps=100, warmup_steps=10, kind=kind, boundaries=(50,), factor=0.1
    )
    rates = np.array([float(schedule(step)) for step in range(100)])
    assert np.all(np.diff(rates[:10]) > 0) and rates[9] == pytest.approx(0.1)
    if kind == "constant":
        np.testing.assert_allclose(rates[10:], 0.1)
    elif kind == "step":
        np.testing.assert_allclose(rates[10:50], 0.1)
        np.testing.assert_allclose(rates[50:], 0.01, rtol=1e-5)
    else:
        assert np.all(np.diff(rates[10:]) < 0) and rates[-1] < 0.001
    restored = WarmupSchedule.from_config(schedule.get_config())
    assert float(restored(42)) == pytest.approx(float(schedule(42)))


MIRRORED_SCRIPT = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {repo!r})
from tests.test_training import tiny_experiment
from kvideo.training import train_and_evaluate
from kvideo.training.distributed import make_strategy
assert make_strategy("mirrored").num_replicas_in_sync == 2
summary = train_and_evaluate(tiny_experiment({data!r}, strategy="mirrored", epochs=1), {out!r})
print("TOP1", summary["test_top1"])
"""


def test_mirrored_strategy_trains_on_two_replicas(motion_demo_dir, tmp_path):
    script = MIRRORED_SCRIPT.format(repo=str(REPO), data=str(motion_demo_dir), out=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TOP1" in result.stdout
    assert (tmp_path / "model.keras").is_file()


def test_binary_class_folders_through_train_main_from_build_to_export(tmp_path):
    # The custom-dataset path a user takes: two class folders ("action vs not"), built
    # by train_main, bytes storage decoded with PyAV at read time, TSN sampling, 2 clips
    # x 3 crops per test video, exported at the end (top-k had crashed export below 5
    # classes; the TFLite JSON had no sampling settings).
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    run = tmp_path / "run"
    process = _train_main(
        "--experiment=video_folder_tsn_r2plus1d_18",
        "--dataset=video_folder/bytes",
        f"--manual_dir={REPO / 'tfds_builders' / 'video_folder' / 'dummy_data'}",
        f"--data_dir={data_dir}",
        f"--output_dir={run}",
        "--model=r3d_tiny",
        "--num_segments=4",
        "--crop_size=32",
        "--batch_size=2",
        "--epochs=1",
    )
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-4000:]
    assert "Test top-1 accuracy" in output and "top5" not in output

    report = json.loads((run / "test_evaluation.json").read_text())
    assert report["class_names"] == ["clapping", "waving"]
    assert report["split"] == "test" and report["views_per_video"] == 6
    assert report["num_videos"] == 2  # one per class held out for test
    assert not [key for key in report if key.startswith("top") and key != "top1"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["skipped_videos"] == []
    assert summary["validation_videos"] == 2  # one per class held out of training
    held = (run / "validation_videos.txt").read_text().split()
    assert len(held) == 2 and {v.split("/")[0] for v in held} == {"clapping", "waving"}

    sidecar = json.loads(pathlib.Path(summary["tflite_float32"]).with_suffix(".json").read_text())
    assert sidecar["clip_sampling"] == {
        "method": "tsn",
        "num_frames": 16,
        "frame_stride": 1,
        "num_segments": 4,
        "num_clips": 2,
    }
    assert sidecar["augmentation"]["test_crop"] == "three_crop"
    contract = json.loads(
        (pathlib.Path(summary["saved_model"]) / "assets.extra" / "kvideo_export.json").read_text()
    )
    assert contract["signatures"]["serving_default"]["outputs"]["top_k_labels"] == (
        "string (batch, 2)"
    )


def test_mixed_precision_run_trains_and_restores_the_global_policy(motion_demo_dir, tmp_path):
    import keras
    import tensorflow as tf

    from kvideo.training.trainer import build_model

    experiment = tiny_experiment(motion_demo_dir, epochs=1, mixed_precision=True)
    train_and_evaluate(experiment, tmp_path)
    assert keras.mixed_precision.global_policy().name == "float32"
    model = keras.models.load_model(tmp_path / "model.keras")
    # Computation in bfloat16 on CPU (float16 on GPU), the classifier head in float32.
    assert model.get_layer("logits").dtype_policy.name == "float32"
    expected = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    convs = [layer for layer in model.backbone.layers if "conv" in layer.name]
    assert convs and all(layer.dtype_policy.name == expected for layer in convs)
    # The trained mixed-precision model computes what its float32 twin computes.
    twin = build_model(experiment, 6)  # the global policy is float32 again
    assert all(layer.dtype_policy.name == "float32" for layer in twin.backbone.layers)
    twin.set_weights(model.get_weights())
    clips = np.random.default_rng(0).integers(0, 256, (8, 8, 40, 40, 3)).astype(np.uint8)
    mixed = keras.ops.convert_to_numpy(keras.ops.softmax(model(clips, training=False)))
    full = keras.ops.convert_to_numpy(keras.ops.softmax(twin(clips, training=False)))
    assert np.max(np.abs(mixed - full)) < 0.05
    assert np.mean(mixed.argmax(axis=1) == full.argmax(axis=1)) >= 0.75


def test_l2_weight_decay_is_the_papers_sgd_update():
    """With `weight_decay_kind="l2"` SGD decays as PyTorch/Caffe do: `v = m v + wd w`,
    `w -= lr v`. A Dense layer on zero inputs gets no gradient from the data, so its kernel
    moves by weight decay alone; decoupled decay (`w *= 1 - lr wd`) would not match."""
    import keras

    from kvideo.training.trainer import compile_model

    experiment = replace_fields(
        get_experiment("motion_demo"),
        learning_rate=0.1,
        momentum=0.9,
        weight_decay=0.01,
        weight_decay_kind="l2",
        schedule="constant",
        warmup_epochs=0.0,
        epochs=1,
    )
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, use_bias=False)(inputs))
    start = np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]], np.float32)
    model.layers[-1].kernel.assign(start)
    compile_model(model, experiment, steps_per_epoch=10, num_classes=2)
    for _ in range(3):
        model.train_on_batch(np.zeros((4, 3), np.float32), np.array([0, 1, 0, 1]))
    weights, velocity = start.astype(np.float64), np.zeros((3, 2))
    for _ in range(3):
        velocity = 0.9 * velocity + 0.01 * weights
        weights = weights - 0.1 * velocity
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.layers[-1].kernel), weights, rtol=1e-6
    )
    decoupled = start * (1 - 0.1 * 0.01) ** 3
    assert np.max(np.abs(weights - decoupled)) > 1e-3  # the two kinds differ here


def test_validation_is_held_out_of_training_and_never_the_test_split(motion_demo_dir, tmp_path):
    import tensorflow_datasets as tfds

    from kvideo.data.pipeline import load_examples
    from kvideo.training.trainer import make_datasets

    experiment = tiny_experiment(motion_demo_dir, validation_fraction=0.25)
    builder = tfds.builder("motion_demo/jpeg", data_dir=str(motion_demo_dir))
    datasets = make_datasets(experiment, builder, tmp_path)
    held = set((tmp_path / "validation_videos.txt").read_text().split())
    ids = {
        split: {
            e["video_id"].decode() for e in load_examples(builder, split)[0].as_numpy_iterator()
        }
        for split in ("train", "test")
    }
    assert len(held) == 6 * 12  # a quarter of each class's 48 training videos
    assert held <= ids["train"] and not held & ids["test"]
    assert (datasets.num_train, datasets.num_validation) == (288 - 72, 72)
    labels = [int(y) for _, batch in datasets.validation for y in batch.numpy()]
    assert len(labels) == 72 and np.bincount(labels).tolist() == [12] * 6
    with pytest.raises(ValueError, match="must not be the test split"):
        replace_fields(experiment, validation_split="test")


def test_settings_that_cannot_work_fail_before_any_work(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    process = _train_main(f"--data_dir={missing}", f"--output_dir={tmp_path / 'run'}")
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0 and "data_dir" in output and "not an existing" in output
    assert not missing.exists() and not (tmp_path / "run").exists()
