"""Sliding windows over a streamed video, scored in batches while the next ones decode.

A *window* is what the model classifies: for a dense-clip model (`ClipSampling` method
"dense"), `num_frames` frames `frame_stride` apart, so it spans
``(num_frames - 1) * frame_stride + 1`` frames; for a TSN model, `window_frames` frames
(a setting) from which the clip takes the centre frame of each of its `num_segments`
segments, as evaluation does on a whole video. Windows start every `stride` frames from
frame 0; the last window is the last one that fits. A video shorter than one window gets
one window, looped as evaluation loops short videos.

A window's time span runs from the start of its first frame to the end of its last
(frame times from the file's timestamps); its centre is the midpoint, which is where its
score sits on the timeline (`kvideo.detection.segments` explains why).

Decoding keeps only the frames that a window still needs, cropped to the test views, in
a ring of one window span, so memory does not grow with the length of the video; frames
that no window uses are decoded but never converted to RGB. A background thread decodes
and assembles batches while the model scores the previous batch.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from kvideo.data.config import DENSE, Augmentation, ClipSampling
from kvideo.data.sampling import clip_span
from kvideo.detection._files import write_atomic
from kvideo.detection.model import ClipScorer, ModelSpec
from kvideo.io import VideoDecodeError
from kvideo.io.stream import open_video, to_rgb

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ScanSettings:
    """How a video is cut into windows and scored.

    Attributes:
        stride_s: seconds between window starts (rounded to whole frames, at least 1).
        stride_frames: frames between window starts; at most one of the two strides may
            be set. Default (neither): about a quarter of the window span, so that every
            frame is seen by about four windows and segment boundaries fall within an
            eighth of a window of where the scores put them, rounded to a multiple of the
            spacing of the clip's frames (`frame_stride` for dense clips): then the frames
            a clip skips are skipped by every window, and never converted to RGB.
        window_frames: frames a window spans, for TSN models only (a dense-clip model's
            window is its clip); required for them.
        multi_view: score every test crop of the evaluation transform (e.g. three crops)
            and average them, instead of one centre crop.
        batch_size: windows per model call.
        prefetch: batches decoded ahead in a background thread; 0 decodes in the
            calling thread, between model calls (no overlap).
    """

    stride_s: float | None = None
    stride_frames: int | None = None
    window_frames: int | None = None
    multi_view: bool = False
    batch_size: int = 8
    prefetch: int = 2

    def __post_init__(self):
        if self.stride_s is not None and self.stride_frames is not None:
            raise ValueError(
                "Give `stride_s` or `stride_frames`, not both. Received: "
                f"stride_s={self.stride_s}, stride_frames={self.stride_frames}"
            )
        if self.stride_s is not None and not self.stride_s > 0:
            raise ValueError(f"`stride_s` must be positive. Received: stride_s={self.stride_s}")
        for name in ("stride_frames", "window_frames", "batch_size"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if (
            isinstance(self.prefetch, bool)
            or not isinstance(self.prefetch, int)
            or self.prefetch < 0
        ):
            raise ValueError(f"`prefetch` must be an integer >= 0. Received: {self.prefetch!r}")


@dataclasses.dataclass(frozen=True)
class WindowLayout:
    """Which frames a window covers.

    Attributes:
        offsets: `(clip_length,)` frame offsets of the clip's frames from the window's
            first frame.
        span: frames the window covers.
        stride: frames between the starts of consecutive windows.
    """

    offsets: tuple[int, ...]
    span: int
    stride: int

    def needed(self, index: int) -> bool:
        """Whether some window takes frame `index` (or it may serve a short video)."""
        if index < self.span:
            return True
        return any((index - offset) % self.stride == 0 for offset in self.offsets)


def window_layout(clip_sampling: ClipSampling, scan: ScanSettings, fps: float) -> WindowLayout:
    """The window layout of a model's clip sampling at a video's frame rate."""
    if clip_sampling.method == DENSE:
        if scan.window_frames is not None:
            raise ValueError(
                "A dense-clip model's window is its clip: leave `window_frames` unset. "
                f"Received: window_frames={scan.window_frames}"
            )
        span = clip_span(clip_sampling.num_frames, clip_sampling.frame_stride)
    elif scan.window_frames is None:
        raise ValueError(
            "A TSN model has no fixed clip span: set `window_frames` (about the length of "
            "the training videos, in frames)."
        )
    else:
        span = scan.window_frames
    offsets = _test_indices(clip_sampling, span)
    if scan.stride_frames is not None:
        stride = scan.stride_frames
    elif scan.stride_s is not None:
        stride = max(1, round(scan.stride_s * fps))
    else:
        spacing = int(np.gcd.reduce(offsets)) or 1
        stride = spacing * max(1, round(span / 4 / spacing))
    return WindowLayout(tuple(offsets.tolist()), span, stride)


def _test_indices(clip_sampling: ClipSampling, num_frames: int) -> np.ndarray:
    """The evaluation clip (one, centred) of a `num_frames`-frame video: `(clip_length,)`."""
    single = dataclasses.replace(clip_sampling, num_clips=1)
    return single.test_indices(num_frames).numpy().reshape(-1)


def crop_windows(
    augmentation: Augmentation, multi_view: bool, height: int, width: int
) -> np.ndarray:
    """`(views, 4)` int `[y, x, h, w]` test crops of a frame size, as in evaluation.

    One centre crop (`test_crop="center"` with the transform's `test_crop_fraction`, as
    per-epoch validation uses), or with `multi_view` every test crop of the transform.
    """
    if not multi_view:
        augmentation = dataclasses.replace(augmentation, test_crop="center")
    return augmentation.test_windows(height, width).numpy()


@dataclasses.dataclass
class WindowScores:
    """Per-window scores of one video.

    Attributes:
        starts, ends, centres: `(windows,)` float64 seconds: the span each window covers
            and its midpoint.
        scores: `(windows, classes)` float32 softmax probabilities (averaged over views).
        duration: seconds decoded (the end of the last decoded frame).
        num_frames: frames decoded.
        fps: the stream's declared frame rate.
        error: why decoding stopped early, or None; the windows before it are kept.
        seconds: wall-clock time of the scan.
    """

    starts: np.ndarray
    ends: np.ndarray
    centres: np.ndarray
    scores: np.ndarray
    duration: float
    num_frames: int
    fps: float
    error: str | None = None
    seconds: float = 0.0

    def save(self, path: str | os.PathLike) -> None:
        """Writes the scores as `.npz` (atomically: a temporary file renamed)."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            starts=self.starts,
            ends=self.ends,
            centres=self.centres,
            scores=self.scores,
            duration=self.duration,
            num_frames=self.num_frames,
            fps=self.fps,
            error="" if self.error is None else self.error,
            seconds=self.seconds,
        )
        write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> WindowScores:
        with np.load(path) as data:
            error = str(data["error"])
            return cls(
                starts=data["starts"],
                ends=data["ends"],
                centres=data["centres"],
                scores=data["scores"],
                duration=float(data["duration"]),
                num_frames=int(data["num_frames"]),
                fps=float(data["fps"]),
                error=error or None,
                seconds=float(data["seconds"]),
            )


@dataclasses.dataclass
class _Batch:
    clips: np.ndarray  # (windows, views, clip_length, h, w, 3) uint8
    starts: np.ndarray  # (windows,) seconds
    ends: np.ndarray  # (windows,) seconds
    frames_decoded: int
    time_decoded: float


@dataclasses.dataclass
class _End:
    num_frames: int
    duration: float
    fps: float
    error: str | None


def _window_batches(
    source: str | os.PathLike, spec: ModelSpec, scan: ScanSettings
) -> Iterator[_Batch | _End]:
    """Decodes `source` once and yields batches of windows, then one `_End`."""
    sampling = spec.clip_sampling
    with open_video(source) as video:
        fps = video.info.fps
        layout = window_layout(sampling, scan, fps)
        offsets = np.asarray(layout.offsets)
        span = layout.span
        times = np.zeros(span)  # start time of the frames in the ring
        ring = None  # (views, span, h, w, 3): the cropped frames, slot = index % span
        windows = None
        batch = starts = ends = None
        filled = 0
        next_start = 0
        error = None

        def new_batch():
            shape = (scan.batch_size, len(windows), len(offsets), *ring.shape[2:])
            return np.empty(shape, np.uint8), np.empty(scan.batch_size), np.empty(scan.batch_size)

        try:
            for frame, frame_time in video.frames():
                index = video.num_frames - 1
                times[index % span] = frame_time
                if layout.needed(index):
                    rgb = to_rgb(frame)
                    if ring is None:
                        windows = crop_windows(
                            spec.augmentation, scan.multi_view, rgb.shape[0], rgb.shape[1]
                        )
                        height, width = int(windows[0][2]), int(windows[0][3])
                        ring = np.empty((len(windows), span, height, width, 3), np.uint8)
                        batch, starts, ends = new_batch()
                    for view, (y, x, h, w) in enumerate(windows):
                        ring[view, index % span] = rgb[y : y + h, x : x + w]
                if index == next_start + span - 1:
                    np.take(ring, (next_start + offsets) % span, axis=1, out=batch[filled])
                    starts[filled] = times[next_start % span]
                    ends[filled] = video.end_time
                    filled += 1
                    next_start += layout.stride
                    if filled == scan.batch_size:
                        yield _Batch(batch, starts, ends, video.num_frames, video.end_time)
                        batch, starts, ends = new_batch()
                        filled = 0
        except VideoDecodeError as err:
            if video.num_frames == 0:
                raise
            error = err.reason
        if video.num_frames == 0:
            raise VideoDecodeError(video.info.name, "the file has no decodable video frame")
        if next_start == 0 and filled == 0:
            # Shorter than one window: one window over the whole video, looped as
            # evaluation loops a short video (every frame is in the ring).
            indices = _test_indices(sampling, video.num_frames)
            np.take(ring, indices, axis=1, out=batch[0])
            starts[0], ends[0] = 0.0, video.end_time
            filled = 1
        if filled:
            yield _Batch(
                batch[:filled], starts[:filled], ends[:filled], video.num_frames, video.end_time
            )
        if error is None:
            error = video.truncation()
        yield _End(video.num_frames, video.end_time, fps, error)


def _in_background(items: Iterator, size: int) -> Iterator:
    """Runs the iterator `items` in a thread, `size` items ahead; re-raises its errors."""
    channel: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                channel.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as err:  # handed to the consumer, which re-raises it
            put(err)
        finally:
            items.close()

    thread = threading.Thread(target=work, name="kvideo-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = channel.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def scan_video(
    source: str | os.PathLike,
    scorer: ClipScorer,
    spec: ModelSpec,
    scan: ScanSettings = ScanSettings(),
    on_progress: Callable[[int, float], None] | None = None,
) -> WindowScores:
    """Decodes a video once and scores its sliding windows.

    Args:
        source: the video file.
        scorer: the model (see `ClipScorer`).
        spec: the model's class names, sampling and transform.
        scan: windows, views, batching.
        on_progress: called after each batch with `(frames decoded, seconds decoded)`.

    Returns:
        The `WindowScores`. When decoding fails part-way, the windows before the damage
        are scored and `error` says what happened.

    Raises:
        VideoDecodeError: if the file cannot be opened or no frame decodes.
    """
    started = time.perf_counter()
    batches = _window_batches(source, spec, scan)
    if scan.prefetch > 0:
        batches = _in_background(batches, scan.prefetch)
    all_starts, all_ends, all_scores = [], [], []
    end = None
    for item in batches:
        if isinstance(item, _End):
            end = item
            break
        windows, views = item.clips.shape[:2]
        clips = item.clips.reshape(windows * views, *item.clips.shape[2:])
        scores = scorer(clips).reshape(windows, views, -1).mean(axis=1)
        all_scores.append(scores.astype(np.float32))
        all_starts.append(item.starts)
        all_ends.append(item.ends)
        if on_progress is not None:
            on_progress(item.frames_decoded, item.time_decoded)
    starts = np.concatenate(all_starts) if all_starts else np.zeros(0)
    ends = np.concatenate(all_ends) if all_ends else np.zeros(0)
    scores = (
        np.concatenate(all_scores) if all_scores else np.zeros((0, scorer.num_classes), np.float32)
    )
    if on_progress is not None:
        on_progress(end.num_frames, end.duration)
    return WindowScores(
        starts=starts,
        ends=ends,
        centres=(starts + ends) / 2,
        scores=scores,
        duration=end.duration,
        num_frames=end.num_frames,
        fps=end.fps,
        error=end.error,
        seconds=time.perf_counter() - started,
    )
