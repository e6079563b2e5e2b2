"""C3D family (Tran et al. 2015): eight 3x3x3 convolutions, five poolings, fc6/fc7.

Names load on first use, so that the registry (`presets.py`) is readable without
TensorFlow.
"""

from typing import TYPE_CHECKING

from kvideo._lazy import lazy_exports

_EXPORTS = {
    "C3DBackbone": "kvideo.models.c3d.c3d_backbone",
    "MODELS": "kvideo.models.c3d.presets",
    "PRESETS": "kvideo.models.c3d.presets",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from kvideo.models.c3d.c3d_backbone import C3DBackbone
    from kvideo.models.c3d.presets import MODELS, PRESETS
