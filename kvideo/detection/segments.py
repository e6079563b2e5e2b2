"""Window scores -> timed segments: smoothing, hysteresis, merging, minimum duration.

How a window's score maps to time: window `k` has a *centre* (the midpoint between the
start of its first frame and the end of its last), and its score is attributed to the
*cell* around that centre, from the midpoint with the previous window's centre to the
midpoint with the next one (the first cell starts at 0, the last ends at the end of the
video). With a stride shorter than the window, cells are one stride long and tile the
video without overlap. Attributing a score to the whole span a window covers instead
would stretch every segment by ``span - stride`` (a window scores high as soon as the
action fills most of it, so its span reaches past the action on one side); the centre
rule is unbiased for a classifier that fires when the action fills most of the clip.

Per class, the steps are (`SegmentSettings` holds the defaults):

1. smoothing: a centred moving average over about `smoothing_s` seconds of windows;
2. hysteresis: a segment is a maximal run of windows whose smoothed score is at least
   `low_threshold` that holds at least one window at or above `high_threshold` (a score
   above `high_threshold` starts a segment, which then lasts, on both sides, until the
   score falls below `low_threshold`);
3. merging: segments of one class closer than `merge_gap_s` become one;
4. a minimum duration: shorter segments are dropped.

A segment's score is the mean *unsmoothed* score of the class over the windows whose
cells it covers. Classes listed in `ignore_labels` ("background" by default) never
produce segments, so a binary "action vs background" model yields segments of the action
only. Everything here is numpy; no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class SegmentSettings:
    """How window scores become segments (see the module docstring for the steps).

    Attributes:
        smoothing_s: width of the centred moving average, in seconds; it covers
            ``2 * round(smoothing_s / (2 * step)) + 1`` windows, where `step` is the time
            between window centres (1 s at a 0.25 s stride: 5 windows). 0 turns it off.
        high_threshold: a segment needs at least one window whose smoothed score reaches
            this (a probability in [0, 1]).
        low_threshold: a segment extends over neighbouring windows while their smoothed
            score stays at or above this; at most `high_threshold`.
        merge_gap_s: segments of one class separated by less than this many seconds are
            merged.
        min_duration_s: segments shorter than this, after merging, are dropped.
        ignore_labels: class names that never produce segments (e.g. the background
            class of an "action vs background" model).
    """

    smoothing_s: float = 1.0
    high_threshold: float = 0.5
    low_threshold: float = 0.3
    merge_gap_s: float = 1.0
    min_duration_s: float = 0.5
    ignore_labels: tuple[str, ...] = ("background",)

    def __post_init__(self):
        for name in ("smoothing_s", "merge_gap_s", "min_duration_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(
                    f"`{name}` must be a number of seconds >= 0. Received: {name}={value!r}"
                )
        if not 0.0 <= self.low_threshold <= self.high_threshold <= 1.0:
            raise ValueError(
                "The thresholds must satisfy 0 <= low_threshold <= high_threshold <= 1. "
                f"Received: low_threshold={self.low_threshold}, "
                f"high_threshold={self.high_threshold}"
            )
        if isinstance(self.ignore_labels, str):
            raise ValueError(
                "`ignore_labels` must be a sequence of class names, not one string. "
                f"Received: ignore_labels={self.ignore_labels!r}"
            )
        object.__setattr__(self, "ignore_labels", tuple(self.ignore_labels))


@dataclasses.dataclass(frozen=True)
class Segment:
    """One detection: `label` from `start` to `end` seconds, with a confidence `score`."""

    label: str
    start: float
    end: float
    score: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def window_cells(centres: np.ndarray, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """The stretch of time each window's score stands for.

    Args:
        centres: `(windows,)` window centres in seconds, increasing.
        duration: end of the video in seconds.

    Returns:
        `(starts, ends)`, each `(windows,)` seconds: boundaries halfway between
        consecutive centres, the first cell starting at 0 and the last ending at
        `duration`.
    """
    centres = np.asarray(centres, np.float64)
    if centres.ndim != 1 or np.any(np.diff(centres) <= 0):
        raise ValueError(
            f"`centres` must be a 1-D increasing array of seconds. Received: {centres!r}"
        )
    if len(centres) == 0:
        return centres, centres
    middles = (centres[1:] + centres[:-1]) / 2
    starts = np.concatenate([[0.0], middles])
    ends = np.concatenate([middles, [max(float(duration), float(centres[-1]))]])
    return starts, ends


def smoothing_width(centres: np.ndarray, smoothing_s: float) -> int:
    """Odd number of windows that the moving average of `smoothing_s` seconds covers."""
    if len(centres) < 2 or smoothing_s <= 0:
        return 1
    step = float(np.median(np.diff(centres)))
    return 2 * round(smoothing_s / (2 * step)) + 1


def moving_average(scores: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 0 over `width` (odd) windows.

    Near the ends the average is over the windows that exist (no padding), so a
    constant sequence stays constant.

    Args:
        scores: `(windows, ...)` float.
        width: odd positive number of windows.

    Returns:
        float64 array of the shape of `scores`.
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"`width` must be an odd positive integer. Received: width={width}")
    scores = np.asarray(scores, np.float64)
    n = len(scores)
    half = width // 2
    padded = np.concatenate([np.zeros((1, *scores.shape[1:])), np.cumsum(scores, axis=0)])
    index = np.arange(n)
    low = np.maximum(index - half, 0)
    high = np.minimum(index + half + 1, n)
    counts = (high - low).reshape(-1, *([1] * (scores.ndim - 1)))
    return (padded[high] - padded[low]) / counts


def hysteresis_runs(scores: np.ndarray, high: float, low: float) -> list[tuple[int, int]]:
    """Maximal runs of `scores >= low` that hold at least one `score >= high`.

    Args:
        scores: `(windows,)` scores of one class.

    Returns:
        `[(first, last), ...]` inclusive window indices, in order.
    """
    scores = np.asarray(scores)
    above = np.concatenate([[False], scores >= low, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    runs = []
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        if np.any(scores[first:stop] >= high):
            runs.append((int(first), int(stop) - 1))
    return runs


def class_segments(
    scores: np.ndarray,
    centres: np.ndarray,
    duration: float,
    label: str,
    settings: SegmentSettings,
) -> list[Segment]:
    """The segments of one class.

    Args:
        scores: `(windows,)` probabilities of the class, one per window.
        centres: `(windows,)` window centres in seconds, increasing.
        duration: end of the video in seconds.
        label: the class name the segments carry.
        settings: the post-processing settings.

    Returns:
        Segments in time order.
    """
    scores = np.asarray(scores, np.float64)
    if len(scores) == 0:
        return []
    cell_starts, cell_ends = window_cells(centres, duration)
    smoothed = moving_average(scores, smoothing_width(centres, settings.smoothing_s))
    runs = hysteresis_runs(smoothed, settings.high_threshold, settings.low_threshold)
    merged: list[list[int]] = []
    for first, last in runs:
        if merged and cell_starts[first] - cell_ends[merged[-1][1]] < settings.merge_gap_s:
            merged[-1][1] = last
        else:
            merged.append([first, last])
    segments = []
    for first, last in merged:
        start, end = float(cell_starts[first]), float(cell_ends[last])
        if end - start < settings.min_duration_s:
            continue
        score = float(np.mean(scores[first : last + 1]))
        segments.append(Segment(label, start, end, score))
    return segments


def scores_to_segments(
    scores: np.ndarray,
    centres: np.ndarray,
    duration: float,
    class_names: Sequence[str],
    settings: SegmentSettings = SegmentSettings(),
) -> list[Segment]:
    """Segments of every class not in `settings.ignore_labels`.

    Args:
        scores: `(windows, classes)` softmax probabilities, one row per window.
        centres: `(windows,)` window centres in seconds, increasing.
        duration: end of the video in seconds.
        class_names: `classes` names, in output order.
        settings: the post-processing settings.

    Returns:
        Segments sorted by start time, then by class order. Segments of different
        classes may overlap.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[1] != len(class_names):
        raise ValueError(
            f"`scores` must be (windows, {len(class_names)}) for {len(class_names)} class "
            f"names. Received: scores.shape={scores.shape}"
        )
    if len(centres) != len(scores):
        raise ValueError(
            f"One centre per window is needed. Received: {len(centres)} centres for "
            f"{len(scores)} windows"
        )
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"`duration` must be a finite number of seconds. Received: {duration}")
    found = []
    for index, name in enumerate(class_names):
        if name in settings.ignore_labels:
            continue
        found += [
            (segment.start, index, segment)
            for segment in class_segments(scores[:, index], centres, duration, name, settings)
        ]
    return [segment for _, _, segment in sorted(found, key=lambda item: item[:2])]
