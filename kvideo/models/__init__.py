"""Video models (Keras 3 functional models; input ``(batch, frames, height, width, 3)``).

Backbones return a feature map; :class:`VideoClassifier` adds the pooled Dense head.
"""

from kvideo.models.resnet3d import (
    ResNet3DBackbone,
    get_preset,
    list_presets,
    resnet3d_backbone,
)
from kvideo.models.video_classifier import VideoClassifier, build_video_classifier

__all__ = [
    "ResNet3DBackbone",
    "VideoClassifier",
    "build_video_classifier",
    "get_preset",
    "list_presets",
    "resnet3d_backbone",
]
