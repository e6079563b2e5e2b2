"""How a video example is stored in a TFDS dataset, shared by every kvideo builder.

Two storages, chosen per builder config:

* ``"jpeg"``: ``frames`` is a sequence of JPEG-encoded frames resized to a fixed short
  side. Measured here: ~5x smaller than PNG and 3-8x faster to decode, and a pipeline can
  skip decoding and decode only the sampled frames (``tfds.decode.SkipDecoding``).
* ``"bytes"``: ``video`` holds the original encoded file (smallest on disk); the pipeline
  decodes the sampled frames with ``kvideo.io`` at read time, which costs CPU. Beside it,
  ``keyframes`` (int64 ``(k, 2)``: display index, seek target) and ``timestamps`` (int64,
  one per frame) hold the file's `kvideo.io.SeekTable`, recorded while the build decoded
  the file, so that a clip is decoded from the last keyframe before it instead of from
  frame 0. Both are empty when the file allows no exact seek, and datasets built before
  they existed lack them: either way reads decode from frame 0 (`seek_table_of`).

Every example also stores ``video_id``, ``label``, ``num_frames`` (the *decodable* frame
count, counted once when the dataset is built because container headers lie) and ``fps``.

Optical flow (``flow=True``, JPEG storage only): beside ``frames``, ``flow_x`` and
``flow_y`` hold the quantised flow of the same video as two sequences of single-channel
JPEG images, flow i (from frame i to frame i + 1) at position i, ``num_frames - 1`` of
each when the build computed them. This is the exchange format of two-stream datasets
(``flow_x_00001.jpg`` / ``flow_y_00001.jpg``, `kvideo.flow.layout`), kept per example:

* one example holds both streams, so the pipeline takes RGB frames and flow fields of a
  clip from the same frame indices, and decodes only the sampled ones (as for frames);
* flow images that come with a dataset (frame folders) are stored byte for byte;
* one grey JPEG per component, not a 2-channel encoding: JPEG has no 2-channel form, and
  packing x and y into the colour channels of one JPEG would mix them through chroma
  subsampling and the colour transform; PNG would be lossless but twice the size
  (`kvideo.flow.layout` has the measured errors of JPEG at quality 95: under 0.01 px on
  average).

How the flow was computed (method, bound, short side) is in the dataset's metadata under
``"flow"`` (`flow_metadata`).
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import tensorflow_datasets as tfds

from kvideo import io as kio

JPEG = "jpeg"
BYTES = "bytes"
STORAGES = (JPEG, BYTES)

FRAMES_KEY = "frames"
VIDEO_KEY = "video"
KEYFRAMES_KEY = "keyframes"
TIMESTAMPS_KEY = "timestamps"
FLOW_X_KEY = "flow_x"
FLOW_Y_KEY = "flow_y"
FLOW_KEYS = (FLOW_X_KEY, FLOW_Y_KEY)
#: JPEG quality of flow images: dense_flow's (OpenCV's default), `kvideo.flow.layout`'s.
FLOW_JPEG_QUALITY = 95


def video_features(
    storage: str,
    class_names: list[str] | None = None,
    extra: Mapping[str, tfds.features.FeatureConnector] | None = None,
    flow: bool = False,
) -> tfds.features.FeaturesDict:
    """The TFDS feature spec of a video example for `storage` ("jpeg" or "bytes").

    `class_names` may be left out when the classes are only known while building (class
    folders); the builder then sets them on the `label` feature before writing. `extra`
    adds dataset-specific features (e.g. UCF101's group and clip numbers). `flow` adds
    ``flow_x`` and ``flow_y`` (JPEG storage only; see the module docstring).
    """
    check_storage(storage)
    if flow and storage != JPEG:
        raise ValueError(
            "Flow is stored beside JPEG frames only (storage='jpeg'). "
            f"Received: storage={storage!r}, flow=True"
        )
    features = {
        "video_id": tfds.features.Text(),
        "label": tfds.features.ClassLabel(names=class_names),
        "num_frames": tfds.features.Scalar(dtype=np.int32, doc="Decodable frames."),
        "fps": tfds.features.Scalar(dtype=np.float32),
    }
    if storage == JPEG:
        features[FRAMES_KEY] = tfds.features.Sequence(
            tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg")
        )
    else:
        features[VIDEO_KEY] = tfds.features.Tensor(shape=(), dtype=np.object_)
        features[KEYFRAMES_KEY] = tfds.features.Tensor(
            shape=(None, 2), dtype=np.int64, doc="(display index, seek target) per keyframe."
        )
        features[TIMESTAMPS_KEY] = tfds.features.Tensor(
            shape=(None,), dtype=np.int64, doc="Presentation timestamp of every frame."
        )
    if flow:
        for key in FLOW_KEYS:
            features[key] = tfds.features.Sequence(
                tfds.features.Image(shape=(None, None, 1), encoding_format="jpeg"),
                doc=f"Quantised flow, {key[-1]} component: field i from frame i to i + 1.",
            )
    features.update(extra or {})
    return tfds.features.FeaturesDict(features)


def has_flow(features: Mapping) -> bool:
    """Whether a dataset's features (or an example's keys) hold stored flow."""
    return all(key in features for key in FLOW_KEYS)


def flow_metadata(config) -> dict:
    """How a dataset's flow was computed, as stored in its metadata under ``"flow"``: the
    `kvideo.flow.FlowConfig` fields (`method`, `bound` in px, `short_side`, `options`)."""
    return {
        "method": config.method,
        "bound": float(config.bound),
        "short_side": config.short_side,
        "options": [list(pair) for pair in config.options],
    }


def seek_table_arrays(table: kio.SeekTable | None) -> dict[str, np.ndarray]:
    """`{keyframes, timestamps}` arrays of an example from a `SeekTable` (empty if None)."""
    if table is None:
        return {
            KEYFRAMES_KEY: np.zeros((0, 2), np.int64),
            TIMESTAMPS_KEY: np.zeros((0,), np.int64),
        }
    return {
        KEYFRAMES_KEY: np.asarray(table.keyframes, np.int64).reshape(-1, 2),
        TIMESTAMPS_KEY: np.asarray(table.timestamps, np.int64),
    }


def seek_table_of(keyframes: np.ndarray, timestamps: np.ndarray) -> kio.SeekTable | None:
    """The `SeekTable` stored in an example, or None (decode from frame 0) if it has none."""
    if len(timestamps) == 0 or len(keyframes) == 0:
        return None
    return kio.SeekTable(
        keyframes=tuple((int(k), int(t)) for k, t in np.asarray(keyframes).reshape(-1, 2)),
        timestamps=tuple(np.asarray(timestamps).tolist()),
    )


def check_storage(storage: str) -> None:
    if storage not in STORAGES:
        raise ValueError(f"`storage` must be one of {STORAGES}. Received: storage={storage!r}")


def storage_of(features: tfds.features.FeaturesDict) -> str:
    """Which storage a dataset's features use."""
    if FRAMES_KEY in features:
        return JPEG
    if VIDEO_KEY in features:
        return BYTES
    raise ValueError(
        f"Not a kvideo video dataset: it has neither `{FRAMES_KEY}` nor `{VIDEO_KEY}`. "
        f"Received features: {list(features.keys())}"
    )


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """`(height, width)` scaled so that min(height, width) == short_side."""
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_short_side(frames: np.ndarray, short_side: int) -> np.ndarray:
    """Resizes `(frames, height, width, 3)` uint8 so that min(height, width) == short_side."""
    return np.stack([_resize_frame(frame, short_side) for frame in frames])


def _resize_frame(frame: np.ndarray, short_side: int) -> np.ndarray:
    height, width = frame.shape[:2]
    new_height, new_width = short_side_size(height, width, short_side)
    if (new_height, new_width) == (height, width):
        return frame
    # INTER_AREA averages when shrinking (no aliasing); linear when enlarging.
    interpolation = cv2.INTER_AREA if new_height < height else cv2.INTER_LINEAR
    return cv2.resize(frame, (new_width, new_height), interpolation=interpolation)


def encode_jpeg_frame(frame: np.ndarray, short_side: int | None = None, quality: int = 90) -> bytes:
    """Encodes one `(height, width, 3)` uint8 RGB frame as JPEG, resized to `short_side`."""
    if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            "`frame` must be uint8 of shape (height, width, 3). "
            f"Received: shape={frame.shape}, dtype={frame.dtype}"
        )
    if short_side is not None:
        frame = _resize_frame(frame, short_side)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"JPEG encoding failed for a frame of shape {frame.shape}")
    return buffer.tobytes()


def encode_jpeg_frames(
    frames: np.ndarray, short_side: int | None = None, quality: int = 90
) -> list[bytes]:
    """Encodes `(frames, height, width, 3)` uint8 RGB as a list of JPEG bytes."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            "`frames` must be uint8 of shape (frames, height, width, 3). "
            f"Received: shape={frames.shape}, dtype={frames.dtype}"
        )
    return [encode_jpeg_frame(frame, short_side, quality) for frame in frames]


def example_dict(
    video_id: str,
    label: int | str,
    frames: np.ndarray | list[bytes] | None,
    fps: float,
    storage: str,
    *,
    num_frames: int,
    video_bytes: bytes | None = None,
    short_side: int | None = None,
    seek_table: kio.SeekTable | None = None,
    extra: Mapping[str, object] | None = None,
    flow: tuple[list[bytes], list[bytes]] | None = None,
) -> dict:
    """One example in the layout of `video_features(storage)`.

    For "jpeg" storage `frames` is either a uint8 `(frames, height, width, 3)` array,
    encoded here, or the frames already JPEG-encoded (a list of bytes, e.g. from
    `encode_jpeg_frame` while decoding). For "bytes" storage `video_bytes` is the file and
    `seek_table` what `kvideo.io.probe(..., seek_table=True)` recorded for it. `flow` is
    `(x images, y images)`, encoded single-channel images (`kvideo.flow.encode_flow`),
    for a dataset with ``video_features(..., flow=True)``.
    """
    check_storage(storage)
    example = {"video_id": video_id, "label": label, "num_frames": num_frames, "fps": fps}
    if storage == JPEG:
        if isinstance(frames, np.ndarray):
            frames = encode_jpeg_frames(frames, short_side)
        example[FRAMES_KEY] = frames
    else:
        example[VIDEO_KEY] = video_bytes
        example.update(seek_table_arrays(seek_table))
    if flow is not None:
        x_images, y_images = flow
        if len(x_images) != len(y_images):
            raise ValueError(
                f"As many flow x as y images are needed. Received: {len(x_images)} x, "
                f"{len(y_images)} y"
            )
        example[FLOW_X_KEY], example[FLOW_Y_KEY] = list(x_images), list(y_images)
    example.update(extra or {})
    return example


class FlowEncoder:
    """Computes the quantised flow of a video frame by frame, as the build decodes it, and
    encodes each field as a pair of JPEG images (the `flow_x` / `flow_y` features).

    Flow ``i`` goes from frame ``i`` to ``i + 1``, on frames turned grey and resized to
    ``config.short_side`` (`kvideo.flow.prepare_frame`), clipped to ``config.bound`` px and
    quantised (`kvideo.flow.quantize`). One OpenCV algorithm object per encoder: make one
    per video (and thread). OpenCV releases the GIL while it computes, so the builds'
    threads, one video each, use every core.

        encoder = FlowEncoder(FlowConfig(method="dis_medium", short_side=128))
        for frame in frames:
            encoder.add(frame)
        x_images, y_images = encoder.images
    """

    def __init__(self, config, quality: int = FLOW_JPEG_QUALITY):
        from kvideo import flow

        self._flow = flow
        self.config = config
        self.quality = quality
        self._algorithm = flow.create_algorithm(config)
        self._previous: np.ndarray | None = None
        self._x: list[bytes] = []
        self._y: list[bytes] = []

    def add(self, frame: np.ndarray) -> None:
        """The next RGB frame, uint8 `(height, width, 3)`; computes the flow to it."""
        grey = self._flow.prepare_frame(frame, self.config.short_side)
        if self._previous is not None:
            if grey.shape != self._previous.shape:
                raise ValueError(
                    f"Frames change size mid-video: {self._previous.shape} then {grey.shape}"
                )
            field = self._algorithm.calc(self._previous, grey, None)
            codes = self._flow.quantize(field, self.config.bound)
            x_image, y_image = self._flow.encode_flow(codes, ".jpg", self.quality)
            self._x.append(x_image)
            self._y.append(y_image)
        self._previous = grey

    @property
    def images(self) -> tuple[list[bytes], list[bytes]]:
        """`(x images, y images)` so far, one pair per frame after the first.

        Raises:
            ValueError: before a second frame (a video of one frame has no flow).
        """
        if not self._x:
            raise ValueError("Flow needs at least 2 frames; the video has fewer.")
        return self._x, self._y


def resize_flow(codes: np.ndarray, short_side: int) -> np.ndarray:
    """Resizes quantised flow `(height, width, 2)` uint8 to `short_side`, rescaling it.

    Flow is in pixels of the frames it was computed on, so resizing the field changes its
    unit: the x displacement is multiplied by the width ratio and y by the height ratio
    (in codes, ``q' = rint((q - 127.5) * ratio + 127.5)``, clipped to 0..255), as if the
    flow had been computed on frames of the new size. INTER_AREA when shrinking.
    """
    height, width = codes.shape[:2]
    new_height, new_width = short_side_size(height, width, short_side)
    if (new_height, new_width) == (height, width):
        return codes
    interpolation = cv2.INTER_AREA if new_height < height else cv2.INTER_LINEAR
    resized = cv2.resize(codes, (new_width, new_height), interpolation=interpolation)
    ratios = np.array([new_width / width, new_height / height], np.float32)
    values = (resized.astype(np.float32) - 127.5) * ratios + 127.5
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
