"""Tests for kvideo.data.augment: crop windows, JPEG crop decoding, flip, normalisation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from kvideo.data import augment, storage

# TSN's fixed crop positions in steps of (free space // 4), as (row, col).
CORNERS_AND_CENTRE = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]
MORE_FIX_CROP = CORNERS_AND_CENTRE + [
    (0, 2), (4, 2), (2, 0), (2, 4), (1, 1), (1, 3), (3, 1), (3, 3)
]  # fmt: skip


@tf.function
def multiscale_windows(height, width, seeds, max_distort, more_fix_crop):
    return tf.map_fn(
        lambda seed: augment.multiscale_crop_window(
            height, width, seed, augment.TSN_SCALES, max_distort, more_fix_crop
        ),
        seeds,
        fn_output_signature=tf.int32,
    )


def sample_multiscale(height, width, max_distort=1, more_fix_crop=False, count=600):
    seeds = tf.stack([tf.range(count, dtype=tf.int64), tf.fill([count], tf.constant(3, tf.int64))])
    return multiscale_windows(height, width, tf.transpose(seeds), max_distort, more_fix_crop)


def positions_of(window, height, width, grid) -> list[tuple[int, int]]:
    """The grid positions (row, col) that put a crop of this size at (y, x)."""
    y, x, h, w = window
    h_step, w_step = (height - h) // 4, (width - w) // 4
    return [(r, c) for r, c in grid if (y, x) == (r * h_step, c * w_step)]


def assert_inside(window, height, width) -> None:
    y, x, h, w = (int(v) for v in window)
    assert h >= 1 and w >= 1
    assert 0 <= y and y + h <= height and 0 <= x and x + w <= width, (window, height, width)


@pytest.mark.parametrize("more_fix_crop", [False, True])
@pytest.mark.parametrize("height, width, max_distort", [(90, 120, 1), (130, 100, 1), (90, 120, 0)])
def test_multiscale_crop_sizes_and_positions(height, width, max_distort, more_fix_crop):
    grid = MORE_FIX_CROP if more_fix_crop else CORNERS_AND_CENTRE
    short = min(height, width)
    sizes = [int(short * s) for s in augment.TSN_SCALES]
    allowed_pairs = {
        (sizes[i], sizes[j])
        for i, j in itertools.product(range(len(sizes)), repeat=2)
        if abs(i - j) <= max_distort
    }
    windows = sample_multiscale(height, width, max_distort, more_fix_crop).numpy()
    pairs, seen_positions = set(), set()
    for window in windows.tolist():
        assert_inside(window, height, width)
        assert (window[2], window[3]) in allowed_pairs, window
        positions = positions_of(window, height, width, grid)
        assert positions, f"window {window} is not at a fixed crop position"
        pairs.add((window[2], window[3]))
        if len(positions) == 1:  # Unambiguous when the crop is smaller in both dims.
            seen_positions.add(positions[0])
    assert pairs == allowed_pairs
    assert seen_positions == set(grid)


def test_multiscale_crop_is_deterministic_per_seed():
    first = sample_multiscale(90, 120, count=50).numpy()
    np.testing.assert_array_equal(first, sample_multiscale(90, 120, count=50).numpy())
    assert len({tuple(w) for w in first.tolist()}) > 10


def test_multiscale_crop_rejects_bad_scales():
    with pytest.raises(ValueError, match="scales"):
        augment.multiscale_crop_window(64, 64, tf.constant([0, 0]), scales=(1.5,))


def test_random_resized_crop_stays_inside_the_frame():
    for value in range(50):
        window = augment.random_resized_crop_window(60, 90, tf.constant([value, 1])).numpy()
        assert_inside(window, 60, 90)


@pytest.mark.parametrize("height, width", [(48, 80), (80, 48), (64, 64)])
@pytest.mark.parametrize("fraction", [1.0, 0.875, 0.5])
def test_center_crop_window(height, width, fraction):
    y, x, h, w = augment.center_crop_window(height, width, fraction).numpy().tolist()
    side = int(min(height, width) * fraction)
    assert (h, w) == (side, side)
    assert_inside((y, x, h, w), height, width)
    assert abs(y - (height - y - side)) <= 1  # Equal margins, to one pixel.
    assert abs(x - (width - x - side)) <= 1


@pytest.mark.parametrize("height, width", [(48, 80), (80, 48), (81, 47)])
def test_three_crop_windows_run_along_the_long_side(height, width):
    windows = augment.three_crop_windows(height, width).numpy()
    assert windows.shape == (3, 4)
    side = min(height, width)
    landscape = width >= height
    along = 1 if landscape else 0  # x moves for landscape frames, y for portrait.
    long_side = width if landscape else height
    for window in windows.tolist():
        assert_inside(window, height, width)
        assert window[2:] == [side, side]
        assert window[1 - along] == 0  # The short side is covered entirely.
    starts = windows[:, along].tolist()
    assert starts[0] == 0 and starts[2] + side == long_side
    assert abs(starts[1] - (long_side - starts[1] - side)) <= 1


def smooth_frames(num_frames=3, height=40, width=56, seed=0) -> np.ndarray:
    """Frames with gradients and blobs, so that crops at different offsets differ."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for _ in range(num_frames):
        phase = rng.uniform(0, 2 * np.pi, 3)
        channels = [128 + 100 * np.sin(xx / (5 + 3 * c) + yy / 9 + phase[c]) for c in range(3)]
        frames.append(np.stack(channels, -1))
    return np.clip(frames, 0, 255).astype(np.uint8)


def test_crop_and_resize_cuts_the_window():
    frames = smooth_frames()
    y, x, h, w = 5, 11, 20, 20
    out = augment.crop_and_resize(frames, tf.constant([y, x, h, w]), 20).numpy()
    assert out.dtype == np.uint8 and out.shape == (3, 20, 20, 3)
    np.testing.assert_array_equal(out, frames[:, y : y + h, x : x + w])


def test_resize_is_bilinear_rounded_to_uint8():
    frames = smooth_frames()
    out = augment.resize(frames, 24).numpy()
    expected = tf.image.resize(frames, [24, 24], method="bilinear").numpy()
    assert out.dtype == np.uint8 and out.shape == (3, 24, 24, 3)
    assert np.abs(out - expected).max() <= 0.5 + 1e-4


def test_decode_jpeg_frames_decodes_every_frame_in_order():
    frames = smooth_frames()
    encoded = tf.constant(storage.encode_jpeg_frames(frames))
    decoded = augment.decode_jpeg_frames(encoded).numpy()
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    # Lossy, but each frame is closest to its own source frame.
    errors = np.abs(decoded[:, None].astype(int) - frames[None].astype(int)).mean(axis=(2, 3, 4))
    np.testing.assert_array_equal(errors.argmin(axis=1), np.arange(len(frames)))


def test_flip_mirrors_every_frame_the_same_way():
    frames = tf.constant(smooth_frames(num_frames=4))
    mirrored = frames.numpy()[:, :, ::-1]
    outcomes = set()
    for value in range(20):
        out = augment.random_flip_left_right(frames, tf.constant([value, 0])).numpy()
        flipped = [np.array_equal(o, m) for o, m in zip(out, mirrored, strict=True)]
        kept = [np.array_equal(o, f) for o, f in zip(out, frames.numpy(), strict=True)]
        assert all(flipped) or all(kept)
        outcomes.add(all(flipped))
    assert outcomes == {True, False}
