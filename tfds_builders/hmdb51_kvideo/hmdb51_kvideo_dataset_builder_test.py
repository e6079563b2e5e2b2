"""Tests for the hmdb51_kvideo builder on dummy_data (a miniature HMDB51, quirks included).

dummy_data (written by `python -m tests.dataset_layouts`): classes brush_hair, catch and
shoot_ball, 5 videos each, names with spaces, #, &, ', !, parentheses and non-ASCII
letters; split lists `<video> <id> ` with trailing spaces (Windows line endings for catch);
in each class the 5th video is unused in split 1 and a test video in splits 2 and 3, where
catch's is not a video and shoot_ball's is missing.
"""

from __future__ import annotations

import pathlib

import pytest
import tensorflow_datasets as tfds

from tests import dataset_layouts as layouts
from tfds_builders.hmdb51_kvideo import hmdb51_kvideo_dataset_builder as hmdb

DUMMY_DATA = pathlib.Path(__file__).parent / "dummy_data"
SIZES = {1: {"train": 6, "test": 6}, 2: {"train": 6, "test": 4}, 3: {"train": 6, "test": 4}}
CLASSES = ["brush_hair", "catch", "shoot_ball"]


# The standard TFDS builder test of each split (dummy_data as the manual dir).
Split1Test, Split2Test, Split3Test = layouts.official_split_test_cases(hmdb.Builder, SIZES)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hmdb_data")
    builders = {}
    for number in (1, 2, 3):
        builder = hmdb.Builder(config=f"split{number}_bytes", data_dir=str(data_dir))
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY_DATA))
        )
        builders[number] = builder
    return builders


def expected_ids(number: int, split_id: int) -> set[str]:
    return {
        f"{class_name}/{names[i]}"
        for class_name, names in layouts.HMDB_VIDEOS.items()
        for i, value in enumerate(layouts.HMDB_IDS[number])
        if value == split_id
    } - {layouts.HMDB_BROKEN, layouts.HMDB_MISSING}


@pytest.mark.parametrize("number", [1, 2, 3])
def test_splits_follow_the_lists_with_sorted_class_labels(built, number):
    builder = built[number]
    assert builder.info.features["label"].names == CLASSES
    for split, split_id in (("train", 1), ("test", 2)):
        stored = list(tfds.as_numpy(builder.as_dataset(split=split)))
        ids = {e["video_id"].decode() for e in stored}
        assert ids == expected_ids(number, split_id)
        assert len(stored) == SIZES[number][split]
        for example in stored:
            class_name = example["video_id"].decode().split("/")[0]
            assert int(example["label"]) == CLASSES.index(class_name)


def test_names_with_punctuation_and_accents_are_kept(built):
    ids = {
        e["video_id"].decode()
        for split in ("train", "test")
        for e in tfds.as_numpy(built[1].as_dataset(split=split))
    }
    assert "catch/Tom_&_Jerry's_Catch_catch_f_cm_np1_fr_med_0.avi" in ids
    assert "catch/Jeu_de_balle_à_Genève_catch_f_nm_np1_ri_goo_0.avi" in ids
    assert "brush_hair/#20_Rhythm_brush_hair_u_nm_np1_fr_goo_0.avi" in ids
    assert "brush_hair/Blonde_(Long)_Hair!_brush_hair_u_cm_np1_ba_goo_1.avi" in ids
    assert "brush_hair/Brushing Hair with Beth_brush_hair_h_nm_np1_le_goo_0.avi" in ids


def test_missing_and_broken_test_videos_are_reported(built):
    assert built[1].info.metadata["skipped"] == []  # both are unused in split 1
    for number in (2, 3):
        rows = built[number].info.metadata["skipped"]
        assert {video: split for split, video, _ in rows} == {
            layouts.HMDB_BROKEN: "test",
            layouts.HMDB_MISSING: "test",
        }


def test_split_list_lines_are_checked(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "catch_test_split1.txt").write_text("good.avi 1 \nbad.avi 7\n")
    with pytest.raises(hmdb.SplitListError, match=r"catch_test_split1.txt, line 2"):
        hmdb.read_lists(lists, 1)


def test_per_class_archives_are_extracted_once(tmp_path):
    # No RAR writer exists here, so a real archive from rarfile's tests stands in for a
    # class archive: it holds one top folder, `sub/`, as each HMDB51 class archive does.
    fixtures = pathlib.Path(__file__).parents[2] / "tests" / "fixtures" / "rar"
    manual = tmp_path / "manual"
    (manual / hmdb.VIDEOS_FOLDER).mkdir(parents=True)
    (manual / hmdb.VIDEOS_FOLDER / "sub.rar").write_bytes(
        (fixtures / "rar5-subdirs.rar").read_bytes()
    )
    builder = hmdb.Builder(config="split1_bytes", data_dir=str(tmp_path / "data"))
    downloads = tfds.download.DownloadManager(download_dir=str(tmp_path / "downloads"))
    root = builder._video_root(manual, downloads)
    assert (root / "sub" / "dir1" / "file1.txt").read_bytes() == b"file1\n"
    marker = next((tmp_path / "downloads").rglob(".extracted"))
    stamp = marker.stat().st_mtime_ns
    assert builder._video_root(manual, downloads) == root  # reused, not extracted again
    assert marker.stat().st_mtime_ns == stamp


if __name__ == "__main__":
    tfds.testing.test_main()
