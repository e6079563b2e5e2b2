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
from collections.abc import Sequence
from typing import Any

import numpy as np

from kvideo.models import hf_checkpoints as hf

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
    source: str, spec: Any, input_shape: Sequence[int] | None
) -> tuple[Any, tuple[np.ndarray, np.ndarray] | None]:
    """The registered backbone with the checkpoint's weights, and its classifier."""
    raw, hf_config = hf.read_checkpoint(source)
    t = hf.Tensors(raw, source, prefixes=("videomae.",))
    config = dict(spec.config)
    width, depth, mlp = config["hidden_dim"], config["num_layers"], config["mlp_dim"]
    hf.check_architecture(t, hf_config, config, spec.name)
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
        values.update(hf.vit_block(t, src, dst, width, mlp, _attention))
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


_CONVERTER = hf.Converter(FAMILY, "Hugging Face VideoMAE", _converted_backbone)
#: ``convert(checkpoint_path, output_path, model_name, input_shape=None) -> output_path``
convert = _CONVERTER.convert
#: ``build_classifier(checkpoint_path, model_name, input_shape=None, preprocessing=True)``
build_classifier = _CONVERTER.build_classifier
main = _CONVERTER.main


if __name__ == "__main__":
    main()
