"""Named experiments: plain functions returning an `Experiment`, collected in one dict.

Add one by writing a function and listing it in `EXPERIMENTS`; `train_main.py
--experiment=NAME` picks it and its flags override single fields.
"""

from __future__ import annotations

import dataclasses

from kvideo.data.config import Augmentation, ClipSampling
from kvideo.data.mixing import Mixing
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


def video_folder_r2plus1d_tiny() -> Experiment:
    """The demo's tiny R(2+1)D on your own class folders: the recipe for a CPU.

    `motion_demo`'s network and optimisation (16 frames at stride 2, crops of 56 from the
    builder's 128-px frames, SGD with a cosine schedule, 15 epochs), 3 test clips per
    video: 0.35 GFLOPs a clip against R(2+1)D-18's 40.5 at 112 px. The README gives its
    measured time per epoch on a 2-core CPU. Pass --manual_dir.
    """
    base = motion_demo()
    data = dataclasses.replace(
        base.data,
        dataset="video_folder/jpeg",
        clip_sampling=dataclasses.replace(base.data.clip_sampling, num_clips=3),
    )
    return dataclasses.replace(base, data=data)


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


# --- Per-frame and inflated networks from ImageNet weights (kvideo.models.per_frame,
# kvideo.models.inflated), on your own class folders (pass --manual_dir). ---------------

# TSN's fine-tuning from ImageNet (Wang et al. 2016, section 4.1, RGB network): batch 256,
# lr 0.001 divided by 10 every 2,000 iterations, 4,500 iterations in all, momentum 0.9,
# weight decay 5e-4, dropout 0.8, partial BN, corner cropping with scale jittering. The
# iterations are given in epochs of UCF101 split 1 (9,537 training videos, 37.3
# iterations per epoch at batch 256): steps at epochs 54 and 107, 121 epochs. The batch
# is the paper's, spread over its 8 GPUs; with fewer accelerators lower both
# --batch_size and --learning_rate in proportion.
_TSN_BATCH = 256
_TSN_OPTIMIZER = OptimizerConfig(
    name="sgd",
    learning_rate=0.001,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="step",
    step_epochs=(54, 107),
    step_factor=0.1,
)
_TSN_EPOCHS = 121


def _tsn_data(num_segments: int, crop_size: int = 224) -> DataConfig:
    """TSN sampling (one frame per segment), TSN's multi-scale corner crop; at test time
    8 segment phases and three crops (TSN tested 25 frames and 10 crops)."""
    return DataConfig(
        dataset="video_folder/jpeg",
        clip_sampling=ClipSampling(method="tsn", num_segments=num_segments, num_clips=8),
        augmentation=Augmentation(crop_size=crop_size, test_crop="three_crop"),
    )


def video_folder_tsn_resnet50() -> Experiment:
    """TSN-RGB (Wang et al. 2016) with 3 segments on ImageNet ResNet-50 (Keras's weights).

    The paper's recipe (see `_TSN_OPTIMIZER`): average consensus of 3 segments, dropout
    0.8, partial BN. The paper's network was BN-Inception (``tsn_bn_inception``, whose
    ImageNet weights kvideo cannot load yet); ResNet-50 is the backbone of its later
    journal version and of most re-implementations.
    """
    return Experiment(
        data=_tsn_data(3),
        model=ModelConfig(preset="tsn_resnet50", weights="imagenet", partial_bn=True),
        optimizer=_TSN_OPTIMIZER,
        batch_size=_TSN_BATCH,
        epochs=_TSN_EPOCHS,
    )


def video_folder_tsn8_resnet101() -> Experiment:
    """TSN-RGB with 8 segments on ImageNet ResNet-101: the TSN recipe with the 8 segments
    that later comparisons (TSM, mmaction2's TSN 1x1x8) train with."""
    base = video_folder_tsn_resnet50()
    return dataclasses.replace(
        base,
        data=_tsn_data(8),
        model=dataclasses.replace(base.model, preset="tsn_resnet101"),
    )


def video_folder_late_fusion_resnet50() -> Experiment:
    """Late fusion on 5 frames: per-frame ImageNet ResNet-50 scores averaged.

    Late fusion (Karpathy et al. 2014) combines frames only at the classifier; the
    average of per-frame class scores is TSN's average consensus, so this is
    ``tsn_resnet50`` on 5 frames, one per segment, with TSN's fine-tuning recipe.
    """
    base = video_folder_tsn_resnet50()
    return dataclasses.replace(base, data=_tsn_data(5))


def video_folder_lrcn_resnet50() -> Experiment:
    """LRCN (Donahue et al. 2015) on 5 frames: ImageNet ResNet-50 features of each frame,
    one LSTM layer of 256 units (the paper's size for RGB), the per-step outputs averaged
    (the paper averages per-step predictions), all trained end to end.

    The paper's CaffeNet has no Keras weights; ResNet-50 stands in. Its optimiser
    settings are Caffe iteration counts for CaffeNet, so the TSN fine-tuning recipe
    above is used, without partial BN and with dropout 0.5 before the classifier.
    """
    base = video_folder_tsn_resnet50()
    return dataclasses.replace(
        base,
        data=_tsn_data(5),
        model=ModelConfig(preset="lrcn_resnet50", weights="imagenet", dropout=0.5),
    )


def video_folder_cnn_transformer_resnet50() -> Experiment:
    """CNN + Transformer on 8 frames: ImageNet ResNet-50 features of each frame, a class
    token, learned positions, one pre-norm encoder layer of 8 heads (as the late temporal
    modelling of Kalfaoglu et al. 2020 puts a one-layer, 8-head BERT on clip features).

    Transformers train with AdamW; lr 1e-4, weight decay 0.05, warmup then cosine are
    kvideo's choice (the common ViT fine-tuning values), batch 64, 50 epochs.
    """
    return Experiment(
        data=_tsn_data(8),
        model=ModelConfig(preset="cnn_transformer_resnet50", weights="imagenet"),
        optimizer=OptimizerConfig(
            name="adamw",
            learning_rate=1e-4,
            weight_decay=0.05,
            schedule="cosine",
            warmup_epochs=5,
        ),
        batch_size=64,
        epochs=50,
    )


def video_folder_i3d_resnet50() -> Experiment:
    """I3D ResNet-50 on 16-frame clips from ImageNet ResNet-50 weights, inflated.

    mmaction2's I3D-R50 recipe (after Wang et al. 2018's I3D baseline): SGD momentum 0.9,
    lr 0.01 for batch 64, weight decay 1e-4, 100 epochs with the lr divided by 10 at
    epochs 40 and 80, dropout 0.5; clips of 16 frames 4 apart (their 32x2 clips cover the
    same 64 frames), 224 crops; tested on 10 clips x 3 crops.
    """
    return Experiment(
        data=DataConfig(
            dataset="video_folder/jpeg",
            clip_sampling=ClipSampling(method="dense", num_frames=16, frame_stride=4, num_clips=10),
            augmentation=Augmentation(crop_size=224, test_crop="three_crop"),
        ),
        model=ModelConfig(preset="i3d_resnet50", weights="imagenet", dropout=0.5),
        optimizer=OptimizerConfig(
            name="sgd",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=1e-4,
            schedule="step",
            step_epochs=(40, 80),
        ),
        batch_size=64,
        epochs=100,
    )


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
    "video_folder_r2plus1d_tiny": video_folder_r2plus1d_tiny,
    "video_folder_tsn_r2plus1d_18": video_folder_tsn_r2plus1d_18,
    "ucf101_r2plus1d_18": ucf101_r2plus1d_18,
    "hmdb51_r2plus1d_18": hmdb51_r2plus1d_18,
    "video_folder_tsn_resnet50": video_folder_tsn_resnet50,
    "video_folder_tsn8_resnet101": video_folder_tsn8_resnet101,
    "video_folder_late_fusion_resnet50": video_folder_late_fusion_resnet50,
    "video_folder_lrcn_resnet50": video_folder_lrcn_resnet50,
    "video_folder_cnn_transformer_resnet50": video_folder_cnn_transformer_resnet50,
    "video_folder_i3d_resnet50": video_folder_i3d_resnet50,
    "video_folder_r2plus1d_34_ig65m": video_folder_r2plus1d_34_ig65m,
    "ucf101_r2plus1d_34_ig65m": ucf101_r2plus1d_34_ig65m,
    "hmdb51_r2plus1d_34_ig65m": hmdb51_r2plus1d_34_ig65m,
    "video_folder_timesformer_b": video_folder_timesformer_b,
    "ucf101_timesformer_b": ucf101_timesformer_b,
    "hmdb51_timesformer_b": hmdb51_timesformer_b,
    "video_folder_videomae_b": video_folder_videomae_b,
    "ucf101_videomae_b": ucf101_videomae_b,
    "hmdb51_videomae_b": hmdb51_videomae_b,
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
        interleave="ratio",
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
