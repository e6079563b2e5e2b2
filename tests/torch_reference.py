"""PyTorch reference models for the converter parity tests (`test_converters.py`).

Run in a process of its own, without TensorFlow: importing torchvision after TensorFlow
crashes (torchvision imports torch._dynamo, which loads triton's native library)::

    python -m tests.torch_reference OUT_DIR CASE [CASE ...]

For each case it builds the reference network, gives every parameter *and every batch
norm statistic* random values, and writes into OUT_DIR

* ``<case>.<ext>``: the checkpoint in its published file format and layout;
* ``<case>.clip.npy``: a uint8 RGB clip ``(2, T, H, W, 3)``;
* ``<case>.logits.npy``: the reference's logits on that clip, preprocessed as the
  weights' publishers do.

The references: torchvision's own constructors (``r3d_18``, ``mc3_18``,
``r2plus1d_18``); ig65m-pytorch's R(2+1)D-34, which is torchvision's ``VideoResNet`` with
the first block of stages 2-4 given its own intermediate width in conv2 and batch norm
epsilon 1e-3 (``moabitcoin/ig65m-pytorch``, ``ig65m/models.py``), saved as its ``.pth``
(torchvision keys) and as a VMZ Caffe2 ``.pkl`` (blob names as ig65m-pytorch's Caffe2
converter reads them); and the C3D of ``DavideA/c3d-pytorch``'s ``C3D_model.py``, layer
for layer, saved in PyTorch's legacy format as its ``c3d.pickle`` was.
"""

from __future__ import annotations

import pathlib
import pickle
import sys
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torchvision.models.video import resnet as tv

#: Kinetics statistics (torchvision, IG65M), on [0, 1] RGB pixels.
KINETICS_MEAN = np.array([0.43216, 0.394666, 0.37645], np.float32)
KINETICS_STD = np.array([0.22803, 0.22145, 0.216989], np.float32)
#: C3D's Sports-1M mean, BGR on 0-255 pixels (the Caffe model read BGR).
SPORTS1M_MEAN_BGR = np.array([90.25, 97.66, 101.41], np.float32)


def randomize(model: nn.Module, seed: int) -> None:
    """Random weights (He-normal kernels, so activations keep their scale), random
    batch norm scales, offsets, running means and running variances."""
    generator = torch.Generator().manual_seed(seed)

    def draw(shape, low=None, high=None, std=None):
        if std is not None:
            return torch.randn(shape, generator=generator) * std
        return torch.rand(shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(draw(tensor.shape, 0.5, 2.0))
            elif name.endswith("running_mean") or name.endswith("bias"):
                tensor.copy_(draw(tensor.shape, std=0.2))
            elif tensor.ndim == 1:  # batch norm scale
                tensor.copy_(draw(tensor.shape, 0.5, 1.5))
            else:
                fan_in = int(np.prod(tensor.shape[1:]))
                tensor.copy_(draw(tensor.shape, std=(2.0 / fan_in) ** 0.5))


def ig65m_r2plus1d_34(num_classes: int) -> nn.Module:
    """ig65m-pytorch's ``r2plus1d_34`` (its published .pth files load into this)."""
    model = tv.VideoResNet(
        tv.BasicBlock, [tv.Conv2Plus1D] * 4, [3, 4, 6, 3], tv.R2Plus1dStem, num_classes
    )
    # Caffe2 sized every (2+1)D conv's width from its own channels; torchvision shares
    # the first conv's in the first block of a stage.
    model.layer2[0].conv2[0] = tv.Conv2Plus1D(128, 128, 288)
    model.layer3[0].conv2[0] = tv.Conv2Plus1D(256, 256, 576)
    model.layer4[0].conv2[0] = tv.Conv2Plus1D(512, 512, 1152)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.eps = 1e-3
    return model


class PortC3D(nn.Module):
    """``DavideA/c3d-pytorch``'s ``C3D`` layer for layer (same names, shapes, padding).

    The port flattens pool5 with ``view(-1, 8192)``, which fixes the input at
    16x112x112; ``flatten(1)`` is the same there and lets smaller clips (and a smaller
    fc6) test the same mapping quickly.
    """

    def __init__(self, fc6_inputs: int = 8192, num_classes: int = 487) -> None:
        super().__init__()
        widths = [("conv1", 3, 64), ("conv2", 64, 128), ("conv3a", 128, 256)]
        widths += [("conv3b", 256, 256), ("conv4a", 256, 512), ("conv4b", 512, 512)]
        widths += [("conv5a", 512, 512), ("conv5b", 512, 512)]
        for name, c_in, c_out in widths:
            setattr(self, name, nn.Conv3d(c_in, c_out, kernel_size=(3, 3, 3), padding=(1, 1, 1)))
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.pool2 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.pool3 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.pool4 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2))
        self.pool5 = nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 1, 1))
        self.fc6 = nn.Linear(fc6_inputs, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool1(self.relu(self.conv1(x)))
        h = self.pool2(self.relu(self.conv2(h)))
        h = self.pool3(self.relu(self.conv3b(self.relu(self.conv3a(h)))))
        h = self.pool4(self.relu(self.conv4b(self.relu(self.conv4a(h)))))
        h = self.pool5(self.relu(self.conv5b(self.relu(self.conv5a(h)))))
        h = self.relu(self.fc6(h.flatten(1)))
        return self.fc8(self.relu(self.fc7(h)))  # logits: the port's dropouts are off


def vmz_blobs(model: nn.Module) -> dict[str, np.ndarray]:
    """ig65m-pytorch's R(2+1)D-34 as VMZ Caffe2 blobs (the inverse of its converter)."""
    blobs: dict[str, np.ndarray] = {}

    def conv(module: nn.Conv3d, name: str) -> None:
        blobs[f"{name}_w"] = module.weight.detach().numpy()

    def bn(module: nn.BatchNorm3d, name: str) -> None:
        for suffix, tensor in (
            ("s", module.weight),
            ("b", module.bias),
            ("rm", module.running_mean),
            ("riv", module.running_var),
        ):
            blobs[f"{name}_{suffix}"] = tensor.detach().numpy()

    conv(model.stem[0], "conv1_middle")
    bn(model.stem[1], "conv1_middle_spatbn_relu")
    conv(model.stem[3], "conv1")
    bn(model.stem[4], "conv1_spatbn_relu")
    component = 0
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in layer:
            for k, sequence in ((1, block.conv1), (2, block.conv2)):
                factorised = sequence[0]
                conv(factorised[0], f"comp_{component}_conv_{k}_middle")
                bn(factorised[1], f"comp_{component}_spatbn_{k}_middle")
                conv(factorised[3], f"comp_{component}_conv_{k}")
                bn(sequence[1], f"comp_{component}_spatbn_{k}")
            if block.downsample is not None:
                conv(block.downsample[0], f"shortcut_projection_{component}")
                bn(block.downsample[1], f"shortcut_projection_{component}_spatbn")
            component += 1
    classes = model.fc.out_features
    blobs[f"last_out_L{classes}_w"] = model.fc.weight.detach().numpy()
    blobs[f"last_out_L{classes}_b"] = model.fc.bias.detach().numpy()
    return blobs


def _kinetics_input(clip: np.ndarray) -> np.ndarray:
    return (clip.astype(np.float32) / 255 - KINETICS_MEAN) / KINETICS_STD


def _c3d_input(clip: np.ndarray) -> np.ndarray:
    return clip[..., ::-1].astype(np.float32) - SPORTS1M_MEAN_BGR  # RGB -> BGR, Caffe's mean


def _save_pth(model: nn.Module, path: pathlib.Path) -> None:
    torch.save(model.state_dict(), path)


def _save_legacy(model: nn.Module, path: pathlib.Path) -> None:
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)


def _save_vmz(model: nn.Module, path: pathlib.Path) -> None:
    with open(path, "wb") as f:
        pickle.dump({"blobs": vmz_blobs(model)}, f, protocol=2)


#: case -> (build, save, file extension, clip shape (T, H, W), preprocessing).
CASES: dict[str, tuple[Callable[[], nn.Module], Callable, str, tuple, Callable]] = {
    "r3d_18": (lambda: tv.r3d_18(), _save_pth, "pth", (8, 32, 32), _kinetics_input),
    "mc3_18": (lambda: tv.mc3_18(), _save_pth, "pth", (8, 32, 32), _kinetics_input),
    "r2plus1d_18": (lambda: tv.r2plus1d_18(), _save_pth, "pth", (8, 32, 32), _kinetics_input),
    "r2plus1d_34_ig65m": (
        lambda: ig65m_r2plus1d_34(487),
        _save_pth,
        "pth",
        (8, 32, 32),
        _kinetics_input,
    ),
    "r2plus1d_34_vmz": (
        lambda: ig65m_r2plus1d_34(359),
        _save_vmz,
        "pkl",
        (8, 32, 32),
        _kinetics_input,
    ),
    # 16x32x32: pool5 is 1x2x2x512, so fc6 takes 2048 inputs.
    "c3d": (lambda: PortC3D(fc6_inputs=2048), _save_legacy, "pickle", (16, 32, 32), _c3d_input),
    # The port's exact network: 16x112x112, fc6 of 8192 inputs.
    "c3d_112": (lambda: PortC3D(), _save_legacy, "pickle", (16, 112, 112), _c3d_input),
}


def write_case(case: str, out_dir: pathlib.Path, seed: int = 0) -> pathlib.Path:
    """Writes `case`'s checkpoint, clip and logits into `out_dir`; returns the checkpoint."""
    build, save, extension, clip_shape, preprocess = CASES[case]
    torch.manual_seed(seed)
    model = build().eval()
    randomize(model, seed)
    checkpoint = out_dir / f"{case}.{extension}"
    save(model, checkpoint)
    clip = np.random.default_rng(seed).integers(0, 256, (2, *clip_shape, 3)).astype(np.uint8)
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(preprocess(clip).transpose(0, 4, 1, 2, 3)))
        logits = model(x).numpy()
    np.save(out_dir / f"{case}.clip.npy", clip)
    np.save(out_dir / f"{case}.logits.npy", logits)
    return checkpoint


def main(argv: list[str]) -> None:
    if len(argv) < 2 or any(case not in CASES for case in argv[1:]):
        raise SystemExit(f"usage: python -m tests.torch_reference OUT_DIR CASE... ({list(CASES)})")
    torch.set_num_threads(2)
    out_dir = pathlib.Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    for case in argv[1:]:
        print(write_case(case, out_dir))


if __name__ == "__main__":
    main(sys.argv[1:])
