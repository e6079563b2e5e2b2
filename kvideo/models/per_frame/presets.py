"""Per-frame models: a 2D network on every frame, then a head over time.

One backbone, several heads (`kvideo.models.heads`), as in the comparisons of the
literature:

* TSN / late fusion (Wang et al. 2016): segmental consensus of per-frame scores
  (``head="consensus"``; average consensus over per-frame logits *is* late fusion);
* LRCN (Donahue et al. 2015): an LSTM over per-frame features (``head="recurrent"``);
* CNN + Transformer: a Transformer encoder over per-frame features
  (``head="transformer"``).

Full-size models run a ``keras.applications`` network (``tsn_resnet50``, ...: every entry
of `keras_applications.APPLICATIONS`, each normalised as its ImageNet weights want, which
``weights="imagenet"`` loads through Keras) or BN-Inception (``tsn_bn_inception``, TSN's
network) on every frame. TSN presets keep the paper's dropout of 0.8 before the
classifier; partial batch norm is a training option (`kvideo.models.per_frame.partial_bn`,
``ModelConfig.partial_bn``). Any preset takes another head
(``build_video_classifier("tsn_resnet50", 101, head="recurrent")``): the heads are a
choice, the backbone is what a preset names.

The ``*_tiny`` presets use kvideo's small 2D ResNet (`resnet2d_backbone.py`) so that they
train in minutes on a CPU; on `motion_demo`, where one frame cannot tell the classes
apart, averaging frames stays near chance while the recurrent and Transformer heads can
learn the motion. This module imports no TensorFlow.
"""

from __future__ import annotations

from typing import Any

from kvideo import inputs
from kvideo.models.per_frame.keras_applications import APPLICATIONS
from kvideo.models.spec import FRAME, ModelSpec

#: TSN's dropout before the classifier (Wang et al. 2016, section 3.2: "a high dropout
#: ratio (set as 0.8) after the global pooling layer").
TSN_DROPOUT = 0.8
#: TSN segments per clip in these presets (TSN-8, the common setting since; the paper
#: trained with 3).
TSN_SEGMENTS = 8
#: BN-Inception's input: the Caffe model's BGR mean (104, 117, 128) on [0, 255], in RGB.
BN_INCEPTION_MEAN = (128.0 / 255.0, 117.0 / 255.0, 104.0 / 255.0)
BN_INCEPTION_STD = (1.0 / 255.0,) * 3

# A fully connected layer on the flattened map, as CaffeNet's fc6 in LRCN: per-frame
# features that keep where the object is, so that a head over time can see it move.
resnet2d_tiny: dict[str, Any] = {
    "stage_depths": (1, 1, 1),
    "stage_widths": (16, 32, 64),
    "stem_width": 16,
    "fc_units": 64,
}

#: Backbone presets of this family.
PRESETS: dict[str, dict[str, Any]] = {"resnet2d_tiny": resnet2d_tiny}


def build_backbone(**kwargs: Any) -> Any:
    """A :class:`ResNet2DBackbone` from keyword arguments (imports TensorFlow on call)."""
    from kvideo.models.per_frame.resnet2d_backbone import ResNet2DBackbone

    return ResNet2DBackbone(**kwargs)


def build_application_backbone(**kwargs: Any) -> Any:
    """A ``keras.applications`` backbone (imports TensorFlow on call)."""
    from kvideo.models.per_frame.application_backbone import application_backbone

    return application_backbone(**kwargs)


def build_bn_inception(**kwargs: Any) -> Any:
    """BN-Inception (imports TensorFlow on call)."""
    from kvideo.models.per_frame.inception_bn import bn_inception

    return bn_inception(**kwargs)


def _application(
    application: str, head: str = "consensus", prefix: str = "tsn", **head_args: Any
) -> ModelSpec:
    entry = APPLICATIONS[application]
    kind = {
        "consensus": "TSN, average consensus",
        "recurrent": "LRCN, LSTM over time",
        "transformer": "Transformer encoder over time",
    }[head]
    return ModelSpec(
        name=f"{prefix}_{application}",
        family="per_frame",
        description=f"{kind}: keras.applications {entry.constructor} per frame",
        build_backbone=build_application_backbone,
        config={"application": application},
        backbone_input=FRAME,
        num_frames=TSN_SEGMENTS,
        crop_size=entry.crop_size,
        head=head,
        head_args=head_args,
        dropout=TSN_DROPOUT if head == "consensus" else 0.5,
        mean=entry.mean,
        std=entry.std,
    )


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


_TSN_BN_INCEPTION = ModelSpec(
    name="tsn_bn_inception",
    family="per_frame",
    description="TSN, average consensus: BN-Inception per frame (Wang et al. 2016)",
    build_backbone=build_bn_inception,
    config={},
    backbone_input=FRAME,
    num_frames=TSN_SEGMENTS,
    crop_size=224,
    head="consensus",
    dropout=TSN_DROPOUT,
    mean=BN_INCEPTION_MEAN,
    std=BN_INCEPTION_STD,
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
        _TSN_BN_INCEPTION,
        *(_application(name) for name in APPLICATIONS),
        # LRCN (Donahue et al. 2015): one LSTM layer of 256 units over per-frame features,
        # the per-step outputs averaged; here on ResNet-50 features.
        _application("resnet50", "recurrent", "lrcn", cell="lstm", units=256, readout="average"),
        # A class token, learned positions and one encoder layer of 8 heads over per-frame
        # features (the late temporal modelling of Kalfaoglu et al. 2020), on ResNet-50.
        _application("resnet50", "transformer", "cnn_transformer", num_layers=1, num_heads=8),
    )
}
