"""What a clip is: which frames (`ClipSampling`) and which pixels (`Augmentation`).

Typed, frozen settings shared by the input pipeline, evaluation, export and the training
configs. This module imports no TensorFlow (the methods that compute indices and crop
windows import it when called), so programs can read and validate settings, and answer
``--help``, without loading it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

# Scales of the short side from TSN's multi-scale crop (Wang et al. 2016).
TSN_SCALES = (1.0, 0.875, 0.75, 0.66)
# Flow fields stacked per TSN segment (Wang et al. 2016, section 3.2: "L = 5").
TSN_STACK_LENGTH = 5

DENSE = "dense"
TSN = "tsn"
TRAIN_CROPS = ("multiscale", "random_resized", "center")
TEST_CROPS = ("center", "three_crop")


@dataclasses.dataclass(frozen=True)
class ClipSampling:
    """Which frames make a clip.

    Attributes:
        method: "dense" (`num_frames` consecutive frames, `frame_stride` apart) or "tsn"
            (one frame from each of `num_segments` segments).
        num_frames: frames per dense clip.
        frame_stride: gap between the frames of a dense clip.
        num_segments: segments (= frames) per TSN clip.
        num_clips: test views along time (evenly spaced clips or segment phases).
    """

    method: str = DENSE
    num_frames: int = 16
    frame_stride: int = 1
    num_segments: int = 8
    num_clips: int = 1

    def __post_init__(self):
        if self.method not in (DENSE, TSN):
            raise ValueError(f"`method` must be 'dense' or 'tsn'. Received: method={self.method!r}")
        for name in ("num_frames", "frame_stride", "num_segments", "num_clips"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")

    @property
    def clip_length(self) -> int:
        """Frames in one clip."""
        return self.num_frames if self.method == DENSE else self.num_segments

    @property
    def default_stack_length(self) -> int:
        """L, the flow fields (or frame differences) an input takes per sampled frame when
        none is given: 5 per TSN segment (Wang et al. 2016 stack 5 flow fields, 10
        channels), 1 per frame of a dense clip (the field of each frame, as 3D models such
        as I3D's flow stream take)."""
        return TSN_STACK_LENGTH if self.method == TSN else 1

    def train_indices(self, video_frames: Any, seed: Any) -> Any:
        """`(clip_length,)` random frame indices for training (int32 tensor)."""
        from kvideo.data import sampling

        if self.method == DENSE:
            return sampling.dense_clip_indices(
                video_frames, self.num_frames, self.frame_stride, training=True, seed=seed
            )
        return sampling.tsn_indices(video_frames, self.num_segments, training=True, seed=seed)

    def test_indices(self, video_frames: Any) -> Any:
        """`(num_clips, clip_length)` deterministic frame indices for evaluation."""
        from kvideo.data import sampling

        if self.method == DENSE:
            return sampling.multi_clip_indices(
                video_frames, self.num_frames, self.frame_stride, self.num_clips
            )
        return sampling.multi_segment_indices(video_frames, self.num_segments, self.num_clips)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Spatial transform of a clip, for training and for test.

    Attributes:
        crop_size: the model's input height and width. Clips reach it in the model's
            `ClipPreprocessing`, or here with `resize_in_pipeline`.
        train_crop: "multiscale" (TSN corner crop with scale jitter), "random_resized"
            (Inception-style), or "center".
        scales, max_distort, more_fix_crop: the multi-scale crop's options (13 fixed
            positions instead of 5 with `more_fix_crop`).
        flip: mirror half of the training clips. Turn it off when direction is part of
            the label (e.g. "pushing left" vs "pushing right").
        test_crop: "center" or "three_crop" (three squares along the long side).
        test_crop_fraction: side of the test crop as a fraction of the short side;
            `crop_size / resize_size`, e.g. 112/128 = 0.875, for "resize then centre crop".
            Three-crop uses 1.0 regardless, as in its protocol.
        resize_in_pipeline: resize every clip to `crop_size` on the host, so that every
            batch has one shape (for XLA or TPUs, which compile once per shape). The
            default leaves the resize to the model, except where it is always done here
            (bytes storage, random resized crop).
    """

    crop_size: int = 112
    train_crop: str = "multiscale"
    scales: tuple[float, ...] = TSN_SCALES
    max_distort: int = 1
    more_fix_crop: bool = False
    flip: bool = True
    test_crop: str = "center"
    test_crop_fraction: float = 0.875
    resize_in_pipeline: bool = False

    def __post_init__(self):
        if not isinstance(self.crop_size, int) or self.crop_size < 1:
            raise ValueError(
                f"`crop_size` must be a positive integer. Received: {self.crop_size!r}"
            )
        if self.train_crop not in TRAIN_CROPS:
            raise ValueError(
                f"`train_crop` must be one of {TRAIN_CROPS}. "
                f"Received: train_crop={self.train_crop!r}"
            )
        if self.test_crop not in TEST_CROPS:
            raise ValueError(
                f"`test_crop` must be one of {TEST_CROPS}. Received: test_crop={self.test_crop!r}"
            )

    @property
    def num_test_crops(self) -> int:
        return 3 if self.test_crop == "three_crop" else 1

    def train_window(self, height: Any, width: Any, seed: Any, size_seed: Any = None) -> Any:
        """int32 `[y, x, h, w]` crop window for one training clip.

        `size_seed`, shared by the clips of a batch, draws the multi-scale crop's size.
        """
        from kvideo.data import augment

        if self.train_crop == "multiscale":
            return augment.multiscale_crop_window(
                height,
                width,
                seed,
                self.scales,
                self.max_distort,
                self.more_fix_crop,
                size_seed=size_seed,
            )
        if self.train_crop == "random_resized":
            return augment.random_resized_crop_window(height, width, seed)
        return augment.center_crop_window(height, width, self.test_crop_fraction)

    def test_windows(self, height: Any, width: Any) -> Any:
        """int32 `(num_test_crops, 4)` crop windows for evaluation."""
        from kvideo.data import augment

        if self.test_crop == "three_crop":
            return augment.three_crop_windows(height, width, 1.0)
        return augment.center_crop_window(height, width, self.test_crop_fraction)[None]


def clip_config_dict(clip_sampling: ClipSampling, augmentation: Augmentation) -> dict[str, Any]:
    """The evaluation transform as JSON-ready dicts, the form `load_clip_config` reads."""
    return {
        "clip_sampling": dataclasses.asdict(clip_sampling),
        "augmentation": dataclasses.asdict(augmentation),
    }


def load_clip_config(
    path: str | os.PathLike,
    clip_sampling: ClipSampling | None = None,
    augmentation: Augmentation | None = None,
) -> tuple[ClipSampling, Augmentation]:
    """Reads `ClipSampling` and `Augmentation` from a JSON file.

    The file holds `{"clip_sampling": {...}, "augmentation": {...}}` with any of the
    dataclass fields; missing ones keep their values in `clip_sampling` / `augmentation`
    (default: the dataclass defaults). A `kvideo_export.json` written by
    `export_saved_model` has this form, so a previous export's contract can be reused.
    """
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict):
        raise ValueError(f"The clip config must be a JSON object. Received: {config!r}")
    return (
        _replace(clip_sampling or ClipSampling(), config.get("clip_sampling"), path),
        _replace(augmentation or Augmentation(), config.get("augmentation"), path),
    )


def _replace(default: Any, fields: dict[str, Any] | None, path: str | os.PathLike) -> Any:
    # JSON turns tuples (scales) into lists; the frozen dataclasses hold tuples.
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in (fields or {}).items()}
    try:
        return dataclasses.replace(default, **fields)
    except TypeError as err:
        raise ValueError(
            f"Bad {type(default).__name__} fields in {os.fspath(path)}: {err}. Received: {fields}"
        ) from err
