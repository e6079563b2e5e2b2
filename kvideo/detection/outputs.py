"""What detection writes: ActivityNet JSON, CSV, subtitles, timeline plots, labelled videos."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from kvideo.detection._files import write_atomic
from kvideo.detection.segments import Segment, SegmentSettings, moving_average, smoothing_width
from kvideo.detection.windows import WindowScores
from kvideo.io import VideoDecodeError
from kvideo.io.stream import VideoWriter, open_video, to_rgb

# The ActivityNet release whose detection result format the JSON follows.
ACTIVITYNET_VERSION = "VERSION 1.3"
CSV_FIELDS = ("video", "label", "start_s", "end_s", "score")
# A timeline shows at most this many classes: those with segments first, then the
# highest-scoring others.
MAX_TIMELINE_CLASSES = 6


def segment_dicts(segments: Sequence[Segment], digits: int = 3) -> list[dict]:
    """Segments as ActivityNet result entries `{"label", "score", "segment": [s, e]}`."""
    return [
        {
            "label": s.label,
            "score": round(s.score, 4),
            "segment": [round(s.start, digits), round(s.end, digits)],
        }
        for s in segments
    ]


def activitynet_json(results: Mapping[str, Sequence[Segment]]) -> str:
    """The ActivityNet detection result file for `{video: [Segment, ...]}`."""
    content = {
        "version": ACTIVITYNET_VERSION,
        "results": {video: segment_dicts(segments) for video, segments in results.items()},
        "external_data": {},
    }
    return json.dumps(content, indent=1) + "\n"


def detections_csv(results: Mapping[str, Sequence[Segment]]) -> str:
    """One row per segment: video, label, start_s, end_s, score."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for video, segments in results.items():
        for s in segments:
            writer.writerow([video, s.label, f"{s.start:.3f}", f"{s.end:.3f}", f"{s.score:.4f}"])
    return buffer.getvalue()


def _srt_time(seconds: float) -> str:
    milliseconds = max(0, round(seconds * 1000))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def subtitles(segments: Sequence[Segment]) -> str:
    """SubRip (`.srt`) subtitles: one cue per segment, "label (score)", in start order."""
    cues = []
    for number, s in enumerate(sorted(segments, key=lambda s: (s.start, s.end)), start=1):
        cues.append(
            f"{number}\n{_srt_time(s.start)} --> {_srt_time(s.end)}\n{s.label} ({s.score:.2f})\n"
        )
    return "\n".join(cues)


def timeline_png(
    path: str | os.PathLike,
    windows: WindowScores,
    segments: Sequence[Segment],
    class_names: Sequence[str],
    settings: SegmentSettings,
    *,
    title: str = "",
    ground_truth: Sequence[Segment] | None = None,
) -> None:
    """Plots the score curves, thresholds and segments of one video as a PNG.

    One row per class shown (classes with segments first, then the best other
    non-ignored classes, at most `MAX_TIMELINE_CLASSES`): the raw window scores (thin),
    the smoothed scores the thresholds apply to (thick), the two thresholds (dashed),
    the detected segments (shaded) and, when given, the ground truth (a bar under the
    curve).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    centres = windows.centres
    smoothed = moving_average(windows.scores, smoothing_width(centres, settings.smoothing_s))
    candidates = [i for i, name in enumerate(class_names) if name not in settings.ignore_labels]
    with_segments = [i for i in candidates if any(s.label == class_names[i] for s in segments)]
    peak = smoothed.max(axis=0) if len(smoothed) else np.zeros(len(class_names))
    others = sorted(set(candidates) - set(with_segments), key=lambda i: -peak[i])
    shown = (with_segments + others)[:MAX_TIMELINE_CLASSES]
    if not shown:
        shown = list(range(min(len(class_names), MAX_TIMELINE_CLASSES)))
    end = max(windows.duration, 1e-3)
    figure, axes = plt.subplots(
        len(shown), 1, figsize=(10, 1.0 + 1.6 * len(shown)), sharex=True, squeeze=False
    )
    for axis, index in zip(axes[:, 0], shown, strict=True):
        name = class_names[index]
        for s in segments:
            if s.label == name:
                axis.axvspan(s.start, s.end, color="tab:orange", alpha=0.3, lw=0)
        for s in ground_truth or ():
            if s.label == name:
                axis.plot([s.start, s.end], [-0.06, -0.06], color="tab:green", lw=5)
        if len(centres):
            axis.plot(centres, windows.scores[:, index], color="tab:blue", lw=0.6, alpha=0.5)
            axis.plot(centres, smoothed[:, index], color="tab:blue", lw=1.6)
        for threshold in (settings.high_threshold, settings.low_threshold):
            axis.axhline(threshold, color="gray", ls="--", lw=0.8)
        axis.set_ylim(-0.12, 1.05)
        axis.set_xlim(0, end)
        axis.set_ylabel(name, rotation=0, ha="right", va="center")
        axis.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    legend = "blue: window scores (thin) and smoothed; dashed: thresholds; orange: detected"
    if ground_truth is not None:
        legend += "; green: ground truth"
    axes[0, 0].set_title(f"{title}\n{legend}" if title else legend, fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    write_atomic(path, buffer.getvalue())


def _label_at(segments: Sequence[Segment], time: float) -> list[Segment]:
    return [s for s in segments if s.start <= time < s.end]


def write_labelled_video(
    source: str | os.PathLike,
    path: str | os.PathLike,
    segments: Sequence[Segment],
    *,
    codec: str = "libx264",
) -> int:
    """Writes a copy of `source` with label and score drawn where segments are.

    This decodes the video a second time: which frames carry a label depends on
    segments that are only known once the whole video is scored. Frames stream through
    (memory does not grow with length). An odd frame size loses its last row or column
    (the encoder needs even sizes). The copy has a constant frame rate (the source's
    average rate).

    Returns:
        The number of frames written. Stops, keeping what was written, where decoding
        of the source fails.
    """
    temporary = f"{os.fspath(path)}.tmp-{os.getpid()}{os.path.splitext(path)[1]}"
    written = 0
    with open_video(source) as video:
        writer = None
        try:
            for frame, time in video.frames():
                rgb = to_rgb(frame)
                height, width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
                if writer is None:
                    writer = VideoWriter(
                        temporary,
                        video.info.fps,
                        height,
                        width,
                        codec=codec,
                        options={"crf": "23"} if codec == "libx264" else None,
                    )
                rgb = np.ascontiguousarray(rgb[:height, :width])
                _draw(rgb, _label_at(segments, time))
                writer.write(rgb)
                written += 1
        except VideoDecodeError:
            pass  # a damaged file: keep the frames before the damage
        finally:
            if writer is not None:
                writer.close()
    if written:
        os.replace(temporary, path)
    return written


def _draw(frame: np.ndarray, active: Sequence[Segment]) -> None:
    """Draws a coloured frame border and "label score" lines on `frame`, in place."""
    if not active:
        return
    height, width = frame.shape[:2]
    scale = max(0.35, min(width, height) / 400)
    thickness = max(1, round(scale * 2))
    cv2.rectangle(frame, (0, 0), (width - 1, height - 1), (255, 140, 0), thickness * 2)
    y = 0
    for s in active:
        text = f"{s.label} {s.score:.2f}"
        (text_w, text_h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        y += text_h + base + 4
        cv2.rectangle(frame, (0, y - text_h - base - 4), (text_w + 8, y), (0, 0, 0), -1)
        cv2.putText(
            frame,
            text,
            (4, y - base - 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
