"""Sample, decode, augment and batch video clips with `tf.data`.

    examples = load_examples("motion_demo", "train")
    clips = make_clip_dataset(examples[0], storage_kind=examples[1], training=True, ...)

See `pipeline.py` for the flow; `sampling.py` (which frames) and `augment.py` (which
pixels) are pure functions on tensors that can be used on their own.
"""

from kvideo.data.augment import (
    TSN_SCALES,
    center_crop_window,
    crop,
    crop_and_resize,
    multiscale_crop_window,
    random_resized_crop_window,
    resize,
    three_crop_windows,
)
from kvideo.data.pipeline import (
    Augmentation,
    ClipSampling,
    SkipLog,
    load_examples,
    make_clip_dataset,
    test_views,
)
from kvideo.data.sampling import (
    dense_clip_indices,
    multi_clip_indices,
    multi_segment_indices,
    tsn_indices,
)
from kvideo.data.storage import BYTES, JPEG, video_features

__all__ = [
    "Augmentation",
    "BYTES",
    "ClipSampling",
    "JPEG",
    "SkipLog",
    "TSN_SCALES",
    "center_crop_window",
    "crop",
    "crop_and_resize",
    "dense_clip_indices",
    "load_examples",
    "make_clip_dataset",
    "multi_clip_indices",
    "multi_segment_indices",
    "multiscale_crop_window",
    "random_resized_crop_window",
    "resize",
    "test_views",
    "three_crop_windows",
    "tsn_indices",
    "video_features",
]
