"""torchvision's video ResNet checkpoints -> kvideo ResNet-3D weights (``.weights.h5``).

Reads the state dicts of ``torchvision.models.video.r3d_18``, ``mc3_18`` and
``r2plus1d_18`` (and of any ``VideoResNet`` with basic blocks, e.g. at depth 34), and
writes the weights of the matching kvideo backbone; the checkpoint's ``fc`` layer is
written beside them as the classifier (`kvideo.models.weights.load_head_weights`)::

    python -m kvideo.models.resnet3d.convert_torchvision \\
        --checkpoint=r3d_18-b3b3357e.pth --output=r3d_18.weights.h5 --model=r3d_18

torchvision's ``r2plus1d_18`` shares one intermediate width per block: convert it into
``r2plus1d_18_torchvision``. Key by key, kvideo's layers are torchvision's modules:

========================================  =========================================
kvideo layer                              torchvision key prefix
========================================  =========================================
``stem_conv``, ``stem_bn``                ``stem.0``, ``stem.1`` (R3D/MC3 stem)
``stem_spatial``, ``stem_spatial_bn``     ``stem.0``, ``stem.1`` (R(2+1)D stem)
``stem_temporal``, ``stem_temporal_bn``   ``stem.3``, ``stem.4``
``stage{i}_block{j}_conv{k}``             ``layer{i}.{j-1}.conv{k}.0``
``..._conv{k}_spatial`` / ``_spatial_bn`` ``layer{i}.{j-1}.conv{k}.0.0`` / ``.0.1``
``..._conv{k}_temporal``                  ``layer{i}.{j-1}.conv{k}.0.3``
``..._bn{k}``                             ``layer{i}.{j-1}.conv{k}.1``
``..._shortcut_conv`` / ``_shortcut_bn``  ``layer{i}.{j-1}.downsample.0`` / ``.1``
========================================  =========================================

Convolution kernels go from ``(out, in, t, h, w)`` to ``(t, h, w, in, out)``; BatchNorm's
weight, bias, running mean and variance to gamma, beta, moving mean and variance. The
padding (PyTorch's symmetric ``k // 2``) and the batch norm epsilon (``bn_epsilon`` of the
preset) are the backbone's; the parity test checks that the logits agree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from kvideo.models import conversion, registry
from kvideo.models.resnet3d.resnet3d_backbone import ResNet3DBackbone

_STEM = {
    "stem_conv": "stem.0",
    "stem_bn": "stem.1",
    "stem_spatial": "stem.0",
    "stem_spatial_bn": "stem.1",
    "stem_temporal": "stem.3",
    "stem_temporal_bn": "stem.4",
}
_BLOCK = re.compile(r"^stage(\d+)_block(\d+)_(.+)$")
_BLOCK_PARTS = {
    **{
        f"conv{k}{suffix}": f"conv{k}.{module}"
        for k in (1, 2)
        for suffix, module in (
            ("", "0"),
            ("_spatial", "0.0"),
            ("_spatial_bn", "0.1"),
            ("_temporal", "0.3"),
        )
    },
    "bn1": "conv1.1",
    "bn2": "conv2.1",
    "shortcut_conv": "downsample.0",
    "shortcut_bn": "downsample.1",
}

#: The checkpoint's classifier (``fc``), as PyTorch stores it.
HEAD_KEYS = ("fc.weight", "fc.bias")


def torchvision_prefix(layer_name: str) -> str | None:
    """The torchvision module of kvideo layer `layer_name` (None if it has none)."""
    if layer_name in _STEM:
        return _STEM[layer_name]
    match = _BLOCK.match(layer_name)
    if match and match.group(3) in _BLOCK_PARTS:
        stage, block, part = match.groups()
        return f"layer{stage}.{int(block) - 1}.{_BLOCK_PARTS[part]}"
    return None


def torchvision_assignments(backbone: ResNet3DBackbone) -> list[conversion.Assignment]:
    """Where each array of a torchvision checkpoint goes in `backbone`.

    Raises:
        ValueError: for a backbone with layers torchvision's models do not have
            (non-local blocks).
    """
    assignments = []
    for layer in backbone.layers:
        if not layer.weights:
            continue
        prefix = torchvision_prefix(layer.name)
        if prefix is None:
            raise ValueError(
                f"Layer {layer.name!r} of the backbone has no counterpart in torchvision's "
                "video ResNets (a non-local block?); convert into a backbone without it."
            )
        if isinstance(layer, keras.layers.BatchNormalization):
            assignments += conversion.batch_norm_assignments(prefix, layer.name)
        else:
            assignments.append(
                conversion.Assignment(
                    f"{prefix}.weight", layer.name, "kernel", conversion.conv3d_kernel
                )
            )
    return assignments


def convert_state_dict(
    arrays: Mapping[str, np.ndarray],
    output_path: str | os.PathLike,
    model_name: str,
    *,
    backbone: ResNet3DBackbone | None = None,
) -> str:
    """Writes the weights of `arrays` (a torchvision-layout state dict) for `model_name`.

    Args:
        arrays: ``{key: array}`` with torchvision's key names.
        output_path: the ``.weights.h5`` to write; the ``fc`` classifier, if any, goes
            beside it (`kvideo.models.weights.head_weights_path`).
        model_name: a registered ResNet-3D model (``r3d_18``, ``mc3_18``,
            ``r2plus1d_18_torchvision``, ...).
        backbone: the backbone to fill (default: the registered model's).

    Raises:
        ValueError: when the checkpoint does not fit the architecture (naming the keys
            and shapes that disagree).
    """
    backbone = backbone or conversion.build_registered_backbone(model_name)
    if not isinstance(backbone, ResNet3DBackbone):
        raise ValueError(
            f"torchvision video ResNet checkpoints convert into ResNet-3D models. "
            f"Received: model_name={model_name!r}"
        )
    return conversion.write_converted(
        arrays,
        torchvision_assignments(backbone),
        backbone,
        output_path,
        model_name,
        head=HEAD_KEYS if HEAD_KEYS[0] in arrays else None,
        ignored=lambda key: key.endswith("num_batches_tracked"),
    )


def convert(
    checkpoint_path: str | os.PathLike,
    output_path: str | os.PathLike,
    model_name: str,
    *,
    backbone: ResNet3DBackbone | None = None,
) -> str:
    """A torchvision video ResNet checkpoint (``.pth``) -> kvideo ``.weights.h5``.

    See `convert_state_dict`; returns `output_path`.
    """
    arrays = conversion.read_torch_checkpoint(checkpoint_path)
    return convert_state_dict(arrays, output_path, model_name, backbone=backbone)


def resnet3d_models() -> list[str]:
    """The registered models a ResNet-3D checkpoint can be converted into."""
    return list(registry.list_presets("resnet3d"))


def main(argv: Sequence[str] | None = None) -> Any:
    return conversion.command_line(convert, resnet3d_models(), __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
    main()
