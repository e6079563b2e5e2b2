"""Evaluating finished runs, and the three-split protocol of UCF101 and HMDB51.

    evaluate_run("runs/ucf101_split1")                   # the run's model on its test split
    run_splits(get_experiment("ucf101_r2plus1d_18"), "runs/ucf101")     # train + evaluate
    run_splits(experiment, "runs/ucf101", train=False)   # evaluate runs already trained

UCF101 and HMDB51 come with three official train/test splits and papers report the mean
test accuracy over them. `run_splits` runs one experiment on each split's dataset config
(``ucf101_kvideo/split1_jpeg`` -> ``split2_jpeg``, ``split3_jpeg``), each in its own run
folder ``<output_dir>/split<n>``, and writes every split's figures with their mean and
standard deviation to ``<output_dir>/splits_summary.json`` (and ``.txt``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
from collections.abc import Sequence

import keras
import numpy as np

from kvideo.data import load_examples, make_clip_dataset
from kvideo.training.config import Experiment, experiment_from_json, split_datasets
from kvideo.training.evaluate import evaluate_classifier

_log = logging.getLogger(__name__)

#: The figures of each split that the summary averages, after top-1 and top-k.
SUMMARY_KEYS = ("clip_top1", "mean_class_accuracy", "mAP", "macro_f1")


def load_experiment(run_dir: str | pathlib.Path) -> Experiment:
    """The settings a run was made with, from its ``experiment.json``."""
    path = pathlib.Path(run_dir) / "experiment.json"
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a kvideo run: it has no experiment.json.")
    return experiment_from_json(path.read_text(encoding="utf-8"))


def evaluate_run(
    run_dir: str | pathlib.Path,
    *,
    experiment: Experiment | None = None,
    model_path: str | pathlib.Path | None = None,
) -> dict:
    """Evaluates a trained model on its experiment's test split, as training ends.

    Args:
        run_dir: the run's folder; the report is written there as
            ``<test_split>_evaluation.json`` with its pictures (`evaluate_classifier`).
        experiment: the settings (default: the run's ``experiment.json``); change e.g.
            `test_split`, `num_clips` or `test_crop` to evaluate otherwise.
        model_path: the model (default: the run's ``model.keras``).

    Returns:
        The report.
    """
    from kvideo.training import trainer  # TensorFlow Datasets; loads on first use

    run_dir = pathlib.Path(run_dir)
    experiment = experiment if experiment is not None else load_experiment(run_dir)
    model_path = pathlib.Path(model_path) if model_path is not None else run_dir / "model.keras"
    if not model_path.is_file():
        raise ValueError(f"No model to evaluate: {model_path} does not exist.")
    data = experiment.data
    builder = trainer.prepare_dataset(experiment)
    examples, kind, info = load_examples(builder, data.test_split)
    batches = make_clip_dataset(
        examples,
        storage_kind=kind,
        training=False,
        batch_size=experiment.batch_size,
        clip_sampling=data.clip_sampling,
        augmentation=data.augmentation,
        with_video_ids=True,
    )
    model = keras.models.load_model(model_path)
    report = evaluate_classifier(
        model,
        batches,
        list(info.features["label"].names),
        run_dir,
        name=data.test_split,
        extra={**trainer.evaluation_settings(experiment), "model_path": str(model_path)},
    )
    _log.info("Evaluated %s on %s: top-1 %.4f", model_path, data.test_split, report["top1"])
    return report


def run_splits(
    experiment: Experiment,
    output_dir: str | pathlib.Path,
    *,
    splits: Sequence[int] = (1, 2, 3),
    train: bool = True,
) -> dict:
    """Runs `experiment` on each official split and reports each and their mean.

    Args:
        experiment: settings for one split; its dataset config names a split
            (`split_datasets`), replaced by each of `splits` in turn.
        output_dir: ``<output_dir>/split<n>`` is each split's run folder.
        splits: the split numbers.
        train: train and evaluate each split (`train_and_evaluate`: resumes or reuses a
            finished run); False evaluates runs already trained (`evaluate_run`).

    Returns:
        The summary written to ``splits_summary.json``: ``splits`` (number -> dataset,
        run folder, videos, top-1, top-k and `SUMMARY_KEYS` figures) and ``mean`` and
        ``std`` (population) of each figure over the splits.
    """
    from kvideo.training.trainer import train_and_evaluate

    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    per_split = {}
    datasets = split_datasets(experiment.data.dataset, splits)
    for number, dataset in zip(splits, datasets, strict=True):
        run_dir = output_dir / f"split{number}"
        split_experiment = dataclasses.replace(
            experiment, data=dataclasses.replace(experiment.data, dataset=dataset)
        )
        _log.info("Split %d: %s in %s", number, dataset, run_dir)
        if train:
            summary = train_and_evaluate(split_experiment, run_dir)
            report = json.loads(pathlib.Path(summary["evaluation"]).read_text(encoding="utf-8"))
        else:
            report = evaluate_run(run_dir, experiment=split_experiment)
        per_split[number] = {
            "dataset": dataset,
            "run_dir": str(run_dir),
            "num_videos": report["num_videos"],
            **{key: report[key] for key in _summary_keys(report)},
        }
    summary = summarize_splits(per_split)
    (output_dir / "splits_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (output_dir / "splits_summary.txt").write_text(format_splits(summary), encoding="utf-8")
    return summary


def _summary_keys(report: dict) -> list[str]:
    """top1, top-k (whichever k the class count gave), then `SUMMARY_KEYS`."""
    top = [k for k in report if k.startswith("top") and k[3:].isdigit()]
    return [k for k in (*top, *SUMMARY_KEYS) if report.get(k) is not None]


def summarize_splits(per_split: dict[int, dict]) -> dict:
    """Each split's figures with the mean and population std of each over the splits (the
    figures every split has)."""
    first = next(iter(per_split.values()))
    keys = [k for k in _summary_keys(first) if all(k in s for s in per_split.values())]
    values = {k: np.array([s[k] for s in per_split.values()], np.float64) for k in keys}
    return {
        "splits": {str(n): s for n, s in per_split.items()},
        "mean": {k: float(v.mean()) for k, v in values.items()},
        "std": {k: float(v.std()) for k, v in values.items()},
    }


def format_splits(summary: dict) -> str:
    """The summary as a table: one row per split, then the mean and std."""
    keys = list(summary["mean"])
    lines = [f"{'split':8s}" + "".join(f"{k:>21s}" for k in keys)]
    for number, split in summary["splits"].items():
        lines.append(f"{number:8s}" + "".join(f"{split[k]:21.4f}" for k in keys))
    lines.append(f"{'mean':8s}" + "".join(f"{summary['mean'][k]:21.4f}" for k in keys))
    lines.append(f"{'std':8s}" + "".join(f"{summary['std'][k]:21.4f}" for k in keys))
    return "\n".join(lines) + "\n"
