"""Per-frame models: a 2D network on every frame, then a head over time.

One backbone, several heads (`kvideo.models.heads`), as in the comparisons of the
literature:

* TSN / late fusion (Wang et al. 2016): segmental consensus of per-frame scores
  (``head="consensus"``; average consensus over per-frame logits *is* late fusion);
* LRCN (Donahue et al. 2015): an LSTM over per-frame features (``head="recurrent"``);
* CNN + Transformer: a Transformer encoder over per-frame features
  (``head="transformer"``).

The ``*_tiny`` presets use kvideo's small 2D ResNet (`resnet2d_backbone.py`) so that they
train in minutes on a CPU; on `motion_demo`, where one frame cannot tell the classes
apart, averaging frames stays near chance while the recurrent and Transformer heads can
learn the motion. This module imports no TensorFlow.
"""

from __future__ import annotations

from typing import Any

from kvideo import inputs
from kvideo.models.spec import FRAME, ModelSpec

resnet2d_tiny: dict[str, Any] = {
    "stage_depths": (1, 1, 1),
    "stage_widths": (16, 32, 64),
    "stem_width": 16,
}

#: Backbone presets of this family.
PRESETS: dict[str, dict[str, Any]] = {"resnet2d_tiny": resnet2d_tiny}


def build_backbone(**kwargs: Any) -> Any:
    """A :class:`ResNet2DBackbone` from keyword arguments (imports TensorFlow on call)."""
    from kvideo.models.per_frame.resnet2d_backbone import ResNet2DBackbone

    return ResNet2DBackbone(**kwargs)


def _tiny(name: str, description: str, head: str, **head_args: Any) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="per_frame",
        description=description,
        build_backbone=build_backbone,
        config=resnet2d_tiny,
        backbone_input=FRAME,
        num_frames=8,
        crop_size=112,
        head=head,
        head_args=head_args,
        dropout=0.5,
        mean=inputs.IMAGENET_MEAN,
        std=inputs.IMAGENET_STD,
    )


#: The family's entries in the model registry.
MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _tiny("tsn_tiny", "TSN: tiny 2D ResNet per frame, average consensus", "consensus"),
        _tiny(
            "lrcn_tiny",
            "LRCN: tiny 2D ResNet per frame, LSTM over time",
            "recurrent",
            cell="lstm",
            units=64,
        ),
        _tiny(
            "cnn_transformer_tiny",
            "tiny 2D ResNet per frame, Transformer encoder over time",
            "transformer",
            num_layers=1,
            num_heads=4,
        ),
    )
}
