"""ucf101_kvideo: UCF101 with its three official splits, from the files as distributed.

Named so as not to clash with the TFDS catalog's `ucf101` (PNG frames at 256x256, which
needs an `ffmpeg` binary). Put these in the TFDS manual dir (see README.md here):

* `UCF101.rar` (6.5 GB: `UCF-101/<Class>/v_<Class>_gNN_cNN.avi`), or its extracted
  `UCF-101/` folder; a video may also be a folder of its frames (`v_..._gNN_cNN/`).
* `UCF101TrainTestSplits-RecognitionTask.zip` (`ucfTrainTestlist/classInd.txt`,
  `trainlist0{1,2,3}.txt` with 1-based labels, `testlist0{1,2,3}.txt` without), or its
  extracted `ucfTrainTestlist/` folder.

Configs `split{1,2,3}_{jpeg,bytes}`, and `split{1,2,3}_jpeg_flow` / `_jpeg_tvl1` with
optical flow (DIS medium / TV-L1) beside the frames (`tfds_builders.common.flow_configs`).
Labels follow `classInd.txt` (label = its number - 1). Each example keeps the group
(gNN: the 25 groups are people/sessions, never shared between train and test in an
official split) and the clip (cNN) numbers. Expected sizes: split 1
9,537 train / 3,783 test, split 2 9,586 / 3,734, split 3 9,624 / 3,696.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np
import tensorflow_datasets as tfds

from tfds_builders.common import official_splits
from tfds_builders.common.official_splits import Listing, SplitListError

VIDEOS_ARCHIVE = "UCF101.rar"
VIDEOS_FOLDER = "UCF-101"
LISTS_ARCHIVE = "UCF101TrainTestSplits-RecognitionTask.zip"
LISTS_FOLDER = "ucfTrainTestlist"

_GROUP_CLIP = re.compile(r"_g(\d+)_c(\d+)(?:\.\w+)?$", re.IGNORECASE)


class Builder(official_splits.OfficialSplitsBuilder):
    """UCF101: 13,320 clips of 101 actions, official splits 1-3, JPEG frames or bytes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = official_splits.official_configs("UCF101")
    FRAMES_FPS = 25.0  # UCF101's videos are 25 fps; used for folders of frames only
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Download from https://www.crcv.ucf.edu/data/UCF101.php into the manual dir:
    `{VIDEOS_ARCHIVE}` (6.5 GB) and `{LISTS_ARCHIVE}` (114 KB), or their extracted
    `{VIDEOS_FOLDER}/` and `{LISTS_FOLDER}/` folders.
    """

    def _extra_features(self) -> dict:
        return {
            "group": tfds.features.Scalar(np.int32, doc="UCF101 group gNN (person/session)."),
            "clip": tfds.features.Scalar(np.int32, doc="Clip cNN within its group."),
        }

    def _extra(self, file_name: str, where: str) -> dict:
        match = _GROUP_CLIP.search(file_name)
        if match is None:
            raise SplitListError(f"{where}: {file_name!r} has no _gNN_cNN group and clip")
        return {"group": int(match.group(1)), "clip": int(match.group(2))}

    def _listing(self, manual_dir: pathlib.Path, dl_manager) -> Listing:
        lists = official_splits.input_folder(
            manual_dir, LISTS_FOLDER, LISTS_ARCHIVE, dl_manager, kind="zip"
        )
        return read_lists(lists, self.builder_config.split_number)

    def _video_root(self, manual_dir: pathlib.Path, dl_manager) -> pathlib.Path:
        return official_splits.input_folder(manual_dir, VIDEOS_FOLDER, VIDEOS_ARCHIVE, dl_manager)


def read_class_index(path: pathlib.Path) -> list[str]:
    """Class names in label order from `classInd.txt` (`<number> <name>`, from 1)."""
    names = {}
    for number, line in official_splits.read_list(path):
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise SplitListError(f"{path}, line {number}: expected `<number> <class>`: {line!r}")
        names[int(fields[0])] = fields[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise SplitListError(f"{path}: class numbers are not 1..{len(names)}")
    return [names[i] for i in range(1, len(names) + 1)]


def read_lists(folder: pathlib.Path, split_number: int) -> Listing:
    """Parses `classInd.txt`, `trainlist0N.txt` and `testlist0N.txt` from `folder`."""
    class_names = read_class_index(folder / "classInd.txt")
    # Lists and folders disagree in case (HandstandPushups / HandStandPushups).
    label_of = {name.casefold(): label for label, name in enumerate(class_names)}
    splits = {}
    for split, name in (("train", "trainlist"), ("test", "testlist")):
        path = folder / f"{name}{split_number:02d}.txt"
        listed = []
        for number, line in official_splits.read_list(path):
            where = f"{path.name}, line {number}"
            fields = line.split()
            parts = fields[0].replace("\\", "/").split("/")
            if len(fields) > 2 or len(parts) != 2:
                raise SplitListError(f"{where}: expected `<Class>/<file> [label]`: {line!r}")
            class_name, file_name = parts
            label = label_of.get(class_name.casefold())
            if label is None:
                raise SplitListError(f"{where}: class {class_name!r} is not in classInd.txt")
            if len(fields) == 2 and fields[1] != str(label + 1):
                raise SplitListError(
                    f"{where}: label {fields[1]} but classInd.txt numbers {class_name} {label + 1}"
                )
            listed.append((label, class_name, file_name, where))
        splits[split] = listed
    return Listing(class_names, splits)
