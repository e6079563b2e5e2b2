"""Optical flow between consecutive frames, in one process (OpenCV may thread inside).

`prepare_frame` turns an RGB frame into the grey, resized image flow is computed on;
`create_algorithm` builds the OpenCV object a `FlowConfig` names; `pairwise_flow` runs it
over consecutive frames. `kvideo.flow.extract` spreads this work over processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from kvideo.flow import config as flow_config
from kvideo.flow.config import FlowConfig

_DIS_PRESETS = {
    flow_config.DIS_ULTRAFAST: cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    flow_config.DIS_FAST: cv2.DISOPTICAL_FLOW_PRESET_FAST,
    flow_config.DIS_MEDIUM: cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def resized_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """``(height, width)`` of a frame after resizing its short side to `short_side`.

    ``None`` keeps the size. The long side is rounded to the nearest pixel: 240x320 at
    short side 256 gives 256x341.
    """
    if short_side is None:
        return height, width
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def prepare_frame(frame: np.ndarray, short_side: int | None) -> np.ndarray:
    """One RGB frame ``(height, width, 3)`` uint8 -> grey ``(h, w)`` uint8 at `short_side`.

    Grey uses ITU-R BT.601 weights (`cv2.COLOR_RGB2GRAY`), as the reference extractors
    do. Resizing after the grey conversion handles a third of the data; INTER_AREA when
    shrinking (no aliasing, which flow would read as motion), bilinear when enlarging.
    """
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    height, width = grey.shape
    size = resized_size(height, width, short_side)
    if size == (height, width):
        return grey
    interpolation = cv2.INTER_AREA if size[0] < height else cv2.INTER_LINEAR
    return cv2.resize(grey, (size[1], size[0]), interpolation=interpolation)  # cv2: (w, h)


def create_algorithm(config: FlowConfig) -> cv2.DenseOpticalFlow:
    """The OpenCV dense optical flow object of ``config.method`` with ``config.options``."""
    if config.method == flow_config.TVL1:
        algorithm = cv2.optflow.DualTVL1OpticalFlow_create()
    elif config.method in _DIS_PRESETS:
        algorithm = cv2.DISOpticalFlow_create(_DIS_PRESETS[config.method])
    else:
        algorithm = cv2.FarnebackOpticalFlow_create()
    for name, value in config.options:
        setter = "set" + "".join(part.capitalize() for part in name.split("_"))
        if not hasattr(algorithm, setter):
            raise ValueError(
                f"Option {name!r} needs {type(algorithm).__name__}.{setter}, which the "
                f"installed OpenCV ({cv2.__version__}) lacks."
            )
        getattr(algorithm, setter)(value)
    return algorithm


def pairwise_flow(
    grey_frames: Sequence[np.ndarray], algorithm: cv2.DenseOpticalFlow
) -> list[np.ndarray]:
    """Flow from each grey frame to the next: ``len(grey_frames) - 1`` arrays ``(h, w, 2)``.

    float32 displacements in pixels of the given frames, x then y (see
    `kvideo.flow.quantize` for the convention).
    """
    return [
        algorithm.calc(previous, following, None)
        for previous, following in zip(grey_frames[:-1], grey_frames[1:], strict=True)
    ]
