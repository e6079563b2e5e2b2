"""One call that trains, evaluates and exports: `train_and_evaluate(experiment, output_dir)`.

The pieces are functions of their own (`prepare_dataset`, `make_datasets`, `build_model`,
`compile_model`, `evaluate_model`, `export_model`), so a program can run any of them.

The output directory holds everything a run makes and is also its resume point:

    experiment.json            the settings used
    clip_config.json           the evaluation transform (for export/export_main.py)
    labels.txt                 class names, one per line, in label order
    validation_videos.txt      the training videos held out for validation (when held out)
    augmented_clip.png         a training clip after augmentation (what the model sees)
    backup/                    BackupAndRestore state while training; gone when it finishes
    checkpoints/last.keras     the model after the latest epoch
    checkpoints/best_validation.keras  the model of the best validation top-1 so far
    logs/                      TensorBoard
    metrics.csv                per-epoch loss / top-1 / top-k, training and validation
    steps.csv                  training loss of every step (custom loop only)
    training_curves.png
    model.keras                the final model (its presence means training finished)
    test_evaluation.json       the test split's report (`kvideo.training.evaluate`): video-
                               and clip-level accuracy, per-class precision, recall, F1, AP,
                               mAP, confusion counts, misclassified videos with their scores
    test_evaluation.txt        the same, summarised for reading
    test_confusion.png         the confusion matrix, rows normalised
    test_precision_recall.png  a precision-recall curve per class
    test_misclassified.tsv     the misclassified test videos with their scores
    export/                    SavedModel for TF Serving and .tflite files

Nothing during training reads the test split: validation is a split of the dataset's own
or a stratified, seeded share of the training split held out (`DataConfig`), and the test
split is read once, for the final evaluation.

Run it again on the same directory after a crash or a kill and it resumes and says so:
`model.fit` from the last finished epoch (the interrupted epoch starts over), the custom
loop (`kvideo.training.distributed`: multi-worker, TPU, or `loop="custom"`) at the last
checkpointed step. Run it after it finished and it only re-evaluates and re-exports.

`output_dir` may be any `tf.io.gfile` path (`gs://bucket/run`, `ram://run`): every file
goes through `tf.io.gfile` (`kvideo.training.files`); exports are written locally and
copied there. Under `multi_worker_mirrored`, every worker calls `train_and_evaluate`
with the same `output_dir` (shared storage); only the chief writes the run's files,
evaluates and exports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import pathlib
import time
import warnings
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

from kvideo import inputs as named_inputs
from kvideo.data import load_examples, make_clip_dataset
from kvideo.data.config import Augmentation, ClipSampling, clip_config_dict
from kvideo.data.mixing import soft_targets
from kvideo.data.pipeline import SkipLog, select_videos, split_index
from kvideo.data.preview import preview_frames, save_contact_sheet
from kvideo.data.splits import holdout
from kvideo.models import build_video_classifier, get_model_spec, outputs_logits
from kvideo.models.cross_modality import cross_modality_classifier
from kvideo.models.per_frame.partial_bn import partial_batch_norm
from kvideo.training import files
from kvideo.training.callbacks import TrainingCurves
from kvideo.training.config import Experiment, check_experiment, replace_fields
from kvideo.training.distributed import (
    WorkerRole,
    make_strategy,
    train_custom_loop,
    uses_custom_loop,
    wait_for_all,
    worker_role,
)
from kvideo.training.evaluate import evaluate_classifier, top_k_for
from kvideo.training.optimizers import layer_decay_adamw
from kvideo.training.schedules import WarmupSchedule

_log = logging.getLogger(__name__)

VALIDATION_LIST = "validation_videos.txt"
BEST_CHECKPOINT = "best_validation.keras"


def prepare_dataset(experiment: Experiment) -> tfds.core.DatasetBuilder:
    """The dataset's builder, building the data first if it is not there yet.

    kvideo's own builders must be registered with TFDS first: ``import tfds_builders``
    (``train_main.py`` does).
    """
    data = experiment.data
    try:
        builder = tfds.builder(data.dataset, data_dir=data.data_dir)
    except tfds.core.registered.DatasetNotFoundError as err:
        raise ValueError(
            f"No dataset {data.dataset!r} is registered with TFDS. kvideo's builders register "
            f"when imported: `import tfds_builders`. ({err})"
        ) from err
    download_config = tfds.download.DownloadConfig(manual_dir=data.manual_dir)
    builder.download_and_prepare(download_config=download_config)
    return builder


@dataclasses.dataclass
class Datasets:
    """The batches of a run and what they were made from.

    Attributes:
        train: repeated training batches.
        validation: one view per video of the validation videos, or None (no validation).
        test: every evaluation view of the test split's videos, as
            `(features, labels, video_ids)` (for `predict_views`; not for `model.evaluate`).
        class_names: label names, in label order.
        num_train, num_validation: videos in each.
        skip_log: every example the pipelines dropped, with the reason.
        make_train: ``(input_context, skip_examples) -> dataset``: the training batches
            for `tf.distribute`'s `distribute_datasets_from_function` (per-replica
            batches of this pipeline's share, repeated; see `make_clip_dataset`).
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset
    class_names: list[str]
    num_train: int
    num_validation: int
    skip_log: SkipLog
    make_train: Callable[[tf.distribute.InputContext | None, int], tf.data.Dataset] | None = None


def make_datasets(
    experiment: Experiment,
    builder: tfds.core.DatasetBuilder,
    output_dir: str | os.PathLike,
    *,
    write_files: bool = True,
) -> Datasets:
    """Training, validation and test batches for `experiment`.

    Validation comes from `DataConfig.validation_split`, or from a held-out share of the
    training split (listed in `validation_videos.txt`, reused when the run resumes;
    written only with `write_files`, e.g. by the chief of several workers).
    """
    data = experiment.data
    skip_log = SkipLog()

    def clips(
        examples, kind, training, sampling=data.clip_sampling, augmentation=None, ids=False, **kw
    ):
        return _clips(
            experiment, skip_log, examples, kind, training, sampling, augmentation, ids, **kw
        )

    train_examples, kind, info = load_examples(
        builder, data.train_split, shuffle_files=True, seed=experiment.seed
    )
    num_train = info.splits[data.train_split].num_examples
    validation_examples, num_validation = None, 0
    if data.validation_split is not None:
        validation_examples, _, _ = load_examples(builder, data.validation_split)
        num_validation = info.splits[data.validation_split].num_examples
    elif data.validation_fraction > 0:
        held = _held_out(experiment, builder, os.fspath(output_dir), write_files)
        num_validation = len(held)
        num_train -= num_validation
        train_examples = select_videos(train_examples, held, keep=False)
        validation_examples, _, _ = load_examples(builder, data.train_split)
        validation_examples = select_videos(validation_examples, held, keep=True)
    validation = None
    if validation_examples is not None and num_validation:
        # One centre view per video keeps per-epoch validation cheap; the final test
        # evaluation uses every view the experiment asks for.
        validation = clips(
            validation_examples,
            kind,
            training=False,
            sampling=dataclasses.replace(data.clip_sampling, num_clips=1),
            augmentation=dataclasses.replace(data.augmentation, test_crop="center"),
        )
    train = clips(train_examples, kind, training=True)
    num_classes = info.features["label"].num_classes
    if data.mixing is not None:  # Mixup/CutMix and label smoothing: probability targets
        mix = {"mixing": data.mixing, "num_classes": num_classes, "seed": experiment.seed}
        train = soft_targets(train, training=True, **mix)
        if validation is not None:
            validation = soft_targets(validation, training=False, **mix)
    return Datasets(
        train=train.repeat(),
        validation=validation,
        test=make_test_dataset(experiment, builder, skip_log),
        class_names=list(info.features["label"].names),
        num_train=num_train,
        num_validation=num_validation,
        skip_log=skip_log,
        make_train=functools.partial(
            _sharded_train, clips, train_examples, kind, experiment, num_classes
        ),
    )


def _sharded_train(clips, examples, kind, experiment, num_classes, context, skip_examples):
    """`Datasets.make_train`: per-replica batches of this pipeline's share, mixed when
    the experiment mixes (each per-replica batch on its own, with its own seed stream
    continued after `skip_examples`)."""
    train = clips(
        examples,
        kind,
        training=True,
        input_context=context,
        repeat=True,
        skip_examples=skip_examples,
    )
    mixing = experiment.data.mixing
    if mixing is None:
        return train
    replicas = context.num_replicas_in_sync if context else 1
    pipelines = context.num_input_pipelines if context else 1
    pipeline_id = context.input_pipeline_id if context else 0
    # Batches this pipeline yielded before `skip_examples`: one per replica per step.
    skip_batches = skip_examples // experiment.batch_size * (replicas // pipelines)
    return soft_targets(
        train,
        training=True,
        mixing=mixing,
        num_classes=num_classes,
        seed=experiment.seed + pipeline_id,
        skip_batches=skip_batches,
    )


def make_test_dataset(
    experiment: Experiment, builder: tfds.core.DatasetBuilder, skip_log: SkipLog
) -> tf.data.Dataset:
    """Every evaluation view of the test split's videos, for the model's inputs, with
    each video's id."""
    examples, kind, _ = load_examples(builder, experiment.data.test_split)
    return _clips(experiment, skip_log, examples, kind, training=False, ids=True)


def _clips(
    experiment: Experiment,
    skip_log: SkipLog,
    examples: tf.data.Dataset,
    kind: str,
    training: bool,
    sampling: ClipSampling | None = None,
    augmentation: Augmentation | None = None,
    ids: bool = False,
    **kwargs: Any,
) -> tf.data.Dataset:
    """`make_clip_dataset` with the experiment's settings and inputs; `kwargs` go to it
    (sharding and resuming: `input_context`, `repeat`, `skip_examples`)."""
    data = experiment.data
    return make_clip_dataset(
        examples,
        storage_kind=kind,
        training=training,
        batch_size=experiment.batch_size,
        clip_sampling=sampling or data.clip_sampling,
        augmentation=augmentation or data.augmentation,
        seed=experiment.seed,
        shuffle_buffer=data.shuffle_buffer,
        skip_log=skip_log,
        modalities=experiment.model.input_names,
        stack_length=data.stack,
        with_video_ids=ids,
        **kwargs,
    )


def _held_out(
    experiment: Experiment, builder: tfds.core.DatasetBuilder, output_dir: str, write: bool
) -> set[str]:
    """The training videos held out for validation, computed once and kept in the run.

    A worker that does not write computes the same set (stratified and seeded) rather
    than read a file the chief may be writing."""
    path = files.join(output_dir, VALIDATION_LIST)
    if write and files.exists(path):
        return set(files.read_text(path).splitlines())
    ids, labels, groups = split_index(builder, experiment.data.train_split)
    held = holdout(ids, labels, experiment.data.validation_fraction, experiment.seed, groups)
    if not write:
        return held
    files.write_text(path, "".join(f"{video_id}\n" for video_id in sorted(held)))
    _log.info(
        "Holding out %d of %d training videos for validation (%s).", len(held), len(ids), path
    )
    return held


def build_model(
    experiment: Experiment, num_classes: int, flow_bound: float | None = None
) -> keras.Model:
    """The experiment's classifier: its registered model, head and weights, sized to the
    clips the data config cuts (clip length, crop size) and to its input.

    On the preset's own input the registered model is built as it is. An RGB preset on
    ``flow`` or ``rgb_diff`` (`ModelConfig.input_name`) is built on RGB with its weights,
    then turned into the same network on the input's channels, initialised from the RGB
    weights (`kvideo.models.cross_modality_classifier`; fresh weights without `weights`).
    `flow_bound` (the dataset's, in px) sets the flow normalisation to displacements in
    pixels; default TSN's 20. A multi-stream experiment is built by `train_streams`.
    """
    data, config = experiment.data, experiment.model
    if config.streams:
        raise ValueError(
            "A multi-stream experiment trains each stream as its own run and fuses them: "
            "train_and_evaluate / train_streams. Received: streams="
            f"{[s.input_name for s in config.streams]}"
        )
    spec = get_model_spec(config.preset)
    crop = data.augmentation.crop_size
    length = data.clip_sampling.clip_length
    input_name = config.input_name or spec.input_name
    common = dict(
        head=config.head,
        head_args=config.head_args,
        dropout=config.dropout,
        weights=config.weights,
        **(config.backbone_args or {}),
    )
    if input_name == spec.input_name:
        channels = named_inputs.input_channels(input_name, data.stack)
        if input_name == named_inputs.RGB_DIFF:
            channels -= 3  # the backbone sees the differences
        model = build_video_classifier(
            config.preset,
            num_classes,
            input_shape=(length, crop, crop, channels),
            mean=config.mean,
            std=config.std,
            **common,
        )
    else:
        rgb = build_video_classifier(
            config.preset, num_classes, input_shape=(length, crop, crop, spec.channels), **common
        )
        mean, std = config.mean, config.std
        if input_name == named_inputs.FLOW and (mean is None or std is None):
            bound = flow_bound or DEFAULT_FLOW_BOUND
            flow_mean, flow_std = named_inputs.flow_statistics(bound)
            mean, std = mean or flow_mean, std or flow_std
        model = cross_modality_classifier(
            rgb,
            input_name,
            data.stack,
            mean=mean,
            std=std,
            initialize=config.weights is not None,
            name=f"{config.preset}_{input_name}",
        )
    if config.partial_bn:
        partial_batch_norm(model)
    return model


# TSN's bound (kvideo.flow.DEFAULT_BOUND), for datasets whose metadata does not say.
DEFAULT_FLOW_BOUND = 20.0


def flow_bound_of(builder: tfds.core.DatasetBuilder) -> float | None:
    """The bound (px) the dataset's flow was quantised with, from its metadata; None
    when it stores no flow."""
    flow = flow_metadata(builder)
    return None if flow is None else float(flow["bound"])


def make_optimizer(experiment: Experiment, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer with its schedule; decoupled weight decay lives here (L2 does not)."""
    config = experiment.optimizer
    schedule = WarmupSchedule(
        peak=config.learning_rate,
        total_steps=steps_per_epoch * experiment.epochs,
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
        kind=config.schedule,
        boundaries=tuple(e * steps_per_epoch for e in config.step_epochs),
        factor=config.step_factor,
    )
    common = {"learning_rate": schedule, "clipnorm": config.clipnorm}
    decoupled = (config.weight_decay or None) if config.decay_kind == "decoupled" else None
    if config.layer_decay is not None:
        return layer_decay_adamw(config, **common)
    if config.name == "sgd":
        return keras.optimizers.SGD(momentum=config.momentum, weight_decay=decoupled, **common)
    if config.name == "adam":
        return keras.optimizers.Adam(weight_decay=decoupled, **common)
    return keras.optimizers.AdamW(weight_decay=config.weight_decay, **common)


def add_regularization(model: keras.Model, experiment: Experiment) -> None:
    """The experiment's L2 weight decay as loss terms, when it asks for L2."""
    config = experiment.optimizer
    if config.decay_kind == "l2" and config.weight_decay:
        add_l2_weight_decay(model, config.weight_decay)


def add_l2_weight_decay(model: keras.Model, weight_decay: float) -> None:
    """PyTorch/Caffe-style weight decay: ``weight_decay * w`` added to every trainable
    variable's gradient, through a loss term ``weight_decay / 2 * sum(w ** 2)``.

    As with PyTorch's ``SGD(weight_decay=...)``, every trainable variable is decayed
    (kernels, biases, BatchNorm scales and offsets), and momentum carries the term.
    """
    regularizer = keras.regularizers.L2(weight_decay / 2)
    for variable in model.trainable_weights:
        variable.regularizer = regularizer


def loss_scaled(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """`optimizer` wrapped in loss scaling under the float16 policy (as `compile` does)."""
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def compile_model(
    model: keras.Model, experiment: Experiment, steps_per_epoch: int, num_classes: int
) -> None:
    """Optimizer, loss (on the model's logits or probabilities), top-1/top-k metrics."""
    add_regularization(model, experiment)
    if experiment.data.mixing is None:
        loss = keras.losses.SparseCategoricalCrossentropy
        top_1, top_k = (
            keras.metrics.SparseCategoricalAccuracy,
            keras.metrics.SparseTopKCategoricalAccuracy,
        )
    else:  # Mixup/CutMix and label smoothing train on class-probability targets
        loss = keras.losses.CategoricalCrossentropy
        top_1, top_k = keras.metrics.CategoricalAccuracy, keras.metrics.TopKCategoricalAccuracy
    metrics = [top_1(name="top1")]
    k = top_k_for(num_classes)
    if k is not None:
        metrics.append(top_k(k=k, name=f"top{k}"))
    model.compile(
        optimizer=make_optimizer(experiment, steps_per_epoch),
        loss=loss(from_logits=outputs_logits(model)),
        metrics=metrics,
        jit_compile=experiment.jit_compile,
    )


def train_and_evaluate(experiment: Experiment, output_dir: str | pathlib.Path) -> dict:
    """Trains `experiment`, evaluates it on the test split, exports it.

    Returns:
        A summary: validation and test top-1/top-k, output paths, skipped videos, training
        seconds, whether the run resumed.
    """
    check_experiment(experiment)
    # First: MultiWorkerMirroredStrategy must be made before TensorFlow starts working.
    strategy = make_strategy(experiment.strategy)
    role = worker_role(strategy)
    output_dir = os.fspath(output_dir)
    files.makedirs(output_dir)
    fixed_shapes = experiment.strategy == "tpu" or experiment.jit_compile
    if fixed_shapes and not experiment.data.augmentation.resize_in_pipeline:
        # XLA compiles once per input shape: give it one by resizing clips on the host.
        _log.info("XLA / TPU: clips are resized to crop_size in the input pipeline.")
        experiment = replace_fields(experiment, resize_in_pipeline=True)
    if role.is_chief:
        files.write_text(files.join(output_dir, "experiment.json"), experiment.to_json() + "\n")
        # The evaluation transform, in the form export/export_main.py --clip_config reads.
        sampling, augmentation = experiment.data.clip_sampling, experiment.data.augmentation
        clip_config = clip_config_dict(sampling, augmentation)
        files.write_text(
            files.join(output_dir, "clip_config.json"), json.dumps(clip_config, indent=2) + "\n"
        )
    if experiment.model.streams:
        from kvideo.training.fusion import train_streams  # it calls back into this module

        return train_streams(experiment, output_dir)
    keras.utils.set_random_seed(experiment.seed)
    previous_policy = keras.mixed_precision.global_policy()
    if experiment.mixed_precision:
        on_gpu = bool(tf.config.list_physical_devices("GPU"))
        # float16 needs loss scaling and is slow on CPUs; bfloat16 suits CPUs and TPUs.
        keras.mixed_precision.set_global_policy("mixed_float16" if on_gpu else "mixed_bfloat16")
    try:
        return _train_and_evaluate(experiment, output_dir, strategy, role)
    finally:
        # The policy is process-wide; leave it as the caller had it.
        keras.mixed_precision.set_global_policy(previous_policy)


def _train_and_evaluate(
    experiment: Experiment, output_dir: str, strategy: tf.distribute.Strategy, role: WorkerRole
) -> dict:
    builder = prepare_dataset(experiment)
    datasets = make_datasets(experiment, builder, output_dir, write_files=role.is_chief)
    class_names = datasets.class_names
    if role.is_chief:
        files.write_text(files.join(output_dir, "labels.txt"), "\n".join(class_names) + "\n")
        for features, _ in datasets.train.take(1):
            name, clips = next(iter(features.items()))
            save_contact_sheet(
                files.join(output_dir, "augmented_clip.png"), preview_frames(name, clips[0])
            )

    final_path = files.join(output_dir, "model.keras")
    resumed = False
    trained_here_with_workers = False
    started = time.time()
    steps_per_epoch = max(datasets.num_train // experiment.batch_size, 1)
    if files.exists(final_path):
        _log.info("%s exists: training already finished, evaluating it.", final_path)
        if not role.is_chief:
            return {"task": role.name, "finished": True}
        model = keras.models.load_model(final_path)
    elif uses_custom_loop(experiment):
        model, resumed = _train_custom(experiment, output_dir, strategy, datasets, steps_per_epoch)
        if not role.is_chief:
            # Evaluation and export are the chief's; wait for it to finish them.
            wait_for_all(strategy)
            return {"task": role.name, "finished": True, "resumed": resumed}
        files.save_model(model, final_path)
        files.rmtree(files.join(output_dir, "backup"))
        trained_here_with_workers = True
    else:
        resumed = files.exists(files.join(output_dir, "backup"))
        if resumed:
            message = (
                f"Resuming the interrupted run in {output_dir} from its last finished epoch "
                "(the interrupted epoch starts over)."
            )
            _log.warning(message)
            print(message)
        with strategy.scope():
            model = build_model(experiment, len(class_names), flow_bound_of(builder))
            compile_model(model, experiment, steps_per_epoch, len(class_names))
        with _quiet_training():
            model.fit(
                datasets.train,
                steps_per_epoch=steps_per_epoch,
                epochs=experiment.epochs,
                validation_data=datasets.validation,
                callbacks=_callbacks(output_dir, validation=datasets.validation is not None),
                shuffle=False,  # the pipeline shuffles, seeded
                verbose=2,
            )
        model.save(final_path)
    train_seconds = time.time() - started

    evaluation_path = files.join(output_dir, "test_evaluation.json")
    report = evaluate_model(model, experiment, datasets, evaluation_path)
    k = top_k_for(len(class_names))
    summary = {
        "test_top1": report["top1"],
        **({f"test_top{k}": report[f"top{k}"]} if k is not None else {}),
        "test_clip_top1": report["clip_top1"],
        "test_mean_class_accuracy": report["mean_class_accuracy"],
        "test_mAP": report["mAP"],
        "test_videos": report["num_videos"],
        "validation_videos": datasets.num_validation,
        "train_seconds": round(train_seconds, 1),
        "resumed": resumed,
        "skipped_videos": datasets.skip_log.skipped,
        "model": final_path,
        "evaluation": evaluation_path,
    }
    if experiment.export:
        export_dir = files.join(output_dir, "export")
        with files.LocalStage(export_dir) as local_dir:
            paths = export_model(
                model, class_names, experiment, pathlib.Path(local_dir), flow_metadata(builder)
            )
        summary.update({key: path.replace(local_dir, export_dir, 1) for key, path in paths.items()})
    files.write_text(files.join(output_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    if trained_here_with_workers:
        wait_for_all(strategy)  # the other workers wait for the chief to finish
    return summary


def _train_custom(
    experiment: Experiment,
    output_dir: str,
    strategy: tf.distribute.Strategy,
    datasets: Datasets,
    steps_per_epoch: int,
) -> tuple[keras.Model, bool]:
    """`distributed.train_custom_loop` with this trainer's model and optimizer."""
    num_classes = len(datasets.class_names)

    def build_and_compile():
        model = build_model(experiment, num_classes)
        add_regularization(model, experiment)
        return model, loss_scaled(make_optimizer(experiment, steps_per_epoch))

    result = train_custom_loop(
        experiment,
        strategy,
        output_dir,
        build_and_compile=build_and_compile,
        make_train=datasets.make_train,
        validation=datasets.validation,
        steps_per_epoch=steps_per_epoch,
        top_k=top_k_for(num_classes),
        checkpoint_steps=experiment.checkpoint_steps,
    )
    return result.model, result.resumed_at_step > 0


@contextlib.contextmanager
def _quiet_training():
    """Removes two messages of every training run that report no problem.

    * Grappler's remapper fails on the training graph of any model with a Pad in front of
      a strided convolution (every ResNet here: PyTorch's symmetric padding), logging
      ``E0000 ... remapper failed: INVALID_ARGUMENT``: it fuses the Pad into the
      convolution although the gradient still reads the Pad's shape, then discards its
      own result for that graph. Turned off while training, it loses nothing (measured:
      same step time) and logs nothing; it is back on for evaluation and export.
    * Keras warns "Your input ran out of data" at the end of the first validation pass
      when the validation set's length is unknown (filtered datasets): running out is
      how that pass ends. The training data repeats without end, so the warning cannot
      come from it.
    """
    options = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"remapping": False})
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            yield
    finally:
        tf.config.optimizer.set_experimental_options({"remapping": options.get("remapping", True)})


def evaluate_model(
    model: keras.Model, experiment: Experiment, datasets: Datasets, path: str | os.PathLike
) -> dict:
    """Multi-view evaluation on the test split: the report of `evaluate_classifier`, its
    JSON at `path` (``<name>_evaluation.json``) and its pictures and lists beside it."""
    return evaluate_on(model, experiment, datasets.test, datasets.class_names, path)


def evaluate_on(
    model: keras.Model,
    experiment: Experiment,
    test: tf.data.Dataset,
    class_names: list[str],
    path: str | os.PathLike,
) -> dict:
    """`evaluate_model` on the batches `test` (`make_test_dataset`: with video ids)."""
    path = os.fspath(path)  # any tf.io.gfile path
    name = os.path.basename(path).removesuffix(".json").removesuffix("_evaluation")
    return evaluate_classifier(
        model,
        test,
        class_names,
        os.path.dirname(path),
        name=name,
        extra=evaluation_settings(experiment),
    )


def evaluation_settings(experiment: Experiment) -> dict:
    """What the report states about how it was made: dataset, split, views, model."""
    data = experiment.data
    return {
        "dataset": data.dataset,
        "split": data.test_split,
        "model": experiment.model.preset,
        "clip_sampling": dataclasses.asdict(data.clip_sampling),
        "test_crop": data.augmentation.test_crop,
    }


def _callbacks(output_dir: str, validation: bool) -> list[keras.callbacks.Callback]:
    checkpoints = files.join(output_dir, "checkpoints")
    files.makedirs(checkpoints)
    callbacks = [
        keras.callbacks.BackupAndRestore(files.join(output_dir, "backup")),
        keras.callbacks.ModelCheckpoint(files.join(checkpoints, "last.keras")),
    ]
    if validation:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                files.join(checkpoints, BEST_CHECKPOINT),
                monitor="val_top1",
                mode="max",
                save_best_only=True,
            )
        )
    return [
        *callbacks,
        keras.callbacks.TensorBoard(files.join(output_dir, "logs")),
        keras.callbacks.CSVLogger(files.join(output_dir, "metrics.csv"), append=True),
        TrainingCurves(
            files.join(output_dir, "metrics.csv"), files.join(output_dir, "training_curves.png")
        ),
    ]


def export_model(
    model: keras.Model,
    class_names: list[str],
    experiment: Experiment,
    export_dir: pathlib.Path,
    flow: dict | None = None,
) -> dict:
    """A TF Serving SavedModel and float32/float16 TFLite files, with the run's transform
    (and, for a model on flow, how the data's flow was computed: `flow`)."""
    from kvideo import export

    data = experiment.data
    name = experiment.model.preset
    saved_model = export.export_saved_model(
        model,
        class_names,
        data.clip_sampling,
        data.augmentation,
        export_dir / "saved_model",
        model_name=name,
        overwrite=True,  # a rerun of a finished run re-exports the same model
        flow=flow if named_inputs.FLOW in [x.name for x in model.inputs] else None,
    )
    paths = {"saved_model": str(saved_model)}
    for quantization in ("float32", "float16"):
        path = export.export_tflite(
            model,
            export_dir / "tflite",
            class_names,
            data.clip_sampling,
            data.augmentation,
            quantization=quantization,
        )
        paths[f"tflite_{quantization}"] = str(path)
    return paths


def flow_metadata(builder: tfds.core.DatasetBuilder) -> dict | None:
    """How the dataset's flow was computed (method, bound, short side: its
    ``info.metadata["flow"]``); None when it stores no flow."""
    return (builder.info.metadata or {}).get("flow")
