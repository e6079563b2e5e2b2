"""Two-stream learning on motion_demo, where one frame cannot tell the classes apart.

Each motion_demo class has a time-reversed twin (moving up / down, growing / shrinking,
speeding up / slowing down) whose single frames look alike, so a network on one RGB
frame stays near a third of the six classes. One stack of five flow fields, or of five
RGB differences, at the same frame shows which way things move: the same backbone on
those inputs, trained for the same steps, does much better, and the weighted fusion of
the three streams (RGB 1, flow 1.5, RGB difference 1) is at least as good as the best of
them.

* default tier: the three streams trained with `model.fit` for 4 epochs on one augmented
  pass of the training split (all three inputs cut from the same frames and windows by
  one pipeline), each network built by the trainer (`build_model`: the RGB preset on
  flow or RGB difference through the cross-modality path), fused by `FusionClassifier`
  averaging probabilities. Measured (seeds 0 and 1): RGB frame 0.125 / 0.139, flow 0.861 /
  0.778, RGB difference 0.611 / 0.639, fused 0.875 / 0.806. Averaging logits instead gave
  0.819 / 0.819, below flow with seed 0: the RGB stream, at chance here by design, ends
  confident on its training clips, and its logits pull the average more than its
  probabilities do. With both motion streams alone, either fusion was at least the best.
* slow tier: the same through `train_and_evaluate` (each stream its own run, the fused
  model evaluated and exported), and the exported SavedModel, fed the decoded frames and
  the stored flow of test videos, gives the fused model's evaluation scores.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvideo.data import load_examples, make_clip_dataset
from kvideo.data.pipeline import select_videos
from kvideo.models import FusionClassifier
from kvideo.models.per_frame.partial_bn import batch_norm_layers
from kvideo.training import StreamConfig, get_experiment, replace_fields, train_and_evaluate
from kvideo.training.evaluate import predict_video_scores
from kvideo.training.fusion import stream_experiment
from kvideo.training.trainer import build_model, compile_model
from tests.conftest import build_dataset

NUM_CLASSES = 6
STREAMS = (StreamConfig("video", 1.0), StreamConfig("flow", 1.5), StreamConfig("rgb_diff", 1.0))
INPUTS = tuple(s.input_name for s in STREAMS)


@pytest.fixture(scope="module")
def flow_demo_dir(motion_demo_dir):
    """motion_demo with its flow (``jpeg_flow``), beside the other configs."""
    build_dataset("motion_demo", "jpeg_flow", motion_demo_dir)  # ~20 s on 2 cores
    return motion_demo_dir


def experiment(data_dir, **overrides):
    """TSN sampling with one segment: one RGB frame, or one stack of 5 flow fields or 5
    RGB differences at that frame; the tiny 2D ResNet on 32x32 crops, global average
    pooling at its end (TSN's; not the preset's fully connected layer)."""
    settings = dict(
        dataset="motion_demo/jpeg_flow",
        data_dir=str(data_dir),
        preset="tsn_tiny",
        backbone_args={"fc_units": None},
        method="tsn",
        num_segments=1,
        crop_size=32,
        batch_size=16,
        epochs=4,
        learning_rate=0.05,
        warmup_epochs=0.5,
        validation_fraction=0.0,
        export=False,
    )
    settings.update(overrides)
    base = replace_fields(get_experiment("motion_demo"), **settings)
    model = dataclasses.replace(base.model, streams=STREAMS, fuse="probabilities")
    return dataclasses.replace(base, model=model)


def _arrays(dataset: tf.data.Dataset):
    features, labels = {}, []
    for batch, label in dataset:
        for name, value in batch.items():
            features.setdefault(name, []).append(value.numpy())
        labels.append(label.numpy())
    return {k: np.concatenate(v) for k, v in features.items()}, np.concatenate(labels)


def test_motion_streams_beat_one_rgb_frame_and_their_fusion_is_at_least_the_best(
    flow_demo_dir,
):
    two_stream = experiment(flow_demo_dir)
    data = two_stream.data
    common = dict(
        batch_size=32,
        clip_sampling=data.clip_sampling,
        # Crops resized to 32 here (as the model would), so that the batches stack.
        augmentation=dataclasses.replace(data.augmentation, resize_in_pipeline=True),
        modalities=INPUTS,
        stack_length=data.stack,
    )
    train, kind, info = load_examples(data.dataset, "train", data_dir=data.data_dir)
    test, _, _ = load_examples(data.dataset, "test", data_dir=data.data_dir)
    # One augmented pass (random segment frame, crop and flip, the same for every input).
    x_train, y_train = _arrays(
        make_clip_dataset(train, storage_kind=kind, training=True, seed=0, **common).take(9)
    )
    x_test, y_test = _arrays(make_clip_dataset(test, storage_kind=kind, training=False, **common))
    assert len(y_train) == 288 and len(y_test) == 72
    assert x_train["flow"].shape == (288, 1, 32, 32, 10)
    assert x_train["rgb_diff"].shape == (288, 1, 32, 32, 18)

    epochs, steps = two_stream.epochs, 288 // 16
    models, accuracy = [], {}
    for stream in STREAMS:
        name = stream.input_name
        single = dataclasses.replace(
            two_stream,
            model=dataclasses.replace(two_stream.model, streams=(), input_name=name),
        )
        keras.utils.set_random_seed(0)  # the same initial backbone for every stream
        model = build_model(single, NUM_CLASSES, flow_bound=info.metadata["flow"]["bound"])
        assert [x.name for x in model.inputs] == [name]
        compile_model(model, single, steps, NUM_CLASSES)
        model.fit(x_train[name], y_train, batch_size=16, epochs=epochs, verbose=0, shuffle=True)
        scores = keras.ops.convert_to_numpy(model.predict(x_test[name], verbose=0))
        accuracy[name] = float(np.mean(scores.argmax(-1) == y_test))
        models.append(model)
    fused = FusionClassifier(
        models, fusion_weights=[s.fusion_weight for s in STREAMS], fuse=two_stream.model.fuse
    )
    scores = keras.ops.convert_to_numpy(fused.predict(x_test, verbose=0))
    accuracy["fused"] = float(np.mean(scores.argmax(-1) == y_test))
    print(accuracy)
    # One frame: at best the pair, a third of the classes (plus luck on 72 videos).
    assert accuracy["video"] <= 0.4, accuracy
    for motion in ("flow", "rgb_diff"):
        assert accuracy[motion] >= accuracy["video"] + 0.3, accuracy
    assert accuracy["fused"] >= max(accuracy[n] for n in INPUTS), accuracy


@pytest.mark.slow
def test_two_stream_runs_learn_fuse_and_export_what_they_evaluate(flow_demo_dir, tmp_path):
    summary = train_and_evaluate(experiment(flow_demo_dir, export=True), tmp_path)
    streams = {name: s["test_top1"] for name, s in summary["streams"].items()}
    print(streams, "fused", summary["test_top1"])
    assert summary["test_videos"] == 72
    assert streams["video"] <= 0.45, streams
    assert min(streams["flow"], streams["rgb_diff"]) >= streams["video"] + 0.3, streams
    assert summary["test_top1"] >= max(streams.values()), summary
    assert summary["fusion_weights"] == {"video": 1.0, "flow": 1.5, "rgb_diff": 1.0}
    for name in INPUTS:
        run = tmp_path / f"stream_{name}"
        assert (run / "model.keras").exists() and (run / "test_evaluation.json").exists()
        assert not (run / "export").exists()  # only the fused model is exported

    # The served fused model: decoded frames and stored flow of whole test videos in,
    # the evaluation's scores out (the same frame indices and windows for every input).
    fused = keras.models.load_model(summary["model"])
    saved_model = pathlib.Path(summary["saved_model"])
    contract = json.loads((saved_model / "assets.extra" / "kvideo_export.json").read_text())
    assert contract["flow"]["bound"] == 20.0
    serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    data = experiment(flow_demo_dir).data
    examples, kind, _ = load_examples(data.dataset, "test", data_dir=data.data_dir)
    ids = {"test_0000_moving_up", "test_0004_speeding_up", "test_0009_shrinking"}
    examples = select_videos(examples, ids, keep=True)
    batches = make_clip_dataset(
        examples,
        storage_kind=kind,
        training=False,
        batch_size=1,
        clip_sampling=data.clip_sampling,
        augmentation=data.augmentation,
        modalities=INPUTS,
        stack_length=data.stack,
    )
    expected, _ = predict_video_scores(fused, batches)
    got = []
    for example in examples:
        frames = tf.map_fn(
            lambda image: tf.io.decode_jpeg(image, channels=3),
            example["frames"],
            fn_output_signature=tf.uint8,
        )
        flow = tf.map_fn(
            lambda pair: tf.concat([tf.io.decode_jpeg(pair[0]), tf.io.decode_jpeg(pair[1])], -1),
            (example["flow_x"], example["flow_y"]),
            fn_output_signature=tf.uint8,
        )
        got.append(serve(video=frames[None], flow=flow[None])["scores"].numpy()[0])
    assert len(got) == 3
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-5)


@pytest.mark.parametrize(
    "name, inputs_and_channels",
    [
        ("video_folder_tsn_two_stream_resnet101", {"video": 3, "flow": 10}),
        pytest.param(
            "video_folder_tsn_rgb_rgb_diff_resnet101",
            {"video": 3, "rgb_diff": 18},
            marks=pytest.mark.slow,  # ResNet-101 twice more; RGB difference is tested above
        ),
        ("video_folder_i3d_two_stream", {"video": 3, "flow": 2}),
    ],
)
def test_two_stream_experiments_build_each_stream_on_its_input(name, inputs_and_channels):
    """Each stream of the named experiments, built as its run builds it (without the
    ImageNet download, at a small size): its input and channels, TSN's partial BN on
    every stream, the flow stream's normalisation."""
    experiment = replace_fields(get_experiment(name), crop_size=32, num_frames=8)
    # (replace_fields leaves fields given None as they are.)
    model = dataclasses.replace(experiment.model, weights=None)
    experiment = dataclasses.replace(experiment, model=model)
    assert experiment.model.input_names == tuple(inputs_and_channels)
    for input_name, channels in inputs_and_channels.items():
        stream = stream_experiment(experiment, input_name)
        model = build_model(stream, 2, flow_bound=20.0)
        assert [(x.name, x.shape[-1]) for x in model.inputs] == [(input_name, channels)]
        trainable = [layer.trainable for layer in batch_norm_layers(model)]
        if experiment.model.partial_bn:  # TSN: every BN layer frozen but the first
            assert trainable[0] and not any(trainable[1:]), name
        else:
            assert all(trainable), name
        if input_name == "flow":
            # TSN: codes to px at the bound (`flow_statistics`); I3D's preset: [-1, 1].
            std = (1 / 40, 1 / 40) if "tsn" in name else (0.5, 0.5)
            assert model.preprocessing.std == std
