"""Custom Keras layers for kvideo models.

- `ClipPreprocessing`: the first layer of a classifier; uint8 clips of any size ->
  resized to `crop_size`, normalised.

The ResNet-3D family needs no other: it is built from stock ``keras.layers`` that lower to
builtin TFLite ops (Conv3D, ZeroPadding3D, BatchNormalization, ReLU, Add,
GlobalAveragePooling3D, Dense). Avoid ``MaxPool3D`` (Select TF op in TFLite).
"""

from kvideo.layers.clip_preprocessing import KINETICS_MEAN, KINETICS_STD, ClipPreprocessing

__all__ = ["KINETICS_MEAN", "KINETICS_STD", "ClipPreprocessing"]
