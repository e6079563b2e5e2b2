"""Presets of VideoMAE's ViT (Tong et al. 2022): plain dicts of `VideoMAEBackbone` args.

``videomae_vit_s`` and ``videomae_vit_b`` are the ViT-S/16 and ViT-B/16 of VideoMAE's
fine-tuning (2x16x16 tubelets, 16 frames at 224x224, mean pooling and a final norm);
with a 400-class head ViT-B has 86,534,800 parameters, as Hugging Face's
``VideoMAEForVideoClassification`` (see ``tests/test_video_transformers.py``). ViT-S has
6 heads of width 64, as VideoMAE's own ``vit_small_patch16_224``. ``videomae_tiny`` (2
blocks of width 64) is for CPUs and tests. Pretrained weights: `kvideo.models.weights`.

LayerNorm epsilons are those of VideoMAE's code (1e-6); Hugging Face's port uses 1e-12
in the blocks and 1e-5 after pooling, which changes its outputs by ~1e-6 relative.
Clips are normalised with ImageNet statistics, as VideoMAE fine-tunes. This module
imports no TensorFlow.
"""

from __future__ import annotations

from typing import Any

from kvideo import inputs
from kvideo.models.spec import ModelSpec

videomae_vit_b: dict[str, Any] = {
    "patch_size": 16,
    "tubelet_size": 2,
    "hidden_dim": 768,
    "num_layers": 12,
    "num_heads": 12,
    "mlp_dim": 3072,
    # VideoMAE fine-tunes with stochastic depth 0.1 by default.
    "drop_path_rate": 0.1,
    "num_frames": 16,
    "image_size": 224,
}

videomae_vit_s: dict[str, Any] = {
    **videomae_vit_b,
    "hidden_dim": 384,
    "num_heads": 6,
    "mlp_dim": 1536,
}

videomae_tiny: dict[str, Any] = {
    **videomae_vit_b,
    "hidden_dim": 64,
    "num_layers": 2,
    "num_heads": 4,
    "mlp_dim": 256,
    "num_frames": 8,
    "image_size": 64,
}

#: All presets by name.
PRESETS: dict[str, dict[str, Any]] = {
    "videomae_vit_s": videomae_vit_s,
    "videomae_vit_b": videomae_vit_b,
    "videomae_tiny": videomae_tiny,
}

_DESCRIPTIONS = {
    "videomae_vit_s": "VideoMAE ViT-S/16 (Tong et al. 2022), 2x16x16 tubelets, mean pooling",
    "videomae_vit_b": "VideoMAE ViT-B/16 (Tong et al. 2022), 2x16x16 tubelets, mean pooling",
    "videomae_tiny": "tiny VideoMAE ViT (2 blocks, width 64) for CPUs and tests",
}


def build_backbone(**kwargs: Any) -> Any:
    """A `VideoMAEBackbone` from keyword arguments (imports TensorFlow on call)."""
    from kvideo.models.videomae.videomae_backbone import VideoMAEBackbone

    return VideoMAEBackbone(**kwargs)


#: The family's entries in the model registry.
MODELS: dict[str, ModelSpec] = {
    name: ModelSpec(
        name=name,
        family="videomae",
        description=_DESCRIPTIONS[name],
        build_backbone=build_backbone,
        config=config,
        num_frames=config["num_frames"],
        crop_size=config["image_size"],
        dropout=0.0,
        mean=inputs.IMAGENET_MEAN,
        std=inputs.IMAGENET_STD,
    )
    for name, config in PRESETS.items()
}
