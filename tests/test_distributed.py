"""Training beyond one device: sharded input, the custom loop, remote output, workers.

Default tier: the sharded pipeline against the one-pipeline batches (exact clips), the
SkipLog across pipelines, a whole run into TensorFlow's in-memory file system
(`ram://`). Slow tier (`-m slow`): the XLA fixed-shape step a TPU would run, compiled
on the CPU; two worker processes under MultiWorkerMirroredStrategy against one process;
a worker killed with SIGKILL mid-epoch.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvideo.data import load_examples, pipeline
from kvideo.data.config import Augmentation, ClipSampling
from kvideo.inputs import VIDEO
from kvideo.training import train_and_evaluate
from kvideo.training.distributed import steps_logged
from tests.test_pipeline import bad_rows, examples_dataset
from tests.test_training import tiny_experiment

REPO = pathlib.Path(__file__).resolve().parents[1]
SAMPLING = ClipSampling(method="dense", num_frames=4, frame_stride=4)
AUGMENTATION = Augmentation(crop_size=32)


def train_batches(data_dir, batch_size, context=None, skip=0, count=3, seed=3):
    examples, kind, _ = load_examples(
        "motion_demo/jpeg", "train", data_dir=str(data_dir), shuffle_files=True, seed=seed
    )
    dataset = pipeline.make_clip_dataset(
        examples,
        storage_kind=kind,
        training=True,
        batch_size=batch_size,
        clip_sampling=SAMPLING,
        augmentation=AUGMENTATION,
        seed=seed,
        input_context=context,
        repeat=True,
        skip_examples=skip,
    )
    return [(f[VIDEO].numpy(), labels.numpy()) for f, labels in dataset.take(count)]


def test_sharded_pipelines_make_the_global_batches_of_one_pipeline(motion_demo_dir):
    # Global batch 8 over 2 workers x 2 replicas: each pipeline yields per-replica
    # batches of 2, and global batch j is worker 0's two batches, then worker 1's.
    one = train_batches(motion_demo_dir, 8, count=4)
    per_worker = [
        train_batches(motion_demo_dir, 8, tf.distribute.InputContext(2, i, 4), count=8)
        for i in range(2)
    ]
    for j, (clips, labels) in enumerate(one):
        parts = [per_worker[w][2 * j + r] for w in range(2) for r in range(2)]
        assert all(len(part[1]) == 2 for part in parts)
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), clips)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), labels)
    # Not a stream that repeats itself: the global batches differ.
    assert not np.array_equal(one[0][0], one[1][0])


def test_skip_examples_continues_the_stream_where_it_stopped(motion_demo_dir):
    # 33 batches of 8 run past the 258 training videos into the reshuffled second pass.
    full = train_batches(motion_demo_dir, 8, count=35)
    resumed = train_batches(motion_demo_dir, 8, skip=33 * 8, count=2)
    for (clips, labels), (expected_clips, expected_labels) in zip(resumed, full[33:], strict=True):
        np.testing.assert_array_equal(clips, expected_clips)
        np.testing.assert_array_equal(labels, expected_labels)


def test_each_bad_example_is_counted_by_exactly_one_pipeline():
    rows, good, bad_ids = bad_rows("jpeg")
    logs = []
    labels = []
    for pipeline_id in range(2):
        skip_log = pipeline.SkipLog()
        dataset = pipeline.make_clip_dataset(
            examples_dataset(rows, "jpeg"),
            storage_kind="jpeg",
            training=True,
            batch_size=2,
            clip_sampling=ClipSampling(method="dense", num_frames=4, frame_stride=2),
            augmentation=Augmentation(crop_size=16, train_crop="center", flip=False),
            input_context=tf.distribute.InputContext(2, pipeline_id, 2),
            skip_log=skip_log,
            shuffle_buffer=1,
        )
        labels += [int(x) for _, batch in dataset for x in batch.numpy()]
        logs.append({video_id for video_id, _ in skip_log.skipped})
        assert skip_log.count == len(logs[-1])  # none twice
    # Rows alternate between the two pipelines one at a time (global batch 2 / 2).
    assert not logs[0] & logs[1]
    assert logs[0] | logs[1] == bad_ids
    assert sorted(labels) == [0, 2] and len(good) == 2


def test_a_whole_run_writes_only_to_a_remote_file_system(motion_demo_dir, tmp_path, monkeypatch):
    # TensorFlow's in-memory file system stands for gs:// and the like: a path pathlib
    # would mangle ("ram:/run") and that no local-file API can open.
    monkeypatch.chdir(tmp_path)  # anything written through a local API would land here
    output_dir = "ram://kvideo-test-run"
    experiment = tiny_experiment(
        motion_demo_dir,
        loop="custom",
        epochs=2,
        batch_size=16,
        num_frames=4,
        export=True,
        checkpoint_steps=6,
    )
    summary = train_and_evaluate(experiment, output_dir)
    assert list(tmp_path.iterdir()) == []
    for name in (
        "experiment.json",
        "clip_config.json",
        "labels.txt",
        "validation_videos.txt",
        "augmented_clip.png",
        "metrics.csv",
        "steps.csv",
        "training_curves.png",
        "checkpoints/last.keras",
        "checkpoints/best_validation.keras",
        "model.keras",
        "test_evaluation.json",
        "summary.json",
    ):
        assert tf.io.gfile.exists(f"{output_dir}/{name}"), name
    assert tf.io.gfile.glob(f"{output_dir}/export/saved_model/r3d_tiny/*/saved_model.pb")
    assert len(tf.io.gfile.glob(f"{output_dir}/export/tflite/*.tflite")) == 2
    assert tf.io.gfile.glob(f"{output_dir}/logs/train/events.out.tfevents.*")
    assert not tf.io.gfile.exists(f"{output_dir}/backup")  # gone once training finished
    # 258 training videos (288 less 30 held out) in batches of 16: 2 x 16 steps, each once.
    assert [step for step, _ in steps_logged(output_dir)] == list(range(1, 33))
    report = json.loads(tf.io.gfile.GFile(f"{output_dir}/test_evaluation.json").read())
    assert report["top1"] == summary["test_top1"] and report["num_videos"] == 72
    assert summary["saved_model"].startswith(f"{output_dir}/export/saved_model/")
    with tf.io.gfile.GFile(f"{output_dir}/metrics.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0", "1"]
    # Files written more than once are whole (ram:// appends on "w"; see files.py).
    final = keras.models.load_model(f"{output_dir}/model.keras")
    last = keras.models.load_model(f"{output_dir}/checkpoints/last.keras")
    for a, b in zip(final.get_weights(), last.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # A second call finds the finished run and only evaluates it again.
    again = train_and_evaluate(experiment, output_dir)
    assert again["test_top1"] == summary["test_top1"] and not again["resumed"]
    assert json.loads(tf.io.gfile.GFile(f"{output_dir}/summary.json").read()) == again


@pytest.mark.slow
def test_xla_fixed_shape_step_as_on_a_tpu_matches_the_default_step(motion_demo_dir, tmp_path):
    # What `strategy="tpu"` runs, short of a TPU: clips resized in the pipeline to one
    # shape, the replica step compiled by XLA (here on the CPU). No dropout: XLA draws
    # other random bits from the same stateless seeds.
    losses = {}
    for name, jit in (("xla", True), ("plain", False)):
        experiment = tiny_experiment(
            motion_demo_dir,
            loop="custom",
            epochs=1,
            num_frames=4,
            jit_compile=jit,
            resize_in_pipeline=True,
            validation_fraction=0.0,
            dropout=0.0,
        )
        train_and_evaluate(experiment, tmp_path / name)
        losses[name] = np.array([loss for _, loss in steps_logged(str(tmp_path / name))])
    assert len(losses["xla"]) == 288 // 8
    # Same clips, weights and updates; XLA fuses and orders float operations otherwise.
    np.testing.assert_allclose(losses["xla"][:5], losses["plain"][:5], rtol=1e-3)
    assert np.isfinite(losses["xla"]).all()


# ---------------------------------------------------------------------------------------
# Several processes (slow tier).

FLAGS = [
    "--model=r3d_tiny",
    "--num_frames=4",
    "--frame_stride=8",
    "--crop_size=32",
    "--batch_size=16",
    "--learning_rate=0.05",
    "--noexport",
]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(count: int, flags: list[str], log_dir: pathlib.Path) -> list[subprocess.Popen]:
    """`count` train_main.py processes forming one cluster on 127.0.0.1 (TF_CONFIG)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(count)]}
    processes = []
    for index in range(count):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(tf_config)}
        log = open(log_dir / f"worker{index}.log", "a")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                [sys.executable, str(REPO / "train_main.py"), *flags],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return processes


def run_main(flags: list[str]) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, str(REPO / "train_main.py"), *flags],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def wait_all(processes, log_dir, timeout=600):
    codes = [p.wait(timeout=timeout) for p in processes]
    logs = "".join((log_dir / f"worker{i}.log").read_text()[-3000:] for i in range(len(codes)))
    assert codes == [0] * len(codes), logs
    return logs


def losses_of(output_dir) -> np.ndarray:
    return np.array([loss for _, loss in steps_logged(str(output_dir))])


@pytest.mark.slow
def test_two_workers_follow_the_loss_trajectory_of_one_worker(motion_demo_dir, tmp_path):
    common = [f"--data_dir={motion_demo_dir}", *FLAGS, "--epochs=1"]
    workers = start_workers(
        2,
        [*common, "--strategy=multi_worker_mirrored", f"--output_dir={tmp_path / 'two'}"],
        tmp_path,
    )
    logs = wait_all(workers, tmp_path)
    assert "Worker worker-1 finished" in logs and "Test top-1 accuracy" in logs
    # One process, the same global batch of 16 over 2 replicas (2 logical CPU devices):
    # the same clips on the same replicas, so the same numbers.
    run_main([*common, "--loop=custom", "--strategy=mirrored", "--cpu_devices=2",
              f"--output_dir={tmp_path / 'mirrored'}"])  # fmt: skip
    # One process, one device: BatchNormalization then normalises over all 16 clips of a
    # step, not over each worker's 8, so the trajectories part slowly.
    run_main([*common, "--loop=custom", f"--output_dir={tmp_path / 'one'}"])
    two, mirrored, one = (losses_of(tmp_path / n) for n in ("two", "mirrored", "one"))
    assert len(two) == len(one) == 16
    np.testing.assert_allclose(two, mirrored, rtol=1e-6)
    # Measured: 8e-3 over the first 4 steps, 0.15 at most, means 1.778 vs 1.751.
    np.testing.assert_allclose(two[:4], one[:4], atol=0.02)
    assert abs(two.mean() - one.mean()) < 0.05
    with open(tmp_path / "two" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0"] and "val_top1" in rows[0]


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_resumes_at_its_step(motion_demo_dir, tmp_path):
    output_dir = tmp_path / "run"
    flags = [
        f"--data_dir={motion_demo_dir}",
        *FLAGS,
        "--epochs=2",
        "--strategy=multi_worker_mirrored",
        "--checkpoint_steps=2",
        f"--output_dir={output_dir}",
    ]
    workers = start_workers(2, flags, tmp_path)
    deadline = time.time() + 400
    # Kill worker 1 in the second epoch (16 steps each), once step 20 is checkpointed.
    while len(steps_logged(str(output_dir))) < 20:
        assert all(p.poll() is None for p in workers), "a worker ended early"
        assert time.time() < deadline, "training took too long"
        time.sleep(0.2)
    workers[1].send_signal(signal.SIGKILL)
    # The chief learns of it from the coordination service and stops with an error.
    assert workers[0].wait(timeout=300) != 0
    assert not (output_dir / "model.keras").exists()
    killed_at = len(steps_logged(str(output_dir)))
    # Restart the cluster: both resume at the checkpointed step.
    logs = wait_all(start_workers(2, flags, tmp_path), tmp_path)
    assert f"Resuming the interrupted run in {output_dir} at step {killed_at} of 32" in logs
    steps = [step for step, _ in steps_logged(str(output_dir))]
    assert steps == list(range(1, 33))  # every step once
    # Resumed mid-epoch at the same data and random state: the numbers of a run that
    # was never interrupted (one process, 2 replicas: the same per-replica batches).
    run_main([f"--data_dir={motion_demo_dir}", *FLAGS, "--epochs=2", "--loop=custom",
              "--strategy=mirrored", "--cpu_devices=2",
              f"--output_dir={tmp_path / 'uninterrupted'}"])  # fmt: skip
    np.testing.assert_allclose(
        losses_of(output_dir), losses_of(tmp_path / "uninterrupted"), rtol=1e-6
    )
    with open(output_dir / "metrics.csv", newline="") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["0", "1"]
