"""Writes miniature UCF101 and HMDB51 layouts, quirks included (the builders' dummy_data).

    python -m tests.dataset_layouts   # rewrites tfds_builders/{ucf101,hmdb51}_kvideo/dummy_data

Videos are tiny XviD .avi files (24x32, 8 frames) whose frames show their index
(`tests.video_fixtures`). What each layout holds, and the split sizes it must give, is in
the builders' tests and dummy_data/README.md.
"""

from __future__ import annotations

import pathlib
import shutil
import zipfile

from tests import video_fixtures as vf

REPO = pathlib.Path(__file__).resolve().parents[1]

# --- UCF101 -------------------------------------------------------------------------
# classInd order (not alphabetical, so that label order is tested): label = number - 1.
UCF_CLASSES = ("ApplyEyeMakeup", "YoYo", "HandstandPushups")
# Files of HandstandPushups are named HandStandPushups, as in the real archive.
UCF_FILE_CLASS = {"HandstandPushups": "HandStandPushups"}
UCF_GROUPS, UCF_CLIPS = (1, 2, 3), (1, 2)
UCF_MISSING = "ApplyEyeMakeup/v_ApplyEyeMakeup_g03_c03.avi"  # listed, not in the archive
UCF_BROKEN = "YoYo/v_YoYo_g02_c02.avi"  # an empty file


def ucf_video_ids() -> list[str]:
    ids = []
    for class_name in UCF_CLASSES:
        stem = UCF_FILE_CLASS.get(class_name, class_name)
        for group in UCF_GROUPS:
            for clip in UCF_CLIPS:
                ids.append(f"{class_name}/v_{stem}_g{group:02d}_c{clip:02d}.avi")
    return ids


def write_ucf101(root: pathlib.Path) -> None:
    """`UCF-101/` (extracted videos) and the split lists as the distributed .zip."""
    for video_id in ucf_video_ids():
        path = root / "UCF-101" / video_id
        path.parent.mkdir(parents=True, exist_ok=True)
        if video_id == UCF_BROKEN:
            path.write_bytes(b"")
        else:
            vf.write_format(path, "xvid_avi", 8, 24, 32)
    lists = {"classInd.txt": [f"{i} {name}" for i, name in enumerate(UCF_CLASSES, 1)]}
    for split in (1, 2, 3):
        train, test = [], []
        for video_id in ucf_video_ids() + [UCF_MISSING]:
            class_name, file_name = video_id.split("/")
            group = int(file_name.split("_g")[1][:2])
            label = UCF_CLASSES.index(class_name) + 1
            listed = video_id
            if class_name == "HandstandPushups" and group == 3:
                listed = f"HandStandPushups/{file_name}"  # folder case differs too
            if group == split:
                test.append(listed)
            else:
                train.append(f"{listed} {label}" + (" " if group == 1 else ""))
        lists[f"trainlist{split:02d}.txt"] = train
        lists[f"testlist{split:02d}.txt"] = test
    with zipfile.ZipFile(root / "UCF101TrainTestSplits-RecognitionTask.zip", "w") as zipped:
        for name, lines in lists.items():
            # Windows line endings, as distributed.
            zipped.writestr(f"ucfTrainTestlist/{name}", "\r\n".join(lines) + "\r\n")


# --- HMDB51 -------------------------------------------------------------------------
HMDB_VIDEOS = {
    "brush_hair": [
        "April_09_brush_hair_u_nm_np1_ba_goo_0.avi",
        "#20_Rhythm_brush_hair_u_nm_np1_fr_goo_0.avi",
        "Blonde_(Long)_Hair!_brush_hair_u_cm_np1_ba_goo_1.avi",
        "Brushing Hair with Beth_brush_hair_h_nm_np1_le_goo_0.avi",
        "Prelinger_HabitPat1954_brush_hair_h_nm_np1_fr_med_0.avi",
    ],
    "catch": [
        "Faith_Rewarded_catch_f_cm_np1_ba_med_10.avi",
        "Tom_&_Jerry's_Catch_catch_f_cm_np1_fr_med_0.avi",
        "Jeu_de_balle_à_Genève_catch_f_nm_np1_ri_goo_0.avi",
        "Ball Catch practice_catch_u_cm_np1_fr_goo_2.avi",
        "Catch_the_ball_catch_f_cm_np1_le_bad_0.avi",  # a text file renamed .avi
    ],
    "shoot_ball": [
        "Señor_Basket_shoot_ball_u_cm_np1_ba_med_0.avi",
        "Mini_Basketball_(Kids)_shoot_ball_f_nm_np1_ri_med_1.avi",
        "Dunk!!_shoot_ball_u_cm_np1_ba_goo_2.avi",
        "3pt_contest_shoot_ball_f_cm_np1_fr_med_0.avi",
        "Lost_clip_shoot_ball_u_nm_np1_fr_goo_0.avi",  # listed, not in the archive
    ],
}
HMDB_BROKEN = "catch/Catch_the_ball_catch_f_cm_np1_le_bad_0.avi"
HMDB_MISSING = "shoot_ball/Lost_clip_shoot_ball_u_nm_np1_fr_goo_0.avi"
# Split id of the i-th video of every class in split 1, 2, 3: 1 train, 2 test, 0 unused.
HMDB_IDS = {1: (1, 1, 2, 2, 0), 2: (2, 1, 1, 0, 2), 3: (1, 2, 0, 1, 2)}


def write_hmdb51(root: pathlib.Path) -> None:
    """`hmdb51_org/<class>/<video>` and `testTrainMulti_7030_splits/` (extracted)."""
    lists = root / "testTrainMulti_7030_splits"
    lists.mkdir(parents=True)
    for class_name, names in HMDB_VIDEOS.items():
        folder = root / "hmdb51_org" / class_name
        folder.mkdir(parents=True)
        for name in names:
            video_id = f"{class_name}/{name}"
            if video_id == HMDB_BROKEN:
                (folder / name).write_text("not a video\n")
            elif video_id != HMDB_MISSING:
                vf.write_format(folder / name, "xvid_avi", 8, 24, 32)
        for split, ids in HMDB_IDS.items():
            # Lines end with a space, as distributed; one class has Windows line endings.
            newline = "\r\n" if class_name == "catch" else "\n"
            text = newline.join(f"{n} {i} " for n, i in zip(names, ids, strict=True))
            path = lists / f"{class_name}_test_split{split}.txt"
            path.write_bytes((text + newline).encode("utf-8"))


def official_split_test_cases(builder_class, sizes: dict[int, dict[str, int]]) -> tuple:
    """`tfds.testing.DatasetBuilderTestCase` classes for splits 1, 2 and 3 of a builder:
    split 1 in both storages, splits 2 and 3 in bytes storage (quicker, same lists)."""
    import tensorflow_datasets as tfds

    cases = []
    for number in (1, 2, 3):
        configs = [f"split{number}_jpeg"] * (number == 1) + [f"split{number}_bytes"]
        attributes = {
            "DATASET_CLASS": builder_class,
            "BUILDER_CONFIG_NAMES_TO_TEST": configs,
            "SPLITS": sizes[number],
        }
        name = f"{builder_class.name.title().replace('_', '')}Split{number}Test"
        cases.append(type(name, (tfds.testing.DatasetBuilderTestCase,), attributes))
    return tuple(cases)


def main() -> None:
    for name, write in (("ucf101_kvideo", write_ucf101), ("hmdb51_kvideo", write_hmdb51)):
        dummy = REPO / "tfds_builders" / name / "dummy_data"
        readme = (dummy / "README.md").read_text() if (dummy / "README.md").exists() else None
        shutil.rmtree(dummy, ignore_errors=True)
        dummy.mkdir(parents=True)
        write(dummy)
        if readme is not None:
            (dummy / "README.md").write_text(readme)


if __name__ == "__main__":
    main()
