"""Video models (Keras 3 functional models; input ``(batch, frames, height, width, 3)``).

Backbones return a feature map; :class:`VideoClassifier` adds the pooled Dense head and,
in front, :class:`ClipPreprocessing` (uint8 clips of any size -> resized, normalised).
"""

from kvideo.layers.clip_preprocessing import KINETICS_MEAN, KINETICS_STD, ClipPreprocessing
from kvideo.models.resnet3d import (
    ResNet3DBackbone,
    get_preset,
    list_presets,
    resnet3d_backbone,
)
from kvideo.models.video_classifier import VideoClassifier, build_video_classifier

__all__ = [
    "KINETICS_MEAN",
    "KINETICS_STD",
    "ClipPreprocessing",
    "ResNet3DBackbone",
    "VideoClassifier",
    "build_video_classifier",
    "get_preset",
    "list_presets",
    "resnet3d_backbone",
]
