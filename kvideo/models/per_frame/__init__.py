"""Per-frame family: 2D networks applied to every frame, with TSN, LRCN and Transformer heads.

* `keras_applications.py`: the ``keras.applications`` networks and their pixel statistics
  (no TensorFlow); `application_backbone.py` builds them, ImageNet weights loaded by Keras.
* `inception_bn.py`: BN-Inception (TSN's network) and Inception-v1 with BN (I3D's).
* `resnet2d_backbone.py`: a small 2D ResNet for CPUs and tests.
* `partial_bn.py`: TSN's partial batch norm.
* `presets.py`: the registered models.

Names load on first use, so that the registry (`presets.py`) is readable without
TensorFlow.
"""

from typing import TYPE_CHECKING

from kvideo._lazy import lazy_exports

_EXPORTS = {
    "APPLICATIONS": "kvideo.models.per_frame.keras_applications",
    "MODELS": "kvideo.models.per_frame.presets",
    "PRESETS": "kvideo.models.per_frame.presets",
    "ResNet2DBackbone": "kvideo.models.per_frame.resnet2d_backbone",
    "application_backbone": "kvideo.models.per_frame.application_backbone",
    "basic_block_2d": "kvideo.models.per_frame.resnet2d_backbone",
    "bn_inception": "kvideo.models.per_frame.inception_bn",
    "inception_v1_bn": "kvideo.models.per_frame.inception_bn",
    "partial_batch_norm": "kvideo.models.per_frame.partial_bn",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from kvideo.models.per_frame.application_backbone import application_backbone
    from kvideo.models.per_frame.inception_bn import bn_inception, inception_v1_bn
    from kvideo.models.per_frame.keras_applications import APPLICATIONS
    from kvideo.models.per_frame.partial_bn import partial_batch_norm
    from kvideo.models.per_frame.presets import MODELS, PRESETS
    from kvideo.models.per_frame.resnet2d_backbone import ResNet2DBackbone, basic_block_2d
