"""Which frames of a video make a clip: TSN segments, dense clips, multi-clip test views.

Every function here works in-graph on the *stored* decodable frame count, so a pipeline
decodes only the frames it returns. Randomness is stateless: the same `seed` (a shape `[2]`
integer tensor) gives the same indices on every machine.

Videos shorter than a clip are *looped*: index `i` past the end reads frame
`i % num_frames` (`0, 1, 2, 0, 1, 2, ...`), the policy of TSN and of most Kinetics
loaders. Looping keeps the clip's frame rate, unlike stretching a short video over the
clip by repeating each frame.
"""

from __future__ import annotations

import tensorflow as tf


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def tsn_indices(
    video_frames: tf.Tensor,
    num_segments: int,
    *,
    training: bool,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """Temporal Segment Network sampling (Wang et al. 2016): one frame per segment.

    The video is cut into `num_segments` equal segments. For training a uniformly random
    frame is taken from each segment; for test the centre frame of each segment.

    Args:
        video_frames: scalar int, the decodable frame count of the video (> 0).
        num_segments: number of segments, which is the number of frames returned.
        training: random frame per segment (True) or centre frame (False).
        seed: shape `[2]` integer stateless seed, required when `training`.

    Returns:
        int32 tensor of shape `(num_segments,)`, non-decreasing, each in
        `[0, video_frames)`. When `video_frames < num_segments` the segments are shorter
        than one frame and consecutive segments share frames.
    """
    _check_positive(num_segments=num_segments)
    n = tf.cast(video_frames, tf.float32)
    segment = n / num_segments
    starts = tf.range(num_segments, dtype=tf.float32) * segment
    if training:
        if seed is None:
            raise ValueError("`seed` is required when training=True. Received: seed=None")
        offsets = tf.random.stateless_uniform([num_segments], seed=seed) * segment
    else:
        offsets = tf.fill([num_segments], segment / 2.0)
    indices = tf.cast(tf.floor(starts + offsets), tf.int32)
    return tf.clip_by_value(indices, 0, tf.cast(video_frames, tf.int32) - 1)


def clip_span(num_frames: int, frame_stride: int) -> int:
    """Frames of the source video that one dense clip covers."""
    return (num_frames - 1) * frame_stride + 1


def dense_clip_indices(
    video_frames: tf.Tensor,
    num_frames: int,
    frame_stride: int = 1,
    *,
    training: bool,
    seed: tf.Tensor | None = None,
) -> tf.Tensor:
    """One dense clip: `num_frames` frames, `frame_stride` apart.

    For training the clip starts at a uniformly random frame such that it fits in the
    video; for test it is centred. A video shorter than the clip span loops.

    Returns:
        int32 tensor of shape `(num_frames,)` with values in `[0, video_frames)`.
    """
    _check_positive(num_frames=num_frames, frame_stride=frame_stride)
    video_frames = tf.cast(video_frames, tf.int32)
    slack = tf.maximum(video_frames - clip_span(num_frames, frame_stride), 0)
    if training:
        if seed is None:
            raise ValueError("`seed` is required when training=True. Received: seed=None")
        start = tf.random.stateless_uniform(
            [], seed=seed, minval=0, maxval=slack + 1, dtype=tf.int32
        )
    else:
        start = slack // 2
    offsets = tf.range(num_frames, dtype=tf.int32) * frame_stride
    return (start + offsets) % video_frames


def multi_clip_indices(
    video_frames: tf.Tensor,
    num_frames: int,
    frame_stride: int = 1,
    num_clips: int = 10,
) -> tf.Tensor:
    """`num_clips` dense clips with evenly spaced starts, for multi-clip testing.

    Starts are spread over the whole video: clip `k` starts at
    `round(k * slack / (num_clips - 1))` where `slack` is the number of frames left after
    one clip span (the first clip starts at frame 0, the last ends at the last frame). A
    single clip is centred, matching `dense_clip_indices(training=False)`.

    Returns:
        int32 tensor of shape `(num_clips, num_frames)`.
    """
    _check_positive(num_frames=num_frames, frame_stride=frame_stride, num_clips=num_clips)
    if num_clips == 1:
        return dense_clip_indices(video_frames, num_frames, frame_stride, training=False)[None]
    video_frames = tf.cast(video_frames, tf.int32)
    slack = tf.maximum(video_frames - clip_span(num_frames, frame_stride), 0)
    steps = tf.range(num_clips, dtype=tf.float32) / (num_clips - 1)
    starts = tf.cast(tf.round(steps * tf.cast(slack, tf.float32)), tf.int32)
    offsets = tf.range(num_frames, dtype=tf.int32) * frame_stride
    return (starts[:, None] + offsets[None, :]) % video_frames


def multi_segment_indices(video_frames: tf.Tensor, num_segments: int, num_clips: int) -> tf.Tensor:
    """`num_clips` TSN test views: the segment frames at `num_clips` evenly spaced phases.

    View `k` takes, in every segment, the frame at fraction `(k + 0.5) / num_clips` of the
    segment, so one view equals `tsn_indices(training=False)`.

    Returns:
        int32 tensor of shape `(num_clips, num_segments)`.
    """
    _check_positive(num_segments=num_segments, num_clips=num_clips)
    n = tf.cast(video_frames, tf.float32)
    segment = n / num_segments
    starts = tf.range(num_segments, dtype=tf.float32) * segment
    phases = (tf.range(num_clips, dtype=tf.float32) + 0.5) / num_clips
    indices = tf.cast(tf.floor(starts[None, :] + phases[:, None] * segment), tf.int32)
    return tf.clip_by_value(indices, 0, tf.cast(video_frames, tf.int32) - 1)


def stack_indices(frame_indices: tf.Tensor, num_items: tf.Tensor, stack_length: int) -> tf.Tensor:
    """The `stack_length` consecutive items (frames or flow fields) that start at each index.

    Used for the inputs that take more than one item per sampled frame: the flow stack of
    TSN (L flow fields from the frame on) and RGB difference (the L + 1 frames whose
    differences it takes). A stack that would run past the last item is moved back to end
    at it (the items of one stack stay consecutive); a video with fewer items than a stack
    loops, as short videos do for frames.

    Args:
        frame_indices: int32 `(...)` frame indices of a clip (`ClipSampling`).
        num_items: scalar int, items stored (frames; or flow fields, one fewer).
        stack_length: items per stack (>= 1).

    Returns:
        int32 `(..., stack_length)`: item `k` of the stack of frame `i` is
        `(min(i, max(num_items - stack_length, 0)) + k) % num_items`.
    """
    _check_positive(stack_length=stack_length)
    num_items = tf.cast(num_items, tf.int32)
    frame_indices = tf.cast(frame_indices, tf.int32)
    start = tf.minimum(frame_indices, tf.maximum(num_items - stack_length, 0))
    offsets = tf.range(stack_length, dtype=tf.int32)
    return (start[..., None] + offsets) % num_items
