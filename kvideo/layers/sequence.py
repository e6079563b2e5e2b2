"""Layers that treat a clip as a sequence of frames, for per-frame networks and heads.

All of them lower to builtin TFLite ops (RESHAPE, MEAN, MAX, MUL, CONCATENATION, ADD).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

CONSENSUS_MODES = ("avg", "max", "weighted")


@keras.saving.register_keras_serializable(package="kvideo")
class FramesToBatch(keras.layers.Layer):
    """Folds the frames into the batch: ``(B, T, ...) -> (B * T, ...)``.

    With :class:`BatchToFrames` it runs a 2D network on every frame of a clip as one
    batch (one large convolution per layer, not ``T`` small ones as ``TimeDistributed``
    does).
    """

    def call(self, clips):
        inner = [
            d if d is not None else ops.shape(clips)[i + 2] for i, d in enumerate(clips.shape[2:])
        ]
        return ops.reshape(clips, (-1, *inner))

    def compute_output_shape(self, input_shape):
        batch, frames = input_shape[0], input_shape[1]
        merged = None if batch is None or frames is None else batch * frames
        return (merged, *input_shape[2:])


@keras.saving.register_keras_serializable(package="kvideo")
class BatchToFrames(keras.layers.Layer):
    """Unfolds per-frame outputs back into clips: ``[(B * T, ...), (B, T, ...)] -> (B, T, ...)``.

    The second input is the clip tensor the frames came from; only its batch size and
    frame count are used.
    """

    def call(self, inputs):
        features, clips = inputs
        shape = ops.shape(clips)
        inner = [
            d if d is not None else ops.shape(features)[i + 1]
            for i, d in enumerate(features.shape[1:])
        ]
        return ops.reshape(features, (shape[0], shape[1], *inner))

    def compute_output_shape(self, input_shape):
        features, clips = input_shape
        return (clips[0], clips[1], *features[1:])


@keras.saving.register_keras_serializable(package="kvideo")
class SpatialAverage(keras.layers.Layer):
    """Averages a spatio-temporal feature map over space: ``(B, T, H, W, F) -> (B, T, F)``."""

    def call(self, features):
        return ops.mean(features, axis=(2, 3))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[4])


@keras.saving.register_keras_serializable(package="kvideo")
class SegmentConsensus(keras.layers.Layer):
    """TSN's segmental consensus: per-segment scores ``(B, T, C)`` -> clip scores ``(B, C)``.

    Modes (Wang et al. 2016): ``"avg"`` (the mean over segments; with per-frame logits
    this is also "late fusion"), ``"max"`` (the maximum per class), ``"weighted"`` (a
    learned weight per segment, initialised to ``1 / T`` so training starts from the
    average; needs a fixed number of segments).
    """

    def __init__(self, mode: str = "avg", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in CONSENSUS_MODES:
            raise ValueError(f"`mode` must be one of {CONSENSUS_MODES}. Received: mode={mode!r}")
        self.mode = mode

    def build(self, input_shape):
        if self.mode == "weighted":
            segments = input_shape[1]
            if segments is None:
                raise ValueError(
                    "Weighted consensus learns one weight per segment, so the number of "
                    f"segments must be fixed. Received: input_shape={input_shape}"
                )
            self.segment_weights = self.add_weight(
                shape=(segments,),
                initializer=keras.initializers.Constant(1.0 / segments),
                name="segment_weights",
            )

    def call(self, scores):
        if self.mode == "avg":
            return ops.mean(scores, axis=1)
        if self.mode == "max":
            return ops.max(scores, axis=1)
        weights = ops.cast(self.segment_weights, scores.dtype)
        return ops.sum(scores * weights[None, :, None], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["mode"] = self.mode
        return config


@keras.saving.register_keras_serializable(package="kvideo")
class ClassToken(keras.layers.Layer):
    """Prepends a learned token to a sequence: ``(B, N, D) -> (B, N + 1, D)``."""

    def build(self, input_shape):
        self.token = self.add_weight(
            shape=(1, 1, input_shape[-1]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="token",
        )

    def call(self, tokens):
        batch = ops.shape(tokens)[0]
        token = ops.broadcast_to(ops.cast(self.token, tokens.dtype), (batch, 1, tokens.shape[-1]))
        return ops.concatenate([token, tokens], axis=1)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])


@keras.saving.register_keras_serializable(package="kvideo")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding per position: ``(B, N, D) -> (B, N, D)``; N must be fixed."""

    def build(self, input_shape):
        if input_shape[1] is None:
            raise ValueError(
                "Learned position embeddings need a fixed sequence length (a fixed number "
                f"of frames). Received: input_shape={input_shape}"
            )
        # Unit scale, as the features they are added to: CNN features are O(1), not the
        # ViT-style 0.02 of freshly initialised patch embeddings. At 0.02 the order of
        # frames was lost next to the features and the Transformer head stayed at the
        # order-blind bound on motion_demo (0.33-0.5 top-1 after 6 epochs); at 1.0 it
        # reached 0.86 (tests/test_per_frame.py).
        self.embedding = self.add_weight(
            shape=(1, input_shape[1], input_shape[2]),
            initializer=keras.initializers.TruncatedNormal(stddev=1.0),
            name="embedding",
        )

    def call(self, tokens):
        return tokens + ops.cast(self.embedding, tokens.dtype)


@keras.saving.register_keras_serializable(package="kvideo")
class WeightedAverage(keras.layers.Layer):
    """Fixed-weight average of same-shaped tensors (score fusion of several streams).

    ``sum_i w_i * x_i / sum_i w_i``; the weights are constants, not trained.
    """

    def __init__(self, fusion_weights: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        fusion_weights = tuple(float(w) for w in fusion_weights)
        if not fusion_weights or any(w < 0 for w in fusion_weights) or sum(fusion_weights) <= 0:
            raise ValueError(
                "`fusion_weights` must be non-negative with a positive sum. "
                f"Received: {fusion_weights=}"
            )
        self.fusion_weights = fusion_weights

    def call(self, inputs):
        if len(inputs) != len(self.fusion_weights):
            raise ValueError(
                f"WeightedAverage has {len(self.fusion_weights)} weights but got "
                f"{len(inputs)} inputs."
            )
        total = sum(self.fusion_weights)
        return sum(x * (w / total) for x, w in zip(inputs, self.fusion_weights, strict=True))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["fusion_weights"] = list(self.fusion_weights)
        return config
