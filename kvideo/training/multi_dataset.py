"""Training one backbone on several datasets at once, one head per dataset.

Batches come from one dataset at a time: alternating (A, B, A, B, ...: every dataset gets
the same number of steps, a small one repeats more often) or drawn at random by a ratio
(default: in proportion to the datasets' training videos, so an epoch sees each about
once). Each batch carries every head's labels and a per-head sample weight that is 1 for
the batch's own dataset and 0 for the others, so each step updates the backbone and the
batch's own head only, with that head's loss (Keras sums the heads' weighted losses,
times `loss_weights`). Accuracy per head is a weighted metric: it counts only its own
dataset's clips; the per-head losses Keras logs are means over all steps, the other
datasets' (where they are 0) included. Batch-norm statistics are those of one dataset
per step, but the moving statistics used at test time mix every dataset's: measured on
motion_demo (259 training videos) with the 4-video video_folder dummy set and a tiny
R3D, alternating gave chance on motion_demo's test split (its head saw half the steps,
and statistics half of another world), mixing by ratio 0.89 (the single-dataset run:
at least 0.75); prefer "ratio" for datasets that differ much in size or look.

Each task batches with its own `batch_size`; an epoch is every task's training batches
once (in number: with "alternate" a smaller dataset repeats).

After training, each dataset is evaluated on its own head with the ordinary evaluation
report, and each head is saved as a plain `VideoClassifier` run folder
(``<output_dir>/<dataset>/model.keras`` with ``labels.txt`` and ``clip_config.json``)
that `kvideo.export`, `export/detect_main.py` and `export/explain_main.py` take
(export it with ``export/export_main.py``). Not yet in this path: per-epoch validation,
resuming, distribution strategies and mixed precision (the single-dataset trainer has
them).
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Mapping, Sequence

import keras
import tensorflow as tf

from kvideo.data.config import clip_config_dict
from kvideo.models.multi_head import MultiHeadClassifier
from kvideo.models.outputs import outputs_logits
from kvideo.training.config import INTERLEAVES, MultiDatasetExperiment, check_experiment
from kvideo.training.evaluate import top_k_for


def build_multi_head_model(experiment: MultiDatasetExperiment, num_classes: Sequence[int]):
    """The first task's model (registry name, head, weights) with one head per task."""
    from kvideo.training.trainer import build_model

    single = build_model(experiment.main, num_classes[0])
    return MultiHeadClassifier(
        single.backbone,
        dict(zip(experiment.names, num_classes, strict=True)),
        head=single.head,
        head_args=single.head_args,
        dropout=single.dropout,
        activation=single.activation,
        preprocessing=single.preprocessing,
        input_name=single.input_name,
        num_frames=single.num_frames,
        name="multi_head",
    )


def mix_datasets(
    datasets: Mapping[str, tf.data.Dataset],
    interleave: str = "alternate",
    ratio: Sequence[float] | None = None,
    seed: int = 0,
) -> tf.data.Dataset:
    """One stream of batches from several, for a `MultiHeadClassifier`.

    Args:
        datasets: ``{head name: batches (features, labels)}``, each repeated or not (they
            are repeated here: the result never ends; give ``steps_per_epoch`` to fit).
        interleave: ``"alternate"`` (in the dict's order) or ``"ratio"`` (random, seeded).
        ratio: share of batches per dataset for ``"ratio"`` (default equal).

    Returns:
        Batches ``(features, {name: labels}, {name: weights})``: the batch's own labels
        and weight 1 for its head, zeros for the others.
    """
    if interleave not in INTERLEAVES:
        raise ValueError(f"`interleave` must be one of {INTERLEAVES}. Received: {interleave!r}")
    names = list(datasets)

    def tag(index):
        def fn(features, labels, *rest):
            labels = tf.cast(labels, tf.int32)
            own = tf.ones_like(labels, tf.float32)
            targets = {
                n: labels if i == index else tf.zeros_like(labels) for i, n in enumerate(names)
            }
            weights = {n: own if i == index else own * 0 for i, n in enumerate(names)}
            return features, targets, weights

        return fn

    streams = [datasets[n].map(tag(i)).repeat() for i, n in enumerate(names)]
    if interleave == "alternate":
        choice = tf.data.Dataset.range(len(names)).repeat()
        return tf.data.Dataset.choose_from_datasets(streams, choice)
    weights = [float(w) for w in (ratio or [1.0] * len(names))]
    return tf.data.Dataset.sample_from_datasets(streams, weights=weights, seed=seed)


def compile_multi_head(
    model: MultiHeadClassifier,
    optimizer: keras.optimizers.Optimizer | str,
    loss_weights: Sequence[float] | None = None,
    **compile_kwargs,
) -> None:
    """A cross-entropy per head, weighted, and per-head top-1 (and top-k) over its own
    dataset's clips only (weighted metrics)."""
    logits = outputs_logits(model)
    names = model.dataset_names
    metrics = {}
    for name in names:
        metrics[name] = [keras.metrics.SparseCategoricalAccuracy(name="top1")]
        k = top_k_for(model.num_classes[name])
        if k is not None:
            metrics[name].append(keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}"))
    model.compile(
        optimizer=optimizer,
        loss={n: keras.losses.SparseCategoricalCrossentropy(from_logits=logits) for n in names},
        loss_weights=dict(zip(names, loss_weights or [1.0] * len(names), strict=True)),
        weighted_metrics=metrics,
        **compile_kwargs,
    )


def train_multi_dataset(experiment: MultiDatasetExperiment, output_dir: str | pathlib.Path) -> dict:
    """Trains one backbone on every task's dataset, evaluates each on its head, saves
    each head as a run folder (see the module). Returns a summary per head."""
    from kvideo.training import trainer

    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    main = experiment.main
    for _, task in experiment.tasks:
        check_experiment(task)
    keras.utils.set_random_seed(main.seed)
    data = {}
    for name, task in experiment.tasks:
        folder = output_dir / name
        folder.mkdir(exist_ok=True)
        (folder / "experiment.json").write_text(task.to_json() + "\n")
        config = clip_config_dict(task.data.clip_sampling, task.data.augmentation)
        (folder / "clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
        data[name] = trainer.make_datasets(task, trainer.prepare_dataset(task), folder)
        names = data[name].class_names
        (folder / "labels.txt").write_text("\n".join(names) + "\n", encoding="utf-8")

    sizes = [data[n].num_train for n in experiment.names]
    batches = [
        size // task.batch_size for size, (_, task) in zip(sizes, experiment.tasks, strict=True)
    ]
    for name, count, size in zip(experiment.names, batches, sizes, strict=True):
        if count == 0:
            # An empty stream would end the mixed one at its first turn.
            raise ValueError(
                f"{name!r} has {size} training videos, fewer than its batch size: no batch."
            )
    steps_per_epoch = sum(batches)
    ratio = experiment.ratio or (tuple(sizes) if experiment.interleave == "ratio" else None)
    train = mix_datasets(
        {n: data[n].train for n in experiment.names}, experiment.interleave, ratio, seed=main.seed
    )
    model = build_multi_head_model(experiment, [len(data[n].class_names) for n in experiment.names])
    if main.optimizer.decay_kind == "l2" and main.optimizer.weight_decay:
        trainer.add_l2_weight_decay(model, main.optimizer.weight_decay)
    compile_multi_head(
        model, trainer.make_optimizer(main, steps_per_epoch), experiment.loss_weights
    )
    started = time.time()
    history = model.fit(
        train.prefetch(tf.data.AUTOTUNE),
        steps_per_epoch=steps_per_epoch,
        epochs=main.epochs,
        verbose=2,
    )
    train_seconds = time.time() - started
    model.save(output_dir / "multi_head.keras")

    summary = {"train_seconds": round(train_seconds, 1), "steps_per_epoch": steps_per_epoch}
    for name, task in experiment.tasks:
        batches = data[name]
        classifier = model.head_classifier(name)
        folder = output_dir / name
        classifier.save(folder / "model.keras")
        report = trainer.evaluate_model(classifier, task, batches, folder / "test_evaluation.json")
        summary[name] = {
            "test_top1": report["top1"],
            "test_clip_top1": report["clip_top1"],
            "test_mean_class_accuracy": report["mean_class_accuracy"],
            "test_mAP": report["mAP"],
            "test_videos": report["num_videos"],
            "train_top1_last_epoch": history.history.get(f"{name}_top1", [None])[-1],
            "model": str(folder / "model.keras"),
        }
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
