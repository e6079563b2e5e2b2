"""A contact sheet of a clip, to see what the model sees after augmentation."""

from __future__ import annotations

import pathlib

import cv2
import numpy as np


def contact_sheet(clip: np.ndarray, columns: int = 8) -> np.ndarray:
    """Tiles the frames of a uint8 clip (as the pipeline yields it) into one RGB image.

    Args:
        clip: `(frames, height, width, 3)` uint8 RGB.

    Returns:
        uint8 `(rows * height, columns * width, 3)`; unused tiles are black.
    """
    clip = np.asarray(clip)
    if clip.ndim != 4 or clip.shape[-1] != 3 or clip.dtype != np.uint8:
        raise ValueError(
            "`clip` must be uint8 (frames, height, width, 3). "
            f"Received: shape={clip.shape}, dtype={clip.dtype}"
        )
    frames, height, width, _ = clip.shape
    columns = min(columns, frames)
    rows = -(-frames // columns)
    sheet = np.zeros((rows * height, columns * width, 3), np.uint8)
    for i, frame in enumerate(clip):
        r, c = divmod(i, columns)
        sheet[r * height : (r + 1) * height, c * width : (c + 1) * width] = frame
    return sheet


def preview_frames(name: str, clip: np.ndarray) -> np.ndarray:
    """A clip of any named input (`kvideo.inputs`) as RGB frames to look at.

    ``video`` is itself; ``rgb_diff`` stacks ``(frames, H, W, 3 (L + 1))`` become their
    ``frames * (L + 1)`` RGB frames; ``flow`` stacks ``(frames, H, W, 2L)`` become
    ``frames * L`` images with the x code in red, the y code in green and 128 in blue
    (grey where nothing moves).
    """
    clip = np.asarray(clip)
    frames, height, width, channels = clip.shape
    if name == "flow":
        fields = clip.reshape(frames, height, width, channels // 2, 2).transpose(0, 3, 1, 2, 4)
        fields = fields.reshape(-1, height, width, 2)
        blue = np.full((*fields.shape[:-1], 1), 128, np.uint8)
        return np.concatenate([fields, blue], axis=-1)
    stacks = clip.reshape(frames, height, width, channels // 3, 3).transpose(0, 3, 1, 2, 4)
    return np.ascontiguousarray(stacks.reshape(-1, height, width, 3))


def save_contact_sheet(path: str | pathlib.Path, clip: np.ndarray, **kwargs) -> None:
    """Writes `contact_sheet(clip, **kwargs)` as a PNG, on the local disk or any
    `tf.io.gfile` file system (``gs://...``)."""
    import tensorflow as tf

    sheet = contact_sheet(clip, **kwargs)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"Could not encode the contact sheet for {path}")
    # Written aside and renamed: TensorFlow's ram:// file system appends on "wb".
    temporary = f"{path}.tmp"
    with tf.io.gfile.GFile(temporary, "wb") as f:
        f.write(png.tobytes())
    tf.io.gfile.rename(temporary, str(path), overwrite=True)
