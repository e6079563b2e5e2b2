"""Throughput of the training input pipeline against decoding the same frames alone.

For JPEG storage and bytes storage, and for two common settings

    tsn8@224   TSN, 8 segments, crop 224 (JPEG frames stored at short side 256)
    dense16@112  dense clips of 16 frames, stride 2, crop 112 (JPEG frames at short side 128)

this measures, in clips per second on this machine:

* pipeline: the whole `kvideo.data.make_clip_dataset(..., training=True)`: shuffle,
  sample frame indices, decode, crop, flip, batch uint8 clips, prefetch (bytes storage
  also resizes to the crop size here). Resizing to the crop size and normalising belong to
  the model (`kvideo.layers.ClipPreprocessing`, on the accelerator).
* pipeline + preprocessing on the host: the same, followed by `ClipPreprocessing` in the
  `tf.data` graph, as if that work ran on this CPU: what a CPU-only run pays for it (in
  its training step) and what the pipeline cost before it moved into the model.
* decode-only: a `tf.data` pipeline over the same examples that samples frame indices
  the same way (`ClipSampling.train_indices`, same seed stream split the same way) and
  decodes those frames in full (JPEG:
  `tf.gather` + `tf.io.decode_jpeg` in `tf.map_fn`; bytes: `kvideo.io.read_frames` in
  `tf.numpy_function`), with the same map parallelism, batch size, prefetch and
  `tf.data.Options`, but no crop, resize, flip or normalisation.

The ratio pipeline / decode-only says how much the input pipeline costs on top of decoding.
All sides are measured in the same run, back to back, in alternating order over
`--rounds` rounds (ABC CBA ...), each after a warm-up, for `--seconds` (or `--batches`)
each. The ratio is that of the totals; the median and range of the per-round ratios show
how much the machine's speed drifted between rounds.

The videos are generated: 320x240 XviD-style AVI (MPEG-4 Part 2, B-frames, a keyframe
every 12 frames), 60-90 frames at 25 fps (`--min_frames`/`--max_frames` change that),
moving shapes on a drifting gradient with noise, like UCF101/HMDB51 files. They are built
with the `video_folder` TFDS builder as JPEG (short sides 256 and 128) and bytes.

Bytes storage, seeking: the same bytes dataset is also read with its seek tables removed
from every example (`keyframes`, `timestamps`), which is how a dataset built before seek
tables reads (decoding from frame 0 for every clip), in alternating rounds with the
normal read (decoding from the last keyframe before each clip). `--only_seek` measures
just that.

Evaluation, decoding: 10-clip evaluation (dense 16 frames, stride 2) of the JPEG videos,
decoding every sampled index (repeats included, as before) against decoding each stored
frame once (as `make_clip_dataset` does now): frames decoded per video and videos/s.
`--only_eval` measures just that.

Run from the repository root (defaults take a few minutes on 2 cores):

    python benchmarks/input_pipeline.py
    python benchmarks/input_pipeline.py --num_videos 48 --seconds 10 --work_dir /tmp/kvb
    python benchmarks/input_pipeline.py --only_seek --min_frames 150 --max_frames 220
    python benchmarks/input_pipeline.py --only_eval --min_frames 31 --max_frames 60
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402

from kvideo import io as kio  # noqa: E402
from kvideo.data import Augmentation, ClipSampling, load_examples, make_clip_dataset  # noqa: E402
from kvideo.data import storage as kstorage  # noqa: E402
from kvideo.data.augment import decode_jpeg_frames  # noqa: E402
from kvideo.data.views import crop_views  # noqa: E402
from kvideo.layers import ClipPreprocessing  # noqa: E402
from tfds_builders.video_folder.video_folder_dataset_builder import (  # noqa: E402
    Builder,
    VideoFolderConfig,
)

FRAME_WIDTH, FRAME_HEIGHT = 320, 240
FPS = 25.0
FRAME_COUNT_RANGE = (60, 90)
CLASS_NAMES = ("drift_left", "drift_down", "orbit")
SPLIT = "train+test"  # every generated video
SEED = 0


@dataclasses.dataclass(frozen=True)
class Setting:
    """One benchmarked configuration of the pipeline."""

    name: str
    clip_sampling: ClipSampling
    augmentation: Augmentation
    jpeg_short_side: int  # the JPEG dataset this setting reads


SETTINGS = (
    Setting(
        "tsn8@224",
        ClipSampling(method="tsn", num_segments=8),
        Augmentation(crop_size=224),
        jpeg_short_side=256,
    ),
    Setting(
        "dense16@112",
        ClipSampling(method="dense", num_frames=16, frame_stride=2),
        Augmentation(crop_size=112),
        jpeg_short_side=128,
    ),
)


@dataclasses.dataclass
class Throughput:
    """Clips and seconds accumulated over the rounds of one side of a comparison."""

    clips: int = 0
    seconds: float = 0.0
    per_round: list[float] = dataclasses.field(default_factory=list)

    def add(self, clips: int, seconds: float) -> None:
        self.clips += clips
        self.seconds += seconds
        self.per_round.append(clips / seconds)

    @property
    def clips_per_second(self) -> float:
        return self.clips / self.seconds


# --------------------------------------------------------------------------- videos


def render_video(label: int, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """A natural-ish clip: a drifting colour gradient, moving shapes, mild sensor noise.

    Returns:
        uint8 `(num_frames, 240, 320, 3)` RGB.
    """
    h, w = FRAME_HEIGHT, FRAME_WIDTH
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 200, size=3).astype(np.float32)
    tilt = rng.uniform(-0.4, 0.4, size=(2, 3)).astype(np.float32)
    shapes = [
        (
            rng.uniform(0, w),  # x
            rng.uniform(0, h),  # y
            rng.uniform(12, 45),  # size
            tuple(int(c) for c in rng.integers(0, 256, size=3)),  # colour
            rng.uniform(1.0, 4.0),  # speed, pixels per frame
            rng.uniform(0, 2 * np.pi),  # phase
        )
        for _ in range(int(rng.integers(3, 7)))
    ]
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    for t in range(num_frames):
        shift = 2.0 * t
        background = (
            base
            + tilt[0] * (xx[..., None] + shift)
            + tilt[1] * (yy[..., None] + 0.5 * shift)
            + 20.0 * np.sin((xx[..., None] + 3 * shift) / 37.0)
        )
        frame = np.clip(background, 0, 255).astype(np.uint8)
        for i, (x, y, size, colour, speed, phase) in enumerate(shapes):
            if label == 0:  # drift left
                cx, cy = (x - speed * t) % w, y + 10 * np.sin(0.1 * t + phase)
            elif label == 1:  # drift down
                cx, cy = x + 10 * np.sin(0.1 * t + phase), (y + speed * t) % h
            else:  # orbit around the centre
                angle = phase + 0.02 * speed * t
                cx, cy = w / 2 + 0.35 * w * np.cos(angle), h / 2 + 0.35 * h * np.sin(angle)
            centre = (int(cx), int(cy))
            if i % 2:
                cv2.circle(frame, centre, int(size), colour, -1, lineType=cv2.LINE_AA)
            else:
                half = int(size * 0.8)
                top_left = (centre[0] - half, centre[1] - half)
                bottom_right = (centre[0] + half, centre[1] + half)
                cv2.rectangle(frame, top_left, bottom_right, colour, -1)
        frame = cv2.GaussianBlur(frame, (3, 3), 0)
        noise = rng.normal(0.0, 3.0, size=frame.shape).astype(np.float32)
        frames[t] = np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return frames


def write_video_folder(
    root: pathlib.Path,
    num_videos: int,
    seed: int,
    frame_count_range: tuple[int, int] = FRAME_COUNT_RANGE,
) -> None:
    """Writes `num_videos` XviD AVI files as `root/<class>/<video>.avi`, round robin."""
    rng = np.random.default_rng(seed)
    for i in range(num_videos):
        label = i % len(CLASS_NAMES)
        folder = root / CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        num_frames = int(rng.integers(frame_count_range[0], frame_count_range[1] + 1))
        kio.write_video(
            folder / f"v_{CLASS_NAMES[label]}_g{i:03d}.avi",
            render_video(label, num_frames, rng),
            FPS,
            codec="mpeg4",
            codec_tag="XVID",
            max_b_frames=2,
            options={"b": "500k"},  # UCF101's XviD files average a few hundred kbit/s
        )


def build_datasets(
    work_dir: pathlib.Path,
    num_videos: int,
    frame_count_range: tuple[int, int] = FRAME_COUNT_RANGE,
    jpeg: bool = True,
) -> dict[str, Builder]:
    """Generates the videos (once per work dir) and builds every storage needed.

    Returns:
        `{"jpeg256": builder, "jpeg128": builder, "bytes": builder}`, all prepared
        (only "bytes" without `jpeg`).
    """
    low, high = frame_count_range
    videos = work_dir / f"videos_n{num_videos}_f{low}-{high}_seed{SEED}"
    data_dir = work_dir / f"tfds_n{num_videos}_f{low}-{high}_seed{SEED}"
    if not (videos / ".complete").exists():
        shutil.rmtree(videos, ignore_errors=True)
        write_video_folder(videos, num_videos, SEED, frame_count_range)
        (videos / ".complete").touch()
    configs = []
    if jpeg:
        configs = [
            VideoFolderConfig(name=f"jpeg{side}", storage=kstorage.JPEG, short_side=side)
            for side in sorted({s.jpeg_short_side for s in SETTINGS}, reverse=True)
        ]
    configs.append(kstorage.BYTES)  # the builder's own "bytes" config
    builders = {}
    for config in configs:
        builder = Builder(config=config, data_dir=os.fspath(data_dir))
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(videos))
        )
        builders[builder.builder_config.name] = builder
    return builders


# ------------------------------------------------------------------------ pipelines


def decode_only_dataset(
    examples: tf.data.Dataset,
    storage_kind: str,
    clip_sampling: ClipSampling,
    *,
    batch_size: int,
    shuffle_buffer: int,
    seed: int,
) -> tf.data.Dataset:
    """Samples the same frames as `make_clip_dataset(training=True)` and only decodes them.

    Mirrors the pipeline's structure (seeded shuffle, per-example seeds split the same
    way, AUTOTUNE deterministic map, batch, prefetch), so the frames sampled follow the same
    distribution as the pipeline's, then decodes those frames in full.
    """

    def read(data: bytes, indices: np.ndarray) -> np.ndarray:
        return kio.read_frames(data, indices)

    def fn(example: dict[str, tf.Tensor], seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        num_frames = tf.cast(example["num_frames"], tf.int32)
        sample_seed = tf.random.experimental.stateless_split(seed, 3)[0]
        indices = clip_sampling.train_indices(num_frames, sample_seed)
        if storage_kind == kstorage.JPEG:
            encoded = tf.gather(example[kstorage.FRAMES_KEY], indices)
            frames = tf.map_fn(
                lambda image: tf.io.decode_jpeg(image, channels=3),
                encoded,
                fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
            )
        else:
            frames = tf.numpy_function(
                read, [example[kstorage.VIDEO_KEY], indices], tf.uint8, stateful=False
            )
            frames.set_shape([clip_sampling.clip_length, None, None, 3])
        return frames, tf.cast(example["label"], tf.int32)

    examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    clips = tf.data.Dataset.zip((examples, seeds)).map(
        fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return clips.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def dataset_options() -> tf.data.Options:
    """The options given to both sides of every comparison."""
    options = tf.data.Options()
    options.autotune.enabled = True
    options.autotune.cpu_budget = os.cpu_count() or 1
    options.deterministic = True
    # As make_clip_dataset sets it: parallel clips, one thread per op.
    options.threading.max_intra_op_parallelism = 1
    return options


def timed_batches(
    dataset: tf.data.Dataset,
    batch_size: int,
    *,
    warmup_batches: int,
    seconds: float,
    batches: int,
) -> tuple[int, float]:
    """Iterates a fresh iterator: warm-up, then `batches` batches or `seconds` of them.

    Returns:
        (clips, seconds) of the timed part.
    """
    iterator = iter(dataset)
    for _ in range(warmup_batches):
        next(iterator)
    count = 0
    start = time.perf_counter()
    while True:
        next(iterator)
        count += 1
        elapsed = time.perf_counter() - start
        if (batches > 0 and count >= batches) or (batches <= 0 and elapsed >= seconds):
            break
    del iterator
    return count * batch_size, elapsed


def training_pipeline(
    examples: tf.data.Dataset,
    storage_kind: str,
    setting: Setting,
    args: argparse.Namespace,
    num_examples: int,
) -> tf.data.Dataset:
    """`make_clip_dataset(training=True)` as every comparison here runs it."""
    return make_clip_dataset(
        examples,
        storage_kind=storage_kind,
        training=True,
        batch_size=args.batch_size,
        clip_sampling=setting.clip_sampling,
        augmentation=setting.augmentation,
        seed=SEED,
        shuffle_buffer=num_examples,
    ).with_options(dataset_options())


def run_rounds(
    sides: dict[str, tuple[tf.data.Dataset, Throughput]], args: argparse.Namespace
) -> None:
    """Times each side once per round, in alternating order (ABC CBA ...)."""
    order = list(sides)
    for _ in range(args.rounds):
        for name in order:
            dataset, throughput = sides[name]
            throughput.add(
                *timed_batches(
                    dataset,
                    args.batch_size,
                    warmup_batches=args.warmup_batches,
                    seconds=args.seconds,
                    batches=args.batches,
                )
            )
        order.reverse()


def compare(
    builder: Builder, setting: Setting, args: argparse.Namespace
) -> tuple[Throughput, Throughput, Throughput]:
    """Measures pipeline, decode-only and pipeline + host preprocessing, interleaved."""
    examples, storage_kind, info = load_examples(builder, SPLIT, seed=SEED)
    num_examples = sum(info.splits[s].num_examples for s in SPLIT.split("+"))
    examples = examples.repeat()  # never run out; the shuffle buffer spans one epoch
    options = dataset_options()
    pipeline = training_pipeline(examples, storage_kind, setting, args, num_examples)
    decode_only = decode_only_dataset(
        examples,
        storage_kind,
        setting.clip_sampling,
        batch_size=args.batch_size,
        shuffle_buffer=num_examples,
        seed=SEED,
    ).with_options(options)
    preprocessing = ClipPreprocessing(setting.augmentation.crop_size)
    on_host = pipeline.map(
        lambda features, labels: (preprocessing(features["video"]), labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).with_options(options)
    sides = {
        "pipeline": (pipeline, Throughput()),
        "decode_only": (decode_only, Throughput()),
        "on_host": (on_host, Throughput()),
    }
    run_rounds(sides, args)
    return sides["pipeline"][1], sides["decode_only"][1], sides["on_host"][1]


def without_seek_tables(examples: tf.data.Dataset) -> tf.data.Dataset:
    """Examples as a dataset built before seek tables stores them: reads start at frame 0."""
    dropped = (kstorage.KEYFRAMES_KEY, kstorage.TIMESTAMPS_KEY)
    return examples.map(lambda example: {k: v for k, v in example.items() if k not in dropped})


def compare_seek(
    builder: Builder, setting: Setting, args: argparse.Namespace
) -> tuple[Throughput, Throughput]:
    """Bytes pipeline clips/s reading with the seek tables and without, interleaved."""
    examples, storage_kind, info = load_examples(builder, SPLIT, seed=SEED)
    num_examples = sum(info.splits[s].num_examples for s in SPLIT.split("+"))
    examples = examples.repeat()
    sides = {}
    for name, source in (("seek", examples), ("from_frame_0", without_seek_tables(examples))):
        dataset = training_pipeline(source, storage_kind, setting, args, num_examples)
        sides[name] = (dataset, Throughput())
    run_rounds(sides, args)
    return sides["seek"][1], sides["from_frame_0"][1]


def keyframe_summary(builder: Builder) -> str:
    """Mean frames and mean seekable keyframes per stored video."""
    examples, _, _ = load_examples(builder, SPLIT)
    frames, keyframes = [], []
    for example in examples.as_numpy_iterator():
        frames.append(int(example["num_frames"]))
        keyframes.append(len(example[kstorage.KEYFRAMES_KEY]))
    return (
        f"{np.mean(frames):.0f} frames and {np.mean(keyframes):.1f} seekable keyframes "
        "per video on average"
    )


def eval_views_dataset(
    examples: tf.data.Dataset, sampling: ClipSampling, augmentation: Augmentation, unique: bool
) -> tf.data.Dataset:
    """Every evaluation view of each JPEG video, batched by `batch_size` videos later.

    `unique=False` decodes every sampled index, repeats included, as the pipeline did
    before (overlapping test clips decoded their shared frames once per clip);
    `unique=True` decodes each stored frame once, as `make_clip_dataset` does now.
    """

    def views(example):
        indices = sampling.test_indices(tf.cast(example["num_frames"], tf.int32))
        flat = tf.reshape(indices, [-1])
        encoded = example[kstorage.FRAMES_KEY]
        if unique:
            wanted, positions = tf.unique(flat)
            frames = tf.gather(decode_jpeg_frames(tf.gather(encoded, wanted)), positions)
        else:
            frames = decode_jpeg_frames(tf.gather(encoded, flat))
        shape = tf.concat([tf.shape(indices), tf.shape(frames)[1:]], axis=0)
        return crop_views(tf.reshape(frames, shape), augmentation)

    return examples.map(views, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def run_eval_decoding(builder: Builder, args: argparse.Namespace) -> None:
    """Frames decoded per video and videos/s in 10-clip evaluation, before and after."""
    sampling = ClipSampling(num_frames=16, frame_stride=2, num_clips=10)
    augmentation = Augmentation(crop_size=112)
    examples, _, info = load_examples(builder, SPLIT, seed=SEED)
    counts = [int(e["num_frames"]) for e in examples.as_numpy_iterator()]
    per_video = {
        "before": np.mean([sampling.num_clips * sampling.clip_length for _ in counts]),
        "after": np.mean([len(np.unique(sampling.test_indices(n).numpy())) for n in counts]),
    }
    sides = {
        name: (
            eval_views_dataset(examples.repeat(), sampling, augmentation, unique=name == "after")
            .batch(args.batch_size)
            .with_options(dataset_options()),
            Throughput(),
        )
        for name in ("before", "after")
    }
    run_rounds(sides, args)
    print(
        "10-clip evaluation (dense 16 frames, stride 2, centre crop), JPEG frames, "
        f"{len(counts)} videos of {min(counts)}-{max(counts)} frames:"
    )
    for name, (_, throughput) in sides.items():
        print(
            f"  {name:6s} {per_video[name]:6.1f} frames decoded per video, "
            f"{throughput.clips_per_second:7.1f} videos/s"
        )
    ratio = sides["after"][1].clips_per_second / sides["before"][1].clips_per_second
    print(f"  speed-up {ratio:.2f}\n")


def run_seek_comparison(builders: dict[str, Builder], args: argparse.Namespace) -> None:
    print(f"bytes storage: {keyframe_summary(builders[kstorage.BYTES])}")
    header = (
        f"{'setting':12s} {'from frame 0':>13s} {'with seek':>10s} {'speed-up':>9s}"
        f" {'median (range) per round':>25s}"
    )
    print(header + "\n" + "-" * len(header))
    for setting in SETTINGS:
        seek, sequential = compare_seek(builders[kstorage.BYTES], setting, args)
        per_round = [a / b for a, b in zip(seek.per_round, sequential.per_round, strict=True)]
        spread = f"{np.median(per_round):.2f} ({min(per_round):.2f}-{max(per_round):.2f})"
        print(
            f"{setting.name:12s} {sequential.clips_per_second:13.1f} "
            f"{seek.clips_per_second:10.1f} "
            f"{seek.clips_per_second / sequential.clips_per_second:9.2f} {spread:>25s}",
            flush=True,
        )
    print("clips/s of the whole training pipeline on bytes storage, same data both sides.\n")


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--num_videos", type=int, default=24, help="videos generated, spread over 3 classes (>= 6)"
    )
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="timed seconds per side and round"
    )
    parser.add_argument(
        "--batches", type=int, default=0, help="timed batches per side and round (overrides)"
    )
    parser.add_argument("--warmup_batches", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=6, help="alternating rounds (this machine's rates vary)"
    )
    parser.add_argument("--min_frames", type=int, default=FRAME_COUNT_RANGE[0])
    parser.add_argument("--max_frames", type=int, default=FRAME_COUNT_RANGE[1])
    parser.add_argument(
        "--only_eval",
        action="store_true",
        help="only frames decoded per video and videos/s of 10-clip evaluation, before and "
        "after decoding each stored frame once",
    )
    parser.add_argument(
        "--only_seek",
        action="store_true",
        help="only bytes storage read with and without seek tables",
    )
    parser.add_argument(
        "--work_dir",
        type=pathlib.Path,
        default=None,
        help="keep videos and datasets here and reuse them (default: a temp dir, deleted)",
    )
    args = parser.parse_args(argv)
    for name in ("num_videos", "batch_size", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if args.num_videos < 2 * len(CLASS_NAMES):
        # The builder's stratified split needs 2 videos per class to fill both splits.
        parser.error(f"--num_videos must be >= {2 * len(CLASS_NAMES)}")
    if args.seconds <= 0 and args.batches <= 0:
        parser.error("give --seconds > 0 or --batches > 0")
    if not 16 <= args.min_frames <= args.max_frames:
        parser.error("need 16 <= --min_frames <= --max_frames")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)
    tf.get_logger().setLevel(logging.ERROR)
    tfds.disable_progress_bar()

    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, load average {load_average()}")
    print(
        f"python {platform.python_version()}, tensorflow {tf.__version__}, tfds {tfds.__version__}"
    )

    with work_directory(args.work_dir, "kvideo_bench_") as work_dir:
        start = time.perf_counter()
        frame_count_range = (args.min_frames, args.max_frames)
        builders = build_datasets(
            work_dir, args.num_videos, frame_count_range, jpeg=not args.only_seek
        )
        print(
            f"data: {args.num_videos} videos {FRAME_WIDTH}x{FRAME_HEIGHT} XviD AVI, "
            f"{args.min_frames}-{args.max_frames} frames; built as "
            f"{', '.join(builders)} in {time.perf_counter() - start:.0f} s ({work_dir})"
        )
        amount = f"{args.batches} batches" if args.batches > 0 else f"{args.seconds:g} s"
        rounds = (
            f"batch {args.batch_size}, {args.warmup_batches} warm-up batches, then {amount} "
            f"per side, x{args.rounds} alternating rounds\n"
        )
        if args.only_seek:
            print(rounds)
            run_seek_comparison(builders, args)
            return 0
        if args.only_eval:
            print(rounds)
            run_eval_decoding(builders["jpeg128"], args)
            return 0
        for key, builder in builders.items():
            if key.startswith(kstorage.JPEG):
                print(f"  {key}: {mean_jpeg_kb(builder):.1f} KB per stored frame on average")
        print(
            "  (UCF101 frames average ~22 KB as 320x240 OpenCV JPEGs; bigger frames take "
            "longer to decode)"
        )
        print(rounds)

        rows = []
        for storage_kind in (kstorage.JPEG, kstorage.BYTES):
            for setting in SETTINGS:
                key = f"jpeg{setting.jpeg_short_side}" if storage_kind == kstorage.JPEG else "bytes"
                pipeline, decode_only, on_host = compare(builders[key], setting, args)
                rows.append((key, setting.name, pipeline, decode_only, on_host))
                print(
                    f"  {key:8s} {setting.name:12s} pipeline {pipeline.clips_per_second:7.1f} "
                    f"decode-only {decode_only.clips_per_second:7.1f} "
                    f"+preprocessing on host {on_host.clips_per_second:7.1f} clips/s",
                    flush=True,
                )
        print()
        print_table(rows)
        print()
        run_seek_comparison(builders, args)
        run_eval_decoding(builders["jpeg128"], args)
        print(f"load average at the end {load_average()} (other processes skew absolute rates)")
    return 0


@contextlib.contextmanager
def work_directory(path: pathlib.Path | None, prefix: str):
    """`path`, created if needed and kept; or a temporary directory, deleted afterwards."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    temp_dir = tempfile.mkdtemp(prefix=prefix)
    try:
        yield pathlib.Path(temp_dir)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def mean_jpeg_kb(builder: Builder) -> float:
    """Mean size of the stored JPEG frames, in KB, over the first few videos."""
    examples, _, _ = load_examples(builder, "train")
    sizes = [len(frame) for example in examples.take(8) for frame in example["frames"].numpy()]
    return sum(sizes) / len(sizes) / 1000


def cpu_model() -> str:
    """The CPU's model name where /proc/cpuinfo tells it, else the architecture."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def print_table(rows: list[tuple[str, str, Throughput, Throughput, Throughput]]) -> None:
    header = (
        f"{'storage':9s} {'setting':12s} {'pipeline':>9s} {'decode-only':>12s} {'ratio':>6s}"
        f" {'median (range) per round':>25s} {'+prep. on host':>15s} {'ratio':>6s}"
    )
    print(header + "\n" + "-" * len(header))
    for key, setting, pipeline, decode_only, on_host in rows:
        per_round = [p / d for p, d in zip(pipeline.per_round, decode_only.per_round, strict=True)]
        spread = f"{np.median(per_round):.2f} ({min(per_round):.2f}-{max(per_round):.2f})"
        print(
            f"{key:9s} {setting:12s} {pipeline.clips_per_second:9.1f} "
            f"{decode_only.clips_per_second:12.1f} "
            f"{pipeline.clips_per_second / decode_only.clips_per_second:6.2f} {spread:>25s} "
            f"{on_host.clips_per_second:15.1f} "
            f"{on_host.clips_per_second / decode_only.clips_per_second:6.2f}"
        )
    print(
        "clips/s. ratio = pipeline / decode-only: both decode the same sampled frames whole;\n"
        "the pipeline also crops, flips and batches uint8 clips (bytes: and resizes). The last\n"
        "two columns add the model's ClipPreprocessing (resize, normalise) on this CPU."
    )


if __name__ == "__main__":
    sys.exit(main())
