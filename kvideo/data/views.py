"""The evaluation views of a video, written once for evaluation and export.

A video is evaluated on ``num_clips`` clips along time (`ClipSampling.test_indices`) times
``num_test_crops`` crops in space (`Augmentation.test_windows`), and its class scores are
the mean over those views. The input pipeline (``make_clip_dataset(training=False)``), the
SavedModel's serving signature (a batch of decoded videos) and `test_views` all go through
`crop_views`, so an exported model sees exactly the clips evaluation saw.

Views are ordered clip-major: all crops of clip 0, then all crops of clip 1, ...

Several inputs (`kvideo.inputs`: RGB ``video``, ``flow``, ``rgb_diff``) are cut from the
same frame indices and the same windows: `input_views` (a batch of decoded videos, for
export) and the pipeline both take each input's items with `stack_request` and crop
them with `crop_views(..., reference_size=...)`, the windows of the RGB frames scaled to
the input's own resolution.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from kvideo import inputs
from kvideo.data import augment, sampling
from kvideo.data.config import Augmentation, ClipSampling


def crop_views(
    clips: tf.Tensor, augmentation: Augmentation, reference_size: tf.Tensor | None = None
) -> tf.Tensor:
    """The test crops of clips already gathered along time.

    Args:
        clips: uint8 `(..., num_clips, clip_length, height, width, channels)`, any leading
            dimensions (e.g. a batch of videos of one size).
        reference_size: int `(height, width)` of the frames the test windows are chosen on,
            when the clips are another input of the same videos at another resolution
            (flow stored at another size than the RGB frames): the windows are scaled to
            the clips (`augment.scale_window`). None: the clips' own size.

    Returns:
        uint8 `(..., num_clips * num_test_crops, clip_length, h, w, channels)`: the crops at
        the size they were cut (the model resizes them), or at `crop_size` with
        `augmentation.resize_in_pipeline`.
    """
    clips = tf.convert_to_tensor(clips)
    shape = tf.shape(clips)
    num_crops = augmentation.num_test_crops
    if reference_size is None:
        windows = augmentation.test_windows(shape[-3], shape[-2])
        windows = [windows[i] for i in range(num_crops)]
    else:
        reference_size = tf.cast(reference_size, tf.int32)
        windows = augmentation.test_windows(reference_size[0], reference_size[1])
        windows = [
            augment.scale_window(windows[i], reference_size, shape[-3:-1]) for i in range(num_crops)
        ]
    crops = [augment.crop(clips, window) for window in windows]
    if augmentation.resize_in_pipeline:
        crops = [augment.resize(c, augmentation.crop_size) for c in crops]
    if num_crops == 1:
        return crops[0]
    views = tf.stack(crops, axis=-5)  # (..., clips, crops, length, h, w, C)
    shape = tf.shape(views)
    merged = shape[-6:-5] * shape[-5:-4]
    return tf.reshape(views, tf.concat([shape[:-6], merged, shape[-4:]], axis=0))


def video_views(
    frames: tf.Tensor, clip_sampling: ClipSampling, augmentation: Augmentation
) -> tf.Tensor:
    """Every evaluation view of one decoded video.

    Args:
        frames: uint8 `(num_frames, height, width, channels)`, the whole video.

    Returns:
        uint8 `(num_clips * num_test_crops, clip_length, h, w, channels)`.
    """
    indices = clip_sampling.test_indices(tf.shape(frames)[0])  # (num_clips, length)
    return crop_views(tf.gather(frames, indices), augmentation)


def batch_views(
    frames: tf.Tensor, clip_sampling: ClipSampling, augmentation: Augmentation
) -> tf.Tensor:
    """Every evaluation view of a batch of decoded videos of one length and size.

    Args:
        frames: uint8 `(batch, num_frames, height, width, channels)`.

    Returns:
        uint8 `(batch, num_clips * num_test_crops, clip_length, h, w, channels)`.
    """
    indices = clip_sampling.test_indices(tf.shape(frames)[1])
    return crop_views(tf.gather(frames, indices, axis=1), augmentation)


def test_views(frames: tf.Tensor, augmentation: Augmentation) -> tf.Tensor:
    """The test crops of one clip's frames: `(L, H, W, C)` -> `(num_test_crops, L, h, w, C)`."""
    return crop_views(frames[None], augmentation)


def items_per_frame(name: str, stack_length: int) -> int:
    """Stored items input `name` takes per sampled frame: 1 RGB frame (video), L flow
    fields (flow), L + 1 RGB frames (rgb_diff, whose L differences the model takes)."""
    if name == inputs.FLOW:
        return stack_length
    return stack_length + 1 if name == inputs.RGB_DIFF else 1


def stack_request(
    name: str, frame_indices: tf.Tensor, num_items: tf.Tensor, stack_length: int
) -> tf.Tensor:
    """Which stored items of its source (`kvideo.inputs.SOURCES`) input `name` takes.

    Args:
        frame_indices: int32 `(...)` sampled frame indices (`ClipSampling`).
        num_items: the source's stored items: RGB frames for video and rgb_diff, flow
            fields for flow (one fewer than frames when computed by kvideo).
        stack_length: L (`kvideo.inputs.input_channels`).

    Returns:
        int32 `(..., items_per_frame(name, stack_length))` (`sampling.stack_indices`):
        the frame itself; the L flow fields from it on (flow i goes from frame i to
        i + 1); the L + 1 frames from it on.
    """
    size = items_per_frame(name, stack_length)
    return sampling.stack_indices(frame_indices, num_items, size)


def input_views(
    sources: Mapping[str, tf.Tensor],
    input_channels: Mapping[str, int],
    clip_sampling: ClipSampling,
    augmentation: Augmentation,
) -> dict[str, tf.Tensor]:
    """Every evaluation view of every input of a batch of decoded videos.

    Args:
        sources: by source name (`kvideo.inputs.SOURCES`): ``"video"``, uint8
            `(batch, num_frames, H, W, 3)`, and/or ``"flow"``, uint8 `(batch, num_flows,
            Hf, Wf, 2)` codes (flow i from frame i to i + 1, so ``num_frames - 1`` fields,
            at any resolution). Frame indices are drawn on ``num_frames`` (``num_flows + 1``
            without RGB frames) and test windows on the RGB frames (else on the flow).
        input_channels: `{input name: channels}` of the model's inputs; each input's
            stack length follows from its channels (`kvideo.inputs.stack_length_of`). An
            input of another name is taken like ``video``, one frame of its own source
            (`sources[name]`) per sampled frame.

    Returns:
        `{input name: uint8 (batch, num_clips * num_test_crops, clip_length, h, w,
        channels)}`, the views of every input from the same frame indices and windows.
    """
    frame_sources = [name for name in sources if name != inputs.FLOW]
    if frame_sources:
        reference = sources[inputs.VIDEO if inputs.VIDEO in sources else frame_sources[0]]
        num_frames = tf.shape(reference)[1]
    else:
        reference = sources[inputs.FLOW]
        num_frames = tf.shape(reference)[1] + 1
    reference_size = tf.shape(reference)[2:4]
    indices = clip_sampling.test_indices(num_frames)  # (num_clips, length)
    views = {}
    for name, channels in input_channels.items():
        source = sources[inputs.SOURCES.get(name, name)]
        length = inputs.stack_length_of(name, channels) if name in inputs.NAMES else 1
        request = stack_request(name, indices, tf.shape(source)[1], length)
        clips = augment.stack_channels(tf.gather(source, request, axis=1))
        views[name] = crop_views(clips, augmentation, reference_size)
    return views
