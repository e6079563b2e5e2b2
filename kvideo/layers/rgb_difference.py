"""RGB difference (TSN's cheap motion cue), computed in the model from RGB frames.

The named input ``rgb_diff`` (`kvideo.inputs`) carries, for each sampled frame, the
``L + 1`` RGB frames from it on, channel-stacked (uint8, ``3 (L + 1)`` channels); this
layer, the first of a model on that input, resizes and normalises them as
`ClipPreprocessing` does and takes their ``L`` consecutive differences, ``3L`` channels
for the backbone. The difference is in the model, not in the input pipeline, so that:

* an exported model takes decoded RGB frames (the serving signature samples the frame
  stacks from the ``video`` frames) and computes RGB difference in its graph, as it
  computes everything else it was trained with;
* the input stays uint8, a quarter of float32 on the way to the accelerator (differences
  are signed and would need 9 bits).
"""

from __future__ import annotations

import keras

from kvideo.layers.clip_preprocessing import ClipPreprocessing


@keras.saving.register_keras_serializable(package="kvideo")
class RGBDifference(ClipPreprocessing):
    """Resizes and normalises stacks of ``L + 1`` RGB frames and takes their differences.

    ``(batch, frames, height, width, 3 (L + 1))`` uint8 (frame ``k`` of a stack in channels
    ``3k .. 3k + 2``) -> ``(batch, frames, crop_size, crop_size, 3L)``: difference ``k``
    (channels ``3k .. 3k + 2``) is ``n(frame k+1) - n(frame k)``, where ``n`` is the
    normalisation ``(pixels / 255 - mean) / std`` of `ClipPreprocessing`. With the same
    statistics for every frame of a stack (`mean` and `std` of 3 values, tiled) the means
    cancel: difference = ``(frame k+1 - frame k) / (255 std)``, as TSN normalises frames
    before differencing them. Resizing before or after differencing is the same (both are
    linear).

    Args:
        crop_size: output height and width.
        mean, std: statistics of [0, 1] RGB pixels, 3 values (or 1), tiled over the stack.
    """

    def _check_channels(self, input_shape) -> int:
        channels = super()._check_channels(input_shape)
        if channels % 3 or channels < 6:
            raise ValueError(
                "RGBDifference takes stacks of L + 1 >= 2 RGB frames, 3 (L + 1) channels. "
                f"Received: input_shape={input_shape}"
            )
        return channels

    def input_channels(self, channels: int) -> int:
        """``3 (L + 1)`` input channels for ``3L`` output channels."""
        return channels + 3

    def call(self, clips):
        normalised = super().call(clips)
        # Channel slices keep the tensor 5-D (TFLite's builtin ops stop at 5 dimensions).
        return normalised[..., 3:] - normalised[..., :-3]

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        return (*shape[:-1], shape[-1] - 3)
