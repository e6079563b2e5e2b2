"""Inflated 3D networks (Carreira and Zisserman 2017): I3D, its flow stream, I3D ResNet-50.

`MODELS` registers them with the model registry; this module imports no TensorFlow.

* ``i3d``: Inception-v1 with BN inflated, 64-frame 224x224 RGB clips in the paper
  (12,697,264 parameters with 400 classes, as the PyTorch port; see `i3d.py`).
* ``i3d_flow``: the same on 2-channel optical flow, the input named ``flow``.
* ``i3d_resnet50``: ``keras.applications.ResNet50`` inflated in mmaction2's I3D layout;
  ``weights="imagenet"`` inflates Keras's ImageNet weights.
* ``i3d_tiny``: I3D with an eighth of the channels, for tests and CPU demos.

Inflating any other 2D network is `kvideo.models.inflated.inflate`.
"""

from __future__ import annotations

from typing import Any

from kvideo import inputs
from kvideo.models.per_frame.keras_applications import APPLICATIONS
from kvideo.models.spec import ModelSpec

#: Flow fields are quantised to 8 bits around 128 (TSN's convention): [-1, 1] as I3D's.
FLOW_MEAN = (0.5, 0.5)
FLOW_STD = (0.5, 0.5)
#: I3D's RGB input: [-1, 1] (pixels / 127.5 - 1), as in the released models.
I3D_MEAN = (0.5, 0.5, 0.5)
I3D_STD = (0.5, 0.5, 0.5)


def build_i3d(**kwargs: Any) -> Any:
    """An I3D backbone (imports TensorFlow on call)."""
    from kvideo.models.inflated.i3d import i3d_backbone

    return i3d_backbone(**kwargs)


def build_i3d_resnet50(**kwargs: Any) -> Any:
    """An I3D ResNet-50 backbone (imports TensorFlow on call)."""
    from kvideo.models.inflated.i3d import i3d_resnet50_backbone

    return i3d_resnet50_backbone(**kwargs)


def _i3d(name: str, description: str, **overrides: Any) -> ModelSpec:
    settings: dict[str, Any] = {
        "name": name,
        "family": "inflated",
        "description": description,
        "build_backbone": build_i3d,
        "config": {},
        "num_frames": 64,
        "crop_size": 224,
        "mean": I3D_MEAN,
        "std": I3D_STD,
    }
    settings.update(overrides)
    return ModelSpec(**settings)


_RESNET50 = APPLICATIONS["resnet50"]

#: The family's entries in the model registry.
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _i3d("i3d", "I3D: Inception-v1 with BN inflated, RGB"),
        _i3d(
            "i3d_flow",
            "I3D: Inception-v1 with BN inflated, optical flow (x, y)",
            input_name=inputs.FLOW,
            channels=2,
            mean=FLOW_MEAN,
            std=FLOW_STD,
        ),
        _i3d(
            "i3d_resnet50",
            "I3D ResNet-50: keras.applications ResNet50 inflated (mmaction2 layout)",
            build_backbone=build_i3d_resnet50,
            num_frames=32,
            mean=_RESNET50.mean,
            std=_RESNET50.std,
        ),
        _i3d(
            "i3d_tiny",
            "I3D with 1/8 of the channels, for tests and CPU demos",
            config={"width": 0.125},
            num_frames=8,
            crop_size=112,
        ),
    )
}
