"""A small 2D ResNet to run on every frame: the per-frame family's CPU-sized backbone.

Built like `kvideo.models.resnet3d` (basic blocks, BatchNorm with PyTorch's momentum and
epsilon, no max-pool), in 2D: ``(B, H, W, C) -> (B, H', W', stage_widths[-1])``. The
classifier folds a clip's frames into the batch and runs it once on all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from kvideo.models.resnet3d.blocks import BN_EPSILON, BN_MOMENTUM, conv_kernel_initializer


def conv_bn_relu(
    x: Any, filters: int, kernel: int, strides: int = 1, *, name: str, relu: bool = True
) -> Any:
    """``kernel x kernel`` Conv2D (PyTorch-style symmetric padding) -> BN -> optional ReLU."""
    if strides > 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    x = layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="valid" if strides > 1 else "same",
        use_bias=False,
        kernel_initializer=conv_kernel_initializer(),
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def basic_block_2d(x: Any, filters: int, strides: int = 1, *, name: str) -> Any:
    """ResNet basic block in 2D: ``(B, H, W, C) -> (B, H / s, W / s, filters)``."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn_relu(x, filters, 1, strides, name=f"{name}_shortcut", relu=False)
    y = conv_bn_relu(x, filters, 3, strides, name=f"{name}_1")
    y = conv_bn_relu(y, filters, 3, 1, name=f"{name}_2", relu=False)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


@keras.saving.register_keras_serializable(package="kvideo")
class ResNet2DBackbone(keras.Model):
    """A 2D ResNet of basic blocks without a head (functional model).

    A ``3x3`` stride-2 stem, then stages of basic blocks; every stage after the first
    halves height and width. Output: the feature map ``(B, H / 2^n, W / 2^n, F)``, or
    with `fc_units` a vector ``(B, fc_units)``: the flattened map through a Dense layer
    and ReLU, as CaffeNet's fc6 that LRCN reads (it keeps where things are in the frame,
    which averaging the map over space would lose; needs a fixed input size).

    Args:
        stage_depths: blocks per stage.
        stage_widths: output channels per stage.
        stem_width: stem output channels.
        fc_units: width of the fully connected layer on the flattened map (None: none).
        input_shape: ``(height, width, channels)``; ``None`` height/width stay dynamic.
        **kwargs: ``name``/``trainable`` for ``keras.Model``.
    """

    def __init__(
        self,
        stage_depths: Sequence[int] = (1, 1, 1),
        stage_widths: Sequence[int] = (16, 32, 64),
        stem_width: int = 16,
        fc_units: int | None = None,
        input_shape: Sequence[int | None] = (None, None, 3),
        **kwargs: Any,
    ) -> None:
        stage_depths, stage_widths = tuple(stage_depths), tuple(stage_widths)
        if (
            not stage_depths
            or len(stage_depths) != len(stage_widths)
            or any(
                isinstance(v, bool) or not isinstance(v, int) or v < 1
                for v in stage_depths + stage_widths
            )
        ):
            raise ValueError(
                "`stage_depths` and `stage_widths` must be equally long sequences of positive "
                f"ints. Received: stage_depths={stage_depths}, stage_widths={stage_widths}"
            )
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "`input_shape` must be (height, width, channels) with a known channel count. "
                f"Received: input_shape={input_shape}"
            )
        if fc_units is not None and (
            isinstance(fc_units, bool) or not isinstance(fc_units, int) or fc_units < 1
        ):
            raise ValueError(f"`fc_units` must be None or a positive int. Received: {fc_units=}")
        if fc_units is not None and None in input_shape[:2]:
            raise ValueError(
                "`fc_units` flattens the feature map, so the input needs a fixed height and "
                f"width. Received: input_shape={input_shape}"
            )
        inputs = keras.Input(shape=input_shape, name="frames")
        x = conv_bn_relu(inputs, stem_width, 3, 2, name="stem")
        for i, (depth, width) in enumerate(zip(stage_depths, stage_widths, strict=True)):
            for j in range(depth):
                strides = 2 if i > 0 and j == 0 else 1
                x = basic_block_2d(x, width, strides, name=f"stage{i + 1}_block{j + 1}")
        if fc_units is not None:
            x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(fc_units, activation="relu", name="fc")(x)
        super().__init__(inputs=inputs, outputs=x, **kwargs)
        self.stage_depths = stage_depths
        self.stage_widths = stage_widths
        self.stem_width = stem_width
        self.fc_units = fc_units
        self.frame_shape = input_shape  # `input_shape` is a read-only Model property.

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "stage_depths": list(self.stage_depths),
                "stage_widths": list(self.stage_widths),
                "stem_width": self.stem_width,
                "fc_units": self.fc_units,
                "input_shape": list(self.frame_shape),
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ResNet2DBackbone:
        return cls(**config)
