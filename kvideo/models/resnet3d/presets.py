"""ResNet-3D presets: plain dicts of :class:`ResNet3DBackbone` keyword arguments.

Full-size presets follow torchvision's ``torchvision.models.video`` (R3D-18, MC3-18,
R(2+1)D-18) and the IG65M/VMZ R(2+1)D-34 layout; with a 400-class head their
trainable parameter counts equal the PyTorch parameter counts (see
``tests/test_resnet3d.py``). ``*_tiny`` presets are small CPU variants for demos and
tests.
"""

from __future__ import annotations

from typing import Any

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

r2plus1d_34: dict[str, Any] = {**r2plus1d_18, "stage_depths": STAGE_DEPTHS[34]}

# torchvision's r2plus1d_18: one intermediate width per block (loads its weights).
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

#: All presets by name.
PRESETS: dict[str, dict[str, Any]] = {
    "r3d_18": r3d_18,
    "mc3_18": mc3_18,
    "r2plus1d_18": r2plus1d_18,
    "r2plus1d_34": r2plus1d_34,
    "r2plus1d_18_torchvision": r2plus1d_18_torchvision,
    "r3d_tiny": r3d_tiny,
    "mc3_tiny": mc3_tiny,
    "r2plus1d_tiny": r2plus1d_tiny,
}


def list_presets() -> list[str]:
    """Names accepted by ``resnet3d_backbone`` / ``build_video_classifier``."""
    return list(PRESETS)


def get_preset(name: str) -> dict[str, Any]:
    """A copy of the keyword arguments of preset ``name``; ValueError if unknown."""
    if name not in PRESETS:
        raise ValueError(f"Unknown ResNet-3D preset. Known: {list_presets()}. Received: {name=}")
    return dict(PRESETS[name])
