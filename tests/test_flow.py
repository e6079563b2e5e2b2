"""Tests for kvideo.flow: known motion recovered through the stored format, quantisation,
the flow-image layout, the process pool, and errors for bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import kvideo.flow as kflow
from kvideo.flow import FlowConfig, FlowExtractor

BOUND = 20.0
STEP = 2 * BOUND / 255  # 0.157 px per code

# The known-motion clip: a textured square moving by (DX, DY) px per frame over a static
# textured background. 160x192 is about the smallest on which DIS's coarse presets
# (ultrafast and fast compute at 1/4 resolution, patches of 8) track the square well.
HEIGHT, WIDTH, SQUARE = 160, 192, 80
DX, DY = 3, -2
# Square position in frame 0 (top, left).
TOP, LEFT = (HEIGHT - SQUARE) // 2, (WIDTH - SQUARE) // 2
# Flow is only checked this far inside the square (and outside it, for the background):
# motion edges are where every method smooths or occludes.
MARGIN = SQUARE // 4

# Tolerances for flow decoded from JPEG flow images, per component, in pixels: the median
# over the square's inner pixels must be within MEDIAN_TOLERANCE[method] of the truth, and
# 90% of those pixels within PIXEL_TOLERANCE. Measured on this clip (160x192): TV-L1, DIS
# medium and Farneback medians within 0.06 px (quantisation: 3 px decodes as 3.06);
# DIS ultrafast within 0.1 px, DIS fast 0.25-0.41 px short of 3 px (both presets stop at
# a quarter of the resolution); every method had >= 99% of the pixels within 0.75 px.
MEDIAN_TOLERANCE = {
    "tvl1": 0.2,
    "dis_ultrafast": 0.5,
    "dis_fast": 0.5,
    "dis_medium": 0.2,
    "farneback": 0.2,
}
PIXEL_TOLERANCE = 0.75


def textured(height: int, width: int, seed: int, mean: float) -> np.ndarray:
    """Smoothed noise (blobs ~2 px across) with standard deviation 30 around `mean`."""
    noise = np.random.default_rng(seed).integers(0, 256, (height, width)).astype(np.float32)
    blobs = cv2.GaussianBlur(noise, (0, 0), 2)
    return (blobs - blobs.mean()) / blobs.std() * 30 + mean


def moving_square_clip(num_frames: int, dx: int = DX, dy: int = DY, scale: int = 1) -> np.ndarray:
    """``(num_frames, HEIGHT*scale, WIDTH*scale, 3)`` uint8 RGB: the square moves by
    ``(dx, dy) * scale`` px per frame."""
    background = textured(HEIGHT * scale, WIDTH * scale, seed=1, mean=90)
    square = textured(SQUARE * scale, SQUARE * scale, seed=2, mean=170)
    frames = []
    for t in range(num_frames):
        frame = background.copy()
        top, left = (TOP + dy * t) * scale, (LEFT + dx * t) * scale
        frame[top : top + SQUARE * scale, left : left + SQUARE * scale] = square
        grey = np.clip(frame, 0, 255).astype(np.uint8)
        frames.append(np.repeat(grey[..., np.newaxis], 3, axis=-1))
    return np.stack(frames)


def square_inside(flow: np.ndarray, t: int) -> np.ndarray:
    """The (pixels, 2) flow inside the square of frame `t`, MARGIN px from its edges."""
    top, left = TOP + DY * t, LEFT + DX * t
    inner = flow[top + MARGIN : top + SQUARE - MARGIN, left + MARGIN : left + SQUARE - MARGIN]
    return inner.reshape(-1, 2)


def background_strip(flow: np.ndarray) -> np.ndarray:
    """(pixels, 2) flow of the static rows above the square, MARGIN px away from it."""
    return flow[: TOP - abs(DY) * 2 - MARGIN // 2].reshape(-1, 2)


# --- Known motion, through quantisation, JPEG files and back -------------------------


@pytest.mark.parametrize("method", kflow.METHODS)
def test_stored_flow_recovers_the_known_motion(method, tmp_path):
    config = FlowConfig(method=method, bound=BOUND, short_side=None)
    codes = kflow.extract_flow(moving_square_clip(3), config, num_workers=0)
    assert codes.shape == (2, HEIGHT, WIDTH, 2) and codes.dtype == np.uint8

    kflow.write_flow_images(tmp_path, codes)  # JPEG, quality 95
    flow = kflow.dequantize(kflow.read_flow_images(tmp_path), BOUND)

    tolerance = MEDIAN_TOLERANCE[method]
    for t in range(2):
        inside = square_inside(flow[t], t)
        np.testing.assert_allclose(np.median(inside, axis=0), [DX, DY], atol=tolerance)
        within = (np.abs(inside - [DX, DY]) <= PIXEL_TOLERANCE).all(axis=1)
        assert within.mean() >= 0.9, f"{method}, pair {t}: {within.mean():.2f} within tolerance"
        # Zero flow decodes as +-half a step (0.08 px).
        still = background_strip(flow[t])
        np.testing.assert_allclose(np.median(still, axis=0), [0, 0], atol=STEP)


def test_flow_is_measured_in_pixels_of_the_resized_frames():
    # Frames twice the size moving twice as far, resized back to short side HEIGHT: the
    # flow must be that of the small clip, (DX, DY), not (2 DX, 2 DY).
    config = FlowConfig(method="dis_medium", bound=BOUND, short_side=HEIGHT)
    codes = kflow.extract_flow(moving_square_clip(2, scale=2), config, num_workers=0)
    assert codes.shape == (1, HEIGHT, WIDTH, 2)
    inside = square_inside(kflow.dequantize(codes[0], BOUND), 0)
    np.testing.assert_allclose(np.median(inside, axis=0), [DX, DY], atol=0.2)


def test_horizontal_flip_of_frames_negates_x_flow():
    # The reference flip applied to the flow of a clip equals the flow of the mirrored clip.
    config = FlowConfig(method="tvl1", bound=BOUND, short_side=None)
    clip = moving_square_clip(2)
    flipped_flow = kflow.flip_flow_horizontally(kflow.extract_flow(clip, config, num_workers=0))
    flow_of_flipped = kflow.extract_flow(clip[:, :, ::-1], config, num_workers=0)
    mirrored_left = WIDTH - LEFT - SQUARE
    inside = kflow.dequantize(
        flipped_flow[0, TOP + MARGIN : TOP + SQUARE - MARGIN, mirrored_left + MARGIN :][
            :, : SQUARE - 2 * MARGIN
        ],
        BOUND,
    ).reshape(-1, 2)
    np.testing.assert_allclose(np.median(inside, axis=0), [-DX, DY], atol=0.2)
    # Codes differ by at most 2 (quantisation of slightly different TV-L1 estimates).
    difference = np.abs(flipped_flow.astype(int) - flow_of_flipped.astype(int))
    assert np.percentile(difference, 99) <= 2


# --- Quantisation --------------------------------------------------------------------


def test_quantize_literal_codes():
    flow = np.array([-25.0, -20.0, -1.0, 0.0, 1.0, 10.0, 20.0, 25.0])
    # rint((v + 20) * 255 / 40): -1 -> 121.125, 1 -> 133.875, 10 -> 191.25.
    np.testing.assert_array_equal(kflow.quantize(flow, 20.0), [0, 0, 121, 128, 134, 191, 255, 255])
    # Bound 15: 1 px is exactly 136 = 127.5 + 8.5.
    np.testing.assert_array_equal(kflow.quantize(np.array([-15.0, 0.0, 1.0]), 15.0), [0, 128, 136])
    assert kflow.ZERO_FLOW_CODE == 128


def test_quantize_rounds_half_to_even_like_cvround():
    # bound 127.5 makes the code rint(v + 127.5): 0 -> 127.5 -> 128, 1 -> 128.5 -> 128,
    # 2 -> 129.5 -> 130, -0.5 -> 127.
    flow = np.array([0.0, 1.0, 2.0, -0.5])
    np.testing.assert_array_equal(kflow.quantize(flow, 127.5), [128, 128, 130, 127])


def test_dequantize_literal_values():
    codes = np.array([0, 127, 128, 255], np.uint8)
    np.testing.assert_allclose(
        kflow.dequantize(codes, 20.0), [-20.0, -0.0784314, 0.0784314, 20.0], atol=1e-6
    )
    np.testing.assert_allclose(kflow.dequantize(np.array([136], np.uint8), 15.0), [1.0])
    # The (q - 128) convention is the same values half a step lower.
    all_codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_allclose(
        (all_codes - 128.0) * STEP, kflow.dequantize(all_codes, BOUND) - STEP / 2, atol=1e-5
    )


@pytest.mark.parametrize("bound", [20.0, 15.0])
def test_round_trip_error_is_at_most_half_a_step_and_clips_at_the_bound(bound):
    flow = np.linspace(-bound, bound, 100_001)
    error = np.abs(kflow.dequantize(kflow.quantize(flow, bound), bound) - flow)
    half_step = bound / 255
    assert error.max() <= half_step + 1e-5
    assert error.max() >= 0.99 * half_step  # the bound is reached, not loose
    outside = np.array([-3 * bound, -bound - 0.01, bound + 0.01, 1e6])
    np.testing.assert_allclose(
        kflow.dequantize(kflow.quantize(outside, bound), bound), [-bound, -bound, bound, bound]
    )


def test_negating_codes_is_exact():
    codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(
        kflow.dequantize(255 - codes, BOUND), -kflow.dequantize(codes, BOUND)
    )


def test_flip_flow_horizontally_literal():
    codes = np.zeros((1, 3, 2), np.uint8)
    codes[0, :, 0] = [10, 20, 30]  # x codes, left to right
    codes[0, :, 1] = [1, 2, 3]  # y codes
    flipped = kflow.flip_flow_horizontally(codes)
    np.testing.assert_array_equal(flipped[0, :, 0], [225, 235, 245])
    np.testing.assert_array_equal(flipped[0, :, 1], [3, 2, 1])
    pixels = np.array([[[1.5, -2.0], [0.0, 4.0]]], np.float32)  # (1, 2, 2)
    np.testing.assert_array_equal(
        kflow.flip_flow_horizontally(pixels), [[[-0.0, 4.0], [-1.5, -2.0]]]
    )
    # A batch (pairs, height, width, 2) flips every field along width.
    batch = np.stack([codes, codes])
    np.testing.assert_array_equal(kflow.flip_flow_horizontally(batch)[1], flipped)


# --- Flow images: encoding and the on-disk layout -------------------------------------


def smooth_codes(pairs: int = 3, height: int = 24, width: int = 40) -> np.ndarray:
    """A smooth quantised flow field (ramps), as real flow mostly is."""
    rows, cols = np.mgrid[0:height, 0:width]
    fields = [np.stack([60 + 3 * cols + p, 200 - 4 * rows - p], axis=-1) for p in range(pairs)]
    return np.stack(fields).astype(np.uint8)


def test_png_round_trip_is_exact_and_jpeg_close(tmp_path):
    codes = smooth_codes()
    kflow.write_flow_images(tmp_path / "png", codes, template="flow_{axis}_{index:05d}.png")
    np.testing.assert_array_equal(
        kflow.read_flow_images(tmp_path / "png", template="flow_{axis}_{index:05d}.png"), codes
    )
    kflow.write_flow_images(tmp_path / "jpg", codes)
    decoded = kflow.read_flow_images(tmp_path / "jpg").astype(int)
    assert np.abs(decoded - codes).max() <= 2


def test_layout_names_files_from_one_and_reads_any_indices(tmp_path):
    codes = smooth_codes(pairs=3)
    kflow.write_flow_images(tmp_path, codes)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "flow_x_00001.jpg",
        "flow_x_00002.jpg",
        "flow_x_00003.jpg",
        "flow_y_00001.jpg",
        "flow_y_00002.jpg",
        "flow_y_00003.jpg",
    ]
    assert kflow.count_flow_images(tmp_path) == 3
    picked = kflow.read_flow_images(tmp_path, [2, 0, 2])
    everything = kflow.read_flow_images(tmp_path)
    np.testing.assert_array_equal(picked, everything[[2, 0, 2]])
    # Written in pieces: the second piece continues the numbering.
    kflow.write_flow_images(tmp_path, codes[:1], first_index=3)
    assert (tmp_path / "flow_y_00004.jpg").is_file()
    assert kflow.count_flow_images(tmp_path) == 4


def test_reads_flow_images_written_by_other_tools(tmp_path):
    # A dataset folder as dense_flow writes it: grey JPEGs beside the RGB frames; and one
    # stored as 3-channel images. Constant images survive JPEG exactly.
    (tmp_path / "img_00001.jpg").write_bytes(b"not a flow image")
    cv2.imwrite(str(tmp_path / "flow_x_00001.jpg"), np.full((8, 16), 100, np.uint8))
    cv2.imwrite(str(tmp_path / "flow_y_00001.jpg"), np.full((8, 16, 3), 150, np.uint8))
    assert kflow.count_flow_images(tmp_path) == 1
    codes = kflow.read_flow_images(tmp_path)
    assert codes.shape == (1, 8, 16, 2)
    np.testing.assert_array_equal(codes[0, :, :, 0], 100)
    np.testing.assert_array_equal(codes[0, :, :, 1], 150)


def test_layout_errors_name_the_problem(tmp_path):
    kflow.write_flow_images(tmp_path, smooth_codes(pairs=2))
    with pytest.raises(FileNotFoundError, match="flow_x_00003.jpg"):
        kflow.read_flow_images(tmp_path, [2])
    (tmp_path / "flow_y_00002.jpg").unlink()
    with pytest.raises(ValueError, match="not numbered 1..n"):
        kflow.count_flow_images(tmp_path)
    with pytest.raises(ValueError, match="must contain"):
        kflow.read_flow_images(tmp_path, template="flow_{index:05d}.jpg")
    with pytest.raises(ValueError, match="'.bmp'"):
        kflow.write_flow_images(tmp_path, smooth_codes(), template="{axis}_{index}.bmp")
    with pytest.raises(ValueError, match="uint8"):
        kflow.write_flow_images(tmp_path, smooth_codes().astype(np.float32))
    with pytest.raises(ValueError, match="quality=101"):
        kflow.write_flow_images(tmp_path, smooth_codes(), quality=101)
    with pytest.raises(ValueError, match=r"shape=\(24, 40, 2\)"):
        kflow.write_flow_images(tmp_path, smooth_codes()[0])
    (tmp_path / "flow_x_00001.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="Cannot decode the flow x image"):
        kflow.read_flow_images(tmp_path, [0])
    x_image, _ = kflow.encode_flow(smooth_codes(height=24)[0])
    _, y_image = kflow.encode_flow(smooth_codes(height=16)[0])
    with pytest.raises(ValueError, match=r"differ in size: \(24, 40\) vs \(16, 40\)"):
        kflow.decode_flow(x_image, y_image)


# --- Extraction: processes, streaming, whole files ------------------------------------


def test_worker_processes_match_in_process_flow_across_chunk_boundaries():
    # 6 frames in chunks of 2 pairs: [0 1 2] [2 3 4] [4 5]; a chunking off by one frame
    # would shift or drop flow fields. Single-threaded OpenCV on both sides.
    clip = moving_square_clip(6)[:, ::2, ::2]  # 80x96: keeps the pool test quick
    config = FlowConfig(method="farneback", short_side=None)
    with FlowExtractor(config, num_workers=2, chunk_pairs=2) as extractor:
        pooled = extractor.extract(clip)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        in_process = FlowExtractor(config, num_workers=0).extract(clip)
    finally:
        cv2.setNumThreads(threads)
    assert pooled.shape == (5, 80, 96, 2)
    np.testing.assert_array_equal(pooled, in_process)


def test_iter_flow_streams_from_a_generator():
    clip = moving_square_clip(5)[:, ::2, ::2]
    config = FlowConfig(method="dis_ultrafast", short_side=None)
    extractor = FlowExtractor(config, num_workers=0, chunk_pairs=3)
    streamed = list(extractor.iter_flow(frame for frame in clip))
    assert len(streamed) == 4
    np.testing.assert_array_equal(np.stack(streamed), extractor.extract(clip))


def test_extract_video_writes_the_layout(tmp_path):
    from kvideo import io as kio

    clip = moving_square_clip(4)[:, ::2, ::2]
    kio.write_video(tmp_path / "clip.mp4", clip, fps=25, codec="libx264")
    config = FlowConfig(method="dis_medium", short_side=40)
    with FlowExtractor(config, num_workers=0) as extractor:
        written = extractor.extract_video(tmp_path / "clip.mp4", tmp_path / "flow")
    assert written == 3
    assert kflow.count_flow_images(tmp_path / "flow") == 3
    assert kflow.read_flow_images(tmp_path / "flow").shape == (3, 40, 48, 2)


def test_extract_videos_pools_over_files_and_skips_bad_ones(tmp_path):
    from kvideo import io as kio

    clip = moving_square_clip(5)[:, ::2, ::2]
    kio.write_video(tmp_path / "a.mp4", clip, fps=25, codec="libx264")
    kio.write_video(tmp_path / "b.avi", clip[:3], fps=25, codec="mpeg4", codec_tag="XVID")
    kio.write_video(tmp_path / "one_frame.mp4", clip[:1], fps=25, codec="libx264")
    (tmp_path / "text.avi").write_text("not a video")
    names = ["a.mp4", "b.avi", "one_frame.mp4", "text.avi"]
    videos = [(tmp_path / name, tmp_path / "flow" / name.split(".")[0]) for name in names]
    config = FlowConfig(method="dis_fast", short_side=None)
    results = kflow.extract_videos(videos, config, num_workers=2)

    assert [r.num_flows for r in results] == [4, 2, 0, 0]
    assert [r.error is None for r in results] == [True, True, False, False]
    assert "at least 2 frames" in results[2].error
    assert "text.avi" in results[3].error
    assert kflow.count_flow_images(tmp_path / "flow" / "a") == 4
    assert kflow.count_flow_images(tmp_path / "flow" / "b") == 2
    assert not (tmp_path / "flow" / "text").exists()


def test_resized_size_rounds_the_long_side():
    assert kflow.resized_size(240, 320, 256) == (256, 341)
    assert kflow.resized_size(256, 340, 256) == (256, 340)
    assert kflow.resized_size(320, 240, 128) == (171, 128)
    assert kflow.resized_size(240, 320, None) == (240, 320)


def test_default_workers_pool_tvl1_only():
    assert kflow.default_num_workers("dis_fast") == 0
    assert kflow.default_num_workers("farneback") == 0
    assert kflow.default_num_workers("tvl1") >= 1


# --- Bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frames, message",
    [
        (np.zeros((4, 16, 16), np.uint8), r"shape=\(4, 16, 16\)"),
        (np.zeros((4, 16, 16, 1), np.uint8), r"shape=\(16, 16, 1\)"),
        (np.zeros((4, 16, 16, 3), np.float32), "dtype=float32"),
        (np.zeros((1, 16, 16, 3), np.uint8), "at least 2 frames. Received: 1"),
        (np.zeros((0, 16, 16, 3), np.uint8), "at least 2 frames. Received: 0"),
    ],
)
def test_extract_rejects_bad_frames(frames, message):
    with pytest.raises(ValueError, match=message):
        kflow.extract_flow(frames, FlowConfig(method="dis_ultrafast"), num_workers=0)


def test_iter_flow_rejects_frames_of_different_sizes():
    frames = [np.zeros((16, 16, 3), np.uint8), np.zeros((16, 20, 3), np.uint8)]
    extractor = FlowExtractor(FlowConfig(method="dis_ultrafast"), num_workers=0)
    with pytest.raises(ValueError, match=r"frame 1: \(16, 20, 3\)"):
        list(extractor.iter_flow(frames))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "tvl2"}, "method='tvl2'"),
        ({"bound": 0}, "bound=0"),
        ({"bound": -20.0}, "bound=-20.0"),
        ({"bound": float("nan")}, "bound=nan"),
        ({"bound": True}, "bound=True"),
        ({"short_side": 0}, "short_side=0"),
        ({"short_side": 256.0}, "short_side=256.0"),
        ({"options": {"warps": 3}}, "'warps'"),
        ({"options": {"warpings_number": 2.5}}, "warpings_number=2.5"),
        ({"options": {"warpings_number": 0}}, "warpings_number=0"),
        ({"options": {"scale_step": 1.5}}, "scale_step=1.5"),
        ({"options": {"tau": 0.0}}, "tau=0.0"),
        ({"method": "dis_fast", "options": {"use_spatial_propagation": 1}}, "=1"),
        ({"method": "dis_fast", "options": {"tau": 0.25}}, "'tau'"),  # a TV-L1 option
        ({"options": "tau=0.25"}, "options='tau=0.25'"),
        ({"options": ""}, "options=''"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FlowConfig(**kwargs)


def test_config_options_are_normalised_and_hashable():
    a = FlowConfig(options={"warpings_number": 3, "tau": 0.2})
    b = FlowConfig(options={"tau": 0.2, "warpings_number": np.int64(3)})
    assert a == b and hash(a) == hash(b)
    assert a.options == (("tau", 0.2), ("warpings_number", 3))
    assert type(b.options[1][1]) is int
    assert FlowConfig(bound=20).quantization_step == pytest.approx(0.156863, abs=1e-6)


@pytest.mark.parametrize("method", kflow.METHODS)
def test_every_option_reaches_its_opencv_setter(method):
    # Each option, set to the value OpenCV reports for it, must pass validation and reach
    # the algorithm (a renamed setter or a wrong type in the option table fails here).
    defaults = kflow.create_algorithm(FlowConfig(method=method))
    for name in kflow.METHOD_OPTIONS[method]:
        getter = "get" + "".join(part.capitalize() for part in name.split("_"))
        value = getattr(defaults, getter)()
        algorithm = kflow.create_algorithm(FlowConfig(method=method, options={name: value}))
        assert getattr(algorithm, getter)() == pytest.approx(value), name


def test_options_change_the_algorithm():
    config = FlowConfig(method="tvl1", options={"warpings_number": 2, "scales_number": 3})
    algorithm = kflow.create_algorithm(config)
    assert (algorithm.getWarpingsNumber(), algorithm.getScalesNumber()) == (2, 3)


def test_quantisation_rejects_bad_input():
    with pytest.raises(ValueError, match="floating point"):
        kflow.quantize(np.zeros(3, np.int32), BOUND)
    with pytest.raises(ValueError, match="NaN"):
        kflow.quantize(np.array([np.nan]), BOUND)
    with pytest.raises(ValueError, match="bound=0"):
        kflow.quantize(np.zeros(3), 0)
    with pytest.raises(ValueError, match="uint8"):
        kflow.dequantize(np.zeros(3, np.float32), BOUND)
    with pytest.raises(ValueError, match=r"shape=\(4, 3\)"):
        kflow.flip_flow_horizontally(np.zeros((4, 3), np.uint8))
    with pytest.raises(ValueError, match="dtype=int16"):
        kflow.flip_flow_horizontally(np.zeros((4, 3, 2), np.int16))
    with pytest.raises(ValueError, match="FlowConfig"):
        FlowExtractor({"method": "tvl1"})
    with pytest.raises(ValueError, match="num_workers=-1"):
        FlowExtractor(FlowConfig(), num_workers=-1)
