"""Pretrained weights, kept apart from the architectures they fit.

An architecture is a preset in the registry (`kvideo.models.registry`); the weights it
can start from are listed here, by model name and weights name, and loaded by
``build_video_classifier(name, num_classes, weights=...)``. Weights are those of the
*backbone*: the classifier head is new for every dataset. A converted checkpoint's own
classifier is kept beside its backbone weights, and `load_pretrained_head` puts it into a
classifier with the same classes (e.g. Kinetics-400 inference with Kinetics weights)::

    model = build_video_classifier("r3d_18", 400, weights="kinetics400")
    load_pretrained_head(model, "r3d_18", "kinetics400")

Three kinds of entries:

* weights the backbone's own constructor loads (``backbone_arg``): e.g. a
  ``keras.applications`` network built with ``weights="imagenet"``, which Keras downloads
  and caches on the user's machine;
* a kvideo weights file (``.weights.h5``, written by ``backbone.save_weights``), fetched
  from ``origin`` with its SHA-256 checked and cached under ``~/.keras/kvideo/``;
* a published checkpoint of another framework (e.g. a PyTorch ``.pth``), fetched from
  ``origin`` the same way and turned into a ``.weights.h5`` beside it by ``convert``, a
  converter module's function (run once; the result is cached).

Converter conventions: a converter is its own module in its family's folder
(``kvideo/models/<family>/convert_<source>.py``) with a function
``convert(checkpoint_path, output_path, model_name) -> output_path`` and a command line
(``python -m kvideo.models.<family>.convert_<source> --checkpoint=... --output=...``), and
its own parity test against the reference implementation. The framework it reads
(``torch``, ``transformers``) is an optional extra imported by the converter alone.
`kvideo.models.conversion` holds what converters share (strict mapping, checks, files).
When a checkpoint holds a classifier, the converter writes it beside the output with
`save_head_weights` (``<name>.head.npz``, see `head_weights_path`).

The published checkpoints (this table, `WEIGHTS`):

* torchvision's Kinetics-400 ``r3d_18``, ``mc3_18``, ``r2plus1d_18``
  (``r2plus1d_18`` is kvideo's ``r2plus1d_18_torchvision``: one intermediate width per
  block), read by ``kvideo/models/resnet3d/convert_torchvision.py``;
* IG65M R(2+1)D-34 (Ghadiyaram et al. 2019), pretrained on IG-65M and fine-tuned on
  Kinetics-400, for 32- and 8-frame clips: the PyTorch files of ``moabitcoin/ig65m-pytorch``
  (torchvision key names) and VMZ's original Caffe2 ``.pkl`` files (blob names), read by
  ``kvideo/models/resnet3d/convert_vmz.py``;
* C3D Sports-1M, the PyTorch port ``DavideA/c3d-pytorch`` of the Caffe model, read by
  ``kvideo/models/c3d/convert_c3d_pytorch.py``.

Checksums: torch.hub names files ``<name>-<first 8 hex digits of their SHA-256>.pth``;
those 8 digits are all that is published for the torchvision and IG65M files, and they
are checked as a prefix. Nothing is published for ``c3d.pickle``. Sizes are those the
publishers state (torchvision's documentation), where they state one.

`weights` may also be the path of a ``.weights.h5`` file of your own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """Weights a registered model can start from.

    Attributes:
        name: the name passed as ``weights=`` (e.g. ``"imagenet"``, ``"kinetics400"``).
        description: what they were trained on, one line.
        source: where the original weights come from (publication or release page).
        backbone_arg: when set, the backbone's constructor loads the weights itself:
            it is called with ``{backbone_arg: name}`` (``keras.applications``' own
            ``weights="imagenet"``).
        origin: URL of the file to fetch (when not `backbone_arg`): a kvideo
            ``.weights.h5``, or with `convert` a checkpoint of another framework.
        file_name: the cached file's name.
        file_hash: SHA-256 of the file, or the first hex digits of it where only those
            are published (torch.hub's ``name-<8 digits>.pth``), checked after download;
            None when none is published.
        size_bytes: the file's size, for the docs (None when not published exactly).
        convert: ``convert(checkpoint_path, output_path, model_name) -> output_path``,
            turning the fetched checkpoint into a kvideo ``.weights.h5``.
    """

    name: str
    description: str
    source: str
    backbone_arg: str | None = None
    origin: str | None = None
    file_name: str | None = None
    file_hash: str | None = None
    size_bytes: int | None = None
    convert: Callable[[str, str, str], str] | None = None

    def __post_init__(self):
        if (self.backbone_arg is None) == (self.origin is None):
            raise ValueError(
                "PretrainedWeights needs exactly one of `backbone_arg` and `origin`. "
                f"Received: backbone_arg={self.backbone_arg!r}, origin={self.origin!r}"
            )


def _keras_imagenet(network: str) -> dict[str, PretrainedWeights]:
    """ImageNet weights that ``keras.applications`` downloads and caches itself."""
    return {
        "imagenet": PretrainedWeights(
            name="imagenet",
            description=f"ImageNet-1k classification: keras.applications {network}",
            source="https://keras.io/api/applications/",
            backbone_arg="weights",
        )
    }


def _keras_applications_weights() -> dict[str, dict[str, PretrainedWeights]]:
    from kvideo.models.per_frame.keras_applications import APPLICATIONS

    entries = {f"tsn_{name}": _keras_imagenet(a.constructor) for name, a in APPLICATIONS.items()}
    entries["lrcn_resnet50"] = _keras_imagenet("ResNet50")
    entries["cnn_transformer_resnet50"] = _keras_imagenet("ResNet50")
    # The 2D ImageNet weights, inflated (each kernel repeated over time and divided by
    # its temporal size) when the backbone is built.
    entries["i3d_resnet50"] = _keras_imagenet("ResNet50, inflated")
    return entries


def converter(module: str) -> Callable[..., str]:
    """`module`'s ``convert`` function, imported when called (converters import Keras and
    their framework; the table must not)."""

    def convert(checkpoint_path: str, output_path: str, model_name: str) -> str:
        return importlib.import_module(module).convert(checkpoint_path, output_path, model_name)

    convert.__qualname__ = f"converter({module!r})"
    return convert


_TORCHVISION = "kvideo.models.resnet3d.convert_torchvision"
_TORCHVISION_SOURCE = "https://pytorch.org/vision/stable/models/video_resnet.html"
_VMZ = "kvideo.models.resnet3d.convert_vmz"
_IG65M_RELEASE = "https://github.com/moabitcoin/ig65m-pytorch/releases/download/v1.0.0/"
_IG65M_SOURCE = (
    "https://github.com/moabitcoin/ig65m-pytorch (port of the Caffe2 models of "
    "https://github.com/facebookresearch/VMZ, c2/tutorials/model_zoo.md)"
)


def _torchvision(model: str, file_name: str, top1: float, size_mb: float) -> PretrainedWeights:
    return PretrainedWeights(
        name="kinetics400",
        description=f"torchvision's {model} on Kinetics-400 ({top1}% video top-1; "
        f"{size_mb} MB as published); the checkpoint's 400-class classifier is kept",
        source=_TORCHVISION_SOURCE,
        origin=f"https://download.pytorch.org/models/{file_name}",
        file_name=file_name,
        file_hash=file_name.rsplit("-", 1)[1].split(".")[0],
        convert=converter(_TORCHVISION),
    )


def _ig65m(name: str, file_name: str, description: str) -> PretrainedWeights:
    return PretrainedWeights(
        name=name,
        description=description,
        source=_IG65M_SOURCE,
        origin=_IG65M_RELEASE + file_name,
        file_name=file_name,
        file_hash=file_name.rsplit("-", 1)[1].split(".")[0],
        convert=converter(_VMZ),
    )


#: ``{model name: {weights name: PretrainedWeights}}``.
WEIGHTS: dict[str, dict[str, PretrainedWeights]] = {
    **_keras_applications_weights(),
    "r3d_18": {"kinetics400": _torchvision("r3d_18", "r3d_18-b3b3357e.pth", 63.2, 127.4)},
    "mc3_18": {"kinetics400": _torchvision("mc3_18", "mc3_18-a90a0ba3.pth", 63.96, 44.7)},
    # torchvision's r2plus1d_18 shares one intermediate width per block.
    "r2plus1d_18_torchvision": {
        "kinetics400": _torchvision("r2plus1d_18", "r2plus1d_18-91a641e6.pth", 67.463, 120.3)
    },
    "r2plus1d_34": {
        "ig65m_32": _ig65m(
            "ig65m_32",
            "r2plus1d_34_clip32_ig65m_from_scratch-449a7af9.pth",
            "IG-65M, 32-frame clips (487-class IG-65M classifier kept); 80.0% video "
            "top-1 on Kinetics-400 after fine-tuning (VMZ model zoo)",
        ),
        "ig65m_8": _ig65m(
            "ig65m_8",
            "r2plus1d_34_clip8_ig65m_from_scratch-9bae36ae.pth",
            "IG-65M, 8-frame clips (359-class IG-65M classifier kept); 74.9% video top-1 "
            "on Kinetics-400 after fine-tuning (VMZ model zoo)",
        ),
        "ig65m_kinetics400_32": _ig65m(
            "ig65m_kinetics400_32",
            "r2plus1d_34_clip32_ft_kinetics_from_ig65m-ade133f1.pth",
            "IG-65M then Kinetics-400, 32-frame clips (400-class classifier kept; 80.0% "
            "video top-1, VMZ model zoo)",
        ),
        "ig65m_kinetics400_8": _ig65m(
            "ig65m_kinetics400_8",
            "r2plus1d_34_clip8_ft_kinetics_from_ig65m-0aa0550b.pth",
            "IG-65M then Kinetics-400, 8-frame clips (400-class classifier kept; 74.9% "
            "video top-1, VMZ model zoo)",
        ),
    },
    "c3d": {
        "sports1m": PretrainedWeights(
            name="sports1m",
            description="C3D trained on Sports-1M (Tran et al. 2015), ported from Caffe to "
            "PyTorch; the 487-class Sports-1M classifier (fc8) is kept. No checksum or "
            "size is published (about 320 MB: 79,991,015 float32 parameters)",
            source="https://github.com/DavideA/c3d-pytorch",
            origin="http://imagelab.ing.unimore.it/files/c3d_pytorch/c3d.pickle",
            file_name="c3d.pickle",
            convert=converter("kvideo.models.c3d.convert_c3d_pytorch"),
        )
    },
}


def available_weights(model: str) -> list[str]:
    """Names of the registered weights of registered model `model`."""
    return list(WEIGHTS.get(model, {}))


def is_weights_file(weights: str | os.PathLike) -> bool:
    """Whether `weights` names a file rather than registered weights."""
    text = os.fspath(weights)
    return text.endswith(".weights.h5") or os.sep in text or "/" in text


def get_weights(model: str, weights: str) -> PretrainedWeights:
    """The registered `weights` of `model`; a ValueError naming the valid choices otherwise."""
    choices = available_weights(model)
    if weights not in choices:
        raise ValueError(
            f"No weights named {weights!r} are registered for model {model!r}. Registered: "
            f"{choices or 'none'}; or pass the path of a .weights.h5 file. "
            f"Received: weights={weights!r}"
        )
    return WEIGHTS[model][weights]


def fetch(entry: PretrainedWeights, model: str, cache_dir: str | None = None) -> str:
    """The kvideo ``.weights.h5`` of `entry` for `model`: downloaded once (SHA-256
    checked) and, for another framework's checkpoint, converted once; returns its path.

    Files are cached under ``<cache_dir>/kvideo`` (default: Keras's, ``~/.keras``).
    """
    import keras

    full_hash = entry.file_hash if entry.file_hash and len(entry.file_hash) == 64 else None
    try:
        path = keras.utils.get_file(
            entry.file_name,
            entry.origin,
            file_hash=full_hash,
            cache_dir=cache_dir,
            cache_subdir="kvideo",
        )
    except Exception as err:  # network errors come in many types
        raise ValueError(
            f"Could not fetch the {entry.name!r} weights from {entry.origin} ({err}). "
            f"Download the file yourself, check its SHA-256 ({entry.file_hash}), and pass "
            "its path (converted, if it is not a .weights.h5) as weights=."
        ) from err
    if entry.file_hash and full_hash is None:
        digest = sha256(path)
        if not digest.startswith(entry.file_hash.lower()):
            os.remove(path)  # so that the next call downloads it again
            raise ValueError(
                f"The file fetched from {entry.origin} has SHA-256 {digest}, which does not "
                f"start with the published {entry.file_hash}; it was deleted."
            )
    if entry.convert is None:
        return path
    converted = os.path.join(os.path.dirname(path), f"{model}_{entry.name}.weights.h5")
    if not os.path.isfile(converted):
        entry.convert(path, converted, model)
    return converted


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def head_weights_path(weights_path: str | os.PathLike) -> str:
    """Where a converted checkpoint's classifier lies: ``x.weights.h5`` -> ``x.head.npz``."""
    text = os.fspath(weights_path)
    stem = text[: -len(".weights.h5")] if text.endswith(".weights.h5") else text
    return stem + ".head.npz"


def save_head_weights(path: str | os.PathLike, kernel: Any, bias: Any) -> None:
    """Writes a classifier: `kernel` ``(features, classes)`` and `bias` ``(classes,)``."""
    import numpy as np

    np.savez(os.fspath(path), kernel=np.asarray(kernel), bias=np.asarray(bias))


def load_head_weights(classifier: Any, path: str | os.PathLike) -> None:
    """Loads a classifier saved by `save_head_weights` into `classifier`'s ``"logits"``
    layer (the Dense layer of every kvideo head).

    A checkpoint's classifier was trained on its backbone's pooled features, so it fits
    the ``"pool"`` head with the checkpoint's number of classes.

    Raises:
        ValueError: when the file is missing, or the model has no such layer, or the
            shapes differ (another number of classes, or features).
    """
    import numpy as np

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"No classifier weights at {path!r}.")
    with np.load(path, allow_pickle=False) as stored:
        kernel, bias = stored["kernel"], stored["bias"]
    try:
        layer = classifier.get_layer("logits")
    except ValueError as err:
        raise ValueError(f"The model has no 'logits' layer to load {path!r} into.") from err
    head = getattr(classifier, "head", "pool")
    if head != "pool" or tuple(layer.kernel.shape) != kernel.shape:
        raise ValueError(
            f"The classifier in {path!r} maps {kernel.shape[0]} pooled features to "
            f"{kernel.shape[1]} classes; the model's 'logits' layer has kernel shape "
            f"{tuple(layer.kernel.shape)} under the {head!r} head. Build it with the pool "
            f"head and num_classes={kernel.shape[1]}."
        )
    layer.set_weights([kernel, bias])


def load_pretrained_head(classifier: Any, model: str, weights: str) -> None:
    """Loads the classifier of registered weights `weights` of `model` (fetched and
    converted once, as ``build_video_classifier(..., weights=...)`` does) into
    `classifier`; see `load_head_weights`."""
    entry = get_weights(model, weights)
    if entry.convert is None:
        raise ValueError(f"The {weights!r} weights of {model!r} come without a classifier.")
    load_head_weights(classifier, head_weights_path(fetch(entry, model)))


def load_backbone_weights(backbone: Any, path: str | os.PathLike, model: str) -> None:
    """Loads a ``.weights.h5`` file into `backbone`, strictly.

    Raises:
        ValueError: when the file is missing, or when it does not hold exactly the
            backbone's variables with their shapes (Keras alone accepts a file with
            extra layers without a word).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"No weights file at {path!r} (for model {model!r}).")
    stored = _count_arrays(path)
    if stored != len(backbone.weights):
        raise ValueError(
            f"The weights in {path!r} do not fit model {model!r}: the file holds {stored} "
            f"arrays, the backbone has {len(backbone.weights)} variables."
        )
    try:
        backbone.load_weights(path)
    except ValueError as err:
        raise ValueError(f"The weights in {path!r} do not fit model {model!r}: {err}") from err


def _count_arrays(path: str) -> int:
    import h5py

    count = 0

    def visit(_, item):
        nonlocal count
        count += isinstance(item, h5py.Dataset)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except OSError as err:
        raise ValueError(f"{path!r} is not a Keras .weights.h5 file: {err}") from err
    return count


def _hugging_face(
    repo: str, revision: str, file: str, description: str, convert: Callable, **fields: Any
) -> PretrainedWeights:
    """A checkpoint of the Hugging Face hub, pinned to a revision of its repository."""
    return PretrainedWeights(
        name=fields.pop("name"),
        description=description,
        source=f"https://huggingface.co/{repo} (revision {revision})",
        origin=f"https://huggingface.co/{repo}/resolve/{revision}/{file}",
        file_name=f"{repo.replace('/', '--')}-{revision[:12]}-{file}",
        convert=convert,
        **fields,
    )


def _video_transformer_weights() -> dict[str, dict[str, PretrainedWeights]]:
    """The published TimeSformer and VideoMAE checkpoints (licence: CC BY-NC 4.0).

    SHA-256 and sizes are given where they were found published (a hub LFS pointer
    holds them: ``https://huggingface.co/api/models/<repo>?blobs=true``); where not,
    the pinned revision still fixes the content, and the converter refuses a file that
    does not fit the architecture, naming the tensor.
    """
    from kvideo.models.timesformer.convert_transformers import convert as timesformer
    from kvideo.models.videomae.convert_transformers import convert as videomae

    return {
        "timesformer_b": {
            "kinetics400": _hugging_face(
                "facebook/timesformer-base-finetuned-k400",
                "8aaf40ea7d3d282dcb0a5dea01a198320d15d6c0",
                "pytorch_model.bin",
                "TimeSformer-B/16, 8x224, ImageNet-21k then Kinetics-400 (78.0% top-1 in "
                "the paper, 3 crops x 1 clip)",
                timesformer,
                name="kinetics400",
            ),
        },
        "videomae_vit_b": {
            "kinetics400": _hugging_face(
                "MCG-NJU/videomae-base-finetuned-kinetics",
                "488eb9a0565f257b32866000305c8178965eb9f6",
                "model.safetensors",
                "VideoMAE ViT-B/16, 16x224, self-supervised on Kinetics-400 (1600 epochs) "
                "then fine-tuned on it (80.9% top-1 per the model card)",
                videomae,
                name="kinetics400",
            ),
            "kinetics400_pretrain": _hugging_face(
                "MCG-NJU/videomae-base",
                "dc740ceda42fce44faed2ea03c6d447db72f6af9",
                "pytorch_model.bin",
                "VideoMAE ViT-B/16 encoder, self-supervised on Kinetics-400 (1600 epochs), "
                "no labels seen; fc_norm starts as identity",
                videomae,
                name="kinetics400_pretrain",
            ),
        },
        "videomae_vit_s": {
            "kinetics400": _hugging_face(
                "MCG-NJU/videomae-small-finetuned-kinetics",
                "main",
                "pytorch_model.bin",
                "VideoMAE ViT-S/16, 16x224, fine-tuned on Kinetics-400 (79.0% top-1); the "
                "revision is 'main', pinned by the file's SHA-256",
                videomae,
                name="kinetics400",
                file_hash="d69585904fec7e507bf2edfba4a7abe2b92def9afc76460d1dc14dbbf864bcfc",
                size_bytes=88_197_173,
            ),
        },
    }


WEIGHTS.update(_video_transformer_weights())
