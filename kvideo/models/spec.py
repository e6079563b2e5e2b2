"""What the registry knows about a model, without building it (no TensorFlow here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from kvideo import inputs

#: A backbone takes whole clips (B, T, H, W, C) (3D networks) ...
CLIP = "clip"
#: ... or single frames (B, H, W, C): a 2D network the classifier applies to every frame.
FRAME = "frame"

#: The heads of `kvideo.models.heads.HEADS`, named here so configs check them without Keras.
HEAD_NAMES = ("pool", "consensus", "recurrent", "transformer")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered model: a backbone preset and the defaults of the classifier around it.

    Attributes:
        name: the registry name (``build_video_classifier(name, ...)``, ``--model``).
        family: the folder under ``kvideo/models`` that defines it.
        description: one line for listings.
        build_backbone: ``build_backbone(**config, input_shape=...) -> keras.Model``; imports
            TensorFlow only when called.
        config: the backbone's keyword arguments (the architecture preset, a plain dict).
        backbone_input: ``"clip"`` (the backbone takes ``(T, H, W, C)`` clips) or ``"frame"``
            (it takes ``(H, W, C)`` frames and runs on every frame of a clip).
        num_frames: the clip length the model is usually trained with.
        crop_size: the height and width clips are resized to.
        input_name: the model's named input (see `kvideo.inputs`).
        channels: channels per frame of that input.
        head, head_args: the default head (see `kvideo.models.heads`).
        dropout: the default dropout rate before the classifier.
        mean, std: the normalisation of [0, 1] pixels the architecture expects (the
            statistics its published weights were trained with).
    """

    name: str
    family: str
    description: str
    build_backbone: Callable[..., Any]
    config: Mapping[str, Any]
    backbone_input: str = CLIP
    num_frames: int = 16
    crop_size: int = 112
    input_name: str = inputs.VIDEO
    channels: int = 3
    head: str = "pool"
    head_args: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    dropout: float = 0.5
    mean: tuple[float, ...] = inputs.KINETICS_MEAN
    std: tuple[float, ...] = inputs.KINETICS_STD

    def __post_init__(self):
        if self.backbone_input not in (CLIP, FRAME):
            raise ValueError(
                f"`backbone_input` must be {CLIP!r} or {FRAME!r}. "
                f"Received: backbone_input={self.backbone_input!r}"
            )

    @property
    def input_description(self) -> str:
        """The expected input, e.g. ``video: uint8 (batch, 16, H, W, 3) -> 112x112``."""
        return (
            f"{self.input_name}: uint8 (batch, {self.num_frames}, H, W, {self.channels}) "
            f"-> {self.crop_size}x{self.crop_size}"
        )

    def summary(self) -> str:
        """One line: name, family, input, head, description."""
        head = self.head
        if self.head_args:
            head += "(" + ", ".join(f"{k}={v}" for k, v in self.head_args.items()) + ")"
        return (
            f"{self.name:28s} {self.family:10s} {self.input_description:44s} head={head:24s} "
            f"{self.description}"
        )
