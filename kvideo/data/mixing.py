"""Mixup, CutMix and label smoothing over batches of clips (VideoMAE's fine-tuning).

Keras's image ``MixUp`` and ``CutMix`` layers treat a clip's frames as separate images;
here a clip is mixed as one: the same mixing weight for every frame, and CutMix cuts
the same box out of every frame (a tube through time). As timm's ``Mixup`` in "batch"
mode, which VideoMAE uses: one weight ``lam`` per batch, clip ``i`` mixed with clip
``B - 1 - i`` (the batch reversed), targets mixed with the same weight.

* Mixup: ``clips = lam * clips + (1 - lam) * reversed``, ``lam ~ Beta(a, a)``.
* CutMix: a box of area ``(1 - lam) * H * W`` at a uniform centre, clipped to the frame,
  takes the reversed batch's pixels; ``lam`` is then corrected to the box's actual area.
* Targets: one-hot, smoothed (``1 - s + s / C`` and ``s / C``), then mixed.

Everything is a pure function of the batch and a seed (`mix_batch`); `soft_targets`
maps it over a `tf.data` pipeline's batches with a seeded stream of seeds. Clips stay
uint8, as the pipeline hands them to the model (a mixed pixel is rounded: at most half
a grey level off). Every named input of a batch (``video``, ``flow``, ...) is mixed with
the same weight and box, so the streams keep agreeing with the mixed targets.

TensorFlow is imported by the functions, not by this module, so configs can hold a
`Mixing` without loading it.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Mixing:
    """How training targets are made: Mixup/CutMix over clips and label smoothing.

    The defaults are VideoMAE's fine-tuning (timm's ``Mixup``): Mixup 0.8, CutMix 1.0,
    every batch mixed, CutMix half of the time, label smoothing 0.1.

    Attributes:
        mixup_alpha: Beta(a, a) of Mixup's weight; 0 turns Mixup off.
        cutmix_alpha: Beta(a, a) of CutMix's weight; 0 turns CutMix off.
        prob: probability that a batch is mixed at all.
        switch_prob: with both on, probability of CutMix rather than Mixup.
        label_smoothing: ``s`` of the targets (also without any mixing).
    """

    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.1

    def __post_init__(self):
        for name, upper in (
            ("mixup_alpha", float("inf")),
            ("cutmix_alpha", float("inf")),
            ("prob", 1.0),
            ("switch_prob", 1.0),
            ("label_smoothing", 1.0),
        ):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not 0 <= value <= upper:
                raise ValueError(f"`{name}` must be in [0, {upper}]. Received: {name}={value!r}")
        if self.label_smoothing == 1:
            raise ValueError("`label_smoothing` must be < 1. Received: label_smoothing=1")


def _beta(alpha: float, seed: Any) -> Any:
    import tensorflow as tf

    first, second = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    a = tf.random.stateless_gamma([], first, alpha=alpha)
    b = tf.random.stateless_gamma([], second, alpha=alpha)
    return a / (a + b)


def smoothed_one_hot(labels: Any, num_classes: int, smoothing: float) -> Any:
    """``(B,)`` int labels -> ``(B, num_classes)`` float32 targets with label smoothing."""
    import tensorflow as tf

    off = smoothing / num_classes
    return tf.one_hot(labels, num_classes, on_value=1.0 - smoothing + off, off_value=off)


def _cut_box(height: Any, width: Any, lam: Any, seed: Any) -> tuple[Any, Any, Any, Any]:
    """timm's ``rand_bbox``: a box of about ``(1 - lam) H W`` pixels, clipped to the frame."""
    import tensorflow as tf

    ratio = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(tf.cast(height, tf.float32) * ratio, tf.int32)
    cut_w = tf.cast(tf.cast(width, tf.float32) * ratio, tf.int32)
    center = tf.random.stateless_uniform([2], seed, maxval=1.0)
    cy = tf.cast(center[0] * tf.cast(height, tf.float32), tf.int32)
    cx = tf.cast(center[1] * tf.cast(width, tf.float32), tf.int32)
    top = tf.clip_by_value(cy - cut_h // 2, 0, height)
    bottom = tf.clip_by_value(cy + cut_h // 2, 0, height)
    left = tf.clip_by_value(cx - cut_w // 2, 0, width)
    right = tf.clip_by_value(cx + cut_w // 2, 0, width)
    return top, bottom, left, right


def mix_batch(
    features: dict[str, Any], labels: Any, *, num_classes: int, mixing: Mixing, seed: Any
) -> tuple[dict[str, Any], Any]:
    """Mixes one batch: ``({name: uint8 (B, T, H, W, C)}, int (B,))`` -> same features
    (uint8, mixed) and float32 targets ``(B, num_classes)``.

    Args:
        features: the batch's named inputs (their ``H, W`` may differ between inputs;
            CutMix's box is the same fraction of each).
        labels: int class indices.
        num_classes: target width.
        mixing: the settings.
        seed: a stateless seed, int ``(2,)``; the same seed mixes the same way.
    """
    import tensorflow as tf

    targets = smoothed_one_hot(labels, num_classes, mixing.label_smoothing)
    use_mixup, use_cutmix = mixing.mixup_alpha > 0, mixing.cutmix_alpha > 0
    if mixing.prob == 0 or not (use_mixup or use_cutmix):
        return features, targets
    apply_seed, switch_seed, lam_seed, box_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4)
    )
    apply = tf.random.stateless_uniform([], apply_seed) < mixing.prob
    if use_mixup and use_cutmix:
        cutmix = tf.random.stateless_uniform([], switch_seed) < mixing.switch_prob
    else:
        cutmix = tf.constant(use_cutmix)
    alpha = tf.where(cutmix, float(mixing.cutmix_alpha or 1.0), float(mixing.mixup_alpha or 1.0))
    lam = tf.where(apply, _beta(alpha, lam_seed), 1.0)

    first = next(iter(features.values()))
    shape = tf.shape(first)
    top, bottom, left, right = _cut_box(shape[-3], shape[-2], lam, box_seed)
    area = tf.cast((bottom - top) * (right - left), tf.float32)
    box_lam = 1.0 - area / tf.cast(shape[-3] * shape[-2], tf.float32)
    lam = tf.where(apply & cutmix, box_lam, lam)

    def mix(clips):
        flipped = tf.reverse(clips, axis=[0])
        # The box as a fraction of the first input, scaled to this one's frames.
        size = tf.shape(clips)
        rows = tf.range(size[-3]) * shape[-3] // size[-3]
        cols = tf.range(size[-2]) * shape[-2] // size[-2]
        inside_rows = (rows >= top) & (rows < bottom)
        inside_cols = (cols >= left) & (cols < right)
        inside = inside_rows[:, None] & inside_cols[None, :]
        cut = tf.where(inside[None, None, :, :, None], flipped, clips)
        blend = tf.cast(clips, tf.float32) * lam + tf.cast(flipped, tf.float32) * (1.0 - lam)
        blended = tf.cast(tf.clip_by_value(tf.round(blend), 0, 255), clips.dtype)
        return tf.where(apply & cutmix, cut, tf.where(apply, blended, clips))

    mixed = {name: mix(clips) for name, clips in features.items()}
    return mixed, lam * targets + (1.0 - lam) * tf.reverse(targets, axis=[0])


def soft_targets(
    dataset: Any,
    mixing: Mixing,
    num_classes: int,
    *,
    training: bool,
    seed: int = 0,
    skip_batches: int = 0,
) -> Any:
    """A batched ``(features, int labels)`` dataset with float32 targets ``(B, C)``.

    Training batches are mixed (`mix_batch`, each with its own seed from a stream seeded
    by `seed`, that starts `skip_batches` seeds in: a resumed run continues it); other
    batches get plain one-hot targets, so a validation loss is the usual cross-entropy.
    """
    import tensorflow as tf

    if not training:
        return dataset.map(lambda x, y: (x, tf.one_hot(y, num_classes)))
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    if skip_batches:
        seeds = seeds.skip(skip_batches)

    def mix(batch, batch_seed):
        features, labels = batch
        return mix_batch(features, labels, num_classes=num_classes, mixing=mixing, seed=batch_seed)

    return tf.data.Dataset.zip((dataset, seeds)).map(mix, num_parallel_calls=tf.data.AUTOTUNE)
