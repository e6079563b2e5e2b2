"""Peak resident memory of a training input pipeline: before and after light shuffling.

The training pipeline used to shuffle 512 whole encoded videos in memory; it now reads
the dataset's files in a seeded random order, one example from each in turn, and buffers
64 encoded videos (`kvideo.data.make_clip_dataset`). This script generates a UCF101-like
set (320x240 XviD AVI, ~7 s at 25 fps), builds it as `video_folder` in both storages,
then, for each storage, runs the training pipeline (dense 16 frames at 112, batch 8) in
fresh processes with the old settings and with the new ones, alternating, and prints
each process's peak resident memory (`ru_maxrss`) and what the pipeline added to the
memory held once TensorFlow and the dataset were loaded.

    python benchmarks/pipeline_memory.py                      # 240 videos, ~10 minutes
    python benchmarks/pipeline_memory.py --num_videos 400 --work_dir /tmp/kvmem
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SETTINGS = {
    # What make_clip_dataset and load_examples did before: 512 examples in the shuffle
    # buffer, TFDS's default interleave (16 consecutive examples of a file at a time).
    "before": {"shuffle_buffer": 512, "block_length": 16},
    "after": {"shuffle_buffer": 64, "block_length": 1},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num_videos", type=int, default=240)
    parser.add_argument("--batches", type=int, default=120, help="batches read per process")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work_dir", type=pathlib.Path, default=None)
    parser.add_argument("--child", nargs=3, metavar=("DATA_DIR", "CONFIG", "SETTING"))
    return parser.parse_args()


def rss_mb() -> float:
    """Current resident memory of this process, from /proc (Linux)."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(data_dir: str, config: str, setting: str, batches: int) -> None:
    """Runs one pipeline and prints its memory figures as JSON."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    import tfds_builders  # noqa: F401
    from kvideo.data import Augmentation, ClipSampling, make_clip_dataset
    from kvideo.data import storage as kstorage

    options = SETTINGS[setting]
    builder = tfds.builder(f"video_folder/{config}", data_dir=data_dir)
    kind = kstorage.storage_of(builder.info.features)
    decoders = {kstorage.FRAMES_KEY: tfds.decode.SkipDecoding()} if kind == kstorage.JPEG else None
    read_config = tfds.ReadConfig(
        shuffle_seed=0,
        interleave_cycle_length=16,
        interleave_block_length=options["block_length"],
        try_autocache=False,
    )
    examples = builder.as_dataset(
        split="train", decoders=decoders, shuffle_files=True, read_config=read_config
    )
    dataset = make_clip_dataset(
        examples.repeat(),
        storage_kind=kind,
        training=True,
        batch_size=8,
        clip_sampling=ClipSampling(num_frames=16, frame_stride=2),
        augmentation=Augmentation(crop_size=112),
        shuffle_buffer=options["shuffle_buffer"],
    )
    loaded = rss_mb()  # TensorFlow and the dataset's graph, before any example is read
    iterator = iter(dataset)
    next(iterator)
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = builder.info.splits["train"]
    print(
        json.dumps(
            {
                "loaded_mb": loaded,
                "peak_mb": peak,
                "mean_example_mb": size.num_bytes / size.num_examples / 1e6,
                "clips_per_s": batches * 8 / seconds,
                "tf": tf.__version__,
            }
        )
    )


def main() -> None:
    args = parse_args()
    if args.child:
        child(*args.child, args.batches)
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tensorflow_datasets as tfds
    from input_pipeline import cpu_model, load_average, work_directory, write_video_folder

    from tfds_builders.video_folder.video_folder_dataset_builder import Builder

    with work_directory(args.work_dir, "kvideo_memory_") as work:
        videos, data_dir = work / "videos", work / "data"
        if not videos.exists():
            started = time.perf_counter()
            write_video_folder(videos, args.num_videos, seed=1)
            print(f"wrote {args.num_videos} videos in {time.perf_counter() - started:.0f} s")
        for config in ("jpeg", "bytes"):
            builder = Builder(config=config, data_dir=os.fspath(data_dir))
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(videos))
            )
        print(f"CPU: {cpu_model()}, load average {load_average()}\n")
        results: dict[tuple[str, str], list[dict]] = {}
        script = os.path.abspath(__file__)
        for _ in range(args.rounds):
            for config in ("jpeg", "bytes"):
                for setting in SETTINGS:
                    output = subprocess.run(
                        [
                            sys.executable,
                            script,
                            "--child",
                            os.fspath(data_dir),
                            config,
                            setting,
                            f"--batches={args.batches}",
                        ],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                    results.setdefault((config, setting), []).append(
                        json.loads(output.strip().splitlines()[-1])
                    )
        header = (
            f"{'storage':8s} {'setting':7s} {'buffer':>6s} {'example MB':>10s} "
            f"{'loaded MB':>9s} {'peak MB':>8s} {'added MB':>8s} {'clips/s':>8s}"
        )
        print(header + "\n" + "-" * len(header))
        for (config, setting), runs in results.items():
            peak = max(r["peak_mb"] for r in runs)
            loaded = min(r["loaded_mb"] for r in runs)
            print(
                f"{config:8s} {setting:7s} {SETTINGS[setting]['shuffle_buffer']:6d} "
                f"{runs[0]['mean_example_mb']:10.2f} {loaded:9.0f} {peak:8.0f} "
                f"{peak - loaded:8.0f} {sum(r['clips_per_s'] for r in runs) / len(runs):8.1f}"
            )
        print(
            f"\n{args.num_videos} videos, {args.batches} batches of 8 per process, "
            f"{args.rounds} processes per row (peak: the highest; loaded: the lowest)."
        )


if __name__ == "__main__":
    main()
