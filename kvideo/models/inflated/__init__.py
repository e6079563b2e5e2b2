"""Inflated family: 2D networks made 3D with their weights (I3D, I3D ResNet-50, any other).

Names load on first use, so that the registry (`presets.py`) is readable without
TensorFlow.
"""

from typing import TYPE_CHECKING

from kvideo._lazy import lazy_exports

_EXPORTS = {
    "MODELS": "kvideo.models.inflated.presets",
    "inflate": "kvideo.models.inflated.inflate",
    "inflate_kernel": "kvideo.models.inflated.inflate",
    "i3d_backbone": "kvideo.models.inflated.i3d",
    "i3d_resnet50_backbone": "kvideo.models.inflated.i3d",
    "SamePadding3D": "kvideo.models.inflated.layers",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from kvideo.models.inflated.i3d import i3d_backbone, i3d_resnet50_backbone
    from kvideo.models.inflated.inflate import inflate, inflate_kernel
    from kvideo.models.inflated.layers import SamePadding3D
    from kvideo.models.inflated.presets import MODELS
