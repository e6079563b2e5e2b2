"""Progress of a detection run, per video and overall, on a terminal or in a log.

On a terminal one line is redrawn in place (at most 4 times a second); in a log (a file
or a pipe) a line is written every `log_interval_s` seconds and when a video ends, so a
log stays readable and never fills with carriage returns. A line reads::

    [3/12] cam01.mp4  1:12/2:48 43%  612 frames/s  24.5x real time  ETA 0:04 | all 31% ETA 1:37

"x real time" is the real-time factor: seconds of video processed per second of wall
time (above 1 is faster than real time). ETAs divide the video time left (from the
container headers, which may be off) by the speed so far.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Reports progress over a list of videos.

    Args:
        durations: each video's expected duration in seconds (None where unknown), in
            processing order; the basis of the overall percentage and ETA.
        stream: where to write (default: standard error).
        log_interval_s: seconds between lines when `stream` is not a terminal.
        enabled: False writes nothing.
    """

    def __init__(
        self,
        durations: Sequence[float | None],
        stream: TextIO | None = None,
        log_interval_s: float = 10.0,
        enabled: bool = True,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.25 if self.interactive else log_interval_s
        self.durations = [d if d and d > 0 else None for d in durations]
        known = [d for d in self.durations if d]
        # Videos of unknown length count as the mean known length in the overall figure.
        self._default = sum(known) / len(known) if known else 0.0
        self.total = sum(d or self._default for d in self.durations)
        self.started = time.perf_counter()
        self.done_seconds = 0.0  # video seconds of the finished videos
        self.work_seconds = 0.0  # wall seconds spent on them
        self.index = -1
        self.name = ""
        self.video_started = 0.0
        self.frames = 0
        self.seconds = 0.0
        self._last_line = 0.0

    def start_video(self, index: int, name: str) -> None:
        self.index, self.name = index, name
        self.video_started = time.perf_counter()
        self.frames, self.seconds = 0, 0.0
        self._last_line = self.video_started

    def update(self, frames: int, seconds: float) -> None:
        """The current video has decoded `frames` frames, `seconds` of video."""
        self.frames, self.seconds = frames, seconds
        now = time.perf_counter()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self._write(self._line(now), final=False)

    def finish_video(self, status: str) -> None:
        """Ends the current video's line with `status` (e.g. "done", "failed: ...")."""
        now = time.perf_counter()
        expected = self.durations[self.index] if 0 <= self.index < len(self.durations) else None
        self.done_seconds += expected or self.seconds or self._default
        self.work_seconds += now - self.video_started
        if self.frames:
            line = self._line(now, finished=True)
        else:  # nothing decoded (an unreadable file): no speed to report
            line = f"[{self.index + 1}/{len(self.durations)}] {self.name}"
        self._write(f"{line}  {status}", final=True)

    def skip_video(self, index: int, name: str, reason: str) -> None:
        """A video not processed in this run (done before, or unreadable)."""
        self.index, self.name = index, name
        expected = self.durations[index] if 0 <= index < len(self.durations) else None
        self.total -= expected or self._default
        self._write(f"[{index + 1}/{len(self.durations)}] {name}  {reason}", final=True)

    def _line(self, now: float, finished: bool = False) -> str:
        elapsed = max(now - self.video_started, 1e-9)
        fps = self.frames / elapsed
        speed = self.seconds / elapsed
        expected = self.durations[self.index] if 0 <= self.index < len(self.durations) else None
        parts = [f"[{self.index + 1}/{len(self.durations)}] {self.name}"]
        if expected and not finished:
            share = min(100, 100 * self.seconds / expected)
            parts.append(f"{_clock(self.seconds)}/{_clock(expected)} {share:.0f}%")
        else:
            parts.append(_clock(self.seconds))
        parts.append(f"{fps:.0f} frames/s  {speed:.1f}x real time")
        if not finished:
            left = (expected - self.seconds) / speed if expected and speed > 0 else None
            parts.append(f"ETA {_clock(left)}")
        # Overall: the finished videos plus this one's progress.
        done = self.done_seconds + (0 if finished else self.seconds)
        work = self.work_seconds + (0 if finished else elapsed)
        overall_speed = done / work if work > 0 else 0
        left_all = (self.total - done) / overall_speed if overall_speed > 0 else None
        share = 100 * done / self.total if self.total > 0 else 100.0
        parts.append(f"| all {min(share, 100):.0f}% ETA {_clock(left_all)}")
        return "  ".join(parts)

    def _write(self, line: str, final: bool) -> None:
        if not self.enabled:
            return
        if self.interactive:
            self.stream.write("\r\x1b[K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
