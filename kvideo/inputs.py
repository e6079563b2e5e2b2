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

# Mean and std of Kinetics-400 in RGB, on [0, 1] pixels, used by the common 3D ResNets
# (torchvision's video models and the VMZ/IG65M checkpoints).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)

# ImageNet statistics in RGB, on [0, 1] pixels ("torch" mode of keras.applications).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
