"""Flow of whole videos on all cores: RGB frames in, quantised flow fields out.

    with FlowExtractor(FlowConfig(method="tvl1")) as extractor:
        flow = extractor.extract(frames)           # (frames - 1, h, w, 2) uint8
        for field in extractor.iter_flow(frame_iterable):   # bounded memory
            ...
        extractor.extract_video("clip.avi", "flow/clip")    # flow_x_00001.jpg, ...

How the cores are used. One video: the main process converts frames to grey and
resizes them, cuts the sequence into chunks of consecutive frames that overlap by one (so
every pair lies in exactly one chunk), and hands the chunks to worker processes running
OpenCV on one thread each; the flow comes back quantised (uint8, a quarter of the float
bytes), in order. Many videos (`extract_videos`, the way to extract a dataset): one video
per worker, which decodes, computes and writes it, so only paths cross processes.

Measured on this project's 2-core machine at 340x256 (`benchmarks/flow_extraction.py`;
`benchmarks/README.md` has the tables). TV-L1, 0.6 s a pair, is where cores matter: idle
machine, 589 ms a pair on 1 thread and 358 ms on OpenCV's 2 threads (1.6x; OpenCV
threads inside one pair); in the benchmark run (other jobs kept the load average at 7-9)
chunks on 2 worker processes gave 0.3 pairs/s against 0.2 for OpenCV's threads and for
1 thread, so `FlowExtractor` pools TV-L1 by default. DIS (1-13 ms a pair) and Farneback
gain nothing from shipping frames between processes (DIS fast: 43 pairs/s in chunks on
2 workers against 61 on 1 thread in process) and stay in process by default. For many
videos, `extract_videos` needs no data between processes; in that run it was the fastest
way from files to JPEG folders for DIS ultrafast (89 against 68 pairs/s on 1 thread) and
Farneback (7.3 against 4.8), and within the rounds' spread of the fastest for the others.

Worker processes are started with "spawn", not "fork": forking a process that has
TensorFlow (or OpenCV's thread pool) running can deadlock the child. A script that
creates a `FlowExtractor` with workers must therefore guard its entry point with
``if __name__ == "__main__":``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence

import cv2
import numpy as np

from kvideo.flow import config as flow_config
from kvideo.flow import layout
from kvideo.flow.compute import create_algorithm, pairwise_flow, prepare_frame
from kvideo.flow.config import FlowConfig
from kvideo.flow.quantize import quantize

# Frame pairs per chunk sent to a worker: enough work per chunk (~2 s for TV-L1, ~0.3 s
# for Farneback) that sending the frames costs little, few enough that a short video
# still keeps every worker busy.
_CHUNK_PAIRS = {flow_config.TVL1: 4, flow_config.FARNEBACK: 16}
_DEFAULT_CHUNK_PAIRS = 32

# Methods for which chunks on worker processes beat OpenCV's threads (module docstring).
_POOLED_METHODS = (flow_config.TVL1,)


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def default_num_workers(method: str) -> int:
    """Worker processes a `FlowExtractor` uses when none are asked for: all usable cores
    for TV-L1, 0 (in process) for DIS and Farneback, whose pairs are too quick to be worth
    shipping between processes (see the module docstring).
    """
    return usable_cores() if method in _POOLED_METHODS else 0


class FlowExtractor:
    """Computes quantised flow of videos with one `FlowConfig`, reusing a process pool.

    Args:
        config: What to compute.
        num_workers: Worker processes; 0 computes in this process (OpenCV then uses
            ``cv2.getNumThreads()`` threads). ``None``: `default_num_workers(config.method)`.
        chunk_pairs: Frame pairs per task sent to a worker; ``None`` picks per method.

    Use it as a context manager, or call `close`, to stop the workers. The pool starts on
    first use and serves every later video, so starting it (~1 s) is paid once.
    """

    def __init__(
        self,
        config: FlowConfig,
        *,
        num_workers: int | None = None,
        chunk_pairs: int | None = None,
    ):
        if not isinstance(config, FlowConfig):
            raise ValueError(f"`config` must be a FlowConfig. Received: {config!r}")
        if num_workers is None:
            num_workers = default_num_workers(config.method)
        if chunk_pairs is None:
            chunk_pairs = _CHUNK_PAIRS.get(config.method, _DEFAULT_CHUNK_PAIRS)
        self.config = config
        self.num_workers = _checked_count("num_workers", num_workers, minimum=0)
        self.chunk_pairs = _checked_count("chunk_pairs", chunk_pairs, minimum=1)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._algorithm = None

    def __enter__(self) -> FlowExtractor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stops the worker processes (a later call starts new ones)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def iter_flow(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Yields the quantised flow ``(h, w, 2)`` uint8 of each consecutive pair of frames.

        Args:
            frames: RGB frames ``(height, width, 3)`` uint8, all the same size: an array
                ``(frames, height, width, 3)`` or any iterable (a decoder's frames), read
                lazily. At most ``2 * num_workers`` chunks are in flight, so memory stays
                bounded for any length.

        Yields:
            ``frames - 1`` arrays ``(h, w, 2)`` uint8, flow ``i`` from frame ``i`` to
            ``i + 1``, in order; ``(h, w)`` is the frame size after
            ``config.short_side``. Codes as in `kvideo.flow.quantize`.

        Raises:
            ValueError: for a frame of the wrong shape or dtype, frames of different
                sizes, or fewer than two frames.
        """
        chunks = self._grey_chunks(frames)
        if self.num_workers == 0:
            if self._algorithm is None:
                self._algorithm = create_algorithm(self.config)
            for chunk in chunks:
                yield from quantize(
                    np.stack(pairwise_flow(chunk, self._algorithm)), self.config.bound
                )
            return
        pool = self._start_pool()
        pending: deque[concurrent.futures.Future] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(_quantized_chunk_flow, self.config, chunk))
                if len(pending) >= 2 * self.num_workers:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()

    def extract(self, frames: np.ndarray) -> np.ndarray:
        """Flow of a whole video: ``(frames, height, width, 3)`` uint8 RGB ->
        ``(frames - 1, h, w, 2)`` uint8 codes (see `iter_flow`)."""
        frames = np.asarray(frames)
        if frames.ndim != 4:
            raise ValueError(
                "`frames` must be uint8 of shape (frames, height, width, 3). "
                f"Received: shape={frames.shape}"
            )
        return np.stack(list(self.iter_flow(frames)))

    def extract_video(
        self,
        source,
        folder: str | os.PathLike,
        *,
        template: str = layout.DEFAULT_TEMPLATE,
        quality: int = layout.DEFAULT_JPEG_QUALITY,
    ) -> int:
        """Decodes a video (`kvideo.io.read_video`) and writes its flow images to `folder`.

        Returns the number of flow fields written (decodable frames - 1). Raises
        `kvideo.io.VideoDecodeError` for a video that does not decode, ValueError for one
        of fewer than two frames. The decoded video is held in memory (1,800 frames at
        320x240 take 0.4 GB); files in `folder` from an earlier, longer extraction are
        not removed.
        """
        from kvideo import io as kio  # only this method decodes; keep the import local

        frames, _ = kio.read_video(source)
        written = 0
        for field in self.iter_flow(frames):
            layout.write_flow_images(
                folder, field[np.newaxis], template=template, quality=quality, first_index=written
            )
            written += 1
        return written

    def extract_videos(
        self,
        videos: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
        *,
        template: str = layout.DEFAULT_TEMPLATE,
        quality: int = layout.DEFAULT_JPEG_QUALITY,
    ) -> list[VideoFlowResult]:
        """Flow images of many video files, one video per task of the worker pool.

        Each worker decodes its video (`kvideo.io.read_video`), computes flow on one
        OpenCV thread and writes ``flow_x_00001.jpg``... into the video's folder: only
        paths and counts cross between processes, so this scales with cores for every
        method, DIS included. With ``num_workers=0`` the videos are done here, in turn.

        Args:
            videos: ``(video path, flow folder)`` pairs.
            template, quality: As for `kvideo.flow.write_flow_images`.

        Returns:
            One `VideoFlowResult` per video, in order. A video that fails to decode or has
            fewer than two frames is skipped and its result says why; the others go on.
        """
        jobs = [(self.config, source, folder, template, quality) for source, folder in videos]
        if self.num_workers == 0 or not jobs:
            return [_video_task(*job) for job in jobs]
        return list(self._start_pool().map(_video_task, *zip(*jobs, strict=True)))

    def _start_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = _spawn_pool(self.num_workers)
        return self._pool

    def _grey_chunks(self, frames: Iterable[np.ndarray]) -> Iterator[list[np.ndarray]]:
        """Grey resized frames in lists of ``chunk_pairs + 1``, each starting with the
        previous list's last frame."""
        chunk: list[np.ndarray] = []
        first_shape = None
        count = 0
        for frame in frames:
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
                raise ValueError(
                    "Frames must be uint8 RGB of shape (height, width, 3). "
                    f"Received frame {count}: shape={frame.shape}, dtype={frame.dtype}"
                )
            if first_shape is None:
                first_shape = frame.shape
            elif frame.shape != first_shape:
                raise ValueError(
                    f"All frames must have the same size. Frame 0: {first_shape}, "
                    f"frame {count}: {frame.shape}"
                )
            chunk.append(prepare_frame(frame, self.config.short_side))
            count += 1
            if len(chunk) == self.chunk_pairs + 1:
                yield chunk
                chunk = [chunk[-1]]
        if count < 2:
            raise ValueError(f"Flow needs at least 2 frames. Received: {count} frame(s)")
        if len(chunk) > 1:
            yield chunk


def extract_flow(
    frames: np.ndarray, config: FlowConfig, *, num_workers: int | None = None
) -> np.ndarray:
    """Quantised flow of one video: ``(frames, height, width, 3)`` uint8 RGB ->
    ``(frames - 1, h, w, 2)`` uint8, with a pool started and stopped for this call.

    For many videos, keep one `FlowExtractor` open instead.
    """
    with FlowExtractor(config, num_workers=num_workers) as extractor:
        return extractor.extract(frames)


@dataclasses.dataclass(frozen=True)
class VideoFlowResult:
    """What `extract_videos` did with one video.

    Attributes:
        source: The video, as given.
        folder: Where its flow images went.
        num_flows: Flow fields written (decodable frames - 1); 0 if it was skipped.
        error: Why the video was skipped (it does not decode, or has fewer than two
            frames), or None.
    """

    source: str | os.PathLike
    folder: str | os.PathLike
    num_flows: int
    error: str | None = None


def extract_videos(
    videos: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
    config: FlowConfig,
    *,
    num_workers: int | None = None,
    template: str = layout.DEFAULT_TEMPLATE,
    quality: int = layout.DEFAULT_JPEG_QUALITY,
) -> list[VideoFlowResult]:
    """Flow images of many video files, one video per worker process: the way to extract
    a dataset (see `FlowExtractor.extract_videos`).

    `num_workers` defaults to all usable cores, for every method.
    """
    if num_workers is None:
        num_workers = usable_cores()
    with FlowExtractor(config, num_workers=num_workers) as extractor:
        return extractor.extract_videos(videos, template=template, quality=quality)


def _spawn_pool(num_workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """Worker processes with one OpenCV thread each ("spawn": see the module docstring)."""
    return concurrent.futures.ProcessPoolExecutor(
        num_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=cv2.setNumThreads,
        initargs=(1,),
    )


def _checked_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")
    return value


def _video_task(config, source, folder, template, quality) -> VideoFlowResult:
    from kvideo import io as kio

    try:
        with FlowExtractor(config, num_workers=0) as extractor:
            written = extractor.extract_video(source, folder, template=template, quality=quality)
    except (kio.VideoDecodeError, ValueError) as error:
        return VideoFlowResult(source, folder, 0, str(error))
    return VideoFlowResult(source, folder, written)


def _quantized_chunk_flow(config: FlowConfig, grey_frames: list[np.ndarray]) -> np.ndarray:
    """Worker task: quantised flow ``(len(grey_frames) - 1, h, w, 2)`` uint8 of a chunk."""
    return quantize(np.stack(pairwise_flow(grey_frames, _worker_algorithm(config))), config.bound)


_worker_algorithms: dict[FlowConfig, cv2.DenseOpticalFlow] = {}


def _worker_algorithm(config: FlowConfig) -> cv2.DenseOpticalFlow:
    # One algorithm object per worker and config, reused across chunks.
    if config not in _worker_algorithms:
        _worker_algorithms[config] = create_algorithm(config)
    return _worker_algorithms[config]
