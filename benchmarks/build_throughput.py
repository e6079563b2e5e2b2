"""Dataset build throughput against decoding the same files alone, per storage.

Generates UCF101-like videos (320x240, 25 fps, 165-195 frames, i.e. ~7 s, XviD-style AVI:
MPEG-4 Part 2 with B-frames at ~500 kbit/s, moving shapes on a drifting gradient with
noise), then measures, in videos per second on this machine:

* build: `video_folder` `download_and_prepare` into a fresh data dir, for JPEG storage
  (decode, resize to short side 128, JPEG-encode every frame, write TFRecords) and bytes
  storage (read the file, count its frames and record its seek table in one decode
  pass, write TFRecords), with the builder's worker threads (one per core) and with one.
* decode-only: every frame of every file decoded and converted to RGB (`kvideo.io.scan`),
  on as many threads as the build uses: the least a JPEG build must do.

The ratio build / decode-only says what building costs on top of decoding. The projected
full UCF101 build divides its 13,320 videos by the build rate.

    python benchmarks/build_throughput.py                 # 48 videos, a few minutes
    python benchmarks/build_throughput.py --num_videos 96 --work_dir /tmp/kvbuild
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import os
import pathlib
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow_datasets as tfds  # noqa: E402
from input_pipeline import (  # noqa: E402
    cpu_model,
    load_average,
    work_directory,
    write_video_folder,
)

from kvideo import io as kio  # noqa: E402
from kvideo.data import storage as kstorage  # noqa: E402
from tfds_builders.common import video_examples  # noqa: E402
from tfds_builders.video_folder.video_folder_dataset_builder import Builder  # noqa: E402

UCF101_VIDEOS = 13_320
FRAME_COUNT_RANGE = (165, 195)  # UCF101 clips average ~7.2 s at 25 fps
SEED = 1


def videos_of(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(root.glob("*/*.avi"))


def decode_only(paths: list[pathlib.Path], workers: int) -> float:
    """Seconds to decode every frame of every file to RGB, `workers` files at a time."""

    def decode(path: pathlib.Path) -> int:
        return kio.scan(path, lambda frame: None).num_frames

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        frames = sum(pool.map(decode, paths))
    assert frames > 0
    return time.perf_counter() - start


def build(videos: pathlib.Path, data_dir: pathlib.Path, config: str, workers: int) -> float:
    """Seconds for a fresh `video_folder/<config>` build with `workers` threads."""
    shutil.rmtree(data_dir, ignore_errors=True)
    original = video_examples.default_workers
    video_examples.default_workers = lambda: workers  # the builder asks this
    try:
        builder = Builder(config=config, data_dir=os.fspath(data_dir))
        start = time.perf_counter()
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(videos))
        )
        return time.perf_counter() - start
    finally:
        video_examples.default_workers = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num_videos", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--work_dir", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    if args.num_videos < 6:
        parser.error("--num_videos must be >= 6")
    logging.getLogger("absl").setLevel(logging.ERROR)
    tfds.disable_progress_bar()
    cores = os.cpu_count() or 1
    print(f"machine: {cpu_model()}, {cores} CPUs, load average {load_average()}")

    with work_directory(args.work_dir, "kvideo_build_bench_") as work_dir:
        videos = work_dir / f"videos_n{args.num_videos}_seed{SEED}"
        if not (videos / ".complete").exists():
            shutil.rmtree(videos, ignore_errors=True)
            write_video_folder(videos, args.num_videos, SEED, FRAME_COUNT_RANGE)
            (videos / ".complete").touch()
        paths = videos_of(videos)
        frames = sum(kio.probe(p).num_frames for p in paths)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        print(
            f"data: {len(paths)} videos 320x240 XviD AVI, {frames / len(paths):.0f} frames "
            f"and {megabytes / len(paths):.2f} MB each on average; {args.rounds} rounds\n"
        )
        sides = [("decode-only", cores), ("decode-only", 1)]
        sides += [(config, w) for config in kstorage.STORAGES for w in (cores, 1)]
        seconds = {side: 0.0 for side in sides}
        for round_index in range(args.rounds):
            order = sides if round_index % 2 == 0 else list(reversed(sides))
            for name, workers in order:
                if name == "decode-only":
                    took = decode_only(paths, workers)
                else:
                    took = build(videos, work_dir / "tfds", name, workers)
                seconds[name, workers] += took
                print(f"  round {round_index + 1}: {name:11s} {workers} threads {took:6.1f} s")
        total = len(paths) * args.rounds

        def rate(side):
            return total / seconds[side]

        print()
        header = (
            f"{'side':11s} {'threads':>7s} {'videos/s':>9s} {'ratio':>6s} "
            f"{'full UCF101 (13,320 videos)':>28s}"
        )
        print(header + "\n" + "-" * len(header))
        for name, workers in sides:
            baseline = rate(("decode-only", workers))
            hours = UCF101_VIDEOS / rate((name, workers)) / 3600
            print(
                f"{name:11s} {workers:7d} {rate((name, workers)):9.2f} "
                f"{rate((name, workers)) / baseline:6.2f} {hours:25.2f} h"
            )
        print(
            "ratio = videos/s against decode-only at the same thread count. The full-UCF101 "
            "column\nis 13,320 / videos/s (one config; each split config builds every video)."
        )
        print(f"load average at the end {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
