"""Reading Hugging Face ``transformers`` checkpoints, for the converters of the families.

A converter (``kvideo/models/<family>/convert_transformers.py``) maps a checkpoint's
tensors, by name, onto a kvideo backbone's variables and writes a ``.weights.h5``. What
they share lives here:

* `read_checkpoint`: a ``model.safetensors`` (read with ``safetensors`` and NumPy, no
  PyTorch needed) or a ``pytorch_model.bin`` (needs ``torch``), or a directory written
  by ``save_pretrained`` holding one of them (and ``config.json``, read too);
* `Tensors`: takes tensors by name with their expected shapes, and at the end refuses a
  checkpoint with tensors nobody took, so a file of another architecture fails with a
  message that names the tensors instead of loading half its weights;
* `assign_all`: sets every variable of a backbone exactly once, by variable path;
* `Converter`: ``convert``, ``build_classifier`` and the command line of a family.

No TensorFlow is imported at module level.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

SAFETENSORS = "model.safetensors"
PYTORCH_BIN = "pytorch_model.bin"

_log = logging.getLogger(__name__)


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict | None]:
    """The tensors of a checkpoint as float32 NumPy arrays, and its ``config.json``.

    Args:
        path: a ``.safetensors`` file, a PyTorch ``.bin``/``.pt``/``.pth`` state dict,
            or a directory holding ``model.safetensors`` or ``pytorch_model.bin``.

    Returns:
        ``(tensors, config)``; `config` is ``None`` when no ``config.json`` lies beside.

    Raises:
        ValueError: when the path holds no checkpoint or cannot be read.
    """
    path = os.fspath(path)
    directory = path if os.path.isdir(path) else os.path.dirname(path)
    if os.path.isdir(path):
        found = [f for f in (SAFETENSORS, PYTORCH_BIN) if os.path.isfile(os.path.join(path, f))]
        if not found:
            raise ValueError(
                f"No {SAFETENSORS} or {PYTORCH_BIN} in the directory {path!r} (sharded "
                "checkpoints are not supported)."
            )
        path = os.path.join(path, found[0])
    if not os.path.isfile(path):
        raise ValueError(f"No checkpoint file at {path!r}.")
    tensors = _read_safetensors(path) if path.endswith(".safetensors") else _read_torch(path)
    config_path = os.path.join(directory, "config.json")
    config = None
    if os.path.isfile(config_path):
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    return tensors, config


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    try:
        from safetensors.numpy import load_file
    except ImportError as err:
        raise ValueError(
            f"Reading {path!r} needs the safetensors package: pip install "
            "'kvideo[transformers]' (or just safetensors)."
        ) from err

    try:
        tensors = load_file(path)
    except Exception as err:  # the library raises its own error types
        raise ValueError(f"{path!r} is not a readable safetensors file: {err}") from err
    return {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}


def _read_torch(path: str) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError as err:
        raise ValueError(
            f"Reading the PyTorch checkpoint {path!r} needs PyTorch "
            "(pip install 'kvideo[transformers]'); a .safetensors file needs only NumPy."
        ) from err
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors alike
        raise ValueError(f"{path!r} is not a readable PyTorch checkpoint: {err}") from err
    for key in ("model", "module", "model_state", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path!r} holds a {type(state).__name__}, not a state dict.")
    return {k: v.detach().float().numpy() for k, v in state.items() if hasattr(v, "numpy")}


class Tensors:
    """A checkpoint's tensors, taken by name; remembers which were taken.

    Args:
        tensors: ``{name: array}``.
        source: the checkpoint's path, for messages.
        prefixes: model prefixes to strip (``"timesformer."``, ``"videomae."``): a
            classification checkpoint names its backbone's tensors under one, a base
            model's checkpoint does not.
    """

    def __init__(
        self, tensors: Mapping[str, np.ndarray], source: str, prefixes: Sequence[str] = ()
    ) -> None:
        self.source = source
        self.tensors: dict[str, np.ndarray] = {}
        for name, value in tensors.items():
            for prefix in prefixes:
                if name.startswith(prefix):
                    name = name[len(prefix) :]
                    break
            self.tensors[name] = value
        self.taken: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def take(self, name: str, shape: Sequence[int] | None = None) -> np.ndarray:
        """The tensor `name`; ValueError when it is missing or not of `shape`."""
        if name not in self.tensors:
            near = sorted(n for n in self.tensors if n.split(".")[0] == name.split(".")[0])[:8]
            raise ValueError(
                f"The checkpoint {self.source!r} has no tensor {name!r}; it is not a "
                f"checkpoint of this architecture. Tensors of that kind in it: {near}"
            )
        value = self.tensors[name]
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise ValueError(
                f"The checkpoint's {name!r} has shape {tuple(value.shape)}, the model needs "
                f"{tuple(shape)}: the checkpoint does not fit this architecture "
                f"({self.source!r})."
            )
        self.taken.add(name)
        return value

    def take_first(self, names: Iterable[str], shape: Sequence[int] | None = None) -> np.ndarray:
        """The first of `names` present (a tensor renamed across library versions)."""
        names = list(names)
        for name in names:
            if name in self.tensors:
                return self.take(name, shape)
        return self.take(names[0], shape)

    def check_all_taken(self, ignore: Iterable[str] = ()) -> list[str]:
        """Raises when tensors are left that no pattern of `ignore` (regexes) allows.

        Returns:
            The ignored tensors' names.
        """
        patterns = [re.compile(p) for p in ignore]
        left = sorted(set(self.tensors) - self.taken)
        ignored = [n for n in left if any(p.match(n) for p in patterns)]
        unexpected = sorted(set(left) - set(ignored))
        if unexpected:
            raise ValueError(
                f"The checkpoint {self.source!r} has {len(unexpected)} tensors this "
                f"architecture has no place for (e.g. more layers): {unexpected[:10]}"
            )
        return ignored

    def num_layers(self, pattern: str) -> int:
        """How many layers the checkpoint has: 1 + the largest ``(\\d+)`` of `pattern`."""
        regex = re.compile(pattern)
        found = [int(m.group(1)) for n in self.tensors if (m := regex.match(n))]
        return max(found) + 1 if found else 0


def linear(weight: np.ndarray, bias: np.ndarray | None = None) -> list[np.ndarray]:
    """A PyTorch ``Linear``'s ``(out, in)`` weight (and bias) as a Keras Dense's arrays."""
    kernel = np.ascontiguousarray(weight.T)
    return [kernel] if bias is None else [kernel, bias]


def dense(t: Tensors, source: str, target: str, n_in: int, n_out: int) -> dict:
    """``{target/kernel, target/bias}`` from the Linear ``source`` of shape ``(n_out, n_in)``."""
    kernel, bias = linear(
        t.take(f"{source}.weight", (n_out, n_in)), t.take(f"{source}.bias", (n_out,))
    )
    return {f"{target}/kernel": kernel, f"{target}/bias": bias}


def layer_norm(t: Tensors, source: str, target: str, width: int) -> dict:
    """``{target/gamma, target/beta}`` from the LayerNorm ``source``."""
    return {
        f"{target}/gamma": t.take(f"{source}.weight", (width,)),
        f"{target}/beta": t.take(f"{source}.bias", (width,)),
    }


def vit_block(
    t: Tensors, source: str, target: str, width: int, mlp_dim: int, attention: Callable
) -> dict:
    """A pre-norm ViT block's tensors (Hugging Face's names: ``layernorm_before``,
    ``attention``, ``layernorm_after``, ``intermediate.dense``, ``output.dense``) for a
    kvideo `ViTBlock` ``target``; ``attention(t, source, target, width)`` maps the
    attention, whose layout differs between families."""
    values = layer_norm(t, f"{source}.layernorm_before", f"{target}/norm1", width)
    values.update(attention(t, f"{source}.attention", f"{target}/attention", width))
    values.update(layer_norm(t, f"{source}.layernorm_after", f"{target}/norm2", width))
    values.update(dense(t, f"{source}.intermediate.dense", f"{target}/mlp_fc1", width, mlp_dim))
    values.update(dense(t, f"{source}.output.dense", f"{target}/mlp_fc2", mlp_dim, width))
    return values


def family_spec(model_name: str, family: str) -> Any:
    """The registered `model_name`'s spec; a ValueError unless it is of `family`."""
    from kvideo.models.registry import get_model_spec, list_presets

    spec = get_model_spec(model_name)
    if spec.family != family:
        raise ValueError(
            f"This converter makes {family} models: {sorted(list_presets(family))}. "
            f"Received: model_name={model_name!r}"
        )
    return spec


def check_architecture(
    t: Tensors, hf_config: dict | None, config: Mapping[str, Any], model_name: str
) -> None:
    """Checks what the weights cannot tell by their shapes alone.

    Raises a ValueError when the checkpoint has another number of layers than the
    model; warns when its ``config.json`` names another number of attention heads
    (heads are not in the weights, and the model keeps its own: Hugging Face's
    conversion of VideoMAE ViT-S set 16, VideoMAE trained it with 6).
    """
    found = t.num_layers(r"encoder\.layer\.(\d+)\.")
    if found == 0:
        raise ValueError(
            f"The checkpoint {t.source!r} has no tensors named encoder.layer.N: it is not a "
            f"checkpoint of this architecture ({model_name!r}). Its tensors: "
            f"{sorted(t.tensors)[:5]}"
        )
    if found != config["num_layers"]:
        raise ValueError(
            f"The checkpoint {t.source!r} has {found} layers, {model_name!r} has "
            f"{config['num_layers']}."
        )
    heads = (hf_config or {}).get("num_attention_heads", config["num_heads"])
    if heads != config["num_heads"]:
        _log.warning(
            "The checkpoint's config.json has %s attention heads, %r has %s; heads are not "
            "in the weights, the model keeps its own.",
            heads,
            model_name,
            config["num_heads"],
        )


def assign_all(backbone: Any, values: Mapping[str, np.ndarray], source: str) -> None:
    """Sets every variable of `backbone` from `values` (``{variable path: array}``).

    Raises:
        ValueError: when a variable gets no value, a value has no variable, or a shape
            differs.
    """
    variables = {v.path: v for v in backbone.weights}
    missing = sorted(set(variables) - set(values))
    extra = sorted(set(values) - set(variables))
    if missing or extra:
        raise ValueError(
            f"Converting {source!r}: the backbone's variables and the converted tensors "
            f"differ. Variables without a value: {missing[:10]}; values without a "
            f"variable: {extra[:10]}"
        )
    for path, value in values.items():
        variable = variables[path]
        if tuple(variable.shape) != tuple(value.shape):
            raise ValueError(
                f"Converting {source!r}: {path} has shape {tuple(variable.shape)}, the "
                f"checkpoint gives {tuple(value.shape)}."
            )
        variable.assign(value.astype(np.float32))


def classifier_from(tensors: Tensors, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The checkpoint's ``classifier`` Linear as a Dense ``(kernel, bias)``, if it has one."""
    if "classifier.weight" not in tensors:
        return None
    weight = tensors.take("classifier.weight")
    if weight.ndim != 2 or weight.shape[1] != width:
        raise ValueError(
            f"The checkpoint's classifier has shape {weight.shape}; expected (classes, {width})."
        )
    kernel, bias = linear(weight, tensors.take("classifier.bias", (weight.shape[0],)))
    return kernel, bias


@dataclasses.dataclass(frozen=True)
class Converter:
    """A family's converter: `convert`, `build_classifier` and the command line.

    Attributes:
        family: the registry family whose models it makes.
        checkpoint_kind: what it reads, for messages (``"Hugging Face TimeSformer"``).
        backbone_from: ``backbone_from(checkpoint_path, spec, input_shape)`` ->
            ``(backbone with the checkpoint's weights, classifier (kernel, bias) or None)``.
    """

    family: str
    checkpoint_kind: str
    backbone_from: Callable[..., tuple[Any, tuple[np.ndarray, np.ndarray] | None]]

    def _load(self, checkpoint_path: str | os.PathLike, model_name: str, input_shape: Any):
        spec = family_spec(model_name, self.family)
        return (spec, *self.backbone_from(os.fspath(checkpoint_path), spec, input_shape))

    def convert(
        self,
        checkpoint_path: str | os.PathLike,
        output_path: str | os.PathLike,
        model_name: str,
        input_shape: Sequence[int] | None = None,
    ) -> str:
        """Writes the backbone weights of `checkpoint_path` for `model_name` to `output_path`.

        Args:
            checkpoint_path: a ``model.safetensors``, a ``pytorch_model.bin``, or a
                ``save_pretrained`` directory holding one.
            output_path: the ``.weights.h5`` to write.
            model_name: a registered model of the converter's family.
            input_shape: the clip size ``(T, H, W, C)``; default: the one the
                checkpoint was made for (its embeddings, else its ``config.json``).

        Returns:
            `output_path`, for ``build_video_classifier(model_name, n, weights=...)``.

        Raises:
            ValueError: when the checkpoint does not fit the architecture (a missing,
                superfluous or misshapen tensor is named).
        """
        _, backbone, _ = self._load(checkpoint_path, model_name, input_shape)
        backbone.save_weights(os.fspath(output_path))
        return os.fspath(output_path)

    def build_classifier(
        self,
        checkpoint_path: str | os.PathLike,
        model_name: str,
        input_shape: Sequence[int] | None = None,
        preprocessing: bool = True,
    ) -> Any:
        """The whole classifier of a fine-tuned checkpoint: its backbone and its head.

        Returns a `kvideo.models.VideoClassifier` named `model_name` that emits the
        checkpoint's logits (e.g. the 400 Kinetics classes): on uint8 clips of any size
        with `preprocessing` (the model's statistics), on normalised float clips
        ``(B, T, H, W, 3)`` without.
        """
        from kvideo.models.video_classifier import build_video_classifier

        spec, backbone, classifier = self._load(checkpoint_path, model_name, input_shape)
        if classifier is None:
            raise ValueError(
                f"The checkpoint {os.fspath(checkpoint_path)!r} has no classifier (an "
                f"encoder only): build_video_classifier({model_name!r}, num_classes, "
                "weights=...) gives it one."
            )
        model = build_video_classifier(
            backbone,
            classifier[0].shape[1],
            preprocessing=preprocessing,
            mean=spec.mean,
            std=spec.std,
            dropout=spec.dropout,
            name=model_name,
        )
        model.get_layer("logits").set_weights(list(classifier))
        return model

    def main(self, argv: Sequence[str] | None = None) -> None:
        """The command line::

            python -m kvideo.models.<family>.convert_transformers --checkpoint=DIR_OR_FILE \\
                --model=NAME --output=backbone.weights.h5 [--classifier_output=model.keras]
        """
        from kvideo.models.registry import list_presets

        parser = argparse.ArgumentParser(
            description=f"{self.checkpoint_kind} checkpoint -> kvideo .weights.h5"
        )
        parser.add_argument(
            "--checkpoint",
            required=True,
            help=f"A {SAFETENSORS} or {PYTORCH_BIN}, or a save_pretrained directory.",
        )
        parser.add_argument("--model", required=True, choices=list(list_presets(self.family)))
        parser.add_argument("--output", required=True, help="The backbone's .weights.h5.")
        parser.add_argument(
            "--classifier_output",
            help="Also write the whole classifier (with the checkpoint's head) as .keras.",
        )
        args = parser.parse_args(argv)
        if not args.output.endswith(".weights.h5"):
            parser.error(f"--output must end with .weights.h5. Received: {args.output!r}")
        print(self.convert(args.checkpoint, args.output, args.model))
        if args.classifier_output:
            self.build_classifier(args.checkpoint, args.model).save(args.classifier_output)
            print(args.classifier_output)
