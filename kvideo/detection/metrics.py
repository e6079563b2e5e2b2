"""Evaluation of temporal detections against ground truth, ActivityNet style.

Matching (per class, over all videos, as ActivityNet's ``eval_detection.py``): detections
are taken in decreasing score order (ties keep their input order); each one is matched
to the not-yet-matched ground-truth segment of its class and video with the highest
temporal IoU, if that IoU reaches the threshold, and is a true positive; otherwise it is
a false positive. A ground-truth segment is matched at most once.

- Only videos in the ground truth are evaluated: a video listed with no segment is one
  where nothing should be found, a video not listed is unlabelled and its detections are
  left out (so a few labelled videos of a folder can tune the thresholds).
- Precision, recall and F1 pool the matches of all classes and videos. Detections of a
  class the ground truth never mentions are false positives. When nothing is expected
  and nothing is found, precision, recall and F1 are 1; otherwise an empty denominator
  gives 1 for the side that cannot be wrong (precision with no detections, recall with
  no ground truth) and F1 is 0 unless both are positive.
- Average precision is ActivityNet's *interpolated* AP: precision and recall after each
  detection in score order, the precision made non-increasing from the right (the
  envelope), and ``AP = sum_i (r_i - r_{i-1}) * p_envelope(r_i)`` over the points where
  recall changes, with the curve closed at recall 1 by precision 0. It is computed per
  class that has ground truth; mAP is their mean. Detections of classes without ground
  truth do not enter mAP (as in ActivityNet).

No TensorFlow here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

import numpy as np

from kvideo.detection.segments import Segment

Detections = Mapping[str, Sequence[Segment]]


def temporal_iou(segment: Sequence[float], others: np.ndarray) -> np.ndarray:
    """Temporal IoU of one `[start, end]` with each row of `others` `(n, 2)` (seconds)."""
    others = np.asarray(others, np.float64).reshape(-1, 2)
    start, end = float(segment[0]), float(segment[1])
    intersection = np.clip(np.minimum(end, others[:, 1]) - np.maximum(start, others[:, 0]), 0, None)
    union = (end - start) + (others[:, 1] - others[:, 0]) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, intersection / union, 0.0)


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """ActivityNet's interpolated AP from the precision/recall after each detection."""
    precision = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    recall = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    changes = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[changes] - recall[changes - 1]) * envelope[changes]))


def _match_class(
    detections: list[tuple[str, Segment]],
    truth: Mapping[str, np.ndarray],
    tiou_threshold: float,
) -> np.ndarray:
    """True-positive flags of one class's detections, sorted by decreasing score."""
    used = {video: np.zeros(len(segments), bool) for video, segments in truth.items()}
    hits = np.zeros(len(detections), bool)
    for index, (video, detection) in enumerate(detections):
        segments = truth.get(video)
        if segments is None or len(segments) == 0:
            continue
        ious = temporal_iou((detection.start, detection.end), segments)
        for candidate in np.argsort(-ious, kind="stable"):
            if ious[candidate] < tiou_threshold:
                break
            if not used[video][candidate]:
                used[video][candidate] = True
                hits[index] = True
                break
    return hits


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 1.0


def evaluate_detections(
    detections: Detections,
    ground_truth: Detections,
    tiou_thresholds: Sequence[float] = (0.3, 0.5, 0.7),
) -> dict:
    """Precision, recall, F1 and average precision at each temporal IoU threshold.

    Args:
        detections: `{video: [Segment, ...]}` (scores rank the detections).
        ground_truth: `{video: [Segment, ...]}` (scores ignored). Videos missing from
            `detections` count as videos where nothing was found; detections of videos
            missing from the ground truth are left out.
        tiou_thresholds: temporal IoU needed for a match, each in (0, 1].

    Returns:
        `{"tiou_thresholds": [...], "num_videos": int, "average_mAP": float,
        "per_threshold": [{"tiou",
        "precision", "recall", "f1", "true_positives", "num_detections",
        "num_ground_truth", "mAP", "ap_per_class": {label: AP}}, ...]}`; `mAP` is None
        when the ground truth holds no segment.
    """
    thresholds = [float(t) for t in tiou_thresholds]
    if not thresholds or any(not 0.0 < t <= 1.0 for t in thresholds):
        raise ValueError(
            f"`tiou_thresholds` must be a non-empty list of values in (0, 1]. "
            f"Received: tiou_thresholds={tiou_thresholds!r}"
        )
    detections = {video: segs for video, segs in detections.items() if video in ground_truth}
    labels = sorted(
        {s.label for segs in ground_truth.values() for s in segs}
        | {s.label for segs in detections.values() for s in segs}
    )
    per_label = {}
    for label in labels:
        found = [(video, s) for video, segs in detections.items() for s in segs if s.label == label]
        # Stable: equal scores keep their input order.
        found.sort(key=lambda item: -item[1].score)
        truth = {
            video: np.array([[s.start, s.end] for s in segs if s.label == label]).reshape(-1, 2)
            for video, segs in ground_truth.items()
        }
        num_truth = sum(len(t) for t in truth.values())
        per_label[label] = (found, truth, num_truth)

    per_threshold = []
    for threshold in thresholds:
        true_positives = num_detections = num_truth_all = 0
        ap_per_class = {}
        for label, (found, truth, num_truth) in per_label.items():
            hits = _match_class(found, truth, threshold)
            true_positives += int(hits.sum())
            num_detections += len(found)
            num_truth_all += num_truth
            if num_truth:
                cumulative = np.cumsum(hits)
                precision = cumulative / np.arange(1, len(hits) + 1)
                recall = cumulative / num_truth
                ap_per_class[label] = interpolated_average_precision(precision, recall)
        precision = _ratio(true_positives, num_detections)
        recall = _ratio(true_positives, num_truth_all)
        f1 = 2 * precision * recall / (precision + recall) if precision * recall > 0 else 0.0
        per_threshold.append(
            {
                "tiou": threshold,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "true_positives": true_positives,
                "num_detections": num_detections,
                "num_ground_truth": num_truth_all,
                "mAP": float(np.mean(list(ap_per_class.values()))) if ap_per_class else None,
                "ap_per_class": ap_per_class,
            }
        )
    maps = [row["mAP"] for row in per_threshold if row["mAP"] is not None]
    return {
        "tiou_thresholds": thresholds,
        "num_videos": len(ground_truth),
        "average_mAP": float(np.mean(maps)) if maps else None,
        "per_threshold": per_threshold,
    }


def read_segments_json(path: str | os.PathLike) -> dict[str, list[Segment]]:
    """Reads detections or ground truth from a JSON file.

    Accepted forms: the ActivityNet detection result format
    ``{"results": {video: [{"label", "score", "segment": [start_s, end_s]}]}}`` (what
    `kvideo.detection` writes) and ActivityNet's ground-truth format
    ``{"database": {video: {"annotations": [{"label", "segment"}]}}}``. A missing
    score reads as 1.0.

    Raises:
        ValueError: naming the file and the entry, for anything else.
    """
    name = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        try:
            content = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{name} is not valid JSON: {err}") from err
    if isinstance(content, dict) and isinstance(content.get("results"), dict):
        videos = content["results"]
    elif isinstance(content, dict) and isinstance(content.get("database"), dict):
        videos = {}
        for video, entry in content["database"].items():
            if not isinstance(entry, dict) or not isinstance(entry.get("annotations"), list):
                raise ValueError(f'{name}: database entry {video!r} has no "annotations" list')
            videos[video] = entry["annotations"]
    else:
        raise ValueError(
            f'{name} must hold {{"results": {{video: [...]}}}} (ActivityNet detections) or '
            f'{{"database": {{video: {{"annotations": [...]}}}}}} (ActivityNet ground truth)'
        )
    out = {}
    for video, entries in videos.items():
        if not isinstance(entries, list):
            raise ValueError(f"{name}: the segments of {video!r} must be a list")
        segments = []
        for entry in entries:
            try:
                start, end = (float(v) for v in entry["segment"])
                segment = Segment(str(entry["label"]), start, end, float(entry.get("score", 1.0)))
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(
                    f'{name}: bad segment of {video!r}: {entry!r} (needs "label" and '
                    f'"segment": [start_s, end_s])'
                ) from err
            if not end >= start:
                raise ValueError(f"{name}: segment of {video!r} ends before it starts: {entry!r}")
            segments.append(segment)
        out[str(video)] = segments
    return out
