"""The evaluation's pictures show the numbers they are drawn from."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from PIL import Image

from kvideo.training import plots

# Counts of a known confusion matrix; rows normalised: [[1, 0, 0], [.25, .75, 0], [0, .5, .5]].
CONFUSION = np.array([[4, 0, 0], [1, 3, 0], [0, 2, 2]])
SHARES = [[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.0, 0.5, 0.5]]


def _pixel_of(fig, ax, x, y):
    """Row and column of the image pixel at data coordinates (x, y)."""
    px, py = ax.transData.transform((x, y))
    height = fig.canvas.get_width_height()[1]
    return int(round(height - py)), int(round(px))


def test_confusion_png_cells_have_the_colour_of_their_share(tmp_path):
    names = ["walk", "run", "jump"]
    fig = plots.confusion_figure(CONFUSION, names)
    path = tmp_path / "confusion.png"
    plots.save_figure(fig, path)
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), SHARES)
    cmap = matplotlib.colormaps[plots.CONFUSION_CMAP]
    for i in range(3):
        for j in range(3):
            # Off the centre, where the share is written.
            row, col = _pixel_of(fig, ax, j - 0.35, i - 0.35)
            expected = np.round(np.array(cmap(SHARES[i][j])[:3]) * 255)
            np.testing.assert_allclose(pixels[row, col], expected, atol=2, err_msg=f"cell {i},{j}")
    # The diagonal of a perfect class is dark, an empty cell white.
    assert pixels[_pixel_of(fig, ax, -0.35, -0.35)].sum() < 200
    assert (pixels[_pixel_of(fig, ax, 1.65, -0.35)] >= 245).all()
    assert [t.get_text() for t in ax.get_yticklabels()] == names


def test_confusion_figure_of_101_classes_keeps_every_name_apart():
    names = [f"Class{i:03d}_WithALongerName" for i in range(101)]
    fig = plots.confusion_figure(np.eye(101, dtype=int), names)
    pixels = plots.figure_pixels(fig)
    ax = fig.axes[0]
    assert len(ax.get_xticklabels()) == 101
    # Neighbouring row labels do not overlap: each label is shorter than a row is tall.
    rows = [t.get_window_extent() for t in ax.get_yticklabels()]
    pairs = zip(rows, rows[1:], strict=False)
    assert all(a.y0 >= b.y1 - 0.5 or b.y0 >= a.y1 - 0.5 for a, b in pairs)
    assert pixels.shape[0] >= 1800


def test_precision_recall_panels_follow_the_curve_weakest_class_first():
    scores = np.array([[0.2, 0.7], [0.9, 0.1], [0.3, 0.4], [0.8, 0.6]])
    labels = np.array([0, 1, 1, 0])
    fig = plots.precision_recall_figure(scores, labels, ["a", "b"])
    # b ranks 0.7 0.6 (not b) 0.4 (b) 0.1 (b): P = 1/3 at R = 1/2, 1/2 at R = 1, so
    # AP = 1/6 + 1/4 = 0.42; a ranks 0.9 (not a) 0.8 (a) 0.3 0.2 (a): AP = 1/4 + 1/4.
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["b\nAP 0.42", "a\nAP 0.50"]
    x, y = fig.axes[0].lines[0].get_data()
    np.testing.assert_allclose(x, [0, 0, 0, 0.5, 1.0])
    np.testing.assert_allclose(y, [1, 0, 0, 1 / 3, 1 / 2])
    with pytest.raises(ValueError, match="No class has videos"):
        plots.precision_recall_figure(scores[:0], labels[:0], ["a", "b"])
