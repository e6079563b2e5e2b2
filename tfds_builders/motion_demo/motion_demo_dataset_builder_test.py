"""Tests for the motion_demo dataset builder.

`MotionDemoTest` is the standard TFDS builder test (motion_demo generates its clips, so
`dummy_data/` is empty). The pytest functions build the jpeg config twice, once with the
`tfds build` command line and once in this process, and check sizes, balance,
determinism, and that single frames do not give away the direction of time.
"""

from __future__ import annotations

import collections
import pathlib
import subprocess
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kvideo.data import storage
from tests.conftest import build_dataset, checkout_env, tfds_command
from tfds_builders.motion_demo import motion_demo_dataset_builder as mdb

BUILDER_DIR = pathlib.Path(__file__).parent
NUM_CLASSES = len(mdb.CLASSES)


# Clips per class in `MotionDemoTest`: the generator's analogue of small dummy data. The
# full-size dataset is checked on the command-line build below.
TEST_CLIPS_PER_CLASS = {"train": 2, "test": 1}


class MotionDemoTest(tfds.testing.DatasetBuilderTestCase):
    """Builds both configs, with `TEST_CLIPS_PER_CLASS` clips per class."""

    DATASET_CLASS = mdb.Builder
    SPLITS = {split: count * NUM_CLASSES for split, count in TEST_CLIPS_PER_CLASS.items()}
    BUILDER_CONFIG_NAMES_TO_TEST = [storage.JPEG, storage.BYTES]

    def setUp(self):
        super().setUp()
        patcher = mock.patch.dict(mdb.CLIPS_PER_CLASS, TEST_CLIPS_PER_CLASS)
        patcher.start()
        self.addCleanup(patcher.stop)


@pytest.fixture(scope="module")
def cli_data_dir(tmp_path_factory) -> pathlib.Path:
    """motion_demo/jpeg built by `tfds build` in a subprocess."""
    data_dir = tmp_path_factory.mktemp("cli")
    command = [tfds_command(), "build", str(BUILDER_DIR), "--data_dir", str(data_dir)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=checkout_env()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return data_dir


@pytest.fixture(scope="module")
def examples(cli_data_dir) -> dict[str, list[dict]]:
    """{split: examples} of the command-line build, frames left as JPEG bytes."""
    builder = tfds.builder("motion_demo/jpeg", data_dir=str(cli_data_dir))
    decoders = {storage.FRAMES_KEY: tfds.decode.SkipDecoding()}
    return {
        split: list(tfds.as_numpy(builder.as_dataset(split=split, decoders=decoders)))
        for split in mdb.CLIPS_PER_CLASS
    }


@pytest.mark.slow  # the tfds command line is tested in the default tier on video_folder
def test_tfds_build_command_line_builds_the_default_config(cli_data_dir):
    builder = tfds.builder("motion_demo", data_dir=str(cli_data_dir))
    assert builder.builder_config.name == storage.JPEG
    assert (cli_data_dir / "motion_demo" / "jpeg" / "1.1.0" / "dataset_info.json").is_file()
    assert builder.info.features["label"].names == list(mdb.CLASSES)


def test_split_sizes_and_class_balance(examples):
    for split, per_class in mdb.CLIPS_PER_CLASS.items():
        labels = [int(example["label"]) for example in examples[split]]
        assert len(labels) == per_class * NUM_CLASSES
        assert collections.Counter(labels) == dict.fromkeys(range(NUM_CLASSES), per_class)
        for example in examples[split]:
            video_id = example["video_id"].decode()
            assert video_id.startswith(f"{split}_")
            assert video_id.split("_", 2)[2] == mdb.CLASSES[int(example["label"])]
            assert example["num_frames"] == len(example["frames"]) == mdb.NUM_FRAMES


def test_two_builds_store_identical_frames(examples, tmp_path):
    """An in-process build is byte-identical to the command-line build."""
    builder = build_dataset("motion_demo", storage.JPEG, tmp_path)
    decoders = {storage.FRAMES_KEY: tfds.decode.SkipDecoding()}
    for split, expected in examples.items():
        dataset = builder.as_dataset(split=split, decoders=decoders)
        rebuilt = {e["video_id"]: e for e in tfds.as_numpy(dataset)}
        assert set(rebuilt) == {e["video_id"] for e in expected}
        for example in expected:
            other = rebuilt[example["video_id"]]
            assert other["label"] == example["label"]
            assert list(other["frames"]) == list(example["frames"])


def object_statistics(clips: list[np.ndarray]) -> np.ndarray:
    """`(clips, frames, 3)`: the shape's centroid (y, x) and area in every frame.

    The shape's colour channels are all >= 140, the background's stay well below.
    """
    rows = []
    for frames in clips:
        mask = frames.min(axis=-1) > 120
        ys, xs = np.mgrid[0 : frames.shape[1], 0 : frames.shape[2]]
        area = mask.sum(axis=(1, 2))
        y = (mask * ys).sum(axis=(1, 2)) / area
        x = (mask * xs).sum(axis=(1, 2)) / area
        rows.append(np.stack([y, x, area], axis=-1))
    return np.array(rows)


def test_single_frames_do_not_tell_time_reversed_pairs_apart(examples):
    """Over all frames, each pair shows the shape in the same places and sizes.

    The same statistics on the first frames alone do tell the pairs apart, so the check
    can fail.
    """
    by_class = collections.defaultdict(list)
    for example in examples["train"]:
        frames = np.stack([tf.io.decode_jpeg(f).numpy() for f in example["frames"]])
        by_class[mdb.CLASSES[int(example["label"])]].append(frames)
    stats = {name: object_statistics(clips) for name, clips in by_class.items()}
    pairs = {  # pair: (statistic, its index, tolerance over all frames)
        ("moving_up", "moving_down"): ("y", 0, 3.0),
        ("growing", "shrinking"): ("area", 2, 60.0),
        ("speeding_up", "slowing_down"): ("x", 1, 3.0),
    }
    for (a, b), (what, index, tolerance) in pairs.items():
        all_a, all_b = stats[a][..., index].mean(), stats[b][..., index].mean()
        assert abs(all_a - all_b) < tolerance, (a, b, what, all_a, all_b)
    # Time order does show: the first frames differ by far more than the tolerance.
    first = {name: s[:, 0].mean(axis=0) for name, s in stats.items()}
    assert first["moving_up"][0] - first["moving_down"][0] > 15  # y grows downwards.
    assert first["shrinking"][2] - first["growing"][2] > 300
