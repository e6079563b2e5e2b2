"""Typed, frozen experiment settings. Named experiments live in `experiments.py`.

No TensorFlow here: `train_main.py` validates its flags against these before loading it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence
from typing import Any

from kvideo import inputs
from kvideo.data.config import Augmentation, ClipSampling
from kvideo.data.mixing import Mixing
from kvideo.models.registry import get_model_spec
from kvideo.models.spec import HEAD_NAMES

STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")
LOOPS = ("auto", "fit", "custom")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine")
WEIGHT_DECAY_KINDS = ("l2", "decoupled")
#: `kvideo.models.FusionClassifier`'s modes, named here so configs check them without Keras.
FUSE_MODES = ("logits", "probabilities")
INTERLEAVES = ("alternate", "ratio")  # of batches from several datasets
# "split<n>" in a dataset config name: the official split it holds (ucf101_kvideo/split1_jpeg).
_SPLIT = re.compile(r"(?<![A-Za-z0-9])split(\d+)")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the videos come from and how clips are made.

    Attributes:
        dataset: TFDS name with config, e.g. "motion_demo/jpeg" or "video_folder/bytes".
        data_dir: TFDS data directory (TFDS's default when None).
        manual_dir: source directory for builders that read local files (video_folder).
        train_split, test_split: split names. The test split is read once, for the final
            evaluation; nothing during training looks at it.
        validation_split: a split the dataset provides for validation; when None,
            `validation_fraction` of each class is held out of `train_split`
            (stratified, seeded, whole groups where the dataset stores them: see
            `kvideo.data.splits`). Per-epoch validation and the best checkpoint use it.
        validation_fraction: the share held out when there is no `validation_split`;
            0 trains on everything, without per-epoch validation.
        clip_sampling: frame sampling; `num_clips` applies to the final evaluation.
        augmentation: spatial transform for training and test.
        shuffle_buffer: encoded examples held for shuffling, on top of the shuffled order
            of the dataset's files (see `make_clip_dataset` for what that costs in memory).
        mixing: Mixup/CutMix over training clips and label smoothing
            (`kvideo.data.mixing`); None trains on the labels as they are.
        stack_length: L, the flow fields (``flow``) or frame differences (``rgb_diff``) a
            model on those inputs takes per sampled frame; None: 5 for TSN sampling, 1 for
            dense clips (`ClipSampling.default_stack_length`).
    """

    dataset: str = "motion_demo/jpeg"
    data_dir: str | None = None
    manual_dir: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    validation_split: str | None = None
    validation_fraction: float = 0.1
    clip_sampling: ClipSampling = ClipSampling()
    augmentation: Augmentation = Augmentation()
    shuffle_buffer: int = 64
    mixing: Mixing | None = None
    stack_length: int | None = None

    @property
    def stack(self) -> int:
        """`stack_length`, or its default for the sampling."""
        if self.stack_length is not None:
            return self.stack_length
        return self.clip_sampling.default_stack_length

    def __post_init__(self):
        if self.stack_length is not None:
            inputs.input_channels(inputs.FLOW, self.stack_length)  # a positive int
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(
                "`validation_fraction` must be in [0, 1). "
                f"Received: validation_fraction={self.validation_fraction!r}"
            )
        if self.validation_split is not None and self.validation_split == self.test_split:
            raise ValueError(
                "The validation split must not be the test split: choosing a model on the "
                f"test split leaks it. Received: validation_split={self.validation_split!r}"
            )
        if not isinstance(self.shuffle_buffer, int) or self.shuffle_buffer < 1:
            raise ValueError(f"`shuffle_buffer` must be >= 1. Received: {self.shuffle_buffer!r}")


@dataclasses.dataclass(frozen=True)
class StreamConfig:
    """One stream of a multi-stream (two-stream) model: a network on one named input.

    Attributes:
        input_name: ``"video"`` (RGB frames), ``"flow"`` or ``"rgb_diff"`` (`kvideo.inputs`).
        fusion_weight: the weight of its scores in the fusion (TSN: RGB 1, flow 1.5).
        preset: its registered model; None: the experiment's `ModelConfig.preset` (an RGB
            network is turned into one on the stream's input, see `ModelConfig.input_name`).
    """

    input_name: str
    fusion_weight: float = 1.0
    preset: str | None = None

    def __post_init__(self):
        if self.input_name not in inputs.NAMES:
            raise ValueError(
                f"Unknown input. Choose from {list(inputs.NAMES)}. "
                f"Received: input_name={self.input_name!r}"
            )
        if isinstance(self.fusion_weight, bool) or not self.fusion_weight >= 0:
            raise ValueError(f"`fusion_weight` must be >= 0. Received: {self.fusion_weight!r}")
        if self.preset is not None:
            get_model_spec(self.preset)


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
        partial_bn: freeze every BatchNormalization layer but the first after the
            weights are loaded (TSN's partial BN, `kvideo.models.per_frame.partial_bn`).
        backbone_args: overrides of the registered backbone's arguments, e.g.
            ``{"drop_path_rate": 0.2, "gradient_checkpointing": True}``.
        input_name: the named input the model takes (``"video"``, ``"flow"``,
            ``"rgb_diff"``); None: the preset's own. An RGB preset on flow or RGB
            difference is the same network on ``2L`` / ``3L`` channels, its first
            convolution initialised from the RGB `weights` by TSN's cross-modality
            initialisation (`kvideo.models.cross_modality`); flow is normalised to
            displacements in pixels (`kvideo.inputs.flow_statistics` with the dataset's
            bound) unless `mean`/`std` say otherwise.
        streams: two or more streams make a multi-stream model: each stream is trained as
            its own run (`kvideo.training.fusion.train_streams`, TSN's protocol), then
            their scores are fused with their weights, evaluated and exported as one
            model with several named inputs. Empty: one network.
        fuse: how streams are fused: ``"logits"`` (weighted average of logits, as TSN
            fuses scores) or ``"probabilities"`` (of softmax probabilities).
    """

    preset: str = "r2plus1d_18"
    head: str | None = None
    head_args: dict[str, Any] | None = None
    dropout: float | None = None
    weights: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    partial_bn: bool = False
    backbone_args: dict[str, Any] | None = None
    input_name: str | None = None
    streams: tuple[StreamConfig, ...] = ()
    fuse: str = "logits"

    def __post_init__(self):
        get_model_spec(self.preset)  # a clear error listing every name, before any work
        if self.head is not None and self.head not in HEAD_NAMES:
            raise ValueError(
                f"Unknown head. Choose from {list(HEAD_NAMES)}. Received: head={self.head!r}"
            )
        if self.input_name is not None and self.input_name not in inputs.NAMES:
            raise ValueError(
                f"Unknown input. Choose from {list(inputs.NAMES)}. "
                f"Received: input_name={self.input_name!r}"
            )
        streams = tuple(
            StreamConfig(**s) if isinstance(s, dict) else s for s in self.streams
        )  # JSON (experiment.json) gives dicts
        object.__setattr__(self, "streams", streams)
        names = [s.input_name for s in streams]
        if streams and (len(streams) < 2 or len(set(names)) != len(names)):
            raise ValueError(
                f"`streams` needs two or more streams on distinct inputs. Received: inputs {names}"
            )
        if streams and self.input_name is not None:
            raise ValueError(
                "`input_name` is for one network; each of `streams` names its own input. "
                f"Received: input_name={self.input_name!r}"
            )
        if self.fuse not in FUSE_MODES:
            raise ValueError(f"`fuse` must be one of {FUSE_MODES}. Received: fuse={self.fuse!r}")

    @property
    def input_names(self) -> tuple[str, ...]:
        """The named inputs of the model: each stream's, or the one network's."""
        if self.streams:
            return tuple(s.input_name for s in self.streams)
        return (self.input_name or get_model_spec(self.preset).input_name,)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and learning-rate schedule.

    Attributes:
        name: "sgd" (with `momentum`, Nesterov off), "adam" or "adamw".
        learning_rate: peak learning rate (after warmup).
        momentum: SGD momentum.
        weight_decay: strength of weight decay (0 = off), of the kind `weight_decay_kind`.
        weight_decay_kind: ``"l2"``, the PyTorch/Caffe ``weight_decay`` that papers report:
            ``weight_decay * w`` is added to every trainable variable's gradient (so SGD's
            momentum amplifies it, ~10x at 0.9); or ``"decoupled"`` (Loshchilov & Hutter):
            the optimizer shrinks weights by ``lr * weight_decay * w`` apart from the
            gradient, as Keras optimizers and AdamW do. Default: decoupled for AdamW (by
            definition), L2 otherwise.
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
    weight_decay_kind: str | None = None
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
        if self.weight_decay_kind not in (None, *WEIGHT_DECAY_KINDS):
            raise ValueError(
                f"`weight_decay_kind` must be one of {WEIGHT_DECAY_KINDS}. "
                f"Received: weight_decay_kind={self.weight_decay_kind!r}"
            )
        if self.name == "adamw" and self.decay_kind != "decoupled":
            raise ValueError(
                "AdamW's weight decay is decoupled by definition; use name='adam' for Adam "
                "with an L2 term. Received: name='adamw', weight_decay_kind='l2'"
            )
        if self.weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0. Received: {self.weight_decay}")

        if self.layer_decay is not None and (self.name != "adamw" or not 0 < self.layer_decay <= 1):
            raise ValueError(
                "`layer_decay` needs name='adamw' and a value in (0, 1]. "
                f"Received: layer_decay={self.layer_decay!r}, name={self.name!r}"
            )

    @property
    def decay_kind(self) -> str:
        """`weight_decay_kind`, or its default: decoupled for AdamW, L2 otherwise."""
        if self.weight_decay_kind is not None:
            return self.weight_decay_kind
        return "decoupled" if self.name == "adamw" else "l2"


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Everything one training run needs, apart from where it writes.

    Attributes:
        batch_size: global batch size (split across replicas by the strategy).
        epochs: passes over the training split.
        mixed_precision: compute in float16 (GPU) or bfloat16 (CPU/TPU), keep float32
            variables; the classifier head stays float32.
        strategy: "default" (one device), "mirrored" (all local GPUs, or CPUs),
            "multi_worker_mirrored" (the machines in ``TF_CONFIG``) or "tpu".
        loop: "fit" (`model.fit`), "custom" (`kvideo.training.distributed`'s loop around
            `strategy.run`: resumes at the interrupted step) or "auto": custom where
            `model.fit` cannot serve (multi_worker_mirrored, tpu), fit elsewhere.
        checkpoint_steps: the custom loop also checkpoints every this many steps (None:
            at the end of each epoch only); `model.fit` checkpoints at epoch ends.
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
    loop: str = "auto"
    checkpoint_steps: int | None = None
    seed: int = 0
    jit_compile: bool = False
    export: bool = True

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"`strategy` must be one of {STRATEGIES}. Received: strategy={self.strategy!r}"
            )
        if self.loop not in LOOPS:
            raise ValueError(f"`loop` must be one of {LOOPS}. Received: loop={self.loop!r}")
        if self.checkpoint_steps is not None and (
            not isinstance(self.checkpoint_steps, int) or self.checkpoint_steps < 1
        ):
            raise ValueError(
                "`checkpoint_steps` must be a positive integer or None. "
                f"Received: checkpoint_steps={self.checkpoint_steps!r}"
            )
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def experiment_from_json(text: str) -> Experiment:
    """The `Experiment` that `Experiment.to_json` wrote (e.g. a run's ``experiment.json``).

    Raises:
        ValueError: for a setting this version does not know.
    """
    return _from_dict(Experiment, json.loads(text))


def _from_dict(cls: type, values: dict[str, Any]) -> Any:
    """A frozen settings dataclass from its `dataclasses.asdict` form (JSON lists -> tuples:
    every sequence in the settings is a tuple)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} settings {unknown}. Received: {values}")
    kwargs = {}
    for name, value in values.items():
        default = fields[name].default
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = _from_dict(type(default), value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def split_datasets(dataset: str, splits: Sequence[int] = (1, 2, 3)) -> list[str]:
    """The dataset config of each split: ``"ucf101_kvideo/split1_jpeg"`` ->
    ``[".../split1_jpeg", ".../split2_jpeg", ".../split3_jpeg"]``.

    Raises:
        ValueError: when the name has no ``split<n>`` to replace.
    """
    if len(_SPLIT.findall(dataset)) != 1:
        raise ValueError(
            "The split protocol needs a dataset whose config names one official split, "
            f"e.g. 'ucf101_kvideo/split1_jpeg'. Received: dataset={dataset!r}"
        )
    return [_SPLIT.sub(f"split{n}", dataset) for n in splits]


def check_experiment(experiment: Experiment) -> None:
    """What can be checked before any work: the directories the data comes from.

    Raises:
        ValueError: for a `data_dir` or `manual_dir` that does not exist (TFDS would
            create a mistyped `data_dir` and build the dataset there).
    """
    data = experiment.data
    for name in ("data_dir", "manual_dir"):
        path = getattr(data, name)
        if path is not None and "://" not in path and not os.path.isdir(path):
            raise ValueError(
                f"`{name}` is not an existing directory (create it first if it is meant to be "
                f"new). Received: {name}={path!r}"
            )


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


@dataclasses.dataclass(frozen=True)
class MultiDatasetExperiment:
    """Several datasets, one backbone.

    Attributes:
        tasks: ``(head name, experiment)`` pairs; each experiment's data settings feed its
            head (and its batch size its batches). The first experiment's model,
            optimizer, epochs and seed are the run's; every experiment must cut clips
            of the same length and crop size.
        interleave: how batches of the datasets follow each other: ``"alternate"`` or
            ``"ratio"`` (`kvideo.training.multi_dataset`).
        ratio: the share of batches of each dataset with ``"ratio"``; default: in
            proportion to the datasets' training videos.
        loss_weights: one weight per head (default 1 each).
    """

    tasks: tuple[tuple[str, Experiment], ...]
    interleave: str = "alternate"
    ratio: tuple[float, ...] | None = None
    loss_weights: tuple[float, ...] | None = None

    def __post_init__(self):
        names = [name for name, _ in self.tasks]
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"Two tasks or more, with distinct names. Received: {names}")
        if self.interleave not in INTERLEAVES:
            raise ValueError(
                f"`interleave` must be one of {INTERLEAVES}. Received: {self.interleave!r}"
            )
        for field in ("ratio", "loss_weights"):
            values = getattr(self, field)
            if values is not None and (
                len(values) != len(names) or any(v < 0 for v in values) or not sum(values) > 0
            ):
                raise ValueError(
                    f"`{field}` needs one non-negative number per task ({len(names)}), not all "
                    f"zero. Received: {field}={values}"
                )
        mixed = [name for name, e in self.tasks if e.data.mixing is not None]
        if mixed:
            # The heads' targets are class indices; soft targets would need one per head.
            raise ValueError(
                f"Mixup/CutMix and label smoothing are not for multi-dataset runs yet. "
                f"Received: `mixing` set for {mixed}"
            )
        shapes = {
            (e.data.clip_sampling.clip_length, e.data.augmentation.crop_size) for _, e in self.tasks
        }
        if len(shapes) != 1:
            raise ValueError(
                "Every task must cut clips of one length and crop size (one backbone input). "
                f"Received: (clip length, crop size) = {sorted(shapes)}"
            )

    @property
    def main(self) -> Experiment:
        return self.tasks[0][1]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.tasks]
