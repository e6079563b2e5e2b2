"""TimeSformer (Bertasius, Wang and Torresani 2021): a ViT on the patches of every frame.

    clips (B, T, H, W, C)
      -> frames folded into the batch -> 16x16 patches, linear embedding (a Conv2D)
      -> class token + learned position embeddings (per frame)
      -> learned time embeddings; one sequence (B, 1 + T*N, D)     [not for space-only]
      -> num_layers blocks of the chosen attention
      -> [space-only: average over frames] -> LayerNorm -> the class token (B, D)

Attention types (the paper's ablation, Table 1):

* ``"divided_space_time"``: temporal then spatial attention in every block (the paper's
  TimeSformer; `DividedSpaceTimeBlock`);
* ``"joint_space_time"``: one attention over all ``1 + T*N`` tokens (`ViTBlock`);
* ``"space_only"``: every frame on its own (no time embeddings), the frames' final tokens
  averaged before the last LayerNorm.

The backbone ends with the class token's features; the classifier's ``"pool"`` head
adds dropout and the Dense layer, so the model is TimeSformer with its linear head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from kvideo.layers.sequence import ClassToken, FramesToBatch, PositionEmbedding
from kvideo.layers.transformer import (
    BackboneArguments,
    ViTBlock,
    check_vit_dims,
    drop_path_rates,
    token_grid,
)
from kvideo.models.timesformer.blocks import DividedSpaceTimeBlock, FrameAverage, SpaceTimeTokens

ATTENTION_TYPES = ("divided_space_time", "joint_space_time", "space_only")


def class_readout(tokens: Any) -> Any:
    """``(B, L, D) -> (B, D)``: the class token (position 0), with stock layers only."""
    length, width = tokens.shape[1], tokens.shape[2]
    x = layers.Cropping1D((0, length - 1), name="class_output")(tokens)
    return layers.Reshape((width,), name="class_features")(x)


@keras.saving.register_keras_serializable(package="kvideo")
class TimeSformerBackbone(BackboneArguments, keras.Model):
    """TimeSformer without its classifier: clips ``(B, T, H, W, C)`` -> ``(B, hidden_dim)``.

    Shapes for TimeSformer-B at 8x224x224: 8 frames of 14x14 = 196 patches, 1569 tokens
    of width 768 (divided and joint attention), 12 blocks.

    Args:
        patch_size: side of the square patches (16).
        hidden_dim: token width (768).
        num_layers: blocks (12).
        num_heads: attention heads (12).
        mlp_dim: hidden width of the blocks' MLP (3072).
        attention_type: one of `ATTENTION_TYPES`.
        layer_norm_epsilon: epsilon of every LayerNorm (1e-6, as the reference).
        drop_path_rate: stochastic depth of the last block; block ``i`` of ``L`` drops
            with ``rate * i / (L - 1)``. Training only.
        attention_dropout: dropout on attention probabilities (0 in the paper).
        gradient_checkpointing: recompute each block in the backward pass instead of
            keeping its activations (see `kvideo.layers.transformer`).
        num_frames, image_size: the clip size when `input_shape` leaves it ``None``.
        input_shape: ``(T, H, W, C)``; fixed once built (the embeddings are sized to it),
            ``H`` and ``W`` multiples of `patch_size`.
        **kwargs: ``name``/``trainable``/``dtype`` for ``keras.Model``.
    """

    def __init__(
        self,
        patch_size: int = 16,
        hidden_dim: int = 768,
        num_layers: int = 12,
        num_heads: int = 12,
        mlp_dim: int = 3072,
        attention_type: str = "divided_space_time",
        layer_norm_epsilon: float = 1e-6,
        drop_path_rate: float = 0.0,
        attention_dropout: float = 0.0,
        gradient_checkpointing: bool = False,
        num_frames: int = 8,
        image_size: int = 224,
        input_shape: Sequence[int | None] | None = None,
        **kwargs: Any,
    ) -> None:
        check_vit_dims(hidden_dim, num_layers, num_heads, mlp_dim)
        if attention_type not in ATTENTION_TYPES:
            raise ValueError(
                f"`attention_type` must be one of {ATTENTION_TYPES}. "
                f"Received: attention_type={attention_type!r}"
            )
        clip_shape, (frames, rows, cols) = token_grid(
            input_shape, num_frames, image_size, patch_size
        )

        # === Functional model ===
        clips = keras.Input(clip_shape, name="clips")
        x = FramesToBatch(name="frames_to_batch")(clips)
        x = layers.Conv2D(hidden_dim, patch_size, strides=patch_size, name="patch_embedding")(x)
        x = layers.Reshape((rows * cols, hidden_dim), name="patch_tokens")(x)
        x = ClassToken(name="class_token")(x)
        x = PositionEmbedding(name="position_embedding")(x)
        if attention_type != "space_only":
            x = SpaceTimeTokens(frames, name="time_embedding")(x)
        block_args = {
            "num_heads": num_heads,
            "mlp_dim": mlp_dim,
            "layer_norm_epsilon": layer_norm_epsilon,
            "attention_dropout": attention_dropout,
            "gradient_checkpointing": gradient_checkpointing,
        }
        for i, rate in enumerate(drop_path_rates(drop_path_rate, num_layers)):
            name = f"block{i + 1}"
            if attention_type == "divided_space_time":
                x = DividedSpaceTimeBlock(frames, drop_path_rate=rate, name=name, **block_args)(x)
            else:
                x = ViTBlock(drop_path_rate=rate, name=name, **block_args)(x)
        if attention_type == "space_only":
            x = FrameAverage(frames, name="frame_average")(x)
        x = layers.LayerNormalization(epsilon=layer_norm_epsilon, name="final_norm")(x)
        super().__init__(inputs=clips, outputs=class_readout(x), **kwargs)
        self.keep_arguments(
            locals(),
            num_frames=clip_shape[0],
            image_size=clip_shape[1],
            input_shape=list(clip_shape),
        )
        self.clip_shape = clip_shape
