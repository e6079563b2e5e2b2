"""Classifier heads: backbone features -> class scores, one function per kind of head.

A head takes what a backbone returns, either

* a spatio-temporal feature map ``(batch, frames', height', width', features)`` (3D
  networks, and 2D networks applied to every frame before their pooling), or
* per-frame feature vectors ``(batch, frames, features)`` (2D networks that pool), or
* one vector per clip ``(batch, features)`` (the pooling head only),

and returns ``(batch, num_classes)`` logits from a Dense layer named ``"logits"``, followed,
when `activation` is given, by an ``Activation`` layer named ``"predictions"``. Heads that
look at time (consensus, recurrent, transformer) first average the map over space.

Every head runs in float32 (``dtype="float32"``), so a model trained under a mixed
precision policy still emits float32 scores, and lowers to builtin TFLite ops: the
recurrent head unrolls its LSTM/GRU (Keras's rolled RNNs need Flex TensorList ops).

Heads and their arguments (``head_args``):

* ``"pool"``: none; global average over time and space (the 3D-CNN head).
* ``"consensus"``: ``mode`` = ``"avg"``, ``"max"`` or ``"weighted"`` (TSN).
* ``"recurrent"``: ``cell`` (``"lstm"``/``"gru"``), ``units``, ``num_layers``,
  ``readout`` (``"last"``/``"average"``).
* ``"transformer"``: ``num_layers``, ``num_heads``, ``width``, ``mlp_ratio``,
  ``attention_dropout``, ``tokens`` (``"frames"``/``"spacetime"``), ``pool_size``
  (``(t, h, w)`` average pooling of a feature map before it is tokenised).

Average consensus over per-frame logits is what the literature calls *late fusion*: the
mean of per-frame class scores. It is the ``"consensus"`` head with ``mode="avg"``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
from keras import layers

from kvideo.layers.pooling import Pooling3D
from kvideo.layers.sequence import ClassToken, PositionEmbedding, SegmentConsensus, SpatialAverage

HEAD_DTYPE = "float32"
RNN_CELLS = ("lstm", "gru")
READOUTS = ("last", "average")
TOKENS = ("frames", "spacetime")


def _logits(x: Any, num_classes: int) -> Any:
    """The classifier: a Dense layer named "logits" on the last axis."""
    return layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        name="logits",
        dtype=HEAD_DTYPE,
    )(x)


def _activate(x: Any, activation: str | None) -> Any:
    """The optional output activation, as a layer named "predictions"."""
    if activation is None:
        return x
    return layers.Activation(activation, name="predictions", dtype=HEAD_DTYPE)(x)


def _scores(x: Any, num_classes: int, activation: str | None) -> Any:
    return _activate(_logits(x, num_classes), activation)


def _sequence(features: Any, head: str) -> Any:
    """``(B, T, F)`` from a feature map (averaged over space) or per-frame features."""
    rank = len(features.shape)
    if rank == 5:
        return SpatialAverage(name="spatial_avg", dtype=HEAD_DTYPE)(features)
    if rank == 3:
        return features
    raise ValueError(
        f"The {head!r} head needs features over time: a map (batch, frames, height, width, "
        f"features) or per-frame features (batch, frames, features). Received: features of "
        f"shape {tuple(features.shape)}"
    )


def _fixed_frames(sequence: Any, head: str) -> int:
    frames = sequence.shape[1]
    if frames is None:
        raise ValueError(
            f"The {head!r} head needs a fixed number of frames (time steps are unrolled or "
            "embedded per position); build the model with a fixed clip length, e.g. "
            f"input_shape=(16, 112, 112, 3). Received: features of shape {tuple(sequence.shape)}"
        )
    return int(frames)


def pool_head(features: Any, num_classes: int, *, dropout: float, activation: str | None) -> Any:
    """Global average over every axis but the batch and features, dropout, Dense."""
    rank = len(features.shape)
    if rank == 5:
        x = layers.GlobalAveragePooling3D(name="avg_pool", dtype=HEAD_DTYPE)(features)
    elif rank == 3:
        x = layers.GlobalAveragePooling1D(name="avg_pool", dtype=HEAD_DTYPE)(features)
    elif rank == 2:
        x = features
    else:
        raise ValueError(
            "The 'pool' head takes features of rank 2, 3 or 5. "
            f"Received: features of shape {tuple(features.shape)}"
        )
    x = layers.Dropout(dropout, name="dropout", dtype=HEAD_DTYPE)(x)
    return _scores(x, num_classes, activation)


def consensus_head(
    features: Any,
    num_classes: int,
    *,
    dropout: float,
    activation: str | None,
    mode: str = "avg",
) -> Any:
    """TSN: dropout and Dense on each frame's features, then segmental consensus."""
    x = _sequence(features, "consensus")
    if mode == "weighted":
        _fixed_frames(x, "consensus")
    x = layers.Dropout(dropout, name="dropout", dtype=HEAD_DTYPE)(x)
    x = _logits(x, num_classes)  # per segment: (B, T, num_classes)
    x = SegmentConsensus(mode, name="consensus", dtype=HEAD_DTYPE)(x)
    return _activate(x, activation)


def recurrent_head(
    features: Any,
    num_classes: int,
    *,
    dropout: float,
    activation: str | None,
    cell: str = "lstm",
    units: int = 256,
    num_layers: int = 1,
    readout: str = "last",
) -> Any:
    """LRCN (Donahue et al. 2015): an LSTM or GRU over per-frame features, then Dense.

    ``readout="last"`` classifies the last step's state; ``"average"`` the mean of every
    step's output (LRCN averages per-step predictions, which is the same for a linear
    classifier).
    """
    if cell not in RNN_CELLS:
        raise ValueError(f"`cell` must be one of {RNN_CELLS}. Received: cell={cell!r}")
    if readout not in READOUTS:
        raise ValueError(f"`readout` must be one of {READOUTS}. Received: readout={readout!r}")
    _check_positive(units=units, num_layers=num_layers)
    x = _sequence(features, "recurrent")
    _fixed_frames(x, "recurrent")
    rnn = layers.LSTM if cell == "lstm" else layers.GRU
    for i in range(num_layers):
        sequences = i < num_layers - 1 or readout == "average"
        # Unrolled: a rolled Keras RNN converts to Flex TensorList ops in TFLite.
        x = rnn(
            units, return_sequences=sequences, unroll=True, name=f"{cell}{i + 1}", dtype=HEAD_DTYPE
        )(x)
    if readout == "average":
        x = layers.GlobalAveragePooling1D(name="temporal_avg", dtype=HEAD_DTYPE)(x)
    x = layers.Dropout(dropout, name="dropout", dtype=HEAD_DTYPE)(x)
    return _scores(x, num_classes, activation)


def transformer_head(
    features: Any,
    num_classes: int,
    *,
    dropout: float,
    activation: str | None,
    num_layers: int = 2,
    num_heads: int = 8,
    width: int | None = None,
    mlp_ratio: float = 4.0,
    attention_dropout: float = 0.0,
    tokens: str = "frames",
    pool_size: Sequence[int] | None = None,
) -> Any:
    """A Transformer encoder over tokens with a class token; Dense on the class token.

    Tokens are the per-frame feature vectors (``tokens="frames"``: a CNN + Transformer
    over frames), or every position of a spatio-temporal map (``"spacetime"``: attention
    over the 3D features of a 3D network). Tokens are projected to `width` (default: the
    feature size), a learned class token is prepended, learned position embeddings added,
    then ``num_layers`` pre-norm encoder blocks (multi-head self-attention and a GELU MLP
    of ``mlp_ratio * width``, each residual) and a final LayerNorm.

    ``pool_size=(t, h, w)`` first averages a feature map over ``t x h x w`` windows
    (strides equal to the window; ``"same"`` padding, so edge windows average the
    positions they cover): fewer, coarser tokens, e.g. ``(1, 2, 2)`` turns a 3D ResNet's
    ``2x7x7`` map at 112 px into ``2x4x4 = 32`` spacetime tokens instead of 98.
    """
    if tokens not in TOKENS:
        raise ValueError(f"`tokens` must be one of {TOKENS}. Received: tokens={tokens!r}")
    _check_positive(num_layers=num_layers, num_heads=num_heads)
    if pool_size is not None:
        if len(features.shape) != 5:
            raise ValueError(
                "`pool_size` pools a feature map (batch, frames, height, width, features) "
                f"before it is tokenised. Received: features of shape {tuple(features.shape)}, "
                f"pool_size={pool_size!r}"
            )
        # Pooling3D: average pooling from builtin TFLite ops (AveragePooling3D is Flex).
        features = Pooling3D(
            pool_size, padding="same", mode="average", name="token_pool", dtype=HEAD_DTYPE
        )(features)
    if tokens == "spacetime":
        if len(features.shape) != 5 or None in features.shape[1:]:
            raise ValueError(
                "tokens='spacetime' needs a feature map (batch, frames, height, width, "
                f"features) of fixed size. Received: features of shape {tuple(features.shape)}"
            )
        _, t, h, w, f = features.shape
        x = layers.Reshape((t * h * w, f), name="tokens", dtype=HEAD_DTYPE)(features)
    else:
        x = _sequence(features, "transformer")
        _fixed_frames(x, "transformer")
    width = int(width or x.shape[-1])
    if width % num_heads:
        raise ValueError(
            f"`width` ({width}) must be divisible by `num_heads`. Received: {num_heads=}"
        )
    if width != x.shape[-1]:
        x = layers.Dense(width, name="token_projection", dtype=HEAD_DTYPE)(x)
    x = ClassToken(name="class_token", dtype=HEAD_DTYPE)(x)
    x = PositionEmbedding(name="position_embedding", dtype=HEAD_DTYPE)(x)
    num_tokens = x.shape[1]
    for i in range(num_layers):
        name = f"encoder{i + 1}"
        y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm1", dtype=HEAD_DTYPE)(x)
        y = layers.MultiHeadAttention(
            num_heads,
            width // num_heads,
            dropout=attention_dropout,
            name=f"{name}_attention",
            dtype=HEAD_DTYPE,
        )(y, y)
        x = layers.Add(name=f"{name}_add1", dtype=HEAD_DTYPE)([x, y])
        y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_norm2", dtype=HEAD_DTYPE)(x)
        y = layers.Dense(
            int(width * mlp_ratio), activation="gelu", name=f"{name}_mlp1", dtype=HEAD_DTYPE
        )(y)
        y = layers.Dense(width, name=f"{name}_mlp2", dtype=HEAD_DTYPE)(y)
        x = layers.Add(name=f"{name}_add2", dtype=HEAD_DTYPE)([x, y])
    x = layers.LayerNormalization(epsilon=1e-6, name="encoder_norm", dtype=HEAD_DTYPE)(x)
    # The class token is position 0: crop the others away (stock layers, builtin ops).
    x = layers.Cropping1D((0, num_tokens - 1), name="class_output", dtype=HEAD_DTYPE)(x)
    x = layers.Reshape((width,), name="class_features", dtype=HEAD_DTYPE)(x)
    x = layers.Dropout(dropout, name="dropout", dtype=HEAD_DTYPE)(x)
    return _scores(x, num_classes, activation)


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


#: Every head by the name used in ``VideoClassifier(head=...)`` and ``--head``
#: (`kvideo.models.spec.HEAD_NAMES` lists the same names without importing Keras).
HEADS: dict[str, Callable[..., Any]] = {
    "pool": pool_head,
    "consensus": consensus_head,
    "recurrent": recurrent_head,
    "transformer": transformer_head,
}


def head_arguments(head: str) -> tuple[str, ...]:
    """The ``head_args`` names `head` accepts."""
    parameters = inspect.signature(_head_fn(head)).parameters.values()
    return tuple(
        p.name
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("dropout", "activation")
    )


def apply_head(
    head: str,
    features: Any,
    num_classes: int,
    *,
    dropout: float,
    activation: str | None,
    head_args: Mapping[str, Any] | None = None,
) -> Any:
    """Calls head `head` on `features` with `head_args`, rejecting unknown arguments."""
    fn = _head_fn(head)
    head_args = dict(head_args or {})
    unknown = sorted(set(head_args) - set(head_arguments(head)))
    if unknown:
        raise ValueError(
            f"Unknown arguments for the {head!r} head: {unknown}. It accepts "
            f"{list(head_arguments(head))}. Received: head_args={head_args}"
        )
    return fn(features, num_classes, dropout=dropout, activation=activation, **head_args)


def _head_fn(head: str) -> Callable[..., Any]:
    if head not in HEADS:
        raise ValueError(f"Unknown head. Choose from {list(HEADS)}. Received: head={head!r}")
    return HEADS[head]
