"""Multi-stream (two-stream) training: each stream its own run, then weighted score fusion.

TSN trains its spatial (RGB) and temporal (flow, RGB difference) networks apart, each
with its own loss, and fuses their scores at test time with weights (RGB 1, flow 1.5).
A multi-stream experiment (`ModelConfig.streams`) does the same in one call:

    output_dir/
        stream_video/ ...       a whole run per stream (train_and_evaluate: resumable,
        stream_flow/  ...       its own test_evaluation.json and model.keras)
        model.keras             the fused model: FusionClassifier of the trained streams
        test_evaluation.json    the fused model on every test view, every input cut from
                                the same frame indices and windows
        export/                 SavedModel (inputs: the RGB frames and the flow) and TFLite
        summary.json            fused and per-stream test accuracy

Streams trained elsewhere (two earlier runs, say) are fused with `fuse_streams`.

Why not one model trained end to end on the fused score: with one loss on the fused
scores a stream only learns what the others get wrong (its gradient is the fused
prediction's error), which is not the networks TSN fuses; per-stream runs also give each
stream's own accuracy, resume one stream at a time, and take another preset per stream.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
from collections.abc import Mapping

import keras

from kvideo.data.pipeline import SkipLog
from kvideo.models import FusionClassifier
from kvideo.training import trainer
from kvideo.training.config import Experiment
from kvideo.training.evaluate import top_k_for

_log = logging.getLogger(__name__)

FUSED_MODEL = "model.keras"


def stream_experiment(experiment: Experiment, input_name: str) -> Experiment:
    """The single-stream experiment of `experiment`'s stream on `input_name`: its preset
    (or the experiment's) on that input, no export (the fused model is exported)."""
    stream = {s.input_name: s for s in experiment.model.streams}.get(input_name)
    if stream is None:
        raise ValueError(
            f"No stream takes {input_name!r}. Streams: "
            f"{[s.input_name for s in experiment.model.streams]}"
        )
    model = dataclasses.replace(
        experiment.model,
        preset=stream.preset or experiment.model.preset,
        input_name=input_name,
        streams=(),
    )
    return dataclasses.replace(experiment, model=model, export=False)


def stream_dir(output_dir: str | pathlib.Path, input_name: str) -> pathlib.Path:
    """Where the run of the stream on `input_name` writes."""
    return pathlib.Path(output_dir) / f"stream_{input_name}"


def train_streams(experiment: Experiment, output_dir: str | pathlib.Path) -> dict:
    """Trains every stream of `experiment` as its own run, then `fuse_streams`.

    Returns:
        The fused model's summary (`fuse_streams`) with each stream's under ``"streams"``.
    """
    if not experiment.model.streams:
        raise ValueError("`train_streams` needs an experiment with `ModelConfig.streams`.")
    output_dir = pathlib.Path(output_dir)
    summaries = {}
    for stream in experiment.model.streams:
        name = stream.input_name
        _log.info("Training the %s stream in %s.", name, stream_dir(output_dir, name))
        summaries[name] = trainer.train_and_evaluate(
            stream_experiment(experiment, name), stream_dir(output_dir, name)
        )
    models = {name: summary["model"] for name, summary in summaries.items()}
    summary = fuse_streams(experiment, models, output_dir)
    summary["streams"] = summaries
    summary["train_seconds"] = round(sum(s["train_seconds"] for s in summaries.values()), 1)
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def fuse_streams(
    experiment: Experiment,
    models: Mapping[str, str | pathlib.Path | keras.Model],
    output_dir: str | pathlib.Path,
) -> dict:
    """Fuses trained single-input classifiers with the experiment's weights, evaluates the
    fused model on the test split and exports it.

    Args:
        experiment: gives the data (test split, evaluation views) and, in
            `ModelConfig.streams`, each input's fusion weight and `ModelConfig.fuse`.
        models: `{input name: classifier or .keras path}`, one per stream, each taking
            that named input (e.g. two runs' ``model.keras``).
        output_dir: receives ``model.keras``, ``test_evaluation.json``, ``export/`` and
            ``summary.json``.

    Returns:
        A summary: test top-1/top-k of the fused model, the paths written.
    """
    streams = experiment.model.streams
    if set(models) != {s.input_name for s in streams}:
        raise ValueError(
            f"One model per stream: streams take {[s.input_name for s in streams]}. "
            f"Received: models for {sorted(models)}"
        )
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    loaded = []
    for stream in streams:
        model = models[stream.input_name]
        if not isinstance(model, keras.Model):
            model = keras.models.load_model(model)
        names = [x.name for x in model.inputs]
        if names != [stream.input_name]:
            raise ValueError(
                f"The {stream.input_name!r} stream's model must take that one input. "
                f"Received: a model {model.name!r} on {names}"
            )
        loaded.append(model)
    fused = FusionClassifier(
        loaded,
        fusion_weights=[s.fusion_weight for s in streams],
        fuse=experiment.model.fuse,
        name=f"{experiment.model.preset}_fused",
    )
    path = output_dir / FUSED_MODEL
    fused.save(path)

    builder = trainer.prepare_dataset(experiment)
    class_names = list(builder.info.features["label"].names)
    skip_log = SkipLog()
    test = trainer.make_test_dataset(experiment, builder, skip_log)
    report = trainer.evaluate_on(
        fused, experiment, test, class_names, output_dir / "test_evaluation.json"
    )
    k = top_k_for(len(class_names))
    summary = {
        "test_top1": report["top1"],
        **({f"test_top{k}": report[f"top{k}"]} if k is not None else {}),
        "test_videos": report["num_videos"],
        "fusion_weights": {s.input_name: s.fusion_weight for s in streams},
        "skipped_videos": skip_log.skipped,
        "model": str(path),
        "evaluation": str(output_dir / "test_evaluation.json"),
    }
    if experiment.export:
        summary.update(
            trainer.export_model(
                fused,
                class_names,
                experiment,
                output_dir / "export",
                trainer.flow_metadata(builder),
            )
        )
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
