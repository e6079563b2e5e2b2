"""Tests for videos given as folders of frames, through the video_folder builder."""

from __future__ import annotations

import pathlib

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kvideo.data import storage
from tests import video_fixtures as vf
from tests.conftest import build_dataset
from tfds_builders.common import frame_folders

SIZE = (24, 32)  # height, width of the written frames


def write_frames(folder: pathlib.Path, count: int, pattern: str, *, skip: int | None = None):
    """Index-pattern frames as image files named `pattern.format(number)` (from 1)."""
    folder.mkdir(parents=True)
    frames = vf.index_frames(count, *SIZE)
    for i, frame in enumerate(frames):
        if i == skip:
            continue
        name = pattern.format(i + 1)
        ok, data = cv2.imencode(pathlib.Path(name).suffix, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        assert ok
        (folder / name).write_bytes(data.tobytes())


def test_natural_order():
    names = ["img_10.jpg", "img_2.jpg", "img_1.jpg", "IMG_3.jpg"]
    assert sorted(names, key=frame_folders.natural_key) == [
        "img_1.jpg",
        "img_2.jpg",
        "IMG_3.jpg",
        "img_10.jpg",
    ]


@pytest.fixture(scope="module")
def frames_root(tmp_path_factory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("frames") / "videos"
    # Numbers without zero padding: only a natural sort puts 10 and 11 after 9.
    write_frames(root / "jumping" / "j01", 11, "img_{}.jpg")
    write_frames(root / "jumping" / "j02", 9, "frame{:05d}.png")  # PNG: re-encoded
    write_frames(root / "jumping" / "j03_gap", 6, "img_{:05d}.jpg", skip=3)  # no img_00004
    write_frames(root / "sitting" / "s01", 10, "img_{:05d}.jpeg")
    write_frames(root / "sitting" / "s02", 7, "img_{:05d}.jpg")
    write_frames(root / "sitting" / "s03_bad", 5, "img_{:05d}.jpg")
    (root / "sitting" / "s03_bad" / "img_00003.jpg").write_bytes(b"\xff\xd8 cut")
    vf.write_format(root / "sitting" / "s04.avi", "xvid_avi", 8, *SIZE)  # a file beside
    (root / "train.txt").write_text(
        "jumping/j01\njumping/j03_gap\nsitting/s01\nsitting/s03_bad\nsitting/s04.avi\n"
    )
    (root / "test.txt").write_text("jumping/j02\nsitting/s02\n")
    return root


@pytest.fixture(scope="module")
def built(frames_root, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("frames_data")
    return build_dataset("video_folder", "jpeg", data_dir, manual_dir=frames_root)


def stored(builder) -> dict[str, dict]:
    decoders = {storage.FRAMES_KEY: tfds.decode.SkipDecoding()}
    return {
        e["video_id"].decode(): e
        for split in ("train", "test")
        for e in tfds.as_numpy(builder.as_dataset(split=split, decoders=decoders))
    }


def test_frame_folders_are_videos_in_natural_order(built):
    examples = stored(built)
    counts = {video_id: int(e["num_frames"]) for video_id, e in examples.items()}
    assert counts == {
        "jumping/j01": 11,
        "jumping/j02": 9,
        "sitting/s01": 10,
        "sitting/s02": 7,
        "sitting/s04.avi": 8,
    }
    for video_id, example in examples.items():
        indices = [vf.decode_index_pattern(tf.io.decode_jpeg(f).numpy()) for f in example["frames"]]
        assert indices == list(range(counts[video_id])), video_id
    assert float(examples["jumping/j01"]["fps"]) == 25.0  # the config's frames_fps


def test_gaps_and_bad_frames_follow_the_bad_video_policy(built):
    rows = {video: (split, reason) for split, video, reason in built.info.metadata["skipped"]}
    assert set(rows) == {"jumping/j03_gap", "sitting/s03_bad"}
    assert rows["jumping/j03_gap"][0] == "train"
    assert "frame 4 is missing" in rows["jumping/j03_gap"][1]
    assert "img_00003.jpg" in rows["sitting/s03_bad"][1]


def test_jpeg_frames_at_the_stored_size_are_kept_byte_for_byte(frames_root, tmp_path):
    # With short_side equal to the frames' short side (24), JPEG files need no resize.
    folder = frames_root / "sitting" / "s02"
    encoded, info = frame_folders.encode_folder(folder, 24, 90, 25.0)
    files = frame_folders.frame_files(folder)
    assert encoded == [p.read_bytes() for p in files]
    assert (info.num_frames, info.height, info.width) == (7, 24, 32)
    # At another size they are decoded and resized once.
    resized, info = frame_folders.encode_folder(folder, 48, 90, 25.0)
    assert tf.io.extract_jpeg_shape(resized[0]).numpy().tolist() == [48, 64, 3]
    assert (info.height, info.width) == (24, 32)  # the source frame size


def test_bytes_storage_refuses_frame_folders(frames_root, tmp_path):
    with pytest.raises(ValueError, match="only the jpeg configs"):
        build_dataset("video_folder", "bytes", tmp_path, manual_dir=frames_root)


def test_frame_folder_without_frames_is_not_a_video(tmp_path):
    (tmp_path / "empty").mkdir()
    assert not frame_folders.is_frame_folder(tmp_path / "empty")
    np.testing.assert_equal(frame_folders.is_frame_folder(tmp_path), False)
