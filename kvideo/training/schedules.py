"""Learning-rate schedules with linear warmup, counted in optimizer steps."""

from __future__ import annotations

import math

import keras
from keras import ops

KINDS = ("constant", "step", "cosine")


@keras.saving.register_keras_serializable(package="kvideo")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `peak`, then constant, step decay, or cosine decay to zero.

    Args:
        peak: learning rate reached at the end of warmup.
        total_steps: steps of the whole run (cosine reaches zero here).
        warmup_steps: steps of linear warmup from `peak / warmup_steps`.
        kind: "constant", "step" or "cosine".
        boundaries: for "step", the steps at which the rate is multiplied by `factor`.
        factor: step decay multiplier.
    """

    def __init__(
        self,
        peak: float,
        total_steps: int,
        warmup_steps: int = 0,
        kind: str = "cosine",
        boundaries: tuple[int, ...] = (),
        factor: float = 0.1,
    ):
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}")
        if total_steps < 1 or warmup_steps < 0:
            raise ValueError(
                f"Need total_steps >= 1 and warmup_steps >= 0. "
                f"Received: total_steps={total_steps}, warmup_steps={warmup_steps}"
            )
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.kind = kind
        self.boundaries = tuple(int(b) for b in boundaries)
        self.factor = float(factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if self.kind == "cosine":
            span = max(self.total_steps - self.warmup_steps, 1)
            progress = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
            rate = self.peak * 0.5 * (1.0 + ops.cos(math.pi * progress))
        elif self.kind == "step":
            passed = sum(ops.cast(step >= b, "float32") for b in self.boundaries)
            rate = self.peak * ops.power(self.factor, passed)
        else:
            rate = ops.convert_to_tensor(self.peak, "float32")
        if self.warmup_steps:
            warm = self.peak * (step + 1.0) / self.warmup_steps
            rate = ops.where(step < self.warmup_steps, warm, rate)
        return rate

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "kind": self.kind,
            "boundaries": list(self.boundaries),
            "factor": self.factor,
        }
