"""VideoMAE weights from a Hugging Face ``transformers`` checkpoint.

Reads a ``VideoMAEForVideoClassification``, ``VideoMAEModel`` or
``VideoMAEForPreTraining`` checkpoint (``model.safetensors`` needs only NumPy;
``pytorch_model.bin`` needs ``torch``) and writes a kvideo ``.weights.h5`` for a
registered VideoMAE backbone::

    python -m kvideo.models.videomae.convert_transformers \\
        --checkpoint=videomae-base-finetuned-kinetics/ --model=videomae_vit_b \\
        --output=videomae_vit_b_k400.weights.h5 [--classifier_output=videomae_k400.keras]

A fine-tuned checkpoint brings its ``fc_norm`` (the LayerNorm after mean pooling). A
self-supervised one (``VideoMAEForPreTraining``) is an encoder only: as VideoMAE's
fine-tuning does, its final per-token LayerNorm is dropped, ``fc_norm`` starts as the
identity (scale 1, offset 0), and the decoder is left out.

Tensor map (Hugging Face -> kvideo), per block ``i``: ``layernorm_before`` ->
``block{i+1}/norm1``; ``attention.attention.{query,key,value}`` (the biases stored as
``q_bias``/``v_bias`` before transformers 5, ``query.bias``/``value.bias`` since; no key
bias) -> ``attention/{query,key,value}``; ``attention.output.dense`` ->
``attention/output``; ``layernorm_after`` -> ``norm2``; ``intermediate.dense`` /
``output.dense`` -> ``mlp_fc1`` / ``mlp_fc2``. ``patch_embeddings.projection`` (a
Conv3D) -> ``patch_embedding``; ``fc_norm`` -> ``fc_norm``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from kvideo.models import hf_checkpoints as hf
from kvideo.models.registry import list_presets

_log = logging.getLogger(__name__)
FAMILY = "videomae"

# What a checkpoint may hold beyond the fine-tuned encoder: the pre-training decoder,
# the encoder's own final LayerNorm (replaced by fc_norm when fine-tuning), the head.
_IGNORED = (
    r"decoder\.",
    r"encoder_to_decoder\.",
    r"mask_token$",
    r"layernorm\.",
)


def _attention(t: hf.Tensors, source: str, target: str, width: int) -> dict[str, np.ndarray]:
    values = {}
    for name, short in (("query", "q"), ("key", None), ("value", "v")):
        weight = t.take(f"{source}.attention.{name}.weight", (width, width))
        values[f"{target}/{name}/kernel"] = hf.linear(weight)[0]
        if short is not None:
            values[f"{target}/{name}/bias"] = t.take_first(
                (f"{source}.attention.{name}.bias", f"{source}.attention.{short}_bias"), (width,)
            )
    values.update(hf.dense(t, f"{source}.output.dense", f"{target}/output", width, width))
    return values


def _converted_backbone(
    checkpoint_path: str | os.PathLike,
    model_name: str,
    input_shape: Sequence[int] | None = None,
) -> tuple[Any, tuple[np.ndarray, np.ndarray] | None]:
    """The registered backbone with the checkpoint's weights, and its classifier."""
    spec = hf.family_spec(model_name, FAMILY)
    source = os.fspath(checkpoint_path)
    raw, hf_config = hf.read_checkpoint(source)
    t = hf.Tensors(raw, source, prefixes=("videomae.",))
    config = dict(spec.config)
    width, depth, mlp = config["hidden_dim"], config["num_layers"], config["mlp_dim"]
    hf.check_architecture(t, hf_config, config, model_name)
    if input_shape is None and hf_config:
        size = hf_config.get("image_size", config["image_size"])
        input_shape = (hf_config.get("num_frames", config["num_frames"]), size, size, 3)
    if input_shape is not None:
        config["input_shape"] = tuple(input_shape)
    backbone = spec.build_backbone(**config)

    tubelet, patch = config["tubelet_size"], config["patch_size"]
    projection = t.take(
        "embeddings.patch_embeddings.projection.weight", (width, 3, tubelet, patch, patch)
    )
    values = {
        # (out, in, kt, kh, kw) -> (kt, kh, kw, in, out)
        "patch_embedding/kernel": np.transpose(projection, (2, 3, 4, 1, 0)),
        "patch_embedding/bias": t.take("embeddings.patch_embeddings.projection.bias", (width,)),
    }
    for i in range(depth):
        src, dst = f"encoder.layer.{i}", f"block{i + 1}"
        values.update(hf.layer_norm(t, f"{src}.layernorm_before", f"{dst}/norm1", width))
        values.update(_attention(t, f"{src}.attention", f"{dst}/attention", width))
        values.update(hf.layer_norm(t, f"{src}.layernorm_after", f"{dst}/norm2", width))
        values.update(hf.dense(t, f"{src}.intermediate.dense", f"{dst}/mlp_fc1", width, mlp))
        values.update(hf.dense(t, f"{src}.output.dense", f"{dst}/mlp_fc2", mlp, width))
    if "fc_norm.weight" in t:
        values.update(hf.layer_norm(t, "fc_norm", "fc_norm", width))
    else:
        _log.info("%s has no fc_norm (an encoder without its head): it starts as identity.", source)
        values["fc_norm/gamma"] = np.ones(width, np.float32)
        values["fc_norm/beta"] = np.zeros(width, np.float32)
    hf.assign_all(backbone, values, source)
    classifier = hf.classifier_from(t, width)
    ignored = t.check_all_taken(_IGNORED)
    if ignored:
        _log.info("Left out of %s: %d tensors, e.g. %s", source, len(ignored), ignored[:3])
    return backbone, classifier


def convert(
    checkpoint_path: str | os.PathLike,
    output_path: str | os.PathLike,
    model_name: str,
    input_shape: Sequence[int] | None = None,
) -> str:
    """Writes the backbone weights of `checkpoint_path` for `model_name` to `output_path`.

    Args:
        checkpoint_path: a ``model.safetensors``, ``pytorch_model.bin`` or
            ``save_pretrained`` directory of a Hugging Face VideoMAE.
        output_path: the ``.weights.h5`` to write.
        model_name: a registered VideoMAE (``videomae_vit_s``, ``videomae_vit_b``).
        input_shape: the clip size to build for; the weights fit any (VideoMAE's
            position table has no weights). Default: the checkpoint's ``config.json``,
            else the model's.

    Returns:
        `output_path`, for ``build_video_classifier(model_name, n, weights=...)``.

    Raises:
        ValueError: when the checkpoint does not fit the architecture (a missing,
            superfluous or misshapen tensor is named).
    """
    backbone, _ = _converted_backbone(checkpoint_path, model_name, input_shape)
    backbone.save_weights(os.fspath(output_path))
    return os.fspath(output_path)


def build_classifier(
    checkpoint_path: str | os.PathLike,
    model_name: str,
    input_shape: Sequence[int] | None = None,
    preprocessing: bool = True,
) -> Any:
    """The whole classifier of a fine-tuned checkpoint: its backbone and its head.

    Returns a `kvideo.models.VideoClassifier` named `model_name` that emits the
    checkpoint's logits (e.g. the 400 Kinetics classes): on uint8 clips of any size
    with `preprocessing`, on normalised float clips ``(B, T, H, W, 3)`` without.
    """
    backbone, classifier = _converted_backbone(checkpoint_path, model_name, input_shape)
    spec = hf.family_spec(model_name, FAMILY)
    return hf.with_classifier(backbone, classifier, spec, preprocessing, os.fspath(checkpoint_path))


def main(argv: Sequence[str] | None = None) -> None:
    hf.converter_main(
        argv,
        "Hugging Face VideoMAE checkpoint -> kvideo .weights.h5",
        list(list_presets(FAMILY)),
        convert,
        build_classifier,
    )


if __name__ == "__main__":
    main()
