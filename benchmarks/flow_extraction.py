"""Optical-flow extraction speed per method at 340x256, and what storing flow as images costs.

For each method (TV-L1, DIS ultrafast/fast/medium, Farneback) this measures frame pairs
per second, side by side in one run, five ways:

* flow only, 1 thread: `FlowExtractor.extract` on frames in memory (grey conversion, flow,
  clipping and 8-bit quantisation), ``cv2.setNumThreads(1)``: the algorithm's own speed.

and from video files to ``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` folders (decoding
with `kvideo.io` and JPEG encoding included: what extracting a dataset costs):

* 1 thread: in this process, one OpenCV thread: the single-core reference.
* OpenCV threads: in this process, OpenCV's own thread pool over all cores.
* chunk processes: `FlowExtractor(num_workers=cores).extract_video`, video by video; this
  process decodes and writes, worker processes compute chunks of consecutive pairs.
* video processes: `FlowExtractor(num_workers=cores).extract_videos`, one video per
  worker, which decodes, computes and writes it.

Pools are started (and their workers warmed up) before timing. The modes are measured in
alternating order over `--rounds` rounds (ABCDE EDCBA ...), so that the drift of this
shared machine falls on all of them, and the load average is printed before and after.
From the best mode the script projects the time to extract flow for all of UCF101 (2.5 M
frame pairs at 320x240, about 341x256 after resizing to short side 256) on this machine.

It also reports, per method, the median end-point error against the generated clip's
true motion (a sanity check on synthetic content, not a benchmark of accuracy), and what
storing the codes as x/y images costs: bytes per pair, the error JPEG (quality 95) adds
in codes and pixels, and the encode + decode time, against lossless PNG.

The clips are generated: a multi-scale texture panning by a sub-pixel amount per frame,
two textured objects moving on their own, and sensor noise, at 340x256, written as
XviD-style AVI like UCF101's files.

    python benchmarks/flow_extraction.py                 # ~6 min on 2 cores
    python benchmarks/flow_extraction.py --methods dis_fast dis_medium --rounds 4
    python benchmarks/flow_extraction.py --algorithm_only   # OpenCV's calc alone, ~1 min
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import platform
import sys
import tempfile
import time

import cv2
import numpy as np

from kvideo import io as kio
from kvideo.flow import (
    METHODS,
    FlowConfig,
    FlowExtractor,
    create_algorithm,
    decode_flow,
    dequantize,
    encode_flow,
    pairwise_flow,
    prepare_frame,
)

WIDTH, HEIGHT = 340, 256
UCF101_PAIRS = 2_500_000
BOUND = 20.0
MODES = ("flow only, 1 thread", "1 thread", "OpenCV threads", "chunk processes", "video processes")
FILE_MODES = MODES[1:]
# Layers of the generated clip: (velocity x, velocity y) in px per frame. The background
# pans slowly; the objects move a few pixels per frame, as people do in UCF101 at 25 fps.
BACKGROUND_VELOCITY = (1.3, -0.6)
OBJECTS = (  # (top, left, height, width, velocity x, velocity y)
    (60, 40, 90, 70, 4.2, 1.5),
    (140, 220, 70, 80, -2.5, -3.1),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--rounds", type=int, default=2, help="ABC CBA ... rounds per method")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="least time per measurement (whole clips)"
    )
    parser.add_argument("--videos", type=int, default=2, help="video files per method")
    parser.add_argument("--tvl1_pairs", type=int, default=8, help="pairs per video, TV-L1")
    parser.add_argument("--pairs", type=int, default=32, help="pairs per video, other methods")
    parser.add_argument("--workers", type=int, default=usable_cores(), help="processes")
    parser.add_argument(
        "--algorithm_only",
        action="store_true",
        help="only time OpenCV's calc on grey frames in memory, 1 thread vs all (~1 min)",
    )
    return parser.parse_args()


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


# ------------------------------------------------------------------------------ clip


def texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """float32 noise smoothed at three scales (fine grain, blobs, shading), 20..235."""
    layers = [
        cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), sigma)
        for sigma in (1.0, 4.0, 16.0)
    ]
    weights = (1.0, 0.8, 0.6)
    image = sum(layer / layer.std() * w for layer, w in zip(layers, weights, strict=True))
    return np.interp(image, (image.min(), image.max()), (20, 235)).astype(np.float32)


def shifted(image: np.ndarray, dx: float, dy: float, size: tuple[int, int]) -> np.ndarray:
    """`image` translated by (dx, dy) px (bilinear), cut to `size` = (height, width)."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, (size[1], size[0]), flags=cv2.INTER_LINEAR)


def generate_clip(num_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(num_frames, 256, 340, 3)`` uint8 RGB and their true flow
    ``(num_frames - 1, 256, 340, 2)`` float32 (the velocity of the layer on top)."""
    rng = np.random.default_rng(seed)
    pad = 16 + int(np.ceil(max(abs(v) for v in BACKGROUND_VELOCITY) * num_frames))
    background = texture(HEIGHT + 2 * pad, WIDTH + 2 * pad, rng)
    objects = [(texture(h, w, rng), top, left, h, w, vx, vy) for top, left, h, w, vx, vy in OBJECTS]
    frames = np.empty((num_frames, HEIGHT, WIDTH, 3), np.uint8)
    truth = np.empty((num_frames, HEIGHT, WIDTH, 2), np.float32)
    tint = np.float32([1.0, 0.92, 0.85])  # not quite grey, so the RGB -> grey step works
    for t in range(num_frames):
        bx, by = BACKGROUND_VELOCITY
        frame = shifted(background, bx * t - pad, by * t - pad, (HEIGHT, WIDTH))
        truth[t] = BACKGROUND_VELOCITY
        for patch, top, left, h, w, vx, vy in objects:
            # Objects wrap around inside the frame so that long clips keep them in view.
            x = (left + vx * t) % (WIDTH - w)
            y = (top + vy * t) % (HEIGHT - h)
            mask = shifted(np.ones((h, w), np.float32), x, y, (HEIGHT, WIDTH))
            layer = shifted(patch, x, y, (HEIGHT, WIDTH))
            frame = frame * (1 - mask) + layer * mask
            truth[t][mask > 0.5] = (vx, vy)
        noisy = frame[..., np.newaxis] * tint + rng.normal(0, 2.0, (HEIGHT, WIDTH, 3))
        frames[t] = np.clip(noisy, 0, 255).astype(np.uint8)
    return frames, truth[:-1]


# ------------------------------------------------------------------------ measuring


@dataclasses.dataclass
class Throughput:
    """Pairs, wall-clock and CPU seconds (of this process) over the rounds of one mode."""

    pairs: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    per_round: list[float] = dataclasses.field(default_factory=list)

    def add(self, pairs: int, seconds: float, cpu_seconds: float) -> None:
        self.pairs += pairs
        self.seconds += seconds
        self.cpu_seconds += cpu_seconds
        self.per_round.append(pairs / seconds)

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds

    @property
    def cpu_ms_per_pair(self) -> float:
        return 1000 * self.cpu_seconds / self.pairs


def timed(run, seconds: float) -> tuple[int, float, float]:
    """Calls `run` (which returns the pairs it did) until `seconds` have passed.

    Returns pairs, wall-clock seconds and this process's CPU seconds. On a shared machine
    the CPU time of a single-threaded run is the steadier measure of its work: other
    processes lengthen the wall-clock time, not (much) the CPU time.
    """
    pairs, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        pairs += run()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return pairs, elapsed, time.process_time() - cpu_start


def write_videos(folder: pathlib.Path, count: int, num_frames: int) -> list[pathlib.Path]:
    """`count` generated clips as XviD AVI files (different content per file)."""
    paths = []
    for index in range(count):
        frames, _ = generate_clip(num_frames, seed=100 + index)
        path = folder / f"clip_{num_frames}_{index}.avi"
        kio.write_video(path, frames, 25.0, codec="mpeg4", codec_tag="XVID", max_b_frames=2)
        paths.append(path)
    return paths


def benchmark_method(
    method: str, frames: np.ndarray, videos: list[pathlib.Path], work: pathlib.Path, args
) -> tuple[dict, np.ndarray]:
    """{mode: Throughput} for one method, and the codes of `frames` (for the other tables)."""
    config = FlowConfig(method=method, bound=BOUND, short_side=None)  # clips are 340x256
    cores = cv2.getNumberOfCPUs()
    jobs = [(video, work / method / video.stem) for video in videos]
    in_process = FlowExtractor(config, num_workers=0)
    pooled = FlowExtractor(config, num_workers=args.workers)

    def per_video(extractor: FlowExtractor) -> int:
        return sum(extractor.extract_video(video, folder) for video, folder in jobs)

    def per_worker() -> int:
        results = pooled.extract_videos(jobs)
        if any(result.error for result in results):
            raise RuntimeError(f"extraction failed: {results}")
        return sum(result.num_flows for result in results)

    runs = {
        "flow only, 1 thread": lambda: len(in_process.extract(frames)),
        "1 thread": lambda: per_video(in_process),
        "OpenCV threads": lambda: per_video(in_process),
        "chunk processes": lambda: per_video(pooled),
        "video processes": per_worker,
    }
    threads = {mode: 1 for mode in MODES} | {"OpenCV threads": cores}
    results = {mode: Throughput() for mode in MODES}
    try:
        # Start the workers and let each import kvideo.io and OpenCV outside the timing.
        pooled.extract_videos([(videos[0], work / "warm-up" / str(i)) for i in range(args.workers)])
        pooled.extract(frames[:3])
        for round_index in range(args.rounds):
            for mode in MODES if round_index % 2 == 0 else MODES[::-1]:
                cv2.setNumThreads(threads[mode])
                results[mode].add(*timed(runs[mode], args.seconds))
        codes = in_process.extract(frames)
    finally:
        pooled.close()
        cv2.setNumThreads(cores)
    return results, codes


def storage_costs(codes: np.ndarray) -> dict[str, dict[str, float]]:
    """Per suffix: KB per pair (x + y), code errors after decoding, encode + decode ms."""
    out = {}
    for suffix in (".jpg", ".png"):
        start = time.perf_counter()
        encoded = [encode_flow(field, suffix) for field in codes]
        decoded = np.stack([decode_flow(x, y) for x, y in encoded])
        elapsed = time.perf_counter() - start
        error = np.abs(decoded.astype(np.int16) - codes.astype(np.int16))
        pixel_error = np.abs(dequantize(decoded, BOUND) - dequantize(codes, BOUND))
        out[suffix] = {
            "kb": sum(len(x) + len(y) for x, y in encoded) / len(codes) / 1024,
            "mean": float(error.mean()),
            "p99.9": float(np.percentile(error, 99.9)),
            "max": float(error.max()),
            "px_mean": float(pixel_error.mean()),
            "px_max": float(pixel_error.max()),
            "ms": 1000 * elapsed / len(codes),
        }
    return out


def end_point_error(codes: np.ndarray, truth: np.ndarray) -> float:
    """Median end-point error in px of the dequantised flow against the true motion."""
    flow = dequantize(codes, BOUND)
    return float(np.median(np.linalg.norm(flow - truth[: len(flow)], axis=-1)))


def duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def algorithm_only(args) -> None:
    """Prints ms per pair of each method's `calc` alone, on 1 thread and on all cores."""
    frames, _ = generate_clip(max(args.tvl1_pairs, args.pairs) + 1)
    grey = [prepare_frame(frame, None) for frame in frames]
    cores = cv2.getNumberOfCPUs()
    print(f"before: {load()}\n")
    print(
        f"| method | 1 thread ms/pair | {cores} threads ms/pair | UCF101, 1 thread "
        f"| UCF101, {cores} threads |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for method in args.methods:
        pairs = args.tvl1_pairs if method == "tvl1" else args.pairs
        algorithm = create_algorithm(FlowConfig(method=method))
        algorithm.calc(grey[0], grey[1], None)  # warm-up
        seconds = {1: 0.0, cores: 0.0}
        for round_index in range(args.rounds):
            for threads in (1, cores) if round_index % 2 == 0 else (cores, 1):
                cv2.setNumThreads(threads)
                start = time.perf_counter()
                pairwise_flow(grey[: pairs + 1], algorithm)
                seconds[threads] += time.perf_counter() - start
        per_pair = {threads: total / (pairs * args.rounds) for threads, total in seconds.items()}
        print(
            f"| {method} | {1000 * per_pair[1]:.1f} | {1000 * per_pair[cores]:.1f} | "
            f"{duration(UCF101_PAIRS * per_pair[1])} | {duration(UCF101_PAIRS * per_pair[cores])} |"
        )
    cv2.setNumThreads(cores)
    print(f"\nafter: {load()}")


def main() -> None:
    args = parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {usable_cores()} usable cores, "
        f"Python {sys.version.split()[0]}, OpenCV {cv2.__version__}"
    )
    if args.algorithm_only:
        algorithm_only(args)
        return
    print(
        f"{WIDTH}x{HEIGHT}: {args.videos} videos of {args.tvl1_pairs} pairs for TV-L1, "
        f"of {args.pairs} pairs for the others; {args.rounds} rounds of >= {args.seconds:g} s; "
        f"{args.workers} worker processes; bound {BOUND:g} px"
    )
    print(f"before: {load()}\n", flush=True)
    rows, storage = [], {}
    with tempfile.TemporaryDirectory(prefix="kvideo_flow_bench_") as tmp:
        work = pathlib.Path(tmp)
        for method in args.methods:
            pairs = args.tvl1_pairs if method == "tvl1" else args.pairs
            videos = write_videos(work, args.videos, pairs + 1)
            frames, truth = generate_clip(pairs + 1)
            results, codes = benchmark_method(method, frames, videos, work, args)
            rows.append((method, results, end_point_error(codes, truth)))
            storage[method] = storage_costs(codes)
            rates = ", ".join(f"{mode} {results[mode].pairs_per_second:.1f}" for mode in MODES)
            print(f"  done {method}: {rates} pairs/s ({load()})", flush=True)
    print(f"after: {load()}")

    print(f"\nframe pairs/s at {WIDTH}x{HEIGHT} (per round in brackets); UCF101 = 2.5 M pairs\n")
    header = [
        "method",
        *MODES,
        "best from files vs 1 thread",
        "UCF101 at best",
        "CPU ms/pair: flow only, files (1 thread)",
        "UCF101 core-hours (files)",
        "median EPE px",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for method, results, epe in rows:
        rates = {mode: results[mode].pairs_per_second for mode in MODES}
        best_mode = max(FILE_MODES, key=rates.get)
        cells = [
            f"{rates[mode]:.1f} ({', '.join(f'{r:.1f}' for r in results[mode].per_round)})"
            for mode in MODES
        ]
        speedup = f"{rates[best_mode] / rates['1 thread']:.2f}x ({best_mode})"
        best = duration(UCF101_PAIRS / rates[best_mode])
        single = duration(UCF101_PAIRS / rates["1 thread"])
        print(
            f"| {method} | " + " | ".join(cells) + f" | {speedup} | {best} | {single} | {epe:.2f} |"
        )

    print("\nstoring the codes as x/y images (errors in codes; 1 code = 0.157 px at bound 20)\n")
    header = ["method", "format", "KB/pair", "mean err", "99.9% err", "max err", "px mean"]
    header += ["px max", "enc+dec ms/pair"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for method, costs in storage.items():
        for suffix, c in costs.items():
            print(
                f"| {method} | {suffix[1:]} | {c['kb']:.1f} | {c['mean']:.2f} | {c['p99.9']:.0f}"
                f" | {c['max']:.0f} | {c['px_mean']:.3f} | {c['px_max']:.2f} | {c['ms']:.2f} |"
            )


if __name__ == "__main__":
    main()
