"""Flow stored beside the frames, and read back by the pipeline with the frames.

A textured square translating by a known (dx, dy) px per frame over a textured, still
background, written as H.264 and built with the flow configs of `video_folder`: the flow
the builder stored, decoded by the pipeline, recovers the motion; a horizontal flip
negates its x component (exactly `kvideo.flow.flip_flow_horizontally`); every input of a
clip comes from the same frame indices and the same window, also when the flow is
stored at half the frames' resolution. Frame folders' own flow images are read as they
are, and videos without flow are skipped as the bad-video policy says.
"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kvideo import flow as kflow
from kvideo import io as kio
from kvideo.data import Augmentation, ClipSampling, load_examples, make_clip_dataset, storage
from kvideo.data.pipeline import select_videos
from kvideo.data.sampling import stack_indices
from tests.conftest import build_dataset
from tfds_builders.common import video_examples
from tfds_builders.video_folder import video_folder_dataset_builder as vfb

HEIGHT, WIDTH, FRAMES = 128, 160, 8  # stored as they are: short side 128, the configs'
SQUARE = 40
# Per class: the square's motion in px per frame (x right, y down) and its first corner.
MOTIONS = {"right_up": ((2, -1), (40, 60)), "left_down": ((-1, 2), (90, 30))}
# The recovered motion must be within this of the true one, in px of the stored flow.
# Measured errors of the median over the square: 0.04 px with flow at the frames' size
# (DIS medium, H.264 at the default quality, flow JPEG at quality 95; one 8-bit code is
# 0.157 px); 0.29 px with flow at half size, where the square is 20 px on 64x80 frames,
# little more than DIS's patches, and its 12x12 inside is what the median sees.
TOLERANCE = {"full": 0.15, "half": 0.4}
# Half-resolution flow: the config computes flow on frames at short side 64.
HALF = vfb.VideoFolderConfig(
    name="jpeg_flow_half",
    storage=storage.JPEG,
    flow=kflow.FlowConfig("dis_medium", short_side=64),
    description="Flow at half the frames' resolution.",
)


def moving_square(motion, corner, seed: int) -> np.ndarray:
    """`(FRAMES, HEIGHT, WIDTH, 3)` uint8: a textured square moving by `motion` px per
    frame from top-left `corner` (x, y) over a textured background."""
    rng = np.random.default_rng(seed)

    def texture(height, width, sigma):
        noise = rng.uniform(0, 255, (height, width)).astype(np.float32)
        return cv2.GaussianBlur(noise, (0, 0), sigma)

    background = 0.5 * texture(HEIGHT, WIDTH, 2.0) + 40
    square = 2.0 * (texture(SQUARE, SQUARE, 1.5) - 127) + 170
    frames = []
    for i in range(FRAMES):
        x, y = corner[0] + motion[0] * i, corner[1] + motion[1] * i
        frame = background.copy()
        frame[y : y + SQUARE, x : x + SQUARE] = square
        frames.append(np.repeat(np.clip(frame, 0, 255)[..., None], 3, axis=-1))
    return np.stack(frames).astype(np.uint8)


@pytest.fixture(scope="module")
def flow_data(tmp_path_factory) -> dict:
    """The videos built with `jpeg_flow` (flow at the frames' size) and `HALF`."""
    root = tmp_path_factory.mktemp("moving_squares")
    for class_name, (motion, corner) in MOTIONS.items():
        (root / class_name).mkdir()
        for seed in range(2):
            frames = moving_square(motion, corner, seed)
            kio.write_video(root / class_name / f"v{seed}.mp4", frames, 8.0)
    # One frame has no flow: skipped and reported, the build goes on.
    kio.write_video(root / "right_up" / "still.mp4", moving_square((0, 0), (40, 60), 9)[:1], 8)
    data_dir = tmp_path_factory.mktemp("moving_squares_data")
    full = build_dataset("video_folder", "jpeg_flow", data_dir, manual_dir=root)
    half = tfds.builder("video_folder", config=HALF, data_dir=str(data_dir))
    half.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(root)))
    return {"full": full, "half": half, "root": root}


def one_video(builder, video_id: str, **kwargs) -> tf.data.Dataset:
    """The batches of one video's clips (every split searched)."""
    examples = None
    for split in builder.info.splits:
        found, kind, _ = load_examples(builder, split)
        found = select_videos(found, {video_id}, keep=True)
        examples = found if examples is None else examples.concatenate(found)
    return make_clip_dataset(examples, storage_kind=kind, batch_size=1, **kwargs)


def square_motion(flow_clip: np.ndarray, motion, corner, scale: float, x_offset: int):
    """The median displacement (px) of the square in each field of a `(frames, h, w, 2)`
    flow clip, dequantised at the configs' bound. The square of frame i, shrunk by 8 px
    of frame a side (motion boundaries), in the clip's pixels (`scale`: flow px per frame
    px; `x_offset`: the crop's left edge in frame px)."""
    values = kflow.dequantize(flow_clip, kflow.DEFAULT_BOUND)
    medians = []
    for i, field in enumerate(values):
        x = corner[0] + motion[0] * i - x_offset
        y = corner[1] + motion[1] * i
        top, bottom = round((y + 8) * scale), round((y + SQUARE - 8) * scale)
        left, right = round((x + 8) * scale), round((x + SQUARE - 8) * scale)
        medians.append(np.median(field[top:bottom, left:right].reshape(-1, 2), axis=0))
    return np.array(medians)


# Whole frames' short side: a 128x128 centre window, 16 px in from the left.
WHOLE = Augmentation(crop_size=64, test_crop_fraction=1.0, train_crop="center", flip=True)
CLIP = ClipSampling("dense", num_frames=FRAMES)  # every frame: the same indices each time


@pytest.mark.parametrize(
    "config, scale",
    [
        ("full", 1.0),
        # Half-size windows are checked exactly by the TSN stack test below.
        pytest.param("half", 0.5, marks=pytest.mark.slow),
    ],
)
@pytest.mark.parametrize("class_name", sorted(MOTIONS))
def test_stored_flow_recovers_the_motion_and_a_flip_negates_x(flow_data, config, scale, class_name):
    builder = flow_data[config]
    motion, corner = MOTIONS[class_name]
    video_id = f"{class_name}/v0.mp4"
    reference = one_video(
        builder,
        video_id,
        training=False,
        clip_sampling=CLIP,
        augmentation=WHOLE,
        modalities=("video", "flow", "rgb_diff"),
    )
    ((features, _),) = list(reference)
    video, flow, rgb_diff = (features[k].numpy()[0] for k in ("video", "flow", "rgb_diff"))
    assert video.shape == (FRAMES, 128, 128, 3)
    # Flow stored at half size is cut with the window scaled to it.
    assert flow.shape == (FRAMES, round(128 * scale), round(128 * scale), 2)
    # The last frame has no flow to a next one: it takes the last field (the stack moves
    # back to end inside the video), so the fields are 0..6, 6.
    recovered = square_motion(flow[:-1], motion, corner, scale, x_offset=16)
    expected = np.array(motion, np.float32) * scale  # px of the stored flow
    np.testing.assert_allclose(
        recovered, np.broadcast_to(expected, recovered.shape), atol=TOLERANCE[config]
    )
    np.testing.assert_array_equal(flow[-1], flow[-2])
    # RGB difference stacks are the frame and the next one, from the same indices (the
    # last frame's stack, too, moves back: frames 6 and 7).
    np.testing.assert_array_equal(rgb_diff[:-1, ..., :3], video[:-1])
    np.testing.assert_array_equal(rgb_diff[:-1, ..., 3:], video[1:])
    np.testing.assert_array_equal(rgb_diff[-1], rgb_diff[-2])

    flips = 0
    for seed in range(6):
        training = one_video(
            builder,
            video_id,
            training=True,
            clip_sampling=CLIP,
            augmentation=WHOLE,
            modalities=("video", "flow", "rgb_diff"),
            seed=seed,
        )
        ((features, _),) = list(training.take(1))
        got = {k: v.numpy()[0] for k, v in features.items()}
        if np.array_equal(got["video"], video):
            np.testing.assert_array_equal(got["flow"], flow)
            np.testing.assert_array_equal(got["rgb_diff"], rgb_diff)
            continue
        flips += 1
        # One flip for every input of the clip: mirrored frames, and mirrored flow with
        # its x codes negated, exactly as the NumPy reference of kvideo.flow does it.
        np.testing.assert_array_equal(got["video"], video[:, :, ::-1])
        np.testing.assert_array_equal(got["rgb_diff"], rgb_diff[:, :, ::-1])
        np.testing.assert_array_equal(got["flow"], kflow.flip_flow_horizontally(flow))
        mirrored = square_motion(
            got["flow"][:-1, :, ::-1], motion, corner, scale, x_offset=16
        )  # un-mirror the positions only: the values keep their negated x
        np.testing.assert_allclose(mirrored[:, 0], -expected[0], atol=TOLERANCE[config])
        np.testing.assert_allclose(mirrored[:, 1], expected[1], atol=TOLERANCE[config])
    assert 0 < flips < 6, flips


def test_a_video_without_flow_is_skipped_and_reported(flow_data):
    builder = flow_data["full"]
    report = (pathlib.Path(builder.data_dir) / video_examples.REPORT_NAME).read_text()
    rows = [line.split("\t") for line in report.splitlines()[1:]]
    assert [(video, "2 frames" in reason) for _, video, reason in rows] == [
        ("right_up/still.mp4", True)
    ]
    assert sum(s.num_examples for s in builder.info.splits.values()) == 4
    assert builder.info.metadata["flow"] == {
        "method": "dis_medium",
        "bound": 20.0,
        "short_side": 128,
        "options": [],
    }


def test_tsn_flow_stacks_are_the_stored_fields_interleaved(flow_data):
    """TSN: L consecutive fields per segment, channels x1, y1, ..., xL, yL, the stack
    of the segment's frame (moved back to end inside the video)."""
    builder = flow_data["half"]
    sampling = ClipSampling("tsn", num_segments=3)
    length = 4
    dataset = one_video(
        builder,
        "left_down/v1.mp4",
        training=False,
        clip_sampling=sampling,
        augmentation=WHOLE,
        modalities=("flow",),
        stack_length=length,
    )
    ((features, _),) = list(dataset)
    flow = features["flow"].numpy()[0]
    assert flow.shape == (3, 64, 64, 2 * length)

    for split in builder.info.splits:
        stored = builder.as_dataset(
            split=split, decoders={k: tfds.decode.SkipDecoding() for k in storage.FLOW_KEYS}
        )
        for example in tfds.as_numpy(stored):
            if example["video_id"] == b"left_down/v1.mp4":
                break
        else:
            continue
        break
    # Decoded by TensorFlow's JPEG decoder, as the pipeline decodes (OpenCV's, in
    # `kflow.decode_flow`, rounds its inverse DCT differently: codes 1 apart).
    fields = np.stack(
        [
            np.concatenate([tf.io.decode_jpeg(x).numpy(), tf.io.decode_jpeg(y).numpy()], -1)
            for x, y in zip(example["flow_x"], example["flow_y"], strict=True)
        ]
    )
    assert len(fields) == FRAMES - 1
    frames = sampling.test_indices(FRAMES).numpy()[0]
    stacks = stack_indices(frames, len(fields), length).numpy()  # (3, L)
    np.testing.assert_array_equal(stacks[-1], [3, 4, 5, 6])  # moved back to end at 6
    window = fields[:, :, 8:72]  # the 128x128 centre window at half size
    for segment, items in enumerate(stacks):
        expected = np.concatenate([window[i] for i in items], axis=-1)
        np.testing.assert_array_equal(flow[segment], expected)


def _write_folder(folder: pathlib.Path, frames: np.ndarray, flow: np.ndarray | None) -> None:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        assert ok
        (folder / f"img_{i + 1:05d}.jpg").write_bytes(data.tobytes())
    if flow is not None:
        kflow.write_flow_images(folder, flow)


def test_frame_folders_flow_images_are_read_as_they_are(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, 128, 128, 3), dtype=np.uint8)
    same_size = rng.integers(100, 156, (3, 128, 128, 2), dtype=np.uint8)
    double = np.full((3, 256, 256, 2), 128, np.uint8)
    double[..., 0], double[..., 1] = 168, 88  # +6.27 px, -6.27 px at bound 20
    root = tmp_path / "folders"
    _write_folder(root / "a" / "kept", frames, same_size)
    _write_folder(root / "a" / "computed", frames, None)
    _write_folder(root / "b" / "resized", frames, double)
    _write_folder(root / "b" / "miscounted", frames, same_size[:1])
    builder = build_dataset("video_folder", "jpeg_flow", tmp_path / "data", manual_dir=root)

    decoders = {k: tfds.decode.SkipDecoding() for k in (storage.FRAMES_KEY, *storage.FLOW_KEYS)}
    examples = {
        example["video_id"].decode(): example
        for split in builder.info.splits
        for example in tfds.as_numpy(builder.as_dataset(split=split, decoders=decoders))
    }
    assert sorted(examples) == ["a/computed", "a/kept", "b/resized"]
    for example in examples.values():
        assert len(example["frames"]) == 4  # the flow images are not frames
        assert len(example["flow_x"]) == len(example["flow_y"]) == 3
    # At the stored size already: the files themselves.
    kept = examples["a/kept"]
    for i in range(3):
        for axis, key in (("x", "flow_x"), ("y", "flow_y")):
            path = root / "a" / "kept" / kflow.flow_file_name(axis, i)
            assert kept[key][i] == path.read_bytes()
    # At twice the size: resized to short side 128, its displacements halved with it.
    resized = kflow.dequantize(
        kflow.decode_flow(examples["b/resized"]["flow_x"][0], examples["b/resized"]["flow_y"][0]),
        kflow.DEFAULT_BOUND,
    )
    assert resized.shape == (128, 128, 2)
    # Codes 168 and 88 are 40.5 steps from zero motion (127.5); half that rounds to
    # codes 148 and 108 (JPEG keeps a flat image exactly).
    expected = kflow.dequantize(np.array([148, 108], np.uint8), kflow.DEFAULT_BOUND)
    np.testing.assert_array_equal(np.median(resized.reshape(-1, 2), axis=0), expected)
    report = (pathlib.Path(builder.data_dir) / video_examples.REPORT_NAME).read_text()
    assert "b/miscounted" in report and "1 flow fields for 4 frames" in report

    # Without flow, the same folders are frames only.
    plain = build_dataset("video_folder", "jpeg", tmp_path / "plain", manual_dir=root)
    lengths = [
        int(example["num_frames"])
        for split in plain.info.splits
        for example in tfds.as_numpy(plain.as_dataset(split=split))
    ]
    assert lengths == [4, 4, 4, 4]


def test_flow_needs_a_dataset_with_flow(motion_demo_dir):
    examples, kind, _ = load_examples("motion_demo/jpeg", "train", data_dir=str(motion_demo_dir))
    with pytest.raises(ValueError, match="stores no optical flow"):
        make_clip_dataset(
            examples, storage_kind=kind, training=True, batch_size=2, modalities=("flow",)
        )
    with pytest.raises(ValueError, match="modalities"):
        make_clip_dataset(
            examples, storage_kind=kind, training=True, batch_size=2, modalities=("depth",)
        )
