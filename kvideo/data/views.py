"""The evaluation views of a video, written once for evaluation and export.

A video is evaluated on ``num_clips`` clips along time (`ClipSampling.test_indices`) times
``num_test_crops`` crops in space (`Augmentation.test_windows`), and its class scores are
the mean over those views. The input pipeline (``make_clip_dataset(training=False)``), the
SavedModel's serving signature (a batch of decoded videos) and `test_views` all go through
`crop_views`, so an exported model sees exactly the clips evaluation saw.

Views are ordered clip-major: all crops of clip 0, then all crops of clip 1, ...
"""

from __future__ import annotations

import tensorflow as tf

from kvideo.data import augment
from kvideo.data.config import Augmentation, ClipSampling


def crop_views(clips: tf.Tensor, augmentation: Augmentation) -> tf.Tensor:
    """The test crops of clips already gathered along time.

    Args:
        clips: uint8 `(..., num_clips, clip_length, height, width, channels)`, any leading
            dimensions (e.g. a batch of videos of one size).

    Returns:
        uint8 `(..., num_clips * num_test_crops, clip_length, h, w, channels)`: the crops at
        the size they were cut (the model resizes them), or at `crop_size` with
        `augmentation.resize_in_pipeline`.
    """
    clips = tf.convert_to_tensor(clips)
    shape = tf.shape(clips)
    windows = augmentation.test_windows(shape[-3], shape[-2])
    num_crops = augmentation.num_test_crops
    crops = [augment.crop(clips, windows[i]) for i in range(num_crops)]
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
