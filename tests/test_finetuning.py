"""Fine-tuning practice: clip-consistent Mixup/CutMix, label smoothing, layer-wise
learning-rate decay, and the named transformer experiments."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvideo.data.mixing import Mixing, mix_batch, smoothed_one_hot, soft_targets
from kvideo.models import build_video_classifier
from kvideo.models.weights import get_weights
from kvideo.training import get_experiment
from kvideo.training.config import OptimizerConfig
from kvideo.training.experiments import EXPERIMENTS
from kvideo.training.optimizers import LayerDecayAdamW, layer_of

CLASSES = 4


def _batch(seed: int = 0, batch: int = 6) -> tuple[dict, np.ndarray]:
    """Clips whose every pixel tells its clip (value 10 * i + 5), frames identical."""
    clips = np.stack([np.full((3, 24, 20, 2), 10 * i + 5, np.uint8) for i in range(batch)])
    labels = np.arange(batch) % CLASSES
    return {"video": tf.constant(clips)}, tf.constant(labels)


def _mix(mixing: Mixing, seed=(1, 2)):
    features, labels = _batch()
    mixed, targets = mix_batch(
        features, labels, num_classes=CLASSES, mixing=mixing, seed=tf.constant(seed)
    )
    return features["video"].numpy(), labels.numpy(), mixed["video"].numpy(), targets.numpy()


def _lam(targets: np.ndarray, labels: np.ndarray, smoothing: float) -> float:
    """Recovers the mixing weight from clip 0's targets (labels 0 and 1 differ)."""
    smooth = smoothed_one_hot(labels, CLASSES, smoothing).numpy()
    partner = smooth[::-1]
    # targets = lam * smooth + (1 - lam) * partner, solved on one differing entry
    k = labels[0]
    return float((targets[0, k] - partner[0, k]) / (smooth[0, k] - partner[0, k]))


def test_mixup_blends_each_clip_with_its_partner_alike_in_every_frame():
    mixing = Mixing(mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.0)
    clips, labels, mixed, targets = _mix(mixing)
    lam = _lam(targets, labels, 0.0)
    assert 0.0 < lam < 1.0
    expected = np.round(lam * clips.astype(float) + (1 - lam) * clips[::-1].astype(float))
    assert mixed.dtype == np.uint8
    np.testing.assert_allclose(mixed, expected, atol=1)  # rounded to grey levels
    assert np.all(mixed == mixed[:, :1])  # every frame mixed alike
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-6)


def test_cutmix_cuts_one_box_through_every_frame():
    mixing = Mixing(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0)
    for seed in [(1, 2), (3, 4), (5, 6)]:
        clips, labels, mixed, targets = _mix(mixing, seed)
        taken = mixed[0] == clips[-1]  # pixels of clip 0 that come from its partner
        assert np.all(taken == taken[:1])  # the same box in every frame and channel
        rows, cols = np.nonzero(taken[0, :, :, 0])
        if rows.size:  # a rectangle
            box = taken[0, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1, 0]
            assert box.all() and box.size == rows.size
        lam = _lam(targets, labels, 0.0)
        assert lam == pytest.approx(1.0 - rows.size / (24 * 20), abs=1e-5)
        assert np.all((mixed[0] == clips[0]) | taken)  # nothing else changed


def test_mixing_is_a_pure_function_of_its_seed():
    mixing = Mixing()
    first = _mix(mixing, (7, 8))
    again = _mix(mixing, (7, 8))
    other = _mix(mixing, (9, 10))
    np.testing.assert_array_equal(first[2], again[2])
    np.testing.assert_array_equal(first[3], again[3])
    assert not np.array_equal(first[3], other[3])


def test_label_smoothing_alone_leaves_the_clips():
    clips, labels, mixed, targets = _mix(Mixing(0.0, 0.0, label_smoothing=0.1))
    np.testing.assert_array_equal(mixed, clips)
    np.testing.assert_allclose(targets[0], [0.925, 0.025, 0.025, 0.025], rtol=1e-6)
    _, _, unmixed, _ = _mix(Mixing(prob=0.0))
    np.testing.assert_array_equal(unmixed, clips)


def test_soft_targets_mix_training_batches_and_one_hot_the_others():
    features, labels = _batch()
    dataset = tf.data.Dataset.from_tensors((features, labels)).repeat(3)
    train = list(soft_targets(dataset, Mixing(), CLASSES, training=True, seed=3))
    assert len(train) == 3 and train[0][1].shape == (6, CLASSES)
    assert not np.array_equal(train[0][1].numpy(), train[1][1].numpy())  # a seed per batch
    (val_features, val_targets), *_ = soft_targets(dataset, Mixing(), CLASSES, training=False)
    np.testing.assert_array_equal(val_targets.numpy(), np.eye(CLASSES)[labels.numpy()])
    np.testing.assert_array_equal(val_features["video"].numpy(), features["video"].numpy())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mixup_alpha": -1.0}, "mixup_alpha"),
        ({"prob": 1.5}, "prob"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"switch_prob": True}, "switch_prob"),
    ],
)
def test_mixing_settings_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Mixing(**kwargs)


# --- Layer-wise learning-rate decay ---------------------------------------------------


def test_layer_decay_adamw_takes_one_step_as_the_reference_recipe():
    """One step by hand: each variable's rate is lr * decay ** (L + 1 - layer), weight
    decay (scaled by that rate) first and only on matrices outside the embeddings."""
    model = build_video_classifier("videomae_tiny", 3, input_shape=(4, 32, 32, 3))
    lr, decay, wd = 0.01, 0.5, 0.1
    optimizer = LayerDecayAdamW(lr, weight_decay=wd, layer_decay=decay)
    variables = model.trainable_variables
    before = [v.numpy().copy() for v in variables]
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=v.shape).astype(np.float32) for v in variables]
    optimizer.apply_gradients(zip([tf.constant(g) for g in grads], variables, strict=True))
    checked = set()
    for v, w, g in zip(variables, before, grads, strict=True):
        layer = layer_of(v.path)
        scale = decay ** (3 - (3 if layer is None else layer))  # 2 blocks: L + 1 = 3
        rate = lr * scale
        decayed = len(v.shape) > 1
        w = w - rate * wd * w if decayed else w
        m, s = 0.1 * g, 0.001 * g**2
        alpha = rate * np.sqrt(1 - 0.999) / (1 - 0.9)
        expected = w - m * alpha / (np.sqrt(s) + 1e-8)
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-7)
        checked.add((layer, decayed))
    # embeddings, both blocks and the head; decayed and exempt tensors all checked
    assert {(0, True), (1, True), (2, True), (None, True), (1, False), (None, False)} <= checked


def test_layer_decay_needs_named_blocks_and_adamw():
    model = build_video_classifier("r3d_tiny", 3, input_shape=(4, 32, 32, 3))
    optimizer = LayerDecayAdamW(0.01, layer_decay=0.7)
    with pytest.raises(ValueError, match="blocks are layers named block1"):
        optimizer.build(model.trainable_variables)
    with pytest.raises(ValueError, match="layer_decay=0.7, name='sgd'"):
        OptimizerConfig(name="sgd", layer_decay=0.7)
    assert layer_of("block12/attention/query/kernel") == 12
    assert layer_of("stage1_block1_conv/kernel") is None  # not a transformer block
    assert layer_of("time_embedding/embedding") == 0


def test_layer_decay_adamw_config_round_trip():
    optimizer = LayerDecayAdamW(0.001, weight_decay=0.05, layer_decay=0.75)
    revived = LayerDecayAdamW.from_config(optimizer.get_config())
    assert (revived.decoupled_weight_decay, revived.layer_decay) == (0.05, 0.75)
    assert revived.weight_decay is None  # Keras's own unscaled decay stays off
    assert keras.saving.get_registered_object("kvideo>LayerDecayAdamW") is LayerDecayAdamW


# --- Named experiments -----------------------------------------------------------------


@pytest.mark.parametrize("family", ["timesformer_b", "videomae_b"])
@pytest.mark.parametrize("dataset", ["video_folder", "ucf101", "hmdb51"])
def test_transformer_experiments_name_registered_models_weights_and_datasets(family, dataset):
    name = f"{dataset}_{family}"
    assert name in EXPERIMENTS
    experiment = get_experiment(name)
    expected = {
        "video_folder": "video_folder/jpeg",
        "ucf101": "ucf101_kvideo/split1_jpeg",
        "hmdb51": "hmdb51_kvideo/split1_jpeg",
    }
    assert experiment.data.dataset == expected[dataset]
    get_weights(experiment.model.preset, experiment.model.weights)  # registered
    if family == "timesformer_b":
        assert experiment.optimizer.name == "sgd" and experiment.epochs == 15
        assert experiment.data.clip_sampling.clip_length == 8
    else:
        assert experiment.optimizer.layer_decay == 0.7 and experiment.data.mixing is not None
        assert experiment.optimizer.learning_rate == pytest.approx(5e-4 * 8 / 256)
        assert experiment.model.backbone_args["gradient_checkpointing"]
        assert experiment.data.clip_sampling.clip_length == 16
    json_text = experiment.to_json()
    assert '"layer_decay"' in json_text and '"mixing"' in json_text
