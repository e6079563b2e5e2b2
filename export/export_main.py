r"""Exports a trained `.keras` video classifier as a TF Serving SavedModel and/or TFLite.

    python export/export_main.py \
        --model_path=runs/r2plus1d/model.keras --labels=runs/r2plus1d/labels.txt \
        --clip_config=runs/r2plus1d/clip_config.json \
        --output_dir=exports --model_name=r2plus1d --version=1

`--clip_config` is a JSON `{"clip_sampling": {...}, "augmentation": {...}}` with the
`kvideo.data.ClipSampling` / `Augmentation` fields used in evaluation (a previous export's
`assets.extra/kvideo_export.json` works as is). See `kvideo.export.export_from_files`.
"""

from __future__ import annotations

import os

from absl import app, flags, logging

_FORMATS = ("saved_model", "tflite")

_MODEL_PATH = flags.DEFINE_string("model_path", None, "Trained model, a `.keras` file.")
_LABELS = flags.DEFINE_string("labels", None, "labels.txt: one class name per line.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Root directory of the exports.")
_MODEL_NAME = flags.DEFINE_string("model_name", None, "TF Serving model name / file stem.")
_VERSION = flags.DEFINE_integer("version", 1, "Model version directory.", lower_bound=1)
_FORMATS_FLAG = flags.DEFINE_list("formats", list(_FORMATS), f"Any of {', '.join(_FORMATS)}.")
_CLIP_CONFIG = flags.DEFINE_string(
    "clip_config",
    None,
    "JSON with the evaluation `clip_sampling` and `augmentation`. Default: kvideo defaults "
    "with the clip length and crop size of the model's input.",
)
_TOP_K = flags.DEFINE_integer("top_k", 5, "Best classes returned by the SavedModel.", lower_bound=1)
_QUANTIZATION = flags.DEFINE_enum(
    "tflite_quantization", "float32", ["float32", "float16"], "TFLite weight type."
)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing SavedModel version.")

flags.mark_flags_as_required(["model_path", "labels", "output_dir", "model_name"])
flags.register_validator(
    "formats",
    lambda value: bool(value) and set(value) <= set(_FORMATS),
    message=f"--formats must be a non-empty comma-separated subset of {', '.join(_FORMATS)}.",
)
flags.register_validator(
    "model_path",
    lambda value: value is None or (value.endswith(".keras") and os.path.isfile(value)),
    message="--model_path must be an existing `.keras` file.",
)
flags.register_validator(
    "labels",
    lambda value: value is None or os.path.isfile(value),
    message="--labels must be an existing file.",
)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    # Imported here so that --help and flag errors answer without loading TensorFlow.
    from kvideo import export

    try:
        written = export.export_from_files(
            _MODEL_PATH.value,
            _LABELS.value,
            _OUTPUT_DIR.value,
            _MODEL_NAME.value,
            version=_VERSION.value,
            formats=_FORMATS_FLAG.value,
            clip_config=_CLIP_CONFIG.value,
            top_k=_TOP_K.value,
            tflite_quantization=_QUANTIZATION.value,
            overwrite=_OVERWRITE.value,
        )
    except ValueError as err:
        # Bad inputs (labels not matching the model, an existing version, ...) are the
        # user's to fix: report them as usage errors, not tracebacks.
        raise app.UsageError(str(err)) from err
    for kind, path in written.items():
        logging.info("Wrote %s: %s", kind, path)
        print(f"{kind}: {path}")


if __name__ == "__main__":
    app.run(main)
