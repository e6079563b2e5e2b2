r"""Shows where a trained model looks in a video: Grad-CAM, guided backpropagation and
activation maps drawn on the clip it scores.

    python export/explain_main.py --model=runs/mine/model.keras --video=a.avi \
        --output_dir=explained
    python export/explain_main.py --model=runs/mine/model.keras --video=a.avi \
        --output_dir=explained --target=brush_hair --methods=gradcam,guided_backprop \
        --layer=stage3_block1_out --view=2

`--model` is a `.keras` file (its run's `clip_config.json` and `labels.txt` are read from
beside it, as export/detect_main.py does). Writes `<video>_explained.png` (a contact
sheet: the frames, then one row of overlays per method), `<video>_explained.gif` and
`<video>_explained.json` under `--output_dir`. See `kvideo.explain.explain_video`.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

from absl import app, flags  # noqa: E402

_METHODS = ("gradcam", "guided_backprop", "guided_gradcam", "activations")

_MODEL = flags.DEFINE_string("model", None, "A `.keras` model of a training run.")
_VIDEO = flags.DEFINE_string("video", None, "The video file to explain.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where the sheet, GIF and JSON go.")
_TARGET = flags.DEFINE_string(
    "target", None, "The class to explain, by name or index. Default: the predicted class."
)
_METHODS_FLAG = flags.DEFINE_list(
    "methods", ["gradcam", "guided_gradcam", "activations"], f"Any of {', '.join(_METHODS)}."
)
_LAYER = flags.DEFINE_string(
    "layer", None, "Backbone layer for Grad-CAM and activations. Default: its last feature map."
)
_VIEW = flags.DEFINE_integer(
    "view", 0, "Which evaluation view (clips x test crops, clip-major).", lower_bound=0
)
_CLIP_CONFIG = flags.DEFINE_string(
    "clip_config", None, "The model's evaluation clip config JSON, if not beside the model."
)
_LABELS = flags.DEFINE_string("labels", None, "The model's labels file, if not beside it.")
_MAX_FRAMES = flags.DEFINE_integer("max_frames", 8, "Frames in the contact sheet.", lower_bound=1)
_FPS = flags.DEFINE_float("fps", 8.0, "Frames per second of the GIF.", lower_bound=0.1)

flags.mark_flags_as_required(["model", "video", "output_dir"])
flags.register_validator(
    "model",
    lambda value: value is None or (value.endswith(".keras") and os.path.isfile(value)),
    message="--model must be an existing `.keras` file.",
)
flags.register_validator(
    "video", lambda value: value is None or os.path.isfile(value), message="--video must exist."
)
flags.register_validator(
    "methods",
    lambda values: bool(values) and all(v in _METHODS for v in values),
    message=f"--methods must be a list of {', '.join(_METHODS)}.",
)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    # Imported here so that --help and flag errors answer without loading TensorFlow.
    from kvideo.explain import explain_video

    try:
        result = explain_video(
            _VIDEO.value,
            _MODEL.value,
            _OUTPUT_DIR.value,
            target=_TARGET.value,
            methods=_METHODS_FLAG.value,
            layer=_LAYER.value,
            view=_VIEW.value,
            clip_config=_CLIP_CONFIG.value,
            labels=_LABELS.value,
            max_frames=_MAX_FRAMES.value,
            fps=_FPS.value,
        )
    except ValueError as err:
        raise app.UsageError(str(err)) from err
    first = result.explanations[0]
    names = result.class_names
    print(
        f"explained {names[first.class_index]} "
        f"(p={first.probabilities[first.class_index]:.3f}), predicted "
        f"{names[first.predicted]} (p={first.probabilities[first.predicted]:.3f})"
    )
    for name, path in result.files.items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    app.run(main)
