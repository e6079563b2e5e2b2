"""Explanations drawn on the clip's frames: an overlay, a contact sheet (PNG), an animation
(GIF).

The overlay blends a colour map into each frame in proportion to the map's value,
``out = (1 - alpha * m) * frame + alpha * m * colour(m)``, so a pixel where the map is 0
is the frame's own and a pixel where it is 1 is ``alpha`` colour. Maps are normalised
over the whole clip (see `attribution`), so dark frames in the sheet are frames the
method says matter little.

The contact sheet has the clip's frames in its first row and one row per explanation
below, every row on the same frames (at most `max_frames`, evenly spaced); each column is
headed by its frame number and the share of the first explanation's mass on that frame.
The GIF shows, frame by frame, the clip beside each explanation's overlay.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from kvideo.explain.attribution import Explanation
from kvideo.training.plots import save_figure

COLORMAP = "jet"
BAR = 4  # rows of the GIF's time bar
TITLES = {
    "gradcam": "Grad-CAM",
    "guided_backprop": "Guided backprop",
    "guided_gradcam": "Guided Grad-CAM",
    "activations": "Activations",
}


def overlay(clip: np.ndarray, maps: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """`clip` uint8 `(frames, h, w, 3)` with `maps` `(frames, h, w)` in [0, 1] blended in.

    Returns uint8 `(frames, h, w, 3)`.
    """
    clip, maps = np.asarray(clip), np.asarray(maps, np.float32)
    if clip.ndim != 4 or clip.shape[-1] != 3 or maps.shape != clip.shape[:3]:
        raise ValueError(
            "`clip` must be (frames, h, w, 3) and `maps` (frames, h, w). Received: "
            f"clip.shape={clip.shape}, maps.shape={maps.shape}"
        )
    if not 0 <= alpha <= 1:
        raise ValueError(f"`alpha` must be in [0, 1]. Received: alpha={alpha}")
    maps = np.clip(maps, 0, 1)
    colour = matplotlib.colormaps[COLORMAP](maps)[..., :3] * 255
    weight = (alpha * maps)[..., None]
    blended = (1 - weight) * clip.astype(np.float32) + weight * colour
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def sheet_frames(num_frames: int, max_frames: int) -> np.ndarray:
    """The frames a contact sheet shows: all of them, or `max_frames` evenly spaced
    (first and last included)."""
    if num_frames <= max_frames:
        return np.arange(num_frames)
    return np.round(np.linspace(0, num_frames - 1, max_frames)).astype(int)


def _title(explanation: Explanation) -> str:
    title = TITLES.get(explanation.method, explanation.method)
    return f"{title}\n{explanation.layer}" if explanation.layer else title


def contact_sheet_figure(
    clip: np.ndarray,
    explanations: Sequence[Explanation],
    class_names: Sequence[str] | None = None,
    max_frames: int = 8,
    alpha: float = 0.5,
    title: str | None = None,
) -> Figure:
    """A grid: the frames, then one row of overlays per explanation (see the module)."""
    if not explanations:
        raise ValueError("`explanations` is empty: give at least one.")
    clip = np.asarray(clip)
    frames = sheet_frames(clip.shape[0], max_frames)
    rows = 1 + len(explanations)
    height, width = clip.shape[1:3]
    cell = 1.3  # inches per frame's longer side
    scale = cell / max(height, width)
    fig = Figure(figsize=(0.9 + len(frames) * width * scale, 0.6 + rows * (height * scale + 0.25)))
    axes = fig.subplots(rows, len(frames), squeeze=False)
    first = explanations[0]
    mass = first.maps.sum(axis=(1, 2))
    mass = mass / mass.sum() if mass.sum() > 0 else mass
    overlays = [overlay(clip, e.maps, alpha) for e in explanations]
    for column, t in enumerate(frames):
        axes[0, column].set_title(f"t={t} · {mass[t]:.0%}", fontsize=8)
        for row in range(rows):
            ax = axes[row, column]
            ax.imshow(clip[t] if row == 0 else overlays[row - 1][t], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("clip", fontsize=8)
    for row, explanation in enumerate(explanations, start=1):
        axes[row, 0].set_ylabel(_title(explanation), fontsize=8)
    if title is None:
        names = class_names or [f"class {i}" for i in range(len(first.probabilities))]
        title = (
            f"explained: {names[first.class_index]} "
            f"(p={first.probabilities[first.class_index]:.2f}); "
            f"predicted: {names[first.predicted]} (p={first.probabilities[first.predicted]:.2f})"
        )
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(
        left=0.9 / fig.get_figwidth(),
        right=0.99,
        bottom=0.1 / fig.get_figheight(),
        top=1 - 0.55 / fig.get_figheight(),
        wspace=0.04,
        hspace=0.25,
    )
    return fig


def save_contact_sheet(
    path: str | pathlib.Path,
    clip: np.ndarray,
    explanations: Sequence[Explanation],
    class_names: Sequence[str] | None = None,
    **kwargs,
) -> np.ndarray:
    """Writes `contact_sheet_figure(...)` as a PNG; returns its RGB pixels."""
    return save_figure(contact_sheet_figure(clip, explanations, class_names, **kwargs), path)


def animation_frames(
    clip: np.ndarray, explanations: Sequence[Explanation], alpha: float = 0.5, min_height: int = 128
) -> np.ndarray:
    """uint8 `(frames, H + BAR, W * (1 + len(explanations)), 3)`: each frame beside its
    overlays, enlarged by a whole factor (nearest neighbour) to at least `min_height` rows,
    over a white bar `BAR` rows high that grows with time (frame t fills (t + 1) / frames
    of it). The bar also keeps still frames distinct, which GIF writers would merge."""
    clip = np.asarray(clip)
    panels = [clip] + [overlay(clip, e.maps, alpha) for e in explanations]
    frames = np.concatenate(panels, axis=2)
    factor = max(1, -(-min_height // clip.shape[1]))
    frames = frames.repeat(factor, axis=1).repeat(factor, axis=2)
    count, _, width, _ = frames.shape
    bar = np.zeros((count, BAR, width, 3), np.uint8)
    for t in range(count):
        bar[t, :, : round(width * (t + 1) / count)] = 255
    return np.concatenate([frames, bar], axis=1)


def save_gif(
    path: str | pathlib.Path,
    clip: np.ndarray,
    explanations: Sequence[Explanation],
    fps: float = 8.0,
    alpha: float = 0.5,
) -> int:
    """Writes an endlessly looping GIF of `animation_frames`; returns its frame count."""
    from PIL import Image

    if fps <= 0:
        raise ValueError(f"`fps` must be positive. Received: fps={fps}")
    frames = [Image.fromarray(f) for f in animation_frames(clip, explanations, alpha)]
    frames[0].save(
        str(path),
        save_all=True,
        append_images=frames[1:],
        duration=round(1000 / fps),
        loop=0,
        optimize=False,
    )
    return len(frames)
