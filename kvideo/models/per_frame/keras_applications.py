"""The ``keras.applications`` networks kvideo runs on every frame, and how each wants its pixels.

No TensorFlow here: the registry reads this table to know each network's input size and
normalisation before anything is built.

``keras.applications`` networks expect three different kinds of input, which
`kvideo.layers.ClipPreprocessing` (``(pixels / 255 - mean) / std`` per channel, RGB)
reproduces exactly:

* ``"caffe"`` (ResNet v1, VGG): BGR pixels in [0, 255] minus the ImageNet mean in BGR.
  Per channel that is ``mean = m / 255`` and ``std = 1 / 255``; the BGR order is a
  permutation, not a normalisation, so it is absorbed by the network's first
  convolution instead: its kernel's input channels are reversed once the weights are
  loaded (`application_backbone.py`). The network then takes RGB like every other model,
  and an exported model needs no channel shuffle.
* ``"tf"`` (Inception v3, Inception-ResNet v2, MobileNet v2): ``x / 127.5 - 1``, i.e.
  ``mean = std = 0.5``.
* networks that normalise inside themselves (EfficientNet, EfficientNetV2, MobileNetV3):
  EfficientNet v1 keeps its own layers (its ImageNet normalisation is part of its weights
  file) and gets raw [0, 255] pixels (``mean = 0``, ``std = 1 / 255``); EfficientNetV2 and
  MobileNetV3 are built with ``include_preprocessing=False`` and their
  ``Rescaling``/``Normalization`` constants move into `ClipPreprocessing` (no weights
  are lost: those layers have none).

``tests/test_keras_applications.py`` checks each mode against
``keras.applications.<module>.preprocess_input`` numerically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kvideo import inputs

#: The ImageNet mean of keras.applications' "caffe" mode, RGB order, on [0, 255].
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)

_CAFFE = {"mean": tuple(m / 255.0 for m in CAFFE_MEAN_RGB), "std": (1.0 / 255.0,) * 3}
_TF = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
_RAW = {"mean": (0.0, 0.0, 0.0), "std": (1.0 / 255.0,) * 3}
_TORCH = {"mean": inputs.IMAGENET_MEAN, "std": inputs.IMAGENET_STD}
# EfficientNetV2-S/M/L: Rescaling(1 / 128, offset=-1), i.e. x / 128 - 1.
_HALF = {"mean": (128.0 / 255.0,) * 3, "std": (128.0 / 255.0,) * 3}


@dataclasses.dataclass(frozen=True)
class Application:
    """A ``keras.applications`` network as a per-frame backbone.

    Attributes:
        constructor: the function's name in ``keras.applications`` (``"ResNet50"``).
        module: its module there, whose ``preprocess_input`` defines its input.
        crop_size: the input size its ImageNet weights were trained at.
        mean, std: `ClipPreprocessing` statistics that reproduce its preprocessing.
        bgr: whether it expects BGR pixels (its first convolution is flipped to take RGB).
        kwargs: extra constructor arguments (``include_preprocessing=False``).
    """

    constructor: str
    module: str
    crop_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    bgr: bool = False
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)


def _app(constructor: str, module: str, crop: int, stats: dict, **kwargs: Any) -> Application:
    bgr = stats is _CAFFE
    return Application(constructor, module, crop, stats["mean"], stats["std"], bgr, kwargs)


_NO_PREPROCESSING = {"include_preprocessing": False}

#: Every supported network, by the name used in kvideo's registry (``tsn_<name>``).
APPLICATIONS: dict[str, Application] = {
    "resnet50": _app("ResNet50", "resnet", 224, _CAFFE),
    "resnet101": _app("ResNet101", "resnet", 224, _CAFFE),
    "resnet152": _app("ResNet152", "resnet", 224, _CAFFE),
    "vgg16": _app("VGG16", "vgg16", 224, _CAFFE),
    "inception_v3": _app("InceptionV3", "inception_v3", 299, _TF),
    "inception_resnet_v2": _app("InceptionResNetV2", "inception_resnet_v2", 299, _TF),
    "mobilenet_v2": _app("MobileNetV2", "mobilenet_v2", 224, _TF),
    "mobilenet_v3_small": _app("MobileNetV3Small", "mobilenet_v3", 224, _TF, **_NO_PREPROCESSING),
    "mobilenet_v3_large": _app("MobileNetV3Large", "mobilenet_v3", 224, _TF, **_NO_PREPROCESSING),
    "efficientnet_b0": _app("EfficientNetB0", "efficientnet", 224, _RAW),
    "efficientnet_b3": _app("EfficientNetB3", "efficientnet", 300, _RAW),
    "efficientnet_v2_b0": _app(
        "EfficientNetV2B0", "efficientnet_v2", 224, _TORCH, **_NO_PREPROCESSING
    ),
    "efficientnet_v2_s": _app(
        "EfficientNetV2S", "efficientnet_v2", 384, _HALF, **_NO_PREPROCESSING
    ),
}


def get_application(name: str) -> Application:
    """The table entry `name`; a ValueError listing the valid names otherwise."""
    if name not in APPLICATIONS:
        raise ValueError(
            f"Unknown keras.applications network. Choose from {sorted(APPLICATIONS)}. "
            f"Received: application={name!r}"
        )
    return APPLICATIONS[name]
