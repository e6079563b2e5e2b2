"""Named experiments: plain functions returning an `Experiment`, collected in one dict.

Add one by writing a function and listing it in `EXPERIMENTS`; `train_main.py
--experiment=NAME` picks it and its flags override single fields.
"""

from __future__ import annotations

import dataclasses

from kvideo.data.config import Augmentation, ClipSampling
from kvideo.training.config import (
    DataConfig,
    Experiment,
    ModelConfig,
    MultiDatasetExperiment,
    OptimizerConfig,
)


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


def _r2plus1d_18_from_scratch(dataset: str) -> Experiment:
    """R(2+1)D-18 from scratch with the training protocol of Tran et al. 2018.

    The paper's optimisation as its VMZ (Caffe2) scripts run it: SGD, momentum 0.9, base
    learning rate 0.01 for a batch of 32, divided by 10 every 10 epochs, weight decay 1e-4
    as an L2 term, clips of 16 consecutive frames, 112x112 crops of frames at short side
    128, flipped (VMZ crops at any position; here one of 13 fixed positions, the closest
    the multi-scale crop offers), 10 clips per test video. The paper's UCF101 and
    HMDB51 numbers are for networks pre-trained on Kinetics or Sports-1M; from scratch,
    expect much less (small datasets overfit a 33 M-parameter network).
    """
    return Experiment(
        data=DataConfig(
            dataset=dataset,
            clip_sampling=ClipSampling(method="dense", num_frames=16, frame_stride=1, num_clips=10),
            augmentation=Augmentation(
                crop_size=112, train_crop="multiscale", scales=(0.875,), more_fix_crop=True
            ),
        ),
        model=ModelConfig(preset="r2plus1d_18", dropout=0.5),
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=1e-4,
            weight_decay_kind="l2",
            schedule="step",
            step_epochs=(10, 20, 30),
            step_factor=0.1,
        ),
        batch_size=32,
        epochs=40,
    )


def ucf101_r2plus1d_18() -> Experiment:
    """`_r2plus1d_18_from_scratch` on UCF101 split 1 (``--dataset=ucf101_kvideo/split2_jpeg``
    and ``split3_jpeg`` for the others; papers report the mean over the three)."""
    return _r2plus1d_18_from_scratch("ucf101_kvideo/split1_jpeg")


def hmdb51_r2plus1d_18() -> Experiment:
    """`_r2plus1d_18_from_scratch` on HMDB51 split 1 (splits 2 and 3 likewise)."""
    return _r2plus1d_18_from_scratch("hmdb51_kvideo/split1_jpeg")


EXPERIMENTS = {
    "motion_demo": motion_demo,
    "video_folder_r2plus1d_18": video_folder_r2plus1d_18,
    "video_folder_tsn_r2plus1d_18": video_folder_tsn_r2plus1d_18,
    "ucf101_r2plus1d_18": ucf101_r2plus1d_18,
    "hmdb51_r2plus1d_18": hmdb51_r2plus1d_18,
}


def ucf101_hmdb51_r2plus1d_18() -> MultiDatasetExperiment:
    """One R(2+1)D-18 trained on UCF101 and HMDB51 split 1 at once, a head each.

    Each dataset keeps `_r2plus1d_18_from_scratch`'s settings (the first's model and
    optimisation are the run's). Batches are drawn at random in proportion to the
    datasets' training videos (about 9.5k and 3.6k), so an epoch sees each once, and the
    larger dataset does not have to be cut to the smaller one's size; each is evaluated
    on its own head and its test split, as in the single-dataset experiments.
    """
    return MultiDatasetExperiment(
        tasks=(
            ("ucf101", ucf101_r2plus1d_18()),
            ("hmdb51", hmdb51_r2plus1d_18()),
        ),
        mixing="ratio",
    )


#: Experiments on several datasets at once (`kvideo.training.multi_dataset`).
MULTI_DATASET_EXPERIMENTS = {
    "ucf101_hmdb51_r2plus1d_18": ucf101_hmdb51_r2plus1d_18,
}


def get_experiment(name: str) -> Experiment | MultiDatasetExperiment:
    if name in MULTI_DATASET_EXPERIMENTS:
        return MULTI_DATASET_EXPERIMENTS[name]()
    if name not in EXPERIMENTS:
        valid = sorted([*EXPERIMENTS, *MULTI_DATASET_EXPERIMENTS])
        raise ValueError(f"Unknown experiment. Choose from {valid}. Received: {name!r}")
    return EXPERIMENTS[name]()
