"""Tests of `kvideo.export`: TF Serving SavedModel, TFLite and `export/export_main.py`.

Parity is checked against what evaluation computes in this process: the Keras model's
softmax on `test_views` of the test frame indices, averaged over the views. The SavedModel
is run in a fresh Python process that imports plain TensorFlow only, as a server would.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvideo.data import Augmentation, ClipSampling
from kvideo.data import test_views as eval_views  # aliased: pytest would collect test_*
from kvideo.export import (
    CLIPS_SIGNATURE,
    CONTRACT_FILENAME,
    SERVING_SIGNATURE,
    check_tflite,
    export_saved_model,
    export_tflite,
    frames_to_views,
)
from kvideo.models import KINETICS_MEAN, KINETICS_STD, build_video_classifier
from tests.helpers import forget_program_flags, randomize_weights

CLASS_NAMES = ["archery", "bowling", "cartwheel", "diving", "eating cake"]
CLIP_LENGTH = 8
CROP = 32
# Two clips x three crops = six views per video, so view gathering and averaging count.
SAMPLING = ClipSampling(num_frames=CLIP_LENGTH, num_clips=2)
AUGMENTATION = Augmentation(crop_size=CROP, test_crop="three_crop")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORT_MAIN = os.path.join(REPO_ROOT, "export", "export_main.py")


def _frames(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _softmax(model, clips) -> np.ndarray:
    return keras.ops.convert_to_numpy(tf.nn.softmax(model(clips, training=False)))


def _eval_scores(model, video, sampling, augmentation) -> np.ndarray:
    """What evaluation computes for one uint8 video `(frames, H, W, 3)`, clip by clip."""
    indices = sampling.test_indices(len(video)).numpy()
    views = np.concatenate([eval_views(tf.constant(video[i]), augmentation) for i in indices])
    assert len(views) == sampling.num_clips * augmentation.num_test_crops
    return _softmax(model, views).mean(axis=0)


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture(scope="module")
def model():
    model = build_video_classifier(
        "r2plus1d_tiny", len(CLASS_NAMES), input_shape=(CLIP_LENGTH, CROP, CROP, 3)
    )
    # Random weights and BN statistics, so that a wrong view or normalisation shows.
    randomize_weights(model, seed=1)
    return model


@pytest.fixture(scope="module")
def saved_model_dir(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    return export_saved_model(
        model, CLASS_NAMES, SAMPLING, AUGMENTATION, root, "tiny_actions", version=3, top_k=3
    )


@pytest.fixture(scope="module")
def tflite_files(model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tflite")
    return {
        q: export_tflite(model, directory, CLASS_NAMES, SAMPLING, AUGMENTATION, quantization=q)
        for q in ("float32", "float16")
    }


# --- Evaluation transform ---------------------------------------------------------


def test_clip_length_frames_are_the_centred_clip():
    # Sending exactly one clip of frames selects those frames, in order.
    for sampling in (ClipSampling(num_frames=8), SAMPLING):
        indices = sampling.test_indices(8).numpy()
        np.testing.assert_array_equal(indices, np.tile(np.arange(8), (sampling.num_clips, 1)))


@pytest.mark.parametrize(
    "sampling, augmentation, num_frames",
    [
        (SAMPLING, AUGMENTATION, 13),
        (SAMPLING, AUGMENTATION, 3),  # shorter than a clip: the indices loop
        (ClipSampling("tsn", num_segments=4, num_clips=3), Augmentation(crop_size=16), 13),
    ],
)
def test_frames_to_views_matches_per_video_eval_transform(sampling, augmentation, num_frames):
    frames = _frames((2, num_frames, 21, 30, 3))
    views = frames_to_views(tf.constant(frames), sampling, augmentation).numpy()
    num_views = sampling.num_clips * augmentation.num_test_crops
    # uint8 crops as cut from the 21x30 frames: the short side (three-crop) or 0.875 of it.
    side = 21 if augmentation.test_crop == "three_crop" else 18
    assert views.dtype == np.uint8
    assert views.shape == (2, num_views, sampling.clip_length, side, side, 3)
    for video, got in zip(frames, views, strict=True):
        indices = sampling.test_indices(len(video)).numpy()
        expected = [eval_views(tf.constant(video[i]), augmentation) for i in indices]
        expected = np.concatenate(expected)
        np.testing.assert_array_equal(got, expected)


# --- SavedModel -----------------------------------------------------------------------


_SERVE_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    export_dir, frames_path, square_path, clips_path, out_path = sys.argv[1:]
    loaded = tf.saved_model.load(export_dir)
    serve = loaded.signatures["serving_default"]
    serve_clips = loaded.signatures["serve_clips"]
    videos = serve(video=tf.constant(np.load(frames_path)))
    square = serve(video=tf.constant(np.load(square_path)))
    clips = serve_clips(video=tf.constant(np.load(clips_path)))
    assert not any(m.split(".")[0] == "kvideo" for m in sys.modules), "kvideo was imported"
    np.savez(
        out_path,
        inputs=np.array(sorted(serve.structured_input_signature[1])),
        outputs=np.array(sorted(serve.structured_outputs)),
        **{k: v.numpy() for k, v in videos.items() if k != "top_k_labels"},
        top_k_labels=np.char.decode(videos["top_k_labels"].numpy().astype(bytes)),
        square_scores=square["scores"].numpy(),
        clip_scores=clips["scores"].numpy(),
    )
    """
)


def test_saved_model_in_fresh_process_matches_eval(model, saved_model_dir, tmp_path):
    videos = _frames((2, 12, 45, 61, 3))  # odd sizes, more frames than a clip
    square = _frames((1, CLIP_LENGTH, CROP, CROP, 3), seed=1)  # exactly one clip
    clips = _frames((2, CLIP_LENGTH, 40, 50, 3), seed=2)  # crops of another size
    paths = [str(tmp_path / f"{n}.npy") for n in ("videos", "square", "clips")]
    for path, array in zip(paths, (videos, square, clips), strict=True):
        np.save(path, array)
    out = str(tmp_path / "out.npz")
    subprocess.run(
        [sys.executable, "-c", _SERVE_SCRIPT, saved_model_dir, *paths, out],
        check=True,
        env=_subprocess_env(),
        cwd=str(tmp_path),  # keep the repository (and kvideo) off sys.path
    )
    got = np.load(out)

    assert list(got["inputs"]) == ["video"]  # the model's named input
    assert list(got["outputs"]) == ["scores", "top_k_indices", "top_k_labels", "top_k_scores"]
    expected = np.stack([_eval_scores(model, v, SAMPLING, AUGMENTATION) for v in videos])
    assert got["scores"].shape == (2, len(CLASS_NAMES)) and got["scores"].dtype == np.float32
    np.testing.assert_allclose(got["scores"], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got["scores"].sum(axis=-1), 1.0, atol=1e-5)

    order = np.argsort(-expected, axis=-1)[:, :3]
    np.testing.assert_array_equal(got["top_k_indices"], order)
    assert got["top_k_indices"].dtype == np.int32
    assert got["top_k_labels"].tolist() == [[CLASS_NAMES[i] for i in row] for row in order]
    best = np.take_along_axis(expected, order, axis=-1)
    np.testing.assert_allclose(got["top_k_scores"], best, atol=1e-5)

    # One clip of square frames: the in-graph transform is the identity, so the frames
    # signature and Keras agree; the clips signature takes crops of any size.
    np.testing.assert_allclose(got["square_scores"], _softmax(model, square), atol=1e-5, rtol=0)
    np.testing.assert_allclose(got["clip_scores"], _softmax(model, clips), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((2, 12, 45, 61), "`video` must be uint8 \\(batch, frames, height, width, 3\\)"),
        ((1, 0, 20, 20, 3), "`video` must hold at least one frame"),
        ((1, 8, 0, 20, 3), "at least 1x1 pixels"),
        ((1, 8, 20, 20, 4), "`video` must have 3 channels per frame"),
    ],
)
def test_serving_signature_says_what_a_bad_request_lacks(saved_model_dir, shape, message):
    serve = tf.saved_model.load(saved_model_dir).signatures[SERVING_SIGNATURE]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serve(video=tf.zeros(shape, tf.uint8))


def test_saved_model_layout_and_contract(saved_model_dir):
    model_dir = os.path.dirname(saved_model_dir)
    assert saved_model_dir == os.path.join(model_dir, "3")
    assert os.path.basename(model_dir) == "tiny_actions"
    assert os.listdir(model_dir) == ["3"]  # no staging directory left behind
    assert os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb"))
    assert os.path.isdir(os.path.join(saved_model_dir, "variables"))
    with open(os.path.join(saved_model_dir, "assets", "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == CLASS_NAMES

    with open(os.path.join(saved_model_dir, "assets.extra", CONTRACT_FILENAME)) as f:
        contract = json.load(f)
    assert contract["class_names"] == CLASS_NAMES
    assert contract["clip_sampling"] == {
        "method": "dense",
        "num_frames": CLIP_LENGTH,
        "frame_stride": 1,
        "num_segments": 8,
        "num_clips": 2,
    }
    assert contract["augmentation"]["test_crop"] == "three_crop"
    assert contract["augmentation"]["crop_size"] == CROP
    assert set(contract["signatures"]) == {SERVING_SIGNATURE, CLIPS_SIGNATURE}


def test_saved_model_refuses_to_overwrite_a_version(model, saved_model_dir):
    root = os.path.dirname(os.path.dirname(saved_model_dir))
    with pytest.raises(ValueError, match="already exists"):
        export_saved_model(model, CLASS_NAMES, SAMPLING, AUGMENTATION, root, "tiny_actions", 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"top_k": 0}, "top_k=0"),
        ({"version": 0}, "version=0"),
        ({"model_name": "a/b"}, "model_name='a/b'"),
        ({"class_names": CLASS_NAMES[:4]}, "len\\(class_names\\)=4"),
        ({"class_names": ["a", "b\nc", "d", "e", "f"]}, "single-line"),
        ({"clip_sampling": ClipSampling(num_frames=16)}, "clip_length=16"),
        ({"augmentation": Augmentation(crop_size=64)}, "crop_size=64"),
    ],
)
def test_saved_model_bad_arguments(model, tmp_path, kwargs, match):
    args = {
        "class_names": CLASS_NAMES,
        "clip_sampling": SAMPLING,
        "augmentation": AUGMENTATION,
        "export_dir": tmp_path,
        "model_name": "m",
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        export_saved_model(model, **args)
    assert not os.path.exists(tmp_path / "m" / "1")


def test_export_needs_a_model_that_takes_uint8_frames(tmp_path):
    """A model without ClipPreprocessing would get unnormalised crops: refused."""
    bare = build_video_classifier(
        "r3d_tiny", len(CLASS_NAMES), input_shape=(CLIP_LENGTH, CROP, CROP, 3), preprocessing=False
    )
    with pytest.raises(ValueError, match="ClipPreprocessing"):
        export_saved_model(bare, CLASS_NAMES, SAMPLING, AUGMENTATION, tmp_path, "m")
    with pytest.raises(ValueError, match="ClipPreprocessing"):
        export_tflite(bare, tmp_path, CLASS_NAMES, SAMPLING, AUGMENTATION)


# --- TFLite ---------------------------------------------------------------------------


def test_tflite_float32_parity_builtin_ops_only(model, tflite_files):
    path = tflite_files["float32"]
    with open(path, "rb") as f:
        # Select TF ops would appear as "Flex..." custom op codes in the flatbuffer.
        assert b"Flex" not in f.read()
    clips = _frames((3, CLIP_LENGTH, CROP, CROP, 3), seed=2)
    assert check_tflite(path, model, clips) <= 1e-5


def test_tflite_float16_is_smaller_and_close(model, tflite_files):
    size32 = os.path.getsize(tflite_files["float32"])
    size16 = os.path.getsize(tflite_files["float16"])
    assert size16 < 0.6 * size32
    clips = _frames((3, CLIP_LENGTH, CROP, CROP, 3), seed=3)
    assert check_tflite(tflite_files["float16"], model, clips) <= 1e-2


def test_tflite_sidecar_files(tflite_files):
    directory = os.path.dirname(tflite_files["float32"])
    assert os.path.basename(tflite_files["float32"]) == "r2plus1d_tiny.tflite"
    assert os.path.basename(tflite_files["float16"]) == "r2plus1d_tiny_float16.tflite"
    with open(os.path.join(directory, "labels.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == CLASS_NAMES
    with open(os.path.join(directory, "r2plus1d_tiny_float16.json")) as f:
        record = json.load(f)
    assert record["quantization"] == "float16"
    [video] = record["inputs"]
    assert video["name"] == "video"
    assert video["shape"] == [1, CLIP_LENGTH, CROP, CROP, 3]
    assert video["dtype"] == "uint8"
    assert video["mean"] == list(KINETICS_MEAN)
    assert video["std"] == list(KINETICS_STD)
    assert record["preprocessing"]["clip_length"] == CLIP_LENGTH
    assert record["preprocessing"]["crop_size"] == CROP
    # The whole evaluation transform, always.
    assert record["clip_sampling"] == {
        "method": "dense",
        "num_frames": CLIP_LENGTH,
        "frame_stride": 1,
        "num_segments": 8,
        "num_clips": 2,
    }
    assert record["augmentation"]["test_crop"] == "three_crop"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"quantization": "int4"}, "quantization='int4'"),
        ({"clip_sampling": ClipSampling(num_frames=4)}, "clip_length=4"),
        ({"augmentation": Augmentation(crop_size=16)}, "crop_size=16"),
        ({"class_names": ["x"]}, "len\\(class_names\\)=1"),
        # The former call with a clip length and crop size says what replaced them.
        ({"clip_sampling": CLIP_LENGTH, "augmentation": CROP}, "in place of the former"),
    ],
)
def test_tflite_bad_arguments(model, tmp_path, kwargs, match):
    args = {
        "class_names": CLASS_NAMES,
        "clip_sampling": SAMPLING,
        "augmentation": AUGMENTATION,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        export_tflite(model, tmp_path, **args)


# --- export_main.py -------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_files(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    model_path = str(root / "model.keras")
    model.save(model_path)
    labels = str(root / "labels.txt")
    with open(labels, "w", encoding="utf-8") as f:
        f.write("\n".join(CLASS_NAMES) + "\n")
    config = str(root / "clip_config.json")
    with open(config, "w") as f:
        json.dump(
            {"clip_sampling": {"method": "tsn", "num_segments": CLIP_LENGTH, "num_clips": 2}},
            f,
        )
    return {"model_path": model_path, "labels": labels, "clip_config": config}


@pytest.fixture(scope="module")
def export_main():
    """The `export/export_main.py` module, loaded once (its flags are process-global)."""
    spec = importlib.util.spec_from_file_location("export_main", EXPORT_MAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    forget_program_flags(module)  # other programs define flags of the same names


def _run_main(export_main, *args: str) -> None:
    """Parses `args` as flags and calls `main`, as `app.run` would; resets the flags after.

    In-process rather than a subprocess: a second TensorFlow start would double the time.
    """
    from absl import flags

    try:
        flags.FLAGS(["export_main", *args])
        export_main.main(["export_main"])
    finally:
        flags.FLAGS.unparse_flags()


def test_export_main_writes_both_formats(export_main, model_files, tmp_path):
    flags = [f"--{k}={v}" for k, v in model_files.items()]
    _run_main(export_main, *flags, f"--output_dir={tmp_path}", "--model_name=demo")
    version_dir = tmp_path / "demo" / "1"
    assert (version_dir / "saved_model.pb").is_file()
    tflite = tmp_path / "demo_tflite" / "1" / "demo.tflite"
    assert tflite.is_file() and (tflite.parent / "labels.txt").is_file()
    with open(version_dir / "assets.extra" / CONTRACT_FILENAME) as f:
        contract = json.load(f)
    # The clip config's fields, with the rest defaulted to what the model takes.
    assert contract["clip_sampling"]["method"] == "tsn"
    assert contract["clip_sampling"]["num_clips"] == 2
    assert contract["augmentation"]["crop_size"] == CROP


@pytest.mark.parametrize(
    "drop, message",
    [("model_path", "--model_path must have a value"), ("output_dir", "--output_dir must have")],
)
def test_export_main_missing_flag_is_a_usage_error(model_files, tmp_path, drop, message):
    # A real process: what a user sees is absl's flag error, not a traceback.
    flags = {**model_files, "output_dir": str(tmp_path), "model_name": "demo"}
    del flags[drop]
    result = subprocess.run(
        [sys.executable, EXPORT_MAIN, *[f"--{k}={v}" for k, v in flags.items()]],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.listdir(tmp_path)


def test_export_main_bad_input_is_a_usage_error(export_main, model_files, tmp_path):
    # Labels that do not match the model fail in the library (ValueError), which main
    # turns into a usage error (app.run prints it with the usage, no traceback).
    from absl import app

    labels = tmp_path / "labels.txt"
    labels.write_text("only\ntwo\n")
    flags = [
        f"--model_path={model_files['model_path']}",
        f"--labels={labels}",
        f"--output_dir={tmp_path / 'out'}",
        "--model_name=demo",
    ]
    with pytest.raises(app.UsageError, match="len\\(class_names\\)=2"):
        _run_main(export_main, *flags)
    with pytest.raises(app.UsageError, match="Unexpected arguments: stray"):
        export_main.main(["export_main", "stray"])
    assert not os.path.exists(tmp_path / "out" / "demo" / "1")
