"""The named inputs a model takes, shared by the pipeline, the models and the exporters.

A kvideo model takes a dict of named features, one per modality, each a uint8 clip
``(batch, frames, height, width, channels)``; the input pipeline yields
``({"video": clips}, labels)`` and an exported model's signature takes the same names. A new
modality is a new name here: the models, evaluation and export derive everything else
(channels, normalisation, signature inputs) from the model's own named inputs.

Also here: the per-channel statistics of [0, 1] pixels that published weights were
trained with. This module imports nothing, so the registry and the command-line programs
can read it without loading TensorFlow.
"""

from __future__ import annotations

#: Decoded RGB frames.
VIDEO = "video"
#: Optical flow, two quantised 8-bit images (x, y) per pair of consecutive frames.
FLOW = "flow"
#: Differences of consecutive RGB frames.
RGB_DIFF = "rgb_diff"

#: Channels of one frame of each modality (a TSN stack of L flow fields has 2 * L).
CHANNELS: dict[str, int] = {VIDEO: 3, FLOW: 2, RGB_DIFF: 3}

#: Every named input, in the order exports list them.
NAMES = (VIDEO, FLOW, RGB_DIFF)
#: Where each input comes from: decoded RGB frames ("video") or stored flow ("flow").
#: RGB difference is computed from RGB frames, in the graph, so a model on it takes
#: (and a serving signature asks for) RGB frames.
SOURCES: dict[str, str] = {VIDEO: VIDEO, FLOW: FLOW, RGB_DIFF: VIDEO}

# What one sampled frame of each input carries, for a stack length L (see
# `input_channels`). The pipeline, the exporters and the models share these layouts:
#
# * video: the frame's RGB, 3 channels.
# * flow: the L flow fields starting at the frame, as 8-bit codes (`kvideo.flow.quantize`:
#   zero motion is code 128), channels interleaved x1, y1, x2, y2, ..., 2L channels.
# * rgb_diff: the L + 1 RGB frames starting at the frame, channels r, g, b of the first,
#   then of the next, ..., 3 (L + 1) uint8 channels; the model's first layer
#   (`kvideo.layers.RGBDifference`) takes their L consecutive differences, 3L channels.
CONTENTS: dict[str, str] = {
    VIDEO: "RGB frames",
    FLOW: "L flow fields per frame (flow i from frame i to i + 1), x/y codes interleaved "
    "(x1, y1, ..., xL, yL), zero motion = 128",
    RGB_DIFF: "L + 1 consecutive RGB frames per frame, channel-stacked (r, g, b of each in "
    "turn); the model takes their L differences",
}


def input_channels(name: str, stack_length: int = 1) -> int:
    """Channels per sampled frame of input `name` with `stack_length` (L) fields per frame:
    video 3, flow 2L, rgb_diff 3 (L + 1) (the frames whose L differences the model takes).
    """
    _check_name(name)
    if isinstance(stack_length, bool) or not isinstance(stack_length, int) or stack_length < 1:
        raise ValueError(f"`stack_length` must be a positive int. Received: {stack_length=!r}")
    if name == VIDEO:
        return 3
    if name == FLOW:
        return 2 * stack_length
    return 3 * (stack_length + 1)


def stack_length_of(name: str, channels: int) -> int:
    """The stack length L of input `name` from its channel count (`input_channels` inverted).

    Raises:
        ValueError: for a channel count no stack length gives.
    """
    _check_name(name)
    if name == VIDEO:
        length = 1 if channels == 3 else None
    elif name == FLOW:
        length = channels // 2 if channels >= 2 and channels % 2 == 0 else None
    else:
        length = channels // 3 - 1 if channels >= 6 and channels % 3 == 0 else None
    if length is None:
        raise ValueError(
            f"Input {name!r} cannot have {channels} channels: video has 3, flow 2L, rgb_diff "
            f"3 (L + 1) for a stack of L >= 1. Received: channels={channels}"
        )
    return length


def flow_statistics(bound: float = 20.0) -> tuple[tuple[float, float], tuple[float, float]]:
    """`ClipPreprocessing` mean and std that map flow codes to displacements in pixels.

    ``(q / 255 - 0.5) / (1 / (2 b)) = (q - 127.5) * 2 b / 255``: exactly
    `kvideo.flow.dequantize` for codes quantised with bound ``b`` px, so a flow stream's
    backbone sees signed displacements in pixels of the stored flow (zero motion, code 128,
    becomes b / 255 px, half a quantisation step). The I3D flow presets use
    ``mean = std = 0.5`` instead, displacements divided by the bound, in [-1, 1]. The
    default bound is TSN's 20 px (`kvideo.flow.DEFAULT_BOUND`, the flow configs' bound).
    """
    if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not bound > 0:
        raise ValueError(f"`bound` must be a positive number of pixels. Received: {bound=!r}")
    return (0.5, 0.5), (1.0 / (2.0 * bound),) * 2


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"Unknown input. Choose from {list(NAMES)}. Received: {name!r}")


# Mean and std of Kinetics-400 in RGB, on [0, 1] pixels, used by the common 3D ResNets
# (torchvision's video models and the VMZ/IG65M checkpoints).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

# ImageNet statistics in RGB, on [0, 1] pixels ("torch" mode of keras.applications).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
