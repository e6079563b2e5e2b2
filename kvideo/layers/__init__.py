"""Custom Keras layers for kvideo models.

- `ClipPreprocessing`: the first layer of a classifier; uint8 clips of any size and any
  channel count -> resized to `crop_size`, normalised.
- `sequence.py`: a clip as a sequence of frames: `FramesToBatch` / `BatchToFrames` (a 2D
  network on every frame), `SpatialAverage`, `SegmentConsensus` (TSN), `ClassToken`,
  `PositionEmbedding`, `WeightedAverage` (score fusion).
- `Pooling3D`: 3D max/average pooling from builtin ops (what ``MaxPooling3D`` and
  ``AveragePooling3D`` compute, without their Flex ops).

Every layer lowers to builtin TFLite ops. Avoid ``MaxPool3D`` (a Select TF op in TFLite)
and Keras's rolled ``LSTM``/``GRU`` (TensorList ops): the recurrent head unrolls them.
"""

from kvideo.layers.clip_preprocessing import KINETICS_MEAN, KINETICS_STD, ClipPreprocessing
from kvideo.layers.pooling import Pooling3D
from kvideo.layers.sequence import (
    CONSENSUS_MODES,
    BatchToFrames,
    ClassToken,
    FramesToBatch,
    PositionEmbedding,
    SegmentConsensus,
    SpatialAverage,
    WeightedAverage,
)

__all__ = [
    "CONSENSUS_MODES",
    "KINETICS_MEAN",
    "KINETICS_STD",
    "BatchToFrames",
    "ClassToken",
    "ClipPreprocessing",
    "FramesToBatch",
    "Pooling3D",
    "PositionEmbedding",
    "SegmentConsensus",
    "SpatialAverage",
    "WeightedAverage",
]
