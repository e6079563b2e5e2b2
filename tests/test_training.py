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
        "evaluation.json",
        "checkpoints/last.keras",
        "checkpoints/best.keras",
    ):
        assert (tmp_path / name).is_file(), name
    assert any((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert not (tmp_path / "backup").exists()  # removed once training finished
    labels = (tmp_path / "labels.txt").read_text().split()
    assert labels[0] == "moving_up" and len(labels) == 6

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
from kvideo.training.trainer import make_strategy
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


def test_own_class_folders_train_and_evaluate_with_several_views(tmp_path):
    # The custom-dataset path: video_folder from a manual dir, bytes storage decoded with
    # PyAV at read time, TSN sampling, 2 clips x 3 crops per test video.
    experiment = replace_fields(
        get_experiment("video_folder_tsn_r2plus1d_18"),
        dataset="video_folder/bytes",
        manual_dir=str(REPO / "tfds_builders" / "video_folder" / "dummy_data"),
        data_dir=str(tmp_path / "data"),
        preset="r3d_tiny",
        num_segments=4,
        crop_size=32,
        batch_size=2,
        epochs=1,
        export=False,
    )
    summary = train_and_evaluate(experiment, tmp_path / "run")
    report = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert report["class_names"] == ["clapping", "waving"]
    assert report["views_per_video"] == 6
    assert summary["test_videos"] == report["num_videos"] == 2  # one per class held out
    assert summary["skipped_videos"] == []


def test_mixed_precision_run_trains_and_restores_the_global_policy(motion_demo_dir, tmp_path):
    import keras

    summary = train_and_evaluate(
        tiny_experiment(motion_demo_dir, epochs=1, mixed_precision=True), tmp_path
    )
    assert 0.0 <= summary["test_top1"] <= 1.0
    assert keras.mixed_precision.global_policy().name == "float32"
    model = keras.models.load_model(tmp_path / "model.keras")
    # Computation in bfloat16 on CPU (float16 on GPU), the classifier head in float32.
    assert model.get_layer("logits").dtype_policy.name == "float32"
    import tensorflow as tf

    expected = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    convs = [layer for layer in model.backbone.layers if "conv" in layer.name]
    assert convs and all(layer.dtype_policy.name == expected for layer in convs)
