"""Video file input and output, without TensorFlow.

Decoding is frame-exact: frame ``i`` is the ``i``-th frame the decoder outputs (display
order), and the frame count is the number of frames that actually decode. Readers decode
sequentially from the start of the file, except `read_frames` given the `SeekTable` that
`probe`/`scan` recorded for the file, which starts at a keyframe and checks every frame
it decodes against the sequential decode (falling back to it on any doubt). All decoded
frames come back as uint8 RGB arrays of shape ``(frames, height, width, channels)``.

>>> info = kvideo.io.probe("clip.avi")              # VideoInfo(num_frames=..., fps=...)
>>> clip = kvideo.io.read_frames("clip.avi", [0, 8, 16])   # (3, height, width, 3)
>>> frames, info = kvideo.io.read_video("clip.avi")  # every frame, one decode pass
>>> info = kvideo.io.scan("clip.avi", on_frame)     # one pass, one frame in memory
>>> info = kvideo.io.probe("clip.avi", seek_table=True)
>>> clip = kvideo.io.read_frames("clip.avi", [280, 290], seek_table=info.seek_table)

Errors. A missing, empty, unreadable or corrupt file, a file with no video stream or no
decodable frame, and a frame index out of range raise `VideoDecodeError`, whose message
names the file. A *truncated* or partly damaged file is different: like ffmpeg, the
readers return the frames that decode before the damage (an AVI cut before its index at
the end still decodes its first frames) and count only those. Unlike ffmpeg they stop at
the first frame the decoder flags as corrupt, rather than hand out its concealed
stand-in (often a copy of the previous frame). `VideoInfo.header_frames` keeps what the
container declared, so callers can flag a file that decodes fewer frames than that
(`VideoInfo.missing_frames`; kvideo's dataset builders report such files). A source is a
path or the bytes of an encoded file held in memory.

For long videos, `open_video` streams frames one at a time with their times and
`VideoWriter` writes frame by frame (`stream.py`), so memory stays flat in video length.

FFmpeg's own log output is left as PyAV configures it (silent by default); call
``av.logging.set_level(av.logging.VERBOSE)`` to see it when debugging a file.
"""

from kvideo.io.decode import (
    SeekTable,
    VideoDecodeError,
    VideoInfo,
    probe,
    read_frames,
    read_video,
    scan,
)
from kvideo.io.encode import write_video
from kvideo.io.stream import (
    FrameStream,
    StreamInfo,
    VideoWriter,
    declared_duration,
    open_video,
    to_rgb,
)

__all__ = [
    "FrameStream",
    "SeekTable",
    "StreamInfo",
    "VideoDecodeError",
    "VideoInfo",
    "VideoWriter",
    "declared_duration",
    "open_video",
    "probe",
    "read_frames",
    "read_video",
    "scan",
    "to_rgb",
    "write_video",
]
