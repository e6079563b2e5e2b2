"""Tests for kvideo.data.sampling: which frame indices make a clip."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kvideo.data import sampling

SEEDS = range(300)


def seed(value: int) -> tf.Tensor:
    return tf.constant([value, 7], tf.int64)


def tsn_train(num_frames: int, num_segments: int, value: int) -> np.ndarray:
    return sampling.tsn_indices(num_frames, num_segments, training=True, seed=seed(value)).numpy()


def dense_train(num_frames: int, length: int, stride: int, value: int) -> np.ndarray:
    return sampling.dense_clip_indices(
        num_frames, length, stride, training=True, seed=seed(value)
    ).numpy()


def dense_test(num_frames: int, length: int, stride: int) -> np.ndarray:
    return sampling.dense_clip_indices(num_frames, length, stride, training=False).numpy()


def assert_in_segment(index: int, k: int, num_frames: int, num_segments: int) -> None:
    """Frame `index` (the interval [index, index + 1)) overlaps segment `k`.

    Segment k is [k * n / S, (k + 1) * n / S); checked in exact integer arithmetic.
    """
    assert index * num_segments < (k + 1) * num_frames, (k, index)
    assert (index + 1) * num_segments > k * num_frames, (k, index)


def assert_dense_clip(clip: np.ndarray, stride: int) -> None:
    """Consecutive frames `stride` apart (no looping involved)."""
    np.testing.assert_array_equal(np.diff(clip), np.full(len(clip) - 1, stride))


# --- TSN ---------------------------------------------------------------------------


@pytest.mark.parametrize("num_frames", [8, 13, 100, 301])
def test_tsn_train_one_random_frame_inside_each_segment(num_frames):
    num_segments = 8
    seen = set()
    for value in SEEDS:
        indices = tsn_train(num_frames, num_segments, value)
        assert indices.dtype == np.int32 and indices.shape == (num_segments,)
        assert np.all(np.diff(indices) >= 0)
        for k, index in enumerate(indices.tolist()):
            assert_in_segment(index, k, num_frames, num_segments)
        seen.add(tuple(indices.tolist()))
    if num_frames >= 100:
        assert len(seen) > 0.9 * len(SEEDS)  # The frame within a segment is random.


@pytest.mark.parametrize("num_frames", [8, 13, 100, 301])
def test_tsn_test_takes_the_centre_frame_of_each_segment(num_frames):
    num_segments = 8
    indices = sampling.tsn_indices(num_frames, num_segments, training=False).numpy()
    # Centre of segment k: floor((k + 1/2) * n / S).
    expected = [(2 * k + 1) * num_frames // (2 * num_segments) for k in range(num_segments)]
    np.testing.assert_array_equal(indices, expected)


def test_tsn_train_is_deterministic_per_seed():
    np.testing.assert_array_equal(tsn_train(300, 8, 3), tsn_train(300, 8, 3))
    assert not np.array_equal(tsn_train(300, 8, 3), tsn_train(300, 8, 4))


@pytest.mark.parametrize("num_frames", [1, 3, 7])
def test_tsn_short_video_stays_in_range(num_frames):
    for indices in [sampling.tsn_indices(num_frames, 8, training=False).numpy()] + [
        tsn_train(num_frames, 8, value) for value in range(50)
    ]:
        assert indices.shape == (8,)
        assert np.all((indices >= 0) & (indices < num_frames))
        assert np.all(np.diff(indices) >= 0)


def test_tsn_rejects_missing_seed_and_bad_segments():
    with pytest.raises(ValueError, match="seed"):
        sampling.tsn_indices(10, 4, training=True)
    with pytest.raises(ValueError, match="num_segments"):
        sampling.tsn_indices(10, 0, training=False)


# --- Dense clips -------------------------------------------------------------------


def test_dense_train_respects_stride_and_covers_every_allowed_start():
    num_frames, length, stride = 50, 8, 3
    slack = num_frames - sampling.clip_span(length, stride)  # 50 - 22 = 28
    starts = set()
    for value in range(400):
        clip = dense_train(num_frames, length, stride, value)
        assert clip.dtype == np.int32 and clip.shape == (length,)
        assert_dense_clip(clip, stride)
        assert 0 <= clip[0] <= slack
        starts.add(int(clip[0]))
    # Uniform over [0, slack]: both ends reachable, most starts seen.
    assert {0, slack} <= starts
    assert len(starts) >= slack


def test_dense_train_is_deterministic_per_seed():
    np.testing.assert_array_equal(dense_train(200, 8, 2, 1), dense_train(200, 8, 2, 1))
    assert not np.array_equal(dense_train(200, 8, 2, 1), dense_train(200, 8, 2, 2))


@pytest.mark.parametrize("num_frames", [22, 23, 40, 41])
def test_dense_test_clip_is_centred(num_frames):
    length, stride = 8, 3
    clip = dense_test(num_frames, length, stride)
    assert_dense_clip(clip, stride)
    before, after = int(clip[0]), num_frames - 1 - int(clip[-1])
    assert before >= 0 and after >= 0
    assert abs(before - after) <= 1


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("num_frames, stride", [(5, 1), (5, 2), (1, 3), (10, 2)])
def test_dense_short_video_loops(num_frames, stride, training):
    """Past the end, index i reads frame i % num_frames (the policy in sampling.py)."""
    length = 8
    assert sampling.clip_span(length, stride) > num_frames
    if training:
        clip = dense_train(num_frames, length, stride, 0)
    else:
        clip = dense_test(num_frames, length, stride)
    np.testing.assert_array_equal(clip, np.arange(length) * stride % num_frames)


def test_multi_clip_evenly_spaced_from_first_to_last_frame():
    num_frames, length, stride, num_clips = 61, 8, 2, 5
    clips = sampling.multi_clip_indices(num_frames, length, stride, num_clips).numpy()
    assert clips.dtype == np.int32 and clips.shape == (num_clips, length)
    for clip in clips:
        assert_dense_clip(clip, stride)
    assert clips[0, 0] == 0
    assert clips[-1, -1] == num_frames - 1
    gaps = np.diff(clips[:, 0])
    assert gaps.min() >= 1 and gaps.max() - gaps.min() <= 1


def test_multi_clip_short_video_loops_in_every_clip():
    clips = sampling.multi_clip_indices(6, 4, 3, 3).numpy()
    np.testing.assert_array_equal(clips, np.tile(np.arange(4) * 3 % 6, (3, 1)))


@pytest.mark.parametrize("num_frames", [5, 30, 31])
def test_single_clip_equals_centred_clip(num_frames):
    clips = sampling.multi_clip_indices(num_frames, 8, 2, num_clips=1).numpy()
    np.testing.assert_array_equal(clips, dense_test(num_frames, 8, 2)[None])


def test_multi_segment_views():
    num_frames, num_segments = 100, 8
    single = sampling.multi_segment_indices(num_frames, num_segments, 1).numpy()
    centre = sampling.tsn_indices(num_frames, num_segments, training=False).numpy()
    np.testing.assert_array_equal(single, centre[None])

    views = sampling.multi_segment_indices(num_frames, num_segments, 3).numpy()
    assert views.shape == (3, num_segments)
    for k in range(num_segments):
        column = views[:, k]
        assert np.all(np.diff(column) > 0)  # Distinct phases, in order.
        for index in column.tolist():
            assert_in_segment(index, k, num_frames, num_segments)
