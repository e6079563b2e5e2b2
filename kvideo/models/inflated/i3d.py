"""I3D (Carreira and Zisserman 2017) and the inflated ResNet-50 I3D of comparison studies.

Both are 2D networks inflated by `kvideo.models.inflated.inflate`:

* `i3d_backbone`: Inception-v1 with BN (`inception_v1_bn`) inflated as in the paper:
  every ``N x N`` kernel becomes ``N x N x N`` except the first two max-poolings
  (``1 x 3 x 3``, no temporal pooling early); the stem convolution ``7 x 7 x 7`` strides 2
  in time, ``MaxPool_4a`` ``3 x 3 x 3`` and ``MaxPool_5a`` ``2 x 2 x 2`` stride 2.
  16x224x224 clips -> an ``(2, 7, 7, 1024)`` map. With a 400-class classifier it has
  the 12,697,264 parameters of the widely used PyTorch port (pytorch-i3d's
  ``InceptionI3d``: convolution kernels + BN scale and offset + the classifier's kernel
  and bias; BN moving statistics are not parameters there). The flow network takes 2
  channels (12,675,312).
* `i3d_resnet50_backbone`: ``keras.applications.ResNet50`` inflated in mmaction2's I3D
  layout (as in Wang et al. 2018's I3D baseline): ``5 x 7 x 7`` stem with temporal stride
  2, ``1 x 3 x 3`` max-pool with temporal stride 2, a ``2 x 1 x 1`` max-pool after res2,
  and the first ``1 x 1`` convolution of every other residual block inflated to
  ``3 x 1 x 1``; every other kernel stays 2D (``1 x k x k``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

from kvideo.layers.pooling import Pooling3D
from kvideo.models.inflated.inflate import inflate
from kvideo.models.per_frame.application_backbone import application_backbone
from kvideo.models.per_frame.inception_bn import inception_v1_bn

#: I3D's temporal kernels and strides where they differ from the cube rule.
I3D_TIME_KERNELS = {"MaxPool_2a_3x3": 1, "MaxPool_3a_3x3": 1}
I3D_TIME_STRIDES = {"Conv2d_1a_7x7": 2, "MaxPool_4a_3x3": 2, "MaxPool_5a_2x2": 2}

#: Which residual blocks of each ResNet-50 stage get a 3x1x1 first convolution (mmaction2's
#: ``inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))``).
RESNET50_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


def _check_shape(input_shape: Sequence[int | None], channels: int | None = None) -> tuple:
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or input_shape[-1] is None:
        raise ValueError(
            "`input_shape` must be (frames, height, width, channels) with a known channel "
            f"count. Received: input_shape={input_shape}"
        )
    if channels is not None and input_shape[-1] != channels:
        raise ValueError(f"`input_shape` must have {channels} channels. Received: {input_shape}")
    return input_shape


def i3d_backbone(
    input_shape: Sequence[int | None] = (None, 224, 224, 3),
    width: float = 1.0,
    temporal_padding: str = "zero",
    init: str = "repeat",
    name: str = "i3d",
) -> keras.Model:
    """I3D: Inception-v1 with BN, inflated. ``(B, T, H, W, C) -> (B, T/8, H/32, W/32, 1024)``.

    Args:
        input_shape: ``(frames, height, width, channels)``: 3 channels for RGB, 2 for
            optical flow; ``frames`` may be ``None``.
        width: channel multiplier of the 2D network (1.0: the published shape).
        temporal_padding: ``"zero"`` (I3D's) or ``"replicate"``.
        init: how 2D kernels fill time (``"repeat"`` or ``"center"``, see `inflate`).
        name: the model's name.

    The 2D network's weights are random here: there are no ImageNet weights of
    Inception-v1 with BN in Keras; build `inception_v1_bn`, load yours, and `inflate` it
    with `I3D_TIME_KERNELS` and `I3D_TIME_STRIDES` to start from them.
    """
    input_shape = _check_shape(input_shape)
    base = inception_v1_bn(input_shape[1:], width=width)
    return inflate(
        base,
        num_frames=input_shape[0],
        time_kernels=I3D_TIME_KERNELS,
        time_strides=I3D_TIME_STRIDES,
        default_time_kernel="cube",
        init=init,
        temporal_padding=temporal_padding,
        name=name,
    )


def resnet50_time_kernels(
    pattern: Sequence[Sequence[int]] = RESNET50_INFLATE, stem: int = 5
) -> dict[str, int]:
    """Temporal kernels by ``keras.applications.ResNet50`` layer name for `pattern`."""
    kernels = {"conv1_conv": stem}
    for stage, flags in enumerate(pattern, start=2):
        for block, flag in enumerate(flags, start=1):
            if flag:
                kernels[f"conv{stage}_block{block}_1_conv"] = 3
    return kernels


def temporal_max_pool(x: Any, name: str) -> Any:
    """A ``2 x 1 x 1`` max-pool with temporal stride 2 (mmaction2's ``pool2``)."""
    return Pooling3D((2, 1, 1), padding="same", name=f"{name}_pool2")(x)


def i3d_resnet50_backbone(
    input_shape: Sequence[int | None] = (None, 224, 224, 3),
    weights: str | os.PathLike | None = None,
    temporal_padding: str = "zero",
    init: str = "repeat",
    extra_blocks: Mapping[str, Callable[[Any, str], Any]] | None = None,
    name: str = "i3d_resnet50",
) -> keras.Model:
    """I3D ResNet-50: ``(B, T, H, W, 3) -> (B, T/8, H/32, W/32, 2048)``.

    Args:
        input_shape: ``(frames, height, width, 3)``, RGB normalised as
            ``keras.applications.ResNet50`` wants it (see
            `kvideo.models.per_frame.keras_applications`).
        weights: the 2D ResNet-50's weights before inflation: ``None``, ``"imagenet"``
            (Keras's own download) or a file in keras.applications' format.
        temporal_padding, init: see `inflate`.
        extra_blocks: ``{layer name: block(x, name) -> x}`` inserted after those layers,
            e.g. non-local blocks after ``"conv3_block1_out"`` (the residual blocks' outputs
            are named ``conv{stage}_block{block}_out``).
        name: the model's name.
    """
    input_shape = _check_shape(input_shape, channels=3)
    base = application_backbone("resnet50", weights=weights, input_shape=input_shape[1:])
    insert_after = dict(extra_blocks or {})
    after_res2 = insert_after.get("conv2_block3_out")
    if after_res2 is None:
        insert_after["conv2_block3_out"] = temporal_max_pool
    else:  # the temporal pooling first, then the caller's block

        def pool_then_block(x: Any, layer_name: str) -> Any:
            return after_res2(temporal_max_pool(x, layer_name), layer_name)

        insert_after["conv2_block3_out"] = pool_then_block
    return inflate(
        base,
        num_frames=input_shape[0],
        time_kernels={**resnet50_time_kernels(), "pool1_pool": 1},
        time_strides={"conv1_conv": 2, "pool1_pool": 2},
        default_time_kernel="flat",
        init=init,
        temporal_padding=temporal_padding,
        insert_after=insert_after,
        name=name,
    )
