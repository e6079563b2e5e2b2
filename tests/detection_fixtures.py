"""Generated videos with actions at known times, for detection tests and benchmarks.

The actions are `motion_demo` clips (`render_clip`: a shape that moves, grows, shrinks,
speeds up or slows down). Between actions the scene holds still: the frame before an
action is its first frame, the frame after it its last, with fresh sensor noise on every
frame, so an action starts and ends without a cut. Half-way through each pause the scene
cuts to the next action's first frame: a change of scene that is not an action.

`write_event_video` streams frames into the encoder, so a 20-minute video never sits in
memory. `training_clips` makes the short clips a detector learns from (actions, and still
scenes with and without cuts), and `train_detector` trains a tiny one in about half a
minute on 2 cores and saves it as a training run would.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterator, Sequence

import cv2
import numpy as np

from kvideo.io.stream import VideoWriter
from tfds_builders.motion_demo.motion_demo_dataset_builder import CLASSES, render_clip

FPS = 16.0
EVENT_FRAMES = 32  # 2 s at 16 fps
NOISE = 4.0  # the per-frame noise of render_clip


def _noisy(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, NOISE, frame.shape[:2] + (1,))
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def _fit(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pads square clips to `height` x `width` by repeating the edge pixels."""
    size = frames.shape[1]
    if (height, width) == (size, size):
        return frames
    top, left = (height - size) // 2, (width - size) // 2
    return np.stack(
        [
            cv2.copyMakeBorder(
                f, top, height - size - top, left, width - size - left, cv2.BORDER_REPLICATE
            )
            for f in frames
        ]
    )


def event_frames(
    duration_s: float,
    events: Sequence[tuple[float, int]],
    *,
    fps: float = FPS,
    height: int = 64,
    width: int = 64,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """Yields the uint8 RGB frames `(height, width, 3)` of a video with actions.

    Args:
        duration_s: length of the video in seconds.
        events: `(start_s, motion_demo class index)` of each action, in time order,
            non-overlapping; each lasts `EVENT_FRAMES` frames.
        fps: frame rate.
        height, width: frame size; actions are drawn at `min(height, width)` and padded.
        seed: makes the video reproducible.
    """
    rng = np.random.default_rng(seed)
    size = min(height, width)
    total = round(duration_s * fps)
    starts = [round(start * fps) for start, _ in events]
    if any(b < a + EVENT_FRAMES for a, b in zip(starts, starts[1:], strict=False)):
        raise ValueError(f"Events overlap. Received: events={events}")
    clips = [
        _fit(render_clip(label, rng, EVENT_FRAMES, size), height, width) for _, label in events
    ]
    if not clips:  # a video with no action: one still scene, cut half-way
        scenes = [_fit(render_clip(0, rng, 1, size), height, width)[0] for _ in range(2)]
    index = 0
    for k in range(len(clips) + 1):
        clip_start = starts[k] if k < len(clips) else total
        pause_start = starts[k - 1] + EVENT_FRAMES if k > 0 else 0
        cut = (pause_start + clip_start) // 2
        before = clips[k - 1][-1] if k > 0 else None
        after = clips[k][0] if k < len(clips) else None
        if not clips:
            before, after = scenes
        if before is None:
            before = after
        if after is None:
            after = before
        while index < min(clip_start, total):
            yield _noisy(before if index < cut else after, rng)
            index += 1
        if k < len(clips):
            for frame in clips[k]:
                if index >= total:
                    return
                yield frame
                index += 1


def write_event_video(
    path: str | os.PathLike,
    duration_s: float,
    events: Sequence[tuple[float, int]],
    *,
    fps: float = FPS,
    height: int = 64,
    width: int = 64,
    seed: int = 0,
    codec: str = "libx264",
) -> list[tuple[float, float, str]]:
    """Writes `event_frames(...)` to `path` and returns the actions as
    `(start_s, end_s, class name)`."""
    options = {"preset": "ultrafast"} if codec == "libx264" else None
    with VideoWriter(path, fps, height, width, codec=codec, options=options) as writer:
        for frame in event_frames(
            duration_s, events, fps=fps, height=height, width=width, seed=seed
        ):
            writer.write(frame)
    return [(start, start + EVENT_FRAMES / fps, CLASSES[label]) for start, label in events]


def training_clips(
    count: int,
    num_frames: int,
    frame_stride: int,
    *,
    size: int = 64,
    classes: Sequence[int] = (0, 1),
    separate: bool = False,
    cut_fraction: float = 0.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Short labelled clips for an "action vs background" classifier.

    Half are background (label 0): a still scene with sensor noise, the first or last
    frame of an action, and for `cut_fraction` of them a cut to another scene somewhere
    in the clip. Half are actions: `num_frames` frames `frame_stride` apart from a random
    place in a `render_clip` of one of the motion_demo `classes`, labelled 1, or with
    `separate` labelled `1 + its position in classes`.

    Returns:
        `(clips, labels)`: uint8 `(count, num_frames, size, size, 3)`, int32 `(count,)`.
    """
    rng = np.random.default_rng(seed)
    span = (num_frames - 1) * frame_stride + 1
    clips = np.empty((count, num_frames, size, size, 3), np.uint8)
    labels = np.zeros(count, np.int32)
    for i in range(count):
        if i % 2:
            which = int(rng.integers(len(classes)))
            clip = render_clip(classes[which], rng, EVENT_FRAMES, size)
            start = int(rng.integers(0, EVENT_FRAMES - span + 1))
            clips[i] = clip[start : start + span : frame_stride]
            labels[i] = 1 + which if separate else 1
        else:
            still = render_clip(int(rng.choice(classes)), rng, 2, size)
            scenes = [still[int(rng.integers(2))]]
            cut = num_frames
            if rng.random() < cut_fraction:
                other = render_clip(int(rng.choice(classes)), rng, 1, size)[0]
                scenes.append(other)
                cut = int(rng.integers(1, num_frames))
            for t in range(num_frames):
                clips[i, t] = _noisy(scenes[0] if t < cut else scenes[-1], rng)
    return clips, labels


# The detector's clip: 8 frames, 4 apart (29 frames, 1.8 s at 16 fps), at 32x32.
NUM_FRAMES, FRAME_STRIDE, CROP = 8, 4, 32


def train_detector(
    directory: str | os.PathLike,
    *,
    classes: Sequence[int] = (0, 1),
    separate: bool = False,
    count: int = 400,
    epochs: int = 4,
    seed: int = 0,
) -> float:
    """Trains an r3d_tiny action detector on `training_clips` and saves a run folder.

    `directory` gets what a training run leaves: `model.keras`, `clip_config.json` (the
    clips are whole 64x64 frames, so evaluation crops the whole short side) and
    `labels.txt` ("background", then "action" or, with `separate`, the class names).

    Returns:
        The training accuracy of the last epoch.
    """
    import keras

    from kvideo.models import build_video_classifier

    keras.utils.set_random_seed(seed)
    clips, labels = training_clips(
        count, NUM_FRAMES, FRAME_STRIDE, classes=classes, separate=separate, seed=seed + 1
    )
    names = ["background"] + ([CLASSES[c] for c in classes] if separate else ["action"])
    model = build_video_classifier("r3d_tiny", len(names), input_shape=(NUM_FRAMES, CROP, CROP, 3))
    model.compile(
        keras.optimizers.Adam(0.003),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(clips, labels, batch_size=16, epochs=epochs, verbose=0)
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "model.keras")
    (directory / "labels.txt").write_text("\n".join(names) + "\n")
    config = {
        "clip_sampling": {
            "method": "dense",
            "num_frames": NUM_FRAMES,
            "frame_stride": FRAME_STRIDE,
        },
        "augmentation": {"crop_size": CROP, "test_crop_fraction": 1.0},
    }
    (directory / "clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return float(history.history["accuracy"][-1])
