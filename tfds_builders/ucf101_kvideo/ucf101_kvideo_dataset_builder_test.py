"""Tests for the ucf101_kvideo builder on dummy_data (a miniature UCF101, quirks included).

dummy_data (written by `python -m tests.dataset_layouts`): 3 classes in classInd order
ApplyEyeMakeup, YoYo, HandstandPushups (files named v_HandStandPushups_...), groups 1-3
with clips 1-2 each, split N testing group N as the official lists do; lists with Windows
line endings and trailing spaces, in the distributed .zip; one listed video missing
(ApplyEyeMakeup g03 c03) and one empty file (YoYo g02 c02).
"""

from __future__ import annotations

import pathlib
import shutil
import zipfile

import pytest
import tensorflow_datasets as tfds

from kvideo import io as kio
from kvideo.data import storage
from tests import dataset_layouts as layouts
from tfds_builders.ucf101_kvideo import ucf101_kvideo_dataset_builder as ucf

DUMMY_DATA = pathlib.Path(__file__).parent / "dummy_data"
# {split number: {split: examples}}: 6 clips per group, minus the missing and empty ones.
SIZES = {1: {"train": 11, "test": 6}, 2: {"train": 12, "test": 5}, 3: {"train": 11, "test": 6}}


# The standard TFDS builder test of each split (dummy_data as the manual dir).
Split1Test, Split2Test, Split3Test = layouts.official_split_test_cases(ucf.Builder, SIZES)


def build(manual_dir, data_dir, config):
    builder = ucf.Builder(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )
    return builder


def examples(builder, split):
    decoders = None
    if storage.FRAMES_KEY in builder.info.features:
        decoders = {storage.FRAMES_KEY: tfds.decode.SkipDecoding()}
    return list(tfds.as_numpy(builder.as_dataset(split=split, decoders=decoders)))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{split number: builder} of the bytes configs."""
    data_dir = tmp_path_factory.mktemp("ucf_data")
    return {n: build(DUMMY_DATA, data_dir, f"split{n}_bytes") for n in (1, 2, 3)}


@pytest.mark.parametrize("number", [1, 2, 3])
def test_splits_hold_the_listed_videos_with_official_labels(built, number):
    builder = built[number]
    assert builder.info.features["label"].names == ["ApplyEyeMakeup", "YoYo", "HandstandPushups"]
    expected_labels = {"ApplyEyeMakeup": 0, "YoYo": 1, "HandstandPushups": 2}
    for split in ("train", "test"):
        stored = examples(builder, split)
        assert len(stored) == SIZES[number][split]
        for example in stored:
            video_id = example["video_id"].decode()
            class_name, file_name = video_id.split("/")
            assert int(example["label"]) == expected_labels[class_name]
            group = int(file_name.split("_g")[1][:2])
            assert int(example["group"]) == group
            assert int(example["clip"]) == int(file_name.split("_c")[-1][:2])
            # Split N tests group N, as the official lists do.
            assert (group == number) == (split == "test")
            assert int(example["num_frames"]) == 8


@pytest.mark.parametrize("number", [1, 2, 3])
def test_no_group_is_in_both_train_and_test(built, number):
    groups = {
        split: {(int(e["label"]), int(e["group"])) for e in examples(built[number], split)}
        for split in ("train", "test")
    }
    assert groups["train"] and groups["test"]
    assert not groups["train"] & groups["test"]


def test_case_mismatches_are_resolved(built):
    ids = {e["video_id"].decode() for e in examples(built[3], "train")}
    # Listed as HandstandPushups/v_HandStandPushups_..., stored under its folder's name.
    assert "HandstandPushups/v_HandStandPushups_g01_c01.avi" in ids
    test_ids = {e["video_id"].decode() for e in examples(built[3], "test")}
    # Listed as HandStandPushups/... (folder case differs from classInd and the disk).
    assert "HandstandPushups/v_HandStandPushups_g03_c02.avi" in test_ids


def test_missing_and_broken_videos_are_reported(built):
    for number, builder in built.items():
        report = pathlib.Path(builder.data_dir) / "skipped_videos.tsv"
        rows = [line.split("\t") for line in report.read_text().splitlines()[1:]]
        where = {video: split for split, video, _ in rows}
        missing_split = "test" if number == 3 else "train"
        broken_split = "test" if number == 2 else "train"
        assert where == {layouts.UCF_MISSING: missing_split, layouts.UCF_BROKEN: broken_split}
        reasons = {video: reason for _, video, reason in rows}
        list_name = "testlist03.txt" if number == 3 else f"trainlist0{number}.txt"
        assert f"listed in {list_name}" in reasons[layouts.UCF_MISSING]
        assert "not found under" in reasons[layouts.UCF_MISSING]


def test_extracted_lists_folder_and_frame_folders(tmp_path):
    """The lists as a folder, and the videos as folders of JPEG frames (rawframes)."""
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY_DATA / "UCF-101", manual / "UCF-101")
    with zipfile.ZipFile(DUMMY_DATA / ucf.LISTS_ARCHIVE) as zipped:
        zipped.extractall(manual)
    # Replace one class's videos by folders of frames, img_00001.jpg ...
    for video in sorted((manual / "UCF-101" / "YoYo").iterdir()):
        folder = video.with_suffix("")
        folder.mkdir()
        if video.stat().st_size:
            frames, _ = kio.read_video(video)
            for i, frame in enumerate(frames, 1):
                (folder / f"img_{i:05d}.jpg").write_bytes(storage.encode_jpeg_frame(frame))
        video.unlink()
    builder = build(manual, tmp_path / "data", "split1_jpeg")
    assert {s: builder.info.splits[s].num_examples for s in ("train", "test")} == SIZES[1]
    yoyo = [e for e in examples(builder, "train") if e["video_id"].decode().startswith("YoYo/")]
    assert sorted(e["video_id"].decode() for e in yoyo) == [
        "YoYo/v_YoYo_g02_c01",
        "YoYo/v_YoYo_g03_c01",
        "YoYo/v_YoYo_g03_c02",
    ]
    assert all(len(e[storage.FRAMES_KEY]) == 8 for e in yoyo)
    with pytest.raises(ValueError, match="only the jpeg configs"):
        build(manual, tmp_path / "data", "split1_bytes")


def test_a_bad_label_names_the_list_and_line(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY_DATA / "UCF-101", manual / "UCF-101")
    with zipfile.ZipFile(DUMMY_DATA / ucf.LISTS_ARCHIVE) as zipped:
        zipped.extractall(manual)
    lists = manual / "ucfTrainTestlist"
    lines = (lists / "trainlist01.txt").read_bytes().split(b"\r\n")
    lines[1] = lines[1].replace(b" 1", b" 3")
    (lists / "trainlist01.txt").write_bytes(b"\r\n".join(lines))
    with pytest.raises(ucf.SplitListError, match=r"trainlist01.txt, line 2: label 3"):
        build(manual, tmp_path / "data", "split1_bytes")


def test_a_wrong_archive_is_named(tmp_path):
    # A real RAR archive without UCF-101/ inside (no RAR writer exists here to make one
    # with it): extraction works, and the error says what is wrong with the file.
    fixtures = pathlib.Path(__file__).parents[2] / "tests" / "fixtures" / "rar"
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / ucf.VIDEOS_ARCHIVE).write_bytes((fixtures / "rar3-subdirs.rar").read_bytes())
    shutil.copy(DUMMY_DATA / ucf.LISTS_ARCHIVE, manual)
    with pytest.raises(FileNotFoundError, match=r"UCF101.rar holds no UCF-101/ folder"):
        build(manual, tmp_path / "data", "split1_bytes")


if __name__ == "__main__":
    tfds.testing.test_main()
