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

# Mean and std of Kinetics-400 in RGB, on [0, 1] pixels, used by the common 3D ResNets.
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@keras.saving.register_keras_serializable(package="kvideo")
class ClipPreprocessing(keras.layers.Layer):
    """Resizes uint8 clips to `crop_size` and normalises them per RGB channel.

    ``(batch, frames, height, width, 3)`` of any height and width (uint8, or any real
    dtype holding [0, 255] pixels) -> ``(batch, frames, crop_size, crop_size, 3)`` in the
    layer's compute dtype, ``(pixels / 255 - mean) / std``. The resize is bilinear with
    half-pixel centres and no antialiasing (`tf.image.resize`'s default); it is skipped
    when the input's static size is already `crop_size`, and is the identity anyway when
    the sizes match.

    Args:
        crop_size: output height and width.
        mean, std: per-channel statistics of [0, 1] RGB pixels.
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
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ValueError(
                f"`mean` and `std` must hold 3 values, `std` positive. Received: {mean=}, {std=}"
            )
        self.crop_size = crop_size
        self.mean = mean
        self.std = std

    def call(self, clips):
        size = self.crop_size
        static = tuple(clips.shape)
        x = ops.cast(clips, "float32")
        shape = ops.shape(x)
        if static[2] != size or static[3] != size:
            frames = ops.reshape(x, (-1, shape[2], shape[3], shape[4]))
            frames = ops.image.resize(
                frames, (size, size), interpolation="bilinear", antialias=False
            )
            x = ops.reshape(frames, (-1, shape[1], size, size, shape[4]))
        # One multiply-add over rows of `size * 3` values with the per-channel constants
        # tiled along the row: broadcasting a (3,) vector over the last axis was ~8x
        # slower on CPU (TF 2.21).
        channels = len(self.mean)
        scale = np.tile([1.0 / (255.0 * s) for s in self.std], size).astype("float32")
        offset = np.tile([-m / s for m, s in zip(self.mean, self.std, strict=True)], size).astype(
            "float32"
        )
        rows = ops.reshape(x, (-1, size * channels)) * scale + offset
        x = ops.reshape(rows, (-1, shape[1], size, size, channels))
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.crop_size, self.crop_size, input_shape[4])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"crop_size": self.crop_size, "mean": list(self.mean), "std": list(self.std)})
        return config
