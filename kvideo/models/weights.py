"""Pretrained weights, kept apart from the architectures they fit.

An architecture is a preset in the registry (`kvideo.models.registry`); the weights it
can start from are listed here, by model name and weights name, and loaded by
``build_video_classifier(name, num_classes, weights=...)``. Weights are those of the
*backbone*: the classifier head is new for every dataset.

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

`weights` may also be the path of a ``.weights.h5`` file of your own.
"""

from __future__ import annotations

import dataclasses
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
        file_hash: SHA-256 of the file, checked after download.
        size_bytes: the file's size, for the docs.
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


#: ``{model name: {weights name: PretrainedWeights}}``.
WEIGHTS: dict[str, dict[str, PretrainedWeights]] = {}


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


def fetch(entry: PretrainedWeights, model: str) -> str:
    """The kvideo ``.weights.h5`` of `entry` for `model`: downloaded once (SHA-256
    checked) and, for another framework's checkpoint, converted once; returns its path."""
    import keras

    try:
        path = keras.utils.get_file(
            entry.file_name, entry.origin, file_hash=entry.file_hash, cache_subdir="kvideo"
        )
    except Exception as err:  # network errors come in many types
        raise ValueError(
            f"Could not fetch the {entry.name!r} weights from {entry.origin} ({err}). "
            f"Download the file yourself, check its SHA-256 ({entry.file_hash}), and pass "
            "its path (converted, if it is not a .weights.h5) as weights=."
        ) from err
    if entry.convert is None:
        return path
    converted = os.path.join(os.path.dirname(path), f"{model}_{entry.name}.weights.h5")
    if not os.path.isfile(converted):
        entry.convert(path, converted, model)
    return converted


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
