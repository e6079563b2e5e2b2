"""The flow builder configs every kvideo builder offers, and what their metadata says.

A flow config stores, beside each video's JPEG frames, its quantised optical flow as
``flow_x`` / ``flow_y`` JPEG sequences (`kvideo.data.storage`), computed from the frames
as the build decodes them (or read from a frame folder's own flow images). Two per
builder:

* ``*_jpeg_flow``: DIS at OpenCV's "medium" preset. The default for practicality: on
  this project's 2-core machine a 340x256 pair takes 13 ms on one thread (TV-L1 589 ms,
  45x slower), so UCF101's 2.5 M pairs take hours, not weeks (`benchmarks/README.md`,
  `benchmarks/flow_extraction.py`). Of the DIS presets, medium adds variational
  refinement, the most accurate of the three; ultrafast and fast are 13x and 6x quicker.
* ``*_jpeg_tvl1``: TV-L1, the method of the two-stream and TSN papers, for reproducing
  them: about 0.6 s a pair per core (UCF101 on two cores: over a week).

Both clip flow at 20 px (TSN's bound; one 8-bit code is 0.157 px) and compute it on the
frames as stored (short side 128 by default), so the flow's pixels are the stored frames'
pixels and a crop window fits both streams unscaled. A config of your own takes any
`kvideo.flow.FlowConfig` (method, bound, short side, OpenCV options):

    VideoFolderConfig(name="jpeg_farneback", flow=FlowConfig("farneback", short_side=128))

The build runs one video per core (threads: PyAV decoding, JPEG encoding and OpenCV's
flow all release the GIL), or one per Beam worker.
"""

from __future__ import annotations

from typing import Any

import tensorflow_datasets as tfds

from kvideo.data import storage

#: Flow method of the ``*_jpeg_flow`` configs (see the module docstring).
DEFAULT_METHOD = "dis_medium"


def flow_config(method: str, short_side: int) -> Any:
    """A `kvideo.flow.FlowConfig` of `method` at TSN's bound, on frames at `short_side`."""
    from kvideo.flow import DEFAULT_BOUND, FlowConfig

    return FlowConfig(method=method, bound=DEFAULT_BOUND, short_side=short_side)


def named_flow_configs(short_side: int) -> list[tuple[str, Any, str]]:
    """`(config name suffix, FlowConfig, description)` of the two flow configs."""
    return [
        (
            "jpeg_flow",
            flow_config(DEFAULT_METHOD, short_side),
            f"short side {short_side}, and optical flow (DIS medium, bound 20 px) as x/y JPEG.",
        ),
        (
            "jpeg_tvl1",
            flow_config("tvl1", short_side),
            f"short side {short_side}, and TV-L1 optical flow (bound 20 px) as x/y JPEG "
            "(slow: about 0.6 s a frame pair per core).",
        ),
    ]


def metadata(config: Any) -> tfds.core.MetadataDict:
    """The dataset metadata of a builder config's flow (`storage.flow_metadata`), if any."""
    metadata = tfds.core.MetadataDict()
    if config is not None:
        metadata["flow"] = storage.flow_metadata(config)
    return metadata
