"""Non-local blocks (Wang et al. 2018, "Non-local Neural Networks"), for any 3D backbone.

A non-local block adds to every position of a feature map a weighted sum of the features
at *all* positions, weighted by their pairwise affinity::

    z = x + BN(W_z(y)),   y_i = sum_j f(theta(x_i), phi(x_j)) g(x_j) / C(x)

with ``theta``, ``phi``, ``g`` and ``W_z`` ``1x1x1`` convolutions. Its output batch norm
starts with a zero scale, so an inserted block is the identity at initialisation and a
pretrained network keeps its outputs until the block has learned something.

`nonlocal_block` is a block function like those of `blocks.py`: it takes and returns a
channels-last 5D tensor, and a backbone calls it after the residual blocks it chooses.
`ResNet3DBackbone` does so for its ``nonlocal_blocks`` argument, checked by
`check_nonlocal_blocks`; an inflated 2D ResNet (I3D) can call both the same way.

Lowers to builtin TFLite ops: CONV_3D, RESHAPE, MAX_POOL_2D, TRANSPOSE, BATCH_MATMUL,
SOFTMAX, MUL, ADD.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from kvideo.layers.pooling import Pooling3D
from kvideo.models.resnet3d.blocks import BN_EPSILON, batch_norm

#: Pairwise functions f: ``softmax(theta . phi / sqrt(C'))`` or ``theta . phi / N``.
NONLOCAL_MODES = ("embedded_gaussian", "dot_product")


@keras.saving.register_keras_serializable(package="kvideo")
class NonLocalAttention(keras.layers.Layer):
    """The pairwise part of a non-local block: ``[theta, phi, g] -> y``.

    ``theta``: ``(B, T, H, W, C')`` queries; ``phi``, ``g``: ``(B, T2, H2, W2, C')`` keys
    and values (fewer positions when sub-sampled). Returns ``y`` of ``theta``'s shape,
    ``y_i = sum_j f(theta_i, phi_j) g_j`` with

    * ``"embedded_gaussian"``: ``f = softmax_j(theta_i . phi_j / sqrt(C'))`` (the
      reference implementation scales by ``C'^-1/2``, as attention does);
    * ``"dot_product"``: ``f = theta_i . phi_j / N``, ``N`` the number of positions ``j``.
    """

    def __init__(self, mode: str = "embedded_gaussian", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in NONLOCAL_MODES:
            raise ValueError(f"`mode` must be one of {NONLOCAL_MODES}. Received: mode={mode!r}")
        self.mode = mode

    def call(self, inputs):
        theta, phi, g = inputs
        shape = ops.shape(theta)
        queries = ops.reshape(theta, (shape[0], -1, theta.shape[-1]))
        keys = ops.reshape(phi, (shape[0], -1, phi.shape[-1]))
        values = ops.reshape(g, (shape[0], -1, g.shape[-1]))
        affinity = ops.matmul(queries, ops.transpose(keys, (0, 2, 1)))  # (B, N, N2)
        if self.mode == "embedded_gaussian":
            affinity = ops.softmax(affinity * (float(theta.shape[-1]) ** -0.5), axis=-1)
        else:
            affinity = affinity / ops.cast(ops.shape(keys)[1], affinity.dtype)
        y = ops.matmul(affinity, values)  # (B, N, C')
        return ops.reshape(y, (shape[0], shape[1], shape[2], shape[3], g.shape[-1]))

    def compute_output_shape(self, input_shape):
        theta, _, g = input_shape
        return (*theta[:4], g[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["mode"] = self.mode
        return config


def nonlocal_block(
    x: Any,
    *,
    mode: str = "embedded_gaussian",
    sub_sample: bool = True,
    reduction: int = 2,
    name: str,
    dtype: Any = None,
    bn_epsilon: float = BN_EPSILON,
) -> Any:
    """A non-local block: ``x + BN(W_z(NonLocalAttention(theta(x), phi(x'), g(x'))))``.

    Args:
        x: ``(B, T, H, W, C)`` feature map.
        mode: ``"embedded_gaussian"`` or ``"dot_product"`` (see `NonLocalAttention`).
        sub_sample: max-pool ``x`` by ``(1, 2, 2)`` before ``phi`` and ``g`` (as the
            reference code does), so keys and values cover a quarter of the positions.
            The pool pads odd sizes (``"same"``) rather than dropping the last row, so a
            ``1x1`` map still has a key.
        reduction: ``C' = max(1, C // reduction)``, the width of ``theta``/``phi``/``g``.
        name: prefix of the layer names.
        dtype: dtype policy of the layers.
        bn_epsilon: epsilon of the output batch norm.

    Returns:
        ``(B, T, H, W, C)``, equal to ``x`` at initialisation: the output batch norm's
        scale and offset start at zero.
    """
    if mode not in NONLOCAL_MODES:
        raise ValueError(f"`mode` must be one of {NONLOCAL_MODES}. Received: mode={mode!r}")
    if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 1:
        raise ValueError(f"`reduction` must be a positive int. Received: {reduction=}")
    channels = int(x.shape[-1])
    inner = max(1, channels // reduction)

    def conv(tensor: Any, filters: int, suffix: str) -> Any:
        # The reference initialises these with N(0, 0.01) and keeps their biases.
        return layers.Conv3D(
            filters,
            1,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            name=f"{name}_{suffix}",
            dtype=dtype,
        )(tensor)

    keys_from = x
    if sub_sample:
        keys_from = Pooling3D((1, 2, 2), padding="same", name=f"{name}_pool", dtype=dtype)(x)
    y = NonLocalAttention(mode, name=f"{name}_attention", dtype=dtype)(
        [conv(x, inner, "theta"), conv(keys_from, inner, "phi"), conv(keys_from, inner, "g")]
    )
    y = conv(y, channels, "out_conv")
    y = batch_norm(
        y, name=f"{name}_out_bn", dtype=dtype, epsilon=bn_epsilon, gamma_initializer="zeros"
    )
    return layers.Add(name=f"{name}_add", dtype=dtype)([x, y])


def check_nonlocal_blocks(
    nonlocal_blocks: Sequence[Sequence[int]] | None, stage_depths: Sequence[int]
) -> tuple[tuple[int, ...], ...]:
    """Validates where non-local blocks go: per stage, the (1-based) residual blocks
    followed by one, e.g. ``((), (1, 3), (1, 3, 5), ())`` for depth 34 (the paper's
    every-other-block placement in stages 2 and 3).

    Returns:
        One sorted tuple per stage (all empty for ``None``).

    Raises:
        ValueError: echoing `nonlocal_blocks` when it has the wrong number of stages or
            names a block a stage does not have.
    """
    if nonlocal_blocks is None:
        return ((),) * len(stage_depths)
    error = ValueError(
        "`nonlocal_blocks` must give, for each of the "
        f"{len(stage_depths)} stages (depths {tuple(stage_depths)}), the 1-based numbers of "
        f"the blocks followed by a non-local block. Received: nonlocal_blocks={nonlocal_blocks!r}"
    )
    if isinstance(nonlocal_blocks, (str, bytes)) or len(nonlocal_blocks) != len(stage_depths):
        raise error
    checked = []
    for blocks, depth in zip(nonlocal_blocks, stage_depths, strict=True):
        if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence):
            raise error
        if any(
            isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= depth for b in blocks
        ):
            raise error
        if len(set(blocks)) != len(blocks):
            raise error
        checked.append(tuple(sorted(int(b) for b in blocks)))
    return tuple(checked)
