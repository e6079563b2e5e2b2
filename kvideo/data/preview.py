"""A contact sheet of a clip, to see what the model sees after augmentation."""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

from kvideo.data.augment import KINETICS_MEAN, KINETICS_STD


def contact_sheet(
    clip: np.ndarray,
    mean: tuple[float, float, float] = KINETICS_MEAN,
    std: tuple[float, float, float] = KINETICS_STD,
    columns: int = 8,
) -> np.ndarray:
    """Tiles the frames of a normalised clip into one uint8 RGB image.

    Args:
        clip: `(frames, height, width, 3)` float, normalised with `mean` and `std`.

    Returns:
        uint8 `(rows * height, columns * width, 3)`; unused tiles are black.
    """
    clip = np.asarray(clip, np.float32)
    if clip.ndim != 4 or clip.shape[-1] != 3:
        raise ValueError(f"`clip` must be (frames, height, width, 3). Received: {clip.shape}")
    pixels = np.clip((clip * np.array(std) + np.array(mean)) * 255.0, 0, 255).astype(np.uint8)
    frames, height, width, _ = pixels.shape
    columns = min(columns, frames)
    rows = -(-frames // columns)
    sheet = np.zeros((rows * height, columns * width, 3), np.uint8)
    for i, frame in enumerate(pixels):
        r, c = divmod(i, columns)
        sheet[r * height : (r + 1) * height, c * width : (c + 1) * width] = frame
    return sheet


def save_contact_sheet(path: str | pathlib.Path, clip: np.ndarray, **kwargs) -> None:
    """Writes `contact_sheet(clip, **kwargs)` as a PNG."""
    sheet = contact_sheet(clip, **kwargs)
    if not cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise OSError(f"Could not write {path}")
