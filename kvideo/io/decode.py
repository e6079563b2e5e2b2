"""Frame-exact video decoding with PyAV.

A frame's index is its position, counted from 0, in the order the decoder outputs frames
(display order), and the number of frames of a file is the number of frames that actually
decode, not what the header claims. The readers decode *sequentially from the first
frame*: seeking by timestamp is where decoders hand back the neighbouring frame on files
with B-frames or a variable frame rate, and a silently wrong frame is the worst possible
failure for a training pipeline.

The one exception is `read_frames` given a `SeekTable`, which `scan` / `probe` record
while decoding the whole file once (a dataset build does this). The table lists the
keyframes where decoding can start and the timestamp of every frame, as the sequential
decode saw them. Reading then starts at the last keyframe at or before the first wanted
frame (and seeks ahead again past stretches that hold a keyframe and no wanted frame),
and every frame decoded after a seek must carry exactly the timestamp the sequential
decode gave its index; on any disagreement the read starts over sequentially from frame
0. So a seek can only make a read faster, never different.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import io
import os
from collections.abc import Callable, Iterator, Sequence

import av
import cv2
import numpy as np

Source = str | os.PathLike | bytes | bytearray | memoryview

# Everything PyAV (or the OS underneath it) raises for an unreadable file. PyAV's own
# errors all derive from `av.FFmpegError`, most of them also from OSError or ValueError.
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)

_GRAY_FORMATS = frozenset({"gray", "gray8"})

# Cap on what `read_video` allocates up front from a header's frame count, which may be
# corrupt; longer videos grow the array as they decode.
_MAX_INITIAL_BYTES = 1 << 30

_MAX_INT64 = (1 << 63) - 1


class VideoDecodeError(Exception):
    """Raised for any failure to decode a video, whatever the underlying cause.

    Attributes:
        source: The file that failed, as a path string or ``"<bytes: N bytes>"`` for an
            in-memory file (the bytes themselves are not kept, so the error stays small
            and cheap to send between processes).
        reason: Why it failed, in words.
    """

    def __init__(self, source: str, reason: str):
        super().__init__(f"Cannot decode video {source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self):
        # The default pickling replays `self.args` (the formatted message) into
        # `__init__`, which takes two arguments; data loaders pickle errors across
        # worker processes, so rebuild from the two fields instead.
        return (type(self), (self.source, self.reason))


@dataclasses.dataclass(frozen=True)
class SeekTable:
    """Where decoding a video may start other than at frame 0, recorded by `scan`.

    Attributes:
        keyframes: ``(index, target)`` pairs, ascending: decoding that starts with a
            seek to timestamp ``target`` (in the stream's time base, backwards to a
            keyframe) reaches frame ``index`` first among the frames at or after it,
            with every frame from ``index`` on decoded as in a sequential decode. Only
            keyframes whose seek was checked to land exactly on their packet are listed;
            frame 0 never is (a read from 0 needs no seek).
        timestamps: The presentation timestamp of every frame, in display order, as the
            sequential decode gave them (strictly increasing). A read after a seek checks
            each decoded frame against this list.
    """

    keyframes: tuple[tuple[int, int], ...]
    timestamps: tuple[int, ...]

    def start_for(self, index: int) -> tuple[int, int] | None:
        """The last ``(keyframe index, target)`` at or before frame `index`, if any."""
        position = bisect.bisect_right(self.keyframes, (index, _MAX_INT64)) - 1
        return self.keyframes[position] if position >= 0 else None


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What `probe` learns about a video by decoding it.

    Attributes:
        num_frames: Number of frames that decode (valid indices are ``0..num_frames-1``).
        fps: Average frame rate in frames per second.
        height: Height of the decoded frames in pixels.
        width: Width of the decoded frames in pixels.
        duration: ``num_frames / fps``, in seconds.
        header_frames: The frame count the container declares, 0 where it declares none
            (Matroska, WebM). A truncated file decodes fewer frames than this; so do some
            intact XviD files with packed B-frames (175 declared, 173 decode).
        seek_table: The `SeekTable` when one was asked for and the file allows exact
            seeking (every frame has a timestamp, strictly increasing), else None. Not
            part of equality.
    """

    num_frames: int
    fps: float
    height: int
    width: int
    duration: float
    header_frames: int = 0
    seek_table: SeekTable | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def missing_frames(self) -> int:
        """How many frames the header declares beyond those that decode (0 if none)."""
        return max(0, self.header_frames - self.num_frames)


def probe(source: Source, *, seek_table: bool = False) -> VideoInfo:
    """Counts the decodable frames of a video and reads its frame size and rate.

    The count comes from decoding every frame (without converting any to RGB), because
    header frame counts are missing or wrong for many files (truncated downloads, AVI
    files with packed B-frames, variable-frame-rate files).

    Args:
        source: Path to a video file, or the bytes of an encoded video file.
        seek_table: Also record a `SeekTable` (`VideoInfo.seek_table`) for
            `read_frames`: a few extra demuxer seeks, no extra decoding.

    Returns:
        A `VideoInfo`.

    Raises:
        VideoDecodeError: If the file cannot be opened, has no video stream, has no
            decodable frame, or decoding fails.
    """
    return scan(source, None, seek_table=seek_table)


def scan(
    source: Source,
    on_frame: Callable[[np.ndarray], None] | None,
    *,
    seek_table: bool = False,
) -> VideoInfo:
    """Decodes a video once, handing each frame to `on_frame` as it decodes.

    Memory stays at about one frame whatever the length of the video: this is how a
    dataset builder encodes frames and counts them in a single pass.

    Args:
        source: Path to a video file, or the bytes of an encoded video file.
        on_frame: Called with each frame in display order, a uint8 RGB array of shape
            ``(height, width, 3)`` that is only valid during the call (copy it to keep
            it). None decodes without converting frames to RGB, as `probe` does.
        seek_table: Also record a `SeekTable`, as `probe` does.

    Returns:
        The video's `VideoInfo`, once every frame has been handed over.

    Raises:
        VideoDecodeError: As `probe`. Frames handed over before the error stay handed
            over; callers that keep them must drop them.
    """
    name = _describe(source)
    with _open(source, name) as (container, stream):
        tally = _Tally(name)
        key_packets: list[tuple[int, int]] = []
        key_frames: set[int] = set()

        def note_packet(packet) -> None:
            if packet.is_keyframe and packet.pts is not None and packet.dts is not None:
                key_packets.append((packet.pts, packet.dts))

        buffer = None
        for frame in _decode(container, stream, name, note_packet if seek_table else None):
            tally.add(frame)
            if frame.key_frame and frame.pts is not None:
                key_frames.add(frame.pts)
            if on_frame is not None:
                if buffer is None:
                    buffer = np.empty((frame.height, frame.width, 3), np.uint8)
                on_frame(_frame_to_rgb(frame, buffer))
        info = tally.info(stream)
        if seek_table:
            table = _seek_table(container, stream, tally.timestamps, key_packets, key_frames)
            info = dataclasses.replace(info, seek_table=table)
    return info


def read_frames(
    source: Source,
    indices: Sequence[int] | np.ndarray | None = None,
    *,
    seek_table: SeekTable | None = None,
) -> np.ndarray:
    """Decodes the frames with the given indices of a video as RGB.

    Without a `seek_table` the file is decoded sequentially from the start; with one,
    decoding starts at the last keyframe at or before the smallest wanted index and seeks
    ahead again past any stretch that holds a keyframe and no wanted frame (see the
    module docstring for why that is exact). Either way decoding stops after the largest
    wanted index, and only the wanted frames are converted to RGB, each once even if it
    is asked for repeatedly. Grayscale videos come back with the gray level copied to all
    three channels.

    Args:
        source: Path to a video file, or the bytes of an encoded video file.
        indices: 0-based frame indices (display order), in any order, repeats allowed.
            ``None`` reads every frame.
        seek_table: The `SeekTable` recorded for this very file by `scan` or `probe`
            (a dataset stores it beside the file). None decodes from frame 0.

    Returns:
        A uint8 array of shape ``(frames, height, width, channels)`` with ``channels=3``
        (RGB), where ``frames = len(indices)`` and ``result[i]`` is frame ``indices[i]``.
        Empty ``indices`` give shape ``(0, height, width, 3)``.

    Raises:
        ValueError: If `indices` is not a 1-D sequence of integers.
        VideoDecodeError: If decoding fails, the file has no decodable frame, or an
            index is negative or not below the number of decodable frames.
    """
    wanted = _check_indices(indices)
    if wanted is None:
        frames, _ = read_video(source)
        return frames

    name = _describe(source)
    if (
        seek_table is not None
        and seek_table.keyframes
        and wanted.size
        and int(wanted.min()) >= 0
        and int(wanted.max()) < len(seek_table.timestamps)
    ):
        frames = _read_after_seek(source, name, wanted, seek_table)
        if frames is not None:
            return frames
    return _read_sequentially(source, name, wanted)


def read_video(source: Source) -> tuple[np.ndarray, VideoInfo]:
    """Decodes every frame of a video as RGB, together with its `VideoInfo`.

    One decoding pass gives both, so callers that need the whole clip do not decode the
    file twice as ``probe`` + ``read_frames`` would. It holds the whole video in memory;
    `scan` hands frames over one at a time instead.

    Args:
        source: Path to a video file, or the bytes of an encoded video file.

    Returns:
        ``(frames, info)``: a uint8 RGB array of shape ``(frames, height, width,
        channels)`` with ``frames = info.num_frames`` and ``channels=3``, and the
        `VideoInfo`.

    Raises:
        VideoDecodeError: If decoding fails or the file has no decodable frame.
    """
    name = _describe(source)
    with _open(source, name) as (container, stream):
        tally = _Tally(name)
        frames = None
        for frame in _decode(container, stream, name):
            index = tally.count
            tally.add(frame)
            if frames is None:
                # Decode straight into one array rather than stacking per-frame arrays
                # (a second full copy). The header count is only a hint for its size.
                frame_bytes = frame.height * frame.width * 3
                capacity = max(16, min(stream.frames, _MAX_INITIAL_BYTES // frame_bytes))
                frames = np.empty((capacity, frame.height, frame.width, 3), dtype=np.uint8)
            elif index == len(frames):
                frames = np.concatenate([frames, np.empty_like(frames)])
            _frame_to_rgb(frame, frames[index])
        info = tally.info(stream)
    if len(frames) > info.num_frames:
        frames = frames[: info.num_frames].copy()  # Give back the unused tail.
    return frames, info


class _Slots:
    """Where each decoded frame goes in the output, so that repeats convert once."""

    def __init__(self, wanted: np.ndarray):
        self.size = len(wanted)
        self.slots: dict[int, list[int]] = {}
        for slot, index in enumerate(wanted.tolist()):
            self.slots.setdefault(index, []).append(slot)
        self.out: np.ndarray | None = None

    def put(self, index: int, frame: av.VideoFrame) -> None:
        if self.out is None:
            self.out = np.empty((self.size, frame.height, frame.width, 3), dtype=np.uint8)
        frame_slots = self.slots.get(index)
        if frame_slots is not None:
            first = frame_slots[0]
            _frame_to_rgb(frame, self.out[first])
            for slot in frame_slots[1:]:
                self.out[slot] = self.out[first]


def _read_sequentially(source: Source, name: str, wanted: np.ndarray) -> np.ndarray:
    slots = _Slots(wanted)
    # A negative index is an error, but the message names the decodable count, so keep
    # decoding to the end to learn it. Empty `indices` still decode frame 0: the output
    # shape needs the frame size, and a file with no decodable frame must still fail.
    has_negative = wanted.size > 0 and int(wanted.min()) < 0
    last = int(wanted.max()) if wanted.size and not has_negative else 0

    with _open(source, name) as (container, stream):
        tally = _Tally(name)
        for frame in _decode(container, stream, name):
            index = tally.count
            tally.add(frame)
            slots.put(index, frame)
            if index >= last and not has_negative:
                break
        count = tally.count
        if count == 0:
            raise VideoDecodeError(name, "the file has no decodable video frame")

    bad = [i for i in wanted.tolist() if i < 0 or i >= count]
    if bad:
        raise VideoDecodeError(
            name,
            f"frame index {bad[0]} is out of range: the video has {count} decodable "
            f"frames (valid indices 0..{count - 1})",
        )
    return slots.out


def _read_after_seek(
    source: Source, name: str, wanted: np.ndarray, table: SeekTable
) -> np.ndarray | None:
    """Reads `wanted` by seeking; None where that is not exact.

    Decoding starts at the last keyframe at or before the smallest wanted index (at frame
    0, without a seek, if there is none), and seeks again whenever the next wanted frame
    lies past a keyframe beyond the frames decoded so far: sparse patterns such as TSN's
    one frame per segment skip the frames between. After each seek, the frame at the
    keyframe's index is recognised as the first frame the decoder flags as a keyframe
    (the frames shown before it in an open GOP are B-frames), and it and every later
    frame must carry the timestamp the table gives its index.

    None sends the caller back to the sequential read, which also gives the canonical
    error for a file that fails: a damaged file never fails differently for a seek.
    """
    timestamps = table.timestamps
    order = sorted(set(wanted.tolist()))
    slots = _Slots(wanted)
    position = -1  # index of the next frame the current run of decoding gives
    frames = None
    try:
        with _open(source, name) as (container, stream):
            for index in order:
                if index < position:
                    continue  # decoded already
                start = table.start_for(index)
                if frames is None and start is None:
                    # Before the first keyframe: decode from the start, no seek.
                    frames = _decode(container, stream, name)
                    position, synced = 0, True
                elif start is not None and (frames is None or start[0] > position):
                    keyframe, target = start
                    container.seek(target, stream=stream, backward=True, any_frame=False)
                    frames = _decode(container, stream, name)
                    position, synced = keyframe, False
                for frame in frames:
                    if not synced:
                        if not frame.key_frame:
                            continue  # Shown before the keyframe (leading B-frames).
                        # The first keyframe out must be ours: this catches a seek that
                        # landed elsewhere, and timestamps that do not match this
                        # decoder's (a table from another file or FFmpeg convention).
                        if frame.pts != timestamps[position]:
                            return None
                        synced = True
                    elif frame.pts != timestamps[position]:
                        return None  # A frame missing or extra after the seek.
                    slots.put(position, frame)
                    position += 1
                    if position > index:
                        break
                else:
                    return None  # The stream ended early.
    except (VideoDecodeError, *_AV_ERRORS):
        return None
    return slots.out


def _seek_table(
    container,
    stream,
    timestamps: list[int | None],
    key_packets: list[tuple[int, int]],
    key_frames: set[int],
) -> SeekTable | None:
    """Checks each keyframe's seek; None if frames cannot be told apart by timestamp."""
    if any(t is None for t in timestamps) or any(
        b <= a for a, b in zip(timestamps, timestamps[1:], strict=False)
    ):
        return None
    index_of = {pts: index for index, pts in enumerate(timestamps)}
    # The container and the decoder must both call it a keyframe: an AVI index can flag
    # frames the decoder does not start from, and the decoder flags IDR pictures and
    # recovery points that containers may not mark.
    candidates = sorted(
        (pts, dts) for pts, dts in key_packets if index_of.get(pts) and pts in key_frames
    )
    keyframes = []
    for position, (pts, dts) in enumerate(candidates):
        end = candidates[position + 1][0] if position + 1 < len(candidates) else None
        end = timestamps[-1] + 1 if end is None else end
        target = _seek_target(container, stream, pts, dts, end)
        if target is not None:
            keyframes.append((index_of[pts], target))
    return SeekTable(keyframes=tuple(keyframes), timestamps=tuple(timestamps))


def _seek_target(container, stream, pts: int, dts: int, end: int) -> int | None:
    """A timestamp whose backward seek lands exactly on the keyframe packet `pts`.

    Demuxers map a seek target to a packet in their own ways (AVI by index entries in
    decode time, Matroska by cue points in presentation time, MP4 by decode time shifted
    by its edit list), so rather than trusting one rule this tries the packet's decode
    and presentation times and then searches (pts, end) for a target that lands there.
    A seek is one index lookup and one packet read, no decoding.
    """

    def landing(target: int) -> int | None:
        try:
            container.seek(target, stream=stream, backward=True, any_frame=False)
            packet = next(iter(container.demux(stream)))
        except (StopIteration, *_AV_ERRORS):
            return None
        return packet.pts if packet.is_keyframe else None

    for target in (dts, pts):
        if landing(target) == pts:
            return target
    low, high = pts + 1, end
    while low < high:
        middle = (low + high) // 2
        landed = landing(middle)
        if landed is None:
            return None
        if landed == pts:
            return middle
        if landed < pts:
            low = middle + 1
        else:
            high = middle
    return None


def _describe(source: Source) -> str:
    """Names a source for error messages, never echoing the bytes of a file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<bytes: {memoryview(source).nbytes} bytes>"
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    raise ValueError(
        "`source` must be a path (str or os.PathLike) or the bytes of an encoded video "
        f"(bytes, bytearray or memoryview). Received: source={source!r} of type "
        f"{type(source).__name__}"
    )


@contextlib.contextmanager
def _open(source: Source, name: str):
    """Opens `source` and yields ``(container, video_stream)``, closing it afterwards."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        file = io.BytesIO(source)
    else:
        file = os.fsdecode(source)
    try:
        container = av.open(file, mode="r")
    except _AV_ERRORS as err:
        raise VideoDecodeError(name, f"cannot open the file ({_reason(err)})") from err
    try:
        yield container, _pick_video_stream(container, name)
    finally:
        container.close()


def _pick_video_stream(container, name: str):
    videos = list(container.streams.video)
    if not videos:
        raise VideoDecodeError(name, "the file has no video stream")
    # Skip cover art ("attached picture" streams in mp4/mkv): it is one still image.
    attached_pic = int(av.stream.Disposition.attached_pic)
    moving = [s for s in videos if not int(s.disposition) & attached_pic]
    return (moving or videos)[0]


def _decode(container, stream, name: str, on_packet=None) -> Iterator[av.VideoFrame]:
    """Yields decoded frames, turning any decoder failure into `VideoDecodeError`.

    The frames end before the first one the decoder flags as corrupt. FFmpeg hands out a
    concealed picture for a frame whose data is cut or damaged: in a truncated XviD file
    the last "frame" was a copy of the one before it. Counting it would make that index
    a wrong frame, so the decodable prefix stops there.

    `on_packet`, if given, sees each demuxed packet before it is decoded. This is what
    ``container.decode(stream)`` does, with the packets in view.
    """
    frames = _frames_of_packets(container, stream, on_packet)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except _AV_ERRORS as err:
            raise VideoDecodeError(name, f"decoding failed ({_reason(err)})") from err
        if frame.is_corrupt:
            return
        yield frame


def _frames_of_packets(container, stream, on_packet) -> Iterator[av.VideoFrame]:
    for packet in container.demux(stream):
        if on_packet is not None:
            on_packet(packet)
        yield from packet.decode()


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


class _Tally:
    """Counts decoded frames, checks they keep one size, and notes their timestamps."""

    def __init__(self, name: str):
        self.name = name
        self.count = 0
        self.size: tuple[int, int] | None = None
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.timestamps_ok = True
        self.timestamps: list[int | None] = []

    def add(self, frame: av.VideoFrame) -> None:
        size = (frame.height, frame.width)
        if self.size is None:
            self.size = size
        elif size != self.size:
            # Clips are stacked into one array, so a mid-stream resolution change cannot
            # be represented; report it rather than silently resizing.
            raise VideoDecodeError(
                self.name,
                f"the frame size changes mid-stream from {self.size[1]}x{self.size[0]} "
                f"to {size[1]}x{size[0]}",
            )
        time = frame.time
        if time is None or (self.last_time is not None and time <= self.last_time):
            self.timestamps_ok = False
        elif self.first_time is None:
            self.first_time = time
        self.last_time = time
        self.timestamps.append(frame.pts)
        self.count += 1

    def info(self, stream) -> VideoInfo:
        if self.count == 0:
            raise VideoDecodeError(self.name, "the file has no decodable video frame")
        # The container's average rate is the rate users know a file by (29.97, not a
        # value perturbed by millisecond timestamp rounding), but some containers just
        # repeat the nominal codec rate for variable-frame-rate content (Matroska
        # does). So trust it only when the decoded timestamps roughly agree.
        header = stream.average_rate or stream.guessed_rate or stream.base_rate
        header_fps = float(header) if header else 0.0
        measured_fps = 0.0
        if self.timestamps_ok and self.count > 1 and self.last_time > self.first_time:
            measured_fps = (self.count - 1) / (self.last_time - self.first_time)
        if measured_fps > 0 and not abs(header_fps - measured_fps) <= 0.01 * measured_fps:
            fps = measured_fps
        else:
            fps = header_fps
        if not fps > 0:
            raise VideoDecodeError(self.name, "cannot determine the frame rate")
        height, width = self.size
        return VideoInfo(
            num_frames=self.count,
            fps=fps,
            height=height,
            width=width,
            duration=self.count / fps,
            header_frames=max(0, stream.frames),
        )


def _check_indices(indices) -> np.ndarray | None:
    if indices is None:
        return None
    try:
        array = np.asarray(indices)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"`indices` must be a 1-D sequence of integers or None. Received: indices={indices!r}"
        ) from err
    valid_dtype = array.size == 0 or (
        np.issubdtype(array.dtype, np.integer) and array.dtype != np.bool_
    )
    if array.ndim != 1 or not valid_dtype:
        raise ValueError(
            f"`indices` must be a 1-D sequence of integers or None. Received: indices={indices!r}"
        )
    return array.astype(np.int64, copy=False)


def _frame_to_rgb(frame: av.VideoFrame, out: np.ndarray | None = None) -> np.ndarray:
    """Converts a decoded frame to a uint8 RGB array of shape ``(height, width, 3)``.

    FFmpeg's swscale (``to_ndarray(format="rgb24")``) handles every pixel format and
    honours the colorspace and range the file declares (BT.601/709, limited/full). For
    YUV 4:2:0 it was also as fast as or faster than OpenCV's ``cvtColor`` here (PyAV
    18), so it is the default path. 8-bit gray is the exception: swscale is ~9x slower
    than OpenCV at replicating one channel, and there is no colorimetry to get wrong.
    Writes into `out` when given.
    """
    if frame.format.name in _GRAY_FORMATS:
        gray = _plane_array(frame.planes[0], frame.height, frame.width)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB, dst=out)
    rgb = frame.to_ndarray(format="rgb24")
    if out is None:
        return rgb
    out[...] = rgb
    return out


def _plane_array(plane, height: int, width: int) -> np.ndarray:
    """A ``(height, width)`` view of an 8-bit plane, dropping FFmpeg's row padding."""
    data = np.frombuffer(plane, dtype=np.uint8)
    return data[: height * plane.line_size].reshape(height, plane.line_size)[:, :width]
