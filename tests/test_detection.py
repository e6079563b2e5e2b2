"""Tests of `kvideo.detection` and `export/detect_main.py`.

Hand-made score sequences check the post-processing and the metrics against segments and
values worked out by hand. A tiny "action vs background" model, trained here on short
clips in about half a minute, finds `motion_demo` actions spliced into generated long
videos at known seconds.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import tracemalloc

import keras
import numpy as np
import pytest

from kvideo.data import Augmentation, ClipSampling
from kvideo.detection import (
    ClipScorer,
    ScanSettings,
    Segment,
    SegmentSettings,
    activitynet_json,
    detect,
    detections_csv,
    evaluate_detections,
    find_videos,
    interpolated_average_precision,
    load_detector_model,
    read_segments_json,
    scan_video,
    scores_to_segments,
    subtitles,
    temporal_iou,
    window_layout,
)
from kvideo.detection import segments as seg
from kvideo.detection import windows as win
from tests import video_fixtures as vf
from tests.detection_fixtures import train_detector, write_event_video

REPO = pathlib.Path(__file__).resolve().parents[1]
DETECT_MAIN = REPO / "export" / "detect_main.py"

CLASS_NAMES = ("background", "action")
# Windows every 4 frames (0.25 s at 16 fps).
SCAN = ScanSettings(stride_frames=4)
# (start_s, motion_demo class): moving_up (0) and moving_down (1) actions of 2 s.
EVENTS = [(5, 0), (13, 1), (22, 0), (30, 1), (41, 0), (50, 1)]


# --- post-processing on hand-made scores -------------------------------------------------


def test_hysteresis_merging_and_minimum_duration_give_the_worked_segments():
    # Windows centred at 0.5, 1.5, ... s: each one's cell is one second, [k, k + 1].
    scores = [0.1, 0.4, 0.6, 0.8, 0.35, 0.2, 0.1, 0.45, 0.5, 0.1]
    scores += [0.0, 0.32, 0.4, 0.29, 0.1, 0.9, 0.2, 0.6, 0.1, 0.1]
    centres = np.arange(20) + 0.5
    settings = SegmentSettings(
        smoothing_s=0,
        high_threshold=0.5,
        low_threshold=0.3,
        merge_gap_s=1.5,
        min_duration_s=2.5,
        ignore_labels=(),
    )
    found = seg.class_segments(np.array(scores), centres, 20.0, "action", settings)
    # Windows 1-4 (>= 0.3, one >= 0.5): [1, 5] s, starting where the score passed the
    # low threshold, not where it reached the high one. Windows 7-8: [7, 9], 2 s, too
    # short. Windows 11-12 never reach 0.5. Windows 15 and 17 are 1 s apart (< 1.5):
    # merged into [15, 18], scored over windows 15-17.
    assert found == [
        Segment("action", 1.0, 5.0, pytest.approx((0.4 + 0.6 + 0.8 + 0.35) / 4)),
        Segment("action", 15.0, 18.0, pytest.approx((0.9 + 0.2 + 0.6) / 3)),
    ]
    # Without merging, 15 and 17 are each 1 s long: too short.
    no_merge = SegmentSettings(**{**settings.__dict__, "merge_gap_s": 0.5})
    assert seg.class_segments(np.array(scores), centres, 20.0, "action", no_merge) == [
        Segment("action", 1.0, 5.0, pytest.approx(0.5375))
    ]


def test_smoothing_removes_a_one_window_spike_and_keeps_a_plateau():
    scores = np.zeros(12)
    scores[2] = 0.9  # one window: smoothed over 3 it becomes 0.3, below 0.5
    scores[6:10] = 0.9
    centres = np.arange(12) * 0.5 + 0.25  # 0.5 s stride; 1 s smoothing -> 3 windows
    assert seg.smoothing_width(centres, 1.0) == 3
    np.testing.assert_allclose(seg.moving_average(scores, 3)[1:4], [0.3, 0.3, 0.3])
    settings = SegmentSettings(min_duration_s=0, merge_gap_s=0, ignore_labels=())
    found = seg.class_segments(scores, centres, 6.0, "a", settings)
    # Smoothed: window 5 = 0.3 (>= low), 6 = 0.6, 7-8 = 0.9, 9 = 0.6, 10 = 0.3, 11 = 0
    # (an edge average over 2 windows): windows 5-10, cells [2.5, 5.5] s.
    assert found == [Segment("a", 2.5, 5.5, pytest.approx(np.mean(scores[5:11])))]


def test_window_cells_put_each_score_around_its_centre():
    starts, ends = seg.window_cells(np.array([1.0, 2.0, 3.5]), duration=5.0)
    np.testing.assert_allclose(starts, [0.0, 1.5, 2.75])
    np.testing.assert_allclose(ends, [1.5, 2.75, 5.0])


def test_multi_class_scores_give_per_class_segments_and_skip_background():
    centres = np.arange(10) + 0.5
    scores = np.zeros((10, 3))
    scores[:, 0] = 0.9  # background everywhere: never a segment
    scores[2:5, 1] = 0.8  # "jump" over [2, 5]
    scores[4:8, 2] = 0.7  # "run" over [4, 8], overlapping "jump"
    settings = SegmentSettings(smoothing_s=0, min_duration_s=1.0)
    found = scores_to_segments(scores, centres, 10.0, ["background", "jump", "run"], settings)
    assert found == [
        Segment("jump", 2.0, 5.0, pytest.approx(0.8)),
        Segment("run", 4.0, 8.0, pytest.approx(0.7)),
    ]


def test_segment_settings_reject_bad_values():
    with pytest.raises(ValueError, match="low_threshold <= high_threshold"):
        SegmentSettings(high_threshold=0.3, low_threshold=0.5)
    with pytest.raises(ValueError, match="merge_gap_s"):
        SegmentSettings(merge_gap_s=-1)
    with pytest.raises(ValueError, match="one string"):
        SegmentSettings(ignore_labels="background")


# --- metrics on worked examples ----------------------------------------------------------


def test_temporal_iou():
    np.testing.assert_allclose(
        temporal_iou([2.0, 6.0], [[0.0, 4.0], [2.0, 6.0], [6.0, 9.0], [3.0, 4.0]]),
        [2 / 6, 1.0, 0.0, 1 / 4],
    )


def test_interpolated_ap_on_a_worked_example():
    # Detections by score: miss, hit, hit, with 2 ground-truth segments. Precision after
    # each: 0, 1/2, 2/3; recall 0, 1/2, 1. The envelope is 2/3 everywhere up to recall 1,
    # so AP = 1/2 * 2/3 + 1/2 * 2/3 = 2/3 (the un-interpolated mean of precisions at
    # the hits would be (1/2 + 2/3) / 2 = 7/12).
    assert interpolated_average_precision([0, 1 / 2, 2 / 3], [0, 1 / 2, 1]) == pytest.approx(2 / 3)
    # Hit, miss, hit with 3 ground truths: recall 1/3, 1/3, 2/3, precision 1, 1/2, 2/3.
    # AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 0 (recall 1 is never reached) = 5/9.
    assert interpolated_average_precision(
        [1, 1 / 2, 2 / 3], [1 / 3, 1 / 3, 2 / 3]
    ) == pytest.approx(5 / 9)


def test_precision_recall_f1_and_ap_at_two_thresholds():
    truth = {
        "v1": [Segment("jump", 10, 20, 1), Segment("jump", 40, 50, 1)],
        "v2": [Segment("run", 0, 10, 1)],
    }
    found = {
        "v1": [
            Segment("jump", 60, 70, 0.95),  # nothing there: false positive
            Segment("jump", 11, 20, 0.9),  # IoU 0.9
            Segment("jump", 44, 54, 0.8),  # IoU 6/14 = 0.43
            Segment("jump", 12, 18, 0.7),  # IoU 0.6, but [10, 20] is taken
        ],
        "v2": [Segment("run", 0, 10, 0.6), Segment("swim", 0, 5, 0.5)],  # swim: no truth
        "unlabelled": [Segment("jump", 0, 10, 0.99)],  # not in the truth: left out
    }
    report = evaluate_detections(found, truth, tiou_thresholds=(0.3, 0.5))
    assert report["num_videos"] == 2
    loose, strict = report["per_threshold"]
    # tIoU 0.3: hits are jump@0.9, jump@0.8 and run; 6 detections, 3 truths.
    assert (loose["true_positives"], loose["num_detections"], loose["num_ground_truth"]) == (
        3,
        6,
        3,
    )
    assert loose["precision"] == pytest.approx(0.5) and loose["recall"] == pytest.approx(1.0)
    assert loose["f1"] == pytest.approx(2 / 3)
    # jump: miss, hit, hit, miss over 2 truths -> AP 2/3 (as worked above); run: 1.
    assert loose["ap_per_class"] == {"jump": pytest.approx(2 / 3), "run": pytest.approx(1.0)}
    assert loose["mAP"] == pytest.approx(5 / 6)
    # tIoU 0.5: jump@0.8 (0.43) misses, and jump@0.7 (0.6 with [10, 20]) finds it taken.
    assert strict["true_positives"] == 2 and strict["recall"] == pytest.approx(2 / 3)
    assert strict["precision"] == pytest.approx(2 / 6)
    assert strict["ap_per_class"]["jump"] == pytest.approx(1 / 2 * 1 / 2)
    assert report["average_mAP"] == pytest.approx((5 / 6 + (1 / 4 + 1) / 2) / 2)


def test_nothing_to_find_and_nothing_found_is_perfect_and_a_false_alarm_is_not():
    empty = evaluate_detections({"v": []}, {"v": []}, (0.5,))["per_threshold"][0]
    assert (empty["precision"], empty["recall"], empty["f1"], empty["mAP"]) == (1.0, 1.0, 1.0, None)
    alarm = evaluate_detections({"v": [Segment("a", 0, 1, 0.9)]}, {"v": []}, (0.5,))
    assert alarm["per_threshold"][0]["precision"] == 0.0 and alarm["per_threshold"][0]["f1"] == 0


def test_ground_truth_reads_activitynet_database_format_and_rejects_others(tmp_path):
    path = tmp_path / "truth.json"
    path.write_text(
        json.dumps(
            {
                "version": "VERSION 1.3",
                "database": {
                    "abc": {
                        "subset": "validation",
                        "annotations": [{"label": "jump", "segment": [1.5, 4]}],
                    }
                },
            }
        )
    )
    assert read_segments_json(path) == {"abc": [Segment("jump", 1.5, 4.0, 1.0)]}
    path.write_text(json.dumps({"abc": []}))
    with pytest.raises(ValueError, match="ActivityNet"):
        read_segments_json(path)
    path.write_text(json.dumps({"results": {"abc": [{"label": "jump", "segment": [4, 1]}]}}))
    with pytest.raises(ValueError, match="ends before it starts"):
        read_segments_json(path)


def test_result_files_in_activitynet_csv_and_srt_form():
    segments = [Segment("jump", 3661.5, 3663.25, 0.87654), Segment("run", 1.0, 2.0, 0.5)]
    content = json.loads(activitynet_json({"clip": segments}))
    assert content == {
        "version": "VERSION 1.3",
        "results": {
            "clip": [
                {"label": "jump", "score": 0.8765, "segment": [3661.5, 3663.25]},
                {"label": "run", "score": 0.5, "segment": [1.0, 2.0]},
            ]
        },
        "external_data": {},
    }
    assert detections_csv({"clip": segments}).splitlines() == [
        "video,label,start_s,end_s,score",
        "clip,jump,3661.500,3663.250,0.8765",
        "clip,run,1.000,2.000,0.5000",
    ]
    assert subtitles(segments) == (
        "1\n00:00:01,000 --> 00:00:02,000\nrun (0.50)\n\n"
        "2\n01:01:01,500 --> 01:01:03,250\njump (0.88)\n"
    )


def test_labelled_video_marks_exactly_the_frames_inside_segments(tmp_path):
    from kvideo.detection.outputs import write_labelled_video
    from kvideo.io import probe, read_video

    source = tmp_path / "source.mp4"
    write_event_video(source, 4, [(1, 0)], seed=0)  # 64 frames at 16 fps
    target = tmp_path / "labelled.mp4"
    written = write_labelled_video(source, target, [Segment("action", 1.0, 2.5, 0.9)])
    frames, info = read_video(target)
    assert written == info.num_frames == probe(source).num_frames == 64
    # Frames 16..39 (1.0 s <= t < 2.5 s) get an orange border; the others none.
    orange = np.all(np.abs(frames[:, 32, 0].astype(int) - [255, 140, 0]) < 40, axis=-1)
    assert np.flatnonzero(orange).tolist() == list(range(16, 40))


# --- windows over a streamed video -------------------------------------------------------


def test_window_layout_of_dense_and_tsn_models():
    dense = ClipSampling(num_frames=8, frame_stride=4)
    layout = window_layout(dense, ScanSettings(), fps=16.0)
    assert layout.offsets == (0, 4, 8, 12, 16, 20, 24, 28)
    # Default stride: a quarter window (7.25 frames), rounded to a multiple of the
    # clip's frame stride (4), so only every 4th frame is ever converted to RGB.
    assert (layout.span, layout.stride) == (29, 8)
    assert [i for i in range(40, 60) if layout.needed(i)] == [40, 44, 48, 52, 56]
    assert (
        window_layout(ClipSampling(num_frames=16, frame_stride=1), ScanSettings(), 25).stride == 4
    )
    assert window_layout(dense, ScanSettings(stride_s=0.5), fps=16.0).stride == 8
    tsn = ClipSampling(method="tsn", num_segments=4)
    with pytest.raises(ValueError, match="window_frames"):
        window_layout(tsn, ScanSettings(), fps=25.0)
    # Centre frames of 4 segments of 8 frames, as evaluation samples a 32-frame video.
    assert window_layout(tsn, ScanSettings(window_frames=32), 25.0).offsets == (4, 12, 20, 28)
    with pytest.raises(ValueError, match="not both"):
        ScanSettings(stride_s=1.0, stride_frames=3)


def _window_frames(path, sampling: ClipSampling, scan: ScanSettings):
    """Which frame indices each window holds, read back from index-pattern frames."""
    spec = _spec(sampling, Augmentation(crop_size=48, test_crop_fraction=1.0))
    frames, starts, ends, end = [], [], [], None
    for item in win._window_batches(path, spec, scan):
        if isinstance(item, win._End):
            end = item
            continue
        for clip in item.clips[:, 0]:
            frames.append([vf.decode_index_pattern(f) for f in clip])
        starts += item.starts.tolist()
        ends += item.ends.tolist()
    return frames, starts, ends, end


def _spec(sampling, augmentation):
    from kvideo.detection import ModelSpec

    return ModelSpec(CLASS_NAMES, sampling, augmentation, "test")


@pytest.mark.parametrize("fmt", ["xvid_avi", "h264_mp4", "vfr_h264_mp4"])
def test_windows_hold_exactly_the_frames_of_their_span(fmt, tmp_path):
    path = tmp_path / f"v{vf.FORMATS.get(fmt, vf.VFR_FORMATS.get(fmt))[0]}"
    vf.write_format(path, fmt, 50, 48, 48)
    sampling = ClipSampling(num_frames=4, frame_stride=3)  # span 10
    frames, starts, ends, end = _window_frames(
        path, sampling, ScanSettings(stride_frames=7, batch_size=3)
    )
    # Windows start every 7 frames while a whole span fits in 50 frames: 0, 7, ..., 35.
    assert frames == [[s, s + 3, s + 6, s + 9] for s in range(0, 41, 7)]
    assert end.num_frames == 50 and end.error is None
    with win.open_video(path) as video:
        times = [t for _, t in video.frames()]
    # A window spans from its first frame's time to the end of its last frame.
    np.testing.assert_allclose(starts, [times[s] for s in range(0, 41, 7)])
    np.testing.assert_allclose(ends, [times[s + 9] + 1 / end.fps for s in range(0, 41, 7)])


def test_a_video_shorter_than_a_window_is_one_looped_window(tmp_path):
    path = tmp_path / "short.mp4"
    vf.write_format(path, "h264_mp4", 6, 48, 48)
    frames, starts, ends, end = _window_frames(
        path, ClipSampling(num_frames=4, frame_stride=3), ScanSettings()
    )
    # As evaluation loops a short video: frames (i * 3) % 6 of a clip centred on frame 0.
    assert frames == [[0, 3, 0, 3]] and starts == [0.0] and ends == [pytest.approx(6 / 25)]


def test_test_crops_are_those_of_evaluation():
    three = Augmentation(crop_size=32, test_crop="three_crop")
    # One view: the centre crop at test_crop_fraction (0.875 of the short side 48 = 42).
    np.testing.assert_array_equal(win.crop_windows(three, False, 48, 64), [[3, 11, 42, 42]])
    # Every view: three squares of the short side along the long side.
    np.testing.assert_array_equal(
        win.crop_windows(three, True, 48, 64), [[0, 0, 48, 48], [0, 8, 48, 48], [0, 16, 48, 48]]
    )


# --- a model trained on short clips finds actions in long videos ---------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> pathlib.Path:
    """A run folder as training leaves one: model.keras, clip_config.json, labels.txt.

    An r3d_tiny "action vs background" classifier on 8 frames, 4 apart, at 32x32: actions
    are moving_up / moving_down clips, background is a still scene (half with a cut).
    """
    root = tmp_path_factory.mktemp("run")
    accuracy = train_detector(root, classes=(0, 1))
    assert accuracy >= 0.9, accuracy
    return root


@pytest.fixture(scope="module")
def long_videos(tmp_path_factory):
    """A folder with a 60 s video with 6 actions and a 30 s video with none; the truth."""
    root = tmp_path_factory.mktemp("long_videos")
    truth = write_event_video(root / "actions.mp4", 60, EVENTS, seed=3)
    write_event_video(root / "still.mp4", 30, [], seed=4)
    return root, {
        "actions": [Segment("action", start, end, 1.0) for start, end, _ in truth],
        "still": [],
    }


def test_trained_model_finds_the_actions_and_nothing_in_still_footage(
    trained_run, long_videos, tmp_path
):
    folder, truth = long_videos
    run = detect(
        folder,
        trained_run / "model.keras",
        tmp_path,
        scan=SCAN,
        ground_truth=truth,
        show_progress=False,
    )
    print({k: [(round(s.start, 2), round(s.end, 2)) for s in v] for k, v in run.results.items()})
    loose = run.evaluation["per_threshold"][0]
    print("tIoU 0.3:", {k: loose[k] for k in ("precision", "recall", "f1", "mAP")})
    assert loose["tiou"] == 0.3 and loose["f1"] >= 0.8
    assert run.results["still"] == []
    assert sorted(run.processed) == ["actions", "still"] and not run.failed
    # Every file is there, and detections.json is the ActivityNet form of the results.
    for name in ("actions.json", "actions.npz", "actions.srt", "actions.png", "still.png"):
        assert (tmp_path / "videos" / name).is_file(), name
    assert read_segments_json(tmp_path / "detections.json") == {
        key: [Segment(s.label, round(s.start, 3), round(s.end, 3), round(s.score, 4)) for s in v]
        for key, v in run.results.items()
    }
    assert json.loads((tmp_path / "evaluation.json").read_text()) == json.loads(
        json.dumps(run.evaluation)
    )

    # Tuning the thresholds on the same output folder re-derives from the saved window
    # scores: nothing is decoded or scored again.
    strict = SegmentSettings(high_threshold=0.999, low_threshold=0.99)
    rerun = detect(
        folder,
        trained_run / "model.keras",
        tmp_path,
        scan=SCAN,
        segments=strict,
        ground_truth=truth,
        show_progress=False,
    )
    assert rerun.processed == [] and sorted(rerun.reused) == ["actions", "still"]
    assert sum(s.duration for s in rerun.results["actions"]) < sum(
        s.duration for s in run.results["actions"]
    )


def test_truncated_video_keeps_segments_before_the_damage_and_bad_files_are_skipped(
    trained_run, tmp_path
):
    videos = tmp_path / "videos"
    videos.mkdir()
    # Matroska states its duration in the header; cut the file in half.
    full = tmp_path / "full.mkv"
    truth = write_event_video(full, 60, EVENTS, seed=5)
    data = full.read_bytes()
    (videos / "cut.mkv").write_bytes(data[: len(data) // 2])
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "text.avi").write_text("not a video")
    run = detect(
        videos, trained_run / "model.keras", tmp_path / "out", scan=SCAN, show_progress=False
    )
    assert set(run.failed) == {"empty", "text"}
    assert "truncated" in run.partial["cut"]
    found = run.results["cut"]
    decoded = json.loads((tmp_path / "out" / "videos" / "cut.json").read_text())["duration_s"]
    assert 20 < decoded < 40, decoded
    before = [Segment("action", s, e, 1) for s, e, _ in truth if e <= decoded]
    print(decoded, [(round(s.start, 2), round(s.end, 2)) for s in found])
    report = evaluate_detections({"cut": found}, {"cut": before}, (0.3,))["per_threshold"][0]
    assert len(before) >= 3 and report["f1"] >= 0.8, report
    failures = (tmp_path / "out" / "failures.tsv").read_text().splitlines()
    assert [line.split("\t")[:2] for line in failures[1:]] == [
        ["cut", "partial"],
        ["empty", "failed"],
        ["text", "failed"],
    ]


def test_saved_model_scores_match_the_keras_model(trained_run, long_videos, tmp_path):
    from kvideo.export import export_saved_model

    scorer, spec = load_detector_model(trained_run / "model.keras")
    model = keras.models.load_model(trained_run / "model.keras")
    export_dir = export_saved_model(
        model,
        spec.class_names,
        spec.clip_sampling,
        spec.augmentation,
        tmp_path,
        "detector",
        top_k=1,
    )
    # The SavedModel brings its own class names and clip config (kvideo_export.json).
    served, served_spec = load_detector_model(tmp_path / "detector")
    assert served_spec.class_names == CLASS_NAMES
    assert served_spec.clip_sampling == spec.clip_sampling
    video = long_videos[0] / "actions.mp4"
    scan = ScanSettings(stride_frames=16)
    keras_scores = scan_video(video, scorer, spec, scan)
    served_scores = scan_video(video, served, served_spec, scan)
    # Windows start at 0, 16, ..., 928: the last whose 29 frames fit in 960.
    assert export_dir.endswith("1") and len(keras_scores.scores) == 59
    np.testing.assert_allclose(served_scores.scores, keras_scores.scores, atol=1e-5)

    # The adapter reads the clips input's name from the signature: a `serve_clips` whose
    # input is called `video` (as after the move to named model inputs) works the same.
    import tensorflow as tf

    from kvideo.export._common import probabilities

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve_clips",
        lambda video: {"scores": probabilities(model, video)},
        input_signature=[tf.TensorSpec([None, 8, None, None, 3], tf.uint8, "video")],
    )
    archive.write_out(str(tmp_path / "named" / "1"), verbose=False)
    renamed = ClipScorer.from_saved_model(tmp_path / "named")
    clips = np.random.default_rng(0).integers(0, 256, (3, 8, 40, 40, 3), dtype=np.uint8)
    np.testing.assert_allclose(renamed(clips), scorer(clips), atol=1e-5)


def test_a_tsn_model_needs_a_window_length_and_then_scans(trained_run, long_videos, tmp_path):
    config = tmp_path / "tsn.json"
    config.write_text(
        json.dumps(
            {
                "clip_sampling": {"method": "tsn", "num_segments": 8},
                "augmentation": {"crop_size": 32, "test_crop_fraction": 1.0},
            }
        )
    )
    video = long_videos[0] / "still.mp4"
    model = trained_run / "model.keras"
    # A settings error ends the call before any video, rather than failing each one.
    with pytest.raises(ValueError, match="window_frames"):
        detect(video, model, tmp_path / "out", clip_config=config, show_progress=False)
    assert not (tmp_path / "out" / "videos").exists()
    scan = ScanSettings(window_frames=32)
    run = detect(video, model, tmp_path / "out", clip_config=config, scan=scan, show_progress=False)
    assert run.processed == ["still"] and not run.failed
    record = json.loads((tmp_path / "out" / "videos" / "still.json").read_text())
    # 480 frames, windows of 32 every 8 (a quarter window): starts 0, 8, ..., 448.
    assert record["num_windows"] == 57


def test_decoding_in_a_thread_gives_the_same_scores(trained_run, long_videos):
    scorer, spec = load_detector_model(trained_run / "model.keras")
    video = long_videos[0] / "actions.mp4"
    threaded = scan_video(video, scorer, spec, ScanSettings(stride_frames=16, prefetch=2))
    inline = scan_video(video, scorer, spec, ScanSettings(stride_frames=16, prefetch=0))
    np.testing.assert_array_equal(threaded.scores, inline.scores)
    np.testing.assert_array_equal(threaded.centres, inline.centres)


def test_memory_does_not_grow_with_video_length(trained_run, tmp_path):
    # Python and numpy allocations (tracemalloc) while scanning a 1-minute and a
    # 4-minute video: the frame ring and the batches are the same size for both.
    scorer, spec = load_detector_model(trained_run / "model.keras")
    peaks = {}
    for minutes in (1, 4):
        path = tmp_path / f"{minutes}.mp4"
        write_event_video(path, 60 * minutes, [(20, 0)], seed=minutes)
        scan_video(path, scorer, spec, SCAN)  # warm-up: tracing allocates once
        tracemalloc.start()
        result = scan_video(path, scorer, spec, SCAN)
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert result.num_frames == 960 * minutes
    print({m: f"{p / 2**20:.2f} MiB" for m, p in peaks.items()})
    # What does grow: the window scores, 2 float32 + 3 float64 per window (~1 KiB/min).
    assert peaks[4] < peaks[1] + 512 * 1024, peaks


# --- folders: resuming after a kill ------------------------------------------------------


def _detect_main(*flags: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(DETECT_MAIN), *flags],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_killed_folder_run_resumes_and_processes_every_video_once(trained_run, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    names = [f"clip{i}" for i in range(4)]
    for i, name in enumerate(names):
        write_event_video(videos / f"{name}.mp4", 40, [(10 + 5 * i, i % 2)], seed=10 + i)
    out = tmp_path / "out"
    flags = [
        f"--model={trained_run / 'model.keras'}",
        f"--input={videos}",
        f"--output_dir={out}",
        "--stride_frames=2",
        "--notimeline",
    ]
    records = out / "videos"
    process = _detect_main(*flags)
    deadline = time.time() + 300
    # Kill hard as soon as the first video's record is on disk.
    while not (records.is_dir() and list(records.glob("*.json"))):
        assert process.poll() is None, process.stdout.read()
        assert time.time() < deadline, "the first video took too long"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = {p.stem: p.read_text() for p in records.glob("*.json")}
    assert 1 <= len(first) < len(names), "the run finished before it could be killed"

    process = _detect_main(*flags)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    after = {p.stem: json.loads(p.read_text()) for p in records.glob("*.json")}
    assert sorted(after) == names
    # The videos finished before the kill were left alone (same record, same run); the
    # others were processed by the second run, once.
    for name in first:
        assert (records / f"{name}.json").read_text() == first[name]
    runs = {record["run_id"] for name, record in after.items() if name not in first}
    assert len(runs) == 1 and runs.isdisjoint(after[name]["run_id"] for name in first)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processed_this_run"] == len(names) - len(first)
    assert output.count("done before, skipped") == len(first)
    assert set(json.loads((out / "detections.json").read_text())["results"]) == set(names)


def test_progress_in_a_log_is_one_line_per_report_without_carriage_returns():
    import io

    from kvideo.detection.progress import Progress

    log = io.StringIO()  # not a terminal
    progress = Progress([60.0, None, 30.0], stream=log, log_interval_s=0)
    progress.skip_video(1, "b", "done before, skipped")
    progress.start_video(0, "a")
    progress.update(480, 30.0)
    progress.finish_video("2 segments, done")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 3
    assert lines[0] == "[2/3] b  done before, skipped"
    assert lines[1].startswith("[1/3] a  0:30/1:00 50%  ") and "x real time  ETA " in lines[1]
    # Overall: 30 of the 90 s left to do once "b" is skipped.
    assert "| all 33% ETA " in lines[1]
    assert lines[2].startswith("[1/3] a  0:30  ") and lines[2].endswith("2 segments, done")


# --- the program -------------------------------------------------------------------------


def test_help_does_not_load_tensorflow():
    script = (
        "import runpy, sys\n"
        f"sys.argv = [{str(DETECT_MAIN)!r}, '--help']\n"
        "try:\n"
        f"    runpy.run_path({str(DETECT_MAIN)!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('TF LOADED' if 'tensorflow' in sys.modules else 'NO TF')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert "--stride_s" in result.stdout and result.stdout.strip().endswith("NO TF")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--stride_s=1", "--stride_frames=4"], "not both"),
        (["--high_threshold=0.2"], "low_threshold"),
        (["--tiou_thresholds=0.5,2"], "tiou_thresholds"),
        (["--input=/no/such/folder"], "--input"),
        (["stray"], "Unexpected arguments"),
    ],
)
def test_detect_main_rejects_bad_flags_before_any_work(extra, message, trained_run, tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"")
    flags = [
        f"--model={trained_run / 'model.keras'}",
        f"--input={tmp_path / 'v.mp4'}",
        f"--output_dir={tmp_path / 'out'}",
    ]
    result = _detect_main(*flags, *extra)
    output, _ = result.communicate(timeout=120)
    assert result.returncode != 0 and message in output, output
    assert "Traceback" not in output
    assert not (tmp_path / "out").exists()


def test_find_videos_keys_and_the_output_folder_is_left_out(tmp_path):
    for name in ("a.mp4", "sub/b.avi", "sub/c.MKV", "notes.txt", ".hidden/d.mp4", "x.mp4", "x.avi"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.labelled.mp4").write_bytes(b"")
    found = find_videos(tmp_path, exclude=tmp_path / "out")
    assert list(found) == ["a", "sub/b", "sub/c", "x.avi", "x.mp4"]
    assert find_videos([tmp_path / "sub" / "b.avi", tmp_path / "a.mp4"]) == {
        "a": str(tmp_path / "a.mp4"),
        "sub/b": str(tmp_path / "sub" / "b.avi"),
    }
    with pytest.raises(ValueError, match="No such video"):
        find_videos(tmp_path / "missing.mp4")


# --- slow tier: peak RSS of a 2-minute vs a 20-minute video ---------------------------

RSS_SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, {repo!r})
from kvideo.detection import ScanSettings, load_detector_model, scan_video

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

scorer, spec = load_detector_model({model!r})
scorer(np.zeros((8, 8, 64, 64, 3), np.uint8))  # trace the model before measuring
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak (VmHWM) to the current resident size
result = scan_video({video!r}, scorer, spec, ScanSettings(stride_frames=4))
print("FRAMES", result.num_frames)
print("RSS_KIB", before, status("VmHWM"))
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_peak_rss_of_a_20_minute_video_is_that_of_a_2_minute_one(trained_run, tmp_path):
    # Resident memory of a fresh process scanning the video, from just before the scan
    # (model loaded and traced) to its peak during the scan (VmHWM, reset before it).
    rss = {}
    for minutes in (2, 20):
        video = tmp_path / f"{minutes}.mp4"
        write_event_video(video, 60 * minutes, [(30, 0)], seed=minutes)
        script = RSS_SCRIPT.format(
            repo=str(REPO), model=str(trained_run / "model.keras"), video=str(video)
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"FRAMES {960 * minutes}" in result.stdout
        before, peak = result.stdout.split("RSS_KIB")[1].split()[:2]
        rss[minutes] = (int(before) / 1024, int(peak) / 1024)
    print({m: f"{b:.1f} MiB before, {p:.1f} MiB peak" for m, (b, p) in rss.items()})
    growth = {m: peak - before for m, (before, peak) in rss.items()}
    # Ten times the video, the same memory: the scan's growth within 8 MiB of the short
    # video's (the window scores of 20 minutes are ~0.2 MiB), the peaks within 3%.
    assert growth[20] <= growth[2] + 8, rss
    assert rss[20][1] <= 1.03 * rss[2][1], rss
