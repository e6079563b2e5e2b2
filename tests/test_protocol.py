"""The three-split protocol and evaluating finished runs, through train_main.py."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tfds_builders  # noqa: F401  (registers ucf101_kvideo for the in-process evaluations)
from kvideo.training import replace_fields
from kvideo.training.config import split_datasets
from kvideo.training.protocol import (
    evaluate_run,
    format_splits,
    load_experiment,
    run_splits,
    summarize_splits,
)
from tests.conftest import checkout_env

REPO = pathlib.Path(__file__).resolve().parents[1]
UCF_DUMMY = REPO / "tfds_builders" / "ucf101_kvideo" / "dummy_data"
# Test videos per official split of the dummy UCF101 (its builder test's SIZES).
TEST_VIDEOS = {"1": 6, "2": 5, "3": 6}


def test_split_datasets_names_each_official_split():
    assert split_datasets("ucf101_kvideo/split1_jpeg") == [
        "ucf101_kvideo/split1_jpeg",
        "ucf101_kvideo/split2_jpeg",
        "ucf101_kvideo/split3_jpeg",
    ]
    assert split_datasets("hmdb51_kvideo/split2_bytes", [1, 3]) == [
        "hmdb51_kvideo/split1_bytes",
        "hmdb51_kvideo/split3_bytes",
    ]
    with pytest.raises(ValueError, match="names one official split"):
        split_datasets("motion_demo/jpeg")


def test_summary_is_each_split_with_mean_and_std():
    summary = summarize_splits(
        {1: {"top1": 0.5, "mAP": 0.4}, 2: {"top1": 0.6, "mAP": 0.5}, 3: {"top1": 0.7}}
    )
    # mAP is missing on split 3: averaged only when every split has it.
    assert summary["mean"] == {"top1": pytest.approx(0.6)}
    assert summary["std"] == {"top1": pytest.approx(np.sqrt(0.02 / 3))}
    assert format_splits(summary).splitlines()[-2].split() == ["mean", "0.6000"]


def _train_main(*flags: str) -> str:
    result = subprocess.run(
        [sys.executable, str(REPO / "train_main.py"), *flags],
        cwd=REPO,
        env={**checkout_env(), "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_three_splits_are_trained_evaluated_and_averaged(tmp_path):
    data_dir, out = tmp_path / "data", tmp_path / "runs"
    data_dir.mkdir()
    common = [
        "--experiment=ucf101_r2plus1d_18",
        f"--manual_dir={UCF_DUMMY}",
        f"--data_dir={data_dir}",
        f"--output_dir={out}",
        "--splits=1,2,3",
        "--model=r3d_tiny",
        "--num_frames=4",
        "--frame_stride=2",
        "--num_test_clips=2",
        "--crop_size=16",
    ]
    printed = _train_main(
        *common, "--epochs=1", "--batch_size=4", "--validation_fraction=0", "--noexport"
    )
    summary = json.loads((out / "splits_summary.json").read_text())
    assert sorted(summary["splits"]) == ["1", "2", "3"]
    top1 = []
    for number, split in summary["splits"].items():
        assert split["dataset"] == f"ucf101_kvideo/split{number}_jpeg"
        report = json.loads((out / f"split{number}" / "test_evaluation.json").read_text())
        assert report["num_videos"] == split["num_videos"] == TEST_VIDEOS[number]
        assert report["views_per_video"] == 2
        assert split["top1"] == report["top1"] and split["mAP"] == report["mAP"]
        assert (out / f"split{number}" / "test_confusion.png").is_file()
        top1.append(report["top1"])
    assert summary["mean"]["top1"] == pytest.approx(np.mean(top1))
    # Three classes: top-2 is the top-k reported.
    assert list(summary["mean"])[:3] == ["top1", "top2", "clip_top1"]
    assert "mean" in printed and (out / "splits_summary.txt").is_file()

    # Evaluating the finished runs again gives the same figures.
    experiment = load_experiment(out / "split1")
    again = run_splits(experiment, out, train=False)
    assert again["mean"] == pytest.approx(summary["mean"])

    # One run, with other test views.
    fewer_views = replace_fields(load_experiment(out / "split2"), num_clips=1)
    report = evaluate_run(out / "split2", experiment=fewer_views)
    assert report["views_per_video"] == 1 and report["num_videos"] == 5
    assert report["dataset"] == "ucf101_kvideo/split2_jpeg"


def test_evaluate_mode_reads_the_run_and_refuses_a_missing_one(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "train_main.py"),
            "--mode=evaluate",
            f"--output_dir={tmp_path}",
        ],
        cwd=REPO,
        env={**checkout_env(), "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert f"--mode=evaluate needs a finished run: no {tmp_path}/experiment.json" in result.stderr
