"""Video encoding with PyAV: writes RGB or grayscale frame arrays to a video file."""

from __future__ import annotations

import fractions
import io
import numbers
import os
from collections.abc import Mapping, Sequence

import av
import numpy as np


def write_video(
    path: str | os.PathLike | None,
    frames: np.ndarray,
    fps: float,
    codec: str = "libx264",
    *,
    pix_fmt: str | None = None,
    container_format: str | None = None,
    options: Mapping[str, str] | None = None,
    codec_tag: str | None = None,
    max_b_frames: int | None = None,
    pts: Sequence[int] | np.ndarray | None = None,
    time_base: fractions.Fraction | None = None,
) -> bytes | None:
    """Encodes frames into a video file, or into bytes in memory.

    Args:
        path: File to write, or ``None`` to return the encoded file as bytes (then
            `container_format` is required, as there is no file name to guess it from).
        frames: uint8 array of shape ``(frames, height, width, channels)`` with
            ``channels=3`` (RGB), or ``(frames, height, width)`` for grayscale.
        fps: Frame rate in frames per second (the nominal rate when `pts` is given).
        codec: FFmpeg encoder name, e.g. ``"libx264"``, ``"mpeg4"``, ``"mjpeg"``,
            ``"ffv1"``, ``"libvpx"``.
        pix_fmt: Pixel format to encode in. Default: ``"gray"`` for grayscale frames
            when the encoder supports it, otherwise the encoder's preferred format
            (``"yuv420p"`` for libx264, mpeg4, ffv1 and libvpx).
        container_format: FFmpeg muxer name (``"mp4"``, ``"avi"``, ``"matroska"``...).
            Default: guessed from the file extension.
        options: Encoder options, e.g. ``{"crf": "18"}`` for libx264.
        codec_tag: FourCC to store, e.g. ``"XVID"`` or ``"DX50"`` to write
            XviD/DivX-style AVI files with the ``"mpeg4"`` encoder.
        max_b_frames: Maximum number of consecutive B-frames (encoder default if None).
        pts: Presentation timestamp of each frame in `time_base` units, strictly
            increasing; irregular steps give a variable-frame-rate file. Default: frame
            ``i`` is shown at ``i / fps`` seconds.
        time_base: Unit of `pts` in seconds. Default: ``1 / fps``.

    Returns:
        The encoded file as bytes if `path` is None, else None.

    Raises:
        ValueError: If an argument is invalid.
    """
    frames = _check_frames(frames)
    num_frames, height, width = frames.shape[:3]
    gray = frames.ndim == 3
    if not isinstance(fps, numbers.Real) or isinstance(fps, bool) or not fps > 0:
        raise ValueError(f"`fps` must be a positive number. Received: fps={fps!r}")
    if path is None and container_format is None:
        raise ValueError(
            "`container_format` is required when writing to memory (path=None), e.g. "
            f'"mp4", "avi" or "matroska". Received: container_format={container_format!r}'
        )
    try:
        encoder = av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError) as err:
        raise ValueError(f"Unknown video encoder. Received: codec={codec!r}") from err
    rate = fractions.Fraction(fps).limit_denominator(100_000)
    if time_base is None:
        time_base = 1 / rate
    time_base = fractions.Fraction(time_base)
    if pts is not None:
        pts = np.asarray(pts)
        if (
            pts.shape != (num_frames,)
            or not np.issubdtype(pts.dtype, np.integer)
            or np.any(np.diff(pts) <= 0)
        ):
            raise ValueError(
                "`pts` must hold one strictly increasing integer timestamp per frame "
                f"({num_frames} frames). Received: pts={pts!r}"
            )
    if pix_fmt is None:
        pix_fmt = _default_pix_fmt(encoder, gray)

    buffer = io.BytesIO() if path is None else None
    target = buffer if path is None else os.fsdecode(path)
    with av.open(target, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, options=dict(options or {}))
        stream.width = width
        stream.height = height
        stream.pix_fmt = pix_fmt
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if codec_tag is not None:
            stream.codec_context.codec_tag = codec_tag
        if max_b_frames is not None:
            stream.codec_context.max_b_frames = max_b_frames
        input_format = "gray" if gray else "rgb24"
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(frames[i], format=input_format)
            # The encoder converts to `pix_fmt` itself; timestamps are in `time_base`.
            frame.pts = int(pts[i]) if pts is not None else _default_pts(i, rate, time_base)
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # Flush delayed (B-)frames.
    return buffer.getvalue() if buffer is not None else None


def _check_frames(frames) -> np.ndarray:
    frames = np.asarray(frames)
    valid_shape = (frames.ndim == 4 and frames.shape[-1] == 3) or frames.ndim == 3
    if frames.dtype != np.uint8 or not valid_shape or frames.shape[0] == 0:
        raise ValueError(
            "`frames` must be a non-empty uint8 array of shape (frames, height, width, 3) "
            "(RGB) or (frames, height, width) (grayscale). Received: frames with "
            f"shape={frames.shape} and dtype={frames.dtype}"
        )
    return frames


def _default_pix_fmt(encoder, gray: bool) -> str:
    # An encoder lists its preferred format first (e.g. yuvj420p for mjpeg, which only
    # accepts yuv420p in "unofficial" mode), so that is the safe colour default.
    supported = [f.name for f in encoder.video_formats or ()]
    if gray and "gray" in supported:
        return "gray"
    return supported[0] if supported else "yuv420p"


def _default_pts(index: int, rate: fractions.Fraction, time_base: fractions.Fraction) -> int:
    # Frame `index` is shown at index / rate seconds; express that in time_base units.
    return round(index / (rate * time_base))
