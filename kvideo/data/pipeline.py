"""The `tf.data` input pipeline: stored examples -> batches of uint8 clips for `model.fit`.

    examples (TFDS, frames undecoded) -> validity gate -> shuffle -> per-example seed
      -> sample frame indices -> decode only those frames (each once) -> crop -> flip
      -> batch clips of one crop size -> prefetch -> ({"video": clips}, labels)

Features are a dict of named inputs (`kvideo.inputs`), as models take them.

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

import logging
import threading
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from kvideo import inputs
from kvideo import io as kio
from kvideo.data import augment, storage
from kvideo.data.config import Augmentation, ClipSampling
from kvideo.data.views import (  # noqa: F401  (test_views: public here too)
    crop_views,
    stack_request,
    test_views,
)

_log = logging.getLogger(__name__)


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

    With `shuffle_files` the dataset's files are read in a seeded random order (a new one
    every epoch), several at a time, one example from each in turn: with TFDS's own
    shuffle of examples when it wrote them, this is the light part of shuffling (see
    `make_clip_dataset`'s `shuffle_buffer` for the rest).

    Returns:
        (examples, storage, info): the raw examples, "jpeg" or "bytes", and the
        dataset's `DatasetInfo` (class names are `info.features["label"].names`).
    """
    if isinstance(builder, str):
        builder = tfds.builder(builder, data_dir=data_dir)
    kind = storage.storage_of(builder.info.features)
    decoders = {storage.FRAMES_KEY: tfds.decode.SkipDecoding()} if kind == storage.JPEG else None
    if storage.has_flow(builder.info.features):
        # Flow images too are decoded in the pipeline, only the sampled ones.
        decoders.update({key: tfds.decode.SkipDecoding() for key in storage.FLOW_KEYS})
    read_config = tfds.ReadConfig(
        shuffle_seed=seed,
        interleave_cycle_length=16,
        interleave_block_length=1,
        # TFDS caches small datasets in memory by itself; the pipeline's own reads (a
        # sample batch, a held-out index) then warn that they left the cache unfinished.
        try_autocache=False,
    )
    examples = builder.as_dataset(
        split=split, decoders=decoders, shuffle_files=shuffle_files, read_config=read_config
    )
    return examples, kind, builder.info


def split_index(
    builder: tfds.core.DatasetBuilder, split: str
) -> tuple[list[str], list[int], list[str] | None]:
    """The video ids, labels and (when the dataset stores them) groups of a split.

    One pass over the split that decodes no frames (it still reads the stored bytes).

    Returns:
        `(video_ids, labels, groups)`; `groups` is None when the dataset has no `group`
        feature (UCF101's gNN).
    """
    kind = storage.storage_of(builder.info.features)
    heavy = [storage.FRAMES_KEY if kind == storage.JPEG else storage.VIDEO_KEY]
    if storage.has_flow(builder.info.features):
        heavy += storage.FLOW_KEYS
    examples = builder.as_dataset(
        split=split, decoders={key: tfds.decode.SkipDecoding() for key in heavy}
    )
    has_group = "group" in builder.info.features
    keys = ["video_id", "label"] + (["group"] if has_group else [])
    examples = examples.map(lambda e: {k: e[k] for k in keys})
    ids, labels, groups = [], [], []
    for example in examples.as_numpy_iterator():
        ids.append(example["video_id"].decode("utf-8"))
        labels.append(int(example["label"]))
        if has_group:
            groups.append(str(example["group"]))
    return ids, labels, groups if has_group else None


def select_videos(examples: tf.data.Dataset, video_ids: set[str], keep: bool) -> tf.data.Dataset:
    """The examples whose `video_id` is in `video_ids` (`keep=True`) or is not (False)."""
    if not video_ids:
        return examples.take(0) if keep else examples
    keys = sorted(video_ids)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.ones([len(keys)], tf.bool)),
        default_value=False,
    )
    return examples.filter(lambda e: tf.equal(table.lookup(e["video_id"]), keep))


def make_clip_dataset(
    examples: tf.data.Dataset,
    *,
    storage_kind: str,
    training: bool,
    batch_size: int,
    clip_sampling: ClipSampling = ClipSampling(),
    augmentation: Augmentation = Augmentation(),
    seed: int = 0,
    shuffle_buffer: int = 64,
    skip_log: SkipLog | None = None,
    drop_remainder: bool | None = None,
    num_parallel_calls: int = tf.data.AUTOTUNE,
    modalities: Sequence[str] = (inputs.VIDEO,),
    stack_length: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
    repeat: bool = False,
    skip_examples: int = 0,
    with_video_ids: bool = False,
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
        shuffle_buffer: encoded examples held for shuffling when training. This buffer is
            most of what the pipeline holds in memory: `shuffle_buffer` times the mean
            stored size of an example (UCF101's XviD files average 0.49 MB: 6.5 GB over
            13,320 videos), plus the clips in flight (decoded frames of up to AUTOTUNE
            parallel examples, and the prefetched batches; ~150 MB for dense 16-frame
            clips at 112 in `benchmarks/pipeline_memory.py`). Shuffling across the whole
            split comes mostly from the file order (`load_examples(shuffle_files=True)`)
            and TFDS's shuffle at build time, so a small buffer suffices.
        skip_log: receives every dropped example; a fresh one is made if None.
        drop_remainder: drop a last partial batch; defaults to `training`.
        modalities: the named inputs to yield (`kvideo.inputs`): ``"video"`` (RGB
            frames), ``"flow"`` (stored optical flow; a dataset built with flow, e.g.
            ``video_folder/jpeg_flow``), ``"rgb_diff"`` (RGB frames whose differences the
            model takes). All of a clip's inputs come from the same frame indices, the same
            crop window (scaled to the flow's resolution when it differs from the frames')
            and the same flip, and every stored frame is decoded once.
        stack_length: L, the flow fields (flow) or frame differences (rgb_diff) per sampled
            frame; None: `ClipSampling.default_stack_length` (5 for TSN segments, as TSN
            stacks; 1 for dense clips, the field of each frame, as 3D models take).
        input_context: for `tf.distribute.Strategy.distribute_datasets_from_function`:
            `batch_size` is then the *global* batch, the dataset yields per-replica
            batches (`batch_size / num_replicas_in_sync`), and this input pipeline keeps
            only its share of the examples. The global order is the same on every
            pipeline (seeded), and pipeline `i` of `n` takes positions
            `[j * B + i * B / n, j * B + (i + 1) * B / n)` of global batch `j` (`B` =
            `batch_size`), with the per-clip and per-batch seeds those positions have in
            a one-pipeline run. So global batch `j` holds the same clips whatever the
            number of workers and replicas, as long as no example is dropped (a dropped
            example shifts its pipeline's later batches by one clip). Each example is
            checked and counted (`skip_log`) by the one pipeline that owns it.
        repeat: repeat the (reshuffled) examples without end, before sharding and
            batching, so that batches run on across epochs (training only).
        skip_examples: skip this many examples of the global order first, before any
            decoding (a resumed run: `steps * batch_size`).
        with_video_ids: also yield each clip's `video_id`, for evaluation reports that name
            videos. Nothing else changes.

    Returns:
        A dataset of `({"video": clips}, labels)` (one entry per name of `modalities`),
        for a model that starts with `kvideo.layers.ClipPreprocessing` (as
        `build_video_classifier` builds it). Training clips are uint8
        `(batch, frames, h, w, C)`, where `(h, w)` is the crop size the batch was cut at
        (`crop_size` where the pipeline resizes, see the module docstring) and `C` is
        `kvideo.inputs.input_channels(name, stack_length)`: 3 for video, 2L flow codes
        (x1, y1, ..., xL, yL; mirrored clips have their x codes negated, ``255 - q``), and
        3 (L + 1) for rgb_diff (the L + 1 frames from each sampled frame on); test clips
        are the same when there is one view, else `(batch, views, frames, h, w, C)` with
        `views = num_clips * num_test_crops` ordered clip-major (`kvideo.data.views`).
        Labels are int32 `(batch,)`. With `with_video_ids`, `(features, labels,
        video_ids)` with string `(batch,)` ids (not for `model.fit`/`evaluate`, which would
        read them as sample weights).
    """
    storage.check_storage(storage_kind)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: {batch_size!r}")
    modalities = _checked_modalities(modalities, storage_kind, examples)
    if stack_length is None:
        stack_length = clip_sampling.default_stack_length
    inputs.input_channels(inputs.FLOW, stack_length)  # checks it
    skip_log = skip_log if skip_log is not None else SkipLog()
    drop_remainder = training if drop_remainder is None else drop_remainder
    per_replica_batch, pipelines, pipeline_id = batch_size, 1, 0
    if input_context is not None:
        replicas = input_context.num_replicas_in_sync
        if batch_size % replicas:
            raise ValueError(
                f"The global batch must split evenly over {replicas} replicas. "
                f"Received: batch_size={batch_size}"
            )
        per_replica_batch = batch_size // replicas
        pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
    if (repeat or skip_examples) and not training:
        raise ValueError("`repeat` and `skip_examples` apply to training data only.")
    resize_here = (
        augmentation.resize_in_pipeline
        or storage_kind == storage.BYTES
        or (training and augmentation.train_crop == "random_resized")
    )

    if training:
        examples = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        if repeat:
            examples = examples.repeat()
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    # One seed per (global) batch for the crop size: consecutive runs of `batch_size`
    # clips share it.
    batch_seeds = (
        tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        .batch(2)
        .map(lambda s: tf.random.experimental.stateless_fold_in(s, _BATCH_SEED_SALT))
        .flat_map(lambda s: tf.data.Dataset.from_tensors(s).repeat(batch_size))
    )
    # Seeds are bound to positions in the global order before anything is dropped or
    # sharded, so a clip's randomness does not depend on the number of workers.
    stream = tf.data.Dataset.zip((examples, seeds, batch_seeds))
    if skip_examples:
        stream = stream.skip(skip_examples)
    if pipelines > 1:
        share = batch_size // pipelines
        stream = (
            stream.enumerate()
            .filter(lambda i, element: tf.equal((i // share) % pipelines, pipeline_id))
            .map(lambda i, element: element)
        )
    gate = _validity_gate(storage_kind, skip_log, modalities)
    stream = stream.filter(lambda example, seed, batch_seed: gate(example))
    clips = stream.map(
        _clip_fn(
            storage_kind,
            training,
            clip_sampling,
            augmentation,
            skip_log,
            resize_here,
            modalities,
            stack_length,
            with_video_ids,
        ),
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
        lambda _, window: window.batch(per_replica_batch, drop_remainder=drop_remainder),
        window_size=per_replica_batch,
    )
    clips = clips.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Parallelism comes from decoding many clips at once; letting each op also spread over
    # threads only adds contention (TSN-8 at 224 on 2 cores: 178 -> 301 clips/s with it).
    options.threading.max_intra_op_parallelism = 1
    return clips.with_options(options)


# Makes the per-batch seeds a different stream from the per-clip seeds.
_BATCH_SEED_SALT = 0x6B76


def _checked_modalities(
    modalities: Sequence[str], storage_kind: str, examples: tf.data.Dataset
) -> tuple[str, ...]:
    if isinstance(modalities, str):
        modalities = (modalities,)
    modalities = tuple(modalities)
    unknown = [m for m in modalities if m not in inputs.NAMES]
    if not modalities or unknown or len(set(modalities)) != len(modalities):
        raise ValueError(
            f"`modalities` must be distinct names among {list(inputs.NAMES)}. "
            f"Received: modalities={modalities!r}"
        )
    if inputs.FLOW in modalities:
        spec = examples.element_spec
        if storage_kind != storage.JPEG or not storage.has_flow(spec):
            raise ValueError(
                "The dataset stores no optical flow: build one of its flow configs (e.g. "
                "video_folder/jpeg_flow, ucf101_kvideo/split1_jpeg_flow, motion_demo/"
                f"jpeg_flow). Received: storage {storage_kind!r}, features {sorted(spec)}"
            )
    return modalities


def _shape_key(features, *rest):
    """Clips batch together when every input has the same height and width."""
    del rest  # the label, and the video id when there is one
    key = None
    for clips in features.values():
        shape = tf.shape(clips, out_type=tf.int64)
        own = shape[-3] * (1 << 20) + shape[-2]
        key = own if key is None else key * 1_000_003 + own
    return key


# A bytes-storage clip is (features, label, ok[, video_id]).
def _is_ok(*clip):
    return clip[2]


def _drop_ok(*clip):
    return clip[:2] + clip[3:]


def _validity_gate(storage_kind: str, skip_log: SkipLog, modalities: tuple[str, ...]):
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
        if inputs.FLOW in modalities:
            flow_x, flow_y = (example[key] for key in storage.FLOW_KEYS)
            num_flows = tf.shape(flow_x)[0]
            reason = tf.where(ok, tf.constant("no stored flow field (fewer than 2 frames)"), reason)
            ok = ok & (num_flows > 0)
            reason = tf.where(ok, tf.constant("as many flow x as y images are needed"), reason)
            ok = ok & tf.equal(tf.shape(flow_y)[0], num_flows)
            reason = tf.where(
                ok,
                tf.constant("a stored flow image is not a whole JPEG (truncated or empty)"),
                reason,
            )
            ok = ok & _complete_jpegs(tf.concat([flow_x, flow_y], axis=0))
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
    modalities: tuple[str, ...],
    stack_length: int,
    with_video_ids: bool = False,
):
    size = augmentation.crop_size
    frame_inputs = [name for name in modalities if inputs.SOURCES[name] == inputs.VIDEO]

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

    def decode_frames(example, wanted):
        """The stored RGB frames `wanted`, `(len(wanted), H, W, 3)`, and whether they
        decoded (bytes storage; a JPEG decode error raises, for `ignore_errors`)."""
        if storage_kind == storage.JPEG:
            frames = augment.decode_jpeg_frames(tf.gather(example[storage.FRAMES_KEY], wanted))
            return frames, tf.constant(True)
        decoded, ok = tf.numpy_function(
            decode_bytes,
            [
                example[storage.VIDEO_KEY],
                wanted,
                example["video_id"],
                example.get(storage.KEYFRAMES_KEY, tf.zeros([0, 2], tf.int64)),
                example.get(storage.TIMESTAMPS_KEY, tf.zeros([0], tf.int64)),
            ],
            [tf.uint8, tf.bool],
            stateful=False,
        )
        decoded.set_shape([None, None, None, 3])
        ok.set_shape([])
        return decoded, ok

    def as_clips(items, request):
        """Items `(clips * length * k, H, W, C)` gathered for `request` `(clips, length,
        k)` -> clips `(clips, length, H, W, k * C)`."""
        shape = tf.concat([tf.shape(request), tf.shape(items)[1:]], axis=0)
        stacks = tf.reshape(items, shape)  # (clips, length, k, H, W, C)
        if request.shape[-1] == 1:
            return stacks[:, :, 0]
        return augment.stack_channels(stacks)

    def fn(example, seed, batch_seed):
        num_frames = tf.cast(example["num_frames"], tf.int32)
        sample_seed, crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3)
        )
        if training:
            indices = clip_sampling.train_indices(num_frames, sample_seed)[None]
        else:
            indices = clip_sampling.test_indices(num_frames)  # (clips, length)

        clips, ok = {}, tf.constant(True)
        if frame_inputs:
            requests = [stack_request(n, indices, num_frames, stack_length) for n in frame_inputs]
            # Each stored frame is decoded once, however many clips and inputs use it (test
            # clips overlap; RGB difference takes the frames after each sampled one).
            flat = tf.concat([tf.reshape(r, [-1]) for r in requests], axis=0)
            wanted, positions = tf.unique(flat)
            decoded, ok = decode_frames(example, wanted)
            reference = tf.shape(decoded)[1:3]
            start = 0
            for name, request in zip(frame_inputs, requests, strict=True):
                count = tf.size(request)
                taken = tf.gather(decoded, positions[start : start + count])
                clips[name] = as_clips(taken, request)
                start = start + count
        else:
            # Windows are chosen on the RGB frames, whatever the inputs.
            reference = tf.io.extract_jpeg_shape(example[storage.FRAMES_KEY][0])[:2]
        if inputs.FLOW in modalities:
            flow_x, flow_y = (example[key] for key in storage.FLOW_KEYS)
            request = stack_request(inputs.FLOW, indices, tf.shape(flow_x)[0], stack_length)
            wanted, positions = tf.unique(tf.reshape(request, [-1]))
            fields = augment.decode_flow_fields(
                tf.gather(flow_x, wanted), tf.gather(flow_y, wanted)
            )
            clips[inputs.FLOW] = as_clips(tf.gather(fields, positions), request)

        features = {}
        if training:
            window = augmentation.train_window(reference[0], reference[1], crop_seed, batch_seed)
            flip = augment.flip_decision(flip_seed)
            for name in modalities:
                clip = clips[name][0]  # (length, H, W, C)
                own = window
                if inputs.SOURCES[name] != inputs.VIDEO:
                    own = augment.scale_window(window, reference, tf.shape(clip)[1:3])
                views = augment.crop(clip, own)
                if augmentation.flip:
                    views = augment.flip_left_right(views, flip, flow=name == inputs.FLOW)
                if resize_here:
                    views = augment.resize(views, size)
                features[name] = views
        else:
            for name in modalities:
                own_reference = None if inputs.SOURCES[name] == inputs.VIDEO else reference
                views = crop_views(clips[name], augmentation, own_reference)
                if clip_sampling.num_clips * augmentation.num_test_crops == 1:
                    views = views[0]
                if resize_here and not augmentation.resize_in_pipeline:
                    views = augment.resize(views, size)  # bytes storage: every video its own size
                features[name] = views
        label = tf.cast(example["label"], tf.int32)
        ids = (example["video_id"],) if with_video_ids else ()
        if storage_kind == storage.JPEG:
            # A JPEG decode error raises; ignore_errors drops the clip.
            return (features, label, *ids)
        return (features, label, ok, *ids)

    return fn
