"""Building blocks of the ResNet-3D family (R3D, MC3, R(2+1)D).

Every function here takes a channels-last 5D tensor ``(batch, frames, height, width,
channels)`` and returns one, naming each layer it creates after ``name``. The residual
block does not know which convolution it uses: a *convolution builder* is passed in
(``conv_3d``, ``conv_no_temporal`` or ``conv_2plus1d``, possibly bound with
``functools.partial``), following the layout of torchvision's
``torchvision.models.video.resnet``, layer for layer, so that a converter can map its
checkpoints onto these layers (``convert_torchvision.py``, ``convert_vmz.py``).

Only ``keras.layers`` are used, and only layers that the TFLite converter lowers to
builtin ops (Conv3D, ZeroPadding3D -> PAD, BatchNormalization, ReLU, Add). In
particular there is no MaxPool3D, which would need Select TF (Flex) ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

import keras
from keras import layers

# PyTorch BatchNorm3d defaults (momentum=0.1 on the new value, eps=1e-5), so that
# converted torchvision weights give the same numbers. Caffe2's VMZ models (IG65M
# R(2+1)D-34) used eps=1e-3 and the same momentum (0.9 on the running value): the
# backbone's `bn_epsilon` carries the epsilon of the weights a preset is meant for.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

MIDPLANES_MODES = ("per_conv", "shared")


class ConvBuilder(Protocol):
    """Signature shared by the convolution builders.

    ``builder(x, filters, strides, *, midplanes, name, dtype, bn_epsilon) -> tensor``: a
    convolution (or a factorised one) from ``x.shape[-1]`` to ``filters`` channels with
    ``strides = (st, sh, sw)``, without the trailing BatchNorm (the block adds it);
    `bn_epsilon` is for a BatchNorm inside a factorised one.
    """

    def __call__(
        self,
        x: Any,
        filters: int,
        strides: tuple[int, int, int],
        *,
        midplanes: int | None,
        name: str,
        dtype: Any = None,
        bn_epsilon: float = BN_EPSILON,
    ) -> Any: ...


def conv_kernel_initializer() -> keras.initializers.Initializer:
    """He-normal with ``fan_out``, as torchvision initialises its video ResNets."""
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )


def r2plus1d_midplanes(
    in_channels: int,
    out_channels: int,
    temporal_kernel: int = 3,
    spatial_kernel: int = 3,
) -> int:
    """Intermediate width ``M`` of a (2+1)D convolution (Tran et al. 2018, eq. 1).

    ``M = floor(t * d^2 * N_in * N_out / (d^2 * N_in + t * N_out))`` makes the
    ``(1, d, d)`` + ``(t, 1, 1)`` pair have (about) the parameters of a ``(t, d, d)``
    Conv3D from ``N_in`` to ``N_out`` channels.
    """
    t, d2 = temporal_kernel, spatial_kernel * spatial_kernel
    return (t * d2 * in_channels * out_channels) // (d2 * in_channels + t * out_channels)


def padded_conv3d(
    x: Any,
    filters: int,
    kernel_size: Sequence[int],
    strides: Sequence[int] = (1, 1, 1),
    *,
    name: str,
    dtype: Any = None,
) -> Any:
    """Bias-free Conv3D with PyTorch's symmetric ``kernel // 2`` zero padding.

    Stride-1 convolutions use ``padding="same"`` (symmetric for odd kernels); strided
    ones use an explicit ``ZeroPadding3D`` + ``"valid"`` so the output grid matches
    PyTorch exactly (Keras' ``"same"`` pads asymmetrically for stride 2).

    Shapes: ``(B, T, H, W, C_in) -> (B, ceil(T/st), ceil(H/sh), ceil(W/sw), filters)``
    for odd kernels.
    """
    kernel_size = tuple(int(k) for k in kernel_size)
    strides = tuple(int(s) for s in strides)
    padding = "same"
    if any(s > 1 for s in strides):
        pads = tuple((k // 2, k // 2) for k in kernel_size)
        if any(p != (0, 0) for p in pads):
            x = layers.ZeroPadding3D(padding=pads, name=f"{name}_pad", dtype=dtype)(x)
        padding = "valid"
    return layers.Conv3D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer=conv_kernel_initializer(),
        name=name,
        dtype=dtype,
    )(x)


def batch_norm(
    x: Any,
    *,
    name: str,
    dtype: Any = None,
    epsilon: float = BN_EPSILON,
    gamma_initializer: str = "ones",
) -> Any:
    """Channels-last BatchNormalization with PyTorch's momentum and `epsilon`."""
    return layers.BatchNormalization(
        axis=-1,
        momentum=BN_MOMENTUM,
        epsilon=epsilon,
        gamma_initializer=gamma_initializer,
        name=name,
        dtype=dtype,
    )(x)


def conv_3d(
    x: Any,
    filters: int,
    strides: tuple[int, int, int] = (1, 1, 1),
    *,
    midplanes: int | None = None,
    name: str,
    dtype: Any = None,
    bn_epsilon: float = BN_EPSILON,
) -> Any:
    """Full ``3x3x3`` convolution (R3D; torchvision ``Conv3DSimple``).

    ``midplanes`` and ``bn_epsilon`` are accepted for a uniform builder signature and
    ignored. Shape: ``(B, T, H, W, C) -> (B, T/st, H/sh, W/sw, filters)``.
    """
    del midplanes, bn_epsilon
    return padded_conv3d(x, filters, (3, 3, 3), strides, name=name, dtype=dtype)


def conv_no_temporal(
    x: Any,
    filters: int,
    strides: tuple[int, int, int] = (1, 1, 1),
    *,
    midplanes: int | None = None,
    name: str,
    dtype: Any = None,
    bn_epsilon: float = BN_EPSILON,
) -> Any:
    """Spatial-only ``1x3x3`` convolution (MC3 upper stages; torchvision ``Conv3DNoTemporal``).

    ``midplanes`` and ``bn_epsilon`` are ignored. Pass a temporal stride of 1 (the
    backbone does). Shape: ``(B, T, H, W, C) -> (B, T/st, H/sh, W/sw, filters)``.
    """
    del midplanes, bn_epsilon
    return padded_conv3d(x, filters, (1, 3, 3), strides, name=name, dtype=dtype)


def conv_2plus1d(
    x: Any,
    filters: int,
    strides: tuple[int, int, int] = (1, 1, 1),
    *,
    midplanes: int | None = None,
    name: str,
    dtype: Any = None,
    bn_epsilon: float = BN_EPSILON,
) -> Any:
    """(2+1)D factorised convolution: ``1x3x3`` -> BN -> ReLU -> ``3x1x1``.

    The spatial conv carries the spatial stride and the temporal conv the temporal
    stride (as torchvision's ``Conv2Plus1D``). ``midplanes=None`` computes ``M`` for
    this conv alone from ``(x.shape[-1], filters)`` with :func:`r2plus1d_midplanes`
    (the paper); an int uses that width (torchvision shares one ``M`` per block).

    Shape: ``(B, T, H, W, C) -> (B, T/st, H/sh, W/sw, filters)``.
    """
    st, sh, sw = strides
    if midplanes is None:
        midplanes = r2plus1d_midplanes(int(x.shape[-1]), filters)
    x = padded_conv3d(x, midplanes, (1, 3, 3), (1, sh, sw), name=f"{name}_spatial", dtype=dtype)
    x = batch_norm(x, name=f"{name}_spatial_bn", dtype=dtype, epsilon=bn_epsilon)
    x = layers.ReLU(name=f"{name}_spatial_relu", dtype=dtype)(x)
    return padded_conv3d(x, filters, (3, 1, 1), (st, 1, 1), name=f"{name}_temporal", dtype=dtype)


def basic_block(
    x: Any,
    filters: int,
    conv_builder: ConvBuilder | Callable[..., Any],
    strides: tuple[int, int, int] = (1, 1, 1),
    *,
    midplanes: str = "per_conv",
    name: str,
    dtype: Any = None,
    bn_epsilon: float = BN_EPSILON,
) -> Any:
    """ResNet basic block: ``conv-BN-ReLU-conv-BN`` + shortcut, then ReLU.

    Args:
        x: ``(B, T, H, W, C_in)`` tensor.
        filters: output channels ``C_out``.
        conv_builder: the convolution to use (see :class:`ConvBuilder`).
        strides: ``(st, sh, sw)`` of the first convolution and of the shortcut.
        midplanes: ``"per_conv"`` lets each builder size its own (2+1)D width;
            ``"shared"`` computes one ``M`` from ``(C_in, C_out)`` for both convs,
            like torchvision's ``BasicBlock``. Ignored by non-factorised builders.
        name: prefix of the layer names.
        dtype: dtype policy of the layers (``None``: the global policy).
        bn_epsilon: epsilon of every BatchNorm (that of the weights to load).

    Returns:
        ``(B, T/st, H/sh, W/sw, C_out)`` tensor. The shortcut is a ``1x1x1`` Conv3D
        with ``strides`` + BN when the shape changes, the identity otherwise.
    """
    if midplanes not in MIDPLANES_MODES:
        raise ValueError(f"`midplanes` must be one of {MIDPLANES_MODES}. Received: {midplanes=}")
    strides = tuple(int(s) for s in strides)
    in_channels = int(x.shape[-1])
    mid = r2plus1d_midplanes(in_channels, filters) if midplanes == "shared" else None

    shortcut = x
    bn = partial(batch_norm, dtype=dtype, epsilon=bn_epsilon)
    conv = partial(conv_builder, midplanes=mid, dtype=dtype, bn_epsilon=bn_epsilon)
    if any(s != 1 for s in strides) or in_channels != filters:
        shortcut = padded_conv3d(
            x, filters, (1, 1, 1), strides, name=f"{name}_shortcut_conv", dtype=dtype
        )
        shortcut = bn(shortcut, name=f"{name}_shortcut_bn")

    y = conv(x, filters, strides, name=f"{name}_conv1")
    y = bn(y, name=f"{name}_bn1")
    y = layers.ReLU(name=f"{name}_relu1", dtype=dtype)(y)
    y = conv(y, filters, (1, 1, 1), name=f"{name}_conv2")
    y = bn(y, name=f"{name}_bn2")
    y = layers.Add(name=f"{name}_add", dtype=dtype)([shortcut, y])
    return layers.ReLU(name=f"{name}_out", dtype=dtype)(y)


def stem_3d(
    x: Any,
    filters: int = 64,
    *,
    name: str = "stem",
    dtype: Any = None,
    bn_epsilon: float = BN_EPSILON,
) -> Any:
    """R3D/MC3 stem: Conv3D ``3x7x7`` stride ``(1, 2, 2)`` -> BN -> ReLU.

    Shape: ``(B, T, H, W, 3) -> (B, T, H/2, W/2, filters)``.
    """
    x = padded_conv3d(x, filters, (3, 7, 7), (1, 2, 2), name=f"{name}_conv", dtype=dtype)
    x = batch_norm(x, name=f"{name}_bn", dtype=dtype, epsilon=bn_epsilon)
    return layers.ReLU(name=f"{name}_relu", dtype=dtype)(x)


def stem_2plus1d(
    x: Any,
    filters: int = 64,
    mid_filters: int = 45,
    *,
    name: str = "stem",
    dtype: Any = None,
    bn_epsilon: float = BN_EPSILON,
) -> Any:
    """R(2+1)D stem: ``1x7x7`` stride ``(1,2,2)`` to ``mid_filters`` -> BN -> ReLU ->
    ``3x1x1`` to ``filters`` -> BN -> ReLU (torchvision ``R2Plus1dStem``: 45 then 64).

    Shape: ``(B, T, H, W, 3) -> (B, T, H/2, W/2, filters)``.
    """
    x = padded_conv3d(x, mid_filters, (1, 7, 7), (1, 2, 2), name=f"{name}_spatial", dtype=dtype)
    x = batch_norm(x, name=f"{name}_spatial_bn", dtype=dtype, epsilon=bn_epsilon)
    x = layers.ReLU(name=f"{name}_spatial_relu", dtype=dtype)(x)
    x = padded_conv3d(x, filters, (3, 1, 1), (1, 1, 1), name=f"{name}_temporal", dtype=dtype)
    x = batch_norm(x, name=f"{name}_temporal_bn", dtype=dtype, epsilon=bn_epsilon)
    return layers.ReLU(name=f"{name}_temporal_relu", dtype=dtype)(x)


#: Convolution builders by the names used in ``stage_conv_types``.
CONV_BUILDERS: dict[str, Callable[..., Any]] = {
    "3d": conv_3d,
    "2d": conv_no_temporal,
    "2plus1d": conv_2plus1d,
}

#: Whether a convolution type may stride in time (``"2d"`` has a temporal kernel of 1,
#: so torchvision's MC3 keeps the frame count in those stages).
TEMPORAL_STRIDE: dict[str, bool] = {"3d": True, "2d": False, "2plus1d": True}
