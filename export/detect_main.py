r"""Finds actions in long videos with a trained classifier: timed segments per video.

    python export/detect_main.py --model=runs/mine/model.keras \
        --input=videos/ --output_dir=detections
    python export/detect_main.py --model=exports/mine --input=a.mp4 --input=b.avi \
        --output_dir=detections --stride_s=0.5 --labelled_video
    python export/detect_main.py --model=runs/mine/model.keras --input=videos/ \
        --output_dir=detections --ground_truth=truth.json --high_threshold=0.6

`--model` is a `.keras` file (its run's `clip_config.json` and `labels.txt` are read from
beside it) or an exported SavedModel directory (its `kvideo_export.json` is read). Writes
`detections.json` (ActivityNet format), `detections.csv`, and per video a `.srt`, a
timeline `.png` and optionally a labelled copy, under `--output_dir`. Rerun with the same
`--output_dir` to resume after an interruption: finished videos are skipped, and changed
segment settings are applied to the saved window scores without decoding again. Exits
with status 1 when a video failed or was cut short (the others are still done). See
`kvideo.detection.detect`.
"""

from __future__ import annotations

import os

# TensorFlow's C++ INFO lines drown the progress lines; warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags, logging  # noqa: E402

_MODEL = flags.DEFINE_string("model", None, "A `.keras` model or an exported SavedModel dir.")
_INPUT = flags.DEFINE_multi_string(
    "input", None, "A video file or a folder (searched recursively); repeat for several."
)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where results go; reuse it to resume.")
_CLIP_CONFIG = flags.DEFINE_string(
    "clip_config", None, "The model's evaluation clip config JSON, if not beside the model."
)
_LABELS = flags.DEFINE_string("labels", None, "The model's labels file, if not beside it.")
# Windows.
_STRIDE_S = flags.DEFINE_float("stride_s", None, "Seconds between window starts.")
_STRIDE_FRAMES = flags.DEFINE_integer(
    "stride_frames", None, "Frames between window starts. Default: a quarter window.", lower_bound=1
)
_WINDOW_FRAMES = flags.DEFINE_integer(
    "window_frames", None, "Frames per window, for TSN models only.", lower_bound=1
)
_MULTI_VIEW = flags.DEFINE_bool(
    "multi_view", False, "Average every test crop of the evaluation transform."
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Windows per model call.", lower_bound=1)
# Segments.
_SMOOTHING_S = flags.DEFINE_float("smoothing_s", 1.0, "Moving average width (s).", lower_bound=0)
_HIGH = flags.DEFINE_float("high_threshold", 0.5, "A segment needs a score this high.")
_LOW = flags.DEFINE_float("low_threshold", 0.3, "A segment lasts while scores stay this high.")
_MERGE_GAP_S = flags.DEFINE_float(
    "merge_gap_s", 1.0, "Merge segments of a class closer than this (s).", lower_bound=0
)
_MIN_DURATION_S = flags.DEFINE_float(
    "min_duration_s", 0.5, "Drop shorter segments (s).", lower_bound=0
)
_IGNORE_LABELS = flags.DEFINE_list(
    "ignore_labels", ["background"], "Classes that never make segments."
)
# Outputs.
_TIMELINE = flags.DEFINE_bool("timeline", True, "Write a timeline PNG per video.")
_SUBTITLES = flags.DEFINE_bool("subtitles", True, "Write an .srt file per video.")
_LABELLED_VIDEO = flags.DEFINE_bool(
    "labelled_video", False, "Write a copy of each video with labels drawn (decodes it again)."
)
_GROUND_TRUTH = flags.DEFINE_string(
    "ground_truth", None, "Segments to evaluate against (ActivityNet results or ground truth)."
)
_TIOU = flags.DEFINE_list("tiou_thresholds", ["0.3", "0.5", "0.7"], "Temporal IoU thresholds.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show progress on standard error.")

flags.mark_flags_as_required(["model", "input", "output_dir"])
flags.register_validator(
    "model",
    lambda value: (
        value is None
        or (value.endswith(".keras") and os.path.isfile(value))
        or os.path.isdir(value)
    ),
    message="--model must be an existing `.keras` file or SavedModel directory.",
)
flags.register_validator(
    "input",
    lambda values: values is None or all(os.path.exists(v) for v in values),
    message="every --input must be an existing video file or folder.",
)
for _name in ("clip_config", "labels", "ground_truth"):
    flags.register_validator(
        _name,
        lambda value: value is None or os.path.isfile(value),
        message=f"--{_name} must be an existing file.",
    )
flags.register_validator(
    "stride_s", lambda value: value is None or value > 0, message="--stride_s must be positive."
)
flags.register_multi_flags_validator(
    ["stride_s", "stride_frames"],
    lambda values: values["stride_s"] is None or values["stride_frames"] is None,
    message="Give --stride_s or --stride_frames, not both.",
)
flags.register_multi_flags_validator(
    ["high_threshold", "low_threshold"],
    lambda values: 0 <= values["low_threshold"] <= values["high_threshold"] <= 1,
    message="The thresholds must satisfy 0 <= --low_threshold <= --high_threshold <= 1.",
)


def _is_tiou_list(values: list[str]) -> bool:
    try:
        return bool(values) and all(0 < float(v) <= 1 for v in values)
    except ValueError:
        return False


flags.register_validator(
    "tiou_thresholds", _is_tiou_list, message="--tiou_thresholds must be numbers in (0, 1]."
)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    # Imported here so that --help and flag errors answer without loading TensorFlow.
    from kvideo import detection

    try:
        run = detection.detect(
            _INPUT.value,
            _MODEL.value,
            _OUTPUT_DIR.value,
            clip_config=_CLIP_CONFIG.value,
            labels=_LABELS.value,
            scan=detection.ScanSettings(
                stride_s=_STRIDE_S.value,
                stride_frames=_STRIDE_FRAMES.value,
                window_frames=_WINDOW_FRAMES.value,
                multi_view=_MULTI_VIEW.value,
                batch_size=_BATCH_SIZE.value,
            ),
            segments=detection.SegmentSettings(
                smoothing_s=_SMOOTHING_S.value,
                high_threshold=_HIGH.value,
                low_threshold=_LOW.value,
                merge_gap_s=_MERGE_GAP_S.value,
                min_duration_s=_MIN_DURATION_S.value,
                ignore_labels=tuple(_IGNORE_LABELS.value),
            ),
            output=detection.OutputSettings(
                timeline=_TIMELINE.value,
                subtitles=_SUBTITLES.value,
                labelled_video=_LABELLED_VIDEO.value,
            ),
            ground_truth=_GROUND_TRUTH.value,
            tiou_thresholds=[float(v) for v in _TIOU.value],
            show_progress=_PROGRESS.value,
        )
    except ValueError as err:
        # Bad inputs (a model without its clip config, no video found, ...) are the
        # user's to fix: report them as usage errors, not tracebacks.
        raise app.UsageError(str(err)) from err
    segments = sum(len(s) for s in run.results.values())
    print(
        f"{len(run.results)} videos with results ({len(run.processed)} processed in this run), "
        f"{segments} segments: {os.path.join(run.output_dir, 'detections.json')}"
    )
    for name, reason in {**run.failed, **run.partial}.items():
        print(f"{'failed' if name in run.failed else 'partial'}: {name}: {reason}")
    if run.evaluation is not None:
        for row in run.evaluation["per_threshold"]:
            ap = "n/a" if row["mAP"] is None else f"{row['mAP']:.3f}"
            print(
                f"tIoU {row['tiou']:.2f}: precision {row['precision']:.3f} recall "
                f"{row['recall']:.3f} F1 {row['f1']:.3f} mAP {ap}"
            )
    if run.failed or run.partial:
        logging.warning("%d failed, %d partial", len(run.failed), len(run.partial))
        raise SystemExit(1)


if __name__ == "__main__":
    app.run(main)
