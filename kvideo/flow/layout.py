"""Flow images on disk: ``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` in a video's folder.

This is the layout of TSN's dense_flow and mmaction2's denseflow, in which flow of common
datasets is distributed: one single-channel 8-bit image per component and frame pair,
numbered from 1. File ``00001`` holds flow 0, from frame 0 to frame 1 (``img_00001.jpg``
to ``img_00002.jpg`` in the same layout), so a video of ``n`` frames has ``n - 1`` of each.
Codes follow `kvideo.flow.quantize`.

JPEG or PNG follows the template's suffix; JPEG is the default, as in the common layout.
PNG is lossless. JPEG at quality 95 (OpenCV's default, which dense_flow used) adds an
error, measured by `benchmarks/flow_extraction.py` on flow of generated 340x256 video:
0.03-0.06 codes mean absolute error (under 0.01 px at bound 20), 1-2 codes at the 99.9th
percentile, at most 7 codes (1.1 px) at TV-L1's motion edges; files half the size of PNG
(6-8 KB against 11-17 KB per x/y pair) that encode and decode 2-4x faster. Flow of real
footage has more fine structure than this and will lose somewhat more.
"""

from __future__ import annotations

import os
import pathlib
import re

import cv2
import numpy as np

DEFAULT_TEMPLATE = "flow_{axis}_{index:05d}.jpg"
DEFAULT_JPEG_QUALITY = 95
AXES = ("x", "y")
_SUFFIXES = (".jpg", ".jpeg", ".png")


def encode_flow(flow: np.ndarray, suffix: str = ".jpg", quality: int = DEFAULT_JPEG_QUALITY):
    """One quantised flow field ``(height, width, 2)`` uint8 -> ``(x_bytes, y_bytes)``.

    Each component becomes a single-channel (grey) image; `suffix` is ``".jpg"`` or
    ``".png"``, `quality` the JPEG quality (ignored for PNG).
    """
    _check_flow(flow, ndim=3)
    _check_suffix(suffix)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
        raise ValueError(f"JPEG `quality` must be an int in [0, 100]. Received: {quality=!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix != ".png" else []
    encoded = []
    for axis in range(2):
        ok, buffer = cv2.imencode(suffix, np.ascontiguousarray(flow[..., axis]), params)
        if not ok:
            raise ValueError(f"Encoding a flow image as {suffix} failed. Shape: {flow.shape}")
        encoded.append(buffer.tobytes())
    return tuple(encoded)


def decode_flow(x_image: bytes, y_image: bytes) -> np.ndarray:
    """The encoded x and y images of one flow field -> ``(height, width, 2)`` uint8 codes.

    Colour images are read as grey (datasets that stored three equal channels read back
    exactly).
    """
    planes = [_decode_image(image, name) for image, name in ((x_image, "x"), (y_image, "y"))]
    if planes[0].shape != planes[1].shape:
        raise ValueError(
            f"Flow x and y images differ in size: {planes[0].shape} vs {planes[1].shape}"
        )
    return np.stack(planes, axis=-1)


def flow_file_name(axis: str, index: int, template: str = DEFAULT_TEMPLATE) -> str:
    """The file name of component `axis` ("x" or "y") of flow `index` (0-based).

    The name carries ``index + 1``: flow 0 is ``flow_x_00001.jpg``.
    """
    return template.format(axis=axis, index=index + 1)


def write_flow_images(
    folder: str | os.PathLike,
    flow: np.ndarray,
    *,
    template: str = DEFAULT_TEMPLATE,
    quality: int = DEFAULT_JPEG_QUALITY,
    first_index: int = 0,
) -> None:
    """Writes quantised flow ``(pairs, height, width, 2)`` uint8 as x/y images in `folder`.

    Flow ``i`` of the array goes to the files of index ``first_index + i`` (named
    ``first_index + i + 1``), so a long video can be written in pieces. The folder is
    created if needed; existing files of the same names are replaced.
    """
    _check_flow(flow, ndim=4)
    suffix = _template_suffix(template)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for offset, field in enumerate(flow):
        for axis, data in zip(AXES, encode_flow(field, suffix, quality), strict=True):
            (folder / flow_file_name(axis, first_index + offset, template)).write_bytes(data)


def read_flow_images(
    folder: str | os.PathLike,
    indices=None,
    *,
    template: str = DEFAULT_TEMPLATE,
) -> np.ndarray:
    """Reads flow images of a video's folder as ``(len(indices), height, width, 2)`` uint8.

    Args:
        folder: The video's folder.
        indices: 0-based flow indices (flow ``i`` is in the files numbered ``i + 1``), in
            any order and with repeats; ``None`` reads all of them (`count_flow_images`).
        template: File name pattern with ``{axis}`` ("x"/"y") and ``{index}`` (1-based).

    Raises:
        FileNotFoundError: naming the first missing file.
        ValueError: for an undecodable image or x/y images of different sizes.
    """
    _template_suffix(template)
    folder = pathlib.Path(folder)
    if indices is None:
        indices = range(count_flow_images(folder, template=template))
    fields = []
    for index in indices:
        paths = [folder / flow_file_name(axis, int(index), template) for axis in AXES]
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(f"Missing flow image {path} (flow index {index})")
        fields.append(decode_flow(paths[0].read_bytes(), paths[1].read_bytes()))
    if not fields:
        raise ValueError(f"No flow images to read in {folder} (indices={indices!r})")
    shapes = {field.shape for field in fields}
    if len(shapes) > 1:
        raise ValueError(f"Flow images in {folder} differ in size: {sorted(shapes)}")
    return np.stack(fields)


def count_flow_images(folder: str | os.PathLike, *, template: str = DEFAULT_TEMPLATE) -> int:
    """Number of flow fields stored in `folder`: the x/y files numbered 1..n, both present.

    Raises ValueError if the x and y files are not the same numbers 1..n (a gap or a
    missing component means an incomplete extraction).
    """
    _template_suffix(template)
    folder = pathlib.Path(folder)
    numbers = {axis: _stored_numbers(folder, axis, template) for axis in AXES}
    expected = list(range(1, len(numbers["x"]) + 1))
    if numbers["x"] != expected or numbers["y"] != expected:
        raise ValueError(
            f"Flow images in {folder} are not numbered 1..n for both x and y: "
            f"x has {_summary(numbers['x'])}, y has {_summary(numbers['y'])}"
        )
    return len(expected)


def _stored_numbers(folder: pathlib.Path, axis: str, template: str) -> list[int]:
    # A regex built from the template: "flow_x_(\d+)\.jpg" for the default one.
    before, after = template.split("{index", 1)
    after = after.split("}", 1)[1]
    pattern = re.compile(
        re.escape(before.format(axis=axis)) + r"(\d+)" + re.escape(after.format(axis=axis))
    )
    names = os.listdir(folder) if folder.is_dir() else []
    return sorted(int(m.group(1)) for m in map(pattern.fullmatch, names) if m)


def _summary(numbers: list[int]) -> str:
    if not numbers:
        return "none"
    return f"{len(numbers)} files numbered {numbers[0]}..{numbers[-1]}"


def _template_suffix(template: str) -> str:
    if "{axis}" not in template or "{index" not in template:
        raise ValueError(
            "`template` must contain {axis} and {index} (e.g. 'flow_{axis}_{index:05d}.jpg'). "
            f"Received: {template=!r}"
        )
    suffix = pathlib.PurePath(template).suffix.lower()
    _check_suffix(suffix)
    return suffix


def _check_suffix(suffix: str) -> None:
    if suffix not in _SUFFIXES:
        raise ValueError(f"Flow images must be one of {_SUFFIXES}. Received: suffix={suffix!r}")


def _check_flow(flow: np.ndarray, ndim: int) -> None:
    shape = "(height, width, 2)" if ndim == 3 else "(pairs, height, width, 2)"
    if not isinstance(flow, np.ndarray) or flow.ndim != ndim or flow.shape[-1] != 2:
        raise ValueError(
            f"Quantised flow must be a uint8 array of shape {shape}. "
            f"Received: shape={getattr(flow, 'shape', None)}"
        )
    if flow.dtype != np.uint8:
        raise ValueError(
            f"Quantised flow must be uint8 (see kvideo.flow.quantize). Received: {flow.dtype}"
        )


def _decode_image(data: bytes, name: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"Cannot decode the flow {name} image ({len(data)} bytes)")
    return image
