"""Per-frame family: 2D networks applied to every frame, with TSN, LRCN and Transformer heads.

Names load on first use, so that the registry (`presets.py`) is readable without
TensorFlow.
"""

from typing import TYPE_CHECKING

from kvideo._lazy import lazy_exports

_EXPORTS = {
    "MODELS": "kvideo.models.per_frame.presets",
    "PRESETS": "kvideo.models.per_frame.presets",
    "ResNet2DBackbone": "kvideo.models.per_frame.resnet2d_backbone",
    "basic_block_2d": "kvideo.models.per_frame.resnet2d_backbone",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from kvideo.models.per_frame.presets import MODELS, PRESETS
    from kvideo.models.per_frame.resnet2d_backbone import ResNet2DBackbone, basic_block_2d
