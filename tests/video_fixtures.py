"""Helpers that generate small test videos whose frames carry their own index.

Each frame shows its index as a row of big black/white blocks (one block per bit),
above a second row holding the complemented bits, above fixed red/green/blue bars.
The blocks are large enough to survive lossy coding, the complement row lets a
decoder tell a real pattern from a corrupt or blended frame, and neighbouring indices
always differ in at least one block, so a reader returning the neighbouring frame is
caught. The colour bars let tests check channel order (RGB, not BGR).
"""

from __future__ import annotations

import fractions
import os

import numpy as np

from kvideo.io import write_video

NUM_BITS = 8  # Up to 256 distinct frame indices.

# Colours of the bottom bars, left to right.
BAR_COLORS = ((220, 30, 30), (30, 220, 30), (30, 30, 220))

# Formats the readers must be exact on: (file suffix, write_video keyword arguments).
FORMATS = {
    # XviD / DivX style MPEG-4 Part 2 in AVI, with B-frames.
    "xvid_avi": (".avi", {"codec": "mpeg4", "codec_tag": "XVID", "max_b_frames": 2}),
    "divx_avi": (".avi", {"codec": "mpeg4", "codec_tag": "DX50", "max_b_frames": 2}),
    # H.264 in MP4 with B-frames (frames are stored out of presentation order).
    "h264_mp4": (".mp4", {"codec": "libx264", "max_b_frames": 3}),
    # Lossless grayscale: frames come back with the gray level in all three channels.
    "gray_ffv1_mkv": (".mkv", {"codec": "ffv1", "pix_fmt": "gray"}),
    # Full-range JPEG colour (yuvj420p), which takes the swscale conversion path.
    "mjpeg_avi": (".avi", {"codec": "mjpeg"}),
    "vp8_webm": (".webm", {"codec": "libvpx"}),
}

# Formats written with irregular timestamps (variable frame rate); see `vfr_pts`.
VFR_FORMATS = {
    "vfr_h264_mp4": (".mp4", {"codec": "libx264", "max_b_frames": 2}),
    "vfr_mpeg4_mkv": (".mkv", {"codec": "mpeg4", "max_b_frames": 2}),
}

VFR_TIME_BASE = fractions.Fraction(1, 1000)

# Formats with a keyframe every few frames, for the seek tests: B-frames around every
# keyframe, closed and open GOPs, constant and variable frame rates. Names starting with
# "vfr_" get `vfr_pts` timestamps.
SEEK_FORMATS = {
    "xvid_gop7_avi": (
        ".avi",
        {"codec": "mpeg4", "codec_tag": "XVID", "max_b_frames": 3, "options": {"g": "7"}},
    ),
    "divx_gop12_avi": (".avi", {"codec": "mpeg4", "codec_tag": "DX50", "max_b_frames": 2}),
    "h264_gop10_mp4": (
        ".mp4",
        {"codec": "libx264", "max_b_frames": 3, "options": {"g": "10", "keyint_min": "10"}},
    ),
    # Open GOPs: the B-frames before each keyframe refer to the GOP before it.
    "h264_open_gop_mp4": (
        ".mp4",
        {
            "codec": "libx264",
            "max_b_frames": 3,
            "options": {"x264-params": "keyint=10:min-keyint=10:open-gop=1:scenecut=0"},
        },
    ),
    "h264_open_gop_mkv": (
        ".mkv",
        {
            "codec": "libx264",
            "max_b_frames": 3,
            "options": {"x264-params": "keyint=10:min-keyint=10:open-gop=1:scenecut=0"},
        },
    ),
    "vfr_h264_gop9_mp4": (".mp4", {"codec": "libx264", "max_b_frames": 2, "options": {"g": "9"}}),
    "vfr_mpeg4_gop9_mkv": (".mkv", {"codec": "mpeg4", "max_b_frames": 2, "options": {"g": "9"}}),
}


def encode_index_pattern(index: int, height: int, width: int) -> np.ndarray:
    """Returns a uint8 RGB frame of shape ``(height, width, 3)`` showing `index`."""
    if not 0 <= index < 2**NUM_BITS:
        raise ValueError(f"index must be in [0, {2**NUM_BITS}). Received: index={index}")
    if width < 4 * NUM_BITS or height < 16:
        raise ValueError(f"frame too small for the pattern. Received: {height=}, {width=}")
    frame = np.empty((height, width, 3), dtype=np.uint8)
    bits = _bits(index)
    columns = _block_columns(width)
    top, middle = _band_rows(height)
    for bit, (start, stop) in zip(bits, columns, strict=True):
        frame[:top, start:stop] = 255 if bit else 0
        frame[top:middle, start:stop] = 0 if bit else 255
    for color, (start, stop) in zip(BAR_COLORS, _thirds(width), strict=True):
        frame[middle:, start:stop] = color
    return frame


def decode_index_pattern(frame: np.ndarray) -> int:
    """Reads the index shown by `encode_index_pattern` from a (decoded) frame.

    Args:
        frame: ``(height, width, 3)`` RGB or ``(height, width)`` gray uint8 frame.

    Raises:
        ValueError: If the frame does not show a clean pattern (a block is neither
            clearly black nor clearly white, or a bit disagrees with its complement).
    """
    gray = frame.astype(np.float32)
    if gray.ndim == 3:
        gray = gray.mean(axis=-1)
    height, width = gray.shape
    top, middle = _band_rows(height)
    # Sample the centre of each block: edges blur under lossy coding.
    bit_rows = slice(top // 4, 3 * top // 4)
    complement_rows = slice(top + (middle - top) // 4, middle - (middle - top) // 4)
    index = 0
    for position, (start, stop) in enumerate(_block_columns(width)):
        margin = (stop - start) // 4
        columns = slice(start + margin, stop - margin)
        bit = _level(gray[bit_rows, columns])
        complement = _level(gray[complement_rows, columns])
        if bit is None or complement is None or bit == complement:
            raise ValueError(f"no clean index pattern in block {position}")
        index |= int(bit) << (NUM_BITS - 1 - position)
    return index


def index_frames(num_frames: int, height: int, width: int) -> np.ndarray:
    """Frames ``0..num_frames-1``: uint8 array ``(frames, height, width, 3)``."""
    return np.stack([encode_index_pattern(i, height, width) for i in range(num_frames)])


def vfr_pts(num_frames: int, seed: int = 0) -> np.ndarray:
    """Irregular, strictly increasing timestamps in `VFR_TIME_BASE` (ms) units."""
    steps = np.random.default_rng(seed).choice([20, 40, 33, 100, 67], size=num_frames)
    return np.concatenate([[0], np.cumsum(steps[1:])]).astype(np.int64)


def write_index_video(
    path: str | os.PathLike | None,
    num_frames: int,
    height: int,
    width: int,
    *,
    fps: float = 25.0,
    gray: bool = False,
    **write_kwargs,
) -> bytes | None:
    """Writes an index-pattern video with `write_video`; returns its bytes if path=None."""
    frames = index_frames(num_frames, height, width)
    if gray:
        frames = frames[..., 0]  # The blocks are black/white, so any channel will do.
    return write_video(path, frames, fps, **write_kwargs)


def write_format(path: str | os.PathLike, name: str, num_frames: int, height: int, width: int):
    """Writes the video of `FORMATS`, `VFR_FORMATS` or `SEEK_FORMATS` entry `name`."""
    _, kwargs = {**FORMATS, **VFR_FORMATS, **SEEK_FORMATS}[name]
    if name.startswith("vfr_"):
        kwargs = dict(kwargs, pts=vfr_pts(num_frames), time_base=VFR_TIME_BASE)
    gray = kwargs.get("pix_fmt") == "gray"
    write_index_video(path, num_frames, height, width, gray=gray, **kwargs)


def _bits(index: int) -> list[bool]:
    return [bool(index >> (NUM_BITS - 1 - b) & 1) for b in range(NUM_BITS)]


def _block_columns(width: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, width, NUM_BITS + 1).astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _thirds(width: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, width, 4).astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _band_rows(height: int) -> tuple[int, int]:
    # Bits in the top half, complement in the next quarter, colour bars in the rest.
    return height // 2, 3 * height // 4


def _level(region: np.ndarray) -> bool | None:
    """True for a white block, False for black, None if it is neither."""
    mean = float(region.mean())
    if mean > 192:
        return True
    if mean < 64:
        return False
    return None
