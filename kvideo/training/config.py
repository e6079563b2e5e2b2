"""Typed, frozen experiment settings. Named experiments live in `experiments.py`.

No TensorFlow here: `train_main.py` validates its flags against these before loading it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from kvideo.data.config import Augmentation, ClipSampling
from kvideo.data.mixing import Mixing
from kvideo.models.registry import get_model_spec
from kvideo.models.spec import HEAD_NAMES

STRATEGIES = ("default", "mirrored", "tpu")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the videos come from and how clips are made.

    Attributes:
        dataset: TFDS name with config, e.g. "motion_demo/jpeg" or "video_folder/bytes".
        data_dir: TFDS data directory (TFDS's default when None).
        manual_dir: source directory for builders that read local files (video_folder).
        train_split, test_split: split names.
        clip_sampling: frame sampling; `num_clips` applies to the final evaluation.
        augmentation: spatial transform for training and test.
        shuffle_buffer: examples held for shuffling.
        mixing: Mixup/CutMix over training clips and label smoothing
            (`kvideo.data.mixing`); None trains on the labels as they are.
    """

    dataset: str = "motion_demo/jpeg"
    data_dir: str | None = None
    manual_dir: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    clip_sampling: ClipSampling = ClipSampling()
    augmentation: Augmentation = Augmentation()
    shuffle_buffer: int = 512
    mixing: Mixing | None = None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which network: a registered model and the choices around its backbone.

    Attributes:
        preset: a registered model name (`kvideo.models.list_presets()`); checked at once.
        head: a head from `kvideo.models.heads.HEADS`; None keeps the model's own.
        head_args: the head's arguments; None keeps the model's own (with its own head).
        dropout: dropout before the classifier; None keeps the model's default.
        weights: pretrained backbone weights, registered (`kvideo.models.weights`) or the
            path of a ``.weights.h5`` file; None trains from scratch.
        mean, std: per-channel statistics of [0, 1] pixels that the model's first layer
            normalises with; None keeps the model's (the statistics of its weights). The
            model resizes clips to the data's `crop_size`.
        backbone_args: overrides of the registered backbone's arguments, e.g.
            ``{"drop_path_rate": 0.2, "gradient_checkpointing": True}``.
    """

    preset: str = "r2plus1d_18"
    head: str | None = None
    head_args: dict[str, Any] | None = None
    dropout: float | None = None
    weights: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    backbone_args: dict[str, Any] | None = None

    def __post_init__(self):
        get_model_spec(self.preset)  # a clear error listing every name, before any work
        if self.head is not None and self.head not in HEAD_NAMES:
            raise ValueError(
                f"Unknown head. Choose from {list(HEAD_NAMES)}. Received: head={self.head!r}"
            )


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and learning-rate schedule.

    Attributes:
        name: "sgd" (with `momentum`, Nesterov off), "adam" or "adamw".
        learning_rate: peak learning rate (after warmup).
        momentum: SGD momentum.
        weight_decay: decoupled weight decay applied by the Keras optimizer (0 = off).
        schedule: "constant", "step" (multiply by `step_factor` at each of `step_epochs`)
            or "cosine" (to zero at the last epoch).
        warmup_epochs: linear warmup from 0, counted in epochs (may be fractional).
        clipnorm: clip each gradient's norm (None = off).
        layer_decay: with "adamw", layer-wise learning-rate decay for transformers
            (`kvideo.training.optimizers.LayerDecayAdamW`, which also exempts biases,
            norms and embeddings from weight decay); None keeps Keras's AdamW.
    """

    name: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    step_epochs: tuple[int, ...] = ()
    step_factor: float = 0.1
    clipnorm: float | None = None
    layer_decay: float | None = None

    def __post_init__(self):
        if self.name not in OPTIMIZERS:
            raise ValueError(f"`name` must be one of {OPTIMIZERS}. Received: name={self.name!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"`schedule` must be one of {SCHEDULES}. Received: schedule={self.schedule!r}"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"`learning_rate` must be > 0. Received: {self.learning_rate}")
        if self.warmup_epochs < 0:
            raise ValueError(f"`warmup_epochs` must be >= 0. Received: {self.warmup_epochs}")
        if self.schedule == "step" and not self.step_epochs:
            raise ValueError("schedule='step' needs `step_epochs`. Received: step_epochs=()")
        if self.layer_decay is not None and (self.name != "adamw" or not 0 < self.layer_decay <= 1):
            raise ValueError(
                "`layer_decay` needs name='adamw' and a value in (0, 1]. "
                f"Received: layer_decay={self.layer_decay!r}, name={self.name!r}"
            )


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Everything one training run needs, apart from where it writes.

    Attributes:
        batch_size: global batch size (split across replicas by the strategy).
        epochs: passes over the training split.
        mixed_precision: compute in float16 (GPU) or bfloat16 (CPU/TPU), keep float32
            variables; the classifier head stays float32.
        strategy: "default" (one device), "mirrored" (all local GPUs, or CPUs) or "tpu".
        seed: seeds weights, shuffling and augmentation.
        jit_compile: XLA; off by default because it made 3D convolutions 2-4x slower on CPU.
        export: write a SavedModel and TFLite files after training.
    """

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    batch_size: int = 8
    epochs: int = 20
    mixed_precision: bool = False
    strategy: str = "default"
    seed: int = 0
    jit_compile: bool = False
    export: bool = True

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"`strategy` must be one of {STRATEGIES}. Received: strategy={self.strategy!r}"
            )
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def replace_fields(experiment: Experiment, **overrides: Any) -> Experiment:
    """A copy of `experiment` with overrides given by field name at any depth.

    `None` values are ignored, so unset command-line flags keep the experiment's value.
    Names are looked up in `Experiment`, then its `data`, `model`, `optimizer`, and the
    data's `clip_sampling` and `augmentation`, e.g. `replace_fields(e, num_frames=8,
    learning_rate=0.1)`.

    Raises:
        ValueError: for a name that no settings object has.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    paths = {
        (): experiment,
        ("data",): experiment.data,
        ("model",): experiment.model,
        ("optimizer",): experiment.optimizer,
        ("data", "clip_sampling"): experiment.data.clip_sampling,
        ("data", "augmentation"): experiment.data.augmentation,
    }
    updates: dict[tuple[str, ...], dict[str, Any]] = {path: {} for path in paths}
    for name, value in overrides.items():
        owners = [
            path
            for path, obj in paths.items()
            if name in {f.name for f in dataclasses.fields(obj)}
            and not dataclasses.is_dataclass(getattr(obj, name))
        ]
        if not owners:
            raise ValueError(f"Unknown experiment setting {name!r}. Received: {name}={value!r}")
        updates[owners[0]][name] = value
    # Rebuild from the leaves up so each frozen object is replaced once.
    sampling = dataclasses.replace(
        experiment.data.clip_sampling, **updates[("data", "clip_sampling")]
    )
    aug = dataclasses.replace(experiment.data.augmentation, **updates[("data", "augmentation")])
    data = dataclasses.replace(
        experiment.data, clip_sampling=sampling, augmentation=aug, **updates[("data",)]
    )
    model = dataclasses.replace(experiment.model, **updates[("model",)])
    optimizer = dataclasses.replace(experiment.optimizer, **updates[("optimizer",)])
    return dataclasses.replace(
        experiment, data=data, model=model, optimizer=optimizer, **updates[()]
    )
