"""Video classifiers: preprocessing + any backbone + a chosen head, and their fusion.

`VideoClassifier` takes any backbone: a 3D network mapping clips ``(B, T, H, W, C)`` to a
feature map ``(B, T', H', W', F)`` or per-frame features ``(B, T, F)``, or a 2D network
mapping frames ``(B, H, W, C)`` to ``(B, H', W', F)`` or ``(B, F)``, which it runs on
every frame of the clip (the frames are folded into the batch, one pass). A head from
`kvideo.models.heads` turns the features into class scores. `FusionClassifier` averages
the scores of several single-input classifiers with weights (two-stream networks).

Every classifier takes a dict of named inputs (`kvideo.inputs`: ``{"video": clips}``),
and a single-input classifier also takes the bare tensor.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import keras

from kvideo import inputs as named_inputs
from kvideo.layers.clip_preprocessing import ClipPreprocessing
from kvideo.layers.rgb_difference import RGBDifference
from kvideo.layers.sequence import BatchToFrames, FramesToBatch, WeightedAverage
from kvideo.models import heads, outputs, registry, spec
from kvideo.models import weights as weights_table

FUSE_MODES = ("logits", "probabilities")


def backbone_input_kind(backbone: keras.Model) -> str:
    """``"clip"`` for a backbone on clips, ``"frame"`` for a 2D network on single frames.

    Raises:
        ValueError: with the backbone's shapes, for anything else.
    """
    if not isinstance(backbone, keras.Model):
        raise ValueError(f"`backbone` must be a keras.Model. Received: backbone={backbone!r}")
    if len(backbone.inputs) != 1 or len(backbone.outputs) != 1:
        raise ValueError(
            "`backbone` must have one input and one output. Received: a model with "
            f"{len(backbone.inputs)} inputs and {len(backbone.outputs)} outputs"
        )
    in_rank = len(backbone.inputs[0].shape)
    out_rank = len(backbone.outputs[0].shape)
    if in_rank == 5 and out_rank in (2, 3, 5):
        return spec.CLIP
    if in_rank == 4 and out_rank in (2, 4):
        return spec.FRAME
    raise ValueError(
        "`backbone` must map clips (batch, frames, height, width, channels) to a feature "
        "map (batch, frames', height', width', features) or to (batch, frames, features), "
        "or be a 2D network mapping frames (batch, height, width, channels) to "
        "(batch, height', width', features) or (batch, features), which is then run on "
        f"every frame. Received: input shape {tuple(backbone.inputs[0].shape)}, output "
        f"shape {tuple(backbone.outputs[0].shape)}"
    )


def classifier_trunk(
    backbone: keras.Model,
    preprocessing: keras.layers.Layer | None,
    input_name: str,
    num_frames: int | None,
) -> tuple[Any, Any]:
    """A classifier's input and its backbone's features, ``(clips, features)``: the named
    input (uint8 clips of any size when `preprocessing` is given), then `preprocessing`,
    then the backbone, on every frame for a 2D one (`VideoClassifier`, and
    `MultiHeadClassifier` before its heads)."""
    kind = backbone_input_kind(backbone)
    backbone_shape = tuple(backbone.inputs[0].shape[1:])
    if kind == spec.CLIP:
        frames = backbone_shape[0]
        if num_frames is not None and frames is not None and frames != num_frames:
            raise ValueError(
                f"The backbone takes clips of {frames} frames. Received: {num_frames=}"
            )
        frames = frames if frames is not None else num_frames
        frame_shape = backbone_shape[1:]
    else:
        frames, frame_shape = num_frames, backbone_shape
    if preprocessing is None:
        clips = keras.Input((frames, *frame_shape), name=input_name)
        x = clips
    else:
        # The preprocessing may take more channels than it hands on (RGBDifference).
        channels = frame_shape[-1]
        if isinstance(preprocessing, ClipPreprocessing):
            channels = preprocessing.input_channels(channels)
        clips = keras.Input((frames, None, None, channels), dtype="uint8", name=input_name)
        x = preprocessing(clips)
    if kind == spec.CLIP:
        features = backbone(x)
    else:
        frame_features = backbone(FramesToBatch(name="frames_to_batch")(x))
        features = BatchToFrames(name="batch_to_frames")([frame_features, x])
    return clips, features


@keras.saving.register_keras_serializable(package="kvideo")
class VideoClassifier(keras.Model):
    """A classifier on one named input: ``[preprocessing ->] backbone -> head``.

    With a `preprocessing` layer (a :class:`ClipPreprocessing`, as `build_video_classifier`
    adds by default) the model takes uint8 clips ``(B, T, H, W, C)`` of any height and
    width, as `kvideo.data.make_clip_dataset` yields them and as a client sends them;
    without one it takes the backbone's input (preprocessed float clips). The head runs in
    float32, so the model can be trained under the ``"mixed_float16"`` /
    ``"mixed_bfloat16"`` policies and still emit float32 scores.

    Output: by default (``activation=None``) **logits** ``(B, num_classes)`` from a Dense
    layer named ``"logits"``; train with
    ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``. With
    ``activation="softmax"`` an Activation layer named ``"predictions"`` follows and the
    output is probabilities (``output_kind`` says which).

    Args:
        backbone: a ``keras.Model`` on clips or on frames (see `backbone_input_kind`).
        num_classes: number of classes.
        head: a head name from `kvideo.models.heads.HEADS`.
        head_args: the head's keyword arguments.
        dropout: dropout rate before the classifier, in ``[0, 1)``.
        activation: ``None`` (logits) or ``"softmax"``.
        preprocessing: an optional first layer mapping uint8 clips to the backbone's input.
        input_name: the model's named input (``"video"``, ``"flow"``, ...).
        num_frames: frames per clip; needed for a 2D backbone (a 3D backbone's input says
            it, and may leave it ``None``: any length).
        **kwargs: ``name``/``trainable`` for ``keras.Model``.
    """

    def __init__(
        self,
        backbone: keras.Model,
        num_classes: int,
        head: str = "pool",
        head_args: Mapping[str, Any] | None = None,
        dropout: float = 0.5,
        activation: str | None = None,
        preprocessing: keras.layers.Layer | None = None,
        input_name: str = named_inputs.VIDEO,
        num_frames: int | None = None,
        **kwargs: Any,
    ) -> None:
        backbone_input_kind(backbone)  # a wrong backbone fails before anything else
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"`num_classes` must be a positive int. Received: {num_classes=}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not (0.0 <= dropout < 1.0)
        ):
            raise ValueError(f"`dropout` must be a float in [0, 1). Received: {dropout=}")
        output_kind = outputs.activation_output_kind(activation)
        if preprocessing is not None and not isinstance(preprocessing, keras.layers.Layer):
            raise ValueError(
                f"`preprocessing` must be None or a Keras layer. Received: {preprocessing=}"
            )
        if not isinstance(input_name, str) or not input_name.isidentifier():
            raise ValueError(f"`input_name` must be an identifier. Received: {input_name=}")
        head_args = dict(head_args or {})

        # === Functional model ===
        clips, features = classifier_trunk(backbone, preprocessing, input_name, num_frames)
        scores = heads.apply_head(
            head,
            features,
            num_classes,
            dropout=dropout,
            activation=activation,
            head_args=head_args,
        )
        super().__init__(inputs={input_name: clips}, outputs=scores, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.num_classes = num_classes
        self.head = head
        self.head_args = head_args
        self.dropout = float(dropout)
        self.activation = activation
        self.preprocessing = preprocessing
        self.input_name = input_name
        self.num_frames = num_frames
        self.output_kind = output_kind

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        # A bare clip tensor is the one named input; from a dict of several (a two-stream
        # dataset's features) the model takes its own.
        if not isinstance(inputs, Mapping):
            inputs = {self.input_name: inputs}
        elif self.input_name in inputs and len(inputs) > 1:
            inputs = {self.input_name: inputs[self.input_name]}
        return super().__call__(inputs, *args, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({**classifier_config(self), "num_classes": self.num_classes})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VideoClassifier:
        return cls(**deserialize_classifier_parts(config))


def classifier_config(model: keras.Model) -> dict[str, Any]:
    """What a classifier over ``model.backbone`` is rebuilt from, but its classes: the
    shared part of `VideoClassifier`'s and `MultiHeadClassifier`'s `get_config`."""
    preprocessing = model.preprocessing
    return {
        "backbone": keras.saving.serialize_keras_object(model.backbone),
        "head": model.head,
        "head_args": dict(model.head_args),
        "dropout": model.dropout,
        "activation": model.activation,
        "preprocessing": (
            None if preprocessing is None else keras.saving.serialize_keras_object(preprocessing)
        ),
        "input_name": model.input_name,
        "num_frames": model.num_frames,
    }


def deserialize_classifier_parts(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with its backbone and preprocessing layers deserialised."""
    config = dict(config)
    for key in ("backbone", "preprocessing"):
        if isinstance(config.get(key), dict):
            config[key] = keras.saving.deserialize_keras_object(config[key])
    return config


@keras.saving.register_keras_serializable(package="kvideo")
class FusionClassifier(keras.Model):
    """Weighted score fusion of single-input classifiers, one per named input.

    ``{"video": rgb_clips, "flow": flow_clips} -> sum_i w_i * scores_i / sum_i w_i``, as
    two-stream networks combine an RGB and an optical-flow stream (TSN weighs flow 1.5).

    Args:
        streams: classifiers with one named input each, distinct input names and layer
            names, and the same number of classes (e.g. `VideoClassifier`s).
        fusion_weights: one non-negative weight per stream (default: equal).
        fuse: ``"logits"`` averages the streams' logits (the model emits logits and trains
            end to end with ``from_logits=True``; every stream must emit logits) or
            ``"probabilities"`` averages their softmax probabilities (the model emits
            probabilities).
        **kwargs: ``name``/``trainable`` for ``keras.Model``.
    """

    def __init__(
        self,
        streams: Sequence[keras.Model],
        fusion_weights: Sequence[float] | None = None,
        fuse: str = "logits",
        **kwargs: Any,
    ) -> None:
        streams = list(streams)
        if not streams or not all(isinstance(s, keras.Model) for s in streams):
            raise ValueError(f"`streams` must be a non-empty list of models. Received: {streams}")
        if fuse not in FUSE_MODES:
            raise ValueError(f"`fuse` must be one of {FUSE_MODES}. Received: fuse={fuse!r}")
        fusion_weights = list(fusion_weights or [1.0] * len(streams))
        if len(fusion_weights) != len(streams):
            raise ValueError(
                f"One fusion weight per stream: {len(streams)} streams. "
                f"Received: fusion_weights={fusion_weights}"
            )
        names = [s.name for s in streams]
        if len(set(names)) != len(names):
            raise ValueError(f"Every stream needs its own name. Received: stream names {names}")
        classes = {s.outputs[0].shape[-1] for s in streams}
        if len(classes) != 1:
            raise ValueError(
                f"Every stream must have the same number of classes. Received: {sorted(classes)}"
            )

        # === Functional model ===
        model_inputs, scores = {}, []
        for stream in streams:
            if len(stream.inputs) != 1:
                raise ValueError(
                    f"Stream {stream.name!r} must take one named input. Received: "
                    f"{len(stream.inputs)} inputs"
                )
            stream_input = stream.inputs[0]
            name = getattr(stream, "input_name", None) or stream_input.name
            if name in model_inputs:
                raise ValueError(f"Two streams take the input {name!r}; each needs its own.")
            x = keras.Input(stream_input.shape[1:], dtype=stream_input.dtype, name=name)
            model_inputs[name] = x
            y = stream({name: x})
            logits = outputs.outputs_logits(stream)
            if fuse == "logits" and not logits:
                raise ValueError(
                    f"fuse='logits' needs streams that emit logits; {stream.name!r} emits "
                    "probabilities. Use fuse='probabilities'."
                )
            if fuse == "probabilities" and logits:
                y = keras.layers.Softmax(name=f"{stream.name}_softmax", dtype="float32")(y)
            scores.append(y)
        fused = WeightedAverage(fusion_weights, name="fusion", dtype="float32")(scores)
        super().__init__(inputs=model_inputs, outputs=fused, **kwargs)

        # === Config ===
        self.streams = streams
        self.fusion_weights = [float(w) for w in fusion_weights]
        self.fuse = fuse
        self.output_kind = outputs.LOGITS if fuse == "logits" else outputs.PROBABILITIES

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "streams": [keras.saving.serialize_keras_object(s) for s in self.streams],
                "fusion_weights": self.fusion_weights,
                "fuse": self.fuse,
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FusionClassifier:
        config = dict(config)
        config["streams"] = [
            keras.saving.deserialize_keras_object(s) if isinstance(s, dict) else s
            for s in config["streams"]
        ]
        return cls(**config)


def build_video_classifier(
    backbone: str | dict[str, Any] | keras.Model,
    num_classes: int,
    *,
    head: str | None = None,
    head_args: Mapping[str, Any] | None = None,
    dropout: float | None = None,
    activation: str | None = None,
    input_shape: Sequence[int | None] | None = None,
    preprocessing: bool = True,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    weights: str | os.PathLike | None = None,
    input_name: str | None = None,
    name: str | None = None,
    **backbone_kwargs: Any,
) -> VideoClassifier:
    """Builds a :class:`VideoClassifier` from a registered model name or a built backbone.

    By default the model starts with :class:`ClipPreprocessing`: it takes uint8 clips of
    any height and width (what `kvideo.data.make_clip_dataset` yields), resizes them to
    the model's crop size and normalises them with `mean` and `std`.

    Args:
        backbone: a registered name (see ``kvideo.models.list_presets()``), a dict of
            ResNet-3D backbone kwargs (kept for compatibility), or a built backbone:
            a 3D network on clips, or a 2D network on frames (e.g. from
            ``keras.applications`` with ``include_top=False``) that is run on every frame.
        num_classes: number of output classes.
        head, head_args: the head (default: the registered model's, else ``"pool"``) and
            its arguments (on top of the registered ones when the head is the model's).
        dropout: dropout rate before the classifier (default: the model's, else 0.5).
        activation: ``None`` for logits (default) or ``"softmax"``.
        input_shape: ``(T, H, W, C)`` clips for the backbone (``T`` may be ``None`` for
            heads that do not need a fixed length); default: the registered model's clip
            length and crop size. With a built backbone only ``T`` is used (a 2D backbone
            needs it for the heads that look at time).
        preprocessing: start with `ClipPreprocessing` (True), or take the backbone's
            preprocessed float clips directly (False).
        mean, std: the per-channel normalisation of [0, 1] pixels `preprocessing` applies
            (default: the registered model's; Kinetics statistics for a built backbone).
            On the ``rgb_diff`` input the preprocessing is `RGBDifference`: the model takes
            ``3 (L + 1)`` channels (RGB frame stacks) for a backbone of ``3L``.
        weights: registered pretrained weights of the backbone (see
            `kvideo.models.weights`), or the path of a ``.weights.h5`` file of the backbone.
        input_name: the named input (default: the registered model's, ``"video"``).
        name: model name (default: the registered name when one is given).
        **backbone_kwargs: overrides of the registered backbone's arguments
            (``depth``, ``stage_widths``, ...).

    Returns:
        The classifier, mapping ``{input_name: (B, T, H, W, C)}`` to ``(B, num_classes)``.
    """
    if isinstance(backbone, keras.Model):
        if backbone_kwargs or weights is not None:
            raise ValueError(
                "Backbone kwargs and `weights` only apply to a registered model name; load "
                "weights into a built backbone yourself. Received: "
                f"backbone_kwargs={backbone_kwargs}, weights={weights!r}"
            )
        model_spec, model_backbone, crop_size = None, backbone, None
    else:
        model_spec, model_backbone, crop_size = _registered_backbone(
            backbone, input_shape, preprocessing, weights, backbone_kwargs, head
        )
        if name is None and isinstance(backbone, str):
            name = backbone

    def default(value: Any, field: str, fallback: Any) -> Any:
        if value is not None:
            return value
        return fallback if model_spec is None else getattr(model_spec, field)

    # A 3D backbone's input fixes the clip length (or leaves it free); a 2D one needs it.
    frames = None
    if backbone_input_kind(model_backbone) == spec.FRAME:
        frames = input_shape[0] if input_shape is not None else default(None, "num_frames", None)
    layer = None
    if preprocessing:
        if crop_size is None:
            height, width = model_backbone.inputs[0].shape[-3:-1]
            if height is None or height != width:
                raise ValueError(
                    "With `preprocessing` the backbone needs a fixed square input size to "
                    f"resize to. Received: backbone input shape {model_backbone.inputs[0].shape}"
                )
            crop_size = height
        # A model on RGB difference takes RGB frame stacks and differences them itself.
        input_name = default(input_name, "input_name", named_inputs.VIDEO)
        layer_class = RGBDifference if input_name == named_inputs.RGB_DIFF else ClipPreprocessing
        layer = layer_class(
            crop_size,
            default(mean, "mean", named_inputs.KINETICS_MEAN),
            default(std, "std", named_inputs.KINETICS_STD),
            name="preprocessing",
        )
    if model_spec is not None and head in (None, model_spec.head):
        # The registered head's arguments, with the given ones on top.
        head_args = {**model_spec.head_args, **(head_args or {})}
    kwargs = {} if name is None else {"name": name}
    return VideoClassifier(
        model_backbone,
        num_classes,
        head=default(head, "head", "pool"),
        head_args=head_args,
        dropout=default(dropout, "dropout", 0.5),
        activation=activation,
        preprocessing=layer,
        input_name=default(input_name, "input_name", named_inputs.VIDEO),
        num_frames=frames,
        **kwargs,
    )


def _registered_backbone(
    backbone: str | dict[str, Any],
    input_shape: Sequence[int | None] | None,
    preprocessing: bool,
    weights: str | os.PathLike | None,
    overrides: dict[str, Any],
    head: str | None,
) -> tuple[spec.ModelSpec, keras.Model, int]:
    """The registered model's spec, its built backbone (weights loaded) and crop size.

    Without `input_shape`, a 3D backbone takes clips of any length when the head pools
    them, and the registered clip length when the head looks at time.
    """
    if isinstance(backbone, dict):  # ResNet-3D kwargs, as before the registry
        model_spec = spec.ModelSpec(
            name="custom",
            family="resnet3d",
            description="ResNet-3D from keyword arguments",
            build_backbone=registry.get_model_spec("r3d_18").build_backbone,
            config=backbone,
        )
    elif isinstance(backbone, str):
        model_spec = registry.get_model_spec(backbone)
    else:
        raise ValueError(
            "`backbone` must be a registered model name, a dict of ResNet-3D kwargs, or a "
            f"keras.Model. Received: backbone={backbone!r}"
        )
    config = dict(model_spec.config)
    if "depth" in overrides:  # ResNet-3D shorthand
        from kvideo.models.resnet3d.presets import STAGE_DEPTHS

        depth = overrides.pop("depth")
        if depth not in STAGE_DEPTHS:
            raise ValueError(
                f"`depth` must be one of {sorted(STAGE_DEPTHS)}. Received: depth={depth!r}"
            )
        config["stage_depths"] = STAGE_DEPTHS[depth]
    config.update(overrides)
    if input_shape is None:
        crop = model_spec.crop_size if preprocessing else None
        fixed = model_spec.backbone_input == spec.FRAME or (head or model_spec.head) != "pool"
        frames = model_spec.num_frames if fixed else None
        input_shape = (frames, crop, crop, model_spec.channels)
    input_shape = tuple(input_shape)
    if len(input_shape) != 4:
        raise ValueError(
            f"`input_shape` must be (frames, height, width, channels). Received: {input_shape=}"
        )
    config["input_shape"] = (
        input_shape if model_spec.backbone_input == spec.CLIP else input_shape[1:]
    )

    weights_file = None
    if weights is not None:
        if weights_table.is_weights_file(weights):
            weights_file = weights
        else:
            entry = weights_table.get_weights(model_spec.name, os.fspath(weights))
            if entry.backbone_arg is not None:
                config[entry.backbone_arg] = entry.name
            else:
                weights_file = weights_table.fetch(entry, model_spec.name)
    model_backbone = model_spec.build_backbone(**config)
    if weights_file is not None:
        weights_table.load_backbone_weights(model_backbone, weights_file, model_spec.name)
    return model_spec, model_backbone, input_shape[1]


def preprocessing_layers(model: keras.Model) -> dict[str, ClipPreprocessing]:
    """The `ClipPreprocessing` of each named input of `model`, ``{input name: layer}``.

    kvideo's classifiers know theirs; for any other model with one input, the one
    `ClipPreprocessing` among its layers (scanning nested models) is taken.

    Raises:
        ValueError: when an input has none (exports and detection feed uint8 clips that
            the model itself must resize and normalise).
    """
    if isinstance(model, FusionClassifier):
        found: dict[str, ClipPreprocessing] = {}
        for stream in model.streams:
            found.update(preprocessing_layers(stream))
        return found
    if isinstance(model, VideoClassifier) and model.preprocessing is not None:
        return {model.input_name: model.preprocessing}
    layers_found = [layer for layer in _all_layers(model) if isinstance(layer, ClipPreprocessing)]
    if len(model.inputs) == 1 and len(layers_found) == 1:
        name = getattr(model, "input_name", None) or model.inputs[0].name
        return {name: layers_found[0]}
    raise ValueError(
        "The model must take uint8 clips and start each input with ClipPreprocessing "
        "(build_video_classifier(..., preprocessing=True), the default). Received: a model "
        f"with inputs {[x.name for x in model.inputs]} and {len(layers_found)} "
        "ClipPreprocessing layers"
    )


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found += _all_layers(layer)
    return found
