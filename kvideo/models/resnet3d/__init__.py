"""ResNet-3D family: R3D, MC3 and R(2+1)D backbones (torchvision layout)."""

from kvideo.models.resnet3d.blocks import (
    basic_block,
    conv_2plus1d,
    conv_3d,
    conv_no_temporal,
    r2plus1d_midplanes,
    stem_2plus1d,
    stem_3d,
)
from kvideo.models.resnet3d.presets import PRESETS, STAGE_DEPTHS, get_preset, list_presets
from kvideo.models.resnet3d.resnet3d_backbone import ResNet3DBackbone, resnet3d_backbone

__all__ = [
    "PRESETS",
    "STAGE_DEPTHS",
    "ResNet3DBackbone",
    "basic_block",
    "conv_2plus1d",
    "conv_3d",
    "conv_no_temporal",
    "get_preset",
    "list_presets",
    "r2plus1d_midplanes",
    "resnet3d_backbone",
    "stem_2plus1d",
    "stem_3d",
]
