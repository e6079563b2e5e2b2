"""Fine-tuning optimizers: AdamW with layer-wise learning-rate decay (BEiT, VideoMAE).

Fine-tuning a pretrained transformer moves its lower blocks less than its upper ones:
block ``i`` of ``L`` learns at ``lr * layer_decay ** (L + 1 - i)``, the embeddings
(layer 0) at ``lr * layer_decay ** (L + 1)``, and everything above the blocks (final
norm, classifier: layer ``L + 1``) at ``lr``. Weight decay is decoupled (AdamW), scaled
by the same per-layer rate, and skips the tensors the reference recipes exempt: biases,
norm scales (every tensor of rank <= 1), class token, position and time embeddings.

Layers are found by name, so any backbone whose blocks are layers named ``block1`` ..
``blockL`` (kvideo's TimeSformer and VideoMAE) and whose embeddings are the layers of
`EMBEDDING_LAYERS` gets the decay; a model without such blocks is an error, not a
silent no-op.
"""

from __future__ import annotations

import re
from typing import Any

import keras
from keras import ops

#: Layers of the embedding stage (layer 0 of the decay).
EMBEDDING_LAYERS = ("patch_embedding", "class_token", "position_embedding", "time_embedding")
#: Layers whose weights are not decayed whatever their rank (as VideoMAE's and
#: TimeSformer's ``no_weight_decay``: ``cls_token``, ``pos_embed``, ``time_embed``).
NO_WEIGHT_DECAY_LAYERS = ("class_token", "position_embedding", "time_embedding")

_BLOCK = re.compile(r"^block(\d+)$")


def layer_of(path: str) -> int | None:
    """The decay layer of a variable path: ``i`` for ``block{i}/...``, 0 for the
    embeddings, ``None`` for the rest (above the blocks)."""
    parts = path.split("/")
    for part in parts:
        match = _BLOCK.match(part)
        if match:
            return int(match.group(1))
    return 0 if any(part in EMBEDDING_LAYERS for part in parts) else None


def decays_weight(variable: Any) -> bool:
    """Whether decoupled weight decay applies to `variable` (see the module docstring)."""
    parts = variable.path.split("/")
    return len(variable.shape) > 1 and not any(p in NO_WEIGHT_DECAY_LAYERS for p in parts)


@keras.saving.register_keras_serializable(package="kvideo")
class LayerDecayAdamW(keras.optimizers.Adam):
    """AdamW with layer-wise learning-rate decay and weight-decay exclusions.

    Args:
        learning_rate: the rate of the top layer (a float or a schedule).
        weight_decay: decoupled weight decay, multiplied by each variable's rate.
        layer_decay: ratio of the rates of consecutive layers, in ``(0, 1]``; 1 keeps
            one rate for all (and still skips the exempt tensors' decay).
        beta_1, beta_2, epsilon: Adam's (PyTorch's defaults: 0.9, 0.999, 1e-8).
        **kwargs: the other arguments of ``keras.optimizers.Adam`` (``clipnorm``, ...).
    """

    def __init__(
        self,
        learning_rate: Any = 1e-3,
        weight_decay: float = 0.05,
        layer_decay: float = 0.75,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        name: str = "layer_decay_adamw",
        **kwargs: Any,
    ) -> None:
        # Keras applies its own weight decay before the update, unscaled: keep it off.
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            weight_decay=None,
            name=name,
            **kwargs,
        )
        if not 0.0 < float(layer_decay) <= 1.0:
            raise ValueError(f"`layer_decay` must be in (0, 1]. Received: {layer_decay=}")
        if float(weight_decay) < 0.0:
            raise ValueError(f"`weight_decay` must be >= 0. Received: {weight_decay=}")
        self.decoupled_weight_decay = float(weight_decay)
        self.layer_decay = float(layer_decay)

    def build(self, var_list):
        super().build(var_list)
        layers = [layer_of(v.path) for v in var_list]
        blocks = [layer for layer in layers if layer]
        if self.layer_decay < 1.0 and not blocks:
            raise ValueError(
                "Layer-wise learning-rate decay needs a backbone whose blocks are layers named "
                "block1 ... blockN (TimeSformer, VideoMAE). Received variables such as "
                f"{[v.path for v in var_list[:5]]}"
            )
        top = max(blocks, default=0) + 1
        self.num_layers = top - 1
        self._lr_scales = [
            self.layer_decay ** (top - (top if layer is None else layer)) for layer in layers
        ]
        self._decayed = [decays_weight(v) for v in var_list]

    def learning_rate_scale(self, variable: Any) -> float:
        """The factor on the learning rate of `variable` (after `build`)."""
        return self._lr_scales[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        lr = ops.cast(learning_rate, variable.dtype) * self._lr_scales[index]
        if self.decoupled_weight_decay and self._decayed[index]:
            # PyTorch's AdamW: decay first, with the variable's own rate.
            decay = ops.cast(self.decoupled_weight_decay, variable.dtype)
            self.assign_sub(variable, variable * lr * decay)
        super().update_step(gradient, variable, lr)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"weight_decay": self.decoupled_weight_decay, "layer_decay": self.layer_decay}
        )
        return config


def layer_decay_adamw(config: Any, **common: Any) -> LayerDecayAdamW:
    """The `LayerDecayAdamW` of an `OptimizerConfig` (``learning_rate``/``clipnorm`` in
    `common`, as the trainer builds them)."""
    return LayerDecayAdamW(
        weight_decay=config.weight_decay, layer_decay=config.layer_decay, **common
    )
