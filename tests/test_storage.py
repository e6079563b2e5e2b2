"""Tests for kvideo.data.storage: stored seek tables, and reading bytes storage with them.

The pipeline must give exactly the sampled frames whether an example carries a seek table
(built now), an empty one (a file that allows no exact seek), or none at all (a dataset
built before seek tables existed).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kvideo import io as kio
from kvideo.data import pipeline, storage
from tests import video_fixtures as vf

SIZE = 48
NUM_FRAMES = 60
# Whole square frames, no flip: every decoded frame still shows its index.
WHOLE_FRAME = pipeline.Augmentation(
    crop_size=SIZE, train_crop="center", test_crop_fraction=1.0, flip=False
)


@pytest.fixture(scope="module")
def xvid_video(tmp_path_factory) -> bytes:
    """60 frames of XviD with B-frames and a keyframe every 7 frames."""
    path = tmp_path_factory.mktemp("storage") / "clip.avi"
    vf.write_format(path, "xvid_gop7_avi", NUM_FRAMES, SIZE, SIZE)
    return path.read_bytes()


def test_seek_table_round_trips_through_example_arrays(xvid_video):
    table = kio.probe(xvid_video, seek_table=True).seek_table
    arrays = storage.seek_table_arrays(table)
    assert arrays[storage.KEYFRAMES_KEY].dtype == np.int64
    assert arrays[storage.KEYFRAMES_KEY].shape == (len(table.keyframes), 2)
    assert arrays[storage.TIMESTAMPS_KEY].shape == (NUM_FRAMES,)
    assert storage.seek_table_of(**arrays) == table
    empty = storage.seek_table_arrays(None)
    assert empty[storage.KEYFRAMES_KEY].shape == (0, 2)
    assert storage.seek_table_of(**empty) is None


def examples(video: bytes, layout: str) -> tf.data.Dataset:
    """Three copies of one example, with a seek table, an empty one, or none."""
    info = kio.probe(video, seek_table=True)
    table = info.seek_table if layout == "table" else None
    example = storage.example_dict(
        "clip", 1, None, info.fps, storage.BYTES, num_frames=60, video_bytes=video,
        seek_table=table,
    )  # fmt: skip
    signature = {
        "video_id": tf.TensorSpec([], tf.string),
        "label": tf.TensorSpec([], tf.int64),
        "num_frames": tf.TensorSpec([], tf.int32),
        "fps": tf.TensorSpec([], tf.float32),
        storage.VIDEO_KEY: tf.TensorSpec([], tf.string),
        storage.KEYFRAMES_KEY: tf.TensorSpec([None, 2], tf.int64),
        storage.TIMESTAMPS_KEY: tf.TensorSpec([None], tf.int64),
    }
    if layout == "none":  # the layout of datasets built before seek tables
        for key in (storage.KEYFRAMES_KEY, storage.TIMESTAMPS_KEY):
            del example[key], signature[key]
    return tf.data.Dataset.from_generator(lambda: iter([example] * 3), output_signature=signature)


@pytest.mark.parametrize("layout", ["table", "empty", "none"])
def test_bytes_pipeline_gives_the_sampled_frames_with_or_without_a_seek_table(xvid_video, layout):
    clip_sampling = pipeline.ClipSampling(num_frames=6, frame_stride=3, num_clips=4)
    dataset = pipeline.make_clip_dataset(
        examples(xvid_video, layout),
        storage_kind=storage.BYTES,
        training=False,
        batch_size=1,
        clip_sampling=clip_sampling,
        augmentation=WHOLE_FRAME,
    )
    # Four clips of 6 frames, 3 apart, spread evenly over the 60 frames: the later ones
    # start several keyframes into the video.
    expected = [list(range(start, start + 16, 3)) for start in (0, 15, 29, 44)]
    results = list(dataset)
    assert len(results) == 3
    for features, labels in results:
        assert labels.numpy().tolist() == [1]
        clips = features["video"]
        decoded = [[vf.decode_index_pattern(f) for f in view] for view in clips.numpy()[0]]
        np.testing.assert_array_equal(decoded, expected)
