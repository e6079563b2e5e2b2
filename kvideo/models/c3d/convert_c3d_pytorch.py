"""The C3D Sports-1M port (``DavideA/c3d-pytorch``'s ``c3d.pickle``) -> kvideo weights.

``c3d.pickle`` is a PyTorch state dict of the port's ``C3D`` module (Caffe's Sports-1M
C3D, via Keras): ``conv1``, ``conv2``, ``conv3a`` ... ``conv5b`` (``Conv3d`` with bias)
and ``fc6``, ``fc7``, ``fc8`` (``Linear``; fc8 is the 487-class Sports-1M classifier,
written beside the backbone's weights)::

    python -m kvideo.models.c3d.convert_c3d_pytorch \\
        --checkpoint=c3d.pickle --output=c3d_sports1m.weights.h5 --model=c3d

Two layouts differ between the port and kvideo:

* The Caffe model read frames as OpenCV gives them, in BGR order (the port's issue #1
  reports correct predictions only with BGR, mean-subtracted 0-255 input). The
  converter reverses conv1's input channels, so that the kvideo model takes RGB like
  every other kvideo model; registered statistics subtract the Sports-1M mean.
* PyTorch flattens pool5's ``(C, T, H, W)`` map channel first, Keras ``(T, H, W, C)``
  channel last: fc6's inputs are reordered to match.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kvideo.models import conversion, registry
from kvideo.models.c3d.c3d_backbone import CONV_NAMES, C3DBackbone

#: The port's classifier, fc8 (487 Sports-1M classes).
HEAD_KEYS = ("fc8.weight", "fc8.bias")


def _rgb_conv1(array: np.ndarray) -> np.ndarray:
    # Caffe's conv1 read BGR frames: reverse its input channels to read RGB.
    return conversion.conv3d_kernel(array[:, ::-1])


def _fc6_kernel(pool5_shape: Sequence[int]) -> Any:
    """fc6's ``(out, C*T*H*W)`` weight, inputs reordered to Keras's ``(T, H, W, C)``."""
    frames, height, width, channels = pool5_shape

    def transform(array: np.ndarray) -> np.ndarray:
        if array.shape[1] != channels * frames * height * width:
            return conversion.dense_kernel(array)  # let the shape check report it
        by_axis = array.reshape(array.shape[0], channels, frames, height, width)
        return by_axis.transpose(2, 3, 4, 1, 0).reshape(-1, array.shape[0])

    return transform


def c3d_assignments(backbone: C3DBackbone) -> list[conversion.Assignment]:
    """Where each array of the port's state dict goes in `backbone`."""
    assignments = []
    for name in CONV_NAMES:
        kernel = _rgb_conv1 if name == "conv1" else conversion.conv3d_kernel
        assignments.append(conversion.Assignment(f"{name}.weight", name, "kernel", kernel))
        assignments.append(conversion.Assignment(f"{name}.bias", name, "bias"))
    if backbone.include_fc:
        pool5 = tuple(int(d) for d in backbone.get_layer("pool5").output.shape[1:])
        assignments += [
            conversion.Assignment("fc6.weight", "fc6", "kernel", _fc6_kernel(pool5)),
            conversion.Assignment("fc6.bias", "fc6", "bias"),
            conversion.Assignment("fc7.weight", "fc7", "kernel", conversion.dense_kernel),
            conversion.Assignment("fc7.bias", "fc7", "bias"),
        ]
    return assignments


def convert_state_dict(
    arrays: Mapping[str, np.ndarray],
    output_path: str | os.PathLike,
    model_name: str,
    *,
    backbone: C3DBackbone | None = None,
) -> str:
    """Writes the weights of the port's state dict `arrays` for C3D model `model_name`.

    A backbone without fc layers (``include_fc=False``) takes the convolutions alone.

    Raises:
        ValueError: when the checkpoint does not fit the architecture (e.g. fc6 sized for
            another clip size than the backbone's input).
    """
    backbone = backbone or conversion.build_registered_backbone(model_name)
    if not isinstance(backbone, C3DBackbone):
        raise ValueError(
            f"C3D checkpoints convert into C3D models. Received: model_name={model_name!r}"
        )
    fc_keys = {f"fc{i}.{p}" for i in (6, 7) for p in ("weight", "bias")}
    with_head = backbone.include_fc and HEAD_KEYS[0] in arrays
    return conversion.write_converted(
        arrays,
        c3d_assignments(backbone),
        backbone,
        output_path,
        model_name,
        head=HEAD_KEYS if with_head else None,
        # Without fc layers the port's fc6-fc8 have nowhere to go, by choice.
        ignored=lambda key: not backbone.include_fc and (key in fc_keys or key in HEAD_KEYS),
    )


def convert(
    checkpoint_path: str | os.PathLike,
    output_path: str | os.PathLike,
    model_name: str,
    *,
    backbone: C3DBackbone | None = None,
) -> str:
    """``c3d.pickle`` (the port's state dict) -> kvideo ``.weights.h5``; returns its path."""
    arrays = conversion.read_torch_checkpoint(checkpoint_path)
    return convert_state_dict(arrays, output_path, model_name, backbone=backbone)


def main(argv: Sequence[str] | None = None) -> Any:
    return conversion.command_line(
        convert, list(registry.list_presets("c3d")), __doc__.split("\n\n")[0], argv
    )


if __name__ == "__main__":
    main()
