"""The model's first layer: uint8 clips of any size -> resized, normalised float clips.

The input pipeline (`kvideo.data`) decodes, samples and crops, and hands over uint8
crops at the size they were cut. Resizing them to the network's input size and
normalising the pixels happen here, inside the model:

* on an accelerator this work is nearly free, and the host sends a quarter of the bytes
  (uint8, not float32), while on the host it cost as much CPU time as decoding the JPEG
  frames (see benchmarks/README.md);
* the normalisation constants travel with the weights, so an exported model takes plain
  RGB frames and cannot be fed pixels normalised some other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from kvideo.inputs import KINETICS_MEAN, KINETICS_STD


@keras.saving.register_keras_serializable(package="kvideo")
class ClipPreprocessing(keras.layers.Layer):
    """Resizes uint8 clips to `crop_size` and normalises them per channel.

    ``(batch, frames, height, width, channels)`` of any height and width (uint8, or any
    real dtype holding [0, 255] values) -> ``(batch, frames, crop_size, crop_size,
    channels)`` in the layer's compute dtype, ``(pixels / 255 - mean) / std``. The resize
    is bilinear with half-pixel centres and no antialiasing (`tf.image.resize`'s default);
    it is skipped when the input's static size is already `crop_size`, and is the identity
    anyway when the sizes match.

    Any channel count works: RGB frames (3), an optical-flow field (2: x, y), a stack of
    ``L`` flow fields (``2 * L``). `mean` and `std` hold one value per channel, or one
    value per channel of a repeating group that is tiled over the channels: the (x, y)
    statistics of flow serve a stack of ``L`` fields, a single value serves every channel.

    Args:
        crop_size: output height and width.
        mean, std: per-channel statistics of [0, 1] pixels (`std` positive).
    """

    def __init__(
        self,
        crop_size: int,
        mean: Sequence[float] = KINETICS_MEAN,
        std: Sequence[float] = KINETICS_STD,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size < 1:
            raise ValueError(f"`crop_size` must be a positive integer. Received: {crop_size=}")
        mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        if not mean or len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(
                "`mean` and `std` must hold the same number (>= 1) of values, `std` "
                f"positive. Received: {mean=}, {std=}"
            )
        self.crop_size = crop_size
        self.mean = mean
        self.std = std

    def build(self, input_shape):
        self._check_channels(input_shape)

    def _check_channels(self, input_shape) -> int:
        channels = input_shape[-1]
        if channels is None or channels % len(self.mean):
            raise ValueError(
                f"ClipPreprocessing has {len(self.mean)} channel statistics, which do not "
                f"tile the input's {channels} channels. Received: input_shape={input_shape}"
            )
        return channels

    def input_channels(self, channels: int) -> int:
        """Channels of the clips this layer takes when it hands `channels` on: the same
        (`kvideo.layers.RGBDifference` takes 3 more)."""
        return channels

    def channel_stats(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """`mean` and `std` tiled to `channels` values (float64)."""
        repeats = channels // len(self.mean)
        return np.tile(self.mean, repeats), np.tile(self.std, repeats)

    def call(self, clips):
        size = self.crop_size
        static = tuple(clips.shape)
        channels = self._check_channels(static)
        x = ops.cast(clips, "float32")
        shape = ops.shape(x)
        if static[2] != size or static[3] != size:
            frames = ops.reshape(x, (-1, shape[2], shape[3], channels))
            frames = ops.image.resize(
                frames, (size, size), interpolation="bilinear", antialias=False
            )
            x = ops.reshape(frames, (-1, shape[1], size, size, channels))
        # One multiply-add over rows of `size * channels` values with the per-channel
        # constants tiled along the row: broadcasting a (channels,) vector over the last
        # axis was ~8x slower on CPU (TF 2.21).
        mean, std = self.channel_stats(channels)
        scale = np.tile(1.0 / (255.0 * std), size).astype("float32")
        offset = np.tile(-mean / std, size).astype("float32")
        rows = ops.reshape(x, (-1, size * channels)) * scale + offset
        x = ops.reshape(rows, (-1, shape[1], size, size, channels))
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.crop_size, self.crop_size, input_shape[4])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"crop_size": self.crop_size, "mean": list(self.mean), "std": list(self.std)})
        return config
