"""ResNet-3D family: R3D, MC3 and R(2+1)D backbones (torchvision layout), non-local blocks.

Converters: ``convert_torchvision.py`` (torchvision's checkpoints), ``convert_vmz.py``
(IG65M / VMZ R(2+1)D).

Names load on first use, so that the registry (`presets.py`) is readable without
TensorFlow.
"""

from typing import TYPE_CHECKING

from kvideo._lazy import lazy_exports

_EXPORTS = {
    "basic_block": "kvideo.models.resnet3d.blocks",
    "conv_2plus1d": "kvideo.models.resnet3d.blocks",
    "conv_3d": "kvideo.models.resnet3d.blocks",
    "conv_no_temporal": "kvideo.models.resnet3d.blocks",
    "r2plus1d_midplanes": "kvideo.models.resnet3d.blocks",
    "stem_2plus1d": "kvideo.models.resnet3d.blocks",
    "stem_3d": "kvideo.models.resnet3d.blocks",
    "NonLocalAttention": "kvideo.models.resnet3d.nonlocal_block",
    "check_nonlocal_blocks": "kvideo.models.resnet3d.nonlocal_block",
    "nonlocal_block": "kvideo.models.resnet3d.nonlocal_block",
    "MODELS": "kvideo.models.resnet3d.presets",
    "PRESETS": "kvideo.models.resnet3d.presets",
    "STAGE_DEPTHS": "kvideo.models.resnet3d.presets",
    "get_preset": "kvideo.models.resnet3d.presets",
    "list_presets": "kvideo.models.resnet3d.presets",
    "ResNet3DBackbone": "kvideo.models.resnet3d.resnet3d_backbone",
    "resnet3d_backbone": "kvideo.models.resnet3d.resnet3d_backbone",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from kvideo.models.resnet3d.blocks import (
        basic_block,
        conv_2plus1d,
        conv_3d,
        conv_no_temporal,
        r2plus1d_midplanes,
        stem_2plus1d,
        stem_3d,
    )
    from kvideo.models.resnet3d.nonlocal_block import (
        NonLocalAttention,
        check_nonlocal_blocks,
        nonlocal_block,
    )
    from kvideo.models.resnet3d.presets import (
        MODELS,
        PRESETS,
        STAGE_DEPTHS,
        get_preset,
        list_presets,
    )
    from kvideo.models.resnet3d.resnet3d_backbone import ResNet3DBackbone, resnet3d_backbone
