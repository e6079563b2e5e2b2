"""Explanations of video models: where and when a model looks (attribution.py), drawn on
the clip's frames (render.py), for a video file (video.py; `export/explain_main.py`)."""

from kvideo.explain.attribution import (
    METHODS,
    Explanation,
    TappedModel,
    activation_maps,
    explain,
    grad_cam,
    guided_backprop,
    guided_grad_cam,
)
from kvideo.explain.render import contact_sheet_figure, overlay, save_contact_sheet, save_gif
from kvideo.explain.video import VideoExplanation, explain_video

__all__ = [
    "METHODS",
    "Explanation",
    "TappedModel",
    "VideoExplanation",
    "activation_maps",
    "contact_sheet_figure",
    "explain",
    "explain_video",
    "grad_cam",
    "guided_backprop",
    "guided_grad_cam",
    "overlay",
    "save_contact_sheet",
    "save_gif",
]
