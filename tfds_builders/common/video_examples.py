"""Turning video files into kvideo examples, shared by every kvideo dataset builder.

One implementation of the bad-video policy for `video_folder`, `ucf101_kv` and
`hmdb51_kv`:

* **Check, then split.** Before splits are drawn, `check_videos` opens every video and
  decodes its first frame. A file that cannot be opened, has no video stream or no
  decodable frame is skipped: reported with the split it was listed in, or with an empty
  split when the split is drawn afterwards (stratified) and it never took part. So a
  broken file never takes a test slot, and a split whose videos all fail stops the build
  before any long work, with an error that names them (`SplitEmptyError`).
* **Decode once, stream.** `build_examples` decodes each remaining video exactly once
  (`kvideo.io.scan`): JPEG storage encodes frame after frame as they decode, so memory
  holds one decoded frame plus the encoded ones, whatever the length of the video; bytes
  storage records the frame count and the seek table (`kvideo.io.probe(...,
  seek_table=True)`) from the same pass. A video that still fails mid-stream is skipped
  and reported under its split; a split that ends up with no example at all still stops
  the build (the check above makes that all but impossible).
* **Report.** `BuildReport` writes `skipped_videos.tsv` (split, video, reason) beside the
  built data and the same rows into the dataset's metadata under "skipped". Videos that
  decode fewer frames than their container declares (a truncated download keeps its
  decodable prefix, as with ffmpeg) are kept, and flagged in `short_videos.tsv` (split,
  video, decodable frames, header frames) and under "short". The builder logs where both
  files are, with the counts, at the end of every build (`ReportingBuilderMixin`).

Why a first-frame check rather than the full probe pass the builders used to make: the
probe decoded every video a second time only to guarantee that no split is emptied, or
left with a broken test video, by files that do not decode. Files that fail do so at
open or at their first frame (empty, text renamed .avi, wrong container, garbage header):
decoding one frame finds them at a fraction of a percent of the cost. What it cannot
find, a file that decodes at first and raises later, is rare; it is skipped and reported
under its split, and a split cannot end up empty without an error.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
import logging
import os
import pathlib
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kvideo import io as kio
from kvideo.data import storage
from tfds_builders.common import frame_folders

REPORT_NAME = "skipped_videos.tsv"
SHORT_REPORT_NAME = "short_videos.tsv"

_log = logging.getLogger(__name__)


class SplitEmptyError(ValueError):
    """A split has no usable video; the message lists the skipped ones."""


@dataclasses.dataclass(frozen=True)
class VideoEntry:
    """One video to store.

    Attributes:
        video_id: Unique id, stored in the example and used as its key
            (`<class>/<file>` for class folders).
        path: The video file, or a folder of its frames.
        label: Class name or index.
        extra: Values of dataset-specific features (e.g. UCF101's group and clip).
    """

    video_id: str
    path: pathlib.Path
    label: str | int
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def default_workers() -> int:
    """Videos decoded at once: one per core (decoding and JPEG encoding release the GIL)."""
    return max(1, os.cpu_count() or 1)


class BuildReport:
    """The videos a build skipped, and those that decode short of their header."""

    def __init__(self):
        self.skipped: list[tuple[str, str, str]] = []
        self.short: list[tuple[str, str, int, int]] = []

    def skip(self, split: str, video_id: str, reason: str) -> None:
        self.skipped.append((split, video_id, reason))
        where = f"{split} video" if split else "video"
        _log.warning("Skipping %s %s: %s", where, video_id, reason)

    def flag_short(self, split: str, video_id: str, info: kio.VideoInfo) -> None:
        self.short.append((split, video_id, info.num_frames, info.header_frames))

    def set_split(self, video_ids: Iterable[str], split: str) -> None:
        """Names `split` on the skips of `video_ids` recorded before splits were known."""
        ids = set(video_ids)
        self.skipped = [
            (split if video in ids and not old else old, video, reason)
            for old, video, reason in self.skipped
        ]

    def write(self, data_dir: str | os.PathLike, metadata: dict) -> None:
        """(Re)writes both reports with every row so far, and the dataset metadata."""
        directory = pathlib.Path(os.fspath(data_dir))
        skipped = sorted(self.skipped)
        short = sorted(self.short)
        _write_tsv(directory / REPORT_NAME, ("split", "video", "reason"), skipped)
        _write_tsv(
            directory / SHORT_REPORT_NAME,
            ("split", "video", "decodable_frames", "header_frames"),
            short,
        )
        metadata["skipped"] = [list(row) for row in skipped]
        metadata["short"] = [list(row) for row in short]


def _write_tsv(path: pathlib.Path, header: tuple[str, ...], rows) -> None:
    lines = ["\t".join(header)]
    lines += ["\t".join(_tsv_field(value) for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _tsv_field(value) -> str:
    return str(value).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def check_videos(
    entries: Iterable[VideoEntry],
    report: BuildReport,
    split: str = "",
    *,
    workers: int | None = None,
) -> list[VideoEntry]:
    """The entries whose video opens and decodes a first frame; the others are skipped.

    Args:
        entries: Videos to check.
        report: Receives a skip for each video that fails.
        split: The split the entries are listed in, or "" before splits are drawn.
        workers: Videos checked at once (default: one per core).

    Returns:
        The entries that passed, in their order.
    """
    entries = list(entries)
    with concurrent.futures.ThreadPoolExecutor(workers or default_workers()) as pool:
        reasons = list(pool.map(_first_frame_problem, entries))
    passed = []
    for entry, reason in zip(entries, reasons, strict=True):
        if reason is None:
            passed.append(entry)
        else:
            report.skip(split, entry.video_id, reason)
    return passed


def _first_frame_problem(entry: VideoEntry) -> str | None:
    try:
        if entry.path.is_dir():
            frame_folders.check_folder(entry.path)
        else:
            kio.read_frames(entry.path, [0])
    except (kio.VideoDecodeError, OSError, ValueError) as err:
        return str(err)
    return None


def require_videos(splits: Mapping[str, list], report: BuildReport) -> None:
    """Raises `SplitEmptyError` if a split has no video left, listing the skipped ones."""
    for split, entries in splits.items():
        if not entries:
            raise SplitEmptyError(
                f"Split {split!r} has no decodable video. Skipped: "
                + "; ".join(f"{video}: {reason}" for _, video, reason in sorted(report.skipped))
            )


@dataclasses.dataclass(frozen=True)
class StorageOptions:
    """How examples are stored.

    Attributes:
        storage: "jpeg" (frames resized to `short_side`, JPEG `quality`) or "bytes" (the
            original file and its seek table).
        short_side: See `storage`; None keeps the frame size.
        quality: See `storage`.
        frames_fps: The frame rate stored for frame folders, which have none of their own.
        flow: Also store the optical flow of each video (`kvideo.flow.FlowConfig`: method,
            bound, short side), computed from the frames as they decode, or taken from a
            frame folder's own ``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` images; None
            stores none. JPEG storage only.
    """

    storage: str = storage.JPEG
    short_side: int | None = 128
    quality: int = 90
    frames_fps: float = 25.0
    flow: Any = None  # kvideo.flow.FlowConfig | None (kvideo.flow loads OpenCV's contrib)

    def __post_init__(self):
        if self.flow is not None and self.storage != storage.JPEG:
            raise ValueError(
                "Flow is stored beside JPEG frames only. "
                f"Received: storage={self.storage!r}, flow={self.flow!r}"
            )


def check_storable(entries: Iterable[VideoEntry], options: StorageOptions) -> None:
    """Raises ValueError if frame folders would go to "bytes" storage (no file to keep)."""
    if options.storage != storage.BYTES:
        return
    folders = [e.video_id for e in entries if e.path.is_dir()]
    if folders:
        raise ValueError(
            f"{len(folders)} videos are folders of frames (e.g. {folders[0]!r}), which "
            "only the jpeg configs can store: bytes storage keeps video files as they are."
        )


def encode_video(entry: VideoEntry, options: StorageOptions) -> tuple[dict, kio.VideoInfo]:
    """Decodes `entry` once and returns its example and `VideoInfo`.

    Raises:
        kvideo.io.VideoDecodeError, OSError, ValueError: the video cannot be used.
    """
    flow = None
    if entry.path.is_dir():
        frames, info = frame_folders.encode_folder(
            entry.path, options.short_side, options.quality, options.frames_fps
        )
        video_bytes = None
        if options.flow is not None:
            flow = frame_folders.folder_flow(entry.path, info.num_frames, options.flow)
    elif options.storage == storage.JPEG:
        frames = []
        encoder = storage.FlowEncoder(options.flow) if options.flow is not None else None

        def on_frame(frame):
            frames.append(storage.encode_jpeg_frame(frame, options.short_side, options.quality))
            if encoder is not None:  # flow from the same decoded frames, in the same pass
                encoder.add(frame)

        info = kio.scan(entry.path, on_frame)
        video_bytes = None
        if encoder is not None:
            flow = _flow_of(encoder, info.num_frames, entry)
    else:
        video_bytes = entry.path.read_bytes()
        info = kio.probe(video_bytes, seek_table=True)
        frames = None
    example = storage.example_dict(
        entry.video_id,
        entry.label,
        frames,
        info.fps,
        options.storage,
        num_frames=info.num_frames,
        video_bytes=video_bytes,
        seek_table=info.seek_table,
        extra=entry.extra,
        flow=flow,
    )
    return example, info


def _flow_of(
    encoder: storage.FlowEncoder, num_frames: int, entry: VideoEntry
) -> tuple[list[bytes], list[bytes]]:
    """The encoder's flow images, one pair per decodable frame after the first.

    Raises:
        ValueError: the video has fewer than two frames (no flow: a bad video here).
    """
    try:
        x_images, y_images = encoder.images
    except ValueError as err:
        raise ValueError(f"{entry.video_id}: {err}") from err
    count = num_frames - 1
    if len(x_images) < count:
        raise ValueError(
            f"{entry.video_id}: {len(x_images)} flow fields for {num_frames} decodable frames"
        )
    return x_images[:count], y_images[:count]


def build_examples(
    entries: Iterable[VideoEntry],
    split: str,
    options: StorageOptions,
    report: BuildReport,
    *,
    workers: int | None = None,
    on_done: Callable[[], None] | None = None,
) -> Iterator[tuple[str, dict]]:
    """Yields `(key, example)` for each entry that decodes, in entry order.

    `workers` videos are decoded at once (threads: PyAV decoding, OpenCV resizing and
    JPEG encoding release the GIL; measured in benchmarks/build_throughput.py). At most
    twice as many finished examples wait in memory. A video that fails is skipped and
    reported under `split`; one that decodes fewer frames than its header declares is
    kept and flagged. `on_done` runs once the split is complete (write the report
    there). Raises `SplitEmptyError` if no entry of the split could be used.
    """
    entries = list(entries)
    workers = workers or default_workers()
    built = 0
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending: collections.deque = collections.deque()
        queue = iter(entries)
        for entry in queue:
            pending.append((entry, pool.submit(encode_video, entry, options)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            entry, future = pending.popleft()
            next_entry = next(queue, None)
            if next_entry is not None:
                pending.append((next_entry, pool.submit(encode_video, next_entry, options)))
            try:
                example, info = future.result()
            except (kio.VideoDecodeError, OSError, ValueError) as err:
                report.skip(split, entry.video_id, str(err))
                continue
            if info.missing_frames:
                report.flag_short(split, entry.video_id, info)
            built += 1
            yield entry.video_id, example
    if on_done is not None:
        on_done()
    if not built:
        require_videos({split: []}, report)


def _encode_for_beam(entry: VideoEntry, split: str, options: StorageOptions):
    """Beam's counterpart of one step of `build_examples`: the example, or a tagged
    "skipped"/"short" row that the driver adds to the report after the pipeline."""
    from apache_beam import pvalue

    try:
        example, info = encode_video(entry, options)
    except (kio.VideoDecodeError, OSError, ValueError) as err:
        _log.warning("Skipping %s video %s: %s", split, entry.video_id, err)
        yield pvalue.TaggedOutput("skipped", json.dumps([split, entry.video_id, str(err)]))
        return
    if info.missing_frames:
        row = [split, entry.video_id, info.num_frames, info.header_frames]
        yield pvalue.TaggedOutput("short", json.dumps(row))
    yield entry.video_id, example


def beam_examples(
    entries: list[VideoEntry], split: str, options: StorageOptions, rows_dir: pathlib.Path
) -> Any:
    """A Beam transform (`beam.PTransform`) yielding the pairs `build_examples` yields.

    Skipped and short videos are written as JSON lines under `rows_dir`, for the builder
    to merge into its report once the pipeline has run (`ReportingBuilderMixin`).
    """
    import apache_beam as beam

    @beam.ptransform_fn
    def transform(root):
        results = (
            root
            | "Videos" >> beam.Create(entries)
            | "Decode"
            >> beam.FlatMap(_encode_for_beam, split, options).with_outputs(
                "skipped", "short", main="examples"
            )
        )
        for kind in ("skipped", "short"):
            _ = results[kind] | f"Write {kind}" >> beam.io.WriteToText(
                os.fspath(rows_dir / f"{split}.{kind}"), shard_name_template="-SS-of-NN"
            )
        return results["examples"]

    return transform()


class ReportingBuilderMixin:
    """For kvideo's `GeneratorBasedBuilder`s: builds on threads or on Apache Beam, keeps
    the `BuildReport` in `self.report`, and says where it is at the end.

    TFDS builds on Beam when the download config names a runner or Beam options
    (`tfds build --beam_pipeline_options=...`, `DownloadConfig(beam_runner=...)`); the
    examples are the same either way. TFDS generates into a temporary directory that
    becomes `data_dir` when the build succeeds, so the final paths are only known once
    `download_and_prepare` returns, where they are logged.
    """

    report: BuildReport
    _use_beam: bool = False

    def write_report(self) -> None:
        self.report.write(self.data_dir, self.info.metadata)

    def _examples(self, split: str, entries: list[VideoEntry], options: StorageOptions):
        """The split's examples: a generator (threads) or a Beam transform."""
        if self._use_beam:
            return beam_examples(entries, split, options, self._beam_rows_dir())
        return build_examples(entries, split, options, self.report, on_done=self.write_report)

    def _beam_rows_dir(self) -> pathlib.Path:
        return pathlib.Path(os.fspath(self.data_dir)) / "beam_report_rows"

    def _download_and_prepare(self, dl_manager, download_config):
        self._use_beam = (
            download_config.beam_runner is not None or download_config.beam_options is not None
        )
        super()._download_and_prepare(dl_manager, download_config)
        if not self._use_beam:
            return
        rows_dir = self._beam_rows_dir()
        for path in sorted(rows_dir.glob("*")):
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                if ".skipped-" in path.name:
                    self.report.skip(*row)
                else:
                    self.report.short.append(tuple(row))
        shutil.rmtree(rows_dir, ignore_errors=True)
        self.write_report()
        empty = {name: [] for name, info in self.info.splits.items() if not info.num_examples}
        require_videos(empty, self.report)

    def download_and_prepare(self, *args, **kwargs):
        result = super().download_and_prepare(*args, **kwargs)
        directory = pathlib.Path(os.fspath(self.data_dir))
        skipped = self.info.metadata.get("skipped", [])
        short = self.info.metadata.get("short", [])
        sizes = ", ".join(
            f"{name} {split.num_examples}" for name, split in sorted(self.info.splits.items())
        )
        log = _log.warning if skipped or short else _log.info
        log(
            "%s built in %s (%s examples). %d videos skipped, listed with the reason in %s; "
            "%d kept videos decode fewer frames than their header declares, listed in %s.",
            self.info.full_name,
            directory,
            sizes,
            len(skipped),
            directory / REPORT_NAME,
            len(short),
            directory / SHORT_REPORT_NAME,
        )
        return result
