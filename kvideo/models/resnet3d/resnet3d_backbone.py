"""ResNet-3D backbone: one residual stack for R3D, MC3 and R(2+1)D."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import keras

from kvideo.models.resnet3d.blocks import (
    BN_EPSILON,
    CONV_BUILDERS,
    MIDPLANES_MODES,
    TEMPORAL_STRIDE,
    basic_block,
    stem_2plus1d,
    stem_3d,
)
from kvideo.models.resnet3d.nonlocal_block import (
    NONLOCAL_MODES,
    check_nonlocal_blocks,
    nonlocal_block,
)

STEM_TYPES = ("3d", "2plus1d")
CONV_TYPES = tuple(CONV_BUILDERS)


def _positive_int_tuple(value: Any, arg: str) -> tuple[int, ...]:
    """Validates a non-empty sequence of positive ints, echoing ``arg`` on error."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
        raise ValueError(
            f"`{arg}` must be a non-empty sequence of positive ints. Received: {arg}={value!r}"
        )
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(
                f"`{arg}` must be a non-empty sequence of positive ints. Received: {arg}={value!r}"
            )
    return tuple(int(v) for v in value)


def _positive_int(value: Any, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{arg}` must be a positive int. Received: {arg}={value!r}")
    return int(value)


@keras.saving.register_keras_serializable(package="kvideo")
class ResNet3DBackbone(keras.Model):
    """ResNet-3D feature extractor (functional model), as torchvision's video ResNets.

    A stem, then ``len(stage_depths)`` stages of basic residual blocks, with no pooling
    and no head. Stage 1 has stride 1; every later stage halves height and width in its
    first block, and halves the frames too unless the stage uses ``"2d"``
    (``1x3x3``) convolutions. There is no max-pool (it would not lower to builtin
    TFLite ops; torchvision's video ResNets have none either).

    Non-local blocks (Wang et al. 2018) can follow chosen residual blocks
    (`nonlocal_blocks`); each starts as the identity (see `nonlocal_block`).

    Shapes: input ``(B, T, H, W, C)`` channels-last; output feature map
    ``(B, T', H', W', stage_widths[-1])``. For the 4-stage models on a
    ``16x112x112`` clip: stem ``16x56x56``, stages ``16x56x56 -> 8x28x28 -> 4x14x14
    -> 2x7x7`` (MC3: the frames stay 16 after the stem).

    Args:
        stage_depths: blocks per stage, e.g. ``(2, 2, 2, 2)`` for depth 18 and
            ``(3, 4, 6, 3)`` for depth 34.
        stage_widths: output channels of each stage, ``(64, 128, 256, 512)``.
        stage_conv_types: convolution per stage: ``"3d"`` (``3x3x3``), ``"2d"``
            (``1x3x3``, no temporal stride) or ``"2plus1d"`` (``1x3x3`` + ``3x1x1``).
            R3D is ``("3d",) * 4``, MC3-18 ``("3d", "2d", "2d", "2d")``, R(2+1)D
            ``("2plus1d",) * 4``. A single string applies to every stage.
        stem_type: ``"3d"`` (``3x7x7`` conv) or ``"2plus1d"`` (``1x7x7`` then ``3x1x1``).
        stem_width: stem output channels (64).
        stem_mid_width: width between the two ``"2plus1d"`` stem convs; ``None`` means
            ``max(1, round(45 * stem_width / 64))`` (45 at width 64, as torchvision).
            Ignored for a ``"3d"`` stem.
        midplanes: ``"per_conv"`` (paper: each (2+1)D conv sizes its own ``M`` from its
            own in/out channels) or ``"shared"`` (torchvision: both convs of a block use
            ``M`` from the block's in/out channels; needed to load torchvision weights).
        bn_epsilon: epsilon of every batch norm: ``1e-5`` (PyTorch, torchvision's
            weights) or ``1e-3`` (Caffe2, the VMZ/IG65M weights).
        nonlocal_blocks: per stage, the 1-based numbers of the residual blocks followed
            by a non-local block, e.g. ``((), (1,), (1,), ())``; ``None``: none.
        nonlocal_mode: ``"embedded_gaussian"`` or ``"dot_product"``.
        nonlocal_sub_sample: max-pool keys and values by ``(1, 2, 2)`` in non-local blocks.
        input_shape: ``(T, H, W, C)``; ``None`` entries leave a dimension dynamic.
        dtype: dtype policy of every layer (``None``: the global policy).
        **kwargs: ``name``/``trainable`` for ``keras.Model``.
    """

    def __init__(
        self,
        stage_depths: Sequence[int] = (2, 2, 2, 2),
        stage_widths: Sequence[int] = (64, 128, 256, 512),
        stage_conv_types: Sequence[str] | str = "3d",
        stem_type: str = "3d",
        stem_width: int = 64,
        stem_mid_width: int | None = None,
        midplanes: str = "per_conv",
        bn_epsilon: float = BN_EPSILON,
        nonlocal_blocks: Sequence[Sequence[int]] | None = None,
        nonlocal_mode: str = "embedded_gaussian",
        nonlocal_sub_sample: bool = True,
        input_shape: Sequence[int | None] = (None, None, None, 3),
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        stage_depths = _positive_int_tuple(stage_depths, "stage_depths")
        stage_widths = _positive_int_tuple(stage_widths, "stage_widths")
        if len(stage_widths) != len(stage_depths):
            raise ValueError(
                "`stage_widths` and `stage_depths` must have the same length. "
                f"Received: stage_widths={stage_widths}, stage_depths={stage_depths}"
            )
        conv_types_arg = stage_conv_types
        if isinstance(stage_conv_types, str):
            stage_conv_types = (stage_conv_types,) * len(stage_depths)
        stage_conv_types = tuple(stage_conv_types)
        if len(stage_conv_types) != len(stage_depths) or any(
            c not in CONV_TYPES for c in stage_conv_types
        ):
            raise ValueError(
                f"`stage_conv_types` must be one of {CONV_TYPES} or a sequence of them, one "
                f"per stage ({len(stage_depths)}). Received: stage_conv_types={conv_types_arg!r}"
            )
        if stem_type not in STEM_TYPES:
            raise ValueError(f"`stem_type` must be one of {STEM_TYPES}. Received: {stem_type=}")
        stem_width = _positive_int(stem_width, "stem_width")
        if stem_mid_width is not None:
            stem_mid_width = _positive_int(stem_mid_width, "stem_mid_width")
        if midplanes not in MIDPLANES_MODES:
            raise ValueError(
                f"`midplanes` must be one of {MIDPLANES_MODES}. Received: {midplanes=}"
            )
        if (
            isinstance(bn_epsilon, bool)
            or not isinstance(bn_epsilon, (int, float))
            or not (bn_epsilon > 0)
        ):
            raise ValueError(f"`bn_epsilon` must be a positive number. Received: {bn_epsilon=}")
        bn_epsilon = float(bn_epsilon)
        nonlocal_blocks = check_nonlocal_blocks(nonlocal_blocks, stage_depths)
        if nonlocal_mode not in NONLOCAL_MODES:
            raise ValueError(
                f"`nonlocal_mode` must be one of {NONLOCAL_MODES}. Received: {nonlocal_mode=}"
            )
        nonlocal_sub_sample = bool(nonlocal_sub_sample)
        input_shape = tuple(input_shape)
        if (
            len(input_shape) != 4
            or any(
                d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1)
                for d in input_shape
            )
            or input_shape[-1] is None
        ):
            raise ValueError(
                "`input_shape` must be (frames, height, width, channels) with positive ints "
                f"or None, and a known channel count. Received: input_shape={input_shape}"
            )

        # === Functional model ===
        inputs = keras.Input(shape=input_shape, name="video")
        if stem_type == "3d":
            x = stem_3d(inputs, stem_width, name="stem", dtype=dtype, bn_epsilon=bn_epsilon)
        else:
            mid = stem_mid_width or max(1, round(45 * stem_width / 64))
            x = stem_2plus1d(
                inputs, stem_width, mid, name="stem", dtype=dtype, bn_epsilon=bn_epsilon
            )

        for i, (depth, width, conv_type, nonlocal_after) in enumerate(
            zip(stage_depths, stage_widths, stage_conv_types, nonlocal_blocks, strict=True)
        ):
            block = partial(
                basic_block,
                filters=width,
                conv_builder=CONV_BUILDERS[conv_type],
                midplanes=midplanes,
                dtype=dtype,
                bn_epsilon=bn_epsilon,
            )
            s = 1 if i == 0 else 2
            first_strides = (s if TEMPORAL_STRIDE[conv_type] else 1, s, s)
            for j in range(depth):
                name = f"stage{i + 1}_block{j + 1}"
                x = block(x, strides=first_strides if j == 0 else (1, 1, 1), name=name)
                if j + 1 in nonlocal_after:
                    x = nonlocal_block(
                        x,
                        mode=nonlocal_mode,
                        sub_sample=nonlocal_sub_sample,
                        name=f"{name}_nonlocal",
                        dtype=dtype,
                        bn_epsilon=bn_epsilon,
                    )
        super().__init__(inputs=inputs, outputs=x, **kwargs)

        # === Config ===
        self.stage_depths = stage_depths
        self.stage_widths = stage_widths
        self.stage_conv_types = stage_conv_types
        self.stem_type = stem_type
        self.stem_width = stem_width
        self.stem_mid_width = stem_mid_width
        self.midplanes = midplanes
        self.bn_epsilon = bn_epsilon
        self.nonlocal_blocks = nonlocal_blocks
        self.nonlocal_mode = nonlocal_mode
        self.nonlocal_sub_sample = nonlocal_sub_sample
        self.clip_shape = input_shape  # `input_shape` is a read-only Model property.
        # A functional model does not keep a `dtype` passed to its constructor, so the
        # policy its layers were built with is recorded here for `get_config()`.
        self._layers_dtype = None if dtype is None else keras.dtype_policies.get(dtype)

    @property
    def num_features(self) -> int:
        """Channels of the output feature map (``stage_widths[-1]``)."""
        return self.stage_widths[-1]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self._layers_dtype is not None:
            config["dtype"] = keras.dtype_policies.serialize(self._layers_dtype)
        config.update(
            {
                "stage_depths": list(self.stage_depths),
                "stage_widths": list(self.stage_widths),
                "stage_conv_types": list(self.stage_conv_types),
                "stem_type": self.stem_type,
                "stem_width": self.stem_width,
                "stem_mid_width": self.stem_mid_width,
                "midplanes": self.midplanes,
                "bn_epsilon": self.bn_epsilon,
                "nonlocal_blocks": [list(b) for b in self.nonlocal_blocks],
                "nonlocal_mode": self.nonlocal_mode,
                "nonlocal_sub_sample": self.nonlocal_sub_sample,
                "input_shape": list(self.clip_shape),
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ResNet3DBackbone:
        return cls(**config)


def resnet3d_backbone(
    preset: str | dict[str, Any] | None = None,
    *,
    depth: int | None = None,
    **kwargs: Any,
) -> ResNet3DBackbone:
    """Builds a :class:`ResNet3DBackbone` from a preset name or dict, plus overrides.

    Args:
        preset: a name from :func:`~kvideo.models.resnet3d.presets.list_presets`
            (``"r2plus1d_18"``, ``"r3d_tiny"``, ...), a dict of constructor kwargs, or
            ``None`` (constructor defaults: R3D-18).
        depth: shorthand for ``stage_depths`` (10, 18 or 34).
        **kwargs: constructor arguments overriding the preset, e.g.
            ``input_shape=(16, 112, 112, 3)``.

    Returns:
        The backbone; output ``(B, T', H', W', stage_widths[-1])``.
    """
    # Imported here so presets.py stays a leaf module of plain dicts.
    from kvideo.models.resnet3d.presets import STAGE_DEPTHS, get_preset

    if preset is None:
        config: dict[str, Any] = {}
    elif isinstance(preset, str):
        config = get_preset(preset)
    elif isinstance(preset, dict):
        config = dict(preset)
    else:
        raise ValueError(f"`preset` must be a preset name, a dict or None. Received: {preset=}")
    if depth is not None:
        if depth not in STAGE_DEPTHS:
            raise ValueError(
                f"`depth` must be one of {sorted(STAGE_DEPTHS)}. Received: depth={depth!r}"
            )
        config["stage_depths"] = STAGE_DEPTHS[depth]
    config.update(kwargs)
    return ResNet3DBackbone(**config)
