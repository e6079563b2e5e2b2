"""Cross-modality initialisation (TSN): an RGB network's weights for a flow or RGB-difference one.

Wang et al. 2016 (section 3.2) start the temporal networks of TSN from ImageNet weights:
"average the weights across the RGB channels and replicate this average by the channel
number of the temporal network input". The first convolution of an RGB network has a
kernel ``(..., 3, F)``; the one of a network on ``C`` channels (``2L`` for a stack of ``L``
flow fields, ``3L`` for ``L`` RGB differences) gets ``(..., C, F)`` with every input
channel holding the mean of the three RGB kernels; its bias and every other weight are
copied as they are.

What this preserves, exactly: on an input whose ``C`` channels all hold one image ``g``,
the new convolution gives ``C / 3`` times the RGB one's response (bias apart) on the grey
image whose three channels hold ``g``:

    conv_C(g, ..., g) - b = (C / 3) * (conv_RGB(g, g, g) - b)

because both sum the same mean kernel over their channels, ``C`` times against 3.
``preserve_scale=True`` divides the replicated kernel by ``C / 3`` so that the two are
equal; TSN's own code does not (the BatchNorm after the first convolution, which partial
BN leaves trainable, absorbs the scale).

Works with any functional backbone (`keras.applications` networks, kvideo's 2D and 3D
backbones) whose first convolution is a ``Conv2D`` or ``Conv3D`` fed by its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from kvideo import inputs as named_inputs
from kvideo.layers.clip_preprocessing import ClipPreprocessing
from kvideo.layers.rgb_difference import RGBDifference
from kvideo.models.video_classifier import VideoClassifier

_CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.Conv3D)


def first_convolution(model: keras.Model) -> keras.layers.Layer:
    """The first ``Conv2D``/``Conv3D`` of `model` in graph order (nested models included).

    Raises:
        ValueError: when `model` has none.
    """
    for layer in model.layers:
        if isinstance(layer, _CONVOLUTIONS):
            return layer
        if isinstance(layer, keras.Model):
            try:
                return first_convolution(layer)
            except ValueError:
                continue
    raise ValueError(f"{model.name!r} has no Conv2D or Conv3D layer to initialise.")


def cross_modality_kernel(
    kernel: np.ndarray, channels: int, preserve_scale: bool = False
) -> np.ndarray:
    """An RGB convolution kernel ``(..., 3, F)`` averaged over its input channels and
    replicated to ``(..., channels, F)`` (times ``3 / channels`` with `preserve_scale`)."""
    kernel = np.asarray(kernel)
    if kernel.ndim < 3:
        raise ValueError(f"Expected a convolution kernel (..., in, out). Received: {kernel.shape}")
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"`channels` must be a positive int. Received: {channels=!r}")
    mean = kernel.mean(axis=-2, keepdims=True)
    if preserve_scale:
        mean = mean * (kernel.shape[-2] / channels)
    return np.repeat(mean, channels, axis=-2).astype(kernel.dtype)


def transfer_weights(
    source: keras.Model, target: keras.Model, preserve_scale: bool = False
) -> None:
    """Initialises `target` (the same network on another channel count) from `source`.

    The first convolution's kernel is `cross_modality_kernel` of the source's; every other
    weight, that convolution's bias included, is copied.

    Raises:
        ValueError: when the two networks differ anywhere but in that kernel's input
            channels (naming the first weight that does not fit).
    """
    source_conv, target_conv = first_convolution(source), first_convolution(target)
    if len(source.weights) != len(target.weights):
        raise ValueError(
            f"{target.name!r} is not {source.name!r} on other channels: "
            f"{len(target.weights)} weights against {len(source.weights)}."
        )
    first_kernel = target_conv.kernel.path
    channels = target_conv.kernel.shape[-2]
    for got, want in zip(source.weights, target.weights, strict=True):
        value = keras.ops.convert_to_numpy(got)
        if want.path == first_kernel and got.path == source_conv.kernel.path:
            value = cross_modality_kernel(value, channels, preserve_scale)
        if tuple(value.shape) != tuple(want.shape):
            raise ValueError(
                f"{target.name!r} is not {source.name!r} on other channels: weight "
                f"{want.path!r} has shape {tuple(want.shape)}, the source's {got.path!r} "
                f"{tuple(value.shape)}."
            )
        want.assign(value)


def cross_modality_backbone(
    backbone: keras.Model,
    channels: int,
    *,
    initialize: bool = True,
    preserve_scale: bool = False,
) -> keras.Model:
    """A copy of RGB `backbone` that takes `channels` input channels.

    The copy is `backbone`'s graph rebuilt on a new input (`keras.models.clone_model`;
    a kvideo backbone class comes back as a plain functional model). With `initialize`
    its weights come from `backbone` (`transfer_weights`): the pretrained RGB network as
    the start of a flow or RGB-difference network. Without, it keeps fresh initial
    weights (training from scratch: a replicated random kernel would only start every
    channel alike).

    Args:
        backbone: a functional model whose input's last axis is its channels.
        channels: the new channel count (``2L`` flow, ``3L`` RGB difference).

    Raises:
        ValueError: for a backbone that cannot be rebuilt on another input.
    """
    shape = tuple(backbone.inputs[0].shape[1:]) if len(backbone.inputs) == 1 else ()
    if len(shape) not in (3, 4):
        raise ValueError(
            "`backbone` must take one input of frames (H, W, C) or clips (T, H, W, C). "
            f"Received: inputs {[tuple(x.shape) for x in backbone.inputs]}"
        )
    new_input = keras.Input((*shape[:-1], channels), name=backbone.inputs[0].name)
    try:
        clone = keras.models.clone_model(backbone, input_tensors=new_input)
    except Exception as err:  # Keras raises several types for a graph it cannot rebuild
        raise ValueError(
            f"{backbone.name!r} cannot be rebuilt on {channels} input channels "
            f"(a functional model is needed): {err}"
        ) from err
    if initialize:
        transfer_weights(backbone, clone, preserve_scale)
    return clone


def cross_modality_classifier(
    rgb: VideoClassifier,
    input_name: str,
    stack_length: int = 1,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    initialize: bool = True,
    preserve_scale: bool = False,
    name: str | None = None,
) -> VideoClassifier:
    """An RGB classifier turned into one on ``flow`` or ``rgb_diff``, as TSN's temporal
    networks start from the spatial one.

    The backbone is `cross_modality_backbone` of `rgb`'s (``2L`` channels for flow, ``3L``
    for RGB difference), initialised from it with `initialize`; the head and its settings
    are `rgb`'s, with new weights; the first layer takes the input's uint8 clips
    (`kvideo.inputs.input_channels`): `ClipPreprocessing` for flow, `RGBDifference` for
    RGB difference, at `rgb`'s crop size.

    Args:
        rgb: a `VideoClassifier` on RGB frames with its preprocessing layer.
        input_name: ``"flow"`` or ``"rgb_diff"`` (``"video"`` returns a copy).
        stack_length: L, flow fields or frame differences per sampled frame.
        mean, std: normalisation of the input's [0, 1] values. Default: for flow, codes to
            displacements in pixels at TSN's bound of 20 px (`kvideo.inputs.flow_statistics`;
            pass the dataset's bound if it differs); for RGB difference, `rgb`'s own (its
            frames are normalised as the RGB network's, then differenced).
        initialize, preserve_scale: see `cross_modality_backbone`.
        name: the new model's name (default: ``<rgb name>_<input_name>``).
    """
    if not isinstance(rgb, VideoClassifier) or rgb.preprocessing is None:
        raise ValueError(
            "`rgb` must be a VideoClassifier with its preprocessing layer "
            f"(build_video_classifier's default). Received: {rgb!r}"
        )
    channels = named_inputs.input_channels(input_name, stack_length)
    layer_class = ClipPreprocessing
    if input_name == named_inputs.RGB_DIFF:
        channels -= 3  # the backbone sees the L differences of the L + 1 frames
        layer_class = RGBDifference
    if mean is None or std is None:
        if input_name == named_inputs.FLOW:
            default_mean, default_std = named_inputs.flow_statistics()
        else:
            default_mean, default_std = rgb.preprocessing.mean, rgb.preprocessing.std
        mean = default_mean if mean is None else mean
        std = default_std if std is None else std
    backbone = cross_modality_backbone(
        rgb.backbone, channels, initialize=initialize, preserve_scale=preserve_scale
    )
    return VideoClassifier(
        backbone,
        rgb.num_classes,
        head=rgb.head,
        head_args=rgb.head_args,
        dropout=rgb.dropout,
        activation=rgb.activation,
        preprocessing=layer_class(rgb.preprocessing.crop_size, mean, std, name="preprocessing"),
        input_name=input_name,
        num_frames=rgb.num_frames,
        name=name or f"{rgb.name}_{input_name}",
    )
