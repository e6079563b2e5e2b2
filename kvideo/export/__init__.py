"""Export trained video classifiers for serving.

- `export_saved_model`: a TF Serving SavedModel whose default signature takes raw uint8
  frames and runs the evaluation transform, the model and view averaging in-graph.
- `export_tflite`: a builtin-ops-only `.tflite` on uint8 clips cropped to `crop_size`
  (float32 or float16 weights); `check_tflite` compares it with Keras in the LiteRT
  interpreter.
- `export_from_files`: both from a saved `.keras` model and a labels file (what
  `export/export_main.py` calls).
"""

from __future__ import annotations

from kvideo.data.config import load_clip_config
from kvideo.export._common import read_labels
from kvideo.export.from_files import FORMATS, export_from_files
from kvideo.export.saved_model import (
    CLIPS_SIGNATURE,
    CONTRACT_FILENAME,
    SERVING_SIGNATURE,
    export_saved_model,
    frames_to_views,
)
from kvideo.export.tflite import QUANTIZATIONS, check_tflite, export_tflite

__all__ = [
    "CLIPS_SIGNATURE",
    "CONTRACT_FILENAME",
    "FORMATS",
    "QUANTIZATIONS",
    "SERVING_SIGNATURE",
    "check_tflite",
    "export_from_files",
    "export_saved_model",
    "export_tflite",
    "frames_to_views",
    "load_clip_config",
    "read_labels",
]
