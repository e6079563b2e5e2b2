"""ResNet-3D presets: plain dicts of :class:`ResNet3DBackbone` keyword arguments.

Full-size presets follow the architectures of torchvision's ``torchvision.models.video``
(R3D-18, MC3-18, R(2+1)D-18, and the same stacks at depth 34) and the IG65M/VMZ
R(2+1)D-34 layout; with a 400-class head their trainable parameter counts equal the
PyTorch parameter counts (see ``tests/test_resnet3d.py``). The weights they can start
from (torchvision's Kinetics-400 checkpoints, IG65M) are listed in
`kvideo.models.weights`. ``*_tiny`` presets are small CPU variants for demos and tests.

`MODELS` registers every preset with the model registry (`kvideo.models.registry`);
this module imports no TensorFlow, so the registry can be listed without loading it.
"""

from __future__ import annotations

from typing import Any

from kvideo.models.spec import ModelSpec

#: Blocks per stage for the supported ResNet depths (basic blocks).
STAGE_DEPTHS: dict[int, tuple[int, ...]] = {
    10: (1, 1, 1, 1),
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
}

_FULL_WIDTHS = (64, 128, 256, 512)
_TINY_WIDTHS = (16, 32, 64, 128)

r3d_18: dict[str, Any] = {
    "stage_depths": STAGE_DEPTHS[18],
    "stage_widths": _FULL_WIDTHS,
    "stage_conv_types": ("3d", "3d", "3d", "3d"),
    "stem_type": "3d",
    "stem_width": 64,
}

mc3_18: dict[str, Any] = {
    "stage_depths": STAGE_DEPTHS[18],
    "stage_widths": _FULL_WIDTHS,
    "stage_conv_types": ("3d", "2d", "2d", "2d"),
    "stem_type": "3d",
    "stem_width": 64,
}

# Paper R(2+1)D: every (2+1)D conv sizes its own intermediate width.
r2plus1d_18: dict[str, Any] = {
    "stage_depths": STAGE_DEPTHS[18],
    "stage_widths": _FULL_WIDTHS,
    "stage_conv_types": ("2plus1d", "2plus1d", "2plus1d", "2plus1d"),
    "stem_type": "2plus1d",
    "stem_width": 64,
    "stem_mid_width": 45,
    "midplanes": "per_conv",
}

# The IG65M/VMZ R(2+1)D-34 (per-conv widths, as the paper): trained in Caffe2, whose
# batch norm epsilon was 1e-3; its weights give the published outputs only with it.
r2plus1d_34: dict[str, Any] = {**r2plus1d_18, "stage_depths": STAGE_DEPTHS[34], "bn_epsilon": 1e-3}

# torchvision's constructors at depth 34 (VideoResNet with layers=[3, 4, 6, 3]).
r3d_34: dict[str, Any] = {**r3d_18, "stage_depths": STAGE_DEPTHS[34]}
mc3_34: dict[str, Any] = {**mc3_18, "stage_depths": STAGE_DEPTHS[34]}

# torchvision's r2plus1d_18 layout: one intermediate width per block, as its checkpoint.
r2plus1d_18_torchvision: dict[str, Any] = {**r2plus1d_18, "midplanes": "shared"}

r3d_tiny: dict[str, Any] = {
    **r3d_18,
    "stage_depths": STAGE_DEPTHS[10],
    "stage_widths": _TINY_WIDTHS,
    "stem_width": 16,
}

mc3_tiny: dict[str, Any] = {
    **mc3_18,
    "stage_depths": STAGE_DEPTHS[10],
    "stage_widths": _TINY_WIDTHS,
    "stem_width": 16,
}

r2plus1d_tiny: dict[str, Any] = {
    **r2plus1d_18,
    "stage_depths": STAGE_DEPTHS[10],
    "stage_widths": _TINY_WIDTHS,
    "stem_width": 16,
    "stem_mid_width": 11,
}

# Non-local blocks after the blocks of stages 2 and 3 (the paper puts them in res3/res4).
r3d_nonlocal_tiny: dict[str, Any] = {**r3d_tiny, "nonlocal_blocks": ((), (1,), (1,), ())}

#: All presets by name.
PRESETS: dict[str, dict[str, Any]] = {
    "r3d_18": r3d_18,
    "mc3_18": mc3_18,
    "r2plus1d_18": r2plus1d_18,
    "r2plus1d_34": r2plus1d_34,
    "r2plus1d_18_torchvision": r2plus1d_18_torchvision,
    "r3d_34": r3d_34,
    "mc3_34": mc3_34,
    "r3d_tiny": r3d_tiny,
    "mc3_tiny": mc3_tiny,
    "r2plus1d_tiny": r2plus1d_tiny,
    "r3d_nonlocal_tiny": r3d_nonlocal_tiny,
    # Self-attention over the 3D features: r3d_tiny under a Transformer head (see _HEADS).
    "r3d_attention_tiny": r3d_tiny,
}


def list_presets() -> list[str]:
    """Names accepted by ``resnet3d_backbone``."""
    return list(PRESETS)


def get_preset(name: str) -> dict[str, Any]:
    """A copy of the keyword arguments of preset ``name``; ValueError if unknown."""
    if name not in PRESETS:
        raise ValueError(f"Unknown ResNet-3D preset. Known: {list_presets()}. Received: {name=}")
    return dict(PRESETS[name])


def build_backbone(**kwargs: Any) -> Any:
    """A :class:`ResNet3DBackbone` from keyword arguments (imports TensorFlow on call)."""
    from kvideo.models.resnet3d.resnet3d_backbone import ResNet3DBackbone

    return ResNet3DBackbone(**kwargs)


_DESCRIPTIONS = {
    "r3d_18": "R3D-18 (Tran et al. 2018), 3x3x3 convolutions",
    "mc3_18": "MC3-18: 3D convolutions in the stem and stage 1, 2D above",
    "r2plus1d_18": "R(2+1)D-18 (Tran et al. 2018), per-conv intermediate widths",
    "r2plus1d_34": "R(2+1)D-34, the IG65M/VMZ layout (batch norm epsilon 1e-3)",
    "r2plus1d_18_torchvision": "R(2+1)D-18 in torchvision's layout (one width per block)",
    "r3d_34": "R3D-34: torchvision's R3D stack at depth 34",
    "mc3_34": "MC3-34: torchvision's MC3 stack at depth 34",
    "r3d_tiny": "tiny R3D (depth 10, widths 16-128) for CPUs and tests",
    "mc3_tiny": "tiny MC3 (depth 10, widths 16-128) for CPUs and tests",
    "r2plus1d_tiny": "tiny R(2+1)D (depth 10, widths 16-128) for CPUs and tests",
    "r3d_nonlocal_tiny": "tiny R3D with non-local blocks after stages 2 and 3",
    "r3d_attention_tiny": "tiny R3D, Transformer head over its pooled 3D feature map",
}

#: Registered models whose default head is not global pooling: (head, head_args).
_HEADS: dict[str, tuple[str, dict[str, Any]]] = {
    "r3d_attention_tiny": (
        "transformer",
        {"tokens": "spacetime", "pool_size": (1, 2, 2), "num_heads": 4, "num_layers": 1},
    ),
}

#: The family's entries in the model registry.
MODELS: dict[str, ModelSpec] = {
    name: ModelSpec(
        name=name,
        family="resnet3d",
        description=_DESCRIPTIONS[name],
        build_backbone=build_backbone,
        config=config,
        head=_HEADS.get(name, ("pool", {}))[0],
        head_args=_HEADS.get(name, ("pool", {}))[1],
    )
    for name, config in PRESETS.items()
}
