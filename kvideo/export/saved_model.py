"""Export a video classifier as a TF Serving SavedModel that takes raw decoded frames.

The served graph does exactly what evaluation does (`kvideo.data.make_clip_dataset` with
`training=False`): pick the test frame indices, cut the test views
(`kvideo.data.views`), run the model on every view and average the softmax probabilities
over the views. A client therefore sends the decoded uint8 frames of a (short) video and
nothing else: one tensor per *source* of the model's named inputs (`kvideo.inputs`):

* ``video``: the decoded RGB frames, for a model on ``video`` and/or ``rgb_diff`` (RGB
  difference is computed in the graph: the signature stacks the frames after each sampled
  one and the model's `RGBDifference` layer differences them);
* ``flow``: the quantised optical flow of the same frames, uint8 codes ``(batch, frames -
  1, h, w, 2)`` (x, y; flow i from frame i to i + 1, as `kvideo.flow.FlowExtractor`
  returns it; one field per frame is accepted too), for a model on ``flow``. Flow cannot
  be computed in a TensorFlow graph, so the client computes it, with the method, bound
  and short side the training data used (the contract's ``"flow"``, when given). Its
  height and width may differ from the frames': windows are scaled to it.

Inputs of other names are sources of their own, taken like ``video``.

Layout, as TF Serving expects (`--model_base_path=<export_dir>/<model_name>`)::

    <export_dir>/<model_name>/<version>/
        saved_model.pb
        variables/
        assets/labels.txt                  # read by the graph's label lookup table
        assets.extra/kvideo_export.json    # the contract: inputs, classes, sampling, transform
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

import kvideo
from kvideo import inputs as named_inputs
from kvideo.data.config import Augmentation, ClipSampling
from kvideo.data.views import batch_views, input_views
from kvideo.export import _common as common

SERVING_SIGNATURE = "serving_default"
CLIPS_SIGNATURE = "serve_clips"
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
    flow: Mapping[str, Any] | None = None,
) -> str:
    """Writes `model` with in-graph evaluation preprocessing as a TF Serving SavedModel.

    Signatures:
        `serving_default`: one input per source of the model's inputs (module docstring):
            ``video`` uint8 `(batch, frames, height, width, 3)`, any frame count / height /
            width (the videos of one request share them); ``flow`` uint8 `(batch,
            frames - 1, h, w, 2)` codes of the same videos. Returns `scores` float32
            `(batch, num_classes)` (softmax probabilities averaged over the
            `num_clips * num_test_crops` test views),
            `top_k_scores` float32 `(batch, k)`, `top_k_indices` int32 `(batch, k)` and
            `top_k_labels` string `(batch, k)`, best first, with `k = min(top_k,
            num_classes)`. A wrong rank, channel count or an empty video is answered with
            an error that says what was expected.
        `serve_clips`: one input per named input of the model, uint8 `(batch,
            clip_length, height, width, channels)`, already sampled and cropped, any height
            and width (the model resizes them to `crop_size`; channels as
            `kvideo.inputs.input_channels` says: 2L flow codes, 3 (L + 1) RGB for
            rgb_diff). Returns `scores` float32 `(batch, num_classes)` (softmax of one view
            per clip).

    Args:
        model: a classifier on uint8 clips (logits or softmax probabilities), every input
            starting with `ClipPreprocessing` (as `build_video_classifier` builds it).
        class_names: one name per model output, in output order.
        clip_sampling: the temporal sampling used in evaluation.
        augmentation: the spatial transform; its test crop(s) are used.
        export_dir: parent directory; the model goes to `<export_dir>/<model_name>/<version>`.
        model_name: TF Serving model name (a directory name).
        version: positive integer version directory.
        top_k: number of best classes returned (at most the number of classes).
        overwrite: replace an existing version directory instead of raising.
        flow: how the training data's flow was computed (a kvideo dataset's
            ``info.metadata["flow"]``: method, bound, short side), written to the contract
            for clients that compute the ``flow`` input.

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
    clip_inputs = common.check_inputs(model, clip_sampling.clip_length, augmentation.crop_size)
    names = common.check_class_names(class_names, model)
    top_k = common.check_top_k(top_k, len(names))
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
        _write(staging, model, clip_inputs, names, clip_sampling, augmentation, top_k)
        extra = os.path.join(staging, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        common.write_json(
            os.path.join(extra, CONTRACT_FILENAME),
            _contract(
                clip_inputs, names, clip_sampling, augmentation, model_name, version, top_k, flow
            ),
        )
        if os.path.exists(version_dir):
            shutil.rmtree(version_dir)
        os.rename(staging, version_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version_dir


def frames_to_views(frames: Any, clip_sampling: ClipSampling, augmentation: Augmentation) -> Any:
    """The evaluation views of a batch of videos: `kvideo.data.views.batch_views` per input.

    Args:
        frames: uint8 `(batch, frames, height, width, channels)`, or a dict of them by
            input name (every input of one length and size).

    Returns:
        The same structure, each `(batch, views, clip_length, h, w, channels)`, `views =
        num_clips * num_test_crops` ordered clip-major; the model resizes them.
    """
    return tf.nest.map_structure(lambda x: batch_views(x, clip_sampling, augmentation), frames)


@dataclasses.dataclass(frozen=True)
class _Source:
    """One input of the serving signature: decoded frames or flow, with its channels."""

    name: str
    channels: int


def _sources(clip_inputs: list[common.ClipInput]) -> list[_Source]:
    """The signature's inputs: the sources of the model's inputs, RGB frames first."""
    found: dict[str, _Source] = {}
    for spec in clip_inputs:
        source = named_inputs.SOURCES.get(spec.name, spec.name)
        if source not in named_inputs.NAMES:
            channels = spec.channels  # an input of its own, taken as it is
        else:
            channels = named_inputs.CHANNELS[source]
        found.setdefault(source, _Source(source, channels))
    order = {name: i for i, name in enumerate(named_inputs.NAMES)}
    return sorted(found.values(), key=lambda s: order.get(s.name, len(order)))


def _checked_frames(frames: dict[str, tf.Tensor], sources: list[_Source]) -> dict[str, tf.Tensor]:
    """Validates a request in the graph, with a message that says what was expected.

    Every condition is computed with ops that cannot fail (the shape is padded to rank 5
    first), and one assertion reports the first condition that does not hold: a request
    of the wrong rank would otherwise fail inside a slicing op with a raw graph error.
    Frame sources share their batch, frame count, height and width; flow shares the
    batch and has one field fewer than the frames (or as many), at any size.
    """
    conditions: list[tuple[tf.Tensor, str]] = []
    framed = [s.name for s in sources if s.name != named_inputs.FLOW]
    first = framed[0] if framed else sources[0].name
    shapes = {}
    for spec in sources:
        x = frames[spec.name]
        shapes[spec.name] = tf.concat([tf.shape(x), tf.zeros([5], tf.int32)], axis=0)[:5]
        conditions.append(
            (
                tf.equal(tf.rank(x), 5),
                f"`{spec.name}` must be uint8 (batch, frames, height, width, {spec.channels})",
            )
        )
    for spec in sources:
        shape = shapes[spec.name]
        conditions += [
            (
                tf.equal(shape[4], spec.channels),
                f"`{spec.name}` must have {spec.channels} channels per frame",
            ),
            (
                tf.reduce_all(shape[1:4] > 0),
                f"`{spec.name}` must hold at least one frame of at least 1x1 pixels",
            ),
        ]
        if spec.name != named_inputs.FLOW:
            conditions.append(
                (
                    tf.reduce_all(tf.equal(shape[:4], shapes[first][:4])),
                    f"`{spec.name}` must have the batch, frames, height and width of `{first}`",
                )
            )
        elif framed:
            fields, count = shape[1], shapes[first][1]
            conditions += [
                (
                    tf.equal(shape[0], shapes[first][0]),
                    f"`flow` must have the batch of `{first}`",
                ),
                (
                    tf.logical_or(tf.equal(fields, count - 1), tf.equal(fields, count)),
                    f"`flow` must hold one field fewer than `{first}` has frames (flow i "
                    "goes from frame i to i + 1), or as many",
                ),
            ]
    message = tf.constant("")
    for holds, text in reversed(conditions):  # the first failing condition wins
        message = tf.where(holds, message, text)
    valid = tf.reduce_all(tf.stack([holds for holds, _ in conditions]))
    check = tf.debugging.Assert(valid, ["Bad request:", message])
    checked = {}
    with tf.control_dependencies([check]):
        for spec in sources:
            x = tf.identity(frames[spec.name])
            # Static shape for what follows. Not `tf.ensure_shape`: Grappler then takes the
            # input for rank 5 and folds the rank check away.
            x.set_shape([None, None, None, None, spec.channels])
            checked[spec.name] = x
    return checked


def _write(
    path: str,
    model: keras.Model,
    clip_inputs: list[common.ClipInput],
    class_names: list[str],
    clip_sampling: ClipSampling,
    augmentation: Augmentation,
    top_k: int,
) -> None:
    length = clip_sampling.clip_length
    input_names = [spec.name for spec in clip_inputs]
    sources = _sources(clip_inputs)
    source_names = [source.name for source in sources]
    channels = {spec.name: spec.channels for spec in clip_inputs}

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

        def serve_frames(*tensors: tf.Tensor) -> dict[str, tf.Tensor]:
            frames = _checked_frames(dict(zip(source_names, tensors, strict=True)), sources)
            # Every input's views from the same frame indices and windows (RGB difference
            # and flow stacks included), as evaluation cuts them.
            views = input_views(frames, channels, clip_sampling, augmentation)
            shape = tf.shape(views[input_names[0]])
            batch, num_views = shape[0], shape[1]
            # All views of all videos in one model call.
            clips = {
                name: tf.reshape(v, tf.concat([[-1], tf.shape(v)[2:]], axis=0))
                for name, v in views.items()
            }
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

        def serve_clips(*tensors: tf.Tensor) -> dict[str, tf.Tensor]:
            clips = dict(zip(input_names, tensors, strict=True))
            return {"scores": common.probabilities(model, clips)}

        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.track(table)
        archive.add_endpoint(
            SERVING_SIGNATURE,
            serve_frames,
            # Any rank: a wrong one gets the graph's own message, not a signature mismatch.
            input_signature=[tf.TensorSpec(None, tf.uint8, name) for name in source_names],
        )
        archive.add_endpoint(
            CLIPS_SIGNATURE,
            serve_clips,
            input_signature=[
                tf.TensorSpec([None, length, None, None, spec.channels], tf.uint8, spec.name)
                for spec in clip_inputs
            ],
        )
        archive.write_out(path, verbose=False)


def _contract(
    clip_inputs: list[common.ClipInput],
    class_names: list[str],
    clip_sampling: ClipSampling,
    augmentation: Augmentation,
    model_name: str,
    version: int,
    top_k: int,
    flow: Mapping[str, Any] | None,
) -> dict[str, Any]:
    length = clip_sampling.clip_length
    sources = _sources(clip_inputs)
    source_text = {
        named_inputs.FLOW: "uint8 (batch, frames - 1, h, w, 2): flow codes (x, y; zero motion "
        "128) of the same frames, flow i from frame i to i + 1, at any height and width",
    }
    contract = {
        "format": "kvideo.saved_model/2",
        "kvideo_version": kvideo.__version__,
        "model_name": model_name,
        "version": version,
        "class_names": class_names,
        "inputs": [spec.describe("frames") for spec in clip_inputs],
        "clip_sampling": dataclasses.asdict(clip_sampling),
        "augmentation": dataclasses.asdict(augmentation),
        "views_per_video": clip_sampling.num_clips * augmentation.num_test_crops,
        "signatures": {
            SERVING_SIGNATURE: {
                "inputs": {
                    source.name: source_text.get(
                        source.name,
                        f"uint8 (batch, frames, height, width, {source.channels}); every "
                        "input of one length and size",
                    )
                    for source in sources
                },
                "outputs": {
                    "scores": "float32 (batch, num_classes): softmax averaged over views",
                    "top_k_scores": f"float32 (batch, {top_k})",
                    "top_k_indices": f"int32 (batch, {top_k})",
                    "top_k_labels": f"string (batch, {top_k})",
                },
            },
            CLIPS_SIGNATURE: {
                "inputs": {
                    spec.name: f"uint8 (batch, {length}, height, width, {spec.channels}) "
                    f"crops; resized to {spec.crop_size} in the model"
                    for spec in clip_inputs
                },
                "outputs": {"scores": "float32 (batch, num_classes): softmax"},
            },
        },
    }
    if flow is not None:
        contract["flow"] = {
            **dict(flow),
            "how": "compute the flow input with kvideo.flow.FlowExtractor(FlowConfig(method, "
            "bound, short_side, options)) on the decoded frames, as the training data was",
        }
    return contract
