"""Finding actions in long videos with a clip classifier: sliding windows -> segments.

    video (streamed, decoded once) -> windows of the model's clip, every `stride`
      -> the model's test crops -> batches -> ClipScorer (softmax) -> window scores
      -> smoothing, hysteresis, merging, minimum duration -> segments per class
      -> ActivityNet JSON, CSV, .srt, timeline PNG, labelled video

    >>> run = kvideo.detection.detect("videos/", "runs/mine/model.keras", "detections/")
    >>> run.results["cam01"]    # [Segment(label="jump", start=12.5, end=14.5, score=0.93)]

- `detect`: folders or files, resumable; `scan_video` + `scores_to_segments` for one
  video in memory.
- `load_detector_model`: a `.keras` model or SavedModel with its class names and clip
  config (`load_model_spec`); `ClipScorer` is the one adapter that calls models.
- `evaluate_detections`: precision, recall, F1 and ActivityNet AP at temporal IoU
  thresholds; `read_segments_json` reads results or ActivityNet ground truth.

Window timing, the score-to-time rule and the post-processing defaults are documented in
`windows.py` and `segments.py`.
"""

from kvideo.detection.detect import (
    VIDEO_EXTENSIONS,
    DetectionRun,
    OutputSettings,
    detect,
    find_videos,
)
from kvideo.detection.metrics import (
    evaluate_detections,
    interpolated_average_precision,
    read_segments_json,
    temporal_iou,
)
from kvideo.detection.model import ClipScorer, ModelSpec, load_detector_model, load_model_spec
from kvideo.detection.outputs import activitynet_json, detections_csv, subtitles, timeline_png
from kvideo.detection.segments import Segment, SegmentSettings, scores_to_segments
from kvideo.detection.windows import (
    ScanSettings,
    WindowLayout,
    WindowScores,
    scan_video,
    window_layout,
)
from kvideo.io.stream import VideoWriter

__all__ = [
    "VIDEO_EXTENSIONS",
    "ClipScorer",
    "DetectionRun",
    "ModelSpec",
    "OutputSettings",
    "ScanSettings",
    "Segment",
    "SegmentSettings",
    "VideoWriter",
    "WindowLayout",
    "WindowScores",
    "activitynet_json",
    "detect",
    "detections_csv",
    "evaluate_detections",
    "find_videos",
    "interpolated_average_precision",
    "load_detector_model",
    "load_model_spec",
    "read_segments_json",
    "scan_video",
    "scores_to_segments",
    "subtitles",
    "temporal_iou",
    "timeline_png",
    "window_layout",
]
