"""Named experiments: plain functions returning an `Experiment`, collected in one dict.

Add one by writing a function and listing it in `EXPERIMENTS`; `train_main.py
--experiment=NAME` picks it and its flags override single fields.
"""

from __future__ import annotations

import dataclasses

from kvideo.data.config import Augmentation, ClipSampling
from kvideo.training.config import DataConfig, Experiment, ModelConfig, OptimizerConfig


def motion_demo() -> Experiment:
    """A tiny R(2+1)D on the built-in motion_demo set; minutes on a 2-core CPU.

    Dense 16-frame clips at stride 2 cover the 32-frame videos; crops of 56 from the
    64x64 frames with TSN's multi-scale jitter. Not a paper's recipe: tuned on the demo,
    with decoupled weight decay. A tenth of each class's training videos is held out for
    validation (the best checkpoint); the test split is only read at the end.
    """
    return Experiment(
        data=DataConfig(
            dataset="motion_demo/jpeg",
            clip_sampling=ClipSampling(method="dense", num_frames=16, frame_stride=2),
            augmentation=Augmentation(crop_size=56, test_crop_fraction=1.0),
        ),
        model=ModelConfig(preset="r2plus1d_tiny", dropout=0.2),
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.05,
            weight_decay=5e-4,
            weight_decay_kind="decoupled",
            schedule="cosine",
            warmup_epochs=1,
        ),
        batch_size=8,
        epochs=15,
    )


def video_folder_r2plus1d_18() -> Experiment:
    """R(2+1)D-18 on your own class folders (pass --manual_dir), 16x112x112 clips.

    Regularised as Tran et al. 2018 train R(2+1)D from scratch (their VMZ/Caffe2 scripts:
    SGD with momentum 0.9, weight decay 1e-4 as an L2 term in the gradient, base learning
    rate 0.01), scaled to one GPU with our schedule for small datasets: 2 warmup epochs
    then cosine over 45 epochs (VMZ steps the rate down 10x every 10 epochs on Kinetics),
    10 test clips per video.
    """
    return Experiment(
        data=DataConfig(
            dataset="video_folder/jpeg",
            clip_sampling=ClipSampling(method="dense", num_frames=16, frame_stride=2, num_clips=10),
            augmentation=Augmentation(crop_size=112),
        ),
        model=ModelConfig(preset="r2plus1d_18", dropout=0.5),
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=1e-4,
            weight_decay_kind="l2",
            schedule="cosine",
            warmup_epochs=2,
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


EXPERIMENTS = {
    "motion_demo": motion_demo,
    "video_folder_r2plus1d_18": video_folder_r2plus1d_18,
    "video_folder_tsn_r2plus1d_18": video_folder_tsn_r2plus1d_18,
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(
            f"Unknown experiment. Choose from {sorted(EXPERIMENTS)}. Received: {name!r}"
        )
    return EXPERIMENTS[name]()
