"""Video models: one registry of every family, classifiers with a choice of head.

    from kvideo.models import build_video_classifier, list_presets
    list(list_presets())                       # every registered name, all families
    model = build_video_classifier("r2plus1d_18", num_classes=101)
    model = build_video_classifier("lrcn_tiny", 6, head_args={"cell": "gru"})
    model = build_video_classifier(keras.applications.MobileNetV3Small(...), 6,
                                   head="consensus", input_shape=(8, 224, 224, 3))

* `registry.py`: ``MODELS`` (name -> `ModelSpec`), `list_presets`, `get_model_spec`; no
  TensorFlow, so listings and ``--help`` are instant.
* a family is a folder: ``resnet3d/`` (R3D, MC3, R(2+1)D; non-local blocks),
  ``per_frame/`` (2D networks on every frame: TSN, LRCN, CNN + Transformer), ``c3d/``.
  A family's ``convert_<source>.py`` modules import published checkpoints.
* `heads.py`: pooling, segmental consensus, recurrent, Transformer heads.
* `video_classifier.py`: `VideoClassifier` (any backbone, any head, one named input),
  `FusionClassifier` (weighted score fusion of several named inputs),
  `build_video_classifier`.
* `multi_head.py`: `MultiHeadClassifier` (one backbone, a head per dataset; each head
  exportable as a `VideoClassifier`).
* `weights.py`: pretrained weights, apart from the architectures; `conversion.py`: what
  the checkpoint converters share.
* `outputs.py`: whether a model emits logits or probabilities, decided once.

Names load on first use (the registry without TensorFlow).
"""

from typing import TYPE_CHECKING

from kvideo._lazy import lazy_exports
from kvideo.inputs import IMAGENET_MEAN, IMAGENET_STD, KINETICS_MEAN, KINETICS_STD
from kvideo.models.registry import MODELS, get_model_spec, get_preset, list_presets
from kvideo.models.spec import ModelSpec

_EXPORTS = {
    "ClipPreprocessing": "kvideo.layers.clip_preprocessing",
    "HEADS": "kvideo.models.heads",
    "ResNet3DBackbone": "kvideo.models.resnet3d.resnet3d_backbone",
    "resnet3d_backbone": "kvideo.models.resnet3d.resnet3d_backbone",
    "ResNet2DBackbone": "kvideo.models.per_frame.resnet2d_backbone",
    "C3DBackbone": "kvideo.models.c3d.c3d_backbone",
    "VideoClassifier": "kvideo.models.video_classifier",
    "FusionClassifier": "kvideo.models.video_classifier",
    "build_video_classifier": "kvideo.models.video_classifier",
    "MultiHeadClassifier": "kvideo.models.multi_head",
    "WEIGHTS": "kvideo.models.weights",
    "PretrainedWeights": "kvideo.models.weights",
    "output_kind": "kvideo.models.outputs",
    "outputs_logits": "kvideo.models.outputs",
    "to_probabilities": "kvideo.models.outputs",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(
    [
        *_EXPORTS,
        "IMAGENET_MEAN",
        "IMAGENET_STD",
        "KINETICS_MEAN",
        "KINETICS_STD",
        "MODELS",
        "ModelSpec",
        "get_model_spec",
        "get_preset",
        "list_presets",
    ]
)

if TYPE_CHECKING:
    from kvideo.layers.clip_preprocessing import ClipPreprocessing
    from kvideo.models.c3d.c3d_backbone import C3DBackbone
    from kvideo.models.heads import HEADS
    from kvideo.models.outputs import output_kind, outputs_logits, to_probabilities
    from kvideo.models.per_frame.resnet2d_backbone import ResNet2DBackbone
    from kvideo.models.resnet3d.resnet3d_backbone import ResNet3DBackbone, resnet3d_backbone
    from kvideo.models.video_classifier import (
        FusionClassifier,
        VideoClassifier,
        build_video_classifier,
    )
    from kvideo.models.weights import WEIGHTS, PretrainedWeights
