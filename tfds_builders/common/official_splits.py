"""What the UCF101 and HMDB51 builders share: configs, list parsing, finding listed videos.

Both datasets come with three official train/test splits, given as lists of file names,
and both are built in one of six configs, `split{1,2,3}_{jpeg,bytes}`. The lists were
written on Windows and by hand, so lines are read leniently (CRLF endings, trailing
spaces, blank lines, a byte-order mark) and videos are found on disk ignoring case (UCF101
lists `HandstandPushups/v_HandStandPushups_g01_c01.avi`; some copies differ in case
again). A listed video may also be a folder of its frames, named like the file without
its extension. A listed video that is not on disk is skipped, counted and reported like
one that does not decode; the build goes on.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
from typing import Any

import tensorflow_datasets as tfds

from kvideo.data import storage
from tfds_builders.common import archives, flow_configs, frame_folders, video_examples

SPLIT_NUMBERS = (1, 2, 3)


class SplitListError(ValueError):
    """A split list that cannot be used; the message names the file and line."""


# Not frozen: tfds.core.BuilderConfig is a mutable dataclass and cannot have a frozen child.
@dataclasses.dataclass
class OfficialSplitConfig(tfds.core.BuilderConfig):
    """One official split in one storage.

    Attributes:
        split_number: 1, 2 or 3.
        storage: "jpeg" (frames resized to `short_side`) or "bytes" (the original files).
        short_side: JPEG frames are resized so that min(height, width) == short_side.
        flow: also store each video's optical flow (`kvideo.flow.FlowConfig`; see
            `tfds_builders.common.flow_configs`), JPEG storage only; None stores none.
    """

    split_number: int = 1
    storage: str = storage.JPEG
    short_side: int = 128
    flow: Any = None  # kvideo.flow.FlowConfig | None


def official_configs(dataset: str) -> list[OfficialSplitConfig]:
    """The configs of `dataset`: `split{n}_{jpeg,bytes}`, and `split{n}_jpeg_flow` /
    `split{n}_jpeg_tvl1` with optical flow beside the frames (`flow_configs`)."""
    plain = [
        OfficialSplitConfig(
            name=f"split{number}_{kind}",
            split_number=number,
            storage=kind,
            description=f"{dataset} official split {number}, "
            + ("JPEG frames, short side 128." if kind == storage.JPEG else "original files."),
        )
        for number in SPLIT_NUMBERS
        for kind in storage.STORAGES
    ]
    with_flow = [
        OfficialSplitConfig(
            name=f"split{number}_{suffix}",
            split_number=number,
            storage=storage.JPEG,
            flow=flow,
            description=f"{dataset} official split {number}, JPEG frames, {text}",
        )
        for number in SPLIT_NUMBERS
        for suffix, flow, text in flow_configs.named_flow_configs(128)
    ]
    return plain + with_flow


def read_list(path: pathlib.Path) -> list[tuple[int, str]]:
    """`(line number, stripped line)` of the non-blank lines of a list file.

    Tolerates Windows line endings, trailing spaces and a UTF-8 byte-order mark.
    """
    text = path.read_bytes().decode("utf-8-sig")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


class VideoLookup:
    """Finds a listed `<class>/<file>` under a root of class folders, ignoring case.

    A file name also matches a folder of frames named like it without the extension
    (`v_X_g01_c01.avi` -> `v_X_g01_c01/`).
    """

    def __init__(self, root: pathlib.Path):
        self.root = root
        self._paths: dict[str, pathlib.Path] = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for item in folder.iterdir():
                if item.is_file() or frame_folders.is_frame_folder(item):
                    key = f"{folder.name}/{item.name}".casefold()
                    self._paths.setdefault(key, item)

    def find(self, class_name: str, file_name: str) -> pathlib.Path | None:
        key = f"{class_name}/{file_name}".casefold()
        found = self._paths.get(key)
        if found is None:
            found = self._paths.get(key.rsplit(".", 1)[0])
        return found


def find_input(manual_dir: pathlib.Path, names: tuple[str, ...]) -> pathlib.Path | None:
    """The first of `names` present in `manual_dir` (files or folders), else None."""
    for name in names:
        path = manual_dir / name
        if path.exists():
            return path
    return None


def input_folder(
    manual_dir: pathlib.Path,
    folder: str,
    archive: str,
    dl_manager: tfds.download.DownloadManager,
    kind: str = "rar",
) -> pathlib.Path:
    """`manual_dir/folder` if it is there, else the same folder extracted from
    `manual_dir/archive` (once, into the download dir).

    Raises:
        FileNotFoundError: neither is in the manual dir.
        archives.NoRarReaderError: a RAR archive to extract and no reader installed.
    """
    found = find_input(manual_dir, (folder, archive))
    if found is None:
        raise FileNotFoundError(
            f"Neither {archive} nor {folder}/ is in the manual dir {manual_dir}."
        )
    if found.is_dir():
        return found
    if kind == "rar":
        archives.require_rar_reader()
    inside = extracted(found, work_dir(dl_manager), kind) / folder
    if not inside.is_dir():
        raise FileNotFoundError(f"{found} holds no {folder}/ folder: is it the right file?")
    return inside


def extracted(archive: pathlib.Path, work_dir: pathlib.Path, kind: str = "rar") -> pathlib.Path:
    """Extracts `archive` into `work_dir/<archive name>/` once; later builds reuse it.

    A marker file written after a complete extraction tells a finished folder from an
    interrupted one, which is extracted again.
    """
    target = work_dir / archive.name.replace(".", "_")
    marker = target / ".extracted"
    if marker.is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    if kind == "rar":
        archives.extract_rar(archive, target)
    else:
        archives.extract_zip(archive, target)
    marker.write_text(f"{archive}\n")
    return target


def work_dir(dl_manager: tfds.download.DownloadManager) -> pathlib.Path:
    """Where archives are extracted: the download dir, shared by all configs."""
    path = pathlib.Path(os.fspath(dl_manager.download_dir))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclasses.dataclass(frozen=True)
class Listing:
    """A parsed split: `class_names` in label order, and per split the listed videos as
    `(class index, class folder as listed, file name as listed, source list and line)`."""

    class_names: list[str]
    splits: dict[str, list[tuple[int, str, str, str]]]


class OfficialSplitsBuilder(
    video_examples.ReportingBuilderMixin,
    tfds.core.GeneratorBasedBuilder,
    skip_registration=True,  # a base class, not a dataset of its own
):
    """A dataset of class folders with official split lists; subclasses say how to read
    their inputs (`_listing`, `_video_root`) and what else to store (`_extra`)."""

    def _extra_features(self) -> dict:
        return {}

    def _extra(self, file_name: str, where: str) -> dict:
        del file_name, where
        return {}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=storage.video_features(
                self.builder_config.storage,
                extra=self._extra_features(),
                flow=self.builder_config.flow is not None,
            ),
            metadata=flow_configs.metadata(self.builder_config.flow),
        )

    def _options(self) -> video_examples.StorageOptions:
        config = self.builder_config
        return video_examples.StorageOptions(
            config.storage, config.short_side, frames_fps=self.FRAMES_FPS, flow=config.flow
        )

    FRAMES_FPS = 25.0

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = pathlib.Path(os.fspath(dl_manager.manual_dir))
        # Check the cheap things first: lists parse and a RAR reader exists, before any
        # extraction or decoding.
        listing = self._listing(manual_dir, dl_manager)
        video_root = self._video_root(manual_dir, dl_manager)
        self.info.features["label"].names = listing.class_names
        self.report = video_examples.BuildReport()
        lookup = VideoLookup(video_root)
        options = self._options()
        splits = {}
        for split, listed in listing.splits.items():
            entries, seen = [], {}
            for label, class_name, file_name, where in listed:
                found = lookup.find(class_name, file_name)
                if found is None:
                    self.report.skip(
                        split,
                        f"{class_name}/{file_name}",
                        f"listed in {where} but not found under {video_root}",
                    )
                    continue
                video_id = f"{found.parent.name}/{found.name}"
                if video_id in seen:
                    raise SplitListError(f"{where}: {video_id} is also listed in {seen[video_id]}")
                seen[video_id] = where
                entries.append(
                    video_examples.VideoEntry(video_id, found, label, self._extra(file_name, where))
                )
            video_examples.check_storable(entries, options)
            splits[split] = video_examples.check_videos(entries, self.report, split)
        video_examples.require_videos(splits, self.report)
        return {split: self._generate_examples(split, entries) for split, entries in splits.items()}

    def _generate_examples(self, split: str, entries: list[video_examples.VideoEntry]):
        return self._examples(split, entries, self._options())

    def _listing(self, manual_dir: pathlib.Path, dl_manager) -> Listing:
        raise NotImplementedError

    def _video_root(self, manual_dir: pathlib.Path, dl_manager) -> pathlib.Path:
        raise NotImplementedError
