"""Video file input and output, without TensorFlow.

Decoding is frame-exact: frames are decoded sequentially from the start of the file
(never by seeking to a timestamp), frame ``i`` is the ``i``-th decoded frame, and the
frame count is the number of frames that actually decode. All decoded frames come
back as uint8 RGB arrays of shape ``(frames, height, width, channels)``.

>>> info = kvideo.io.probe("clip.avi")              # VideoInfo(num_frames=..., fps=...)
>>> clip = kvideo.io.read_frames("clip.avi", [0, 8, 16])   # (3, height, width, 3)
>>> frames, info = kvideo.io.read_video("clip.avi")  # every frame, one decode pass

Every decoding failure (missing, empty, truncated or corrupt file, no video stream,
frame index out of range) raises `VideoDecodeError`, whose message names the file.
A source is a path or the bytes of an encoded file held in memory.

FFmpeg's own log output is left as PyAV configures it (silent by default); call
``av.logging.set_level(av.logging.VERBOSE)`` to see it when debugging a file.
"""

from kvideo.io.decode import VideoDecodeError, VideoInfo, probe, read_frames, read_video
from kvideo.io.encode import write_video

__all__ = [
    "VideoDecodeError",
    "VideoInfo",
    "probe",
    "read_frames",
    "read_video",
    "write_video",
]
