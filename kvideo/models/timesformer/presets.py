"""TimeSformer presets (Bertasius et al. 2021): plain dicts of `TimeSformerBackbone` args.

``timesformer_b`` is the paper's TimeSformer (ViT-B/16, divided space-time attention,
8 frames at 224x224); with a 400-class head its 121,566,352 parameters equal those of
Hugging Face's ``TimesformerForVideoClassification`` (see
``tests/test_video_transformers.py``). ``*_joint`` and ``*_space_only`` are the other two
attention schemes of the paper's ablation. ``*_tiny`` presets (2 blocks of width 64) are
for CPUs and tests. Pretrained weights: `kvideo.models.weights` (Kinetics-400).

The clips are normalised with the statistics TimeSformer was trained with: PySlowFast's
defaults, mean 0.45 and std 0.225 on every channel (its Kinetics configs keep them).
This module imports no TensorFlow.
"""

from __future__ import annotations

from typing import Any

from kvideo.models.spec import ModelSpec

#: The per-channel statistics of TimeSformer's training (PySlowFast's defaults).
TIMESFORMER_MEAN = (0.45, 0.45, 0.45)
TIMESFORMER_STD = (0.225, 0.225, 0.225)

timesformer_b: dict[str, Any] = {
    "patch_size": 16,
    "hidden_dim": 768,
    "num_layers": 12,
    "num_heads": 12,
    "mlp_dim": 3072,
    "attention_type": "divided_space_time",
    # The reference trains with stochastic depth 0.1 and no dropout.
    "drop_path_rate": 0.1,
    "num_frames": 8,
    "image_size": 224,
}

timesformer_tiny: dict[str, Any] = {
    **timesformer_b,
    "hidden_dim": 64,
    "num_layers": 2,
    "num_heads": 4,
    "mlp_dim": 256,
    "image_size": 64,
}


def _variant(preset: dict[str, Any], attention_type: str) -> dict[str, Any]:
    return {**preset, "attention_type": attention_type}


#: All presets by name.
PRESETS: dict[str, dict[str, Any]] = {
    "timesformer_b": timesformer_b,
    "timesformer_b_joint": _variant(timesformer_b, "joint_space_time"),
    "timesformer_b_space_only": _variant(timesformer_b, "space_only"),
    "timesformer_tiny": timesformer_tiny,
    "timesformer_joint_tiny": _variant(timesformer_tiny, "joint_space_time"),
    "timesformer_space_only_tiny": _variant(timesformer_tiny, "space_only"),
}

_DESCRIPTIONS = {
    "timesformer_b": "TimeSformer-B/16 (Bertasius et al. 2021), divided space-time attention",
    "timesformer_b_joint": "TimeSformer-B/16 with joint space-time attention (ablation)",
    "timesformer_b_space_only": "TimeSformer-B/16 with space-only attention (ablation)",
    "timesformer_tiny": "tiny TimeSformer (2 blocks, width 64), divided attention",
    "timesformer_joint_tiny": "tiny TimeSformer, joint space-time attention",
    "timesformer_space_only_tiny": "tiny TimeSformer, space-only attention",
}


def build_backbone(**kwargs: Any) -> Any:
    """A `TimeSformerBackbone` from keyword arguments (imports TensorFlow on call)."""
    from kvideo.models.timesformer.timesformer_backbone import TimeSformerBackbone

    return TimeSformerBackbone(**kwargs)


#: The family's entries in the model registry.
MODELS: dict[str, ModelSpec] = {
    name: ModelSpec(
        name=name,
        family="timesformer",
        description=_DESCRIPTIONS[name],
        build_backbone=build_backbone,
        config=config,
        num_frames=config["num_frames"],
        crop_size=config["image_size"],
        dropout=0.0,
        mean=TIMESFORMER_MEAN,
        std=TIMESFORMER_STD,
    )
    for name, config in PRESETS.items()
}
