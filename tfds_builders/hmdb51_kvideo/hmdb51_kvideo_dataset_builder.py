"""hmdb51_kvideo: HMDB51 with its three official splits, from the files as distributed.

Put these in the TFDS manual dir (see README.md here):

* `hmdb51_org.rar` (about 2 GB: 51 per-class archives `<class>.rar`, each holding
  `<class>/<video>.avi`), or what extracting it gives: the 51 `<class>.rar` files, in the
  manual dir or in `hmdb51_org/`, or the class folders themselves in `hmdb51_org/`. A video
  may also be a folder of its frames.
* `test_train_splits.rar` (`testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt`,
  lines `<video>.avi <id>`: 1 train, 2 test, 0 unused), or its extracted
  `testTrainMulti_7030_splits/` folder.

Configs `split{1,2,3}_{jpeg,bytes}`, and `split{1,2,3}_jpeg_flow` / `_jpeg_tvl1` with
optical flow (DIS medium / TV-L1) beside the frames (`tfds_builders.common.flow_configs`).
Labels are the class names sorted (the order every HMDB51 result uses). Each split has
70 train and 30 test videos per class: 3,570 / 1,530. File names carry spaces, `#`, `&`,
`'`, `!`, parentheses and non-ASCII letters; they are kept as they are in the video ids.
"""

from __future__ import annotations

import pathlib

import tensorflow_datasets as tfds

from tfds_builders.common import archives, official_splits
from tfds_builders.common.official_splits import Listing, SplitListError

VIDEOS_ARCHIVE = "hmdb51_org.rar"
VIDEOS_FOLDER = "hmdb51_org"
LISTS_ARCHIVE = "test_train_splits.rar"
LISTS_FOLDER = "testTrainMulti_7030_splits"

_SPLIT_OF_ID = {"1": "train", "2": "test", "0": None}


class Builder(official_splits.OfficialSplitsBuilder):
    """HMDB51: 6,766 clips of 51 actions, official splits 1-3, JPEG frames or bytes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = official_splits.official_configs("HMDB51")
    FRAMES_FPS = 30.0  # HMDB51's videos are 30 fps; used for folders of frames only
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Download from
    https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/ into the
    manual dir: `{VIDEOS_ARCHIVE}` (about 2 GB) and `{LISTS_ARCHIVE}`, or their extracted
    `{VIDEOS_FOLDER}/` and `{LISTS_FOLDER}/` folders.
    """

    def _listing(self, manual_dir: pathlib.Path, dl_manager) -> Listing:
        lists = official_splits.input_folder(manual_dir, LISTS_FOLDER, LISTS_ARCHIVE, dl_manager)
        return read_lists(lists, self.builder_config.split_number)

    def _video_root(self, manual_dir: pathlib.Path, dl_manager) -> pathlib.Path:
        folder = manual_dir / VIDEOS_FOLDER
        class_rars = sorted(manual_dir.glob("*.rar")) + sorted(folder.glob("*.rar"))
        class_rars = [p for p in class_rars if p.name not in (VIDEOS_ARCHIVE, LISTS_ARCHIVE)]
        if folder.is_dir() and not class_rars:
            return folder  # class folders, extracted by the user
        work = official_splits.work_dir(dl_manager)
        if not class_rars:
            outer = manual_dir / VIDEOS_ARCHIVE
            if not outer.is_file():
                raise FileNotFoundError(
                    f"None of {VIDEOS_ARCHIVE}, {VIDEOS_FOLDER}/ or the per-class .rar files "
                    f"is in the manual dir {manual_dir}."
                )
            archives.require_rar_reader()
            class_rars = sorted(official_splits.extracted(outer, work).glob("*.rar"))
        archives.require_rar_reader()
        videos = work / "hmdb51_videos"
        videos.mkdir(exist_ok=True)
        for class_rar in class_rars:  # each holds <class>/<video>.avi
            official_splits.extracted(class_rar, work / "hmdb51_class_rars")
            inner = work / "hmdb51_class_rars" / class_rar.name.replace(".", "_")
            for class_folder in inner.iterdir():
                link = videos / class_folder.name
                if class_folder.is_dir() and not link.exists():
                    link.symlink_to(class_folder, target_is_directory=True)
        return videos


def read_lists(folder: pathlib.Path, split_number: int) -> Listing:
    """Parses the 51 `<class>_test_split<N>.txt` files of split N in `folder`."""
    suffix = f"_test_split{split_number}.txt"
    paths = sorted(p for p in folder.iterdir() if p.name.endswith(suffix))
    if not paths:
        raise SplitListError(f"No *{suffix} files in {folder}.")
    # Class names contain underscores (brush_hair, shoot_ball): cut the suffix only.
    class_names = sorted(p.name[: -len(suffix)] for p in paths)
    splits = {"train": [], "test": []}
    for label, class_name in enumerate(class_names):
        path = folder / f"{class_name}{suffix}"
        for number, line in official_splits.read_list(path):
            where = f"{path.name}, line {number}"
            # The id is the last field; a file name may contain spaces.
            name, _, split_id = line.rpartition(" ")
            if not name or split_id not in _SPLIT_OF_ID:
                raise SplitListError(f"{where}: expected `<video>.avi <0|1|2>`: {line!r}")
            split = _SPLIT_OF_ID[split_id]
            if split is not None:
                splits[split].append((label, class_name, name.strip(), where))
    return Listing(class_names, splits)
