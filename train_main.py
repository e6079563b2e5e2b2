"""Trains, evaluates and exports a video classifier.

With no flags: builds the built-in motion_demo dataset, trains a tiny R(2+1)D on it on
the CPU in minutes, prints test accuracy and the exported paths.

    python train_main.py
    python train_main.py --experiment=video_folder_r2plus1d_18 \
        --manual_dir=/data/my_videos --data_dir=/data/tfds --output_dir=runs/mine
    python train_main.py --strategy=mirrored --mixed_precision --batch_size=32
    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}' \
        python train_main.py --strategy=multi_worker_mirrored --output_dir=gs://bucket/run

    # Evaluate a finished run again (its experiment.json and model.keras), e.g. with more
    # test clips; the report, confusion matrix and PR curves land beside the run's files:
    python train_main.py --mode=evaluate --output_dir=runs/motion_demo --num_test_clips=4

    # The three official splits of UCF101 / HMDB51, each in <output_dir>/split<n>, and
    # their mean in <output_dir>/splits_summary.json (with --mode=evaluate: runs trained):
    python train_main.py --experiment=ucf101_r2plus1d_18 --splits=1,2,3 \
        --manual_dir=/data/ucf101 --data_dir=/data/tfds --output_dir=runs/ucf101

    # One backbone on UCF101 and HMDB51 at once, a head each (both built first with
    # `tfds build`, see the README); each head is saved as its own run folder
    # (model.keras, labels.txt, clip_config.json) under --output_dir/<dataset>:
    python train_main.py --experiment=ucf101_hmdb51_r2plus1d_18 --data_dir=/data/tfds \
        --output_dir=runs/ucf_hmdb

Each flag left unset keeps the experiment's value (see kvideo/training/experiments.py;
with --mode=evaluate, the run's experiment.json). Rerun with the same --output_dir to
resume after an interruption.
"""

import dataclasses
import os
import pathlib

# TensorFlow's C++ INFO lines (oneDNN notices, CUDA stubs) drown the run's own output;
# warnings and errors still show. Set the variable yourself to choose otherwise.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags  # noqa: E402

from kvideo.models import registry  # noqa: E402
from kvideo.models.spec import HEAD_NAMES  # noqa: E402
from kvideo.training import config, experiments  # noqa: E402

_EXPERIMENT = flags.DEFINE_enum(
    "experiment",
    "motion_demo",
    sorted([*experiments.EXPERIMENTS, *experiments.MULTI_DATASET_EXPERIMENTS]),
    "Named experiment (those on two datasets train one backbone with a head each).",
)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/motion_demo", "Where the run writes.")
_MODE = flags.DEFINE_enum(
    "mode",
    "train",
    ["train", "evaluate"],
    "train: train, evaluate on the test split, export. evaluate: evaluate the finished run "
    "in --output_dir (its experiment.json, changed by the flags given, and its model).",
)
_SPLITS = flags.DEFINE_list(
    "splits",
    None,
    "Official split numbers, e.g. 1,2,3: run --mode on each split of a dataset whose config "
    "names one (ucf101_kvideo/split1_jpeg), in <output_dir>/split<n>, and report the mean.",
)
_MODEL_PATH = flags.DEFINE_string(
    "model_path", None, "--mode=evaluate: the model (default: <output_dir>/model.keras)."
)
# Data.
_DATASET = flags.DEFINE_string("dataset", None, "TFDS name/config, e.g. video_folder/bytes.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data directory.")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "Class-folder root for video_folder.")
_METHOD = flags.DEFINE_enum("sampling", None, ["dense", "tsn"], "Frame sampling.")
_NUM_FRAMES = flags.DEFINE_integer("num_frames", None, "Frames per dense clip.", lower_bound=1)
_FRAME_STRIDE = flags.DEFINE_integer("frame_stride", None, "Dense clip stride.", lower_bound=1)
_NUM_SEGMENTS = flags.DEFINE_integer("num_segments", None, "TSN segments.", lower_bound=1)
_NUM_CLIPS = flags.DEFINE_integer("num_test_clips", None, "Test clips per video.", lower_bound=1)
_CROP_SIZE = flags.DEFINE_integer("crop_size", None, "Clip height and width.", lower_bound=8)
_TRAIN_CROP = flags.DEFINE_enum(
    "train_crop", None, ["multiscale", "random_resized", "center"], "Training crop."
)
_TEST_CROP = flags.DEFINE_enum("test_crop", None, ["center", "three_crop"], "Test crop.")
_TEST_SPLIT = flags.DEFINE_string(
    "test_split", None, "The split of the final evaluation (default: the experiment's, test)."
)
_VALIDATION_SPLIT = flags.DEFINE_string(
    "validation_split", None, "A validation split of the dataset's own (default: hold out)."
)
_VALIDATION_FRACTION = flags.DEFINE_float(
    "validation_fraction",
    None,
    "Share of each class held out of the training split for validation (0: none).",
)
_FLIP = flags.DEFINE_bool("flip", None, "Random horizontal flips in training.")
_RESIZE_IN_PIPELINE = flags.DEFINE_bool(
    "resize_in_pipeline", None, "Resize clips on the host (fixed shapes) instead of in the model."
)
# Model and optimisation.
_MODEL = flags.DEFINE_enum(
    "model",
    None,
    list(registry.MODELS),
    "Registered model (every family; --list_models describes them).",
)
_HEAD = flags.DEFINE_enum("head", None, list(HEAD_NAMES), "Classifier head (default: the model's).")
_HEAD_ARGS = flags.DEFINE_list(
    "head_args", None, "Head arguments as name=value, e.g. cell=gru,units=128."
)
_WEIGHTS = flags.DEFINE_string(
    "weights", None, "Pretrained backbone weights: a registered name or a .weights.h5 path."
)
_LIST_MODELS = flags.DEFINE_bool(
    "list_models", False, "Print every registered model (family, input, head) and exit."
)
_DROPOUT = flags.DEFINE_float("dropout", None, "Dropout before the classifier.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Global batch size.", lower_bound=1)
_EPOCHS = flags.DEFINE_integer("epochs", None, "Training epochs.", lower_bound=1)
_OPTIMIZER = flags.DEFINE_enum("optimizer", None, list(config.OPTIMIZERS), "Optimizer.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", None, "Peak learning rate.")
_MOMENTUM = flags.DEFINE_float("momentum", None, "SGD momentum.")
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", None, "Weight decay.")
_WEIGHT_DECAY_KIND = flags.DEFINE_enum(
    "weight_decay_kind",
    None,
    list(config.WEIGHT_DECAY_KINDS),
    "l2: added to the gradient, as PyTorch/Caffe and papers; decoupled: as AdamW.",
)
_SCHEDULE = flags.DEFINE_enum("lr_schedule", None, list(config.SCHEDULES), "LR schedule.")
_WARMUP = flags.DEFINE_float("warmup_epochs", None, "Linear warmup epochs.")
_STEP_EPOCHS = flags.DEFINE_list("lr_step_epochs", None, "Epochs where step decay applies.")
_MIXED = flags.DEFINE_bool("mixed_precision", None, "float16/bfloat16 compute.")
_STRATEGY = flags.DEFINE_enum("strategy", None, list(config.STRATEGIES), "tf.distribute.")
_LOOP = flags.DEFINE_enum(
    "loop", None, list(config.LOOPS), "model.fit, the custom distributed loop, or auto."
)
_CHECKPOINT_STEPS = flags.DEFINE_integer(
    "checkpoint_steps", None, "Custom loop: also checkpoint every N steps.", lower_bound=1
)
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices",
    None,
    "Split the CPU into this many logical devices (try --strategy=mirrored without GPUs).",
    lower_bound=1,
)
_JIT = flags.DEFINE_bool("jit_compile", None, "XLA (implies --resize_in_pipeline).")
_SEED = flags.DEFINE_integer("seed", None, "Random seed.")
_EXPORT = flags.DEFINE_bool("export", None, "Export SavedModel and TFLite after training.")
_INTERLEAVE = flags.DEFINE_enum(
    "interleave",
    None,
    list(config.INTERLEAVES),
    "Batches of a multi-dataset experiment: in turn or by ratio.",
)


def parse_head_args(items: list[str] | None) -> dict | None:
    """``["cell=gru", "units=128"]`` -> ``{"cell": "gru", "units": 128}`` (ints, floats,
    true/false and none are converted; other values stay strings)."""
    if items is None:
        return None
    parsed = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise app.UsageError(f"--head_args takes name=value pairs. Received: {item!r}")
        lowered = text.lower()
        if lowered in ("true", "false"):
            value = lowered == "true"
        elif lowered == "none":
            value = None
        else:
            try:
                value = int(text)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    value = text
        parsed[name] = value
    return parsed


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if _LIST_MODELS.value:
        for spec in registry.MODELS.values():
            print(spec.summary())
        return

    if _EXPERIMENT.value in experiments.MULTI_DATASET_EXPERIMENTS:
        _train_multi_dataset()
        return
    try:
        splits = [int(n) for n in _SPLITS.value] if _SPLITS.value else None
        experiment = _experiment(_base_experiment())
        config.check_experiment(experiment)
        if splits:
            config.split_datasets(experiment.data.dataset, splits)
        if _MODEL_PATH.value is not None and (_MODE.value != "evaluate" or splits):
            raise ValueError("--model_path is for --mode=evaluate of one run.")
    except ValueError as err:
        # Bad settings are the user's to fix; say so before any work (TensorFlow included).
        raise app.UsageError(str(err)) from err
    if _CPU_DEVICES.value:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        devices = [tf.config.LogicalDeviceConfiguration()] * _CPU_DEVICES.value
        tf.config.set_logical_device_configuration(cpu, devices)
    import tfds_builders  # noqa: F401  (registers kvideo's dataset builders with TFDS)
    from kvideo.training import evaluate, protocol, trainer

    if splits:
        summary = protocol.run_splits(
            experiment, _OUTPUT_DIR.value, splits=splits, train=_MODE.value == "train"
        )
        print(protocol.format_splits(summary), end="")
        print(f"Written to {_OUTPUT_DIR.value}/splits_summary.json")
        return
    if _MODE.value == "evaluate":
        report = protocol.evaluate_run(
            _OUTPUT_DIR.value, experiment=experiment, model_path=_MODEL_PATH.value
        )
        print(evaluate.format_report(report), end="")
        for key, path in report["files"].items():
            print(f"{key + ':':18s} {path}")
        return
    summary = trainer.train_and_evaluate(experiment, _OUTPUT_DIR.value)
    if "test_top1" not in summary:  # a worker other than the chief: the chief reports
        print(f"Worker {summary['task']} finished.")
        return
    top_k = "".join(
        f"  {key[5:]}: {value:.3f}"
        for key, value in summary.items()
        if key.startswith("test_top") and key != "test_top1"
    )
    print(f"\nTest top-1 accuracy: {summary['test_top1']:.3f}{top_k}")
    print(f"  on {summary['test_videos']} test videos, trained in {summary['train_seconds']} s")
    for key in ("model", "evaluation", "saved_model", "tflite_float32", "tflite_float16"):
        if key in summary:
            print(f"{key + ':':16s} {summary[key]}")


def _train_multi_dataset() -> None:
    """A multi-dataset experiment: the flags apply to every task (not the dataset ones)."""
    try:
        for flag in ("dataset", "manual_dir", "splits", "model_path"):
            if flags.FLAGS[flag].present:
                raise ValueError(f"--{flag} does not apply to a multi-dataset experiment.")
        if _MODE.value != "train":
            raise ValueError("A multi-dataset experiment has --mode=train only.")
        base = experiments.get_experiment(_EXPERIMENT.value)
        tasks = tuple((name, _experiment(task)) for name, task in base.tasks)
        for _, task in tasks:
            config.check_experiment(task)
        experiment = dataclasses.replace(
            base, tasks=tasks, interleave=_INTERLEAVE.value or base.interleave
        )
    except ValueError as err:
        raise app.UsageError(str(err)) from err
    import tfds_builders  # noqa: F401
    from kvideo.training import multi_dataset

    summary = multi_dataset.train_multi_dataset(experiment, _OUTPUT_DIR.value)
    for name in experiment.names:
        result = summary[name]
        print(
            f"{name}: test top-1 {result['test_top1']:.3f} on {result['test_videos']} videos; "
            f"model: {result['model']}"
        )


def _base_experiment() -> config.Experiment:
    """The named experiment; with --mode=evaluate of one run, the run's own settings."""
    run_settings = pathlib.Path(_OUTPUT_DIR.value) / "experiment.json"
    if _MODE.value == "evaluate" and not _SPLITS.value:
        if not run_settings.is_file():
            raise ValueError(f"--mode=evaluate needs a finished run: no {run_settings}.")
        return config.experiment_from_json(run_settings.read_text(encoding="utf-8"))
    return experiments.get_experiment(_EXPERIMENT.value)


def _experiment(base: config.Experiment) -> config.Experiment:
    """`base` with every flag that was set."""
    step_epochs = _STEP_EPOCHS.value
    return config.replace_fields(
        base,
        dataset=_DATASET.value,
        data_dir=_DATA_DIR.value,
        manual_dir=_MANUAL_DIR.value,
        method=_METHOD.value,
        num_frames=_NUM_FRAMES.value,
        frame_stride=_FRAME_STRIDE.value,
        num_segments=_NUM_SEGMENTS.value,
        num_clips=_NUM_CLIPS.value,
        crop_size=_CROP_SIZE.value,
        train_crop=_TRAIN_CROP.value,
        test_crop=_TEST_CROP.value,
        flip=_FLIP.value,
        resize_in_pipeline=_RESIZE_IN_PIPELINE.value,
        preset=_MODEL.value,
        dropout=_DROPOUT.value,
        batch_size=_BATCH_SIZE.value,
        epochs=_EPOCHS.value,
        name=_OPTIMIZER.value,
        learning_rate=_LEARNING_RATE.value,
        momentum=_MOMENTUM.value,
        weight_decay=_WEIGHT_DECAY.value,
        weight_decay_kind=_WEIGHT_DECAY_KIND.value,
        test_split=_TEST_SPLIT.value,
        validation_split=_VALIDATION_SPLIT.value,
        validation_fraction=_VALIDATION_FRACTION.value,
        schedule=_SCHEDULE.value,
        warmup_epochs=_WARMUP.value,
        step_epochs=tuple(int(e) for e in step_epochs) if step_epochs else None,
        mixed_precision=_MIXED.value,
        strategy=_STRATEGY.value,
        loop=_LOOP.value,
        checkpoint_steps=_CHECKPOINT_STEPS.value,
        jit_compile=_JIT.value,
        seed=_SEED.value,
        export=_EXPORT.value,
        head=_HEAD.value,
        head_args=parse_head_args(_HEAD_ARGS.value),
        weights=_WEIGHTS.value,
    )


if __name__ == "__main__":
    app.run(main)
