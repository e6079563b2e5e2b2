"""Video classifier: a backbone feature map + global average pooling + Dense head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from kvideo.models.resnet3d.resnet3d_backbone import resnet3d_backbone


@keras.saving.register_keras_serializable(package="kvideo")
class VideoClassifier(keras.Model):
    """Classification head on a video backbone (functional model).

    ``backbone -> GlobalAveragePooling3D -> Dropout(dropout) -> Dense(num_classes)``.
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
        **kwargs: ``name``/``trainable`` for ``keras.Model``.
    """

    def __init__(
        self,
        backbone: keras.Model,
        num_classes: int,
        dropout: float = 0.5,
        activation: str | None = None,
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

        # === Functional model ===
        inputs = keras.Input(shape=backbone.input_shape[1:], name="video")
        x = backbone(inputs)
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
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VideoClassifier:
        config = dict(config)
        if isinstance(config.get("backbone"), dict):
            config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def build_video_classifier(
    backbone: str | dict[str, Any] | keras.Model,
    num_classes: int,
    *,
    dropout: float = 0.5,
    activation: str | None = None,
    input_shape: Sequence[int | None] | None = None,
    name: str | None = None,
    **backbone_kwargs: Any,
) -> VideoClassifier:
    """Builds a :class:`VideoClassifier` from a ResNet-3D preset (or a built backbone).

    Args:
        backbone: a preset name (see ``list_presets()``), a dict of
            :class:`ResNet3DBackbone` kwargs, or an already built backbone model.
        num_classes: number of output classes.
        dropout: dropout rate before the Dense head.
        activation: ``None`` for logits (default) or e.g. ``"softmax"``.
        input_shape: ``(T, H, W, C)`` of the clips (``None`` dims stay dynamic);
            only with a preset/dict.
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
        if input_shape is not None:
            backbone_kwargs["input_shape"] = input_shape
        model_backbone = resnet3d_backbone(backbone, **backbone_kwargs)
        if name is None and isinstance(backbone, str):
            name = backbone
    kwargs = {} if name is None else {"name": name}
    return VideoClassifier(
        model_backbone, num_classes, dropout=dropout, activation=activation, **kwargs
    )
