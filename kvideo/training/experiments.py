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


def video_folder_r2plus1d_34_ig65m() -> Experiment:
    """Fine-tunes R(2+1)D-34 pretrained on IG-65M on your own class folders.

    The recipe of the report the IG65M issue cites, which reached 89-96% test accuracy on
    binary action tasks with 150-300 clips per class on one 11 GB GPU: IG65M's 32-frame
    weights (``r2plus1d_34`` / ``ig65m_32``, converted from the PyTorch release on first
    use; ``pip install 'kvideo[torch]'``), 32 consecutive frames at 112x112, learning rate
    1e-4 (Adam, constant), batch 8, 20 epochs. The whole network is fine-tuned; the
    classifier is new. Pass --manual_dir (two folders make a binary set); on a GPU add
    --mixed_precision, and --batch_size=16 if memory allows.
    """
    return Experiment(
        data=DataConfig(
            dataset="video_folder/jpeg",
            clip_sampling=ClipSampling(method="dense", num_frames=32, frame_stride=1, num_clips=5),
            augmentation=Augmentation(crop_size=112),
        ),
        model=ModelConfig(preset="r2plus1d_34", weights="ig65m_32", dropout=0.5),
        optimizer=OptimizerConfig(
            name="adam", learning_rate=1e-4, weight_decay=0.0, schedule="constant"
        ),
        batch_size=8,
        epochs=20,
    )


def ucf101_r2plus1d_34_ig65m() -> Experiment:
    """`video_folder_r2plus1d_34_ig65m`'s recipe on UCF101, split 1 (101 classes)."""
    return _on_dataset(video_folder_r2plus1d_34_ig65m(), "ucf101_kvideo/split1_jpeg")


def hmdb51_r2plus1d_34_ig65m() -> Experiment:
    """`video_folder_r2plus1d_34_ig65m`'s recipe on HMDB51, split 1 (51 classes)."""
    return _on_dataset(video_folder_r2plus1d_34_ig65m(), "hmdb51_kvideo/split1_jpeg")


def _on_dataset(experiment: Experiment, dataset: str) -> Experiment:
    return dataclasses.replace(
        experiment, data=dataclasses.replace(experiment.data, dataset=dataset)
    )


EXPERIMENTS = {
    "motion_demo": motion_demo,
    "video_folder_r2plus1d_18": video_folder_r2plus1d_18,
    "video_folder_tsn_r2plus1d_18": video_folder_tsn_r2plus1d_18,
    "video_folder_r2plus1d_34_ig65m": video_folder_r2plus1d_34_ig65m,
    "ucf101_r2plus1d_34_ig65m": ucf101_r2plus1d_34_ig65m,
    "hmdb51_r2plus1d_34_ig65m": hmdb51_r2plus1d_34_ig65m,
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(
            f"Unknown experiment. Choose from {sorted(EXPERIMENTS)}. Received: {name!r}"
        )
    return EXPERIMENTS[name]()
