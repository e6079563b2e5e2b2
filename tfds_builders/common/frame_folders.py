"""Videos held as folders of extracted frames (`<class>/<video>/img_00001.jpg ...`).

The `rawframes` layout of the PyTorch toolkits, and how some HMDB51/UCF101 copies are
shipped. A folder is a video when it holds image files (any common extension); its
frames are the images in natural order (`img_2` before `img_10`). Frames that are JPEG
already at the wanted size are stored as they are, byte for byte; others are decoded,
resized and encoded once. A folder with a missing frame (a gap in the numbering), or a
frame that is empty or does not decode, is a bad video: skipped and reported like a video
file that does not decode (`video_examples`).

Flow images beside the frames (``flow_x_00001.jpg`` / ``flow_y_00001.jpg``, the layout
of TSN's dense_flow and mmaction2, `kvideo.flow.layout`) are not frames. Flow configs
read them as they are (`folder_flow`); a folder without them gets its flow computed from
its frames.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterator

import cv2
import numpy as np

from kvideo import io as kio
from kvideo.data import storage

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})

_NUMBERS = re.compile(r"(\d+)")
# Flow images of the common layout (`kvideo.flow.layout.DEFAULT_TEMPLATE`), in any case.
_FLOW_IMAGE = re.compile(r"flow_[xy]_\d+\.(jpe?g|png)", re.IGNORECASE)


def natural_key(name: str) -> list:
    """Sort key that orders the numbers inside names by value: img_2 < img_10."""
    return [int(part) if part.isdigit() else part.lower() for part in _NUMBERS.split(name)]


def is_frame_folder(path: pathlib.Path) -> bool:
    """Whether `path` is a folder holding at least one image file."""
    return path.is_dir() and any(frame_files_unchecked(path))


def frame_files_unchecked(folder: pathlib.Path) -> Iterator[pathlib.Path]:
    """The image files of a folder, in no particular order."""
    return (
        p
        for p in folder.iterdir()
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not p.name.startswith(".")
        and not _FLOW_IMAGE.fullmatch(p.name)
    )


def frame_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """The frames of a folder in natural order.

    Raises:
        kvideo.io.VideoDecodeError: no frame, or a gap in the frame numbers (a missing
            frame), naming the folder.
    """
    files = sorted(frame_files_unchecked(folder), key=lambda p: natural_key(p.name))
    if not files:
        raise kio.VideoDecodeError(str(folder), "the folder has no frame images")
    numbers = [_frame_number(p) for p in files]
    if all(n is not None for n in numbers):
        for position in range(1, len(files)):
            previous, number, path = numbers[position - 1], numbers[position], files[position]
            if number != previous + 1:
                raise kio.VideoDecodeError(
                    str(folder),
                    f"frame {previous + 1} is missing (the frame after number {previous} is "
                    f"{path.name})",
                )
    return files


def _frame_number(path: pathlib.Path) -> int | None:
    numbers = _NUMBERS.findall(path.stem)
    return int(numbers[-1]) if numbers else None


def check_folder(folder: pathlib.Path) -> None:
    """Raises `VideoDecodeError` unless the folder's frames are complete and the first
    one decodes (the cheap check made before splits are drawn)."""
    first = frame_files(folder)[0]
    _decode(first)


def _decode(path: pathlib.Path) -> np.ndarray:
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise kio.VideoDecodeError(str(path), "the frame image is empty or does not decode")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a JPEG's start-of-frame marker, None if it has none."""
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        # SOF0-SOF15 carry the size, except DHT (C4), JPG (C8) and DAC (CC).
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[position + 5 : position + 7], "big")
            width = int.from_bytes(data[position + 7 : position + 9], "big")
            return height, width
        position += 2 + length
    return None


def encode_folder(
    folder: pathlib.Path, short_side: int | None, quality: int, fps: float
) -> tuple[list[bytes], kio.VideoInfo]:
    """The JPEG frames to store for a frame folder, and its `VideoInfo`.

    Raises:
        kvideo.io.VideoDecodeError: a missing, empty or undecodable frame, or frames of
            different sizes.
    """
    encoded = []
    size = None
    for path in frame_files(folder):
        data = path.read_bytes()
        frame_size = _jpeg_size(data) if path.suffix.lower() in JPEG_EXTENSIONS else None
        wanted = None
        if frame_size is not None and short_side is not None:
            wanted = storage.short_side_size(*frame_size, short_side)
        if frame_size is not None and frame_size == (wanted or frame_size):
            # Already JPEG at the stored size: keep the file as it is, undecoded. An empty
            # or cut file is caught here by its markers, as the pipeline's gate would.
            if not (data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")):
                raise kio.VideoDecodeError(str(path), "the JPEG frame is truncated")
            encoded.append(data)
        else:
            frame = _decode(path)
            frame_size = frame.shape[:2]
            encoded.append(storage.encode_jpeg_frame(frame, short_side, quality))
        if size is None:
            size = frame_size
        elif frame_size != size:
            raise kio.VideoDecodeError(
                str(path), f"frame size {frame_size} differs from the first frame's {size}"
            )
    height, width = size
    count = len(encoded)
    info = kio.VideoInfo(
        num_frames=count, fps=fps, height=height, width=width, duration=count / fps
    )
    return encoded, info


def folder_flow(folder: pathlib.Path, num_frames: int, config) -> tuple[list[bytes], list[bytes]]:
    """The flow images to store for a frame folder: its own, or computed from its frames.

    A folder with ``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` images has them read as they
    are: JPEG files already at the size `config.short_side` gives are kept byte for byte;
    others are decoded, resized with their displacements rescaled to the new size
    (`kvideo.data.storage.resize_flow`) and encoded as JPEG. They must number one fewer
    than the frames (flow i from frame i to i + 1) or as many (extractors that write one
    per frame); the pipeline samples within what is stored. A folder without flow images
    has its flow computed from its frames with `config` (`storage.FlowEncoder`).

    Raises:
        kvideo.io.VideoDecodeError: flow images not numbered 1..n for both x and y, a count
            that does not fit the frames, or an image that does not decode.
    """
    from kvideo import flow as kflow

    try:
        count = kflow.count_flow_images(folder)
    except ValueError as err:
        raise kio.VideoDecodeError(str(folder), str(err)) from err
    if count == 0:
        encoder = storage.FlowEncoder(config)
        for path in frame_files(folder):
            encoder.add(_decode(path))
        return encoder.images
    if count not in (num_frames - 1, num_frames):
        raise kio.VideoDecodeError(
            str(folder),
            f"{count} flow fields for {num_frames} frames (expected {num_frames - 1}: flow i "
            "goes from frame i to i + 1)",
        )
    x_images, y_images = [], []
    for index in range(count):
        pair = [folder / kflow.flow_file_name(axis, index) for axis in ("x", "y")]
        data = [path.read_bytes() for path in pair]
        sizes = [_jpeg_size(d) for d in data]
        wanted = None
        if sizes[0] is not None and config.short_side is not None:
            wanted = storage.short_side_size(*sizes[0], config.short_side)
        whole = all(d.startswith(b"\xff\xd8") and d.endswith(b"\xff\xd9") for d in data)
        if whole and sizes[0] is not None and sizes[0] == sizes[1] == (wanted or sizes[0]):
            x_image, y_image = data  # already what would be stored: keep the files
        else:
            try:
                codes = kflow.decode_flow(*data)
            except ValueError as err:
                raise kio.VideoDecodeError(str(pair[0]), str(err)) from err
            if config.short_side is not None:
                codes = storage.resize_flow(codes, config.short_side)
            x_image, y_image = kflow.encode_flow(codes, ".jpg", storage.FLOW_JPEG_QUALITY)
        x_images.append(x_image)
        y_images.append(y_image)
    return x_images, y_images
