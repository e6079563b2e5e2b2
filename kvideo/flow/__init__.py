"""Optical flow for two-stream models: extraction, 8-bit quantisation, flow images on disk.

NumPy and OpenCV only (no TensorFlow)::

    config = FlowConfig(method="tvl1", bound=20, short_side=256)
    with FlowExtractor(config) as extractor:                  # worker processes
        codes = extractor.extract(frames)   # (frames, H, W, 3) uint8 -> (frames-1, h, w, 2) uint8
        extractor.extract_video("clip.avi", "flow/clip")      # flow_x_00001.jpg, flow_y_...
    pixels = dequantize(read_flow_images("flow/clip", [0, 1, 2]), config.bound)

* `config`: `FlowConfig` (method, bound, short_side, options), `METHODS`.
* `compute`: grey + resize (`prepare_frame`), the OpenCV algorithms, raw float flow.
* `quantize`: `quantize` / `dequantize` (the exact convention is stated there),
  `flip_flow_horizontally` (the reference for flipping flow in augmentation).
* `layout`: x/y images in memory (`encode_flow`, `decode_flow`) and on disk
  (`write_flow_images`, `read_flow_images`, `count_flow_images`): the
  ``flow_x_00001.jpg`` layout of TSN's dense_flow and mmaction2, 1-based.
* `extract`: `FlowExtractor` / `extract_flow`: one video on all cores (chunks of frame
  pairs to worker processes, or a stream); `extract_videos`: many video files, one per
  worker process (the way to extract a dataset).

Flow ``i`` goes from frame ``i`` to frame ``i + 1``; channel 0 is x (positive to the
right), channel 1 is y (positive down), in pixels of the resized frames. Resizing a flow
image changes the pixel unit: scale the displacements by the same factor.
"""

from kvideo.flow.compute import create_algorithm, pairwise_flow, prepare_frame, resized_size
from kvideo.flow.config import (
    DEFAULT_BOUND,
    DEFAULT_SHORT_SIDE,
    METHOD_OPTIONS,
    METHODS,
    FlowConfig,
)
from kvideo.flow.extract import (
    FlowExtractor,
    VideoFlowResult,
    default_num_workers,
    extract_flow,
    extract_videos,
)
from kvideo.flow.layout import (
    DEFAULT_TEMPLATE,
    count_flow_images,
    decode_flow,
    encode_flow,
    flow_file_name,
    read_flow_images,
    write_flow_images,
)
from kvideo.flow.quantize import ZERO_FLOW_CODE, dequantize, flip_flow_horizontally, quantize

__all__ = [
    "DEFAULT_BOUND",
    "DEFAULT_SHORT_SIDE",
    "DEFAULT_TEMPLATE",
    "METHODS",
    "METHOD_OPTIONS",
    "ZERO_FLOW_CODE",
    "FlowConfig",
    "FlowExtractor",
    "VideoFlowResult",
    "count_flow_images",
    "create_algorithm",
    "decode_flow",
    "default_num_workers",
    "dequantize",
    "encode_flow",
    "extract_flow",
    "extract_videos",
    "flip_flow_horizontally",
    "flow_file_name",
    "pairwise_flow",
    "prepare_frame",
    "quantize",
    "read_flow_images",
    "resized_size",
    "write_flow_images",
]
