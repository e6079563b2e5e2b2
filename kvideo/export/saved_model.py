"""Export a video classifier as a TF Serving SavedModel that takes raw decoded frames.

The served graph does exactly what evaluation does (`kvideo.data.make_clip_dataset` with
`training=False`): pick the test frame indices, apply `test_views`, run the model on every
view and average the softmax probabilities over the views. A client therefore sends the
decoded uint8 frames of a (short) video and nothing else.

Layout, as TF Serving expects (`--model_base_path=<export_dir>/<model_name>`)::

    <export_dir>/<model_name>/<version>/
        saved_model.pb
        variables/
        assets/labels.txt                  # read by the graph's label lookup table
        assets.extra/kvideo_export.json    # the contract: classes, sampling, transform
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

import kvideo
from kvideo.data.pipeline import Augmentation, ClipSampling, test_views
from kvideo.export import _common as common

SERVING_SIGNATURE = "serving_default"
CLIPS_SIGNATURE = "serve_clips"
FRAMES_INPUT = "frames"
CLIPS_INPUT = "clips"
CONTRACT_FILENAME = "kvideo_export.json"


def export_saved_model(
    model: keras.Model,
    class_names: Sequence[str],
    clip_sampling: ClipSampling,
    augmentation: Augmentation,
    export_dir: str | os.PathLike,
    model_name: str,
    version: int = 1,
    top_k: int = 5,
    overwrite: bool = False,
) -> str:
    """Writes `model` with in-graph evaluation preprocessing as a TF Serving SavedModel.

    Signatures:
        `serving_default`: `frames` uint8 `(batch, frames, height, width, 3)`, any frame
            count / height / width (the videos of one request share them). Returns
            `scores` float32 `(batch, num_classes)` (softmax probabilities averaged over
            the `num_clips * num_test_crops` test views), `top_k_scores` float32
            `(batch, k)`, `top_k_indices` int32 `(batch, k)` and `top_k_labels` string
            `(batch, top_k)`, best first.
        `serve_clips`: `clips` uint8 `(batch, clip_length, height, width, 3)`, already
            sampled and cropped, any height and width (the model resizes them to
            `crop_size`). Returns `scores` float32 `(batch, num_classes)` (softmax of one
            view per clip).

    Args:
        model: classifier mapping uint8 `(batch, clip_length, height, width, 3)` clips to
            logits (or softmax probabilities with `activation="softmax"`), starting with
            `ClipPreprocessing` (as `build_video_classifier` builds it).
        class_names: one name per model output, in output order.
        clip_sampling: the temporal sampling used in evaluation.
        augmentation: the spatial transform; its test crop(s) are used.
        export_dir: parent directory; the model goes to `<export_dir>/<model_name>/<version>`.
        model_name: TF Serving model name (a directory name).
        version: positive integer version directory.
        top_k: number of best classes returned, in `[1, num_classes]`.
        overwrite: replace an existing version directory instead of raising.

    Returns:
        The version directory.
    """
    if not isinstance(clip_sampling, ClipSampling):
        raise ValueError(
            f"`clip_sampling` must be a ClipSampling. Received: clip_sampling={clip_sampling!r}"
        )
    if not isinstance(augmentation, Augmentation):
        raise ValueError(
            f"`augmentation` must be an Augmentation. Received: augmentation={augmentation!r}"
        )
    common.check_clip_shape(model, clip_sampling.clip_length, augmentation.crop_size)
    names = common.check_class_names(class_names, model)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= len(names):
        raise ValueError(f"`top_k` must be an integer in [1, {len(names)}]. Received: {top_k=}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"`version` must be a positive integer. Received: version={version!r}")
    if (
        not isinstance(model_name, str)
        or not model_name
        or model_name in (".", "..")
        or os.sep in model_name
        or "/" in model_name
    ):
        raise ValueError(
            f"`model_name` must be a plain directory name. Received: model_name={model_name!r}"
        )

    model_dir = os.path.join(os.fspath(export_dir), model_name)
    version_dir = os.path.join(model_dir, str(version))
    if os.path.exists(version_dir) and not overwrite:
        raise ValueError(
            f"{version_dir} already exists; pass overwrite=True or a new version. "
            f"Received: version={version}"
        )
    os.makedirs(model_dir, exist_ok=True)

    # TF Serving polls <model_dir> and loads any new numeric directory, so the model is
    # written under a non-numeric name (which TF Serving ignores) and renamed into place
    # only when complete.
    # (mkdtemp would make it 0700, unreadable by a server running as another user.)
    staging = os.path.join(model_dir, f".tmp-{version}-{uuid.uuid4().hex[:8]}")
    os.makedirs(staging)
    try:
        _write(staging, model, names, clip_sampling, augmentation, model_name, version, top_k)
        if os.path.exists(version_dir):
            shutil.rmtree(version_dir)
        os.rename(staging, version_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version_dir


def frames_to_views(
    frames: tf.Tensor, clip_sampling: ClipSampling, augmentation: Augmentation
) -> tf.Tensor:
    """The evaluation transform of a batch of videos, vectorised over the batch.

    Equivalent to, for each video, gathering `clip_sampling.test_indices(num_frames)` and
    applying `test_views` to each clip: the indices and crop windows depend only on the
    frame count and frame size, which all videos of the batch share, and `test_views`
    treats every frame independently, so the whole batch goes through it as one long
    "video".

    Args:
        frames: `(batch, frames, height, width, 3)` uint8.

    Returns:
        `(batch, views, clip_length, h, w, 3)` uint8 crops, `views = num_clips *
        num_test_crops` ordered clip-major (as the eval pipeline); the model resizes them.
    """
    shape = tf.shape(frames)
    batch, num_frames = shape[0], shape[1]
    tf.debugging.assert_positive(num_frames, message="`frames` must hold at least one frame")
    indices = clip_sampling.test_indices(num_frames)  # (num_clips, clip_length)
    num_clips = tf.shape(indices)[0]
    length = clip_sampling.clip_length
    crops = augmentation.num_test_crops

    picked = tf.gather(frames, tf.reshape(indices, [-1]), axis=1)  # (B, clips*L, H, W, 3)
    flat = tf.reshape(picked, tf.concat([[-1], shape[2:]], axis=0))
    views = test_views(flat, augmentation)  # (crops, B*clips*L, h, w, 3)
    height, width = tf.shape(views)[2], tf.shape(views)[3]
    views = tf.reshape(views, [crops, batch, num_clips, length, height, width, 3])
    views = tf.transpose(views, [1, 2, 0, 3, 4, 5, 6])  # (B, clips, crops, L, ...)
    return tf.reshape(views, [batch, -1, length, height, width, 3])


def _write(
    path: str,
    model: keras.Model,
    class_names: list[str],
    clip_sampling: ClipSampling,
    augmentation: Augmentation,
    model_name: str,
    version: int,
    top_k: int,
) -> None:
    length = clip_sampling.clip_length

    with tempfile.TemporaryDirectory() as tmp:
        # The labels live in a lookup table initialised from labels.txt, which SavedModel
        # copies into assets/: the model is self-contained and the file is there to read.
        labels_file = common.write_labels(tmp, class_names)
        table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                labels_file,
                key_dtype=tf.int64,
                key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                value_dtype=tf.string,
                value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value="",
        )

        def serve_frames(frames: tf.Tensor) -> dict[str, tf.Tensor]:
            views = frames_to_views(frames, clip_sampling, augmentation)
            shape = tf.shape(views)
            batch, num_views = shape[0], shape[1]
            # All views of all videos in one model call.
            clips = tf.reshape(views, tf.concat([[-1], shape[2:]], axis=0))
            probs = common.probabilities(model, clips)
            probs = tf.reshape(probs, [batch, num_views, len(class_names)])
            scores = tf.reduce_mean(probs, axis=1)
            top_scores, top_indices = tf.math.top_k(scores, k=top_k)
            return {
                "scores": scores,
                "top_k_scores": top_scores,
                "top_k_indices": top_indices,
                "top_k_labels": table.lookup(tf.cast(top_indices, tf.int64)),
            }

        def serve_clips(clips: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"scores": common.probabilities(model, clips)}

        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.track(table)
        archive.add_endpoint(
            SERVING_SIGNATURE,
            serve_frames,
            input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.uint8, FRAMES_INPUT)],
        )
        archive.add_endpoint(
            CLIPS_SIGNATURE,
            serve_clips,
            input_signature=[tf.TensorSpec([None, length, None, None, 3], tf.uint8, CLIPS_INPUT)],
        )
        archive.write_out(path, verbose=False)

    extra = os.path.join(path, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    common.write_json(
        os.path.join(extra, CONTRACT_FILENAME),
        _contract(class_names, clip_sampling, augmentation, model_name, version, top_k),
    )


def _contract(
    class_names: list[str],
    clip_sampling: ClipSampling,
    augmentation: Augmentation,
    model_name: str,
    version: int,
    top_k: int,
) -> dict[str, Any]:
    length = clip_sampling.clip_length
    return {
        "format": "kvideo.saved_model/1",
        "kvideo_version": kvideo.__version__,
        "model_name": model_name,
        "version": version,
        "class_names": class_names,
        "clip_sampling": dataclasses.asdict(clip_sampling),
        "augmentation": dataclasses.asdict(augmentation),
        "views_per_video": clip_sampling.num_clips * augmentation.num_test_crops,
        "signatures": {
            SERVING_SIGNATURE: {
                "inputs": {FRAMES_INPUT: "uint8 (batch, frames, height, width, 3), RGB"},
                "outputs": {
                    "scores": "float32 (batch, num_classes): softmax averaged over views",
                    "top_k_scores": f"float32 (batch, {top_k})",
                    "top_k_indices": f"int32 (batch, {top_k})",
                    "top_k_labels": f"string (batch, {top_k})",
                },
            },
            CLIPS_SIGNATURE: {
                "inputs": {
                    CLIPS_INPUT: f"uint8 (batch, {length}, height, width, 3), RGB crops; "
                    f"resized to {augmentation.crop_size} in the model"
                },
                "outputs": {"scores": "float32 (batch, num_classes): softmax"},
            },
        },
    }
