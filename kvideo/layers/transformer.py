"""Transformer blocks for video transformers (TimeSformer, VideoMAE's ViT).

* `MultiHeadSelfAttention`: self-attention over ``(batch, tokens, width)`` with separate
  query, key and value projections (a checkpoint's fused ``qkv`` splits into them).
* `ViTBlock`: the pre-norm ViT block, ``x + attention(norm(x))`` then
  ``x + mlp(norm(x))``, with stochastic depth (drop path) and optional gradient
  checkpointing.
* `SinusoidalPositionEmbedding`: the fixed sin/cos table of "Attention is all you need"
  added to the tokens (VideoMAE's position embedding; no weights).

Why blocks are layers and not block functions (as kvideo's CNNs are): gradient
checkpointing recomputes a whole block in the backward pass, so the block has to be one
callable, and drop path must draw its random masks *outside* the recomputed function,
or the recomputation would draw other masks than the forward pass used (TensorFlow's
``recompute_grad`` does not replay random state). `ResidualBlock.call` draws the masks,
then runs ``forward`` directly or through ``keras.remat``.

Also here, what the transformer backbones share: `token_grid` (the clip size and token
grid), `check_vit_dims`, `BackboneArguments` (their config).

All of it lowers to builtin TFLite ops (FULLY_CONNECTED, BATCH_MATMUL, SOFTMAX,
TRANSPOSE, RESHAPE, MEAN, GELU, ...).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import layers, ops


def _check_rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    return value


@keras.saving.register_keras_serializable(package="kvideo")
class MultiHeadSelfAttention(layers.Layer):
    """Scaled dot-product self-attention: ``(B, N, D) -> (B, N, D)``.

    ``softmax(q k^T / sqrt(D / num_heads)) v`` per head, then an output projection.
    Sublayers ``query``, ``key``, ``value`` and ``output`` are Dense layers of width
    ``D``, so a checkpoint's fused ``qkv`` projection is three slices of it.

    Args:
        num_heads: attention heads; must divide the token width.
        key_bias: whether the key projection has a bias. A key bias adds the same value
            to every score of a query, which softmax cancels: VideoMAE leaves it out,
            TimeSformer's fused ``qkv`` has one.
        dropout: dropout on the attention probabilities.
    """

    def __init__(
        self, num_heads: int, key_bias: bool = True, dropout: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads = _check_positive_int("num_heads", num_heads)
        self.key_bias = bool(key_bias)
        self.dropout = _check_rate("dropout", dropout)
        self._dropout = layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        width = input_shape[-1]
        if width is None or width % self.num_heads:
            raise ValueError(
                f"The token width must be a multiple of `num_heads` ({self.num_heads}). "
                f"Received: input_shape={input_shape}"
            )
        policy = self.dtype_policy
        self.query = layers.Dense(width, name="query", dtype=policy)
        self.key = layers.Dense(width, use_bias=self.key_bias, name="key", dtype=policy)
        self.value = layers.Dense(width, name="value", dtype=policy)
        self.output_dense = layers.Dense(width, name="output", dtype=policy)
        for dense in (self.query, self.key, self.value, self.output_dense):
            dense.build(input_shape)

    def _heads(self, x, tokens):
        # (B, N, D) -> (B, heads, N, D / heads)
        x = ops.reshape(x, (-1, tokens, self.num_heads, x.shape[-1] // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, x, training=None):
        tokens = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        width = x.shape[-1]
        q = self._heads(self.query(x), tokens)
        k = self._heads(self.key(x), tokens)
        v = self._heads(self.value(x), tokens)
        scale = ops.cast(1.0 / math.sqrt(width // self.num_heads), q.dtype)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * scale
        probs = self._dropout(ops.softmax(scores, axis=-1), training=training)
        context = ops.transpose(ops.matmul(probs, v), (0, 2, 1, 3))
        return self.output_dense(ops.reshape(context, (-1, tokens, width)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"num_heads": self.num_heads, "key_bias": self.key_bias, "dropout": self.dropout}
        )
        return config


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic depth growing linearly from 0 (first block) to `rate` (last block)."""
    _check_rate("drop_path_rate", rate)
    if depth == 1:
        return [0.0]
    return [rate * i / (depth - 1) for i in range(depth)]


class ResidualBlock(layers.Layer):
    """Base of the transformer blocks: drop path and gradient checkpointing.

    A subclass implements ``drop_path_rows(x)`` (over how many rows each residual
    branch draws its mask) and ``forward(x, keeps, training)``, where ``keeps`` holds
    one mask per branch: 1 / (1 - rate) for kept rows, 0 for dropped ones (``None``
    outside training or without drop path). ``call`` draws them, outside the function
    that gradient checkpointing recomputes.

    Args:
        drop_path_rate: probability of dropping a residual branch (per row, in training).
        gradient_checkpointing: in training, keep only the block's input for the
            backward pass and recompute the rest (``keras.remat``).
        seed: seed of the drop-path masks.
    """

    def __init__(
        self,
        drop_path_rate: float = 0.0,
        gradient_checkpointing: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.drop_path_rate = _check_rate("drop_path_rate", drop_path_rate)
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def drop_path_rows(self, x) -> Sequence[Any]:
        """How many rows each residual branch draws its keep mask over (per subclass)."""
        return (ops.shape(x)[0],)

    def _keeps(self, x, training):
        if not training or self.drop_path_rate == 0.0:
            return [None] * len(self.drop_path_rows(x))
        keep = 1.0 - self.drop_path_rate
        masks = []
        for rows in self.drop_path_rows(x):
            noise = keras.random.uniform((rows, 1, 1), seed=self.seed_generator, dtype=x.dtype)
            masks.append(ops.floor(keep + noise) / keep)
        return masks

    def call(self, x, training=None):
        keeps = self._keeps(x, training)
        if not (training and self.gradient_checkpointing):
            return self.forward(x, keeps, training)
        drawn_at = [i for i, keep in enumerate(keeps) if keep is not None]

        def recomputed(inputs, *drawn):
            # The masks come in as inputs, so the recomputation reuses them.
            replayed = list(keeps)
            for i, keep in zip(drawn_at, drawn, strict=True):
                replayed[i] = keep
            return self.forward(inputs, replayed, training)

        return keras.remat(recomputed)(x, *[keeps[i] for i in drawn_at])

    def forward(self, x, keeps, training=None):
        raise NotImplementedError

    @staticmethod
    def residual(x, branch, keep):
        """``x + branch``, the branch scaled by its drop-path mask when there is one."""
        return x + branch if keep is None else x + branch * keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "drop_path_rate": self.drop_path_rate,
                "gradient_checkpointing": self.gradient_checkpointing,
                "seed": self.seed,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kvideo")
class ViTBlock(ResidualBlock):
    """The pre-norm Transformer block of ViT: ``(B, N, D) -> (B, N, D)``.

    ``x = x + drop_path(attention(norm1(x)))``, ``x = x + drop_path(mlp(norm2(x)))``
    with a GELU MLP ``D -> mlp_dim -> D``. Drop path draws one mask per row of the batch.

    Args:
        num_heads: attention heads.
        mlp_dim: hidden width of the MLP.
        layer_norm_epsilon: epsilon of both LayerNorms.
        key_bias: whether the key projection has a bias (see `MultiHeadSelfAttention`).
        attention_dropout: dropout on attention probabilities. Checkpointing needs 0:
            a recomputed dropout would draw another mask.
        **kwargs: `ResidualBlock`'s ``drop_path_rate``, ``gradient_checkpointing``,
            ``seed``, and ``name``/``dtype``.
    """

    def __init__(
        self,
        num_heads: int,
        mlp_dim: int,
        layer_norm_epsilon: float = 1e-6,
        key_bias: bool = True,
        attention_dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads = _check_positive_int("num_heads", num_heads)
        self.mlp_dim = _check_positive_int("mlp_dim", mlp_dim)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.key_bias = bool(key_bias)
        self.attention_dropout = _check_rate("attention_dropout", attention_dropout)
        if self.gradient_checkpointing and self.attention_dropout:
            raise ValueError(
                "Gradient checkpointing recomputes the block, and a recomputed dropout draws "
                "another mask than the forward pass used: set attention_dropout=0. Received: "
                f"attention_dropout={attention_dropout}, gradient_checkpointing=True"
            )

    def build(self, input_shape):
        width = input_shape[-1]
        policy = self.dtype_policy
        eps = self.layer_norm_epsilon
        self.norm1 = layers.LayerNormalization(epsilon=eps, name="norm1", dtype=policy)
        self.attention = MultiHeadSelfAttention(
            self.num_heads,
            key_bias=self.key_bias,
            dropout=self.attention_dropout,
            name="attention",
            dtype=policy,
        )
        self.norm2 = layers.LayerNormalization(epsilon=eps, name="norm2", dtype=policy)
        self.mlp_fc1 = layers.Dense(self.mlp_dim, activation="gelu", name="mlp_fc1", dtype=policy)
        self.mlp_fc2 = layers.Dense(width, name="mlp_fc2", dtype=policy)
        for layer in (self.norm1, self.attention, self.norm2, self.mlp_fc1):
            layer.build(input_shape)
        self.mlp_fc2.build((*input_shape[:-1], self.mlp_dim))

    def forward(self, x, keeps, training=None):
        attention_keep, mlp_keep = keeps
        x = self.residual(x, self.attention(self.norm1(x), training=training), attention_keep)
        return self.residual(x, self.mlp_fc2(self.mlp_fc1(self.norm2(x))), mlp_keep)

    def drop_path_rows(self, x):
        rows = ops.shape(x)[0]
        return (rows, rows)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "mlp_dim": self.mlp_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "key_bias": self.key_bias,
                "attention_dropout": self.attention_dropout,
            }
        )
        return config


def sinusoid_table(length: int, width: int) -> np.ndarray:
    """``(length, width)`` float32 sin/cos position codes (Vaswani et al. 2017).

    Position ``p``, channel ``j``: angle ``p / 10000^(2 * (j // 2) / width)``; even
    channels take its sine, odd channels its cosine. Computed in float64, as VideoMAE
    computes it with NumPy, then rounded to float32.
    """
    positions = np.arange(length, dtype=np.float64)[:, None]
    exponents = 2 * (np.arange(width) // 2) / width
    angles = positions / np.power(10000.0, exponents)[None, :]
    table = np.where(np.arange(width) % 2 == 0, np.sin(angles), np.cos(angles))
    return table.astype(np.float32)


@keras.saving.register_keras_serializable(package="kvideo")
class SinusoidalPositionEmbedding(layers.Layer):
    """Adds the fixed `sinusoid_table` to tokens: ``(B, N, D) -> (B, N, D)``; N fixed.

    It has no weights: the table is a constant of the graph (and of every export).
    """

    def build(self, input_shape):
        if input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "Sinusoidal position embeddings need a fixed number of tokens and width. "
                f"Received: input_shape={input_shape}"
            )
        self.table = sinusoid_table(int(input_shape[1]), int(input_shape[2]))[None]

    def call(self, tokens):
        return tokens + ops.convert_to_tensor(self.table, dtype=tokens.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def token_grid(
    input_shape: Sequence[int | None] | None,
    num_frames: int,
    image_size: int,
    patch_size: int,
    tubelet_size: int = 1,
) -> tuple[tuple[int, int, int, int], tuple[int, int, int]]:
    """The clip shape a video transformer is built for, and its grid of tokens.

    A video transformer's position (and time) embeddings are sized to its grid, so its
    input size is fixed: `input_shape` ``(T, H, W, C)``, where ``None`` entries take
    `num_frames` and `image_size` (a classifier resizes any clip to that size first).

    Returns:
        ``((T, H, W, C), (T // tubelet_size, H // patch_size, W // patch_size))``.

    Raises:
        ValueError: when the frames do not split into tubelets or the frames into patches.
    """
    for name, value in (
        ("num_frames", num_frames),
        ("image_size", image_size),
        ("patch_size", patch_size),
        ("tubelet_size", tubelet_size),
    ):
        _check_positive_int(name, value)
    if input_shape is None:
        input_shape = (None, None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or input_shape[-1] is None:
        raise ValueError(
            "`input_shape` must be (frames, height, width, channels) with a known channel "
            f"count. Received: input_shape={input_shape}"
        )
    frames = input_shape[0] if input_shape[0] is not None else num_frames
    height = input_shape[1] if input_shape[1] is not None else image_size
    width = input_shape[2] if input_shape[2] is not None else image_size
    if frames % tubelet_size or height % patch_size or width % patch_size:
        raise ValueError(
            f"Clips of {frames}x{height}x{width} do not split into {tubelet_size}x"
            f"{patch_size}x{patch_size} tubelets (frames x height x width). Received: "
            f"input_shape={input_shape}, patch_size={patch_size}, tubelet_size={tubelet_size}"
        )
    shape = (int(frames), int(height), int(width), int(input_shape[-1]))
    return shape, (frames // tubelet_size, height // patch_size, width // patch_size)


def check_vit_dims(hidden_dim: Any, num_layers: Any, num_heads: Any, mlp_dim: Any) -> None:
    """Positive ints, `hidden_dim` divisible by `num_heads`; ValueError echoing them."""
    for name, value in (
        ("hidden_dim", hidden_dim),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("mlp_dim", mlp_dim),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    if hidden_dim % num_heads:
        raise ValueError(
            f"`hidden_dim` must be divisible by `num_heads`. Received: {hidden_dim=}, {num_heads=}"
        )


class BackboneArguments:
    """Mixin for the functional transformer backbones: their config is their arguments.

    ``keep_arguments(locals(), **resolved)`` (after ``keras.Model.__init__``) keeps the
    constructor's named arguments, with `resolved` values in place of the given ones
    (``input_shape`` with its ``None`` filled in), sets each as an attribute (but
    ``input_shape``, a read-only Model property), and `get_config` returns them.
    """

    def keep_arguments(self, arguments: dict[str, Any], **resolved: Any) -> None:
        names = inspect.signature(type(self).__init__).parameters
        kept = {n: arguments[n] for n in names if n not in ("self", "kwargs")}
        kept.update(resolved)
        self._arguments = kept
        for name, value in kept.items():
            if name != "input_shape":
                setattr(self, name, value)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(self._arguments)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        return cls(**config)
