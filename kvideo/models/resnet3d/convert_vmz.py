"""IG65M / VMZ R(2+1)D checkpoints -> kvideo ResNet-3D weights (``.weights.h5``).

The IG65M R(2+1)D-34 models (Ghadiyaram et al. 2019; pretrained on 65 million Instagram
videos, and fine-tuned on Kinetics-400; for 8- and 32-frame clips) were trained in
Caffe2 with Facebook's VMZ code and are published in two forms, both read here:

* VMZ's Caffe2 ``.pkl`` files: a pickled ``{"blobs": {name: numpy array}}`` with Caffe2
  blob names (``conv1_middle_w``, ``comp_3_conv_1_middle_w``, ``comp_3_spatbn_1_rm``,
  ``shortcut_projection_3_w``, ``last_out_L400_w``, ...);
* the PyTorch ``.pth`` files of ``moabitcoin/ig65m-pytorch`` (a port of those blobs): a
  torchvision ``VideoResNet`` state dict (``stem.0.weight``, ``layer2.0.conv1.0.0.weight``,
  ...) of a model whose every (2+1)D convolution sizes its own intermediate width.

Both fit kvideo's ``r2plus1d_34`` (per-conv widths, batch norm epsilon 1e-3 as Caffe2's)::

    python -m kvideo.models.resnet3d.convert_vmz \\
        --checkpoint=r2plus1d_34_clip32_ig65m_from_scratch-449a7af9.pth \\
        --output=r2plus1d_34_ig65m_32.weights.h5 --model=r2plus1d_34

The blob names map to torchvision's keys as in ig65m-pytorch's converter: component
``n`` (blocks counted over all stages) is block ``n`` of the stage it falls in;
``_middle`` is the spatial half of a (2+1)D convolution; BatchNorm's ``_s``, ``_b``,
``_rm``, ``_riv`` are its scale, offset, running mean and running variance (despite the
name, ``_riv`` holds the variance: Caffe2's SpatialBN takes it as its running variance).
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kvideo.models import conversion
from kvideo.models.resnet3d import convert_torchvision
from kvideo.models.resnet3d.resnet3d_backbone import ResNet3DBackbone

_BN = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_COMPONENT = re.compile(r"^comp_(\d+)_(conv|spatbn)_(\d+)(_middle)?_(w|s|b|rm|riv)$")
_SHORTCUT = re.compile(r"^shortcut_projection_(\d+)(_spatbn)?_(w|s|b|rm|riv)$")
_STEM = re.compile(r"^conv1(_middle)?(_spatbn_relu)?_(w|s|b|rm|riv)$")
_CLASSIFIER = re.compile(r"^last_out_L(\d+)_(w|b)$")
# Training state some Caffe2 pickles carry beside the weights.
_TRAINING_STATE = re.compile(r"(_momentum$|^model_iter$|^lr$)")

#: numpy's pickle entry points, under their NumPy 1 and NumPy 2 module names, and the
#: bytes decoder of protocol-2 pickles written by Python 3: all that a Caffe2 ``.pkl`` of
#: arrays may reference (anything else is refused, not run).
_PICKLE_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_vmz_pickle(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The blobs of a VMZ Caffe2 ``.pkl`` (Python 2 pickles included), ``{name: array}``.

    Only numpy arrays are unpickled; a file that references other code is refused.

    Raises:
        ValueError: when the file is not such a pickle.
    """
    try:
        with open(path, "rb") as f:
            loaded = _ArraysOnly(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as err:
        raise ValueError(f"{os.fspath(path)!r} is not a VMZ Caffe2 pickle: {err}") from err
    blobs = loaded.get("blobs", loaded) if isinstance(loaded, Mapping) else None
    if not isinstance(blobs, Mapping):
        raise ValueError(f"{os.fspath(path)!r} holds no blobs. Received: {type(loaded).__name__}")
    return {str(k): np.asarray(v) for k, v in blobs.items() if not _TRAINING_STATE.search(str(k))}


def _block(component: int, stage_depths: Sequence[int]) -> str | None:
    """``layer{i}.{j}`` of component `component` (blocks counted over all stages)."""
    for stage, depth in enumerate(stage_depths):
        if component < depth:
            return f"layer{stage + 1}.{component}"
        component -= depth
    return None


def vmz_to_torchvision(
    blobs: Mapping[str, np.ndarray], stage_depths: Sequence[int]
) -> dict[str, np.ndarray]:
    """Renames Caffe2 VMZ blobs to torchvision's keys for a stack of `stage_depths`.

    Names that fit no pattern are kept, so that the conversion reports them.
    """
    factorised = any(name.endswith("_middle_w") for name in blobs)
    renamed = {}
    for name, array in blobs.items():
        key = name
        if match := _COMPONENT.match(name):
            component, kind, k, middle, field = match.groups()
            block = _block(int(component), stage_depths)
            if block is not None:
                if kind == "spatbn":
                    module = f"conv{k}.0.1" if middle else f"conv{k}.1"
                    key = f"{block}.{module}.{_BN[field]}"
                elif field == "w":
                    module = "0.0" if middle else ("0.3" if factorised else "0")
                    key = f"{block}.conv{k}.{module}.weight"
        elif match := _SHORTCUT.match(name):
            component, bn, field = match.groups()
            block = _block(int(component), stage_depths)
            if block is not None:
                key = f"{block}.downsample.{1 if bn else 0}.{_BN.get(field, 'weight')}"
        elif match := _STEM.match(name):
            middle, bn, field = match.groups()
            # Factorised stems: conv1_middle (1x7x7) -> stem.0/1, conv1 (3x1x1) -> stem.3/4.
            index = (0 if middle else 3) if factorised else 0
            key = f"stem.{index + 1}.{_BN[field]}" if bn else f"stem.{index}.weight"
        elif match := _CLASSIFIER.match(name):
            key = "fc.weight" if match.group(2) == "w" else "fc.bias"
        renamed[key] = array
    return renamed


def convert(
    checkpoint_path: str | os.PathLike,
    output_path: str | os.PathLike,
    model_name: str,
    *,
    backbone: ResNet3DBackbone | None = None,
) -> str:
    """An IG65M/VMZ checkpoint (Caffe2 ``.pkl`` or PyTorch ``.pth``) -> ``.weights.h5``.

    Args:
        checkpoint_path: a VMZ ``.pkl`` or an ig65m-pytorch ``.pth``.
        output_path: the ``.weights.h5`` to write; the classifier goes beside it.
        model_name: the registered model (``r2plus1d_34`` for the IG65M checkpoints).
        backbone: the backbone to fill (default: the registered model's).

    Raises:
        ValueError: when the file does not fit the architecture.
    """
    path = os.fspath(checkpoint_path)
    # Read first: a file that is no checkpoint fails before a backbone is built.
    blobs = read_vmz_pickle(path) if path.endswith(".pkl") else None
    arrays = conversion.read_torch_checkpoint(path) if blobs is None else None
    backbone = backbone or conversion.build_registered_backbone(model_name)
    if blobs is not None:
        arrays = vmz_to_torchvision(blobs, getattr(backbone, "stage_depths", ()))
    return convert_torchvision.convert_state_dict(
        arrays, output_path, model_name, backbone=backbone
    )


def main(argv: Sequence[str] | None = None) -> Any:
    return conversion.command_line(
        convert, convert_torchvision.resnet3d_models(), __doc__.split("\n\n")[0], argv
    )


if __name__ == "__main__":
    main()
