"""Reference outputs of Hugging Face ``transformers`` models, computed in a process of their own.

    python -m tests.hf_reference '[{"family": "timesformer", "config": {...}, "out": DIR}, ...]'

Builds the model from its configuration with random weights (every tensor drawn from a
seeded generator: LayerNorm scales around 1, everything else around 0), saves it as
the hub does (``save_pretrained``: ``model.safetensors`` and ``config.json``; or
``pytorch_model.bin``; or ``"published"``: a ``pytorch_model.bin`` whose VideoMAE
attention biases carry the names of the published files, ``q_bias``/``v_bias``), runs
it on a seeded clip and writes ``reference.npz`` beside: the input ``x``
``(B, T, C, H, W)``, the reference ``out`` and its parameter count. A spec with
``"count_only"`` only counts the parameters of its configuration (on PyTorch's meta
device: no memory, no initialisation) into ``reference.npz``.

One process makes every reference of a test module: importing ``transformers`` takes
tens of seconds on the project's machine.

A process of its own because PyTorch's ``triton`` crashes (SIGSEGV) when it is loaded
after TensorFlow, as it would be inside the test process; TensorFlow is never imported
here.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch
import transformers


def _randomize(model: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            is_norm_scale = p.ndim == 1 and name.endswith("weight") and "norm" in name
            p.copy_(1.0 + 0.1 * noise if is_norm_scale else 0.02 * noise)


def _count(model_class, config) -> int:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        return sum(p.numel() for p in model_class(config).parameters())


def _classes(spec: dict):
    if spec["family"] == "timesformer":
        return transformers.TimesformerConfig, transformers.TimesformerForVideoClassification
    if spec.get("kind") == "pretraining":
        return transformers.VideoMAEConfig, transformers.VideoMAEForPreTraining
    return transformers.VideoMAEConfig, transformers.VideoMAEForVideoClassification


def _reference(spec: dict, model, x: torch.Tensor) -> torch.Tensor:
    config = model.config
    if spec["family"] == "timesformer" and config.attention_type == "space_only":
        # The paper's space-only model averages the frames' tokens before the last
        # LayerNorm; the Hugging Face port returns per-frame logits instead.
        frames = model.timesformer.encoder(model.timesformer.embeddings(x)).last_hidden_state
        tokens = frames.reshape(x.shape[0], config.num_frames, *frames.shape[1:]).mean(1)
        return model.classifier(model.timesformer.layernorm(tokens)[:, 0])
    if spec.get("kind") == "pretraining":
        # The encoder as fine-tuning takes it over: mean of the tokens, then a fresh
        # LayerNorm (scale 1, offset 0) in place of the encoder's own.
        tokens = model.videomae.encoder(model.videomae.embeddings(x, None)).last_hidden_state
        pooled = tokens.mean(1)
        return torch.nn.functional.layer_norm(pooled, pooled.shape[-1:], eps=1e-6)
    return model(x).logits


def _save(model, out: str, fmt: str) -> None:
    if fmt == "safetensors":
        model.save_pretrained(out)
        return
    model.config.save_pretrained(out)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if fmt == "published":
        renamed = {}
        for key, value in state.items():
            key = key.replace("attention.attention.query.bias", "attention.attention.q_bias")
            key = key.replace("attention.attention.value.bias", "attention.attention.v_bias")
            renamed[key] = value
        state = renamed
    torch.save(state, os.path.join(out, "pytorch_model.bin"))


def make_reference(spec: dict) -> None:
    """Writes the checkpoint and ``reference.npz`` of one spec (see the module docstring)."""
    config_class, model_class = _classes(spec)
    out = spec["out"]
    os.makedirs(out, exist_ok=True)
    if spec.get("count_only"):
        count = _count(model_class, config_class(**spec["config"]))
        np.savez(os.path.join(out, "reference.npz"), params=count)
        return
    torch.manual_seed(spec.get("seed", 0))
    config = config_class(**spec["config"])
    model = model_class(config).eval()
    _randomize(model, spec.get("seed", 0) + 1)
    _save(model, out, spec.get("format", "safetensors"))
    shape = (spec.get("batch", 2), config.num_frames, 3, config.image_size, config.image_size)
    x = np.random.default_rng(spec.get("seed", 0)).normal(size=shape).astype(np.float32)
    with torch.no_grad():
        reference = _reference(spec, model, torch.from_numpy(x)).numpy()
    params = sum(p.numel() for p in model.parameters())
    np.savez(os.path.join(out, "reference.npz"), x=x, out=reference, params=params)


if __name__ == "__main__":
    for spec in json.loads(sys.argv[1]):
        make_reference(spec)
