"""kvideo: video action recognition with Keras 3 and TensorFlow.

The package is laid out as the data flows::

    video file -> kvideo.io (decode) -> kvideo.data (sample, augment, batch)
               -> kvideo.models (+ kvideo.layers) -> kvideo.training -> kvideo.export

Subpackages are imported explicitly (``import kvideo.io``) so that decoding a video
never pulls in TensorFlow.
"""

__version__ = "0.1.0"
