"""C3D backbone (Tran et al. 2015, "Learning Spatiotemporal Features with 3D CNNs").

C3D's fully connected layers fc6 and fc7 are part of the network: its features are their
activations. So the backbone is C3D without its classifier fc8: it maps a clip to the
4096 ReLU activations of fc7, and the classifier's ``"pool"`` head on that vector is
dropout and a Dense layer, i.e. C3D's own dropout + fc8. With ``include_fc=False`` it
stops at pool5 and returns the feature map, for any head that looks at space and time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from kvideo.layers.pooling import Pooling3D

#: Input size of the paper (frames, height, width), which fc6's 8192 inputs are sized for.
PAPER_CLIP = (16, 112, 112)
#: Layer names of the eight convolutions, in stages of 1, 1, 2, 2, 2 before pool1..pool5.
CONV_NAMES = ("conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b")
_STAGES = (("conv1",), ("conv2",), ("conv3a", "conv3b"), ("conv4a", "conv4b"), ("conv5a", "conv5b"))


def _positive_ints(value: Any, count: int, arg: str) -> tuple[int, ...]:
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or len(value) != count
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
    ):
        raise ValueError(f"`{arg}` must be {count} positive ints. Received: {arg}={value!r}")
    return tuple(int(v) for v in value)


@keras.saving.register_keras_serializable(package="kvideo")
class C3DBackbone(keras.Model):
    """C3D up to fc7 (functional model), builtin TFLite ops only.

    Eight ``3x3x3`` convolutions (stride 1, ``"same"`` padding, bias, ReLU) in five
    stages, each followed by a max pooling: pool1 ``1x2x2`` (keeps the frames), pool2-5
    ``2x2x2``; pool5 pads height and width by 1 on both sides, as the PyTorch port of the
    Sports-1M model does. Poolings round up (Caffe's ``ceil`` mode, where C3D was
    trained): a window that runs past the end covers what is left, so short clips keep
    one frame. At 16x112x112 every pooling divides exactly and this *is* the port's
    network. Then flatten, fc6 (ReLU, dropout) and fc7 (ReLU).

    Shapes: ``(B, 16, 112, 112, 3)`` -> pool5 ``(B, 1, 4, 4, 512)`` -> ``(B, 4096)``
    (``include_fc=False``: the pool5 map).

    Args:
        conv_widths: filters of the eight convolutions (``64, 128, 256, 256, 512, 512,
            512, 512``).
        fc_width: units of fc6 and fc7 (4096).
        include_fc: end with fc6/fc7 (True) or at pool5.
        dropout: dropout after fc6 (the one after fc7 is the classifier head's).
        input_shape: ``(T, H, W, C)``. fc6 is sized for one clip size, so the shape is
            fixed: a ``None`` takes the paper's value (16 frames, 112 pixels).
        dtype: dtype policy of every layer (``None``: the global policy).
        **kwargs: ``name``/``trainable`` for ``keras.Model``.
    """

    def __init__(
        self,
        conv_widths: Sequence[int] = (64, 128, 256, 256, 512, 512, 512, 512),
        fc_width: int = 4096,
        include_fc: bool = True,
        dropout: float = 0.5,
        input_shape: Sequence[int | None] = (*PAPER_CLIP, 3),
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        conv_widths = _positive_ints(conv_widths, len(CONV_NAMES), "conv_widths")
        if isinstance(fc_width, bool) or not isinstance(fc_width, int) or fc_width < 1:
            raise ValueError(f"`fc_width` must be a positive int. Received: {fc_width=}")
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not (0 <= dropout < 1)
        ):
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "`input_shape` must be (frames, height, width, channels) with a known "
                f"channel count. Received: input_shape={input_shape}"
            )
        clip_shape = tuple(
            default if d is None else d
            for d, default in zip(input_shape, (*PAPER_CLIP, None), strict=True)
        )
        _positive_ints(clip_shape, 4, "input_shape")

        # === Functional model ===
        inputs = keras.Input(shape=clip_shape, name="video")
        x = inputs
        widths = iter(conv_widths)
        for stage, names in enumerate(_STAGES, start=1):
            for name in names:
                x = layers.Conv3D(
                    next(widths), 3, padding="same", activation="relu", name=name, dtype=dtype
                )(x)
            if stage == 1:
                pool = Pooling3D((1, 2, 2), padding="same", name="pool1", dtype=dtype)
            elif stage < 5:
                # "same" with a 2-window and stride 2 pads one position at the end of an
                # odd axis: Caffe's ceil mode.
                pool = Pooling3D(2, padding="same", name=f"pool{stage}", dtype=dtype)
            else:
                # The port pads space by 1 (7x7 -> 4x4 at 112 px); ceil mode in time.
                frames = int(x.shape[1])
                pads = ((0, frames % 2), (1, 1), (1, 1))
                pool = Pooling3D(2, padding=pads, name="pool5", dtype=dtype)
            x = pool(x)
        if include_fc:
            x = layers.Flatten(name="flatten", dtype=dtype)(x)
            x = layers.Dense(fc_width, activation="relu", name="fc6", dtype=dtype)(x)
            x = layers.Dropout(dropout, name="fc6_dropout", dtype=dtype)(x)
            x = layers.Dense(fc_width, activation="relu", name="fc7", dtype=dtype)(x)
        super().__init__(inputs=inputs, outputs=x, **kwargs)

        # === Config ===
        self.conv_widths = conv_widths
        self.fc_width = fc_width
        self.include_fc = bool(include_fc)
        self.dropout = float(dropout)
        self.clip_shape = input_shape  # `input_shape` is a read-only Model property.
        # A functional model does not keep a `dtype` passed to its constructor.
        self._layers_dtype = None if dtype is None else keras.dtype_policies.get(dtype)

    @property
    def num_features(self) -> int:
        """Size of the output features (fc7's units, or pool5's channels)."""
        return self.fc_width if self.include_fc else self.conv_widths[-1]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        if self._layers_dtype is not None:
            config["dtype"] = keras.dtype_policies.serialize(self._layers_dtype)
        config.update(
            {
                "conv_widths": list(self.conv_widths),
                "fc_width": self.fc_width,
                "include_fc": self.include_fc,
                "dropout": self.dropout,
                "input_shape": list(self.clip_shape),
            }
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> C3DBackbone:
        return cls(**config)
