"""Sample, decode, augment and batch video clips with `tf.data`.

    examples, storage, info = load_examples("motion_demo/jpeg", "train")
    batches = make_clip_dataset(examples, storage_kind=storage, training=True, batch_size=8)
    # -> ({"video": uint8 clips}, int32 labels)

* `config.py`: `ClipSampling` (which frames) and `Augmentation` (which pixels); no
  TensorFlow, so programs validate settings without loading it.
* `sampling.py` and `augment.py`: pure functions on tensors.
* `views.py`: the evaluation views of a video, shared with export.
* `pipeline.py`: the `tf.data` pipeline; `storage.py`: how builders store videos.

Names load on first use.
"""

from typing import TYPE_CHECKING

from kvideo._lazy import lazy_exports
from kvideo.data.config import TSN_SCALES, Augmentation, ClipSampling

_EXPORTS = {
    "center_crop_window": "kvideo.data.augment",
    "crop": "kvideo.data.augment",
    "crop_and_resize": "kvideo.data.augment",
    "multiscale_crop_window": "kvideo.data.augment",
    "random_resized_crop_window": "kvideo.data.augment",
    "resize": "kvideo.data.augment",
    "three_crop_windows": "kvideo.data.augment",
    "SkipLog": "kvideo.data.pipeline",
    "load_examples": "kvideo.data.pipeline",
    "make_clip_dataset": "kvideo.data.pipeline",
    "dense_clip_indices": "kvideo.data.sampling",
    "multi_clip_indices": "kvideo.data.sampling",
    "multi_segment_indices": "kvideo.data.sampling",
    "tsn_indices": "kvideo.data.sampling",
    "BYTES": "kvideo.data.storage",
    "JPEG": "kvideo.data.storage",
    "video_features": "kvideo.data.storage",
    "batch_views": "kvideo.data.views",
    "crop_views": "kvideo.data.views",
    "test_views": "kvideo.data.views",
    "video_views": "kvideo.data.views",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted([*_EXPORTS, "TSN_SCALES", "Augmentation", "ClipSampling"])

if TYPE_CHECKING:
    from kvideo.data.augment import (
        center_crop_window,
        crop,
        crop_and_resize,
        multiscale_crop_window,
        random_resized_crop_window,
        resize,
        three_crop_windows,
    )
    from kvideo.data.pipeline import SkipLog, load_examples, make_clip_dataset
    from kvideo.data.sampling import (
        dense_clip_indices,
        multi_clip_indices,
        multi_segment_indices,
        tsn_indices,
    )
    from kvideo.data.storage import BYTES, JPEG, video_features
    from kvideo.data.views import batch_views, crop_views, test_views, video_views
