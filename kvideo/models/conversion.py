"""What every checkpoint converter shares: read, map, check, write, command line.

A converter (``kvideo/models/<family>/convert_<source>.py``, see `kvideo.models.weights`)
reads another framework's checkpoint into ``{key: numpy array}``, names for each of them
the Keras variable it fills (`Assignment`), and calls `write_converted`, which checks that
every array of the checkpoint has a place and every variable of the backbone a value,
with the same shapes, and writes the backbone's ``.weights.h5`` and, when the checkpoint
has one, its classifier (`kvideo.models.weights.save_head_weights`). A checkpoint that
does not fit gets a ValueError that names the keys and shapes that disagree.

PyTorch (the ``torch`` extra) is imported by `read_torch_checkpoint` alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from kvideo.models import registry, weights


@dataclasses.dataclass(frozen=True)
class Assignment:
    """One checkpoint array into one Keras variable.

    Attributes:
        key: the checkpoint's key (e.g. ``"layer1.0.conv1.1.running_var"``).
        layer: the Keras layer's name in the backbone.
        variable: the variable's name in the layer (``"kernel"``, ``"moving_variance"``).
        transform: turns the checkpoint's array into the variable's layout (a transpose).
    """

    key: str
    layer: str
    variable: str
    transform: Callable[[np.ndarray], np.ndarray] = np.asarray


def conv3d_kernel(array: np.ndarray) -> np.ndarray:
    """PyTorch/Caffe2 ``(out, in, t, h, w)`` -> Keras ``(t, h, w, in, out)``."""
    return np.transpose(array, (2, 3, 4, 1, 0))


def dense_kernel(array: np.ndarray) -> np.ndarray:
    """PyTorch ``(out, in)`` -> Keras ``(in, out)``."""
    return np.transpose(array)


#: PyTorch BatchNorm's arrays and the Keras variables they fill.
BATCH_NORM_VARIABLES = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def batch_norm_assignments(prefix: str, layer: str) -> list[Assignment]:
    """The four arrays of PyTorch BatchNorm ``prefix`` into Keras BatchNormalization."""
    return [Assignment(f"{prefix}.{k}", layer, v) for k, v in BATCH_NORM_VARIABLES.items()]


def read_torch_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A PyTorch checkpoint's state dict as float32 numpy arrays (no code is unpickled).

    Accepts a bare state dict (torchvision, IG65M, the C3D port: old and zip formats) or a
    dict holding one under ``"state_dict"`` or ``"model"``.

    Raises:
        ValueError: when the file is not a PyTorch checkpoint of tensors.
        ImportError: without PyTorch (``pip install 'kvideo[torch]'``).
    """
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            "Converting a PyTorch checkpoint needs PyTorch: pip install 'kvideo[torch]'"
        ) from err
    try:
        loaded = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling raises many types
        raise ValueError(
            f"{os.fspath(path)!r} is not a readable PyTorch checkpoint: {err}"
        ) from err
    for key in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not isinstance(loaded, Mapping) or not all(torch.is_tensor(v) for v in loaded.values()):
        raise ValueError(
            f"{os.fspath(path)!r} does not hold a state dict of tensors. Received: "
            f"{type(loaded).__name__}"
        )
    return {str(k): v.detach().cpu().float().numpy() for k, v in loaded.items()}


def build_registered_backbone(model_name: str) -> Any:
    """Registered model `model_name`'s backbone at its registered clip size."""
    spec = registry.get_model_spec(model_name)
    shape = (spec.num_frames, spec.crop_size, spec.crop_size, spec.channels)
    return spec.build_backbone(**spec.config, input_shape=shape)


def write_converted(
    arrays: Mapping[str, np.ndarray],
    assignments: Sequence[Assignment],
    backbone: Any,
    output_path: str | os.PathLike,
    model_name: str,
    *,
    head: tuple[str, str] | None = None,
    ignored: Callable[[str], bool] = lambda key: False,
) -> str:
    """Fills `backbone` from `arrays` by `assignments`, strictly, and writes it.

    Args:
        arrays: the checkpoint, ``{key: array}``.
        assignments: where each array goes; every variable of `backbone` must get one.
        backbone: the Keras backbone to fill.
        output_path: the ``.weights.h5`` file to write.
        model_name: the registered model, for messages.
        head: the keys ``(kernel, bias)`` of the checkpoint's classifier (PyTorch's
            ``(classes, features)`` layout), written beside the backbone's weights with
            `kvideo.models.weights.save_head_weights`; None if it has none.
        ignored: keys of the checkpoint that hold no weights (e.g. BatchNorm's
            ``num_batches_tracked``).

    Returns:
        `output_path`.

    Raises:
        ValueError: listing the checkpoint keys that are missing, unexpected or of
            another shape than the backbone's variables.
    """
    output_path = os.fspath(output_path)
    if not output_path.endswith(".weights.h5"):
        raise ValueError(f"The output must be a .weights.h5 file. Received: {output_path!r}")
    variables = {}
    for layer in backbone.layers:
        for variable in layer.weights:
            variables[(layer.name, variable.name)] = variable
    problems, filled = [], set()
    for a in assignments:
        if a.key not in arrays:
            problems.append(f"missing key {a.key!r} (for {a.layer}/{a.variable})")
            continue
        variable = variables.get((a.layer, a.variable))
        if variable is None:
            problems.append(f"no variable {a.layer}/{a.variable} in the backbone for {a.key!r}")
            continue
        value = a.transform(arrays[a.key])
        if tuple(value.shape) != tuple(variable.shape):
            problems.append(
                f"{a.key!r} has shape {tuple(arrays[a.key].shape)}, which gives "
                f"{tuple(value.shape)}; {a.layer}/{a.variable} has {tuple(variable.shape)}"
            )
            continue
        variable.assign(value.astype(np.float32))
        filled.add((a.layer, a.variable))
    head_keys = set(head or ())
    used = {a.key for a in assignments} | head_keys
    unexpected = sorted(k for k in arrays if k not in used and not ignored(k))
    if unexpected:
        problems.append(
            f"unexpected keys {unexpected[:12]}{' ...' if len(unexpected) > 12 else ''}"
        )
    unfilled = sorted(f"{layer}/{name}" for layer, name in variables if (layer, name) not in filled)
    if unfilled:
        problems.append(f"backbone variables without a value {unfilled[:12]}")
    missing_head = sorted(head_keys - set(arrays))
    if missing_head:
        problems.append(f"missing classifier keys {missing_head}")
    if problems:
        raise ValueError(
            f"The checkpoint does not fit model {model_name!r}: " + "; ".join(problems)
        )
    directory = os.path.dirname(output_path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    backbone.save_weights(output_path)
    head_path = weights.head_weights_path(output_path)
    if head is not None:
        kernel, bias = (arrays[k] for k in head)
        weights.save_head_weights(head_path, dense_kernel(kernel), bias)
    elif os.path.exists(head_path):
        os.remove(head_path)  # a classifier from an earlier conversion would not fit
    return output_path


def command_line(
    convert: Callable[..., str], models: Sequence[str], description: str, argv: Sequence[str] | None
) -> str:
    """The converters' command line: ``--checkpoint``, ``--output``, ``--model``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--checkpoint", required=True, help="The published checkpoint file.")
    parser.add_argument("--output", required=True, help="The .weights.h5 file to write.")
    parser.add_argument("--model", required=True, choices=list(models), help="Registered model.")
    args = parser.parse_args(argv)
    try:
        path = convert(args.checkpoint, args.output, args.model)
    except ValueError as err:
        parser.exit(1, f"error: {err}\n")
    print(f"Wrote {path}")
    head = weights.head_weights_path(path)
    if os.path.exists(head):
        print(f"Wrote {head} (the checkpoint's classifier)")
    return path
