"""Holding out a validation set from training data: stratified, seeded, group-aware.

Model selection (the best checkpoint, early stopping, tuning) must never look at the test
split. When a dataset has no validation split of its own, `holdout` takes a share of each
class's training videos, the same share on every machine and every run. Where videos
come in groups that share footage (UCF101's ``gNN``: clips cut from one longer video),
whole groups are held out, so that no group has videos on both sides, as the official
UCF101 splits keep groups apart between train and test.

Pure Python, no TensorFlow.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence


def holdout(
    video_ids: Sequence[str],
    labels: Sequence[int],
    fraction: float,
    seed: int,
    groups: Sequence[str] | None = None,
) -> set[str]:
    """The video ids to hold out for validation.

    For each class, its groups (each video is its own group when `groups` is None) are
    sorted, shuffled by a `random.Random` seeded with the seed and the class (string
    seeding is stable across platforms and Python versions), and taken in that order
    until the held-out videos reach ``round(fraction * class size)``, at least one group
    when the class has two or more, never all of them.

    Args:
        video_ids: one id per training video.
        labels: its class.
        fraction: share of each class to hold out, in ``[0, 1)``; 0 holds out nothing.
        seed: makes the choice reproducible.
        groups: optional group of each video; a group is never split.

    Returns:
        The held-out ids.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"`fraction` must be in [0, 1). Received: fraction={fraction}")
    if len(labels) != len(video_ids) or (groups is not None and len(groups) != len(video_ids)):
        raise ValueError(
            "`video_ids`, `labels` and `groups` must have one entry per video. Received: "
            f"{len(video_ids)} ids, {len(labels)} labels, "
            f"{None if groups is None else len(groups)} groups"
        )
    if len(set(video_ids)) != len(video_ids):
        raise ValueError("`video_ids` must be unique.")
    if fraction == 0.0:
        return set()
    by_class: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for i, (video_id, label) in enumerate(zip(video_ids, labels, strict=True)):
        group = video_id if groups is None else groups[i]
        by_class[int(label)][group].append(video_id)
    held: set[str] = set()
    for label, class_groups in sorted(by_class.items()):
        names = sorted(class_groups)
        if len(names) < 2:
            continue
        random.Random(f"{seed}/{label}").shuffle(names)
        size = sum(len(v) for v in class_groups.values())
        target = max(round(fraction * size), 1)
        taken = 0
        for name in names[:-1]:  # never the whole class
            if taken >= target:
                break
            held.update(class_groups[name])
            taken += len(class_groups[name])
    return held
