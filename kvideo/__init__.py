"""kvideo: video action recognition with Keras 3 and TensorFlow.

The package is laid out as the data flows::

    video file -> kvideo.io (decode) -> kvideo.data (sample, augment, batch)
               -> kvideo.models (+ kvideo.layers) -> kvideo.training -> kvideo.export

Subpackages are imported explicitly (``import kvideo.io``) so that decoding a video
never pulls in TensorFlow. Still, ``import kvideo`` is enough for
``keras.models.load_model`` to find kvideo's layers, models and schedules in a saved
``.keras`` file: they are registered as soon as Keras is imported (now, if it already is).
"""

from kvideo._lazy import after_import

__version__ = "0.1.0"

#: Every module that registers Keras objects under the "kvideo" package name.
KERAS_MODULES = (
    "kvideo.layers",
    "kvideo.models.video_classifier",
    "kvideo.models.multi_head",
    "kvideo.models.resnet3d.resnet3d_backbone",
    "kvideo.models.per_frame.resnet2d_backbone",
    "kvideo.models.inflated.layers",
    "kvideo.models.c3d.c3d_backbone",
    "kvideo.models.timesformer.timesformer_backbone",
    "kvideo.models.videomae.videomae_backbone",
    "kvideo.training.schedules",
    "kvideo.training.optimizers",
)


def register_keras_objects() -> None:
    """Imports every module of `KERAS_MODULES`, registering their objects with Keras."""
    import importlib

    for module in KERAS_MODULES:
        importlib.import_module(module)


after_import("keras", register_keras_objects)
