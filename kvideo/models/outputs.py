"""What a classifier's output means, decided in one place.

Evaluation, export and detection all turn a model's output into class probabilities; a
classifier may emit logits (the default, trained with ``from_logits=True``) or softmax
probabilities (``activation="softmax"``). Applying softmax to probabilities squashes them
a second time (a confident 0.99 becomes ~0.57 over 6 classes), so every consumer asks
`outputs_logits` and none decides for itself.
"""

from __future__ import annotations

from typing import Any

import keras

LOGITS = "logits"
PROBABILITIES = "probabilities"


def output_kind(model: keras.Model) -> str:
    """``"logits"`` or ``"probabilities"``: what `model` emits.

    kvideo's classifiers say it themselves (``model.output_kind``). For any other model the
    activation of its last layer decides: none or linear means logits, softmax means
    probabilities; anything else (e.g. sigmoid) is not a distribution over classes and
    raises ValueError.
    """
    kind = getattr(model, "output_kind", None)
    if kind is not None:
        return kind
    activation = getattr(model.layers[-1], "activation", None)
    name = getattr(activation, "__name__", activation)
    if name in (None, "linear"):
        return LOGITS
    if name == "softmax":
        return PROBABILITIES
    raise ValueError(
        "The model's output must be logits or softmax probabilities. "
        f"Received: a last layer {model.layers[-1].name!r} with activation {name!r}"
    )


def outputs_logits(model: keras.Model) -> bool:
    """Whether `model` emits logits (True) or softmax probabilities (False)."""
    return output_kind(model) == LOGITS


def activation_output_kind(activation: str | None) -> str:
    """The output kind of a classifier whose last activation is `activation`."""
    if activation is None:
        return LOGITS
    if activation == "softmax":
        return PROBABILITIES
    raise ValueError(
        "A classifier emits logits (activation=None) or softmax probabilities "
        f"(activation='softmax'). Received: activation={activation!r}"
    )


def to_probabilities(model: keras.Model, outputs: Any) -> Any:
    """`model`'s outputs as float32 class probabilities ``(batch, num_classes)``."""
    outputs = keras.ops.cast(outputs, "float32")
    return keras.ops.softmax(outputs, axis=-1) if outputs_logits(model) else outputs
