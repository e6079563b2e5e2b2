"""Streaming video input and output: one frame at a time, never the whole video.

`read_frames` and `read_video` return whole clips or whole videos as one array, which is
what datasets want and what a two-hour video must not do. This module decodes with the
same helpers (sequentially, frame-exact, every failure a `VideoDecodeError`) but hands out
frames one by one, with their time (`open_video`), and writes videos frame by frame
(`VideoWriter`). Detection in long videos (`kvideo.detection`) is built on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fractions
import os
from collections.abc import Iterator

import av
import numpy as np

from kvideo.io.decode import VideoDecodeError, _decode, _describe, _frame_to_rgb, _open

# The shortfall against the container's declared duration that counts as truncation:
# headers are often off by a frame or two (packed B-frames), a cut file by much more.
_TRUNCATION_SECONDS = 1.0
_TRUNCATION_FRACTION = 0.02


@dataclasses.dataclass
class StreamInfo:
    """What the container header says, before any frame is decoded.

    Attributes:
        name: the file, for messages.
        fps: the stream's average frame rate (frames per second), > 0.
        declared_duration: duration the header states in seconds, or None.
        declared_frames: frame count the header states, or 0 when unknown.
    """

    name: str
    fps: float
    declared_duration: float | None
    declared_frames: int


class FrameStream:
    """The decoded frames of an open video, one at a time. Made by `open_video`."""

    def __init__(self, info: StreamInfo, container, stream):
        self.info = info
        self._container = container
        self._stream = stream
        self.num_frames = 0
        self.end_time = 0.0

    def frames(self) -> Iterator[tuple[av.VideoFrame, float]]:
        """Yields `(frame, time)`: each decoded frame with its start time in seconds.

        Times come from the frame timestamps, counted from the first frame, so
        variable-frame-rate files get their real times; a missing or non-increasing
        timestamp is replaced by the previous time plus one frame at `info.fps`. After
        the loop (or an error) `num_frames` and `end_time` (the last frame's time plus
        one frame) describe what was decoded.

        Raises:
            VideoDecodeError: when decoding fails; the frames before stay yielded.
        """
        first = None
        previous = None
        step = 1.0 / self.info.fps
        size = None
        for frame in _decode(self._container, self._stream, self.info.name):
            if size is None:
                size = (frame.height, frame.width)
            elif (frame.height, frame.width) != size:
                # Windows stack frames into one array, as kvideo.io does.
                raise VideoDecodeError(
                    self.info.name,
                    f"the frame size changes mid-stream from {size[1]}x{size[0]} to "
                    f"{frame.width}x{frame.height}",
                )
            stamp = frame.time
            if stamp is not None and first is None:
                first = stamp
            time = None if stamp is None else stamp - first
            if time is None or (previous is not None and time <= previous):
                time = 0.0 if previous is None else previous + step
            previous = time
            self.num_frames += 1
            self.end_time = time + step
            yield frame, time

    def truncation(self) -> str | None:
        """Why the decoded frames fall short of what the header declares, or None.

        The header's frame count is the reference where there is one (a truncated AVI
        still states its full count, while its duration is then estimated from the
        bitrate), else its duration (Matroska).
        """
        info = self.info
        if info.declared_frames > 0:
            declared = info.declared_frames / info.fps
        elif info.declared_duration is not None:
            declared = info.declared_duration
        else:
            return None
        if self.end_time < declared - max(_TRUNCATION_SECONDS, _TRUNCATION_FRACTION * declared):
            return (
                f"decoding ended at {self.end_time:.2f} s ({self.num_frames} frames) but the "
                f"file declares {declared:.2f} s: it is truncated or damaged"
            )
        return None


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as uint8 RGB `(height, width, 3)` (gray copied to 3 channels)."""
    return _frame_to_rgb(frame)


@contextlib.contextmanager
def open_video(source: str | os.PathLike | bytes) -> Iterator[FrameStream]:
    """Opens a video for streaming decoding; closes it on exit.

    Raises:
        VideoDecodeError: if the file cannot be opened or has no video stream.
    """
    name = _describe(source)
    with _open(source, name) as (container, stream):
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if not fps > 0:
            raise VideoDecodeError(name, "the stream declares no frame rate")
        if stream.duration is not None and stream.time_base is not None:
            declared = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            declared = container.duration / av.time_base
        else:
            declared = None
        info = StreamInfo(name, fps, declared if declared and declared > 0 else None, stream.frames)
        yield FrameStream(info, container, stream)


def declared_duration(source: str | os.PathLike) -> float | None:
    """The duration a video's header declares, in seconds (for progress estimates).

    None when the file cannot be opened or states no duration; nothing is decoded.
    """
    try:
        with open_video(source) as video:
            info = video.info
    except VideoDecodeError:
        return None
    if info.declared_duration is not None:
        return info.declared_duration
    return info.declared_frames / info.fps if info.declared_frames else None


class VideoWriter:
    """Encodes RGB frames one at a time into a video file (PyAV), at a constant rate.

    >>> with VideoWriter("out.mp4", fps=25.0, height=240, width=320) as writer:
    ...     for frame in frames:        # uint8 (240, 320, 3)
    ...         writer.write(frame)

    Args:
        path: the file to write; the container is guessed from its extension.
        fps: frames per second.
        height, width: frame size in pixels. With the default yuv420p pixel format
            both must be even.
        codec: FFmpeg encoder name.
        options: encoder options, e.g. ``{"crf": "23"}``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        height: int,
        width: int,
        codec: str = "libx264",
        options: dict[str, str] | None = None,
        pix_fmt: str = "yuv420p",
    ):
        if not fps > 0:
            raise ValueError(f"`fps` must be positive. Received: fps={fps!r}")
        if pix_fmt == "yuv420p" and (height % 2 or width % 2):
            raise ValueError(
                f"yuv420p needs an even frame size. Received: height={height}, width={width}"
            )
        self.shape = (height, width, 3)
        rate = fractions.Fraction(fps).limit_denominator(100_000)
        self._container = av.open(os.fspath(path), mode="w")
        try:
            self._stream = self._container.add_stream(codec, rate=rate, options=options or {})
            self._stream.height, self._stream.width = height, width
            self._stream.pix_fmt = pix_fmt
        except BaseException:
            self._container.close()
            raise
        self.count = 0

    def write(self, frame: np.ndarray) -> None:
        """Encodes one uint8 RGB frame of shape `(height, width, 3)`."""
        if frame.shape != self.shape or frame.dtype != np.uint8:
            raise ValueError(
                f"Frames must be uint8 {self.shape}. Received: {frame.dtype} {frame.shape}"
            )
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = self.count
        self._container.mux(self._stream.encode(video_frame))
        self.count += 1

    def close(self) -> None:
        """Flushes the encoder and closes the file."""
        if self._container is None:
            return
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        elif self._container is not None:
            # Failing already: close without flushing, which would fail again and hide
            # the first error.
            try:
                self._container.close()
            except av.FFmpegError:
                pass
            self._container = None
