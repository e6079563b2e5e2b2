"""motion_demo: a built-in video dataset where only motion tells the classes apart.

Each clip shows one shape on a noisy background. The six classes come in time-reversed
pairs, and the start positions and sizes are drawn so that the distribution of what a
single frame shows is the same for both members of a pair:

    moving_up / moving_down      vertical travel at constant speed
    growing / shrinking          the shape's size changes, its position does not
    speeding_up / slowing_down   horizontal travel (left or right) that accelerates or brakes

So a model that looks at one frame, or averages frames without regard to their order,
stays near chance, while a model of motion can reach high accuracy. Horizontal flips do not
change any label, so the usual training augmentation applies.

Everything is generated from fixed seeds, with no download: the same dataset on every
machine. 360 clips (288 train, 72 test) of 32 frames at 64x64 build in seconds.

Configs: ``jpeg`` (frames as JPEG), ``bytes`` (H.264 .mp4) and ``jpeg_flow``: the JPEG
frames and, beside them, the optical flow of each clip (DIS medium, bound 20 px, on the
64x64 frames; `kvideo.data.storage`), for two-stream models. Its frames are those of
``jpeg``.
"""

from __future__ import annotations

import cv2
import numpy as np
import tensorflow_datasets as tfds

from kvideo import io as kio
from kvideo.data import storage

CLASSES = (
    "moving_up",
    "moving_down",
    "growing",
    "shrinking",
    "speeding_up",
    "slowing_down",
)
NUM_FRAMES = 32
FRAME_SIZE = 64
FPS = 16.0
CLIPS_PER_CLASS = {"train": 48, "test": 12}
_SPLIT_SEEDS = {"train": 2016, "test": 2018}


def render_clip(
    label: int, rng: np.random.Generator, num_frames: int = NUM_FRAMES, size: int = FRAME_SIZE
) -> np.ndarray:
    """Draws one clip of class `label`.

    Returns:
        uint8 array of shape `(num_frames, size, size, 3)`, RGB.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f"`label` must be in [0, {len(CLASSES)}). Received: label={label}")
    t = np.linspace(0.0, 1.0, num_frames)
    radius = np.full(num_frames, rng.uniform(0.09, 0.13) * size)
    travel = 0.45 * size
    margin = 0.15 * size
    name = CLASSES[label]
    if name in ("moving_up", "moving_down"):
        x = np.full(num_frames, rng.uniform(margin, size - margin))
        # The start is drawn so both directions cover the same band of positions.
        low = rng.uniform(margin, size - margin - travel)
        y = low + travel * (1 - t) if name == "moving_up" else low + travel * t
    elif name in ("growing", "shrinking"):
        x = np.full(num_frames, rng.uniform(0.3 * size, 0.7 * size))
        y = np.full(num_frames, rng.uniform(0.3 * size, 0.7 * size))
        small, large = 0.06 * size, 0.2 * size
        radius = small + (large - small) * (t if name == "growing" else 1 - t)
    else:
        progress = t**2 if name == "speeding_up" else 1 - (1 - t) ** 2
        low = rng.uniform(margin, size - margin - travel)
        direction = rng.choice([-1.0, 1.0])
        x = low + travel * (progress if direction > 0 else 1 - progress)
        y = np.full(num_frames, rng.uniform(margin, size - margin))

    background = rng.integers(0, 90, size=3)
    color = rng.integers(140, 256, size=3)
    square = rng.random() < 0.5
    texture = rng.normal(0.0, 10.0, size=(size, size, 1))
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for i in range(num_frames):
        frame = np.clip(background + texture + rng.normal(0.0, 4.0, (size, size, 1)), 0, 255)
        frame = frame.astype(np.uint8)
        center = (round(x[i]), round(y[i]))
        r = max(1, round(radius[i]))
        fill = tuple(int(c) for c in color)
        if square:
            cv2.rectangle(
                frame, (center[0] - r, center[1] - r), (center[0] + r, center[1] + r), fill, -1
            )
        else:
            cv2.circle(frame, center, r, fill, -1, lineType=cv2.LINE_AA)
        frames[i] = frame
    return frames


#: The flow config name (the JPEG frames plus flow).
JPEG_FLOW = "jpeg_flow"


def _flow_config():
    from tfds_builders.common import flow_configs

    return flow_configs.flow_config(flow_configs.DEFAULT_METHOD, FRAME_SIZE)


class Builder(tfds.core.GeneratorBasedBuilder):
    """Synthetic motion-only action recognition, generated from a seed."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        # The clips themselves are unchanged.
        "1.1.0": "Bytes storage has the (empty) seek table features of kvideo storage.",
    }
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name=storage.JPEG, description="Frames stored as JPEG."),
        tfds.core.BuilderConfig(name=storage.BYTES, description="H.264 .mp4 bytes."),
        tfds.core.BuilderConfig(
            name=JPEG_FLOW,
            description="Frames stored as JPEG, and their optical flow (DIS medium, bound "
            "20 px) as x/y JPEG.",
        ),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        from tfds_builders.common import flow_configs

        flow = self.builder_config.name == JPEG_FLOW
        return self.dataset_info_from_configs(
            features=storage.video_features(self._storage(), list(CLASSES), flow=flow),
            supervised_keys=None,
            homepage="https://github.com/kvideo/kvideo",
            metadata=flow_configs.metadata(_flow_config()) if flow else None,
        )

    def _storage(self) -> str:
        return storage.BYTES if self.builder_config.name == storage.BYTES else storage.JPEG

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # Nothing to download.
        return {split: self._generate_examples(split) for split in CLIPS_PER_CLASS}

    def _generate_examples(self, split: str):
        rng = np.random.default_rng(_SPLIT_SEEDS[split])
        kind = self._storage()
        flow_config = _flow_config() if self.builder_config.name == JPEG_FLOW else None
        for index in range(CLIPS_PER_CLASS[split] * len(CLASSES)):
            label = index % len(CLASSES)
            frames = render_clip(label, rng)
            video_id = f"{split}_{index:04d}_{CLASSES[label]}"
            video_bytes = None
            if kind == storage.BYTES:
                # 32 frames are one GOP at libx264's default keyframe interval (250): there
                # is no keyframe to seek to, so the stored seek table stays empty.
                video_bytes = kio.write_video(
                    None, frames, FPS, codec="libx264", container_format="mp4"
                )
            flow = None
            if flow_config is not None:
                encoder = storage.FlowEncoder(flow_config)
                for frame in frames:
                    encoder.add(frame)
                flow = encoder.images
            yield (
                video_id,
                storage.example_dict(
                    video_id,
                    label,
                    frames,
                    FPS,
                    kind,
                    num_frames=len(frames),
                    video_bytes=video_bytes,
                    flow=flow,
                ),
            )
