"""The evaluation's pictures: a normalised confusion matrix and per-class precision-recall
curves, sized so that 101 class names stay readable.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global
state, no display), and `figure_pixels` gives the exact RGB array that `save_figure`
writes, so tests can look at the cells.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kvideo.training.evaluate import average_precision, precision_recall_curve

#: The confusion matrix's colour map: 0 white, 1 dark blue.
CONFUSION_CMAP = "Blues"
DPI = 100


def normalize_rows(confusion: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the share of the class's videos given each label);
    rows of classes without videos stay 0."""
    confusion = np.asarray(confusion, np.float64)
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)


def _label_size(num_classes: int) -> float:
    return 9.0 if num_classes <= 20 else 7.0 if num_classes <= 50 else 5.5


def confusion_figure(
    confusion: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix"
) -> Figure:
    """The confusion matrix with each row normalised (rows: true class; columns: predicted).

    Cell ``(i, j)`` is coloured by the share of class ``i``'s videos predicted as ``j``
    on a fixed 0..1 scale (`CONFUSION_CMAP`), so colours compare across runs; the
    diagonal is each class's recall. Up to 20 classes the shares are written in the
    cells. The figure grows with the class count (about 0.17 inch per class, small tick
    labels), so 101 names stay legible.
    """
    confusion = np.asarray(confusion)
    num_classes = len(class_names)
    if confusion.shape != (num_classes, num_classes):
        raise ValueError(
            f"`confusion` must be ({num_classes}, {num_classes}) for {num_classes} classes. "
            f"Received: shape={confusion.shape}"
        )
    shares = normalize_rows(confusion)
    side = max(4.5, 0.17 * num_classes + 2.5)
    fig = Figure(figsize=(side + 1.0, side), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap=CONFUSION_CMAP, vmin=0.0, vmax=1.0, interpolation="nearest")
    size = _label_size(num_classes)
    ticks = np.arange(num_classes)
    ax.set_xticks(ticks, labels=list(class_names), rotation=90, fontsize=size)
    ax.set_yticks(ticks, labels=list(class_names), fontsize=size)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if num_classes <= 20:
        for (i, j), value in np.ndenumerate(shares):
            if value > 0:
                color = "white" if value > 0.5 else "black"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="share of the true class")
    fig.tight_layout()
    return fig


def precision_recall_figure(
    scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> Figure:
    """One small precision-recall panel per class, weakest average precision first.

    Each panel draws the step curve of `kvideo.training.evaluate.precision_recall_curve`
    (videos ranked by their probability for the class) with its AP in the title; a
    dashed line marks the precision of guessing (the class's share of the videos).
    Classes without videos are left out.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    classes = []
    for index, name in enumerate(class_names):
        positives = labels == index
        ap = average_precision(scores[:, index], positives)
        if ap is not None:
            classes.append((ap, index, name))
    classes.sort(key=lambda item: item[0])
    if not classes:
        raise ValueError("No class has videos: there is no precision-recall curve to draw.")
    columns = math.ceil(math.sqrt(len(classes)))
    rows = math.ceil(len(classes) / columns)
    fig = Figure(figsize=(1.9 * columns + 0.4, 1.8 * rows + 0.6), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    for ax, (ap, index, name) in zip(axes.flat, classes, strict=False):
        positives = labels == index
        precision, recall, _ = precision_recall_curve(scores[:, index], positives)
        # From (recall 0, precision 1), a step at each distinct score.
        ax.step(np.r_[0.0, recall], np.r_[1.0, precision], where="post", color="tab:blue")
        ax.axhline(positives.mean(), color="gray", linestyle="--", linewidth=0.8)
        ax.set_title(f"{name[:24]}\nAP {ap:.2f}", fontsize=7)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.05)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(classes) :]:
        ax.set_visible(False)
    fig.supxlabel("recall", fontsize=9)
    fig.supylabel("precision", fontsize=9)
    fig.suptitle("Precision-recall per class (weakest AP first)", fontsize=10)
    fig.tight_layout()
    return fig


def figure_pixels(fig: Figure) -> np.ndarray:
    """The figure drawn on its canvas: uint8 RGB `(height, width, 3)`, row 0 at the top."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_figure(fig: Figure, path: str | pathlib.Path) -> np.ndarray:
    """Writes `figure_pixels(fig)` as a PNG and returns them."""
    import io

    from PIL import Image

    from kvideo.training import files

    pixels = figure_pixels(fig)
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="png", optimize=True)
    files.write_bytes(str(path), png.getvalue())  # local or any tf.io.gfile path
    return pixels
