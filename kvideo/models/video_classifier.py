"""Video classifier: preprocessing + a backbone feature map + average pooling + Dense head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from kvideo.layers.clip_preprocessing import KINETICS_MEAN, KINETICS_STD, ClipPreprocessing
from kvideo.models.resnet3d.resnet3d_backbone import resnet3d_backbone

# The input size the ResNet-3D family is trained and evaluated at.
DEFAULT_CROP_SIZE = 112


@keras.saving.register_keras_serializable(package="kvideo")
class VideoClassifier(keras.Model):
    """Classification head on a video backbone (functional model).

    ``[preprocessing ->] backbone -> GlobalAveragePooling3D -> Dropout -> Dense``.
    With a `preprocessing` layer (a :class:`ClipPreprocessing`, as `build_video_classifier`
    adds by default) the model takes uint8 RGB clips ``(B, T, H, W, 3)`` of any height
    and width, as `kvideo.data.make_clip_dataset` yields them and as a client sends
    them; without one it takes the backbone's input (preprocessed float clips).
    The head (pooling, dropout, dense) always runs in float32 (``dtype="float32"``), so
    the model can be trained under the ``"mixed_float16"`` / ``"mixed_bfloat16"``
    policies and still emit float32 scores.

    Output: by default (``activation=None``) **logits**, shape ``(B, num_classes)``,
    from a Dense layer named ``"logits"``; train with
    ``keras.losses.SparseCategoricalCrossentropy(from_logits=True)``. With an
    ``activation`` (e.g. ``"softmax"``) the Dense layer is named ``"predictions"``
    and the output is that activation of the logits.

    Args:
        backbone: a functional ``keras.Model`` mapping ``(B, T, H, W, C)`` to a feature
            map ``(B, T', H', W', F)``, e.g. a :class:`ResNet3DBackbone`.
        num_classes: number of classes (400 for Kinetics-400).
        dropout: dropout rate before the Dense layer, in ``[0, 1)``.
        activation: ``None`` (logits) or the name of a Keras activation.
        preprocessing: an optional first layer mapping uint8 clips to the backbone's input.
        **kwargs: ``name``/``trainable`` for ``keras.Model``.
    """

    def __init__(
        self,
        backbone: keras.Model,
        num_classes: int,
        dropout: float = 0.5,
        activation: str | None = None,
        preprocessing: keras.layers.Layer | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(backbone, keras.Model):
            raise ValueError(f"`backbone` must be a keras.Model. Received: {backbone=}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"`num_classes` must be a positive int. Received: {num_classes=}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not (0.0 <= dropout < 1.0)
        ):
            raise ValueError(f"`dropout` must be a float in [0, 1). Received: {dropout=}")
        if activation is not None:
            if not isinstance(activation, str):
                raise ValueError(
                    f"`activation` must be None or an activation name. Received: {activation=}"
                )
            try:
                keras.activations.get(activation)
            except ValueError as e:
                raise ValueError(
                    f"Unknown `activation`. Received: activation={activation!r}"
                ) from e

        if preprocessing is not None and not isinstance(preprocessing, keras.layers.Layer):
            raise ValueError(
                f"`preprocessing` must be None or a Keras layer. Received: {preprocessing=}"
            )

        # === Functional model ===
        if preprocessing is None:
            inputs = keras.Input(shape=backbone.input_shape[1:], name="video")
            x = inputs
        else:
            frames, channels = backbone.input_shape[1], backbone.input_shape[-1]
            inputs = keras.Input(shape=(frames, None, None, channels), dtype="uint8", name="video")
            x = preprocessing(inputs)
        x = backbone(x)
        x = layers.GlobalAveragePooling3D(name="avg_pool", dtype="float32")(x)
        x = layers.Dropout(dropout, name="dropout", dtype="float32")(x)
        outputs = layers.Dense(
            num_classes,
            activation=activation,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            name="logits" if activation is None else "predictions",
            dtype="float32",
        )(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.preprocessing = preprocessing
        self.num_classes = num_classes
        self.dropout = float(dropout)
        self.activation = activation

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "num_classes": self.num_classes,
                "dropout": self.dropout,
                "activation": self.activation,
                "preprocessing": (
                    None
                    if self.preprocessing is None
                    else keras.saving.serialize_keras_object(self.preprocessing)
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VideoClassifier:
        config = dict(config)
        for key in ("backbone", "preprocessing"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def build_video_classifier(
    backbone: str | dict[str, Any] | keras.Model,
    num_classes: int,
    *,
    dropout: float = 0.5,
    activation: str | None = None,
    input_shape: Sequence[int | None] | None = None,
    preprocessing: bool = True,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
    name: str | None = None,
    **backbone_kwargs: Any,
) -> VideoClassifier:
    """Builds a :class:`VideoClassifier` from a ResNet-3D preset (or a built backbone).

    By default the model starts with :class:`ClipPreprocessing`: it takes uint8 RGB clips
    of any height and width (what `kvideo.data.make_clip_dataset` yields), resizes them to
    the backbone's input size (112 unless `input_shape` says otherwise) and normalises
    them with `mean` and `std`.

    Args:
        backbone: a preset name (see ``list_presets()``), a dict of
            :class:`ResNet3DBackbone` kwargs, or an already built backbone model.
        num_classes: number of output classes.
        dropout: dropout rate before the Dense head.
        activation: ``None`` for logits (default) or e.g. ``"softmax"``.
        input_shape: ``(T, H, W, C)`` of the backbone's clips (``None`` dims stay
            dynamic, except height and width with `preprocessing`); only with a
            preset/dict.
        preprocessing: start with `ClipPreprocessing` (True), or take the backbone's
            preprocessed float clips directly (False).
        mean, std: the per-channel normalisation of [0, 1] RGB pixels `preprocessing`
            applies (the statistics the weights were trained with).
        name: model name (default: the preset name when one is given).
        **backbone_kwargs: overrides of the preset (``depth``, ``stage_widths``, ...).

    Returns:
        The classifier, mapping ``(B, T, H, W, C)`` to ``(B, num_classes)``.
    """
    if isinstance(backbone, keras.Model):
        if input_shape is not None or backbone_kwargs:
            raise ValueError(
                "`input_shape` and backbone kwargs only apply when `backbone` is a preset. "
                f"Received: input_shape={input_shape}, backbone_kwargs={backbone_kwargs}"
            )
        model_backbone = backbone
    else:
        if input_shape is None and preprocessing:
            input_shape = (None, DEFAULT_CROP_SIZE, DEFAULT_CROP_SIZE, 3)
        if input_shape is not None:
            backbone_kwargs["input_shape"] = input_shape
        model_backbone = resnet3d_backbone(backbone, **backbone_kwargs)
        if name is None and isinstance(backbone, str):
            name = backbone
    layer = None
    if preprocessing:
        height, width = model_backbone.input_shape[2:4]
        if height is None or height != width:
            raise ValueError(
                "With `preprocessing` the backbone needs a fixed square input size to resize "
                f"to. Received: backbone input shape {model_backbone.input_shape}"
            )
        layer = ClipPreprocessing(height, mean, std, name="preprocessing")
    kwargs = {} if name is None else {"name": name}
    return VideoClassifier(
        model_backbone,
        num_classes,
        dropout=dropout,
        activation=activation,
        preprocessing=layer,
        **kwargs,
    )
