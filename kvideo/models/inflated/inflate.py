"""Inflation (Carreira and Zisserman 2017): a 2D CNN and its weights made into a 3D CNN.

`inflate` rebuilds a functional 2D Keras network (``keras.applications`` models,
kvideo's `bn_inception`, `inception_v1_bn`, `ResNet2DBackbone`, ...) layer by layer on
clips ``(B, T, H, W, C)``:

* ``Conv2D`` ``(kh, kw)`` -> ``Conv3D`` ``(kt, kh, kw)``; the 2D kernel is repeated ``kt``
  times along time and divided by ``kt`` (``init="repeat"``, the paper's), or put in the
  centre slice with zeros elsewhere (``init="center"``). Either way a clip of one frame
  repeated gives every frame the 2D network's response (the "boring video" fixed point).
* ``MaxPooling2D`` / ``AveragePooling2D`` -> `Pooling3D` (builtin TFLite ops only);
* global poolings pool over time too; ``ZeroPadding2D`` pads space only;
* channel-wise and element-wise layers (BN, activations, ``Add``, ``Concatenate``,
  ``Multiply``, ``Rescaling``, ...) are rebuilt from their configs (positive axes shifted
  past the new time axis) with their weights;
* any other layer on frames (``DepthwiseConv2D``, ...) runs on every frame (frames folded
  into the batch), unchanged.

Time is padded "same" (TensorFlow's rule) around every temporal kernel, with zeros as
I3D does (``temporal_padding="zero"``), or with copies of the edge frames
(``"replicate"``), which makes the boring-video identity hold at the clip's ends too.

Temporal kernel sizes and strides are chosen per layer name (`time_kernels`,
`time_strides`); layers not named get `default_time_kernel`: ``"cube"`` (a square
``N x N`` kernel or pool becomes ``N x N x N``, I3D's rule) or ``"flat"`` (1: a 2D network
on every frame, C2D). `insert_after` adds blocks after chosen layers (e.g. non-local blocks
after residual blocks, or a temporal pooling).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import layers

from kvideo.layers.pooling import Pooling3D
from kvideo.layers.sequence import BatchToFrames, FramesToBatch
from kvideo.models.inflated.layers import PADDING_MODES, SamePadding3D

INITS = ("repeat", "center")
DEFAULT_TIME_KERNELS = ("cube", "flat")

# Layers that act on the channel axis or element-wise: rebuilt on clips as they are.
_POINTWISE = (
    layers.BatchNormalization,
    layers.LayerNormalization,
    layers.Activation,
    layers.ReLU,
    layers.LeakyReLU,
    layers.ELU,
    layers.Softmax,
    layers.Add,
    layers.Subtract,
    layers.Multiply,
    layers.Maximum,
    layers.Minimum,
    layers.Average,
    layers.Concatenate,
    layers.Dropout,
    layers.Rescaling,
    layers.Normalization,
)


def inflate(
    model: keras.Model,
    *,
    num_frames: int | None = None,
    time_kernels: Mapping[str, int] | None = None,
    time_strides: Mapping[str, int] | None = None,
    default_time_kernel: str = "cube",
    init: str = "repeat",
    temporal_padding: str = "zero",
    insert_after: Mapping[str, Callable[[Any, str], Any]] | None = None,
    input_name: str = "clips",
    name: str | None = None,
) -> keras.Model:
    """The 3D network inflated from 2D `model`, with its weights copied as in I3D.

    ``(B, H, W, C) -> (B, H', W', F)`` becomes ``(B, T, H, W, C) -> (B, T', H', W', F)``.

    Args:
        model: a functional 2D network with one input of rank 4.
        num_frames: ``T`` of the input clips; ``None`` for any length.
        time_kernels: temporal kernel size by layer name (convolutions and poolings).
        time_strides: temporal stride by layer name (default 1).
        default_time_kernel: for the layers not in `time_kernels`: ``"cube"`` (the
            kernel's height, when square) or ``"flat"`` (1).
        init: ``"repeat"`` (2D kernel / kt in every slice) or ``"center"`` (2D kernel in
            the centre slice, zeros elsewhere).
        temporal_padding: ``"zero"`` or ``"replicate"`` (edge frames copied).
        insert_after: ``{layer name: block}``; ``block(x, name) -> x`` is called on that
            layer's (inflated) output and its result replaces it downstream.
        input_name: the 3D network's input name.
        name: the 3D network's name (default: ``f"{model.name}_inflated"``).

    Raises:
        ValueError: for unknown names in `time_kernels`, `time_strides` or
            `insert_after`, bad choices, or layers that cannot be inflated (grouped or
            temporally kernelled depthwise convolutions, nested models).
    """
    if init not in INITS:
        raise ValueError(f"`init` must be one of {INITS}. Received: init={init!r}")
    if temporal_padding not in PADDING_MODES:
        raise ValueError(
            f"`temporal_padding` must be one of {PADDING_MODES}. "
            f"Received: temporal_padding={temporal_padding!r}"
        )
    if default_time_kernel not in DEFAULT_TIME_KERNELS:
        raise ValueError(
            f"`default_time_kernel` must be one of {DEFAULT_TIME_KERNELS}. "
            f"Received: default_time_kernel={default_time_kernel!r}"
        )
    if not isinstance(model, keras.Model) or len(model.inputs) != 1:
        raise ValueError(f"`model` must be a functional model with one input. Received: {model!r}")
    if len(model.inputs[0].shape) != 4:
        raise ValueError(
            "`model` must take frames (batch, height, width, channels). Received: input "
            f"shape {tuple(model.inputs[0].shape)}"
        )
    if isinstance(model, keras.Sequential):
        # The same layers as a functional graph, which Keras can run layer by layer.
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    time_kernels, time_strides = dict(time_kernels or {}), dict(time_strides or {})
    insert_after = dict(insert_after or {})
    names = {layer.name for layer in model.layers}
    for arg, mapping in (
        ("time_kernels", time_kernels),
        ("time_strides", time_strides),
        ("insert_after", insert_after),
    ):
        unknown = sorted(set(mapping) - names)
        if unknown:
            raise ValueError(f"`{arg}` names layers that {model.name!r} lacks: {unknown}")

    inflater = _Inflater(time_kernels, time_strides, default_time_kernel, init, temporal_padding)
    clips = keras.Input((num_frames, *model.inputs[0].shape[1:]), name=input_name)

    def operation_fn(layer: keras.layers.Layer) -> Callable[..., Any]:
        def apply(*args: Any, **kwargs: Any) -> Any:
            y = inflater.apply(layer, *args, **kwargs)
            if layer.name in insert_after:
                y = insert_after[layer.name](y, layer.name)
            return y

        return apply

    # Keras runs the 2D graph in topological order, calling our function per layer.
    outputs = model._run_through_graph(clips, operation_fn=operation_fn)
    return keras.Model(clips, outputs, name=name or f"{model.name}_inflated")


class _Inflater:
    """Builds the 3D counterpart of each 2D layer and copies its weights."""

    def __init__(self, time_kernels, time_strides, default, init, temporal_padding):
        self.time_kernels = time_kernels
        self.time_strides = time_strides
        self.default = default
        self.init = init
        self.temporal_padding = temporal_padding

    def time_kernel(self, layer: keras.layers.Layer, spatial: Sequence[int]) -> int:
        if layer.name in self.time_kernels:
            return int(self.time_kernels[layer.name])
        if self.default == "cube" and spatial[0] == spatial[1]:
            return int(spatial[0])
        return 1

    def apply(self, layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
        if isinstance(layer, keras.Model):
            raise ValueError(
                f"Nested models cannot be inflated; flatten {layer.name!r} into its parent."
            )
        if isinstance(layer, layers.DepthwiseConv2D) or isinstance(layer, layers.SeparableConv2D):
            if self.time_kernels.get(layer.name, 1) != 1:
                raise ValueError(
                    f"{layer.name!r}: depthwise convolutions are inflated with a temporal "
                    "kernel of 1 only (per frame)."
                )
            return self._per_frame(layer, *args, **kwargs)
        if isinstance(layer, layers.Conv2D) and type(layer) is layers.Conv2D:
            return self._conv(layer, *args, **kwargs)
        if isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
            return self._pool(layer, *args, **kwargs)
        if isinstance(layer, (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)):
            cls = (
                layers.GlobalAveragePooling3D
                if isinstance(layer, layers.GlobalAveragePooling2D)
                else layers.GlobalMaxPooling3D
            )
            return cls(keepdims=layer.keepdims, name=layer.name)(*args, **kwargs)
        if isinstance(layer, layers.ZeroPadding2D):
            padding = ((0, 0), *(tuple(p) for p in layer.padding))
            return layers.ZeroPadding3D(padding, name=layer.name)(*args, **kwargs)
        if isinstance(layer, layers.Reshape):
            return self._reshape(layer, *args, **kwargs)
        if isinstance(layer, _POINTWISE):
            return self._pointwise(layer, *args, **kwargs)
        return self._per_frame(layer, *args, **kwargs)

    def _conv(self, layer: layers.Conv2D, x: Any, **kwargs: Any) -> Any:
        if layer.groups != 1:
            raise ValueError(f"{layer.name!r}: grouped convolutions cannot be inflated.")
        kh, kw = layer.kernel_size
        kt = self.time_kernel(layer, (kh, kw))
        st = int(self.time_strides.get(layer.name, 1))
        kernel_size = (kt, kh, kw)
        strides = (st, *layer.strides)
        dilation = (1, *layer.dilation_rate)
        config = layer.get_config()
        if layer.padding == "same" and self.temporal_padding == "zero":
            padding = "same"  # TF's "same" on all three axes: I3D's padding
        elif layer.padding == "valid" and (kt, st) == (1, 1):
            padding = "valid"
        else:
            x = SamePadding3D(
                kernel_size,
                strides,
                dilation,
                time_mode=self.temporal_padding,
                pad_space=layer.padding == "same",
                name=f"{layer.name}_pad3d",
            )(x)
            padding = "valid"
        for key in ("kernel_size", "strides", "dilation_rate", "padding", "groups", "name"):
            config.pop(key, None)
        conv = layers.Conv3D(
            kernel_size=kernel_size,
            strides=strides,
            dilation_rate=dilation,
            padding=padding,
            name=layer.name,
            **config,
        )
        y = conv(x, **kwargs)
        weights = layer.get_weights()
        weights[0] = inflate_kernel(weights[0], kt, self.init)
        conv.set_weights(weights)
        return y

    def _pool(self, layer: keras.layers.Layer, x: Any, **kwargs: Any) -> Any:
        kh, kw = layer.pool_size
        kt = self.time_kernel(layer, (kh, kw))
        st = int(self.time_strides.get(layer.name, 1))
        pool = Pooling3D(
            (kt, kh, kw),
            (st, *layer.strides),
            padding=layer.padding,  # space, as the 2D layer pooled it
            mode="max" if isinstance(layer, layers.MaxPooling2D) else "average",
            time_padding="same",
            name=layer.name,
        )
        return pool(x, **kwargs)

    def _reshape(self, layer: layers.Reshape, x: Any, **kwargs: Any) -> Any:
        target = tuple(layer.target_shape)
        if len(x.shape) == 2 and len(target) == 3:
            # A pooled vector reshaped to (1, 1, C) (squeeze-excitation): (1, 1, 1, C).
            return layers.Reshape((1, *target), name=layer.name)(x, **kwargs)
        if len(x.shape) == 5:
            return self._per_frame(layer, x, **kwargs)
        return _clone(layer)(x, **kwargs)

    def _pointwise(self, layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
        config = layer.get_config()
        first = args[0][0] if isinstance(args[0], (list, tuple)) else args[0]
        if len(first.shape) == 5 and "axis" in config:
            # The 2D layer's positive axes count from a rank-4 tensor; time is axis 1 now.
            config["axis"] = _shift_axes(config["axis"])
        new = layer.__class__.from_config(config)
        y = new(*args, **kwargs)
        if layer.weights:
            new.set_weights(layer.get_weights())
        return y

    def _per_frame(self, layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
        tensors = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
        clips = next((t for t in tensors if len(t.shape) == 5), None)
        if clips is None:
            return _copy(layer, _clone(layer), *args, **kwargs)
        folded = [
            FramesToBatch(name=f"{layer.name}_fold{i}")(t) if len(t.shape) == 5 else t
            for i, t in enumerate(tensors)
        ]
        new = _clone(layer)
        inner = folded if isinstance(args[0], (list, tuple)) else folded[0]
        y = _copy(layer, new, inner, *args[1:], **kwargs)
        return BatchToFrames(name=f"{layer.name}_unfold")([y, clips])


def _clone(layer: keras.layers.Layer) -> keras.layers.Layer:
    return layer.__class__.from_config(layer.get_config())


def _copy(old: keras.layers.Layer, new: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
    y = new(*args, **kwargs)
    if old.weights:
        new.set_weights(old.get_weights())
    return y


def _shift_axes(axis: Any) -> Any:
    if isinstance(axis, (list, tuple)):
        return type(axis)(_shift_axes(a) for a in axis)
    return axis + 1 if isinstance(axis, int) and axis > 0 else axis


def inflate_kernel(kernel: np.ndarray, time_kernel: int, init: str = "repeat") -> np.ndarray:
    """A 2D kernel ``(kh, kw, in, out)`` as a 3D one ``(kt, kh, kw, in, out)``.

    ``"repeat"``: every slice is ``kernel / kt`` (I3D); ``"center"``: the centre slice
    (``kt // 2``) is `kernel`, the others zero. A constant clip's response is unchanged.
    """
    kernel = np.asarray(kernel)
    if init == "repeat":
        return np.repeat(kernel[None] / time_kernel, time_kernel, axis=0).astype(kernel.dtype)
    if init == "center":
        out = np.zeros((time_kernel, *kernel.shape), kernel.dtype)
        out[time_kernel // 2] = kernel
        return out
    raise ValueError(f"`init` must be one of {INITS}. Received: init={init!r}")
