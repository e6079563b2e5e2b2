"""Tests for kvideo.data.pipeline: stored examples -> batches of clips."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from kvideo import io as kio
from kvideo.data import augment, pipeline, storage
from tests import video_fixtures as vf
from tests.conftest import INDEX_VIDEO_SIZE, INDEX_VIDEOS

DENSE = pipeline.ClipSampling(num_frames=4, frame_stride=2)
SMALL = pipeline.Augmentation(crop_size=24)
# Keeps the whole (square) frame, so the index pattern of every frame stays readable.
WHOLE_FRAME = pipeline.Augmentation(
    crop_size=INDEX_VIDEO_SIZE, train_crop="center", test_crop_fraction=1.0, flip=False
)


def clip_dataset(data_dir, name, config, split, *, training, **kwargs) -> tf.data.Dataset:
    examples, kind, _ = pipeline.load_examples(f"{name}/{config}", split, data_dir=str(data_dir))
    return pipeline.make_clip_dataset(examples, storage_kind=kind, training=training, **kwargs)


def batches(dataset: tf.data.Dataset, count: int | None = None) -> list[tuple]:
    """`(clips, labels)` numpy pairs of the batches; every batch's features are `{"video"}`."""
    dataset = dataset if count is None else dataset.take(count)
    pairs = []
    for features, labels in dataset:
        assert list(features) == ["video"]
        pairs.append((features["video"].numpy(), labels.numpy()))
    return pairs


def stored_examples(data_dir, name, config, split) -> list[dict]:
    examples, _, _ = pipeline.load_examples(f"{name}/{config}", split, data_dir=str(data_dir))
    return list(examples.as_numpy_iterator())


def frame_indices(clip: np.ndarray) -> list[int]:
    """The index shown by each frame of a uint8 `(frames, h, w, 3)` clip."""
    assert clip.dtype == np.uint8
    return [vf.decode_index_pattern(frame) for frame in clip]


# motion_demo frames are 64x64: the multi-scale crop cuts sides of int(64 * scale).
MOTION_DEMO_CROP_SIDES = {int(64 * s) for s in augment.TSN_SCALES}


def as_views(clips: np.ndarray, clip_sampling, augmentation) -> np.ndarray:
    """A test batch element as `(views, frames, h, w, 3)`, also when there is one view."""
    return clips[None] if clip_sampling.num_clips * augmentation.num_test_crops == 1 else clips


def expected_view_indices(clip_sampling, augmentation, num_frames: int) -> np.ndarray:
    """`(views, frames)`: the sampled indices of each view, clip-major."""
    indices = clip_sampling.test_indices(num_frames).numpy()
    return np.repeat(indices, augmentation.num_test_crops, axis=0)


def class_of(video_id: bytes) -> str:
    """motion_demo ids are `<split>_<index>_<class name>`."""
    return video_id.decode().split("_", 2)[2]


# --- Shapes, determinism and labels on motion_demo --------------------------------------


@pytest.mark.parametrize(
    "clip_sampling", [DENSE, pipeline.ClipSampling(method="tsn", num_segments=5)]
)
def test_training_batches(motion_demo_dir, storage_kind, clip_sampling):
    dataset = clip_dataset(
        motion_demo_dir,
        "motion_demo",
        storage_kind,
        "train",
        training=True,
        batch_size=4,
        clip_sampling=clip_sampling,
        augmentation=SMALL,
    )
    length = clip_sampling.clip_length
    for clips, labels in batches(dataset, 2):
        assert clips.dtype == np.uint8 and clips.shape[:2] == (4, length)
        if storage_kind == storage.JPEG:  # cut sizes; the model resizes them
            assert set(clips.shape[2:4]) <= MOTION_DEMO_CROP_SIDES and clips.shape[4] == 3
        else:  # bytes storage: resized to crop_size here
            assert clips.shape[2:] == (24, 24, 3)
        assert labels.dtype == np.int32 and labels.shape == (4,)
        assert np.all((labels >= 0) & (labels < 6))
        assert clips.std() > 10


@pytest.mark.parametrize(
    "num_clips, test_crop, views",
    [(1, "center", None), (3, "center", 3), (1, "three_crop", 3), (2, "three_crop", 6)],
)
def test_test_view_shapes(motion_demo_dir, storage_kind, num_clips, test_crop, views):
    clip_sampling = pipeline.ClipSampling(num_frames=4, frame_stride=2, num_clips=num_clips)
    augmentation = pipeline.Augmentation(crop_size=24, test_crop=test_crop)
    dataset = clip_dataset(
        motion_demo_dir,
        "motion_demo",
        storage_kind,
        "test",
        training=False,
        batch_size=3,
        clip_sampling=clip_sampling,
        augmentation=augmentation,
    )
    [(clips, labels)] = batches(dataset, 1)
    view_shape = () if views is None else (views,)
    # JPEG: the test crops as cut from 64x64 frames (0.875 of the short side, or all of
    # it for three-crop); bytes storage: resized to crop_size in the pipeline.
    side = {"center": 56, "three_crop": 64}[test_crop] if storage_kind == storage.JPEG else 24
    assert clips.dtype == np.uint8 and clips.shape == (3, *view_shape, 4, side, side, 3)
    assert labels.dtype == np.int32 and labels.shape == (3,)


def test_same_seed_same_batches_other_seed_differs(motion_demo_dir, storage_kind):
    def run(seed):
        dataset = clip_dataset(
            motion_demo_dir,
            "motion_demo",
            storage_kind,
            "train",
            training=True,
            batch_size=4,
            clip_sampling=DENSE,
            augmentation=SMALL,
            seed=seed,
            shuffle_buffer=64,
        )
        return batches(dataset, 3)

    first, again, other = run(5), run(5), run(6)
    for (clips, labels), (clips_again, labels_again) in zip(first, again, strict=True):
        np.testing.assert_array_equal(clips, clips_again)
        np.testing.assert_array_equal(labels, labels_again)
    assert not all(
        np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        for a, b in zip(first, other, strict=True)
    )


def test_test_labels_match_the_stored_videos(motion_demo_dir, storage_kind):
    """Test order is the stored order: each label names the class in its video_id."""
    examples, _, info = pipeline.load_examples(
        f"motion_demo/{storage_kind}", "test", data_dir=str(motion_demo_dir)
    )
    names = info.features["label"].names
    dataset = pipeline.make_clip_dataset(
        examples,
        storage_kind=storage_kind,
        training=False,
        batch_size=8,
        clip_sampling=pipeline.ClipSampling(num_frames=2, frame_stride=4),
        augmentation=pipeline.Augmentation(crop_size=8),
    )
    labels = np.concatenate([labels for _, labels in batches(dataset)])
    ids = [example["video_id"] for example in examples.as_numpy_iterator()]
    assert len(labels) == len(ids) == 72
    assert [names[label] for label in labels] == [class_of(video_id) for video_id in ids]


def test_training_epoch_keeps_every_label_once(motion_demo_dir):
    """Shuffling neither drops nor repeats examples: label counts over an epoch match."""
    stored = stored_examples(motion_demo_dir, "motion_demo", "jpeg", "train")
    dataset = clip_dataset(
        motion_demo_dir,
        "motion_demo",
        "jpeg",
        "train",
        training=True,
        batch_size=16,
        clip_sampling=pipeline.ClipSampling(num_frames=2),
        augmentation=pipeline.Augmentation(crop_size=8),
    )
    labels = np.concatenate([labels for _, labels in batches(dataset)])
    assert collections.Counter(labels.tolist()) == collections.Counter(
        int(example["label"]) for example in stored
    )


# --- Exact frames through the pipeline ----------------------------------------------------


@pytest.mark.parametrize(
    "clip_sampling",
    [
        pipeline.ClipSampling(num_frames=4, frame_stride=3, num_clips=1),
        pipeline.ClipSampling(num_frames=5, frame_stride=2, num_clips=3),
        pipeline.ClipSampling(method="tsn", num_segments=6, num_clips=2),
    ],
)
@pytest.mark.parametrize("test_crop", ["center", "three_crop"])
def test_test_pipeline_decodes_the_sampled_frames(
    index_dataset_dir, storage_kind, clip_sampling, test_crop
):
    augmentation = pipeline.Augmentation(
        crop_size=INDEX_VIDEO_SIZE, test_crop=test_crop, test_crop_fraction=1.0
    )
    split = "train+test"
    stored = stored_examples(index_dataset_dir, "video_folder", storage_kind, split)
    dataset = clip_dataset(
        index_dataset_dir,
        "video_folder",
        storage_kind,
        split,
        training=False,
        batch_size=1,
        clip_sampling=clip_sampling,
        augmentation=augmentation,
    )
    results = batches(dataset)
    assert len(results) == len(stored) == sum(len(v) for v in INDEX_VIDEOS.values())
    for example, (clips, labels) in zip(stored, results, strict=True):
        assert labels[0] == example["label"]
        views = as_views(clips[0], clip_sampling, augmentation)
        expected = expected_view_indices(clip_sampling, augmentation, example["num_frames"])
        decoded = [frame_indices(view) for view in views]
        np.testing.assert_array_equal(decoded, expected, err_msg=example["video_id"].decode())


def test_training_clips_are_dense_clips_of_their_video(index_dataset_dir, storage_kind):
    lengths = {
        index: sorted(num_frames for _, _, num_frames in videos)
        for index, videos in enumerate(INDEX_VIDEOS.values())
    }
    clip_sampling = pipeline.ClipSampling(num_frames=4, frame_stride=2)
    dataset = clip_dataset(
        index_dataset_dir,
        "video_folder",
        storage_kind,
        "train+test",
        training=True,
        batch_size=1,
        clip_sampling=clip_sampling,
        augmentation=WHOLE_FRAME,
    )
    for clips, labels in batches(dataset.repeat(3)):
        indices = frame_indices(clips[0])
        np.testing.assert_array_equal(np.diff(indices), [2, 2, 2])
        # Fits in a video of its class (no looping: every video has >= 7 frames, one span).
        assert any(indices[-1] < n for n in lengths[int(labels[0])])


def test_test_views_is_the_pipeline_test_transform(index_dataset_dir, storage_kind):
    """Export's `test_views` on decoded frames gives exactly the pipeline's test clips."""
    augmentation = pipeline.Augmentation(crop_size=32, test_crop_fraction=0.875)
    stored = stored_examples(index_dataset_dir, "video_folder", storage_kind, "train")
    dataset = clip_dataset(
        index_dataset_dir,
        "video_folder",
        storage_kind,
        "train",
        training=False,
        batch_size=1,
        clip_sampling=DENSE,
        augmentation=augmentation,
    )
    for example, (clips, _) in zip(stored, batches(dataset), strict=True):
        indices = DENSE.test_indices(example["num_frames"]).numpy()[0]
        if storage_kind == storage.JPEG:
            frames = np.stack([tf.io.decode_jpeg(example["frames"][i]).numpy() for i in indices])
        else:
            frames = kio.read_frames(example["video"], indices)
        if storage_kind == storage.BYTES:  # the pipeline resizes these
            augmentation = dataclasses.replace(augmentation, resize_in_pipeline=True)
        expected = pipeline.test_views(frames, augmentation).numpy()[0]
        np.testing.assert_array_equal(clips[0], expected)


# --- Bad examples at read time --------------------------------------------------------


def index_video(num_frames: int) -> bytes:
    size = INDEX_VIDEO_SIZE
    return vf.write_index_video(None, num_frames, size, size, container_format="mp4")


def jpeg_frames(num_frames: int) -> list[bytes]:
    size = INDEX_VIDEO_SIZE
    return storage.encode_jpeg_frames(vf.index_frames(num_frames, size, size))


def examples_dataset(rows: list[dict], storage_kind: str) -> tf.data.Dataset:
    """Examples in the stored layout (`storage.video_features`), as read by the pipeline."""
    payload = storage.FRAMES_KEY if storage_kind == storage.JPEG else storage.VIDEO_KEY
    signature = {
        "video_id": tf.TensorSpec([], tf.string),
        "label": tf.TensorSpec([], tf.int64),
        "num_frames": tf.TensorSpec([], tf.int32),
        "fps": tf.TensorSpec([], tf.float32),
        payload: tf.TensorSpec([None] if storage_kind == storage.JPEG else [], tf.string),
    }
    return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=signature)


def row(video_id: str, label: int, num_frames: int, payload, storage_kind: str) -> dict:
    key = storage.FRAMES_KEY if storage_kind == storage.JPEG else storage.VIDEO_KEY
    return {
        "video_id": video_id,
        "label": label,
        "num_frames": num_frames,
        "fps": 25.0,
        key: payload,
    }


def bad_rows(storage_kind: str) -> tuple[list[dict], dict[str, int], set[str]]:
    """Rows with good and bad examples: (rows, {good id: frames}, ids the SkipLog must name)."""
    if storage_kind == storage.BYTES:
        good = index_video(12)
        garbage = good[:64] + np.random.default_rng(0).bytes(len(good) - 64)
        bad = [("corrupt_bytes", 12, garbage), ("count_too_large", 30, index_video(9))]
    else:
        good = jpeg_frames(12)
        truncated, empty = list(good), list(good)
        truncated[7] = truncated[7][: len(truncated[7]) // 2]  # a partial write
        empty[3] = b""
        # Caught by the validity gate: fewer stored frames than the count, broken frames.
        bad = [
            ("count_too_large", 12, jpeg_frames(5)),
            ("truncated_frame", 12, truncated),
            ("empty_frame", 12, empty),
        ]
    bad.append(("zero_frames", 0, good))
    rows = [row("good_a", 0, 12, good, storage_kind)]
    rows += [row(vid, 1, n, payload, storage_kind) for vid, n, payload in bad]
    rows.append(row("good_b", 2, 12, good, storage_kind))
    return rows, {"good_a": 12, "good_b": 12}, {vid for vid, _, _ in bad}


@pytest.mark.parametrize("training", [False, True])
def test_bad_examples_are_skipped_and_logged(storage_kind, training):
    rows, good, bad_ids = bad_rows(storage_kind)
    skip_log = pipeline.SkipLog()
    dataset = pipeline.make_clip_dataset(
        examples_dataset(rows, storage_kind),
        storage_kind=storage_kind,
        training=training,
        batch_size=1,
        clip_sampling=DENSE,
        augmentation=WHOLE_FRAME,
        skip_log=skip_log,
        drop_remainder=False,
    )
    results = batches(dataset)
    # Only the good examples (labels 0 and 2) come through; the bad ones had label 1.
    assert sorted(int(labels[0]) for _, labels in results) == [0, 2]
    for clips, _ in results:
        indices = frame_indices(clips[0])  # A real clip, not zeros.
        np.testing.assert_array_equal(np.diff(indices), [2, 2, 2])
    assert skip_log.count == len(bad_ids)
    assert {video_id for video_id, _ in skip_log.skipped} == bad_ids
    assert all(reason for _, reason in skip_log.skipped)
    assert not set(good) & {video_id for video_id, _ in skip_log.skipped}


def test_jpeg_frames_damaged_inside_are_dropped():
    """Whole-looking frames (SOI ... EOI) that fail to decode are dropped by `ignore_errors`."""
    good = jpeg_frames(12)
    rows = [
        row("good_a", 0, 12, good, storage.JPEG),
        row("corrupt_jpeg", 1, 12, [b"\xff\xd8 not a jpeg \xff\xd9"] * 12, storage.JPEG),
        row("good_b", 2, 12, good, storage.JPEG),
    ]
    dataset = pipeline.make_clip_dataset(
        examples_dataset(rows, storage.JPEG),
        storage_kind=storage.JPEG,
        training=False,
        batch_size=1,
        clip_sampling=DENSE,
        augmentation=WHOLE_FRAME,
    )
    assert [int(labels[0]) for _, labels in batches(dataset)] == [0, 2]


def test_make_clip_dataset_rejects_bad_arguments(motion_demo_dir):
    examples, _, _ = pipeline.load_examples(
        "motion_demo/jpeg", "test", data_dir=str(motion_demo_dir)
    )
    with pytest.raises(ValueError, match="storage"):
        pipeline.make_clip_dataset(examples, storage_kind="png", training=False, batch_size=1)
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.make_clip_dataset(examples, storage_kind="jpeg", training=False, batch_size=0)
    with pytest.raises(ValueError, match="method"):
        pipeline.ClipSampling(method="random")
    with pytest.raises(ValueError, match="test_crop"):
        pipeline.Augmentation(test_crop="five_crop")


def test_test_windows_on_non_square_frames():
    """Three squares along the long side; the centre crop in the middle. Literal windows."""
    three = pipeline.Augmentation(test_crop="three_crop").test_windows(48, 80).numpy()
    np.testing.assert_array_equal(three, [[0, 0, 48, 48], [0, 16, 48, 48], [0, 32, 48, 48]])
    portrait = pipeline.Augmentation(test_crop="three_crop").test_windows(80, 48).numpy()
    np.testing.assert_array_equal(portrait, [[0, 0, 48, 48], [16, 0, 48, 48], [32, 0, 48, 48]])
    centre = pipeline.Augmentation(test_crop_fraction=0.5).test_windows(48, 80).numpy()
    np.testing.assert_array_equal(centre, [[12, 28, 24, 24]])


def test_multi_clip_three_crop_views_of_non_square_frames_are_evaluation_and_export():
    """3 clips x 3 crops of 36x60 frames: the pipeline's views are the frames at the
    literal indices and windows below, clip-major, and export's batched transform on the
    same decoded frames gives exactly them."""
    from kvideo.export import frames_to_views

    frames = storage.encode_jpeg_frames(vf.index_frames(20, 36, 60))
    rows = [row("wide", 1, 20, frames, storage.JPEG)]
    sampling = pipeline.ClipSampling(num_frames=4, frame_stride=2, num_clips=3)
    augmentation = pipeline.Augmentation(crop_size=24, test_crop="three_crop")
    dataset = pipeline.make_clip_dataset(
        examples_dataset(rows, storage.JPEG),
        storage_kind=storage.JPEG,
        training=False,
        batch_size=1,
        clip_sampling=sampling,
        augmentation=augmentation,
    )
    [(views, labels)] = batches(dataset)
    assert views.shape == (1, 9, 4, 36, 36, 3) and labels.tolist() == [1]
    decoded = np.stack([tf.io.decode_jpeg(f).numpy() for f in frames])
    # Clip starts spread over the 13 frames of slack: 0, round(6.5) = 6, 13.
    indices = [[0, 2, 4, 6], [6, 8, 10, 12], [13, 15, 17, 19]]
    columns = [0, 12, 24]  # three 36x36 squares along the 60-pixel side
    expected = np.stack([decoded[clip][:, :, x : x + 36] for clip in indices for x in columns])
    np.testing.assert_array_equal(views[0], expected)
    exported = frames_to_views(tf.constant(decoded[None]), sampling, augmentation).numpy()
    np.testing.assert_array_equal(exported[0], expected)


# --- Crop sizes and batching ------------------------------------------------------------


def test_a_training_batch_shares_its_crop_size_and_sizes_vary_across_batches(motion_demo_dir):
    dataset = clip_dataset(
        motion_demo_dir,
        "motion_demo",
        "jpeg",
        "train",
        training=True,
        batch_size=4,
        clip_sampling=pipeline.ClipSampling(num_frames=2),
        augmentation=SMALL,
    )
    shapes = {clips.shape[2:4] for clips, _ in batches(dataset, 12)}
    assert len(shapes) > 1  # the scale pair is drawn per batch
    for height, width in shapes:
        assert {height, width} <= MOTION_DEMO_CROP_SIDES
        # Width and height at most one scale step apart.
        sides = sorted(MOTION_DEMO_CROP_SIDES, reverse=True)
        assert abs(sides.index(height) - sides.index(width)) <= 1


def test_clips_of_one_batch_share_the_size_not_the_position():
    aug = pipeline.Augmentation()
    size_seed = tf.constant([7, 7])
    windows = np.stack(
        [aug.train_window(60, 80, tf.constant([i, 0]), size_seed).numpy() for i in range(20)]
    )
    assert len({tuple(w[2:]) for w in windows}) == 1
    assert len({tuple(w[:2]) for w in windows}) > 1


@pytest.mark.parametrize("training", [True, False])
def test_batches_never_mix_frame_sizes(training):
    """Videos stored at different sizes give crops of different sizes: never one batch."""
    rows = [
        row(f"v{i}", i % 3, 12, storage.encode_jpeg_frames(vf.index_frames(12, side, side)), "jpeg")
        for i, side in enumerate([32, 48, 32, 48, 48, 32, 32])
    ]
    dataset = pipeline.make_clip_dataset(
        examples_dataset(rows, storage.JPEG),
        storage_kind=storage.JPEG,
        training=training,
        batch_size=2,
        clip_sampling=DENSE,
        augmentation=SMALL,
        drop_remainder=False,
    )
    results = batches(dataset)
    # Every example comes out once (a batch is one array, so of one shape).
    assert sorted(i for _, labels in results for i in labels) == sorted(r["label"] for r in rows)
    if not training:  # centre crops of 0.875 of the short side
        assert {clips.shape[2:4] for clips, _ in results} == {(28, 28), (42, 42)}


def test_resize_in_pipeline_gives_crop_size_clips(motion_demo_dir):
    augmentation = dataclasses.replace(SMALL, resize_in_pipeline=True)
    for training in (True, False):
        dataset = clip_dataset(
            motion_demo_dir,
            "motion_demo",
            "jpeg",
            "train" if training else "test",
            training=training,
            batch_size=4,
            clip_sampling=DENSE,
            augmentation=augmentation,
        )
        for clips, _ in batches(dataset, 3):
            assert clips.dtype == np.uint8 and clips.shape == (4, 4, 24, 24, 3)
