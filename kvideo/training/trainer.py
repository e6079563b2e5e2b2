"""One call that trains, evaluates and exports: `train_and_evaluate(experiment, output_dir)`.

The output directory holds everything a run makes and is also its resume point:

    experiment.json        the settings used
    clip_config.json       the evaluation transform (for export/export_main.py)
    labels.txt             class names, one per line, in label order
    augmented_clip.png     a training clip after augmentation (what the model sees)
    backup/                BackupAndRestore state while training; gone when it finishes
    checkpoints/last.keras the model after the latest epoch; best.keras by val top-1
    logs/                  TensorBoard
    metrics.csv            per-epoch loss / top-1 / top-5, train and validation
    training_curves.png
    model.keras            the final model (its presence means training finished)
    evaluation.json        multi-view test accuracy, per class, confusion matrix
    export/                SavedModel for TF Serving and .tflite files

Run it again on the same directory after a crash or a kill and it resumes from the last
finished epoch (the interrupted epoch starts over); run it after it finished and it only
re-evaluates and re-exports.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
import time

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

from kvideo.data import load_examples, make_clip_dataset
from kvideo.data.mixing import soft_targets
from kvideo.data.pipeline import SkipLog
from kvideo.data.preview import save_contact_sheet
from kvideo.inputs import VIDEO
from kvideo.models import build_video_classifier, get_model_spec
from kvideo.training.callbacks import TrainingCurves
from kvideo.training.config import Experiment, replace_fields
from kvideo.training.evaluate import classification_report, predict_video_scores, write_report
from kvideo.training.optimizers import layer_decay_adamw
from kvideo.training.schedules import WarmupSchedule

_log = logging.getLogger(__name__)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """ "default" (current device), "mirrored" (all local GPUs, else CPU) or "tpu"."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # All local GPUs; without GPUs, every logical CPU device (one unless the process
        # split the CPU with tf.config.set_logical_device_configuration).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy. Received: strategy={name!r}")


def prepare_dataset(experiment: Experiment) -> tfds.core.DatasetBuilder:
    """The dataset's builder, building the data first if it is not there yet."""
    import tfds_builders  # noqa: F401  (registers kvideo's builders with TFDS)

    data = experiment.data
    builder = tfds.builder(data.dataset, data_dir=data.data_dir)
    download_config = tfds.download.DownloadConfig(manual_dir=data.manual_dir)
    builder.download_and_prepare(download_config=download_config)
    return builder


def build_model(experiment: Experiment, num_classes: int) -> keras.Model:
    """The experiment's classifier: its registered model, head and weights, sized to the
    clips the data config cuts (clip length, crop size)."""
    data, config = experiment.data, experiment.model
    spec = get_model_spec(config.preset)
    crop = data.augmentation.crop_size
    return build_video_classifier(
        config.preset,
        num_classes,
        head=config.head,
        head_args=config.head_args,
        dropout=config.dropout,
        input_shape=(data.clip_sampling.clip_length, crop, crop, spec.channels),
        mean=config.mean,
        std=config.std,
        weights=config.weights,
        **(config.backbone_args or {}),
    )


def make_optimizer(experiment: Experiment, steps_per_epoch: int) -> keras.optimizers.Optimizer:
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
    weight_decay = config.weight_decay or None
    if config.layer_decay is not None:
        return layer_decay_adamw(config, **common)
    if config.name == "sgd":
        return keras.optimizers.SGD(momentum=config.momentum, weight_decay=weight_decay, **common)
    if config.name == "adam":
        return keras.optimizers.Adam(weight_decay=weight_decay, **common)
    return keras.optimizers.AdamW(weight_decay=config.weight_decay, **common)


def train_and_evaluate(experiment: Experiment, output_dir: str | pathlib.Path) -> dict:
    """Trains `experiment`, evaluates it on the test split, exports it.

    Returns:
        A summary: test top-1/top-5, output paths, skipped videos, training seconds.
    """
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    fixed_shapes = experiment.strategy == "tpu" or experiment.jit_compile
    if fixed_shapes and not experiment.data.augmentation.resize_in_pipeline:
        # XLA compiles once per input shape: give it one by resizing clips on the host.
        _log.info("XLA / TPU: clips are resized to crop_size in the input pipeline.")
        experiment = replace_fields(experiment, resize_in_pipeline=True)
    (output_dir / "experiment.json").write_text(experiment.to_json() + "\n")
    # The evaluation transform, in the form export/export_main.py --clip_config reads.
    clip_config = {
        "clip_sampling": dataclasses.asdict(experiment.data.clip_sampling),
        "augmentation": dataclasses.asdict(experiment.data.augmentation),
    }
    (output_dir / "clip_config.json").write_text(json.dumps(clip_config, indent=2) + "\n")
    keras.utils.set_random_seed(experiment.seed)
    previous_policy = keras.mixed_precision.global_policy()
    if experiment.mixed_precision:
        on_gpu = bool(tf.config.list_physical_devices("GPU"))
        # float16 needs loss scaling and is slow on CPUs; bfloat16 suits CPUs and TPUs.
        keras.mixed_precision.set_global_policy("mixed_float16" if on_gpu else "mixed_bfloat16")
    try:
        return _train_and_evaluate(experiment, output_dir)
    finally:
        # The policy is process-wide; leave it as the caller had it.
        keras.mixed_precision.set_global_policy(previous_policy)


def _train_and_evaluate(experiment: Experiment, output_dir: pathlib.Path) -> dict:
    strategy = make_strategy(experiment.strategy)
    builder = prepare_dataset(experiment)
    class_names = builder.info.features["label"].names
    (output_dir / "labels.txt").write_text("\n".join(class_names) + "\n", encoding="utf-8")
    data = experiment.data
    skip_log = SkipLog()

    def clips(
        split: str, training: bool, sampling=data.clip_sampling, augmentation=data.augmentation
    ):
        examples, kind, _ = load_examples(
            builder, split, shuffle_files=training, seed=experiment.seed
        )
        return make_clip_dataset(
            examples,
            storage_kind=kind,
            training=training,
            batch_size=experiment.batch_size,
            clip_sampling=sampling,
            augmentation=augmentation,
            seed=experiment.seed,
            shuffle_buffer=data.shuffle_buffer,
            skip_log=skip_log,
        )

    train_ds = clips(data.train_split, training=True)
    # Per-epoch validation uses one view per video to stay cheap; the final evaluation
    # below uses every view the experiment asks for.
    val_ds = clips(
        data.test_split,
        training=False,
        sampling=dataclasses.replace(data.clip_sampling, num_clips=1),
        augmentation=dataclasses.replace(data.augmentation, test_crop="center"),
    )
    if data.mixing is not None:  # Mixup/CutMix and label smoothing: probability targets
        mix = {"mixing": data.mixing, "num_classes": len(class_names), "seed": experiment.seed}
        train_ds = soft_targets(train_ds, training=True, **mix)
        val_ds = soft_targets(val_ds, training=False, **mix)
    for features, _ in train_ds.take(1):
        save_contact_sheet(output_dir / "augmented_clip.png", features[VIDEO][0].numpy())

    final_path = output_dir / "model.keras"
    started = time.time()
    if final_path.exists():
        _log.info("%s exists: training already finished, evaluating it.", final_path)
        model = keras.models.load_model(final_path)
    else:
        num_train = builder.info.splits[data.train_split].num_examples
        steps_per_epoch = max(num_train // experiment.batch_size, 1)
        with strategy.scope():
            model = build_model(experiment, len(class_names))
            model.compile(
                optimizer=make_optimizer(experiment, steps_per_epoch),
                **_loss_and_metrics(soft=data.mixing is not None),
                jit_compile=experiment.jit_compile,
            )
        model.fit(
            # Repeated, with a fixed epoch length: Keras then knows the epoch's size.
            train_ds.repeat(),
            steps_per_epoch=steps_per_epoch,
            epochs=experiment.epochs,
            validation_data=val_ds,
            callbacks=_callbacks(output_dir),
            shuffle=False,  # the pipeline shuffles, seeded
            verbose=2,
        )
        model.save(final_path)
    train_seconds = time.time() - started

    test_ds = clips(data.test_split, training=False)
    scores, labels = predict_video_scores(model, test_ds)
    report = classification_report(scores, labels, class_names)
    report["views_per_video"] = data.clip_sampling.num_clips * data.augmentation.num_test_crops
    write_report(report, output_dir / "evaluation.json")

    summary = {
        "test_top1": report["top1"],
        "test_top5": report["top5"],
        "test_videos": report["num_videos"],
        "train_seconds": round(train_seconds, 1),
        "skipped_videos": skip_log.skipped,
        "model": str(final_path),
        "evaluation": str(output_dir / "evaluation.json"),
    }
    if experiment.export:
        summary.update(_export(model, class_names, experiment, output_dir / "export"))
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _loss_and_metrics(soft: bool) -> dict:
    """Cross-entropy and top-1/top-5 for int labels, or for class-probability targets."""
    if soft:
        return {
            "loss": keras.losses.CategoricalCrossentropy(from_logits=True),
            "metrics": [
                keras.metrics.CategoricalAccuracy(name="top1"),
                keras.metrics.TopKCategoricalAccuracy(k=5, name="top5"),
            ],
        }
    return {
        "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "metrics": [
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ],
    }


def _callbacks(output_dir: pathlib.Path) -> list[keras.callbacks.Callback]:
    checkpoints = output_dir / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    return [
        keras.callbacks.BackupAndRestore(str(output_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(checkpoints / "last.keras")),
        keras.callbacks.ModelCheckpoint(
            str(checkpoints / "best.keras"), monitor="val_top1", mode="max", save_best_only=True
        ),
        keras.callbacks.TensorBoard(str(output_dir / "logs")),
        keras.callbacks.CSVLogger(str(output_dir / "metrics.csv"), append=True),
        TrainingCurves(output_dir / "metrics.csv", output_dir / "training_curves.png"),
    ]


def _export(
    model: keras.Model, class_names: list[str], experiment: Experiment, export_dir: pathlib.Path
) -> dict:
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
