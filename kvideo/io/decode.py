"""Frame-exact video decoding with PyAV.

Every reader here decodes *sequentially from the first frame* and never seeks by
timestamp: seeking is where decoders hand back the neighbouring frame on files with
B-frames or a variable frame rate, and a silently wrong frame is the worst possible
failure for a training pipeline. A frame's index is its position, counted from 0, in
the order the decoder outputs frames (display order), and the number of frames of a
file is the number of frames that actually decode, not what the header claims.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from collections.abc import Iterator, Sequence

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
class VideoInfo:
    """What `probe` learns about a video by decoding it.

    Attributes:
        num_frames: Number of frames that decode (valid indices are ``0..num_frames-1``).
        fps: Average frame rate in frames per second.
        height: Height of the decoded frames in pixels.
        width: Width of the decoded frames in pixels.
        duration: ``num_frames / fps``, in seconds.
    """

    num_frames: int
    fps: float
    height: int
    width: int
    duration: float


def probe(source: Source) -> VideoInfo:
    """Counts the decodable frames of a video and reads its frame size and rate.

    The count comes from decoding every frame (without converting any to RGB), because
    header frame counts are missing or wrong for many files (truncated downloads, AVI
    files with packed B-frames, variable-frame-rate files).

    Args:
        source: Path to a video file, or the bytes of an encoded video file.

    Returns:
        A `VideoInfo`.

    Raises:
        VideoDecodeError: If the file cannot be opened, has no video stream, has no
            decodable frame, or decoding fails.
    """
    name = _describe(source)
    with _open(source, name) as (container, stream):
        tally = _Tally(name)
        for frame in _decode(container, stream, name):
            tally.add(frame)
        return tally.info(stream)


def read_frames(source: Source, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Decodes the frames with the given indices of a video as RGB.

    The file is decoded sequentially from the start and decoding stops after the largest
    wanted index, so reading frames near the start of a long file is cheap. Only the
    wanted frames are converted to RGB, each once even if it is asked for repeatedly.
    Grayscale videos come back with the gray level copied to all three channels.

    Args:
        source: Path to a video file, or the bytes of an encoded video file.
        indices: 0-based frame indices (display order), in any order, repeats allowed.
            ``None`` reads every frame.

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
    # Map each wanted index to the output slots that want it, so repeats convert once.
    slots: dict[int, list[int]] = {}
    for slot, index in enumerate(wanted.tolist()):
        slots.setdefault(index, []).append(slot)
    # A negative index is an error, but the message names the decodable count, so keep
    # decoding to the end to learn it. Empty `indices` still decode frame 0: the output
    # shape needs the frame size, and a file with no decodable frame must still fail.
    has_negative = wanted.size > 0 and int(wanted.min()) < 0
    last = int(wanted.max()) if wanted.size and not has_negative else 0

    with _open(source, name) as (container, stream):
        tally = _Tally(name)
        out = None
        for frame in _decode(container, stream, name):
            index = tally.count
            tally.add(frame)
            if out is None:
                out = np.empty((len(wanted), frame.height, frame.width, 3), dtype=np.uint8)
            frame_slots = slots.get(index)
            if frame_slots is not None:
                first = frame_slots[0]
                _frame_to_rgb(frame, out[first])
                for slot in frame_slots[1:]:
                    out[slot] = out[first]
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
    return out


def read_video(source: Source) -> tuple[np.ndarray, VideoInfo]:
    """Decodes every frame of a video as RGB, together with its `VideoInfo`.

    One decoding pass gives both, so callers that need the whole clip (dataset
    builders) do not decode the file twice as ``probe`` + ``read_frames`` would.

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


def _decode(container, stream, name: str) -> Iterator[av.VideoFrame]:
    """Yields decoded frames, turning any decoder failure into `VideoDecodeError`."""
    frames = container.decode(stream)
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except _AV_ERRORS as err:
            raise VideoDecodeError(name, f"decoding failed ({_reason(err)})") from err
        yield frame


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
            num_frames=self.count, fps=fps, height=height, width=width, duration=self.count / fps
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
