"""Per-frame 2D models: keras.applications backbones and their pixels, BN-Inception, TSN's
partial batch norm, and consensus vs LRCN vs Transformer on motion that frames cannot show.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kvideo.layers import ClipPreprocessing
from kvideo.models import build_video_classifier, get_model_spec, list_presets
from kvideo.models.per_frame.application_backbone import application_backbone
from kvideo.models.per_frame.inception_bn import bn_inception, inception_v1_bn
from kvideo.models.per_frame.keras_applications import APPLICATIONS
from kvideo.models.per_frame.partial_bn import batch_norm_layers, partial_batch_norm
from kvideo.models.weights import available_weights
from tests.helpers import fit_steps, random_pixels, randomize_weights

# One network per kind of input in the default tier; the rest are slow.
CHEAP = ("vgg16", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0")


def _size(name: str) -> int:
    return 75 if "inception" in name else 32  # Keras's Inception networks need 75x75


def _reference(name: str, size: int) -> keras.Model:
    """keras.applications' own network with its own preprocessing layers, if any."""
    app = APPLICATIONS[name]
    constructor = getattr(keras.applications, app.constructor)
    return constructor(include_top=False, weights=None, input_shape=(size, size, 3))


@pytest.mark.parametrize(
    "name",
    [n if n in CHEAP else pytest.param(n, marks=pytest.mark.slow) for n in APPLICATIONS],
)
def test_application_backbone_equals_keras_applications_with_its_preprocessing(name, tmp_path):
    """uint8 RGB frames -> ClipPreprocessing(the registry's mean/std) -> our backbone
    equals keras.applications' network on ``preprocess_input(frames)`` (BGR and mean
    subtraction, [-1, 1], or the network's own layers), with the same weights loaded
    through keras.applications' own ``weights=`` path; the parameter counts are equal."""
    size = _size(name)
    reference = _reference(name, size)
    # Weights of a moderate scale: deep random networks otherwise blow up to 1e10.
    randomize_weights(reference, seed=1, scale=0.02)
    for w in reference.weights:  # EfficientNet's Normalization layer: a positive variance
        if w.path.endswith("normalization/variance"):
            w.assign(np.linspace(0.5, 1.5, w.shape[0]).astype("float32"))
    path = str(tmp_path / f"{name}.weights.h5")
    reference.save_weights(path)
    backbone = application_backbone(name, weights=path, input_shape=(size, size, 3))
    assert backbone.count_params() == reference.count_params()

    spec = get_model_spec(f"tsn_{name}")
    pixels = random_pixels((2, 1, size, size, 3), seed=2)
    frames = keras.ops.convert_to_numpy(ClipPreprocessing(size, spec.mean, spec.std)(pixels))
    got = keras.ops.convert_to_numpy(backbone(frames[:, 0], training=False))
    module = getattr(keras.applications, APPLICATIONS[name].module)
    reference_input = module.preprocess_input(pixels[:, 0].astype("float32"))
    expected = keras.ops.convert_to_numpy(reference(reference_input, training=False))
    scale = np.abs(expected).max()
    assert scale > 1e-3
    np.testing.assert_allclose(got / scale, expected / scale, atol=2e-5)


def test_imagenet_weights_load_through_keras_applications_own_download(tmp_path, monkeypatch):
    """``weights="imagenet"`` is handed to keras.applications, which fetches its file
    (here one we wrote in the published format, legacy HDF5, served in place of the
    download) and loads it; the BGR network then takes RGB."""
    from keras.src.applications import vgg16
    from keras.src.legacy.saving import legacy_h5_format

    h5py = pytest.importorskip("h5py")
    reference = _reference("vgg16", 32)
    randomize_weights(reference, seed=3, scale=0.02)
    published = str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    with h5py.File(published, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    requested = []

    def fake_get_file(fname, origin, **kwargs):
        requested.append(origin)
        return published

    monkeypatch.setattr(vgg16.file_utils, "get_file", fake_get_file)
    assert available_weights("tsn_vgg16") == ["imagenet"]
    model = build_video_classifier("tsn_vgg16", 5, input_shape=(2, 32, 32, 3), weights="imagenet")
    assert requested and requested[0].endswith("notop.h5")
    pixels = random_pixels((1, 2, 32, 32, 3), seed=4)
    frames = keras.ops.convert_to_numpy(model.preprocessing(pixels))
    got = keras.ops.convert_to_numpy(model.backbone(frames[0], training=False))
    reference_input = keras.applications.vgg16.preprocess_input(pixels[0].astype("float32"))
    expected = keras.ops.convert_to_numpy(reference(reference_input, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_every_keras_applications_network_is_a_registered_tsn_model_with_imagenet_weights():
    per_frame = list_presets("per_frame")
    for name, app in APPLICATIONS.items():
        spec = per_frame[f"tsn_{name}"]
        assert spec.crop_size == app.crop_size and spec.mean == app.mean
        assert spec.dropout == 0.8 and spec.head == "consensus"
        assert available_weights(f"tsn_{name}") == ["imagenet"]
    assert per_frame["lrcn_resnet50"].head_args["readout"] == "average"
    assert per_frame["cnn_transformer_resnet50"].head_args["num_heads"] == 8


def test_bn_inception_has_the_published_parameter_count():
    """11,295,240 parameters with a 1000-class classifier, as the PyTorch port of TSN's
    Caffe model (``pretrainedmodels.bninception``: weights and biases of convolutions,
    BN scale and offset, the classifier; BN statistics are buffers there)."""
    model = build_video_classifier("tsn_bn_inception", 1000)
    assert tuple(model.backbone.output_shape) == (None, 7, 7, 1024)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 11_295_240


def test_bn_inception_and_inception_v1_bn_take_other_widths_and_channels():
    assert bn_inception((32, 32, 3), width=0.25).output_shape == (None, 1, 1, 256)
    assert inception_v1_bn((64, 64, 2), width=0.5).output_shape == (None, 2, 2, 512)
    with pytest.raises(ValueError, match="Received: width=0"):
        bn_inception((32, 32, 3), width=0)
    with pytest.raises(ValueError, match="Received: input_shape=\\(32, 32\\)"):
        inception_v1_bn((32, 32))
    with pytest.raises(ValueError, match="Received: application='resnet5'"):
        application_backbone("resnet5")


# --- Partial batch norm ---------------------------------------------------------------


def _bn_state(layer: keras.layers.BatchNormalization) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w).copy() for w in layer.weights]


def test_partial_bn_freezes_every_batch_norm_but_the_first(motion_demo_dir):
    """Through the trainer's `build_model` with ``partial_bn=True``: after training steps,
    the first BN layer has new statistics, scale and offset, every other BN layer the
    ones it started with."""
    from kvideo.training import get_experiment, replace_fields
    from kvideo.training.trainer import build_model

    experiment = replace_fields(
        get_experiment("motion_demo"),
        data_dir=str(motion_demo_dir),
        preset="tsn_tiny",
        num_frames=4,
        crop_size=32,
        partial_bn=True,
    )
    model = build_model(experiment, 6)
    layers = batch_norm_layers(model)
    assert len(layers) >= 5 and layers[0].name == "stem_bn"
    randomize_weights(model, seed=5)
    before = [_bn_state(layer) for layer in layers]
    clips = random_pixels((4, 4, 32, 32, 3), seed=6)
    fit_steps(model, clips, np.array([0, 1, 2, 3]))
    after = [_bn_state(layer) for layer in layers]
    # gamma, beta, moving mean, moving variance of the first layer all moved ...
    for old, new in zip(before[0], after[0], strict=True):
        assert np.max(np.abs(old - new)) > 1e-6
    # ... and not a single value of the others.
    for layer, old_state, new_state in zip(layers[1:], before[1:], after[1:], strict=True):
        for old, new in zip(old_state, new_state, strict=True):
            np.testing.assert_array_equal(old, new, err_msg=layer.name)


def test_partial_bn_survives_a_keras_round_trip_of_a_functional_backbone(tmp_path):
    """keras.applications and kvideo's Inception networks are functional models: the
    frozen layers stay frozen in a saved `.keras` model."""
    model = build_video_classifier(
        inception_v1_bn((32, 32, 3), width=0.125), 3, head="consensus", input_shape=(2, 32, 32, 3)
    )
    frozen = partial_batch_norm(model)
    assert len(frozen) == len(batch_norm_layers(model)) - 1
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    flags = [layer.trainable for layer in batch_norm_layers(restored)]
    assert flags[0] and not any(flags[1:])
    with pytest.raises(ValueError, match="has none"):
        partial_batch_norm(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))


# --- Consensus cannot see motion; LRCN and the Transformer can ---------------------------


def test_recurrent_and_transformer_heads_learn_motion_that_average_consensus_cannot(
    motion_demo_dir, tmp_path
):
    """motion_demo's classes are motions and their reversals: any single frame, and so
    any average of per-frame scores, cannot tell them apart. The same tiny 2D ResNet,
    data, seed and number of steps; only the head differs."""
    from kvideo.training import train_and_evaluate
    from tests.test_training import tiny_experiment

    results = {}
    for preset in ("tsn_tiny", "lrcn_tiny", "cnn_transformer_tiny"):
        # test_training's tiny settings: 8 frames 4 apart, 32x32 crops, 6 epochs.
        experiment = tiny_experiment(motion_demo_dir, preset=preset)
        results[preset] = train_and_evaluate(experiment, tmp_path / preset)["test_top1"]
    print("test top-1", results)
    # Order-blind, consensus can at best tell the three pairs apart: 0.5.
    assert results["tsn_tiny"] <= 0.4, results
    assert results["lrcn_tiny"] >= 0.65, results
    assert results["cnn_transformer_tiny"] >= 0.65, results
