"""TSN's partial batch norm (Wang et al. 2016, section 3.2).

Fine-tuning from ImageNet on a small video set, TSN "freezes the mean and variance
parameters of all Batch Normalization layers except the first one": the statistics
learned on ImageNet stay, and the first layer, which sees the new input distribution
(and optical flow in the temporal stream), adapts. In Keras a BatchNormalization layer
with ``trainable = False`` does both things TSN's code does (``eval()`` and no gradient
for scale and offset): it normalises with its moving statistics, never updates them, and
its scale and offset are not trained.

Use it after the weights are loaded and before ``compile``: ``ModelConfig(partial_bn=True)``
does it in `kvideo.training`.
"""

from __future__ import annotations

import keras


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer of `model`, nested models included, in graph order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found += batch_norm_layers(layer)
    return found


def partial_batch_norm(model: keras.Model) -> list[str]:
    """Freezes every BatchNormalization layer of `model` but the first; returns their names.

    Frozen layers keep their moving mean and variance and their scale and offset;
    the first keeps training. Call it before ``model.compile`` (Keras reads
    ``trainable`` when it compiles).

    Raises:
        ValueError: when `model` has no BatchNormalization layer.
    """
    layers = batch_norm_layers(model)
    if not layers:
        raise ValueError(
            f"Partial batch norm needs BatchNormalization layers; {model.name!r} has none."
        )
    for layer in layers[1:]:
        layer.trainable = False
    return [layer.name for layer in layers[1:]]
