"""The `tf.data` input pipeline: stored examples -> batches of uint8 clips for `model.fit`.

    examples (TFDS, frames undecoded) -> validity gate -> shuffle -> per-example seed
      -> sample frame indices -> decode only those frames -> crop -> flip
      -> batch clips of one crop size -> prefetch

Clips leave the pipeline as uint8 crops at the size they were cut; the model's first
layer (`kvideo.layers.ClipPreprocessing`) resizes them to `crop_size` and normalises them,
on the accelerator. On the host that resize and the float32 output cost as much CPU time
as decoding the JPEG frames themselves (benchmarks/README.md). So that crops batch
without resizing, a training batch shares one crop size (the multi-scale crop's scale pair
is drawn per batch; position and flip per clip), and clips are grouped by shape before
batching, so a batch never mixes sizes. Clips are resized to `crop_size` on the host
where sizes would vary without bound: "bytes" storage (each video at its own
resolution), the random resized crop, or `Augmentation(resize_in_pipeline=True)` (fixed
shapes, e.g. for XLA or TPUs).

Everything runs in-graph except decoding "bytes" storage, which calls `kvideo.io` through
`tf.numpy_function`. Under a fixed `seed` the pipeline yields the same clips on every run:
shuffling is seeded and each example draws its randomness from a stateless seed of its own.

Bad examples never reach the model as a zero clip with a real label: an example whose
stored frame count is 0 (or larger than its stored frames), whose stored JPEG frames are
not all whole (truncated or empty), or whose video fails to decode, is dropped, logged,
and counted in a `SkipLog`. A JPEG frame damaged inside its data fails only when decoded;
`ignore_errors` then drops the clip with TensorFlow's logged warning, uncounted.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from kvideo import io as kio
from kvideo.data import augment, sampling, storage

_log = logging.getLogger(__name__)

DENSE = "dense"
TSN = "tsn"
TRAIN_CROPS = ("multiscale", "random_resized", "center")
TEST_CROPS = ("center", "three_crop")


@dataclasses.dataclass(frozen=True)
class ClipSampling:
    """Which frames make a clip.

    Attributes:
        method: "dense" (`num_frames` consecutive frames, `frame_stride` apart) or "tsn"
            (one frame from each of `num_segments` segments).
        num_frames: frames per dense clip.
        frame_stride: gap between the frames of a dense clip.
        num_segments: segments (= frames) per TSN clip.
        num_clips: test views along time (evenly spaced clips or segment phases).
    """

    method: str = DENSE
    num_frames: int = 16
    frame_stride: int = 1
    num_segments: int = 8
    num_clips: int = 1

    def __post_init__(self):
        if self.method not in (DENSE, TSN):
            raise ValueError(f"`method` must be 'dense' or 'tsn'. Received: method={self.method!r}")
        for name in ("num_frames", "frame_stride", "num_segments", "num_clips"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")

    @property
    def clip_length(self) -> int:
        """Frames in one clip."""
        return self.num_frames if self.method == DENSE else self.num_segments

    def train_indices(self, video_frames: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """`(clip_length,)` random frame indices for training."""
        if self.method == DENSE:
            return sampling.dense_clip_indices(
                video_frames, self.num_frames, self.frame_stride, training=True, seed=seed
            )
        return sampling.tsn_indices(video_frames, self.num_segments, training=True, seed=seed)

    def test_indices(self, video_frames: tf.Tensor) -> tf.Tensor:
        """`(num_clips, clip_length)` deterministic frame indices for evaluation."""
        if self.method == DENSE:
            return sampling.multi_clip_indices(
                video_frames, self.num_frames, self.frame_stride, self.num_clips
            )
        return sampling.multi_segment_indices(video_frames, self.num_segments, self.num_clips)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Spatial transform of a clip, for training and for test.

    Attributes:
        crop_size: the model's input height and width. Clips reach it in the model's
            `ClipPreprocessing`, or here with `resize_in_pipeline`.
        train_crop: "multiscale" (TSN corner crop with scale jitter), "random_resized"
            (Inception-style), or "center".
        scales, max_distort, more_fix_crop: the multi-scale crop's options (13 fixed
            positions instead of 5 with `more_fix_crop`).
        flip: mirror half of the training clips. Turn it off when direction is part of
            the label (e.g. "pushing left" vs "pushing right").
        test_crop: "center" or "three_crop" (three squares along the long side).
        test_crop_fraction: side of the test crop as a fraction of the short side;
            `crop_size / resize_size`, e.g. 112/128 = 0.875, for "resize then centre crop".
            Three-crop uses 1.0 regardless, as in its protocol.
        resize_in_pipeline: resize every clip to `crop_size` on the host, so that every
            batch has one shape (for XLA or TPUs, which compile once per shape). The
            default leaves the resize to the model, except where it is always done here
            (bytes storage, random resized crop).
    """

    crop_size: int = 112
    train_crop: str = "multiscale"
    scales: tuple[float, ...] = augment.TSN_SCALES
    max_distort: int = 1
    more_fix_crop: bool = False
    flip: bool = True
    test_crop: str = "center"
    test_crop_fraction: float = 0.875
    resize_in_pipeline: bool = False

    def __post_init__(self):
        if not isinstance(self.crop_size, int) or self.crop_size < 1:
            raise ValueError(
                f"`crop_size` must be a positive integer. Received: {self.crop_size!r}"
            )
        if self.train_crop not in TRAIN_CROPS:
            raise ValueError(
                f"`train_crop` must be one of {TRAIN_CROPS}. "
                f"Received: train_crop={self.train_crop!r}"
            )
        if self.test_crop not in TEST_CROPS:
            raise ValueError(
                f"`test_crop` must be one of {TEST_CROPS}. Received: test_crop={self.test_crop!r}"
            )

    @property
    def num_test_crops(self) -> int:
        return 3 if self.test_crop == "three_crop" else 1

    def train_window(
        self,
        height: tf.Tensor,
        width: tf.Tensor,
        seed: tf.Tensor,
        size_seed: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """int32 `[y, x, h, w]` crop window for one training clip.

        `size_seed`, shared by the clips of a batch, draws the multi-scale crop's size.
        """
        if self.train_crop == "multiscale":
            return augment.multiscale_crop_window(
                height,
                width,
                seed,
                self.scales,
                self.max_distort,
                self.more_fix_crop,
                size_seed=size_seed,
            )
        if self.train_crop == "random_resized":
            return augment.random_resized_crop_window(height, width, seed)
        return augment.center_crop_window(height, width, self.test_crop_fraction)

    def test_windows(self, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
        """int32 `(num_test_crops, 4)` crop windows for evaluation."""
        if self.test_crop == "three_crop":
            return augment.three_crop_windows(height, width, 1.0)
        return augment.center_crop_window(height, width, self.test_crop_fraction)[None]


def test_views(frames: tf.Tensor, augmentation: Augmentation) -> tf.Tensor:
    """The test crops of decoded frames, shared by evaluation and export.

    Args:
        frames: `(frames, height, width, 3)` uint8.

    Returns:
        `(num_test_crops, frames, h, w, 3)` uint8: the crops at the size they were cut
        (all test crops of a frame size share it), or at `crop_size` with
        `augmentation.resize_in_pipeline`.
    """
    shape = tf.shape(frames)
    windows = augmentation.test_windows(shape[1], shape[2])
    views = [augment.crop(frames, windows[i]) for i in range(augmentation.num_test_crops)]
    if augmentation.resize_in_pipeline:
        views = [augment.resize(v, augmentation.crop_size) for v in views]
    return tf.stack(views)


class SkipLog:
    """Counts and logs the examples a pipeline dropped, with the reason. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._skipped: list[tuple[str, str]] = []

    def record(self, video_id: str, reason: str) -> None:
        with self._lock:
            self._skipped.append((video_id, reason))
            count = len(self._skipped)
        _log.warning("Skipping video %s: %s (%d skipped so far)", video_id, reason, count)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._skipped)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(video_id, reason) of every dropped example, in the order they were met."""
        with self._lock:
            return list(self._skipped)


def load_examples(
    builder: str | tfds.core.DatasetBuilder,
    split: str,
    *,
    data_dir: str | None = None,
    shuffle_files: bool = False,
    seed: int = 0,
) -> tuple[tf.data.Dataset, str, tfds.core.DatasetInfo]:
    """Reads a built kvideo dataset with its frames left encoded.

    Returns:
        (examples, storage, info): the raw examples, "jpeg" or "bytes", and the
        dataset's `DatasetInfo` (class names are `info.features["label"].names`).
    """
    if isinstance(builder, str):
        builder = tfds.builder(builder, data_dir=data_dir)
    kind = storage.storage_of(builder.info.features)
    decoders = {storage.FRAMES_KEY: tfds.decode.SkipDecoding()} if kind == storage.JPEG else None
    read_config = tfds.ReadConfig(shuffle_seed=seed)
    examples = builder.as_dataset(
        split=split, decoders=decoders, shuffle_files=shuffle_files, read_config=read_config
    )
    return examples, kind, builder.info


def make_clip_dataset(
    examples: tf.data.Dataset,
    *,
    storage_kind: str,
    training: bool,
    batch_size: int,
    clip_sampling: ClipSampling = ClipSampling(),
    augmentation: Augmentation = Augmentation(),
    seed: int = 0,
    shuffle_buffer: int = 512,
    skip_log: SkipLog | None = None,
    drop_remainder: bool | None = None,
    num_parallel_calls: int = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Batches of `(clips, labels)` from stored examples.

    Args:
        examples: examples of a kvideo dataset, as returned by `load_examples`.
        storage_kind: "jpeg" or "bytes", as returned by `load_examples`.
        training: random sampling and augmentation, shuffled (True); or deterministic
            test views (False).
        batch_size: clips per batch.
        clip_sampling: which frames make a clip.
        augmentation: spatial transform.
        seed: makes shuffling and every random choice reproducible.
        shuffle_buffer: examples held for shuffling when training.
        skip_log: receives every dropped example; a fresh one is made if None.
        drop_remainder: drop a last partial batch; defaults to `training`.

    Returns:
        A dataset of `(clips, labels)`, for a model that starts with
        `kvideo.layers.ClipPreprocessing` (as `build_video_classifier` builds it). Training
        clips are uint8 `(batch, frames, h, w, 3)`, where `(h, w)` is the crop size the
        batch was cut at (`crop_size` where the pipeline resizes, see the module
        docstring); test clips are the same when there is one view, else
        `(batch, views, frames, h, w, 3)` with `views = num_clips * num_test_crops` ordered
        clip-major. Labels are int32 `(batch,)`.
    """
    storage.check_storage(storage_kind)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}")
    skip_log = skip_log if skip_log is not None else SkipLog()
    drop_remainder = training if drop_remainder is None else drop_remainder
    resize_here = (
        augmentation.resize_in_pipeline
        or storage_kind == storage.BYTES
        or (training and augmentation.train_crop == "random_resized")
    )

    examples = examples.filter(_validity_gate(storage_kind, skip_log))
    if training:
        examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    # One seed per batch for the crop size: consecutive runs of `batch_size` clips share it.
    batch_seeds = (
        tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        .batch(2)
        .map(lambda s: tf.random.experimental.stateless_fold_in(s, _BATCH_SEED_SALT))
        .flat_map(lambda s: tf.data.Dataset.from_tensors(s).repeat(batch_size))
    )
    clips = tf.data.Dataset.zip((examples, seeds, batch_seeds)).map(
        _clip_fn(storage_kind, training, clip_sampling, augmentation, skip_log, resize_here),
        num_parallel_calls=num_parallel_calls,
        deterministic=True,
    )
    if storage_kind == storage.JPEG:
        clips = clips.ignore_errors(log_warning=True)
    else:  # drop the clips whose video failed to decode
        clips = clips.filter(_is_ok).map(_drop_ok)
    # A batch holds clips of one shape. Clips arrive in runs that share it (one crop size
    # per batch, or one test crop size per frame size), so this is plain batching unless
    # a dropped clip or a video of another size breaks a run.
    clips = clips.group_by_window(
        _shape_key,
        lambda _, window: window.batch(batch_size, drop_remainder=drop_remainder),
        window_size=batch_size,
    )
    clips = clips.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Parallelism comes from decoding many clips at once; letting each op also spread over
    # threads only adds contention (TSN-8 at 224 on 2 cores: 178 -> 301 clips/s with it).
    options.threading.max_intra_op_parallelism = 1
    return clips.with_options(options)


# Makes the per-batch seeds a different stream from the per-clip seeds.
_BATCH_SEED_SALT = 0x6B76


def _shape_key(clip, label):
    del label
    shape = tf.shape(clip, out_type=tf.int64)
    return shape[-3] * (1 << 20) + shape[-2]


def _is_ok(clip, label, ok):
    del clip, label
    return ok


def _drop_ok(clip, label, ok):
    del ok
    return clip, label


def _validity_gate(storage_kind: str, skip_log: SkipLog):
    def record(video_id: bytes, reason: bytes) -> bool:
        skip_log.record(video_id.decode("utf-8", "replace"), reason.decode())
        return False

    def gate(example):
        num_frames = tf.cast(example["num_frames"], tf.int32)
        ok = num_frames > 0
        reason = tf.constant("stored frame count is 0")
        if storage_kind == storage.JPEG:
            frames = example[storage.FRAMES_KEY]
            enough = tf.shape(frames)[0] >= num_frames
            reason = tf.where(ok, tf.constant("fewer stored frames than its frame count"), reason)
            ok = ok & enough
            complete = _complete_jpegs(frames)
            reason = tf.where(
                ok, tf.constant("a stored frame is not a whole JPEG (truncated or empty)"), reason
            )
            ok = ok & complete
        return tf.cond(
            ok,
            lambda: tf.constant(True),
            lambda: tf.numpy_function(
                record, [example["video_id"], reason], tf.bool, stateful=True
            ),
        )

    return gate


def _complete_jpegs(frames: tf.Tensor) -> tf.Tensor:
    """Whether every encoded frame starts with JPEG's SOI marker and ends with its EOI.

    A truncated or empty frame would fail to decode mid-epoch; this catches it up front so
    it is counted in the `SkipLog` with its video. kvideo's builders write every frame with
    OpenCV, which ends it with EOI. A frame damaged inside its data still fails at decode
    time, where `ignore_errors` drops the clip with TensorFlow's logged warning.
    """
    lengths = tf.strings.length(frames)
    two = tf.fill(tf.shape(lengths), 2)
    head = tf.strings.substr(frames, tf.zeros_like(lengths), two)
    tail = tf.strings.substr(frames, tf.maximum(lengths - 2, 0), two)
    return tf.reduce_all((lengths >= 4) & (head == b"\xff\xd8") & (tail == b"\xff\xd9"))


def _clip_fn(
    storage_kind: str,
    training: bool,
    clip_sampling: ClipSampling,
    augmentation: Augmentation,
    skip_log: SkipLog,
    resize_here: bool,
):
    size = augmentation.crop_size
    num_views = 1 if training else augmentation.num_test_crops

    def decode_bytes(
        data: bytes,
        indices: np.ndarray,
        video_id: bytes,
        keyframes: np.ndarray,
        timestamps: np.ndarray,
    ):
        # The stored seek table lets the decode start at the keyframe before the clip;
        # without one (empty, or a dataset built before it existed) it starts at frame 0.
        seek_table = storage.seek_table_of(keyframes, timestamps)
        try:
            return kio.read_frames(data, indices.tolist(), seek_table=seek_table), True
        except kio.VideoDecodeError as err:
            skip_log.record(video_id.decode("utf-8", "replace"), str(err))
            # A placeholder that the `ok` filter removes before batching.
            return np.zeros((len(indices), 1, 1, 3), np.uint8), False

    def fn(example, seed, batch_seed):
        num_frames = tf.cast(example["num_frames"], tf.int32)
        sample_seed, crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3)
        )
        if training:
            indices = clip_sampling.train_indices(num_frames, sample_seed)[None]
        else:
            indices = clip_sampling.test_indices(num_frames)
        num_clips = tf.shape(indices)[0]
        flat = tf.reshape(indices, [-1])

        if storage_kind == storage.JPEG:
            frames = augment.decode_jpeg_frames(tf.gather(example[storage.FRAMES_KEY], flat))
        else:
            frames, ok = tf.numpy_function(
                decode_bytes,
                [
                    example[storage.VIDEO_KEY],
                    flat,
                    example["video_id"],
                    example.get(storage.KEYFRAMES_KEY, tf.zeros([0, 2], tf.int64)),
                    example.get(storage.TIMESTAMPS_KEY, tf.zeros([0], tf.int64)),
                ],
                [tf.uint8, tf.bool],
                stateful=False,
            )
            frames.set_shape([None, None, None, 3])
            ok.set_shape([])
        shape = tf.shape(frames)
        height, width = shape[1], shape[2]

        if training:
            windows = augmentation.train_window(height, width, crop_seed, batch_seed)[None]
        else:
            windows = augmentation.test_windows(height, width)
        crops = [augment.crop(frames, windows[i]) for i in range(num_views)]
        if training and augmentation.flip:
            crops = [augment.random_flip_left_right(crops[0], flip_seed)]
        if resize_here:
            crops = [augment.resize(c, size) for c in crops]
        length = clip_sampling.clip_length
        if training or clip_sampling.num_clips * num_views == 1:
            views = crops[0]  # one view: no stacking or reordering
        else:
            views = tf.stack(crops)
            crop_h, crop_w = tf.shape(views)[2], tf.shape(views)[3]
            # (crops, clips * frames, ...) -> (clips * crops, frames, ...), clip-major.
            views = tf.reshape(views, [num_views, num_clips, length, crop_h, crop_w, 3])
            views = tf.transpose(views, [1, 0, 2, 3, 4, 5])
            views = tf.reshape(views, [-1, length, crop_h, crop_w, 3])
        label = tf.cast(example["label"], tf.int32)
        if storage_kind == storage.JPEG:
            return views, label  # a JPEG decode error raises; ignore_errors drops the clip
        return views, label, ok

    return fn
