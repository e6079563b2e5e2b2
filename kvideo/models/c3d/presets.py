"""C3D presets: plain dicts of :class:`C3DBackbone` keyword arguments.

``c3d`` is the network of Tran et al. 2015; with a 487-class head (Sports-1M) it has
79,991,015 parameters, as the Caffe model and its PyTorch port (``DavideA/c3d-pytorch``),
whose Sports-1M weights are registered in `kvideo.models.weights`. ``c3d_tiny`` is a
narrow variant for CPUs and tests.

The Sports-1M weights were trained in Caffe on 0-255 pixels minus the Sports-1M mean
clip; the registered statistics reproduce that (``(x - mean) / std`` on [0, 1] pixels
with ``std = 1/255``). This module imports no TensorFlow.
"""

from __future__ import annotations

from typing import Any

from kvideo.models.spec import ModelSpec

#: Per-channel means of C3D's Sports-1M mean clip (``sport1m_train16_128_mean``:
#: 101.41, 97.66, 90.25 in RGB on 0-255), on [0, 1] pixels.
SPORTS1M_MEAN = (101.41 / 255, 97.66 / 255, 90.25 / 255)
#: Caffe fed 0-255 pixels: dividing [0, 1] pixels by 1/255 gives them back.
SPORTS1M_STD = (1 / 255, 1 / 255, 1 / 255)

c3d: dict[str, Any] = {
    "conv_widths": (64, 128, 256, 256, 512, 512, 512, 512),
    "fc_width": 4096,
    "dropout": 0.5,
}

c3d_tiny: dict[str, Any] = {
    "conv_widths": (8, 16, 32, 32, 64, 64, 64, 64),
    "fc_width": 128,
    "dropout": 0.5,
}

#: All presets by name.
PRESETS: dict[str, dict[str, Any]] = {"c3d": c3d, "c3d_tiny": c3d_tiny}


def build_backbone(**kwargs: Any) -> Any:
    """A :class:`C3DBackbone` from keyword arguments (imports TensorFlow on call)."""
    from kvideo.models.c3d.c3d_backbone import C3DBackbone

    return C3DBackbone(**kwargs)


_DESCRIPTIONS = {
    "c3d": "C3D (Tran et al. 2015): 8 3x3x3 convs, fc6/fc7 of 4096, 16x112x112 clips",
    "c3d_tiny": "tiny C3D (widths 8-64, fc 128) for CPUs and tests",
}

#: The family's entries in the model registry. The head's dropout is C3D's dropout
#: after fc7, and its Dense layer is fc8.
MODELS: dict[str, ModelSpec] = {
    name: ModelSpec(
        name=name,
        family="c3d",
        description=_DESCRIPTIONS[name],
        build_backbone=build_backbone,
        config=config,
        num_frames=16,
        crop_size=112,
        dropout=0.5,
        mean=SPORTS1M_MEAN,
        std=SPORTS1M_STD,
    )
    for name, config in PRESETS.items()
}
