"""Named experiments: plain functions returning an `Experiment`, collected in one dict.

Add one by writing a function and listing it in `EXPERIMENTS`; `train_main.py
--experiment=NAME` picks it and its flags override single fields.
"""

from __future__ import annotations

import dataclasses

from kvideo.data.config import Augmentation, ClipSampling
from kvideo.data.mixing import Mixing
from kvideo.training.config import DataConfig, Experiment, ModelConfig, OptimizerConfig


def motion_demo() -> Experiment:
    """A tiny R(2+1)D on the built-in motion_demo set; minutes on a 2-core CPU.

    Dense 16-frame clips at stride 2 cover the 32-frame videos; crops of 56 from the
    64x64 frames with TSN's multi-scale jitter.
    """
    return Experiment(
        data=DataConfig(
            dataset="motion_demo/jpeg",
            clip_sampling=ClipSampling(method="dense", num_frames=16, frame_stride=2),
            augmentation=Augmentation(crop_size=56, test_crop_fraction=1.0),
        ),
        model=ModelConfig(preset="r2plus1d_tiny", dropout=0.2),
        optimizer=OptimizerConfig(
            name="sgd", learning_rate=0.05, weight_decay=5e-4, schedule="cosine", warmup_epochs=1
        ),
        batch_size=8,
        epochs=15,
    )


def video_folder_r2plus1d_18() -> Experiment:
    """R(2+1)D-18 on your own class folders (pass --manual_dir), 16x112x112 clips.

    The recipe of Tran et al. 2018 for training from scratch on small data, scaled to one
    GPU: SGD with momentum, warmup then cosine, 10 test clips per video.
    """
    return Experiment(
        data=DataConfig(
            dataset="video_folder/jpeg",
            clip_sampling=ClipSampling(method="dense", num_frames=16, frame_stride=2, num_clips=10),
            augmentation=Augmentation(crop_size=112),
        ),
        model=ModelConfig(preset="r2plus1d_18", dropout=0.5),
        optimizer=OptimizerConfig(
            name="sgd", learning_rate=0.01, weight_decay=1e-4, schedule="cosine", warmup_epochs=2
        ),
        batch_size=16,
        epochs=45,
    )


def video_folder_tsn_r2plus1d_18() -> Experiment:
    """As `video_folder_r2plus1d_18` with TSN sampling: 8 segments over the whole video."""
    base = video_folder_r2plus1d_18()
    data = dataclasses.replace(
        base.data,
        clip_sampling=ClipSampling(method="tsn", num_segments=8, num_clips=2),
        augmentation=Augmentation(crop_size=112, test_crop="three_crop"),
    )
    return dataclasses.replace(base, data=data)


# --- Video transformers, fine-tuned from Kinetics-400 -----------------------------------
# Datasets: your own class folders (video_folder, pass --manual_dir), UCF101 and HMDB51
# (the ucf101_kvideo and hmdb51_kvideo builders, split 1, JPEG frames).
_TRANSFORMER_DATASETS = {
    "video_folder": "video_folder/jpeg",
    "ucf101": "ucf101_kvideo/split1_jpeg",
    "hmdb51": "hmdb51_kvideo/split1_jpeg",
}


def _timesformer_b(dataset: str) -> Experiment:
    """TimeSformer-B from its Kinetics-400 weights, with the paper's own recipe.

    TimeSformer's Kinetics config (``TimeSformer_divST_8x32_224.yaml``): SGD, momentum
    0.9, learning rate 0.005 for a batch of 8, weight decay 1e-4, 15 epochs with the rate
    divided by 10 at epochs 11 and 14, stochastic depth 0.1 (in the model), no dropout.
    Its clips are 8 frames 32 apart, which span a whole 10-second Kinetics clip; on the
    shorter videos here 8 TSN segments span the whole video instead. Training crops: 224
    from a short side jittered in [256, 320], i.e. 0.7-0.875 of it, and flips; test: 3
    crops along the long side, one clip. Stochastic depth 0.1 is the model's default.
    """
    return Experiment(
        data=DataConfig(
            dataset=dataset,
            clip_sampling=ClipSampling(method="tsn", num_segments=8, num_clips=1),
            # Square crops of 0.7-0.875 of the short side at 13 positions: the nearest
            # to TimeSformer's random 224 crop of a short side jittered in [256, 320].
            augmentation=Augmentation(
                crop_size=224,
                scales=(0.875, 0.7),
                max_distort=0,
                more_fix_crop=True,
                test_crop="three_crop",
            ),
        ),
        model=ModelConfig(preset="timesformer_b", weights="kinetics400", dropout=0.0),
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.005,
            momentum=0.9,
            weight_decay=1e-4,
            schedule="step",
            step_epochs=(11, 14),
            step_factor=0.1,
        ),
        batch_size=8,
        epochs=15,
    )


def _videomae_vit_b(dataset: str) -> Experiment:
    """VideoMAE ViT-B from its self-supervised Kinetics-400 encoder, VideoMAE's recipe.

    VideoMAE's UCF101 fine-tuning script (its repository publishes none for HMDB51,
    which takes the same): AdamW (0.9, 0.999), base rate 5e-4 per 256 clips scaled
    linearly to the batch (VideoMAE's own rule: 1.5625e-5 at batch 8), weight decay 0.05,
    layer-wise rate decay 0.7, 5 warmup epochs then cosine, 100 epochs, stochastic depth
    0.2, dropout 0.5 before the classifier, Mixup 0.8 / CutMix 1.0 / label smoothing
    0.1, 16 frames 4 apart, random resized crops of 224; test: 5 clips x 3 crops. Not
    reproduced here: RandAugment, random erasing and repeated augmentation (two views per
    video), which kvideo's clip augmentation does not have. Batch 8 with gradient
    checkpointing fits a 16 GB accelerator (benchmarks/README.md).
    """
    batch_size = 8
    return Experiment(
        data=DataConfig(
            dataset=dataset,
            clip_sampling=ClipSampling(method="dense", num_frames=16, frame_stride=4, num_clips=5),
            augmentation=Augmentation(
                crop_size=224, train_crop="random_resized", test_crop="three_crop"
            ),
            mixing=Mixing(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1),
        ),
        model=ModelConfig(
            preset="videomae_vit_b",
            weights="kinetics400_pretrain",
            dropout=0.5,
            backbone_args={"drop_path_rate": 0.2, "gradient_checkpointing": True},
        ),
        optimizer=OptimizerConfig(
            name="adamw",
            learning_rate=5e-4 * batch_size / 256,
            weight_decay=0.05,
            layer_decay=0.7,
            schedule="cosine",
            warmup_epochs=5,
        ),
        batch_size=batch_size,
        epochs=100,
    )


def video_folder_timesformer_b() -> Experiment:
    """TimeSformer-B fine-tuned on your own class folders (pass --manual_dir)."""
    return _timesformer_b(_TRANSFORMER_DATASETS["video_folder"])


def ucf101_timesformer_b() -> Experiment:
    """TimeSformer-B fine-tuned on UCF101 split 1."""
    return _timesformer_b(_TRANSFORMER_DATASETS["ucf101"])


def hmdb51_timesformer_b() -> Experiment:
    """TimeSformer-B fine-tuned on HMDB51 split 1."""
    return _timesformer_b(_TRANSFORMER_DATASETS["hmdb51"])


def video_folder_videomae_b() -> Experiment:
    """VideoMAE ViT-B fine-tuned on your own class folders (pass --manual_dir)."""
    return _videomae_vit_b(_TRANSFORMER_DATASETS["video_folder"])


def ucf101_videomae_b() -> Experiment:
    """VideoMAE ViT-B fine-tuned on UCF101 split 1."""
    return _videomae_vit_b(_TRANSFORMER_DATASETS["ucf101"])


def hmdb51_videomae_b() -> Experiment:
    """VideoMAE ViT-B fine-tuned on HMDB51 split 1."""
    return _videomae_vit_b(_TRANSFORMER_DATASETS["hmdb51"])


EXPERIMENTS = {
    "motion_demo": motion_demo,
    "video_folder_r2plus1d_18": video_folder_r2plus1d_18,
    "video_folder_tsn_r2plus1d_18": video_folder_tsn_r2plus1d_18,
    "video_folder_timesformer_b": video_folder_timesformer_b,
    "ucf101_timesformer_b": ucf101_timesformer_b,
    "hmdb51_timesformer_b": hmdb51_timesformer_b,
    "video_folder_videomae_b": video_folder_videomae_b,
    "ucf101_videomae_b": ucf101_videomae_b,
    "hmdb51_videomae_b": hmdb51_videomae_b,
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(
            f"Unknown experiment. Choose from {sorted(EXPERIMENTS)}. Received: {name!r}"
        )
    return EXPERIMENTS[name]()
