"""Detection over one video, a list of files or folders: resumable, one result per video.

Layout of `output_dir`::

    detections.json          ActivityNet detection results of every finished video
    detections.csv           the same segments, one row each
    failures.tsv             videos that failed or were cut short, with the reason
    summary.json             counts and timings of the last run
    evaluation.json          precision / recall / F1 / AP, when ground truth is given
    videos/<video>.json      one video's segments and status: written last, atomically,
                             it marks the video as done
    videos/<video>.npz       its window scores (re-thresholding needs no model)
    videos/<video>.srt       subtitles; name the video the same to see them in a player
    videos/<video>.png       timeline: score curves, thresholds, segments
    videos/<video>.labelled.mp4   on request: the video with labels drawn

`<video>` is the file's path relative to the input folder (or to the common folder of
the given files) without its extension.

A rerun on the same `output_dir` skips every video whose record matches the file (size,
modification time) and the scoring settings (model file, clip config, labels, windows);
if only the segment settings changed it re-derives the segments from the saved window
scores without decoding or calling the model. A video that cannot be read is recorded as
failed and skipped on reruns (until the file changes); a video damaged part-way keeps the
segments found before the damage and is recorded as partial. Neither stops the run.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import pathlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from kvideo.detection import outputs
from kvideo.detection._files import write_atomic
from kvideo.detection.metrics import evaluate_detections, read_segments_json
from kvideo.detection.model import (
    CLIP_CONFIG_FILENAME,
    LABELS_FILENAME,
    load_detector_model,
    saved_model_dir,
)
from kvideo.detection.progress import Progress
from kvideo.detection.segments import Segment, SegmentSettings, scores_to_segments
from kvideo.detection.windows import ScanSettings, WindowScores, scan_video, window_layout
from kvideo.export import CONTRACT_FILENAME
from kvideo.io import VideoDecodeError
from kvideo.io.stream import declared_duration

_log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .avi .mkv .mov .webm .m4v .mpg .mpeg .wmv .flv .ts .3gp .ogv .mts .m2ts".split()
)
DONE, PARTIAL, FAILED = "done", "partial", "failed"
RECORD_FORMAT = "kvideo.detection/1"


@dataclasses.dataclass(frozen=True)
class OutputSettings:
    """Which per-video files to write besides the JSON record and the window scores.

    Attributes:
        timeline: the timeline PNG.
        subtitles: the `.srt` file.
        labelled_video: a copy of the video with labels drawn (decodes it again).
    """

    timeline: bool = True
    subtitles: bool = True
    labelled_video: bool = False


@dataclasses.dataclass
class DetectionRun:
    """What a call of `detect` did.

    Attributes:
        results: `{video: [Segment, ...]}` of every video with a result (this run or an
            earlier one), in input order.
        processed: videos decoded and scored in this run.
        reused: videos whose earlier scores were reused (segments re-derived or kept).
        failed: `{video: reason}` of videos that could not be read (now or before).
        partial: `{video: reason}` of videos cut short by damage (segments before it).
        evaluation: `evaluate_detections` output when ground truth was given, else None.
        output_dir: where everything was written.
    """

    results: dict[str, list[Segment]]
    processed: list[str]
    reused: list[str]
    failed: dict[str, str]
    partial: dict[str, str]
    evaluation: dict | None
    output_dir: str


def find_videos(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    exclude: str | os.PathLike | None = None,
) -> dict[str, str]:
    """The videos named by `inputs`, keyed by their result name.

    Args:
        inputs: video files and/or folders. Folders are searched recursively for files
            with a video extension (`VIDEO_EXTENSIONS`); hidden files are left out.
        exclude: a folder never searched (the output folder, which may lie inside an
            input folder and holds labelled videos).

    Returns:
        `{key: path}` in sorted key order; a key is the path relative to the input folder
        (or the common folder of the inputs) without the extension, or with it where two
        files would otherwise share a key.

    Raises:
        ValueError: if an input does not exist or no video is found.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    excluded = pathlib.Path(exclude).resolve() if exclude is not None else None
    paths: list[pathlib.Path] = []
    roots: list[pathlib.Path] = []
    for item in inputs:
        path = pathlib.Path(item).resolve()
        if path.is_dir():
            roots.append(path)
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if excluded is not None and (found == excluded or excluded in found.parents):
                    continue
                if found.is_file() and found.suffix.lower() in VIDEO_EXTENSIONS:
                    paths.append(found)
        elif path.is_file():
            roots.append(path.parent)
            paths.append(path)
        else:
            raise ValueError(f"No such video file or folder: {os.fspath(item)!r}")
    paths = list(dict.fromkeys(paths))
    if not paths:
        raise ValueError(f"No video found in {[os.fspath(i) for i in inputs]}")
    root = pathlib.Path(os.path.commonpath([str(r) for r in roots]))
    relative = [p.relative_to(root).as_posix() for p in paths]
    stems = [
        r[: -len(pathlib.PurePosixPath(r).suffix)] if pathlib.PurePosixPath(r).suffix else r
        for r in relative
    ]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    keys = [stem if counts[stem] == 1 else rel for stem, rel in zip(stems, relative, strict=True)]
    return dict(sorted(zip(keys, (str(p) for p in paths), strict=True)))


def _file_state(path: str | os.PathLike) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def scan_fingerprint(
    model_path: str | os.PathLike,
    clip_config: str | os.PathLike | None,
    labels: str | os.PathLike | None,
    scan: ScanSettings,
) -> dict[str, Any]:
    """What the window scores of a video depend on, to tell whether saved ones still hold."""
    model_path = pathlib.Path(model_path).resolve()
    files = {"clip_config": clip_config, "labels": labels}
    if model_path.is_dir():  # the weights and kvideo_export.json of the version used
        version = saved_model_dir(model_path)
        files["model"] = version / "saved_model.pb"
        files["contract"] = version / "assets.extra" / CONTRACT_FILENAME
    else:
        files["model"] = model_path
        # The files the spec is read from when none is given (load_model_spec).
        for name in (CLIP_CONFIG_FILENAME, LABELS_FILENAME):
            for folder in (model_path.parent, model_path.parent.parent):
                files[f"{name} in {folder}"] = folder / name
    fingerprint = {
        name: [str(pathlib.Path(path).resolve()), *_file_state(path)]
        for name, path in files.items()
        if path is not None and os.path.exists(path)
    }
    fields = dataclasses.asdict(scan)
    for name in ("batch_size", "prefetch"):  # they change speed, not scores
        fields.pop(name)
    fingerprint["scan"] = fields
    return fingerprint


def _paths(output_dir: pathlib.Path, key: str) -> dict[str, pathlib.Path]:
    base = output_dir / "videos" / key
    return {
        "record": base.with_name(base.name + ".json"),
        "scores": base.with_name(base.name + ".npz"),
        "subtitles": base.with_name(base.name + ".srt"),
        "timeline": base.with_name(base.name + ".png"),
        "labelled_video": base.with_name(base.name + ".labelled.mp4"),
    }


def _read_record(path: pathlib.Path) -> dict | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == RECORD_FORMAT else None


def _segments_of(record: Mapping) -> list[Segment]:
    return [
        Segment(s["label"], float(s["segment"][0]), float(s["segment"][1]), float(s["score"]))
        for s in record.get("segments", [])
    ]


def detect(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    model_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    clip_config: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    scan: ScanSettings | None = None,
    segments: SegmentSettings | None = None,
    output: OutputSettings | None = None,
    ground_truth: str | os.PathLike | Mapping[str, Sequence[Segment]] | None = None,
    tiou_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
    progress_stream: TextIO | None = None,
    show_progress: bool = True,
) -> DetectionRun:
    """Finds actions in videos with a trained classifier and writes the results.

    Args:
        inputs: a video file, a folder (searched recursively), or a list of them.
        model_path: a `.keras` model or an exported SavedModel directory.
        output_dir: where results go (see the module docstring); reusing it resumes.
        clip_config: the model's evaluation `clip_sampling`/`augmentation` JSON, if it
            is not beside the model (see `load_model_spec`).
        labels: the model's labels file, if it is not beside the model.
        scan: windows, views and batching (default `ScanSettings()`).
        segments: how window scores become segments (default `SegmentSettings()`).
        output: which per-video files to write (default `OutputSettings()`).
        ground_truth: segments to evaluate against, a JSON path (ActivityNet results or
            ground-truth format) or `{video: [Segment, ...]}` keyed like the results.
        tiou_thresholds: temporal IoU thresholds of the evaluation.
        progress_stream: where progress lines go (default standard error).
        show_progress: False prints no progress.

    Returns:
        A `DetectionRun`.
    """
    scan = scan or ScanSettings()
    segments = segments or SegmentSettings()
    output = output or OutputSettings()
    output_dir = pathlib.Path(output_dir)
    videos = find_videos(inputs, exclude=output_dir)
    truth = (
        read_segments_json(ground_truth)
        if isinstance(ground_truth, (str, os.PathLike))
        else ground_truth
    )
    fingerprint = scan_fingerprint(model_path, clip_config, labels, scan)
    run_id = uuid.uuid4().hex[:12]

    # Decide first what each video needs, so that progress knows the work ahead.
    plan = {}
    for key, path in videos.items():
        record = _read_record(_paths(output_dir, key)["record"])
        paths = _paths(output_dir, key)
        if (
            record is None
            or record.get("file") != _file_state(path)
            or record.get("scan") != fingerprint
            or (record["status"] != FAILED and not paths["scores"].exists())
        ):
            plan[key] = "process"
        elif record["status"] == FAILED:
            plan[key] = "failed before"
        elif _up_to_date(record, segments, output, paths):
            plan[key] = "done before"
        else:
            plan[key] = "rederive"
    durations = [
        declared_duration(videos[key]) if plan[key] == "process" else None for key in videos
    ]
    progress = Progress(durations, stream=progress_stream, enabled=show_progress)
    _log.info(
        "%d videos: %d to process, %d done before, %d to re-derive, %d failed before",
        len(videos),
        *(
            list(plan.values()).count(s)
            for s in ("process", "done before", "rederive", "failed before")
        ),
    )

    if "process" in plan.values():
        # Loaded only when there is something to score: re-deriving segments does not
        # need the model. A model that does not load is the run's error, not a video's.
        scorer, spec = load_detector_model(model_path, clip_config=clip_config, labels=labels)
        _log.info("Model: %s; classes %s (%s)", scorer.description, spec.class_names, spec.source)
        # Settings that cannot fit the model (a TSN model without a window length) are
        # the run's error too: raise now rather than fail every video.
        window_layout(spec.clip_sampling, scan, fps=1.0)
    processed, reused = [], []
    for index, (key, path) in enumerate(videos.items()):
        paths = _paths(output_dir, key)
        step = plan[key]
        if step in ("done before", "failed before"):
            progress.skip_video(index, key, step + ", skipped")
            if step == "done before":
                reused.append(key)
            continue
        paths["record"].parent.mkdir(parents=True, exist_ok=True)
        if step == "rederive":
            record = _read_record(paths["record"])
            windows = WindowScores.load(paths["scores"])
            class_names = record["class_names"]
            _finish(key, path, windows, class_names, record, segments, output, paths, truth)
            progress.skip_video(index, key, "scores reused, segments re-derived")
            reused.append(key)
            continue
        progress.start_video(index, key)
        record = {
            "format": RECORD_FORMAT,
            "video": key,
            "path": path,
            "file": _file_state(path),
            "scan": fingerprint,
            "run_id": run_id,
        }
        try:
            windows = scan_video(path, scorer, spec, scan, on_progress=progress.update)
        except VideoDecodeError as err:
            _fail(record, paths, str(err))
            progress.finish_video(f"failed: {err.reason}")
            processed.append(key)
            continue
        except Exception as err:  # one video never ends the run
            _log.exception("Unexpected error on %s", path)
            _fail(record, paths, f"{type(err).__name__}: {err}")
            progress.finish_video(f"failed: {type(err).__name__}: {err}")
            processed.append(key)
            continue
        windows.save(paths["scores"])
        record.update(
            class_names=list(spec.class_names),
            model_source=spec.source,
            num_windows=len(windows.scores),
            duration_s=round(windows.duration, 3),
            num_frames=windows.num_frames,
            fps=windows.fps,
            seconds=round(windows.seconds, 3),
            realtime_factor=round(windows.duration / max(windows.seconds, 1e-9), 2),
        )
        _finish(key, path, windows, list(spec.class_names), record, segments, output, paths, truth)
        status = record["status"] if record["status"] == DONE else f"partial: {record['error']}"
        progress.finish_video(f"{len(record['segments'])} segments, {status}")
        processed.append(key)

    return _summarise(output_dir, videos, processed, reused, truth, tiou_thresholds)


def _up_to_date(record: Mapping, segments: SegmentSettings, output: OutputSettings, paths) -> bool:
    if record.get("segment_settings") != _settings_dict(segments):
        return False
    wanted = {
        "subtitles": output.subtitles,
        "timeline": output.timeline,
        "labelled_video": output.labelled_video,
    }
    return all(paths[name].exists() for name, on in wanted.items() if on)


def _settings_dict(settings: SegmentSettings) -> dict:
    fields = dataclasses.asdict(settings)
    fields["ignore_labels"] = list(fields["ignore_labels"])
    return fields


def _fail(record: dict, paths: Mapping[str, pathlib.Path], reason: str) -> None:
    _log.warning("Skipping %s: %s", record["path"], reason)
    record.update(status=FAILED, error=reason, segments=[], finished_at=_now())
    write_atomic(paths["record"], json.dumps(record, indent=1) + "\n")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _finish(
    key: str,
    path: str,
    windows: WindowScores,
    class_names: Sequence[str],
    record: dict,
    settings: SegmentSettings,
    output: OutputSettings,
    paths: Mapping[str, pathlib.Path],
    truth: Mapping[str, Sequence[Segment]] | None,
) -> None:
    """Segments and per-video files from window scores; the record is written last."""
    found = scores_to_segments(
        windows.scores, windows.centres, windows.duration, class_names, settings
    )
    if output.subtitles:
        write_atomic(paths["subtitles"], outputs.subtitles(found))
    if output.timeline:
        title = f"{key}  ({len(found)} segments)"
        if windows.error:
            title += f"  [decoding stopped at {windows.duration:.1f} s]"
        outputs.timeline_png(
            paths["timeline"],
            windows,
            found,
            class_names,
            settings,
            title=title,
            ground_truth=None if truth is None else truth.get(key, []),
        )
    if output.labelled_video:
        outputs.write_labelled_video(path, paths["labelled_video"], found)
    record.update(
        status=DONE if windows.error is None else PARTIAL,
        error=windows.error,
        class_names=list(class_names),
        segment_settings=_settings_dict(settings),
        segments=outputs.segment_dicts(found),
        finished_at=_now(),
    )
    write_atomic(paths["record"], json.dumps(record, indent=1) + "\n")


def _summarise(
    output_dir: pathlib.Path,
    videos: Mapping[str, str],
    processed: list[str],
    reused: list[str],
    truth: Mapping[str, Sequence[Segment]] | None,
    tiou_thresholds: Sequence[float],
) -> DetectionRun:
    """Rebuilds the folder-level files from every video's record."""
    results, failed, partial = {}, {}, {}
    rows = []
    for key in videos:
        record = _read_record(_paths(output_dir, key)["record"])
        if record is None:
            continue
        if record["status"] == FAILED:
            failed[key] = record["error"]
        else:
            results[key] = _segments_of(record)
            if record["status"] == PARTIAL:
                partial[key] = record["error"]
        if record["status"] != DONE:
            rows.append(f"{key}\t{record['status']}\t{' '.join(str(record['error']).split())}\n")
    write_atomic(output_dir / "detections.json", outputs.activitynet_json(results))
    write_atomic(output_dir / "detections.csv", outputs.detections_csv(results))
    failures = output_dir / "failures.tsv"
    if rows:
        write_atomic(failures, "video\tstatus\treason\n" + "".join(rows))
    elif failures.exists():
        failures.unlink()
    evaluation = None
    if truth is not None:
        evaluation = evaluate_detections(results, truth, tiou_thresholds)
        write_atomic(output_dir / "evaluation.json", json.dumps(evaluation, indent=1) + "\n")
    summary = {
        "videos": len(videos),
        "with_results": len(results),
        "processed_this_run": len(processed),
        "reused": len(reused),
        "failed": failed,
        "partial": partial,
        "segments": sum(len(s) for s in results.values()),
    }
    write_atomic(output_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
    return DetectionRun(results, processed, reused, failed, partial, evaluation, str(output_dir))
