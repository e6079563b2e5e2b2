"""Detection speed on a long video: real-time factor, and the ratio to the model alone.

For each model this measures, in one run, back to back:

* pipeline: `kvideo.detection.scan_video` over the video: decode once (PyAV), keep the
  frames windows need, crop, assemble batches in a background thread, score with the
  model (`ClipScorer`). Windows per second, and the real-time factor (video seconds per
  wall-clock second).
* model only: the same scorer on windows of the same video, decoded beforehand and held
  in memory, in batches of the same size: what the model alone manages on this machine.
* sequential (`--sequential`): the pipeline with decoding in the calling thread, between
  model calls (`ScanSettings(prefetch=0)`), to show what the overlap buys.
* decode only: the pipeline's decoding and batching without the model.

ratio = pipeline windows/s / model-only windows/s; 1.0 means decoding costs nothing.
The CPU-time ratio (model-only CPU seconds per window / pipeline CPU seconds per window,
all threads of the process) is printed beside it: it hardly moves with the machine's
load, and it is what the wall-clock ratio would be if the model kept every core busy (a
model that leaves a core idle, as small ones do, leaves decoding room for free).
Each of `--rounds` rounds runs model only (cycling over the first `--model_only_windows`
windows for `--model_only_seconds`), then the pipeline over the whole video, then model
only again; the ratio is that of the totals, and the per-round ratios show how much the
machine's speed drifted (on a shared 2-core machine, a lot). When other processes load
the machine, the pipeline's decoding thread wins it a larger share of the cores than the
model-only loop gets, and its wall-clock ratio can exceed 1: the load average is printed,
and only figures from a quiet machine compare.

The video is generated: 320x240 at 25 fps, motion_demo actions every 30 s on still
scenes with sensor noise (`tests/detection_fixtures.py`), H.264. Models have random
weights (speed does not depend on them) and the clip configs of kvideo's experiments:

    tiny         r2plus1d_tiny, 16 frames 2 apart, crop 56 (the motion_demo experiment)
    r2plus1d_18  R(2+1)D-18, 16 frames 2 apart, crop 112 (video_folder_r2plus1d_18)

R(2+1)D-18 takes ~0.5 s per window on a 2-core CPU, so by default it scans a
`--r2plus1d_seconds` (30 s) video generated the same way instead of the 10-minute one (a
shortened run: the pipeline and the model-only side see windows of the same video, so
the ratio holds, and the real-time factor is per second of video either way).

    python benchmarks/detection.py --sequential          # ~15 min on a quiet 2-core CPU
    python benchmarks/detection.py --models=tiny --sequential
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kvideo.data import Augmentation, ClipSampling  # noqa: E402
from kvideo.detection import ClipScorer, ModelSpec, ScanSettings, scan_video  # noqa: E402
from kvideo.detection import windows as kwindows  # noqa: E402
from kvideo.models import build_video_classifier  # noqa: E402
from tests.detection_fixtures import write_event_video  # noqa: E402

WIDTH, HEIGHT, FPS = 320, 240, 25.0


@dataclasses.dataclass(frozen=True)
class Setup:
    preset: str
    clip_sampling: ClipSampling
    augmentation: Augmentation


SETUPS = {
    "tiny": Setup(
        "r2plus1d_tiny",
        ClipSampling(num_frames=16, frame_stride=2),
        Augmentation(crop_size=56, test_crop_fraction=1.0),
    ),
    "r2plus1d_18": Setup(
        "r2plus1d_18", ClipSampling(num_frames=16, frame_stride=2), Augmentation(crop_size=112)
    ),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny,r2plus1d_18")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the video")
    parser.add_argument("--r2plus1d_seconds", type=float, default=30.0)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--stride_frames", type=int, default=None, help="default: 1/4 window")
    parser.add_argument("--model_only_windows", type=int, default=16)
    parser.add_argument("--model_only_seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sequential", action="store_true")
    parser.add_argument("--work_dir", default=None, help="keeps the generated videos")
    return parser.parse_args()


def make_video(path: pathlib.Path, seconds: float) -> None:
    if path.exists():
        return
    started = time.perf_counter()
    events = [(t, int(t // 30) % 6) for t in np.arange(10.0, seconds - 3, 30.0)]
    write_event_video(path, seconds, events, fps=FPS, height=HEIGHT, width=WIDTH, seed=0)
    print(f"wrote {path.name}: {seconds:.0f} s in {time.perf_counter() - started:.0f} s")


def decoded_windows(path, spec: ModelSpec, scan: ScanSettings, count: int) -> list[np.ndarray]:
    """The first `count` windows of the video as the pipeline batches them, in memory."""
    batches, total = [], 0
    for item in kwindows._window_batches(path, spec, scan):
        if isinstance(item, kwindows._End) or total >= count:
            break
        windows, views = item.clips.shape[:2]
        batches.append(item.clips.reshape(windows * views, *item.clips.shape[2:]).copy())
        total += windows
    return batches


def model_only(
    scorer: ClipScorer, batches: list[np.ndarray], seconds: float
) -> tuple[int, float, float]:
    """Scores the batches over and over for at least `seconds`.

    Returns:
        (windows, wall seconds, CPU seconds of the process).
    """
    started, cpu = time.perf_counter(), time.process_time()
    windows = 0
    while time.perf_counter() - started < seconds:
        for clips in batches:
            scorer(clips)
            windows += len(clips)
    return windows, time.perf_counter() - started, time.process_time() - cpu


def decode_only(path, spec: ModelSpec, scan: ScanSettings) -> tuple[int, float]:
    started = time.perf_counter()
    windows = 0
    for item in kwindows._window_batches(path, spec, scan):
        if not isinstance(item, kwindows._End):
            windows += len(item.clips)
    return windows, time.perf_counter() - started


def run(name: str, video: pathlib.Path, args) -> dict:
    setup = SETUPS[name]
    sampling, augmentation = setup.clip_sampling, setup.augmentation
    model = build_video_classifier(
        setup.preset, 10, input_shape=(sampling.clip_length, *(2 * [augmentation.crop_size]), 3)
    )
    scorer = ClipScorer.from_keras(model)
    spec = ModelSpec(tuple(f"c{i}" for i in range(10)), sampling, augmentation, "benchmark")
    scan = ScanSettings(stride_frames=args.stride_frames, batch_size=args.batch_size)
    layout = kwindows.window_layout(sampling, scan, FPS)
    batches = decoded_windows(video, spec, scan, args.model_only_windows)
    scorer(batches[0])  # trace and warm up
    result = None

    model_windows = model_seconds = model_cpu = 0
    pipeline_windows = pipeline_seconds = pipeline_cpu = 0
    rounds = []
    for _ in range(args.rounds):
        before = model_only(scorer, batches, args.model_only_seconds)
        cpu = time.process_time()
        result = scan_video(video, scorer, spec, scan)
        pipeline_cpu += time.process_time() - cpu
        after = model_only(scorer, batches, args.model_only_seconds)
        model_windows += before[0] + after[0]
        model_seconds += before[1] + after[1]
        model_cpu += before[2] + after[2]
        pipeline_windows += len(result.scores)
        pipeline_seconds += result.seconds
        model_rate = (before[0] + after[0]) / (before[1] + after[1])
        rounds.append(len(result.scores) / result.seconds / model_rate)
    model_rate = model_windows / model_seconds
    pipeline_rate = pipeline_windows / pipeline_seconds
    row = {
        "model": name,
        "video_s": result.duration,
        "windows": len(result.scores),
        "span": layout.span,
        "stride": layout.stride,
        "crop": int(kwindows.crop_windows(augmentation, False, HEIGHT, WIDTH)[0][2]),
        "pipeline_s": pipeline_seconds / args.rounds,
        "rtf": result.duration * args.rounds / pipeline_seconds,
        "pipeline_rate": pipeline_rate,
        "model_rate": model_rate,
        "rounds": rounds,
        "ratio": pipeline_rate / model_rate,
        "cpu_ratio": (model_cpu / model_windows) / (pipeline_cpu / pipeline_windows),
        "load": os.getloadavg()[0],
    }
    if args.sequential:
        inline = scan_video(video, scorer, spec, dataclasses.replace(scan, prefetch=0))
        row["sequential_ratio"] = len(inline.scores) / inline.seconds / model_rate
    windows, decode_seconds = decode_only(video, spec, scan)
    row["decode_rate"] = windows / decode_seconds
    return row


def main() -> None:
    args = parse_args()
    names = args.models.split(",")
    work = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix="kvideo_detection_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    long_seconds = 60 * args.minutes
    long_video = work / f"video_{long_seconds:.0f}s_{WIDTH}x{HEIGHT}.mp4"
    make_video(long_video, long_seconds)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"TF {tf.__version__}, Keras {keras.__version__}"
    )
    rows = []
    for name in names:
        if name == "r2plus1d_18" and args.r2plus1d_seconds < long_seconds:
            # A shorter video generated the same way (see the module docstring).
            seconds = args.r2plus1d_seconds
            video = work / f"video_{seconds:.0f}s_{WIDTH}x{HEIGHT}.mp4"
            make_video(video, seconds)
        else:
            seconds, video = long_seconds, long_video
        row = run(name, video, args)
        rows.append(row)
        print(
            f"{row['model']}: {row['video_s']:.0f} s of video, {row['windows']} windows "
            f"(span {row['span']}, stride {row['stride']} frames, crop {row['crop']}) in "
            f"{row['pipeline_s']:.1f} s: {row['rtf']:.2f}x real time; pipeline "
            f"{row['pipeline_rate']:.1f} windows/s, model only {row['model_rate']:.1f}, "
            f"ratio {row['ratio']:.2f} (rounds: {', '.join(f'{r:.2f}' for r in row['rounds'])}), "
            f"CPU-time ratio {row['cpu_ratio']:.2f}, load average {row['load']:.1f}"
            + (
                f", sequential ratio {row['sequential_ratio']:.2f}"
                if "sequential_ratio" in row
                else ""
            )
            + f"; decode only {row['decode_rate']:.1f} windows/s",
            flush=True,
        )
    print()
    print(
        "| model | video | windows | real-time factor | pipeline windows/s "
        "| model-only windows/s | ratio | CPU-time ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['model']} | {row['video_s']:.0f} s | {row['windows']} | {row['rtf']:.2f}x | "
            f"{row['pipeline_rate']:.1f} | {row['model_rate']:.1f} | **{row['ratio']:.2f}** | "
            f"{row['cpu_ratio']:.2f} |"
        )


if __name__ == "__main__":
    main()
