"""3D pooling from builtin TFLite ops: what ``MaxPooling3D`` / ``AveragePooling3D`` compute.

TFLite has no builtin 3D pooling: ``MaxPooling3D`` and ``AveragePooling3D`` convert to
Select TF (Flex) ops, which the Python LiteRT interpreters cannot run. Pooling over a box
is separable (the maximum over ``t x h x w`` is the maximum over ``t`` of the maxima over
``h x w``; an average over the valid positions of a box divides by the product of the
per-axis counts), so `Pooling3D` pools space with a 2D pool on ``(B * T, H, W, C)`` and
then time with a ``(pt, 1)`` 2D pool on ``(B, T, H' * W', C)``: RESHAPE, MAX_POOL_2D /
AVERAGE_POOL_2D and, for explicit padding, PADV2, all builtin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

POOL_MODES = ("max", "average")
PADDINGS = ("valid", "same")


def _triple(value: Any, arg: str) -> tuple[int, int, int]:
    triple = (value,) * 3 if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(triple, Sequence)
        or len(triple) != 3
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in triple)
    ):
        raise ValueError(
            f"`{arg}` must be a positive int or three of them (time, height, width). "
            f"Received: {arg}={value!r}"
        )
    return tuple(int(v) for v in triple)


def _explicit_padding(padding: Any, pool_size: tuple[int, int, int]) -> tuple | None:
    """``((t0, t1), (h0, h1), (w0, w1))`` from `padding`, or None if it is not explicit."""
    if isinstance(padding, str):
        return None
    try:
        pads = tuple((int(a), int(b)) for a, b in padding)
    except (TypeError, ValueError):
        pads = ()
    if len(pads) != 3 or any(
        not 0 <= p < k for pair, k in zip(pads, pool_size, strict=True) for p in pair
    ):
        raise ValueError(
            f"`padding` must be one of {PADDINGS} or ((t0, t1), (h0, h1), (w0, w1)) with each "
            f"pad in [0, pool size) for pool_size={pool_size}. Received: padding={padding!r}"
        )
    return pads


def _pooled_length(length: int | None, size: int, stride: int, padding: Any) -> int | None:
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    before, after = (0, 0) if padding == "valid" else padding
    return (length + before + after - size) // stride + 1


@keras.saving.register_keras_serializable(package="kvideo")
class Pooling3D(keras.layers.Layer):
    """Max or average pooling over ``(time, height, width)``, builtin TFLite ops only.

    Gives what ``keras.layers.MaxPooling3D`` / ``AveragePooling3D`` give for the same
    `pool_size`, `strides` and ``"valid"``/``"same"`` padding (TensorFlow's ``"same"``:
    the extra pad goes after; averages count only the positions inside the clip), and
    with explicit padding what PyTorch's ``MaxPool3d(padding=...)`` gives: padded
    positions are ``-inf`` and never the maximum.

    Shapes: ``(B, T, H, W, C) -> (B, T', H', W', C)`` with, per axis of length ``n``,
    ``n' = floor((n - k) / s) + 1`` (``"valid"``), ``ceil(n / s)`` (``"same"``) or
    ``floor((n + before + after - k) / s) + 1`` (explicit). Any dimension but the
    channels may be unknown.

    Args:
        pool_size: ``(pt, ph, pw)`` or one int for all three.
        strides: ``(st, sh, sw)``; default `pool_size`.
        padding: ``"valid"``, ``"same"``, or ``((t0, t1), (h0, h1), (w0, w1))`` (max
            pooling only; each pad smaller than the window along its axis).
        mode: ``"max"`` or ``"average"``.
        time_padding: ``"valid"`` or ``"same"`` for time alone, when `padding` (a string)
            is meant for height and width: an inflated 2D pooling pads space as the 2D
            layer did and time as TensorFlow's "same" (I3D). Default: `padding`.
        **kwargs: ``name``, ``dtype`` for ``keras.layers.Layer``.
    """

    def __init__(
        self,
        pool_size: int | Sequence[int],
        strides: int | Sequence[int] | None = None,
        padding: str | Sequence[Sequence[int]] = "valid",
        mode: str = "max",
        time_padding: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in POOL_MODES:
            raise ValueError(f"`mode` must be one of {POOL_MODES}. Received: mode={mode!r}")
        self.pool_size = _triple(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _triple(strides, "strides")
        pads = _explicit_padding(padding, self.pool_size)
        if pads is None and padding not in PADDINGS:
            raise ValueError(
                f"`padding` must be one of {PADDINGS} or explicit pads. Received: {padding=}"
            )
        if pads is not None and mode != "max":
            raise ValueError(
                "Explicit padding is for max pooling (pads never win a maximum; an average "
                f"would have to decide whether they count). Received: {padding=}, {mode=}"
            )
        if time_padding is not None and (pads is not None or time_padding not in PADDINGS):
            raise ValueError(
                f"`time_padding` must be one of {PADDINGS}, with a string `padding`. "
                f"Received: {time_padding=}, {padding=}"
            )
        self.padding = padding if pads is None else pads
        self.time_padding = time_padding
        self.mode = mode

    def call(self, inputs):
        pool = ops.max_pool if self.mode == "max" else ops.average_pool
        (pt, ph, pw), (st, sh, sw) = self.pool_size, self.strides
        x, padding, time_padding = inputs, self.padding, self.time_padding or self.padding
        if not isinstance(padding, str):
            pads = [(0, 0), *padding, (0, 0)]
            x = ops.pad(x, pads, constant_values=float("-inf"))
            padding = time_padding = "valid"
        shape = ops.shape(x)
        frames, height, width, channels = shape[1], shape[2], shape[3], shape[4]
        if (ph, pw, sh, sw) != (1, 1, 1, 1):
            # Space: every frame of every clip is one image of a 2D pool.
            y = pool(ops.reshape(x, (-1, height, width, channels)), (ph, pw), (sh, sw), padding)
            y_shape = ops.shape(y)
            height, width = y_shape[1], y_shape[2]
            x = ops.reshape(y, (-1, frames, height, width, channels))
        if (pt, st) != (1, 1):
            # Time: a (pt, 1) pool down the frames, with the positions as one long axis.
            y = pool(
                ops.reshape(x, (-1, frames, height * width, channels)),
                (pt, 1),
                (st, 1),
                time_padding,
            )
            x = ops.reshape(y, (-1, ops.shape(y)[1], height, width, channels))
        return x

    def compute_output_shape(self, input_shape):
        if isinstance(self.padding, str):
            pads = (self.time_padding or self.padding, self.padding, self.padding)
        else:
            pads = self.padding
        dims = [
            _pooled_length(n, k, s, pad)
            for n, k, s, pad in zip(
                input_shape[1:4], self.pool_size, self.strides, pads, strict=True
            )
        ]
        return (input_shape[0], *dims, input_shape[4])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "pool_size": list(self.pool_size),
                "strides": list(self.strides),
                "padding": self.padding
                if isinstance(self.padding, str)
                else [list(p) for p in self.padding],
                "mode": self.mode,
                "time_padding": self.time_padding,
            }
        )
        return config
