"""Spatial augmentation applied identically to every frame of a clip.

Every crop is expressed as a *window* `[y, x, h, w]` (int32) in the coordinates of the
decoded frame, chosen once per clip and then cut out of every frame. Keeping the window
separate from the pixels lets export reuse the exact test transform on frames of any size.

Frames are `(frames, height, width, 3)` uint8 on the way in and on the way out: resizing
to the model's input size and normalising happen in the model's first layer
(`kvideo.layers.ClipPreprocessing`), on the accelerator, unless `resize` is used here.
"""

from __future__ import annotations

import itertools

import tensorflow as tf

from kvideo.data.config import TSN_SCALES


def _window(y, x, h, w) -> tf.Tensor:
    return tf.stack([tf.cast(v, tf.int32) for v in (y, x, h, w)])


def multiscale_crop_window(
    height: tf.Tensor,
    width: tf.Tensor,
    seed: tf.Tensor,
    scales: tuple[float, ...] = TSN_SCALES,
    max_distort: int = 1,
    more_fix_crop: bool = False,
    size_seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """TSN multi-scale crop with fixed positions and scale jitter.

    The crop height and width are each `int(short_side * scale)` for a scale in `scales`,
    drawn as a pair whose positions in `scales` differ by at most `max_distort` (so width
    and height are at most one scale step apart by default). The crop sits at one of the
    4 corners or the centre, or with `more_fix_crop` at one of 13 fixed positions (adding
    the edge midpoints and the four quarter points).

    With `size_seed`, the crop size is drawn from `size_seed` and only the position from
    `seed`: clips given the same `size_seed` (a batch) share their crop size, so their
    crops batch without resizing.

    Returns:
        int32 `[y, x, h, w]`.
    """
    if not scales or any(not 0.0 < s <= 1.0 for s in scales):
        raise ValueError(f"`scales` must be fractions in (0, 1]. Received: scales={scales}")
    if max_distort < 0:
        raise ValueError(f"`max_distort` must be >= 0. Received: max_distort={max_distort}")
    pairs = [
        (i, j)
        for i, j in itertools.product(range(len(scales)), repeat=2)
        if abs(i - j) <= max_distort
    ]
    pairs = tf.constant(pairs, tf.int32)
    own_size_seed, position_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if size_seed is None:
        size_seed = own_size_seed
    pick = tf.random.stateless_uniform(
        [], size_seed, minval=0, maxval=tf.shape(pairs)[0], dtype=tf.int32
    )
    short_side = tf.cast(tf.minimum(height, width), tf.float32)
    sizes = tf.cast(short_side * tf.constant(scales, tf.float32), tf.int32)
    crop_h = tf.maximum(sizes[pairs[pick, 0]], 1)
    crop_w = tf.maximum(sizes[pairs[pick, 1]], 1)

    # Positions on a 4x4 grid of steps, as in TSN: step = free space / 4.
    h_step = (tf.cast(height, tf.int32) - crop_h) // 4
    w_step = (tf.cast(width, tf.int32) - crop_w) // 4
    grid = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]  # (row, col): corners, centre
    if more_fix_crop:
        grid += [(2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)]
    grid = tf.constant(grid, tf.int32)
    where = tf.random.stateless_uniform(
        [], position_seed, minval=0, maxval=tf.shape(grid)[0], dtype=tf.int32
    )
    return _window(grid[where, 0] * h_step, grid[where, 1] * w_step, crop_h, crop_w)


def random_resized_crop_window(
    height: tf.Tensor,
    width: tf.Tensor,
    seed: tf.Tensor,
    area_range: tuple[float, float] = (0.08, 1.0),
    aspect_ratio_range: tuple[float, float] = (3 / 4, 4 / 3),
) -> tf.Tensor:
    """Inception-style random resized crop: random area fraction and aspect ratio.

    Returns:
        int32 `[y, x, h, w]`.
    """
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        image_size=tf.stack([height, width, 3]),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    return _window(begin[0], begin[1], size[0], size[1])


def center_crop_window(height: tf.Tensor, width: tf.Tensor, crop_fraction: float) -> tf.Tensor:
    """A centred square whose side is `crop_fraction` of the short side.

    `crop_fraction = crop_size / resize_size` reproduces "resize the short side to
    `resize_size`, then centre-crop `crop_size`" (e.g. 112/128) without resizing the whole
    frame first.

    Returns:
        int32 `[y, x, h, w]`.
    """
    if not 0.0 < crop_fraction <= 1.0:
        raise ValueError(
            f"`crop_fraction` must be in (0, 1]. Received: crop_fraction={crop_fraction}"
        )
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    side = tf.cast(tf.cast(tf.minimum(height, width), tf.float32) * crop_fraction, tf.int32)
    side = tf.maximum(side, 1)
    return _window((height - side) // 2, (width - side) // 2, side, side)


def three_crop_windows(
    height: tf.Tensor, width: tf.Tensor, crop_fraction: float = 1.0
) -> tf.Tensor:
    """Three squares along the long side (start, centre, end), for three-crop testing.

    With the default `crop_fraction=1.0` the squares span the short side, as in the
    SlowFast / X3D test protocol (resize the short side to the crop size, take 3 crops).

    Returns:
        int32 tensor of shape `(3, 4)`, rows `[y, x, h, w]`.
    """
    center = center_crop_window(height, width, crop_fraction)
    side = center[2]
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    landscape = width >= height
    free = tf.where(landscape, width - side, height - side)
    windows = []
    for along in (tf.constant(0), free // 2, free):
        y = tf.where(landscape, center[0], along)
        x = tf.where(landscape, along, center[1])
        windows.append(_window(y, x, side, side))
    return tf.stack(windows)


def crop(frames: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """Cuts `window` (`[y, x, h, w]`) out of every frame of `(..., H, W, C)`."""
    y, x, h, w = tf.unstack(window)
    return frames[..., y : y + h, x : x + w, :]


def resize(frames: tf.Tensor, crop_size: int) -> tf.Tensor:
    """Bilinear resize of uint8 `(..., h, w, C)` to `(..., crop_size, crop_size, C)`.

    The same resize as `ClipPreprocessing` (half-pixel centres, no antialiasing), rounded
    back to uint8.
    """
    shape = tf.shape(frames)
    images = tf.reshape(frames, tf.concat([[-1], shape[-3:]], axis=0))
    resized = tf.image.resize(images, [crop_size, crop_size], method="bilinear")
    resized = tf.cast(tf.round(resized), tf.uint8)
    return tf.reshape(resized, tf.concat([shape[:-3], [crop_size, crop_size], shape[-1:]], 0))


def crop_and_resize(frames: tf.Tensor, window: tf.Tensor, crop_size: int) -> tf.Tensor:
    """Cuts `window` out of every uint8 frame and resizes it to `crop_size` x `crop_size`."""
    return resize(crop(frames, window), crop_size)


def decode_jpeg_frames(encoded: tf.Tensor) -> tf.Tensor:
    """Decodes `(frames,)` JPEG strings of one video into `(frames, height, width, 3)` uint8.

    Whole frames, then `crop`: `tf.io.decode_and_crop_jpeg` was measured no faster here
    (entropy decoding covers the whole image either way) and changes the pixels along the
    crop's edge, where libjpeg upsamples chroma as at an image edge.
    """
    return tf.map_fn(
        lambda image: tf.io.decode_jpeg(image, channels=3),
        encoded,
        fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
    )


def decode_flow_fields(x_encoded: tf.Tensor, y_encoded: tf.Tensor) -> tf.Tensor:
    """Decodes `(fields,)` x and y flow images (grey JPEG or PNG) into `(fields, height,
    width, 2)` uint8 codes, x then y (the layout of `kvideo.flow.decode_flow`)."""

    def decode(pair):
        planes = [tf.io.decode_image(image, channels=1, expand_animations=False) for image in pair]
        tf.debugging.assert_equal(
            tf.shape(planes[0]), tf.shape(planes[1]), "Flow x and y images differ in size"
        )
        return tf.concat(planes, axis=-1)

    return tf.map_fn(
        decode,
        (x_encoded, y_encoded),
        fn_output_signature=tf.TensorSpec([None, None, 2], tf.uint8),
    )


def random_flip_left_right(frames: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Mirrors every frame of `(..., height, width, channels)` with probability 1/2.

    Flipping commutes with the (symmetric) bilinear resize, so flipping the uint8 crop
    before the model resizes it is the same as flipping the resized clip.
    """
    return flip_left_right(frames, flip_decision(seed))


def flip_decision(seed: tf.Tensor) -> tf.Tensor:
    """Whether a clip is mirrored (probability 1/2): one draw shared by all its inputs."""
    return tf.random.stateless_uniform([], seed) < 0.5


def flip_left_right(frames: tf.Tensor, flip: tf.Tensor, flow: bool = False) -> tf.Tensor:
    """Mirrors every frame of `(..., height, width, channels)` when `flip` is True.

    With `flow`, the channels are flow codes interleaved x, y, x, y, ... (`kvideo.inputs`):
    mirroring the frames negates horizontal motion, so every x code becomes ``255 - q``
    (exact negation: `kvideo.flow.quantize`); y codes are only mirrored. This is
    `kvideo.flow.flip_flow_horizontally`, in the graph.
    """
    shape = tf.shape(frames)
    # Reversing a 3-D view is ~8x faster on CPU than reversing axis -2 of the 4/5-D tensor.
    rows = tf.reshape(frames, [-1, shape[-2], shape[-1]])

    def mirrored():
        reversed_rows = tf.reverse(rows, axis=[1])
        if not flow:
            return reversed_rows
        is_x = tf.range(shape[-1]) % 2 == 0
        return tf.where(is_x, tf.constant(255, rows.dtype) - reversed_rows, reversed_rows)

    rows = tf.cond(flip, mirrored, lambda: rows)
    return tf.reshape(rows, shape)


def scale_window(window: tf.Tensor, size: tf.Tensor, target_size: tf.Tensor) -> tf.Tensor:
    """A crop window of frames of `size` moved to frames of `target_size` of the same scene.

    How two inputs of a clip get the same crop when they are stored at different
    resolutions (flow computed at another size than the RGB frames): each coordinate is
    scaled by its axis's ratio and rounded, the window kept inside the target frame. The
    identity when the sizes are equal (integer arithmetic, no float rounding).

    Args:
        window: int32 `[y, x, h, w]` in frames of `size`.
        size, target_size: int `(height, width)`.

    Returns:
        int32 `[y, x, h, w]` in frames of `target_size`, `h, w >= 1`.
    """
    window = tf.cast(window, tf.int32)
    size = tf.cast(size, tf.int32)
    target = tf.cast(target_size, tf.int32)

    def scaled(value, axis):
        return (value * target[axis] + size[axis] // 2) // size[axis]

    y, x, h, w = tf.unstack(window)
    h_t = tf.clip_by_value(scaled(h, 0), 1, target[0])
    w_t = tf.clip_by_value(scaled(w, 1), 1, target[1])
    y_t = tf.clip_by_value(scaled(y, 0), 0, target[0] - h_t)
    x_t = tf.clip_by_value(scaled(x, 1), 0, target[1] - w_t)
    return _window(y_t, x_t, h_t, w_t)


def stack_channels(stacks: tf.Tensor) -> tf.Tensor:
    """`(..., frames, L, height, width, C)` -> `(..., frames, height, width, L * C)`.

    The L items of each frame's stack (flow fields, RGB frames) go to the channels in
    order, each item's channels together: x1, y1, x2, y2, ... for flow (`kvideo.inputs`).
    """
    rank = stacks.shape.rank
    if rank is None or rank < 5:
        raise ValueError(
            "`stacks` must be (..., frames, L, height, width, channels). "
            f"Received: shape={stacks.shape}"
        )
    # (..., L, H, W, C) -> (..., H, W, L, C), then merge the last two axes.
    perm = list(range(rank - 4)) + [rank - 3, rank - 2, rank - 4, rank - 1]
    moved = tf.transpose(stacks, perm)
    shape = tf.shape(moved)
    merged = shape[-2:-1] * shape[-1:]
    out = tf.reshape(moved, tf.concat([shape[:-2], merged], axis=0))
    length, channels = stacks.shape[-4], stacks.shape[-1]
    if length is not None and channels is not None:
        out.set_shape(out.shape[:-1].concatenate([length * channels]))
    return out
