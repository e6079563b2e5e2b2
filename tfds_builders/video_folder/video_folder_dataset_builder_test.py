"""Tests for the video_folder dataset builder.

`VideoFolderTest` is the standard TFDS builder test on `dummy_data/` (2 classes x 3 tiny
index-pattern videos, XviD .avi and H.264 .mp4, used as the manual dir). The pytest
functions below build copies of it with split files and broken videos added.
"""

from __future__ import annotations

import logging
import pathlib
import shutil
import subprocess

import av
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kvideo.data import storage
from tests import video_fixtures as vf
from tests.conftest import build_dataset, checkout_env, tfds_command
from tfds_builders.video_folder import video_folder_dataset_builder as vfb

DUMMY_DATA = pathlib.Path(__file__).parent / "dummy_data"
BUILDER_DIR = pathlib.Path(__file__).parent
# dummy_data: {class: videos}; the stratified split (test_fraction 0.2) holds out 1 of 3.
DUMMY_VIDEOS = {
    "clapping": ["c01.avi", "c02.mp4", "c03.avi"],
    "waving": ["w01.mp4", "w02.avi", "w03.mp4"],
}


class VideoFolderTest(tfds.testing.DatasetBuilderTestCase):
    """Builds both configs from dummy_data (the manual dir)."""

    DATASET_CLASS = vfb.Builder
    SPLITS = {"train": 4, "test": 2}
    BUILDER_CONFIG_NAMES_TO_TEST = [storage.JPEG, storage.BYTES]


# --- Helpers ---------------------------------------------------------------------------


def copy_dummy_data(directory: pathlib.Path) -> pathlib.Path:
    root = directory / "videos"
    shutil.copytree(DUMMY_DATA, root)
    return root


def build(root: pathlib.Path, data_dir: pathlib.Path, config: str = storage.BYTES):
    return build_dataset("video_folder", config, data_dir, manual_dir=root)


def split_ids(builder) -> dict[str, list[str]]:
    """{split: sorted video ids} of a built dataset."""
    return {
        split: sorted(
            example["video_id"].decode()
            for example in tfds.as_numpy(builder.as_dataset(split=split))
        )
        for split in builder.info.splits
    }


def write_split_files(root: pathlib.Path, train: list[str], test: list[str]) -> None:
    (root / "train.txt").write_text("\n".join(train) + "\n")
    (root / "test.txt").write_text("\n".join(test) + "\n")


def all_ids() -> set[str]:
    return {f"{c}/{f}" for c, files in DUMMY_VIDEOS.items() for f in files}


# --- Splits ------------------------------------------------------------------------------


def test_stratified_split_is_reproducible_and_stratified(tmp_path):
    # Two copies of the videos in different places, built into different data dirs.
    first = split_ids(build(copy_dummy_data(tmp_path / "a"), tmp_path / "data_a"))
    second = split_ids(build(copy_dummy_data(tmp_path / "b"), tmp_path / "data_b"))
    assert first == second
    assert set(first["train"]) | set(first["test"]) == all_ids()
    assert not set(first["train"]) & set(first["test"])
    for class_name in DUMMY_VIDEOS:
        assert sum(v.startswith(f"{class_name}/") for v in first["test"]) == 1


def test_stratified_split_depends_on_the_seed_only():
    videos = {f"class_{c}": [f"v{i:02d}.avi" for i in range(20)] for c in range(3)}
    split = vfb.stratified_split(videos, 0.25, seed=0)
    assert split == vfb.stratified_split(dict(reversed(videos.items())), 0.25, seed=0)
    assert split != vfb.stratified_split(videos, 0.25, seed=1)
    for class_name in videos:
        assert sum(c == class_name for c, _ in split["test"]) == 5


def test_split_files_are_honoured(tmp_path):
    root = copy_dummy_data(tmp_path)
    train = ["# UCF101 layout: class/file and a 1-based label", "clapping/c01.avi 1", ""]
    train += ["waving/w01.mp4 2", "waving/w03.mp4"]
    test = ["clapping/c03.avi", "waving/w02.avi  # trailing comment"]
    write_split_files(root, train, test)
    builder = build(root, tmp_path / "data")
    ids = split_ids(builder)
    assert ids == {
        "train": ["clapping/c01.avi", "waving/w01.mp4", "waving/w03.mp4"],
        "test": ["clapping/c03.avi", "waving/w02.avi"],
    }
    assert builder.info.splits["train"].num_examples == 3
    assert builder.info.splits["test"].num_examples == 2


@pytest.mark.parametrize(
    "bad_line, why",
    [
        ("clapping/c01.avi 1 extra", "optional label"),
        ("c01.avi", "one class folder and one file"),
        ("jumping/c01.avi", "unknown class 'jumping'"),
        ("clapping/c09.avi", "no video 'c09.avi'"),
        ("../clapping/c01.avi", "one class folder and one file"),
        ("../c01.avi", "leaves the dataset root"),
        ("clapping/c01.avi 5", "label 5 does not match"),
        ("clapping/c01.avi one", "not an integer"),
        ("clapping/c02.mp4", "listed twice"),
        ("waving/w01.mp4", "train.txt"),  # Also in train.txt.
    ],
)
def test_malformed_split_file_names_file_and_line(tmp_path, bad_line, why):
    root = copy_dummy_data(tmp_path)
    train = ["clapping/c01.avi", "waving/w01.mp4"]
    # The bad line is line 4 of test.txt, after a comment and a blank line.
    write_split_files(root, train, ["# test list", "clapping/c02.mp4", "", bad_line])
    with pytest.raises(vfb.SplitFileError) as raised:
        build(root, tmp_path / "data")
    message = str(raised.value)
    assert f"{root / 'test.txt'}, line 4" in message
    assert why in message


def test_split_files_come_in_pairs(tmp_path):
    root = copy_dummy_data(tmp_path)
    (root / "train.txt").write_text("clapping/c01.avi\n")
    with pytest.raises(vfb.SplitFileError, match="test.txt"):
        build(root, tmp_path / "data")


# --- Broken videos -------------------------------------------------------------------------


# {video id: split} of the files added to a copy of dummy_data, listed in split files so
# that both splits keep good videos whichever files are broken.
BROKEN = {
    "clapping/corrupt.avi": "train",  # A real header followed by garbage.
    "clapping/empty.avi": "test",  # Zero bytes.
    "waving/notes.avi": "train",  # A text file renamed .avi.
}
TRUNCATED = "waving/truncated.avi"  # Its header says 30 frames; fewer decode.


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory) -> pathlib.Path:
    """dummy_data plus broken files, and one truncated video that still partly decodes."""
    root = copy_dummy_data(tmp_path_factory.mktemp("broken"))
    good = (root / "clapping" / "c01.avi").read_bytes()
    (root / "clapping" / "corrupt.avi").write_bytes(
        good[:200] + np.random.default_rng(0).bytes(len(good) - 200)
    )
    (root / "clapping" / "empty.avi").write_bytes(b"")
    (root / "waving" / "notes.avi").write_text("not a video, just a text file\n" * 20)
    (root / "waving" / "readme.txt").write_text("ignored: not a video extension\n")
    whole = vf.write_index_video(
        None, 30, 24, 32, codec="mpeg4", codec_tag="XVID", container_format="avi"
    )
    (root / TRUNCATED).write_bytes(whole[: int(len(whole) * 0.9)])
    listed = {"train": ["clapping/c01.avi", "waving/w01.mp4", TRUNCATED], "test": []}
    listed["test"] += ["clapping/c02.mp4", "clapping/c03.avi", "waving/w02.avi", "waving/w03.mp4"]
    for video_id, split in BROKEN.items():
        listed[split].append(video_id)
    write_split_files(root, listed["train"], listed["test"])
    return root


@pytest.fixture(scope="module")
def broken_builds(broken_root, tmp_path_factory) -> dict:
    """{storage: builder} of `broken_root` built in both storages."""
    data_dir = tmp_path_factory.mktemp("broken_data")
    return {config: build(broken_root, data_dir, config) for config in storage.STORAGES}


def stored_examples(builder) -> list[dict]:
    """Every example of every split, JPEG frames left encoded."""
    decoders = None
    if storage.FRAMES_KEY in builder.info.features:
        decoders = {storage.FRAMES_KEY: tfds.decode.SkipDecoding()}
    datasets = [builder.as_dataset(split=s, decoders=decoders) for s in builder.info.splits]
    return [example for dataset in datasets for example in tfds.as_numpy(dataset)]


@pytest.mark.parametrize("config", storage.STORAGES)
def test_broken_videos_are_skipped_and_reported(broken_builds, config):
    broken_build = broken_builds[config]
    ids = {example["video_id"].decode() for example in stored_examples(broken_build)}
    assert ids == all_ids() | {TRUNCATED}

    report = pathlib.Path(broken_build.data_dir) / vfb.REPORT_NAME
    lines = report.read_text().splitlines()
    assert lines[0] == "split\tvideo\treason"
    rows = [line.split("\t") for line in lines[1:]]
    assert {video: split for split, video, _ in rows} == BROKEN
    assert all(reason for _, _, reason in rows)
    assert sorted(map(list, broken_build.info.metadata["skipped"])) == sorted(rows)


# Frames written into each video (dummy_data/README.md), and what decodes of the truncated
# one: its first 24 frames. The cut falls in frame 24 (a keyframe), which FFmpeg would
# hand out concealed as a copy of frame 23 and flags as corrupt; the AVI index is gone.
FRAME_COUNTS = {
    "clapping/c01.avi": 8,
    "clapping/c02.mp4": 9,
    "clapping/c03.avi": 10,
    "waving/w01.mp4": 8,
    "waving/w02.avi": 11,
    "waving/w03.mp4": 12,
    TRUNCATED: 24,
}


@pytest.mark.parametrize("config", storage.STORAGES)
def test_stored_frame_counts_are_decodable_counts(broken_builds, broken_root, config):
    stored = stored_examples(broken_builds[config])
    assert {e["video_id"].decode(): int(e["num_frames"]) for e in stored} == FRAME_COUNTS
    for example in stored:
        path = broken_root / example["video_id"].decode()
        if storage.VIDEO_KEY in example:
            assert example[storage.VIDEO_KEY] == path.read_bytes()
        else:
            # Every stored frame is the frame of its index: the decodable prefix, in order.
            indices = [
                vf.decode_index_pattern(tf.io.decode_jpeg(frame).numpy())
                for frame in example[storage.FRAMES_KEY]
            ]
            assert indices == list(range(FRAME_COUNTS[example["video_id"].decode()]))
    # The truncated file's header promises 30 frames.
    with av.open(str(broken_root / TRUNCATED)) as container:
        assert container.streams.video[0].frames == 30


@pytest.mark.parametrize("config", storage.STORAGES)
def test_videos_short_of_their_header_are_kept_and_flagged(broken_builds, config):
    builder = broken_builds[config]
    report = pathlib.Path(builder.data_dir) / vfb.SHORT_REPORT_NAME
    assert report.read_text().splitlines() == [
        "split\tvideo\tdecodable_frames\theader_frames",
        f"train\t{TRUNCATED}\t24\t30",
    ]
    assert builder.info.metadata["short"] == [["train", TRUNCATED, 24, 30]]


def test_bytes_examples_store_a_seek_table(broken_builds):
    stored = {e["video_id"].decode(): e for e in stored_examples(broken_builds[storage.BYTES])}
    for video_id, example in stored.items():
        timestamps = example[storage.TIMESTAMPS_KEY]
        assert len(timestamps) == FRAME_COUNTS[video_id]
        assert np.all(np.diff(timestamps) > 0)
        keyframes = example[storage.KEYFRAMES_KEY]
        assert keyframes.shape[1:] == (2,)
        assert np.all((keyframes[:, 0] > 0) & (keyframes[:, 0] < len(timestamps)))
    # The XviD encoder puts a keyframe every 12 frames: of these short videos only the
    # 24 decodable frames of the truncated one reach one (frame 12).
    assert stored[TRUNCATED][storage.KEYFRAMES_KEY][:, 0].tolist() == [12]


def test_the_end_of_a_build_names_the_reports(tmp_path, caplog):
    root = copy_dummy_data(tmp_path)
    (root / "waving" / "empty.avi").write_bytes(b"")
    with caplog.at_level(logging.INFO):
        builder = build(root, tmp_path / "data")
    data_dir = pathlib.Path(builder.data_dir)
    [summary] = [r.getMessage() for r in caplog.records if "built in" in r.getMessage()]
    assert f"built in {data_dir} (test 2, train 4 examples)" in summary
    assert f"1 videos skipped, listed with the reason in {data_dir / vfb.REPORT_NAME}" in summary
    assert "0 kept videos decode fewer frames" in summary
    assert str(data_dir / vfb.SHORT_REPORT_NAME) in summary


def test_jpeg_frames_have_the_configured_short_side(broken_builds):
    builder = broken_builds[storage.JPEG]
    short_side = builder.builder_config.short_side
    for example in stored_examples(builder):
        for encoded in example[storage.FRAMES_KEY]:
            height, width, _ = tf.io.extract_jpeg_shape(encoded).numpy()
            assert min(height, width) == short_side
            assert (height, width) == (short_side, round(short_side * 32 / 24))


# --- Command line -------------------------------------------------------------------------


def test_tfds_build_command_line(tmp_path):
    command = [
        tfds_command(),
        "build",
        str(BUILDER_DIR),
        "--manual_dir",
        str(DUMMY_DATA),
        "--config",
        storage.BYTES,
        "--data_dir",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=checkout_env()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    builder = tfds.builder("video_folder/bytes", data_dir=str(tmp_path))
    assert {s: builder.info.splits[s].num_examples for s in ("train", "test")} == {
        "train": 4,
        "test": 2,
    }
    assert set(sum(split_ids(builder).values(), [])) == all_ids()


def test_broken_videos_are_left_out_before_a_stratified_split(tmp_path):
    # Without split files: two of three "clapping" videos are broken, so a split drawn
    # over all files could hold out a broken one as the class's only test video.
    root = copy_dummy_data(tmp_path)
    (root / "clapping" / "c02.mp4").write_bytes(b"")
    (root / "clapping" / "c03.avi").write_text("not a video")
    builder = build(root, tmp_path / "data")
    ids = split_ids(builder)
    assert "clapping/c01.avi" in ids["train"] + ids["test"]
    rows = [
        line.split("\t")
        for line in (pathlib.Path(builder.data_dir) / vfb.REPORT_NAME).read_text().splitlines()[1:]
    ]
    assert sorted(video for _, video, _ in rows) == ["clapping/c02.mp4", "clapping/c03.avi"]
    assert all(split == "" for split, _, _ in rows)  # excluded before the split was drawn


def test_a_split_of_only_broken_videos_stops_with_a_clear_error(tmp_path):
    root = copy_dummy_data(tmp_path)
    (root / "waving" / "bad.avi").write_bytes(b"")
    write_split_files(root, sorted(all_ids()), ["waving/bad.avi"])
    with pytest.raises(ValueError, match=r"'test' has no decodable video.*waving/bad.avi"):
        build(root, tmp_path / "data")


def test_beam_builds_the_same_examples_and_report(broken_root, broken_builds, tmp_path):
    # JPEG storage: the decoding and encoding then run in Beam's workers (bytes storage
    # runs the same code path with less work).
    config = storage.JPEG
    import apache_beam as beam

    builder = vfb.Builder(config=config, data_dir=str(tmp_path))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(broken_root), beam_runner=beam.runners.DirectRunner()
        )
    )
    plain = broken_builds[config]

    def by_id(b):
        return {e["video_id"].decode(): e for e in stored_examples(b)}

    on_beam, on_threads = by_id(builder), by_id(plain)
    assert sorted(on_beam) == sorted(on_threads) == sorted(FRAME_COUNTS)
    for video_id, example in on_beam.items():
        assert example.keys() == on_threads[video_id].keys()
        for key, value in example.items():
            np.testing.assert_array_equal(value, on_threads[video_id][key], err_msg=key)
    assert {s: builder.info.splits[s].num_examples for s in ("train", "test")} == {
        s: plain.info.splits[s].num_examples for s in ("train", "test")
    }
    for name in (vfb.REPORT_NAME, vfb.SHORT_REPORT_NAME):
        beam_report = (pathlib.Path(builder.data_dir) / name).read_text()
        assert beam_report == (pathlib.Path(plain.data_dir) / name).read_text()
    assert builder.info.metadata["skipped"] == plain.info.metadata["skipped"]
    assert not (pathlib.Path(builder.data_dir) / "beam_report_rows").exists()


if __name__ == "__main__":
    tfds.testing.test_main()
