"""Layers of inflated networks that lower to builtin TFLite ops.

TFLite has no builtin 3D pooling (``MaxPool3D`` converts to a Select TF op, see
../shared/STACK.md), and an inflated convolution must pad time and space differently.
Both come apart exactly:

* 3D pooling is `kvideo.layers.Pooling3D` (space padded as the 2D layer was, time with
  ``time_padding="same"``).
* `SamePadding3D`: TensorFlow's "same" padding amounts, computed per axis, with zeros
  (PAD) or with copies of the edge frame (GATHER), so that a valid Conv3D after it equals
  a "same" one, or one whose time is padded by replication.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

PADDING_MODES = ("zero", "replicate")


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding ``(before, after)`` of an axis of `size` elements."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _positive_ints(name: str, values: Sequence[int], count: int) -> tuple[int, ...]:
    values = tuple(values)
    if len(values) != count or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values
    ):
        raise ValueError(f"`{name}` must be {count} positive integers. Received: {name}={values!r}")
    return values


def _gather_time(x: Any, indices: Any) -> Any:
    return ops.take(x, indices, axis=1)


def _window_indices(frames: Any, kernel: int, stride: int, before: int) -> list[Any]:
    """For each of the `kernel` taps, the (clipped) input frame of every output frame."""
    if isinstance(frames, int):
        out = -(-frames // stride)
        starts = np.arange(out) * stride - before
        return [np.clip(starts + i, 0, frames - 1).astype("int32") for i in range(kernel)]
    out = (frames + stride - 1) // stride
    starts = ops.arange(out) * stride - before
    return [ops.clip(starts + i, 0, frames - 1) for i in range(kernel)]


def _window_valid(frames: Any, kernel: int, stride: int, before: int) -> list[Any]:
    """For each tap, 1.0 where it falls inside the clip, 0.0 on padding (float masks)."""
    if isinstance(frames, int):
        out = -(-frames // stride)
        starts = np.arange(out) * stride - before
        return [
            ((starts + i >= 0) & (starts + i < frames)).astype("float32") for i in range(kernel)
        ]
    out = (frames + stride - 1) // stride
    starts = ops.arange(out) * stride - before
    return [
        ops.cast(ops.logical_and(starts + i >= 0, starts + i < frames), "float32")
        for i in range(kernel)
    ]


def _time_before(frames: Any, kernel: int, stride: int) -> Any:
    """Frames of "same" padding before the clip (static int, or a tensor)."""
    if isinstance(frames, int):
        return same_padding(frames, kernel, stride)[0]
    out = (frames + stride - 1) // stride
    total = ops.maximum((out - 1) * stride + kernel - frames, 0)
    return total // 2


@keras.saving.register_keras_serializable(package="kvideo")
class SamePadding3D(keras.layers.Layer):
    """TensorFlow's "same" padding of time, and optionally of space, before a valid Conv3D.

    ``(B, T, H, W, C) -> (B, T + pt, H + ph, W + pw, C)`` with the amounts a "same"
    convolution of `kernel_size`, `strides` and `dilation_rate` would pad. Time is padded
    with zeros or with copies of the first and last frames (`time_mode`); space, when
    `pad_space`, with zeros.

    Args:
        kernel_size, strides, dilation_rate: the convolution's, ``(t, h, w)``.
        time_mode: ``"zero"`` or ``"replicate"``.
        pad_space: pad height and width too (the 2D convolution padded "same").
    """

    def __init__(
        self,
        kernel_size: Sequence[int],
        strides: Sequence[int] = (1, 1, 1),
        dilation_rate: Sequence[int] = (1, 1, 1),
        time_mode: str = "zero",
        pad_space: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if time_mode not in PADDING_MODES:
            raise ValueError(
                f"`time_mode` must be one of {PADDING_MODES}. Received: time_mode={time_mode!r}"
            )
        self.kernel_size = _positive_ints("kernel_size", kernel_size, 3)
        self.strides = _positive_ints("strides", strides, 3)
        self.dilation_rate = _positive_ints("dilation_rate", dilation_rate, 3)
        if self.dilation_rate[0] != 1:
            raise ValueError(f"Temporal dilation is not supported. Received: {dilation_rate=}")
        self.time_mode = time_mode
        self.pad_space = bool(pad_space)

    def _space_pads(self, shape: Sequence[int | None]) -> list[tuple[int, int]]:
        pads = []
        for axis in (1, 2):
            k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
            if not self.pad_space:
                pads.append((0, 0))
            elif s == 1:
                total = (k - 1) * d  # independent of the size at stride 1
                pads.append((total // 2, total - total // 2))
            elif shape[axis + 1] is None:
                raise ValueError(
                    "'same' padding at a spatial stride > 1 depends on the input size; build "
                    f"the network with a fixed height and width. Received: input shape {shape}"
                )
            else:
                pads.append(same_padding(shape[axis + 1], k, s, d))
        return pads

    def call(self, x):
        kt, st = self.kernel_size[0], self.strides[0]
        frames = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        (ph, pw) = self._space_pads(tuple(x.shape))
        if isinstance(frames, int) and self.time_mode == "zero":
            before, after = same_padding(frames, kt, st)
            return ops.pad(x, ((0, 0), (before, after), ph, pw, (0, 0)))
        before = _time_before(frames, kt, st)
        if isinstance(frames, int):
            total = sum(same_padding(frames, kt, st))
            positions = np.arange(frames + total) - before
            indices = np.clip(positions, 0, frames - 1).astype("int32")
            inside = ((positions >= 0) & (positions < frames)).astype("float32")
        else:
            out = (frames + st - 1) // st
            total = ops.maximum((out - 1) * st + kt - frames, 0)
            positions = ops.arange(frames + total) - before
            indices = ops.clip(positions, 0, frames - 1)
            inside = ops.cast(ops.logical_and(positions >= 0, positions < frames), "float32")
        x = _gather_time(x, indices)
        if self.time_mode == "zero":
            x = x * ops.reshape(ops.cast(inside, x.dtype), (1, -1, 1, 1, 1))
        if ph != (0, 0) or pw != (0, 0):
            x = ops.pad(x, ((0, 0), (0, 0), ph, pw, (0, 0)))
        return x

    def compute_output_shape(self, input_shape):
        b, t, h, w, c = input_shape
        (ph, pw) = self._space_pads(tuple(input_shape))
        if t is not None:
            t = t + sum(same_padding(t, self.kernel_size[0], self.strides[0]))
        h = None if h is None else h + sum(ph)
        w = None if w is None else w + sum(pw)
        return (b, t, h, w, c)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "kernel_size": list(self.kernel_size),
                "strides": list(self.strides),
                "dilation_rate": list(self.dilation_rate),
                "time_mode": self.time_mode,
                "pad_space": self.pad_space,
            }
        )
        return config
