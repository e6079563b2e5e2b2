"""Explains a trained model on one video file: the clip evaluation sees, every method asked
for, a contact sheet, a GIF and a JSON summary (what `export/explain_main.py` runs)."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Sequence

import keras
import numpy as np

from kvideo.explain import attribution, render


@dataclasses.dataclass
class VideoExplanation:
    """What `explain_video` wrote and found.

    Attributes:
        clip: the uint8 view explained, `(frames, h, w, 3)`.
        explanations: one per method, in the order asked.
        class_names: the model's class names.
        files: name -> path of what was written (``sheet``, ``gif``, ``summary``).
    """

    clip: np.ndarray
    explanations: list[attribution.Explanation]
    class_names: tuple[str, ...]
    files: dict[str, str]


def _class_index(target: str | int | None, class_names: Sequence[str]) -> int | None:
    if target is None or isinstance(target, (int, np.integer)):
        if target is not None and not 0 <= int(target) < len(class_names):
            raise ValueError(
                f"Class index {target} is out of range: the model has {len(class_names)} classes."
            )
        return None if target is None else int(target)
    if target in class_names:
        return list(class_names).index(target)
    if str(target).isdigit():
        return _class_index(int(target), class_names)
    raise ValueError(f"Unknown class {target!r}. The model's classes: {list(class_names)}")


def explain_video(
    video: str | os.PathLike,
    model_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    target: str | int | None = None,
    methods: Sequence[str] = ("gradcam", "guided_gradcam", "activations"),
    layer: str | None = None,
    view: int = 0,
    clip_config: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    max_frames: int = 8,
    fps: float = 8.0,
) -> VideoExplanation:
    """Explains `target` (a class name or index; default: the predicted class) on one
    evaluation view of `video`.

    The view is one of those evaluation scores (`kvideo.data.views.video_views`: clips
    along time times test crops, clip-major), with the model's own clip config
    (`clip_config.json` beside a `.keras` model, as `kvideo.detection.load_model_spec`
    finds it). Writes ``<video stem>_explained.png`` (contact sheet),
    ``<video stem>_explained.gif`` and ``<video stem>_explained.json`` (classes,
    probabilities, the share of each method's mass on every frame) under `output_dir`.
    """
    import tensorflow as tf

    from kvideo.data.views import video_views
    from kvideo.detection.model import load_model_spec
    from kvideo.io.decode import read_video

    for method in methods:
        if method not in attribution.METHODS:
            raise ValueError(
                f"Unknown method. Choose from {attribution.METHODS}. Received: {method!r}"
            )
    model_path = pathlib.Path(model_path)
    if model_path.suffix != ".keras" or not model_path.is_file():
        raise ValueError(
            f"`model_path` must be a `.keras` file (explanations need the Keras model's "
            f"layers; a SavedModel has none). Received: {os.fspath(model_path)!r}"
        )
    model = keras.models.load_model(model_path, compile=False)
    spec = load_model_spec(model_path, model, clip_config=clip_config, labels=labels)
    index = _class_index(target, spec.class_names)
    frames, _ = read_video(video)
    views = video_views(tf.convert_to_tensor(frames), spec.clip_sampling, spec.augmentation)
    if not 0 <= view < views.shape[0]:
        raise ValueError(
            f"`view` must be in [0, {views.shape[0]}) (clips x test crops). Received: view={view}"
        )
    clip = views[view].numpy()
    explanations = []
    for method in methods:
        explanation = attribution.explain(model, clip, method, index, layer)
        index = explanation.class_index  # the others explain the same class
        explanations.append(explanation)

    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = pathlib.Path(video).stem + "_explained"
    files = {
        "sheet": str(output_dir / f"{stem}.png"),
        "gif": str(output_dir / f"{stem}.gif"),
        "summary": str(output_dir / f"{stem}.json"),
    }
    render.save_contact_sheet(
        files["sheet"], clip, explanations, spec.class_names, max_frames=max_frames
    )
    render.save_gif(files["gif"], clip, explanations, fps=fps)
    first = explanations[0]
    summary = {
        "video": os.fspath(video),
        "model": os.fspath(model_path),
        "view": view,
        "explained_class": spec.class_names[first.class_index],
        "predicted_class": spec.class_names[first.predicted],
        "probabilities": {
            name: round(float(p), 6)
            for name, p in zip(spec.class_names, first.probabilities, strict=True)
        },
        "methods": [
            {
                "method": e.method,
                "layer": e.layer,
                "mass_per_frame": [round(float(v), 6) for v in _frame_shares(e.maps)],
            }
            for e in explanations
        ],
    }
    pathlib.Path(files["summary"]).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return VideoExplanation(clip, explanations, spec.class_names, files)


def _frame_shares(maps: np.ndarray) -> np.ndarray:
    mass = maps.sum(axis=(1, 2))
    return mass / mass.sum() if mass.sum() > 0 else mass
