"""Tests for kvideo.io: frame-exact decoding, error handling and encoding."""

from __future__ import annotations

import pathlib
import pickle
import subprocess
import sys

import av
import numpy as np
import pytest

import kvideo.io as kio
from kvideo.io import decode as decode_module
from tests import video_fixtures as vf

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
NUM_FRAMES = 36
HEIGHT, WIDTH = 48, 64
ALL_FORMATS = {**vf.FORMATS, **vf.VFR_FORMATS}

# Out of order, repeated, and including the first and last frames.
SCRAMBLED = [17, 3, 3, 35, 0, 18, 16, 17, 34, 1, 9]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """One index-pattern video per format: {format name: path}."""
    directory = tmp_path_factory.mktemp("videos")
    paths = {}
    for name, (suffix, _) in ALL_FORMATS.items():
        path = directory / f"{name}{suffix}"
        vf.write_format(path, name, NUM_FRAMES, HEIGHT, WIDTH)
        paths[name] = path
    return paths


def indices_of(frames: np.ndarray) -> list[int]:
    return [vf.decode_index_pattern(frame) for frame in frames]


# --- The test pattern itself -------------------------------------------------------


def test_index_pattern_round_trips_and_tells_neighbours_apart():
    for index in range(2**vf.NUM_BITS):
        frame = vf.encode_index_pattern(index, HEIGHT, WIDTH)
        assert vf.decode_index_pattern(frame) == index
    # Neighbouring frames must differ, or a reader that is off by one would pass.
    for index in range(NUM_FRAMES):
        a = vf.encode_index_pattern(index, HEIGHT, WIDTH)
        b = vf.encode_index_pattern(index + 1, HEIGHT, WIDTH)
        assert vf.decode_index_pattern(a) != vf.decode_index_pattern(b)


def test_index_pattern_rejects_a_blend_of_two_frames():
    a = vf.encode_index_pattern(5, HEIGHT, WIDTH).astype(np.uint16)
    b = vf.encode_index_pattern(6, HEIGHT, WIDTH).astype(np.uint16)
    with pytest.raises(ValueError, match="no clean index pattern"):
        vf.decode_index_pattern(((a + b) // 2).astype(np.uint8))


# --- Exact frames on every format --------------------------------------------------


@pytest.mark.parametrize(
    "name", ["xvid_avi", "divx_avi", "h264_mp4", "vfr_h264_mp4", "vfr_mpeg4_mkv"]
)
def test_fixtures_really_have_b_frames(videos, name):
    # The exactness tests below only mean something if frames are stored out of
    # display order, which is where seeking readers go wrong.
    with av.open(str(videos[name])) as container:
        types = [frame.pict_type for frame in container.decode(video=0)]
    assert av.video.frame.PictureType.B in types


@pytest.mark.parametrize("name", sorted(ALL_FORMATS))
def test_probe_counts_decodable_frames(videos, name):
    info = kio.probe(videos[name])
    assert (info.num_frames, info.height, info.width) == (NUM_FRAMES, HEIGHT, WIDTH)
    assert info.fps > 0
    assert info.duration == pytest.approx(info.num_frames / info.fps)


@pytest.mark.parametrize("name", sorted(ALL_FORMATS))
def test_read_all_frames_is_exact(videos, name):
    frames = kio.read_frames(videos[name])
    assert frames.dtype == np.uint8
    assert frames.shape == (NUM_FRAMES, HEIGHT, WIDTH, 3)
    assert indices_of(frames) == list(range(NUM_FRAMES))


@pytest.mark.parametrize("name", sorted(ALL_FORMATS))
def test_read_scrambled_indices_is_exact(videos, name):
    frames = kio.read_frames(videos[name], SCRAMBLED)
    assert frames.shape == (len(SCRAMBLED), HEIGHT, WIDTH, 3)
    assert indices_of(frames) == SCRAMBLED
    # Repeats are copies of the same decoded frame, not different decodes.
    np.testing.assert_array_equal(frames[1], frames[2])
    np.testing.assert_array_equal(frames[0], frames[7])


@pytest.mark.parametrize("name", ["xvid_avi", "h264_mp4", "vfr_mpeg4_mkv"])
def test_random_indices_match_full_decode(videos, name):
    everything = kio.read_frames(videos[name])
    rng = np.random.default_rng(123)
    for size in (1, 5, 20):
        indices = rng.integers(0, NUM_FRAMES, size=size)
        np.testing.assert_array_equal(kio.read_frames(videos[name], indices), everything[indices])


@pytest.mark.parametrize("name", ["xvid_avi", "h264_mp4", "gray_ffv1_mkv"])
def test_read_video_matches_probe_and_read_frames(videos, name):
    frames, info = kio.read_video(videos[name])
    assert info == kio.probe(videos[name])
    np.testing.assert_array_equal(frames, kio.read_frames(videos[name]))


@pytest.mark.parametrize("name", ["h264_mp4", "xvid_avi", "mjpeg_avi", "vp8_webm"])
def test_colours_come_back_in_rgb_order(videos, name):
    frame = kio.read_frames(videos[name], [4])[0]
    _, middle = vf._band_rows(HEIGHT)
    for color, (start, stop) in zip(vf.BAR_COLORS, vf._thirds(WIDTH), strict=True):
        bar = frame[middle + 3 : -3, start + 3 : stop - 3].reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(bar, color, atol=12)


def test_grayscale_is_replicated_to_three_channels(videos):
    frames = kio.read_frames(videos["gray_ffv1_mkv"], [0, 7])
    np.testing.assert_array_equal(frames[..., 0], frames[..., 1])
    np.testing.assert_array_equal(frames[..., 0], frames[..., 2])
    # ffv1 is lossless, so the gray frames are exactly what was written.
    expected = vf.index_frames(8, HEIGHT, WIDTH)[[0, 7]]
    np.testing.assert_array_equal(frames, np.repeat(expected[..., :1], 3, axis=-1))


def test_variable_frame_rate_fps_follows_timestamps(videos):
    # 36 frames spread irregularly over the written timestamps: the reported rate must
    # come from them, not from the nominal 25 fps given to the encoder.
    pts = vf.vfr_pts(NUM_FRAMES)
    expected = (NUM_FRAMES - 1) / float((pts[-1] - pts[0]) * vf.VFR_TIME_BASE)
    for name in vf.VFR_FORMATS:
        assert kio.probe(videos[name]).fps == pytest.approx(expected, rel=0.05)


def test_non_ascii_file_name(tmp_path):
    path = tmp_path / "vidéo_日本.avi"
    vf.write_format(path, "xvid_avi", 24, HEIGHT, WIDTH)
    assert kio.probe(path).num_frames == 24
    assert indices_of(kio.read_frames(str(path), [23, 0, 11])) == [23, 0, 11]


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_read_from_memory(wrap):
    data = vf.write_index_video(
        None, 24, HEIGHT, WIDTH, codec="mpeg4", codec_tag="XVID", max_b_frames=2,
        container_format="avi",
    )  # fmt: skip
    source = wrap(data)
    assert kio.probe(source).num_frames == 24
    assert indices_of(kio.read_frames(source, [5, 23, 5, 0])) == [5, 23, 5, 0]
    frames, info = kio.read_video(source)
    assert info.num_frames == 24 and indices_of(frames) == list(range(24))


def test_read_from_memory_mp4():
    data = vf.write_index_video(
        None, 24, HEIGHT, WIDTH, codec="libx264", max_b_frames=3, container_format="mp4"
    )
    assert isinstance(data, bytes)
    assert indices_of(kio.read_frames(data, [22, 1])) == [22, 1]


def test_empty_indices_give_empty_array(videos):
    for indices in ([], np.array([], dtype=np.int64)):
        frames = kio.read_frames(videos["h264_mp4"], indices)
        assert frames.shape == (0, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8


# --- Seeking with a seek table --------------------------------------------------------

SEEK_NUM_FRAMES = 60


@pytest.fixture(scope="module")
def seek_videos(tmp_path_factory):
    """{format name: (path, sequentially decoded frames, VideoInfo with its seek table)}."""
    directory = tmp_path_factory.mktemp("seek_videos")
    result = {}
    for name, (suffix, _) in vf.SEEK_FORMATS.items():
        path = directory / f"{name}{suffix}"
        vf.write_format(path, name, SEEK_NUM_FRAMES, HEIGHT, WIDTH)
        frames = kio.read_frames(path)
        assert indices_of(frames) == list(range(SEEK_NUM_FRAMES))  # the reference is exact
        result[name] = (path, frames, kio.probe(path, seek_table=True))
    return result


def index_patterns(num_frames: int, keyframes: list[int]) -> list[list[int]]:
    """Clips a pipeline asks for, placed everywhere, and around every keyframe."""
    patterns = [[i] for i in range(num_frames)]
    for stride in (1, 2):
        for start in range(0, num_frames - 7 * stride):
            patterns.append(list(range(start, start + 8 * stride, stride)))
    for k in keyframes:  # starting on, just before and just after a keyframe
        for start in (k - 2, k - 1, k, k + 1):
            patterns.append([start, start + 1, start + 5])
    patterns.append([num_frames - 1, 40, 40, 33, num_frames - 2])  # scrambled, repeats
    patterns.append(np.linspace(0, num_frames - 1, 8).astype(int).tolist())  # TSN-like
    return [p for p in patterns if min(p) >= 0 and max(p) < num_frames]


@pytest.mark.parametrize("name", sorted(vf.SEEK_FORMATS))
def test_seek_fixtures_have_keyframes_and_b_frames(seek_videos, name):
    path, _, info = seek_videos[name]
    with av.open(str(path)) as container:
        types = [frame.pict_type for frame in container.decode(video=0)]
    assert av.video.frame.PictureType.B in types
    table = info.seek_table
    assert table is not None and len(table.timestamps) == SEEK_NUM_FRAMES
    assert len(table.keyframes) >= 4  # several places to seek to


@pytest.mark.parametrize("name", sorted(vf.SEEK_FORMATS))
def test_seeked_reads_equal_sequential_reads(seek_videos, name):
    path, frames, info = seek_videos[name]
    table = info.seek_table
    keyframes = [k for k, _ in table.keyframes]
    data = path.read_bytes()
    for pattern in index_patterns(SEEK_NUM_FRAMES, keyframes):
        wanted = np.asarray(pattern)
        got = kio.read_frames(data, pattern, seek_table=table)
        np.testing.assert_array_equal(got, frames[wanted], err_msg=f"{name} {pattern}")
        # The read really went through the seek path (it did not fall back to frame 0).
        seeked = decode_module._read_after_seek(data, "clip", wanted, table)
        assert seeked is not None, f"{name} {pattern}: the seek path gave up"
        np.testing.assert_array_equal(seeked, frames[wanted])


def test_seeking_decodes_far_fewer_frames(seek_videos, monkeypatch):
    path, frames, info = seek_videos["xvid_gop7_avi"]
    decoded = []
    real_decode = decode_module._decode

    def counting_decode(*args, **kwargs):
        for frame in real_decode(*args, **kwargs):
            decoded.append(frame.pts)
            yield frame

    monkeypatch.setattr(decode_module, "_decode", counting_decode)

    def count(indices, seek_table):
        decoded.clear()
        got = kio.read_frames(path, indices, seek_table=seek_table)
        np.testing.assert_array_equal(got, frames[indices])
        return len(decoded)

    # The last frames: from frame 0 all 58, from the keyframe before them a few.
    assert count([56, 57], None) == 58
    assert count([56, 57], info.seek_table) <= 12
    # One frame per segment (TSN): a seek before each, instead of decoding them all.
    assert count([3, 20, 37, 54], None) == 55
    assert count([3, 20, 37, 54], info.seek_table) <= 4 * 12


@pytest.mark.parametrize("name", ["xvid_gop7_avi", "h264_gop10_mp4", "vfr_mpeg4_gop9_mkv"])
def test_a_wrong_seek_table_falls_back_to_exact_frames(seek_videos, name):
    path, frames, info = seek_videos[name]
    table = info.seek_table
    wanted = [45, 47, 49]
    # Every keyframe target moved onto the first one: seeks land too early or too late.
    wrong_targets = kio.SeekTable(
        keyframes=tuple((k, table.keyframes[0][1]) for k, _ in table.keyframes),
        timestamps=table.timestamps,
    )
    # Timestamps of another file (shifted by one frame): no frame matches after a seek.
    wrong_timestamps = kio.SeekTable(
        keyframes=table.keyframes, timestamps=tuple(t + 1 for t in table.timestamps)
    )
    for wrong in (wrong_targets, wrong_timestamps):
        np.testing.assert_array_equal(
            kio.read_frames(path, wanted, seek_table=wrong), frames[wanted]
        )
    for wrong in (wrong_targets, wrong_timestamps):
        assert decode_module._read_after_seek(path, "clip", np.asarray(wanted), wrong) is None


def test_seek_table_errors_match_sequential_reads(seek_videos):
    path, _, info = seek_videos["h264_gop10_mp4"]
    for indices in ([50, SEEK_NUM_FRAMES], [-1, 50]):
        with pytest.raises(kio.VideoDecodeError, match=f"{SEEK_NUM_FRAMES} decodable"):
            kio.read_frames(path, indices, seek_table=info.seek_table)


def test_seek_table_start_for():
    table = kio.SeekTable(keyframes=((10, 100), (20, 200)), timestamps=tuple(range(30)))
    assert table.start_for(9) is None
    assert table.start_for(10) == (10, 100)
    assert table.start_for(19) == (10, 100)
    assert table.start_for(29) == (20, 200)


def test_an_intra_only_video_can_start_at_every_frame(videos):
    # Motion JPEG: every frame is a keyframe, and every one is a verified seek point.
    info = kio.probe(videos["mjpeg_avi"], seek_table=True)
    assert [k for k, _ in info.seek_table.keyframes] == list(range(1, NUM_FRAMES))
    frames = kio.read_frames(videos["mjpeg_avi"])
    for index in (1, 17, NUM_FRAMES - 1):
        np.testing.assert_array_equal(
            kio.read_frames(videos["mjpeg_avi"], [index], seek_table=info.seek_table),
            frames[[index]],
        )
    assert kio.probe(videos["mjpeg_avi"]).seek_table is None  # only when asked for


# --- Colour conversion ---------------------------------------------------------------


def _decoded_frames(path):
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


@pytest.mark.parametrize("size", [(48, 64), (50, 66), (49, 65)])
def test_gray_fast_path_matches_swscale(tmp_path, size):
    # 66 and 65 pixel rows are padded by FFmpeg (line_size > width): ignoring the
    # padding would shear the image.
    height, width = size
    frames = np.random.default_rng(1).integers(0, 256, (3, height, width), dtype=np.uint8)
    path = tmp_path / "gray.mkv"
    kio.write_video(path, frames, 25, "ffv1", pix_fmt="gray")
    decoded = _decoded_frames(path)
    assert decoded[0].format.name == "gray"
    if width != 64:
        assert decoded[0].planes[0].line_size != width
    for frame, written in zip(decoded, frames, strict=True):
        fast = decode_module._frame_to_rgb(frame)
        np.testing.assert_array_equal(fast, frame.to_ndarray(format="rgb24"))
        np.testing.assert_array_equal(fast, np.repeat(written[..., None], 3, axis=-1))


@pytest.mark.parametrize(
    "size, pix_fmt, codec, options",
    [
        ((48, 64), "yuv420p", "libx264", {"crf": "16"}),
        ((49, 65), "yuv420p", "ffv1", None),
        ((48, 64), "yuv444p", "ffv1", None),
        # Full-range (JPEG) YUV, which must not be converted with limited-range formulas.
        ((48, 64), "yuvj420p", "mjpeg", None),
    ],
)
def test_colour_frames_come_back_close_to_what_was_written(tmp_path, size, pix_fmt, codec, options):
    # Smooth colourful content, so chroma subsampling loses little.
    height, width = size
    y, x = np.mgrid[0:height, 0:width]
    frames = np.stack(
        [
            np.stack([x * 255 // width, y * 255 // height, (x + y + 20 * t) % 256], axis=-1)
            for t in range(4)
        ]
    ).astype(np.uint8)
    path = tmp_path / "colour.mkv"
    kio.write_video(path, frames, 25, codec, pix_fmt=pix_fmt, options=options)
    assert _decoded_frames(path)[0].format.name == pix_fmt
    decoded = kio.read_frames(path, [3, 0])
    assert decoded.shape == (2, height, width, 3)
    error = np.abs(decoded.astype(np.int16) - frames[[3, 0]])
    assert error.mean() < 2.5 and np.percentile(error, 99) < 12


# --- Bad input ---------------------------------------------------------------------


def _assert_decode_error(source, match=None, indices=None):
    with pytest.raises(kio.VideoDecodeError, match=match) as info:
        kio.read_frames(source, indices)
    return info.value


def test_missing_file(tmp_path):
    path = tmp_path / "nope.avi"
    error = _assert_decode_error(path, match="nope.avi")
    assert error.source == str(path)
    with pytest.raises(kio.VideoDecodeError, match="nope.avi"):
        kio.probe(path)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.avi"
    path.write_bytes(b"")
    _assert_decode_error(path, match="empty.avi")
    with pytest.raises(kio.VideoDecodeError, match="empty.avi"):
        kio.read_video(path)


def test_text_file_renamed_to_avi(tmp_path):
    path = tmp_path / "notes.avi"
    path.write_text("This is not a video.\n" * 50)
    with pytest.raises(kio.VideoDecodeError, match="notes.avi"):
        kio.probe(path)


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "audio_only.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(kio.VideoDecodeError, match="audio_only.wav.*no video stream"):
        kio.probe(path)


def test_bytes_errors_name_the_size():
    with pytest.raises(kio.VideoDecodeError, match=r"<bytes: 11 bytes>") as info:
        kio.probe(b"not a video")
    assert info.value.source == "<bytes: 11 bytes>"
    assert info.value.reason and info.value.reason in str(info.value)


@pytest.mark.parametrize("name", ["xvid_avi", "divx_avi", "h264_mp4", "vfr_mpeg4_mkv"])
@pytest.mark.parametrize("fraction", [0.5, 0.8])
def test_truncated_file_is_consistent(videos, tmp_path, name, fraction):
    data = videos[name].read_bytes()
    path = tmp_path / f"truncated_{videos[name].name}"
    path.write_bytes(data[: int(len(data) * fraction)])
    _check_damaged_file_is_consistent(path)


def test_truncated_streamable_file_gives_its_decodable_prefix(videos, tmp_path):
    # Matroska needs no index at the end, so half a file still decodes; with an
    # intra-only codec the surviving frames are exactly the first ones.
    data = videos["gray_ffv1_mkv"].read_bytes()
    path = tmp_path / "half.mkv"
    path.write_bytes(data[: len(data) // 2])
    info = kio.probe(path)
    assert 0 < info.num_frames < NUM_FRAMES
    assert indices_of(kio.read_frames(path)) == list(range(info.num_frames))
    _check_damaged_file_is_consistent(path)


@pytest.mark.parametrize("name", ["xvid_avi", "h264_mp4", "divx_avi"])
def test_garbage_in_the_middle_is_consistent(videos, tmp_path, name):
    data = bytearray(videos[name].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 400] = np.random.default_rng(7).integers(0, 256, 400, np.uint8).tobytes()
    path = tmp_path / f"garbage_{videos[name].name}"
    path.write_bytes(bytes(data))
    _check_damaged_file_is_consistent(path)


def _check_damaged_file_is_consistent(path):
    """A damaged file either raises VideoDecodeError naming it, or every reader agrees
    on the frames that do decode (and asking beyond them raises)."""
    try:
        info = kio.probe(path)
    except kio.VideoDecodeError as error:
        assert path.name in str(error)
        with pytest.raises(kio.VideoDecodeError, match=path.name):
            kio.read_video(path)
        return
    assert 0 < info.num_frames <= NUM_FRAMES
    frames, video_info = kio.read_video(path)
    assert video_info == info and len(frames) == info.num_frames
    np.testing.assert_array_equal(kio.read_frames(path), frames)
    last = info.num_frames - 1
    np.testing.assert_array_equal(kio.read_frames(path, [last, 0]), frames[[last, 0]])
    _assert_decode_error(path, match=f"{info.num_frames} decodable", indices=[last + 1])


def test_out_of_range_index_names_count_and_file(videos):
    path = videos["xvid_avi"]
    error = _assert_decode_error(path, indices=[0, NUM_FRAMES])
    assert path.name in str(error)
    assert f"{NUM_FRAMES} decodable frames" in str(error)
    assert str(NUM_FRAMES) in error.reason


def test_negative_index_is_rejected_with_count(videos):
    _assert_decode_error(videos["h264_mp4"], match=f"-1 .*{NUM_FRAMES} decodable", indices=[3, -1])


@pytest.mark.parametrize(
    "indices", [[1.5, 2.0], [[0, 1]], 3, ["0"], [True, False], np.zeros((2, 2), np.int64)]
)
def test_bad_indices_raise_value_error(videos, indices):
    with pytest.raises(ValueError, match="Received: indices="):
        kio.read_frames(videos["xvid_avi"], indices)


def test_bad_source_type_raises_value_error():
    with pytest.raises(ValueError, match="Received: source=12"):
        kio.probe(12)


def test_decode_error_pickles():
    error = kio.VideoDecodeError("clip.avi", "broken")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.source, copy.reason, str(copy)) == ("clip.avi", "broken", str(error))


def test_corrupt_file_does_not_spam_stderr(videos, tmp_path):
    # FFmpeg logs decoder complaints on stderr unless silenced; run in a subprocess
    # so the check sees the C-level stderr, which pytest's capture may not.
    data = bytearray(videos["h264_mp4"].read_bytes())
    data[len(data) // 3 : len(data) // 3 + 600] = bytes(600)
    path = tmp_path / "noisy.mp4"
    path.write_bytes(bytes(data))
    code = (
        "import sys, kvideo.io as k\n"
        "try:\n    k.read_video(sys.argv[1])\n"
        "except k.VideoDecodeError as e:\n    print('error', e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


# --- Encoding ----------------------------------------------------------------------


def test_write_video_arguments_are_checked(tmp_path):
    frames = vf.index_frames(2, HEIGHT, WIDTH)
    with pytest.raises(ValueError, match="container_format"):
        kio.write_video(None, frames, 25)
    with pytest.raises(ValueError, match="dtype=float32"):
        kio.write_video(tmp_path / "a.mp4", frames.astype(np.float32), 25)
    with pytest.raises(ValueError, match="Received: fps=0"):
        kio.write_video(tmp_path / "a.mp4", frames, 0)
    with pytest.raises(ValueError, match="Received: codec='nope'"):
        kio.write_video(tmp_path / "a.mp4", frames, 25, codec="nope")
    with pytest.raises(ValueError, match="Received: pts="):
        kio.write_video(tmp_path / "a.mkv", frames, 25, pts=[3, 3])


def test_write_video_stores_codec_tag_and_rate(tmp_path):
    path = tmp_path / "tagged.avi"
    kio.write_video(path, vf.index_frames(10, HEIGHT, WIDTH), 12.5, "mpeg4", codec_tag="DX50")
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.codec_tag == "DX50"
    info = kio.probe(path)
    assert info.fps == pytest.approx(12.5) and info.duration == pytest.approx(10 / 12.5)


def test_io_does_not_import_tensorflow():
    code = "import sys, kvideo.io; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    assert result.stdout.split() == ["False", "False"], result.stderr
