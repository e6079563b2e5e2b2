"""TimeSformer's layers: space-time tokens, the divided space-time block, frame averaging.

Tokens of a clip of ``T`` frames with ``N`` patches each are kept as one sequence
``(B, 1 + T * N, D)``: the class token, then the patches frame by frame (index
``1 + t * N + n``). The reference implementations order the patches the other way
(``n * T + t``); every operation here either attends within a frame, within a patch
position, or over all tokens, so the order changes no output.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from kvideo.layers.transformer import MultiHeadSelfAttention, ViTBlock


def _frames(num_frames: Any) -> int:
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"`num_frames` must be a positive int. Received: {num_frames=}")
    return num_frames


def _patches_per_frame(tokens: int | None, num_frames: int) -> int:
    if tokens is None or (tokens - 1) % num_frames:
        raise ValueError(
            f"Expected a class token and {num_frames} frames of patches, (batch, 1 + "
            f"{num_frames} * patches, width). Received: {tokens} tokens"
        )
    return (tokens - 1) // num_frames


@keras.saving.register_keras_serializable(package="kvideo")
class SpaceTimeTokens(layers.Layer):
    """Per-frame tokens to one space-time sequence, with learned time embeddings.

    ``(B * T, 1 + N, D)`` (each frame: class token, then its patches, position
    embeddings already added) -> ``(B, 1 + T * N, D)``: one class token per clip (the
    frames' class tokens are all the same vector) and the patches of every frame, each
    plus the embedding of its frame (weight ``embedding``, ``(1, T, D)``).
    """

    def __init__(self, num_frames: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_frames = _frames(num_frames)

    def build(self, input_shape):
        self.embedding = self.add_weight(
            shape=(1, self.num_frames, input_shape[-1]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="embedding",
        )

    def call(self, tokens):
        frames, width = self.num_frames, tokens.shape[-1]
        patches = tokens.shape[1] - 1
        clips = ops.reshape(tokens, (-1, frames, patches + 1, width))
        cls = clips[:, 0, :1, :]
        time = ops.cast(self.embedding, tokens.dtype)[:, :, None, :]
        patches_in_time = ops.reshape(clips[:, :, 1:, :] + time, (-1, frames * patches, width))
        return ops.concatenate([cls, patches_in_time], axis=1)

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] // self.num_frames
        return (batch, 1 + self.num_frames * (input_shape[1] - 1), input_shape[2])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["num_frames"] = self.num_frames
        return config


@keras.saving.register_keras_serializable(package="kvideo")
class FrameAverage(layers.Layer):
    """The space-only model's readout: ``(B * T, L, D) -> (B, L, D)``, mean over frames."""

    def __init__(self, num_frames: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_frames = _frames(num_frames)

    def call(self, tokens):
        shape = (-1, self.num_frames, tokens.shape[1], tokens.shape[2])
        return ops.mean(ops.reshape(tokens, shape), axis=1)

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] // self.num_frames
        return (batch, *input_shape[1:])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["num_frames"] = self.num_frames
        return config


@keras.saving.register_keras_serializable(package="kvideo")
class DividedSpaceTimeBlock(ViTBlock):
    """TimeSformer's divided space-time attention block: ``(B, 1 + T*N, D)`` -> same.

    1. Temporal attention: each patch position attends over the ``T`` frames
       (``temporal_norm``, ``temporal_attention``), then a linear layer
       (``temporal_dense``) and a residual connection. The class token takes no part.
    2. Spatial attention: within each frame, the class token and the ``N`` patches
       attend to each other (``norm1``, ``attention``); the class token's ``T`` outputs
       are averaged; residual connection.
    3. The MLP of a ViT block (``norm2``, ``mlp_fc1``, ``mlp_fc2``), residual.

    Drop path follows the reference implementation: the temporal branch draws its mask
    per patch position of each clip, the spatial branch per frame, the MLP per clip.

    Args:
        num_frames: ``T``.
        **kwargs: `ViTBlock`'s arguments.
    """

    def __init__(self, num_frames: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_frames = _frames(num_frames)

    def build(self, input_shape):
        super().build(input_shape)
        _patches_per_frame(input_shape[1], self.num_frames)
        width, policy = input_shape[-1], self.dtype_policy
        frame_tokens = (None, self.num_frames, width)
        self.temporal_norm = layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="temporal_norm", dtype=policy
        )
        self.temporal_attention = MultiHeadSelfAttention(
            self.num_heads,
            key_bias=self.key_bias,
            dropout=self.attention_dropout,
            name="temporal_attention",
            dtype=policy,
        )
        self.temporal_dense = layers.Dense(width, name="temporal_dense", dtype=policy)
        for layer in (self.temporal_norm, self.temporal_attention, self.temporal_dense):
            layer.build(frame_tokens)

    def drop_path_rows(self, x):
        clips = ops.shape(x)[0]
        patches = _patches_per_frame(x.shape[1], self.num_frames)
        return (clips * patches, clips * self.num_frames, clips)

    def forward(self, x, keeps, training=None):
        temporal_keep, spatial_keep, mlp_keep = keeps
        frames, width = self.num_frames, x.shape[-1]
        patches = _patches_per_frame(x.shape[1], frames)
        cls, tokens = x[:, :1, :], x[:, 1:, :]

        # Temporal attention: one sequence of T tokens per patch position.
        by_position = ops.transpose(ops.reshape(tokens, (-1, frames, patches, width)), (0, 2, 1, 3))
        by_position = ops.reshape(by_position, (-1, frames, width))
        temporal = self.temporal_attention(self.temporal_norm(by_position), training=training)
        if temporal_keep is not None:
            temporal = temporal * temporal_keep
        temporal = ops.transpose(ops.reshape(temporal, (-1, patches, frames, width)), (0, 2, 1, 3))
        # The reference applies drop path before this linear layer (its bias always adds).
        tokens = tokens + self.temporal_dense(ops.reshape(temporal, (-1, frames * patches, width)))

        # Spatial attention: one sequence per frame, the clip's class token first.
        frame_cls = ops.reshape(ops.repeat(cls, frames, axis=1), (-1, 1, width))
        by_frame = ops.concatenate([frame_cls, ops.reshape(tokens, (-1, patches, width))], axis=1)
        spatial = self.attention(self.norm1(by_frame), training=training)
        if spatial_keep is not None:
            spatial = spatial * spatial_keep
        spatial_cls = ops.mean(ops.reshape(spatial[:, 0, :], (-1, frames, width)), axis=1)
        spatial_tokens = ops.reshape(spatial[:, 1:, :], (-1, frames * patches, width))
        x = ops.concatenate([cls, tokens], axis=1) + ops.concatenate(
            [spatial_cls[:, None, :], spatial_tokens], axis=1
        )
        return self.residual(x, self.mlp_fc2(self.mlp_fc1(self.norm2(x))), mlp_keep)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["num_frames"] = self.num_frames
        return config
