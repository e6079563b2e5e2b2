"""Parameters and GFLOPs per clip of every registered model, as a markdown table.

    python benchmarks/model_table.py                    # every model, ~5 min on 2 cores
    python benchmarks/model_table.py --models=i3d,tsn_resnet50

Each model is built (not run) with a 400-class classifier at its standard input: its
registered clip length and crop size (``kvideo.models.list_presets()``), batch 1.

* Parameters: the trainable scalars, as PyTorch counts them (BN moving statistics are
  buffers there, not parameters); this is the count papers and model zoos report.
* GFLOPs: multiply-accumulates per clip / 1e9, counted from the layers' shapes: every
  convolution (``output positions x kernel size x input channels / groups x output
  channels``), depthwise convolution, dense layer, attention (the Q/K/V/output
  projections and the two ``N x N`` products) and recurrent cell (4 or 3 gates per step).
  A 2D network on every frame counts once per frame. BN, activations, poolings and
  additions are left out. Video papers and model zoos (fvcore, mmcv) call
  multiply-accumulates "FLOPs"; so does this table.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from kvideo.models import build_video_classifier, list_presets  # noqa: E402
from kvideo.models.weights import available_weights  # noqa: E402

NUM_CLASSES = 400


def _shape(tensor: Any) -> tuple:
    return tuple(tensor.shape)


def _positions(shape: tuple) -> int:
    """Output positions of a layer: every axis but the batch and the channels."""
    return math.prod(d for d in shape[1:-1])


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-accumulates of one call of `layer` at batch 1 (0 for uncounted layers)."""
    if isinstance(layer, keras.Model):
        return 0  # counted layer by layer by the caller
    layers = keras.layers
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)) and not isinstance(
        layer, (layers.DepthwiseConv2D, layers.SeparableConv2D)
    ):
        return _positions(_shape(layer.output)) * math.prod(layer.kernel.shape)
    if isinstance(layer, layers.DepthwiseConv2D):
        return _positions(_shape(layer.output)) * math.prod(layer.kernel.shape)
    if isinstance(layer, layers.SeparableConv2D):
        positions = _positions(_shape(layer.output))
        return positions * (
            math.prod(layer.depthwise_kernel.shape) + math.prod(layer.pointwise_kernel.shape)
        )
    if isinstance(layer, layers.Dense):
        return _positions(_shape(layer.output)) * math.prod(layer.kernel.shape)
    if isinstance(layer, layers.MultiHeadAttention):
        tokens, dim = _shape(layer.output)[1], _shape(layer.output)[-1]
        heads, key_dim = layer.num_heads, layer.key_dim
        projections = 4 * tokens * dim * heads * key_dim
        return projections + 2 * tokens * tokens * heads * key_dim
    if isinstance(layer, (layers.LSTM, layers.GRU)):
        steps, features = _shape(layer.input)[1], _shape(layer.input)[-1]
        gates = 4 if isinstance(layer, layers.LSTM) else 3
        return steps * gates * layer.units * (features + layer.units)
    return 0


def model_macs(model: keras.Model, repeats: int = 1) -> int:
    """MACs of `model` at batch 1; nested models run `repeats` times per call (per frame)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            # A 2D backbone of a classifier runs once per frame.
            backbone = getattr(model, "backbone", None)
            on_frames = backbone is layer and len(layer.inputs[0].shape) == 4
            total += model_macs(layer, repeats * (model.num_frames if on_frames else 1))
        else:
            total += repeats * layer_macs(layer)
    return total


def describe(name: str) -> dict[str, Any]:
    """Parameters, GMACs, standard input and weights of registered model `name`."""
    spec = list_presets()[name]
    shape = (spec.num_frames, spec.crop_size, spec.crop_size, spec.channels)
    model = build_video_classifier(name, NUM_CLASSES, input_shape=shape)
    params = sum(math.prod(w.shape) for w in model.trainable_weights)
    gmacs = model_macs(model) / 1e9
    keras.backend.clear_session()
    return {
        "name": name,
        "family": spec.family,
        "input": f"{spec.input_name} {spec.num_frames}x{spec.crop_size}x{spec.crop_size}",
        "params": params,
        "gflops": gmacs,
        "weights": ", ".join(available_weights(name)) or "-",
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | family | standard input | parameters (400 classes) | GFLOPs per clip "
        "| starts from |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| `{r['name']}` | {r['family']} | {r['input']} | {r['params']:,} | "
            f"{r['gflops']:.1f} | {r['weights']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="", help="Comma-separated names (default: all).")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n] or list(list_presets())
    rows = [describe(name) for name in names]
    print(markdown(rows))


if __name__ == "__main__":
    main()
