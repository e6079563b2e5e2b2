"""Two Inception networks with batch norm that ``keras.applications`` lacks.

* `bn_inception`: BN-Inception (Ioffe and Szegedy 2015, "Batch Normalization", figure 5),
  the network of TSN (Wang et al. 2016), in the layout of the Caffe model TSN released and
  its PyTorch port (``pretrainedmodels``' ``bninception``): convolutions with biases, each
  followed by BN and ReLU; "double 3x3" branches in place of 5x5; two stride-2 modules
  (3c, 4e) whose pooling branch passes through. 1024 features.
* `inception_v1_bn`: Inception-v1 (GoogLeNet, Szegedy et al. 2015) with BN after every
  convolution and no biases, in TF-slim's ``inception_v1`` layout: the 2D network that
  I3D (Carreira and Zisserman 2017) inflates (`kvideo.models.inflated.i3d`). 1024 features.

Both are functions returning a functional ``keras.Model``, as ``keras.applications``
does, so that they and Keras's networks are inflated, saved and partially frozen
(`kvideo.models.per_frame.partial_bn`) the same way: a functional model's layer configs,
``trainable`` flags included, survive a ``.keras`` round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

# Ioffe's BN-Inception modules: (1x1, 3x3 reduce, 3x3, double 3x3 reduce, double 3x3,
# pool, pool projection). A 1x1 width of 0 marks a stride-2 module: no 1x1 branch, the
# 3x3 branches stride 2 and the max-pool branch passes through.
BN_INCEPTION_MODULES: dict[str, tuple[int, int, int, int, int, str, int]] = {
    "3a": (64, 64, 64, 64, 96, "avg", 32),
    "3b": (64, 64, 96, 64, 96, "avg", 64),
    "3c": (0, 128, 160, 64, 96, "max", 0),
    "4a": (224, 64, 96, 96, 128, "avg", 128),
    "4b": (192, 96, 128, 96, 128, "avg", 128),
    "4c": (160, 128, 160, 128, 160, "avg", 128),
    "4d": (96, 128, 192, 160, 192, "avg", 128),
    "4e": (0, 128, 192, 192, 256, "max", 0),
    "5a": (352, 192, 320, 160, 224, "avg", 128),
    "5b": (352, 192, 320, 192, 224, "max", 128),
}

# GoogLeNet's modules (TF-slim names): (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5" (a 3x3
# in TF-slim, as in I3D), pool projection).
INCEPTION_V1_MODULES: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _input(input_shape: Sequence[int | None], channels_name: str = "frames") -> Any:
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] is None:
        raise ValueError(
            "`input_shape` must be (height, width, channels) with a known channel count. "
            f"Received: input_shape={input_shape}"
        )
    return keras.Input(input_shape, name=channels_name)


def _check_width(width: float) -> None:
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width <= 4:
        raise ValueError(f"`width` must be a number in (0, 4]. Received: width={width!r}")


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


# --- BN-Inception (TSN) ---------------------------------------------------------------


def _conv_bn(
    x: Any, filters: int, kernel: int, strides: int = 1, *, name: str, bias: bool, eps: float
) -> Any:
    """Conv2D -> BN -> ReLU with PyTorch/Caffe symmetric padding (``kernel // 2``)."""
    if strides > 1 and kernel > 1:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"  # symmetric for odd kernels at stride 1
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=bias, name=name)(
        x
    )
    x = layers.BatchNormalization(epsilon=eps, momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def bn_inception_module(x: Any, widths: Sequence[Any], *, name: str, width: float = 1.0) -> Any:
    """One BN-Inception module: ``(B, H, W, C) -> (B, H / s, W / s, C')``, s = 1 or 2.

    `widths` = (1x1, 3x3 reduce, 3x3, double 3x3 reduce, double 3x3, pool, pool
    projection), as in `BN_INCEPTION_MODULES`.
    """
    c0, c1a, c1b, c2a, c2b, pool, c3 = widths
    s = 2 if c0 == 0 else 1
    conv = {"bias": True, "eps": 1e-5}
    branches = []
    if c0:
        branches.append(_conv_bn(x, _scaled(c0, width), 1, name=f"{name}_1x1", **conv))
    y = _conv_bn(x, _scaled(c1a, width), 1, name=f"{name}_3x3_reduce", **conv)
    branches.append(_conv_bn(y, _scaled(c1b, width), 3, s, name=f"{name}_3x3", **conv))
    y = _conv_bn(x, _scaled(c2a, width), 1, name=f"{name}_double_3x3_reduce", **conv)
    y = _conv_bn(y, _scaled(c2b, width), 3, name=f"{name}_double_3x3_1", **conv)
    branches.append(_conv_bn(y, _scaled(c2b, width), 3, s, name=f"{name}_double_3x3_2", **conv))
    if pool == "avg":
        # Caffe's average pooling counts the zero padding: pad, then pool without it.
        y = layers.ZeroPadding2D(1, name=f"{name}_pool_pad")(x)
        y = layers.AveragePooling2D(3, 1, padding="valid", name=f"{name}_pool")(y)
    else:
        # 'same' max pooling ignores the padding as Caffe's does; at stride 2 it equals
        # Caffe's ceil-mode pooling for even sizes (224 -> 112 -> 56 -> 28 -> 14 -> 7).
        y = layers.MaxPooling2D(3, s, padding="same", name=f"{name}_pool")(x)
    if c3:
        y = _conv_bn(y, _scaled(c3, width), 1, name=f"{name}_pool_proj", **conv)
    branches.append(y)
    return layers.Concatenate(axis=-1, name=f"{name}_output")(branches)


def bn_inception(
    input_shape: Sequence[int | None] = (224, 224, 3),
    width: float = 1.0,
    name: str = "bn_inception",
) -> keras.Model:
    """BN-Inception without its classifier: ``(B, H, W, C) -> (B, H / 32, W / 32, 1024)``.

    With a 1000-class classifier it has the PyTorch port's 11,295,240 parameters
    (``tests/test_inception_bn.py``). It takes RGB frames normalised with
    ``mean = (128, 117, 104) / 255`` and ``std = 1 / 255`` (the Caffe model's BGR mean
    subtraction, in RGB order).

    Args:
        input_shape: ``(height, width, channels)``.
        width: multiplies every layer's channels (1.0: the published network; smaller
            for tests).
        name: the model's name.
    """
    _check_width(width)
    inputs = _input(input_shape)
    conv = {"bias": True, "eps": 1e-5}
    x = _conv_bn(inputs, _scaled(64, width), 7, 2, name="conv1_7x7_s2", **conv)
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool1_3x3_s2")(x)
    x = _conv_bn(x, _scaled(64, width), 1, name="conv2_3x3_reduce", **conv)
    x = _conv_bn(x, _scaled(192, width), 3, name="conv2_3x3", **conv)
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool2_3x3_s2")(x)
    for module, widths in BN_INCEPTION_MODULES.items():
        x = bn_inception_module(x, widths, name=f"inception_{module}", width=width)
    return keras.Model(inputs, x, name=name)


# --- Inception-v1 with BN (I3D's 2D network) --------------------------------------------


def _unit(x: Any, filters: int, kernel: int, strides: int = 1, *, name: str) -> Any:
    """TF-slim's conv unit: Conv2D ('same', no bias) -> BN (eps 1e-3) -> ReLU."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name)(
        x
    )
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def inception_v1_module(x: Any, widths: Sequence[int], *, name: str, width: float = 1.0) -> Any:
    """One Inception-v1 module: ``(B, H, W, C) -> (B, H, W, C')``; four branches concatenated."""
    c0, c1a, c1b, c2a, c2b, c3 = (_scaled(c, width) for c in widths)
    b0 = _unit(x, c0, 1, name=f"{name}_Branch_0_Conv2d_0a_1x1")
    b1 = _unit(x, c1a, 1, name=f"{name}_Branch_1_Conv2d_0a_1x1")
    b1 = _unit(b1, c1b, 3, name=f"{name}_Branch_1_Conv2d_0b_3x3")
    b2 = _unit(x, c2a, 1, name=f"{name}_Branch_2_Conv2d_0a_1x1")
    b2 = _unit(b2, c2b, 3, name=f"{name}_Branch_2_Conv2d_0b_3x3")
    b3 = layers.MaxPooling2D(3, 1, padding="same", name=f"{name}_Branch_3_MaxPool_0a_3x3")(x)
    b3 = _unit(b3, c3, 1, name=f"{name}_Branch_3_Conv2d_0b_1x1")
    return layers.Concatenate(axis=-1, name=name)([b0, b1, b2, b3])


def inception_v1_bn(
    input_shape: Sequence[int | None] = (224, 224, 3),
    width: float = 1.0,
    name: str = "inception_v1_bn",
) -> keras.Model:
    """Inception-v1 with BN, without classifier: ``(B, H, W, C) -> (B, H / 32, W / 32, 1024)``.

    Layers are named as in TF-slim (``Conv2d_1a_7x7``, ``Mixed_4f_Branch_1_...``); TF
    'same' padding throughout. Inflated by `kvideo.models.inflated.i3d.i3d_backbone`.

    Args:
        input_shape: ``(height, width, channels)`` (2 channels for optical flow).
        width: multiplies every layer's channels (1.0: the published network).
        name: the model's name.
    """
    _check_width(width)
    inputs = _input(input_shape)
    x = _unit(inputs, _scaled(64, width), 7, 2, name="Conv2d_1a_7x7")
    x = layers.MaxPooling2D(3, 2, padding="same", name="MaxPool_2a_3x3")(x)
    x = _unit(x, _scaled(64, width), 1, name="Conv2d_2b_1x1")
    x = _unit(x, _scaled(192, width), 3, name="Conv2d_2c_3x3")
    x = layers.MaxPooling2D(3, 2, padding="same", name="MaxPool_3a_3x3")(x)
    for module, widths in INCEPTION_V1_MODULES.items():
        if module == "Mixed_4b":
            x = layers.MaxPooling2D(3, 2, padding="same", name="MaxPool_4a_3x3")(x)
        elif module == "Mixed_5b":
            x = layers.MaxPooling2D(2, 2, padding="same", name="MaxPool_5a_2x2")(x)
        x = inception_v1_module(x, widths, name=module, width=width)
    return keras.Model(inputs, x, name=name)
