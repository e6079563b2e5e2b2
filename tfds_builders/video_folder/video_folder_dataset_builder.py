"""video_folder: a dataset from a directory of class folders, `root/<class>/<video>`.

Point TFDS at the directory as the *manual* dir:

    tfds build tfds_builders/video_folder --manual_dir=/data/my_videos --data_dir=/data/tfds

or from Python:

    builder = tfds.builder("video_folder/jpeg", data_dir="/data/tfds")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="/data/my_videos"))

Class names are the folder names, sorted; two folders make a binary "action vs not"
dataset. Use one `data_dir` per source directory: the builder's name is always
`video_folder`.

Splits. If `root/train.txt` and `root/test.txt` exist they define the splits: one video per
line as `<class>/<file>` relative to root (UCF101's `trainlist01.txt` layout; an optional
trailing label number is checked against the class and otherwise ignored; blank lines and
`#` comments are skipped). Otherwise each class is split on its own (stratified) with a
fixed seed, so every machine and every run gets the same split.

Bad videos (see `tfds_builders.common.video_examples`, shared with the UCF101 and HMDB51
builders). Before the split is made, every video is opened and its first frame decoded;
one that fails is skipped: the build goes on, logs it, and lists it with the reason in
`skipped_videos.tsv` beside the built data (also in the dataset's metadata under
"skipped"). Its split column is empty when the split was drawn without it (stratified),
or names the split list it was on. Each remaining video is then decoded exactly once,
streaming its frames to the JPEG encoder (or recording its frame count and seek table for
bytes storage); one that fails then is skipped and reported under its split. A split left
with no decodable video stops the build with an error that lists the skipped files.
Videos that decode fewer frames than their header declares (truncated files keep their
decodable prefix) are kept and listed in `short_videos.tsv`. The end of the build logs
both paths and counts.

Why a first-frame check and not, as before, a full probe of every video before the split:
the probe existed so that a broken file never silently empties a split or takes a class's
only test slot, but it decoded every video twice (probe, then encode). Broken files fail at
open or at their first frame, so checking that frame keeps the guarantee at a fraction of
a percent of the cost; a file that fails later is still skipped and reported, and a split
that ends with no example at all stops the build with the list of skipped files.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import random
from typing import Any

import tensorflow_datasets as tfds

from kvideo.data import storage
from tfds_builders.common import flow_configs, frame_folders, video_examples

VIDEO_EXTENSIONS = frozenset(
    {".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ogv"}
)
SPLIT_FILES = {"train": "train.txt", "test": "test.txt"}
REPORT_NAME = video_examples.REPORT_NAME
SHORT_REPORT_NAME = video_examples.SHORT_REPORT_NAME


class SplitFileError(ValueError):
    """A split list file that cannot be used; the message names the file and line."""


# Not frozen: tfds.core.BuilderConfig is a mutable dataclass and cannot have a frozen child.
@dataclasses.dataclass
class VideoFolderConfig(tfds.core.BuilderConfig):
    """How to store a folder of videos.

    Attributes:
        storage: "jpeg" (frames as JPEG, resized to `short_side`) or "bytes" (the original
            encoded files).
        short_side: JPEG frames are resized so that min(height, width) == short_side.
        test_fraction: share of each class held out when no split files are given.
        split_seed: seed of the stratified split.
        frames_fps: frame rate stored for videos given as folders of frames.
        flow: also store each video's optical flow (`kvideo.flow.FlowConfig`; see
            `tfds_builders.common.flow_configs`), JPEG storage only; None stores none.
    """

    storage: str = storage.JPEG
    short_side: int = 128
    test_fraction: float = 0.2
    split_seed: int = 0
    frames_fps: float = 25.0
    flow: Any = None  # kvideo.flow.FlowConfig | None


def list_videos(root: pathlib.Path) -> dict[str, list[str]]:
    """`{class_name: sorted video names}` for the class folders under `root`.

    A video is a file with a video extension, or a folder of frame images
    (`root/<class>/<video>/img_00001.jpg ...`, see `tfds_builders.common.frame_folders`).
    """
    if not root.is_dir():
        raise FileNotFoundError(f"Video folder root {root} is not a directory.")
    classes = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        videos = sorted(
            p.name
            for p in folder.iterdir()
            if (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            or frame_folders.is_frame_folder(p)
        )
        if videos:
            classes[folder.name] = videos
    if not classes:
        raise ValueError(
            f"No class folders with videos under {root} (expected root/<class>/<video>, "
            f"video extensions {sorted(VIDEO_EXTENSIONS)}, or root/<class>/<video>/ folders "
            f"of frames with extensions {sorted(frame_folders.IMAGE_EXTENSIONS)})."
        )
    return classes


def stratified_split(
    videos: dict[str, list[str]], test_fraction: float, seed: int
) -> dict[str, list[tuple[str, str]]]:
    """Splits each class on its own, the same way on every machine and every run.

    Each class's sorted file names are shuffled by a `random.Random` seeded with the seed
    and the class name (string seeding is stable across platforms and Python versions),
    and the first `round(n * test_fraction)` go to test, at least one when the class has
    two or more videos and never all of them.

    Returns:
        `{"train": [(class, file), ...], "test": [...]}`.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1). Received: {test_fraction}")
    splits = {"train": [], "test": []}
    for class_name, files in sorted(videos.items()):
        order = list(files)
        random.Random(f"{seed}/{class_name}").shuffle(order)
        num_test = round(len(order) * test_fraction)
        num_test = min(max(num_test, 1 if len(order) >= 2 else 0), len(order) - 1)
        splits["test"] += [(class_name, f) for f in sorted(order[:num_test])]
        splits["train"] += [(class_name, f) for f in sorted(order[num_test:])]
    return splits


def read_split_file(
    path: pathlib.Path,
    videos: dict[str, list[str]],
    listed_elsewhere: dict[tuple[str, str], pathlib.Path] | None = None,
) -> list[tuple[str, str]]:
    """Parses a split list: `<class>/<file> [label]` per line, relative to the root.

    Args:
        listed_elsewhere: `{(class, file): other split file}` of videos already taken by
            another split; listing one of them again is an error.

    Raises:
        SplitFileError: naming the file and line, for a malformed line, a path that leaves
            the root, an unknown class or video, a label that disagrees with the class, or
            a video listed twice (in this file or in `listed_elsewhere`).
    """
    listed_elsewhere = listed_elsewhere or {}
    class_index = {name: i for i, name in enumerate(sorted(videos))}
    known = {(c, f) for c, files in videos.items() for f in files}
    entries = []
    seen = set()
    text = path.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue

        def fail(why: str, number=number, line=line):
            raise SplitFileError(f"{path}, line {number}: {why}. Line: {line!r}")

        fields = line.split()
        if len(fields) > 2:
            fail("expected `<class>/<file>` and an optional label")
        parts = fields[0].replace("\\", "/").split("/")
        if len(parts) != 2 or not all(parts):
            fail("expected exactly one class folder and one file name")
        if any(part in (".", "..") for part in parts) or fields[0].startswith("/"):
            fail("path leaves the dataset root")
        class_name, file_name = parts
        if class_name not in class_index:
            fail(f"unknown class {class_name!r}")
        if (class_name, file_name) not in known:
            fail(f"no video {file_name!r} in class folder {class_name!r}")
        if len(fields) == 2:
            try:
                label = int(fields[1])
            except ValueError:
                fail(f"label {fields[1]!r} is not an integer")
            # UCF101 numbers classes from 1, others from 0: accept either, if consistent.
            if label not in (class_index[class_name], class_index[class_name] + 1):
                fail(f"label {label} does not match class {class_name!r}")
        if (class_name, file_name) in seen:
            fail("video listed twice")
        if (class_name, file_name) in listed_elsewhere:
            fail(f"video also listed in {listed_elsewhere[(class_name, file_name)]}")
        seen.add((class_name, file_name))
        entries.append((class_name, file_name))
    if not entries:
        raise SplitFileError(f"{path}: no videos listed.")
    return entries


def splits_for(
    root: pathlib.Path, videos: dict[str, list[str]], config: VideoFolderConfig
) -> dict[str, list[tuple[str, str]]]:
    """The train/test lists: from split files under `root` if present, else stratified."""
    files = {split: root / name for split, name in SPLIT_FILES.items()}
    present = [split for split, path in files.items() if path.is_file()]
    if not present:
        return stratified_split(videos, config.test_fraction, config.split_seed)
    if len(present) != len(files):
        missing = sorted(str(files[s]) for s in files if s not in present)
        raise SplitFileError(f"Split files come in a pair; missing {missing}.")
    splits, listed = {}, {}
    for split, path in files.items():
        splits[split] = read_split_file(path, videos, listed)
        listed.update(dict.fromkeys(splits[split], path))
    return splits


class Builder(video_examples.ReportingBuilderMixin, tfds.core.GeneratorBasedBuilder):
    """Videos in class folders, stored as JPEG frames or as the original bytes."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Bytes storage keeps each file's seek table (keyframes, timestamps); "
        "short_videos.tsv lists videos that decode fewer frames than their header.",
    }
    BUILDER_CONFIGS = [
        VideoFolderConfig(
            name=storage.JPEG,
            storage=storage.JPEG,
            description="JPEG frames, short side 128.",
        ),
        VideoFolderConfig(
            name=storage.BYTES,
            storage=storage.BYTES,
            description="The original encoded video files.",
        ),
        *(
            VideoFolderConfig(
                name=name, storage=storage.JPEG, flow=flow, description=f"JPEG frames, {text}"
            )
            for name, flow, text in flow_configs.named_flow_configs(128)
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Pass the directory of class folders (`root/<class>/<video>`) as the manual dir
    (`tfds build --manual_dir=ROOT` or `DownloadConfig(manual_dir=ROOT)`). Optional
    `root/train.txt` and `root/test.txt` list `<class>/<file>` per line.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.builder_config
        return self.dataset_info_from_configs(
            features=storage.video_features(config.storage, flow=config.flow is not None),
            metadata=flow_configs.metadata(config.flow),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        root = pathlib.Path(os.fspath(dl_manager.manual_dir))
        videos = list_videos(root)
        self.info.features["label"].names = sorted(videos)
        self.report = video_examples.BuildReport()
        entries = [
            video_examples.VideoEntry(f"{c}/{f}", root / c / f, c)
            for c, files in videos.items()
            for f in files
        ]
        video_examples.check_storable(entries, self._options())
        if any((root / name).is_file() for name in SPLIT_FILES.values()):
            # Parse the lists first: a malformed list fails before any decoding.
            splits = splits_for(root, videos, self.builder_config)
            passed = {e.video_id for e in video_examples.check_videos(entries, self.report)}
            for split, listed in splits.items():
                ids = [f"{c}/{f}" for c, f in listed]
                # A listed video that does not decode is reported under its split.
                self.report.set_split(ids, split)
                splits[split] = [(c, f) for c, f in listed if f"{c}/{f}" in passed]
        else:
            # Broken files are left out before the split is drawn, so that one is never
            # a class's only test video.
            passed = {e.video_id for e in video_examples.check_videos(entries, self.report)}
            decodable = {c: [f for f in fs if f"{c}/{f}" in passed] for c, fs in videos.items()}
            splits = splits_for(root, decodable, self.builder_config)
        video_examples.require_videos(splits, self.report)
        return {
            split: self._generate_examples(root, split, listed) for split, listed in splits.items()
        }

    def _generate_examples(self, root: pathlib.Path, split: str, listed):
        entries = [video_examples.VideoEntry(f"{c}/{f}", root / c / f, c) for c, f in listed]
        return self._examples(split, entries, self._options())

    def _options(self) -> video_examples.StorageOptions:
        config = self.builder_config
        return video_examples.StorageOptions(
            config.storage, config.short_side, frames_fps=config.frames_fps, flow=config.flow
        )
