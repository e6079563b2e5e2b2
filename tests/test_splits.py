"""The validation hold-out: stratified, seeded, group-aware, never a whole class."""

from __future__ import annotations

import collections

import pytest

from kvideo.data.splits import holdout


def _videos(per_class: dict[int, int]) -> tuple[list[str], list[int]]:
    ids, labels = [], []
    for label, count in per_class.items():
        ids += [f"c{label}_v{i:02d}" for i in range(count)]
        labels += [label] * count
    return ids, labels


def test_each_class_gives_its_share_and_nothing_else():
    ids, labels = _videos({0: 20, 1: 10, 2: 3, 3: 1})
    held = holdout(ids, labels, 0.1, seed=0)
    per_class = collections.Counter(int(v[1]) for v in held)
    # round(0.1 * n), at least one where a class has two or more, none from a single video.
    assert per_class == {0: 2, 1: 1, 2: 1}
    assert held <= set(ids)


def test_the_same_videos_on_every_call_other_ones_for_another_seed():
    ids, labels = _videos({0: 30, 1: 30})
    first = holdout(ids, labels, 0.2, seed=7)
    assert holdout(list(reversed(ids)), list(reversed(labels)), 0.2, seed=7) == first
    assert holdout(ids, labels, 0.2, seed=8) != first
    assert len(first) == 12


def test_groups_are_never_split_and_never_take_a_whole_class():
    # UCF101-like: class 0 has 4 groups of 3 clips, class 1 a single group.
    ids = [f"v_A_g{g:02d}_c{c:02d}" for g in range(1, 5) for c in range(1, 4)]
    ids += [f"v_B_g01_c{c:02d}" for c in range(1, 5)]
    labels = [0] * 12 + [1] * 4
    groups = [v.split("_")[2] for v in ids]
    held = holdout(ids, labels, 0.25, seed=0, groups=groups)
    held_groups = {v.split("_")[2] for v in held}
    assert len(held) == 3 and len(held_groups) == 1  # one whole group of class 0
    assert all(v.startswith("v_A") for v in held)  # class B has one group: kept whole
    for group in held_groups:
        assert {v for v in ids if v.startswith("v_A") and group in v} == held


def test_nothing_held_out_at_fraction_zero_and_bad_arguments_are_errors():
    ids, labels = _videos({0: 5})
    assert holdout(ids, labels, 0.0, seed=0) == set()
    with pytest.raises(ValueError, match="fraction=1.0"):
        holdout(ids, labels, 1.0, seed=0)
    with pytest.raises(ValueError, match="one entry per video"):
        holdout(ids, labels[:2], 0.1, seed=0)
    with pytest.raises(ValueError, match="unique"):
        holdout(ids + ids[:1], labels + labels[:1], 0.1, seed=0)
