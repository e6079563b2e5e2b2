"""TimeSformer weights from a Hugging Face ``transformers`` checkpoint.

Reads a ``TimesformerForVideoClassification`` / ``TimesformerModel`` checkpoint
(``model.safetensors`` needs only NumPy; ``pytorch_model.bin`` needs ``torch``) and
writes a kvideo ``.weights.h5`` for a registered TimeSformer backbone::

    python -m kvideo.models.timesformer.convert_transformers \\
        --checkpoint=timesformer-base-finetuned-k400/ --model=timesformer_b \\
        --output=timesformer_b_k400.weights.h5 [--classifier_output=timesformer_k400.keras]

The clip size comes from the checkpoint (its position and time embeddings are sized to
it: 8x224x224 for the Kinetics checkpoints). `build_classifier` also takes over the
checkpoint's classifier, for Kinetics predictions and for parity tests.

Tensor map (Hugging Face -> kvideo), per block ``i``: ``layernorm_before`` ->
``block{i+1}/norm1``; ``attention.attention.qkv`` -> ``attention/{query,key,value}``
(rows ``[0:D]``, ``[D:2D]``, ``[2D:3D]``); ``attention.output.dense`` ->
``attention/output``; ``temporal_layernorm``, ``temporal_attention``,
``temporal_dense`` -> the same under ``temporal_``; ``layernorm_after`` -> ``norm2``;
``intermediate.dense`` / ``output.dense`` -> ``mlp_fc1`` / ``mlp_fc2``. Embeddings:
``patch_embeddings.projection`` -> ``patch_embedding`` (a Conv2D), ``cls_token``,
``position_embeddings``, ``time_embeddings``; the final ``layernorm`` -> ``final_norm``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from kvideo.models import hf_checkpoints as hf

FAMILY = "timesformer"


def _attention(t: hf.Tensors, source: str, target: str, width: int) -> dict[str, np.ndarray]:
    """A fused ``qkv`` Linear and the output projection -> four Dense layers."""
    qkv = t.take(f"{source}.attention.qkv.weight", (3 * width, width))
    qkv_bias = t.take(f"{source}.attention.qkv.bias", (3 * width,))
    values = {}
    for i, name in enumerate(("query", "key", "value")):
        rows = slice(i * width, (i + 1) * width)
        kernel, bias = hf.linear(qkv[rows], qkv_bias[rows])
        values[f"{target}/{name}/kernel"], values[f"{target}/{name}/bias"] = kernel, bias
    values.update(hf.dense(t, f"{source}.output.dense", f"{target}/output", width, width))
    return values


def _clip_shape(t: hf.Tensors, config: dict[str, Any], hf_config: dict | None) -> tuple[int, ...]:
    """The clip size the checkpoint's embeddings were made for (the frames of a
    space-only model, which has no time embeddings: its config.json's, else the
    model's)."""
    positions = t.tensors.get("embeddings.position_embeddings")
    if positions is None:
        t.take("embeddings.position_embeddings")  # raises the not-this-architecture error
    side = math.isqrt(positions.shape[1] - 1)
    if side * side != positions.shape[1] - 1:
        raise ValueError(
            f"The checkpoint's position embeddings {positions.shape} are not a square grid."
        )
    times = t.tensors.get("embeddings.time_embeddings")
    if times is not None:
        frames = times.shape[1]
    else:
        frames = (hf_config or {}).get("num_frames", config["num_frames"])
    size = side * config["patch_size"]
    return (frames, size, size, 3)


def _converted_backbone(
    source: str, spec: Any, input_shape: Sequence[int] | None
) -> tuple[Any, tuple[np.ndarray, np.ndarray] | None]:
    """The registered backbone with the checkpoint's weights, and its classifier."""
    raw, hf_config = hf.read_checkpoint(source)
    t = hf.Tensors(raw, source, prefixes=("timesformer.",))
    config = dict(spec.config)
    width, depth = config["hidden_dim"], config["num_layers"]
    hf.check_architecture(t, hf_config, config, spec.name)
    config["input_shape"] = tuple(input_shape or _clip_shape(t, config, hf_config))
    backbone = spec.build_backbone(**config)

    patch, mlp = config["patch_size"], config["mlp_dim"]
    projection = t.take("embeddings.patch_embeddings.projection.weight", (width, 3, patch, patch))
    values = {
        # (out, in, kh, kw) -> (kh, kw, in, out)
        "patch_embedding/kernel": np.transpose(projection, (2, 3, 1, 0)),
        "patch_embedding/bias": t.take("embeddings.patch_embeddings.projection.bias", (width,)),
        "class_token/token": t.take("embeddings.cls_token", (1, 1, width)),
        "position_embedding/embedding": t.take("embeddings.position_embeddings"),
    }
    if config["attention_type"] != "space_only":
        values["time_embedding/embedding"] = t.take("embeddings.time_embeddings")
    for i in range(depth):
        src, dst = f"encoder.layer.{i}", f"block{i + 1}"
        values.update(hf.vit_block(t, src, dst, width, mlp, _attention))
        if config["attention_type"] == "divided_space_time":
            values.update(
                hf.layer_norm(t, f"{src}.temporal_layernorm", f"{dst}/temporal_norm", width)
            )
            values.update(
                _attention(t, f"{src}.temporal_attention", f"{dst}/temporal_attention", width)
            )
            values.update(
                hf.dense(t, f"{src}.temporal_dense", f"{dst}/temporal_dense", width, width)
            )
    values.update(hf.layer_norm(t, "layernorm", "final_norm", width))
    hf.assign_all(backbone, values, source)
    classifier = hf.classifier_from(t, width)
    t.check_all_taken()
    return backbone, classifier


_CONVERTER = hf.Converter(FAMILY, "Hugging Face TimeSformer", _converted_backbone)
#: ``convert(checkpoint_path, output_path, model_name, input_shape=None) -> output_path``
convert = _CONVERTER.convert
#: ``build_classifier(checkpoint_path, model_name, input_shape=None, preprocessing=True)``
build_classifier = _CONVERTER.build_classifier
main = _CONVERTER.main


if __name__ == "__main__":
    main()
