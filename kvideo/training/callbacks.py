"""Callbacks that write what a person looks at after a run."""

from __future__ import annotations

import csv
import io
import os

import keras
import tensorflow as tf

from kvideo.training import files


class TrainingCurves(keras.callbacks.Callback):
    """Redraws `training_curves.png` from the run's metrics CSV after every epoch.

    Reading the CSV (rather than this process's history) keeps the epochs from before a
    restart on the plot. Put it after the `CSVLogger` that writes `csv_path`.
    """

    def __init__(self, csv_path: str | os.PathLike, png_path: str | os.PathLike):
        super().__init__()
        self.csv_path = os.fspath(csv_path)
        self.png_path = os.fspath(png_path)

    def on_epoch_end(self, epoch, logs=None):
        plot_training_curves(self.csv_path, self.png_path)


def plot_training_curves(csv_path: str | os.PathLike, png_path: str | os.PathLike) -> None:
    """Loss and top-1 accuracy per epoch, train and validation, from a CSVLogger file.

    Both paths may be on any `tf.io.gfile` file system."""
    import matplotlib

    matplotlib.use("Agg")  # No display on training machines.
    from matplotlib import pyplot as plt

    with tf.io.gfile.GFile(os.fspath(csv_path), "r") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "top1"), strict=True):
        for prefix, style in (("", "-"), ("val_", "--")):
            key = prefix + metric
            # Keras's CSVLogger writes "NA" for val_* columns in runs without validation.
            points = [
                (e, float(r[key]))
                for e, r in zip(epochs, rows, strict=True)
                if r.get(key, "NA") != "NA"
            ]
            if points:
                ax.plot(*zip(*points, strict=True), style, label=key)
        ax.set_xlabel("epoch")
        if metric == "loss":
            ax.set_yscale("log")  # an early validation spike would flatten the rest
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=100)
    plt.close(fig)
    files.write_bytes(os.fspath(png_path), image.getvalue())
