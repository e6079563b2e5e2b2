"""The ViT of VideoMAE (Tong et al. 2022), as fine-tuned for classification.

    clips (B, T, H, W, C)
      -> 2x16x16 tubelets, linear embedding (a Conv3D with kernel = stride)
      -> + fixed sin/cos position embeddings (no weights)
      -> num_layers pre-norm ViT blocks (no key bias)
      -> mean over the tokens -> LayerNorm ("fc_norm")  (B, D)

There is no class token: the fine-tuned model averages every token and normalises the
average. The backbone ends there; the classifier's ``"pool"`` head adds dropout and the
Dense layer, which is VideoMAE's head (``fc_dropout`` then ``head``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from kvideo.layers.transformer import (
    BackboneArguments,
    SinusoidalPositionEmbedding,
    ViTBlock,
    check_vit_dims,
    drop_path_rates,
    token_grid,
)


@keras.saving.register_keras_serializable(package="kvideo")
class VideoMAEBackbone(BackboneArguments, keras.Model):
    """VideoMAE's ViT without its classifier: clips ``(B, T, H, W, C)`` -> ``(B, hidden_dim)``.

    Shapes for ViT-B at 16x224x224: 8x14x14 = 1568 tokens of width 768, 12 blocks.

    Args:
        patch_size: side of the square patches (16).
        tubelet_size: frames per tubelet (2).
        hidden_dim: token width (ViT-S 384, ViT-B 768).
        num_layers: blocks (12).
        num_heads: attention heads (ViT-S 6, ViT-B 12).
        mlp_dim: hidden width of the blocks' MLP (4 * hidden_dim).
        layer_norm_epsilon: epsilon of the blocks' LayerNorms.
        final_norm_epsilon: epsilon of the LayerNorm after mean pooling.
        drop_path_rate: stochastic depth of the last block; block ``i`` of ``L`` drops
            with ``rate * i / (L - 1)``. Training only.
        attention_dropout: dropout on attention probabilities (0 in the paper).
        gradient_checkpointing: recompute each block in the backward pass instead of
            keeping its activations (see `kvideo.layers.transformer`).
        num_frames, image_size: the clip size when `input_shape` leaves it ``None``.
        input_shape: ``(T, H, W, C)``; fixed once built (the position table is sized to
            it), ``T`` a multiple of `tubelet_size`, ``H``, ``W`` of `patch_size`.
        **kwargs: ``name``/``trainable``/``dtype`` for ``keras.Model``.
    """

    def __init__(
        self,
        patch_size: int = 16,
        tubelet_size: int = 2,
        hidden_dim: int = 768,
        num_layers: int = 12,
        num_heads: int = 12,
        mlp_dim: int = 3072,
        layer_norm_epsilon: float = 1e-6,
        final_norm_epsilon: float = 1e-6,
        drop_path_rate: float = 0.0,
        attention_dropout: float = 0.0,
        gradient_checkpointing: bool = False,
        num_frames: int = 16,
        image_size: int = 224,
        input_shape: Sequence[int | None] | None = None,
        **kwargs: Any,
    ) -> None:
        check_vit_dims(hidden_dim, num_layers, num_heads, mlp_dim)
        clip_shape, (steps, rows, cols) = token_grid(
            input_shape, num_frames, image_size, patch_size, tubelet_size
        )

        # === Functional model ===
        clips = keras.Input(clip_shape, name="clips")
        x = layers.Conv3D(
            hidden_dim,
            (tubelet_size, patch_size, patch_size),
            strides=(tubelet_size, patch_size, patch_size),
            name="patch_embedding",
        )(clips)
        # (B, T', H', W', D) -> (B, T' * H' * W', D): time-major, then rows, then columns.
        x = layers.Reshape((steps * rows * cols, hidden_dim), name="patch_tokens")(x)
        x = SinusoidalPositionEmbedding(name="position_embedding")(x)
        for i, rate in enumerate(drop_path_rates(drop_path_rate, num_layers)):
            x = ViTBlock(
                num_heads,
                mlp_dim,
                layer_norm_epsilon=layer_norm_epsilon,
                key_bias=False,
                attention_dropout=attention_dropout,
                drop_path_rate=rate,
                gradient_checkpointing=gradient_checkpointing,
                name=f"block{i + 1}",
            )(x)
        x = layers.GlobalAveragePooling1D(name="mean_pool")(x)
        x = layers.LayerNormalization(epsilon=final_norm_epsilon, name="fc_norm")(x)
        super().__init__(inputs=clips, outputs=x, **kwargs)
        self.keep_arguments(
            locals(),
            num_frames=clip_shape[0],
            image_size=clip_shape[1],
            input_shape=list(clip_shape),
        )
        self.clip_shape = clip_shape
