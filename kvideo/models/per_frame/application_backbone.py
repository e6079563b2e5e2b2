"""``keras.applications`` networks as per-frame backbones, ImageNet weights loaded by Keras."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np

from kvideo.models.per_frame.keras_applications import get_application


def application_backbone(
    application: str,
    weights: str | os.PathLike | None = None,
    input_shape: Sequence[int | None] | None = None,
) -> keras.Model:
    """A ``keras.applications`` network without its classifier, taking RGB frames.

    ``(B, H, W, 3)`` frames normalised as `kvideo.models.per_frame.keras_applications`
    says for this network -> its last feature map ``(B, H', W', F)``. The model is
    ``keras.applications``' own (same layers, names and parameter count), built with
    ``include_top=False``; for the BGR ("caffe") networks the input channels of the first
    convolution's kernel are reversed after the weights are loaded, so that it takes RGB.

    Args:
        application: a name of `APPLICATIONS` (``"resnet50"``, ``"inception_v3"``, ...).
        weights: ``None`` (random), ``"imagenet"`` (downloaded and cached by Keras on
            first use) or the path of a weights file in ``keras.applications``' own
            format (as published, before the flip).
        input_shape: ``(height, width, 3)``; default: the network's ImageNet size.
    """
    entry = get_application(application)
    if input_shape is None:
        input_shape = (entry.crop_size, entry.crop_size, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            f"`input_shape` must be (height, width, 3) for {application!r}. "
            f"Received: input_shape={input_shape}"
        )
    constructor = getattr(keras.applications, entry.constructor)
    model = constructor(
        include_top=False,
        weights=None if weights is None else os.fspath(weights),
        input_shape=input_shape,
        **entry.kwargs,
    )
    if entry.bgr:
        reverse_input_channels(model)
    return model


def reverse_input_channels(model: keras.Model) -> None:
    """Reverses the input channels of `model`'s first convolution's kernel in place.

    A network trained on BGR frames then computes the same on RGB frames: the first
    convolution is linear in its input channels, and nothing before it (padding only)
    mixes them.
    """
    first = next((x for x in model.layers if isinstance(x, keras.layers.Conv2D)), None)
    if first is None:
        raise ValueError(f"{model.name!r} has no Conv2D layer whose channels could be reversed.")
    kernel = keras.ops.convert_to_numpy(first.kernel)  # (kh, kw, in, out)
    first.kernel.assign(np.ascontiguousarray(kernel[:, :, ::-1, :]))
