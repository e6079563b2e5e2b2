"""What flow to compute: the method, its options, the bound and the frame size.

Methods (time per 340x256 pair on one thread of this project's 2-core machine, measured
while it was otherwise idle; `benchmarks/flow_extraction.py` has the full table):

* ``"tvl1"``: Dual TV-L1 (Zach, Pock and Bischof 2007), the method of the two-stream and
  TSN papers, from OpenCV contrib (`cv2.optflow.DualTVL1OpticalFlow_create`). Accurate and
  slow: 0.59 s a pair.
* ``"dis_ultrafast"``, ``"dis_fast"``, ``"dis_medium"``: Dense Inverse Search (Kroeger et al.
  2016) with OpenCV's three presets (`cv2.DISOpticalFlow_create`): 1.0, 2.0 and 13 ms.
* ``"farneback"``: Farneback's polynomial expansion (`cv2.FarnebackOpticalFlow_create`),
  for comparison. OpenCV's object defaults (5 levels, 10 iterations) cost about twice the
  22 ms of the classic ``calcOpticalFlowFarneback(..., 0.5, 3, 15, 3, 5, 1.2, 0)``; set
  ``{"num_levels": 3, "win_size": 15, "num_iters": 3, "poly_sigma": 1.2}`` for those.

Every method starts from OpenCV's own defaults (for DIS, those of the preset); `options`
overrides them by name. An option's name is its OpenCV setter in snake case without
``set``: ``{"warpings_number": 3}`` calls ``setWarpingsNumber(3)`` on TV-L1.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence

TVL1 = "tvl1"
DIS_ULTRAFAST = "dis_ultrafast"
DIS_FAST = "dis_fast"
DIS_MEDIUM = "dis_medium"
FARNEBACK = "farneback"
METHODS = (TVL1, DIS_ULTRAFAST, DIS_FAST, DIS_MEDIUM, FARNEBACK)

# TSN's dense_flow clips at 20 px; 15 is the other common choice.
DEFAULT_BOUND = 20.0
# TSN and mmaction2 compute flow on frames resized to 340x256, i.e. short side 256.
DEFAULT_SHORT_SIDE = 256


OptionValue = bool | int | float


@dataclasses.dataclass(frozen=True)
class _Option:
    """One OpenCV setting: its type and the values it accepts (`low` < or <= v <= `high`)."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: the value must be strictly above `low`

    def check(self, name: str, value) -> OptionValue:
        """Returns `value` as a plain Python bool/int/float, or raises ValueError."""
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind is int:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        else:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
        if not ok:
            raise ValueError(
                f"Option `{name}` must be a {self.kind.__name__}. Received: {name}={value!r}"
            )
        if self.kind is bool:
            return bool(value)
        too_low = self.low is not None and (
            value <= self.low if self.low_open else value < self.low
        )
        too_high = self.high is not None and value > self.high
        if too_low or too_high:
            low = "" if self.low is None else f"{self.low} {'<' if self.low_open else '<='} "
            high = "" if self.high is None else f" <= {self.high}"
            raise ValueError(
                f"Option `{name}` must satisfy {low}{name}{high}. Received: {name}={value!r}"
            )
        return self.kind(value)


_POSITIVE = _Option(float, 0.0, low_open=True)
_NON_NEGATIVE = _Option(float, 0.0)
_FRACTION = _Option(float, 0.0, 1.0, low_open=True)
_AT_LEAST_ONE = _Option(int, 1)
_COUNT = _Option(int, 0)
_FLAG = _Option(bool)

_TVL1_OPTIONS = {
    "tau": _POSITIVE,
    "lambda": _POSITIVE,
    "theta": _POSITIVE,
    "gamma": _NON_NEGATIVE,
    "epsilon": _POSITIVE,
    "scale_step": _FRACTION,
    "scales_number": _AT_LEAST_ONE,
    "warpings_number": _AT_LEAST_ONE,
    "inner_iterations": _AT_LEAST_ONE,
    "outer_iterations": _AT_LEAST_ONE,
    "median_filtering": _AT_LEAST_ONE,
}
_DIS_OPTIONS = {
    "finest_scale": _COUNT,
    "coarsest_scale": _Option(int, -1),  # -1: chosen from the frame size
    "patch_size": _AT_LEAST_ONE,
    "patch_stride": _AT_LEAST_ONE,
    "gradient_descent_iterations": _AT_LEAST_ONE,
    "variational_refinement_iterations": _COUNT,
    "variational_refinement_alpha": _NON_NEGATIVE,
    "variational_refinement_delta": _NON_NEGATIVE,
    "variational_refinement_gamma": _NON_NEGATIVE,
    "variational_refinement_epsilon": _POSITIVE,
    "use_mean_normalization": _FLAG,
    "use_spatial_propagation": _FLAG,
}
_FARNEBACK_OPTIONS = {
    "num_levels": _AT_LEAST_ONE,
    "pyr_scale": _FRACTION,
    "fast_pyramids": _FLAG,
    "win_size": _AT_LEAST_ONE,
    "num_iters": _AT_LEAST_ONE,
    "poly_n": _AT_LEAST_ONE,
    "poly_sigma": _POSITIVE,
}
METHOD_OPTIONS: dict[str, dict[str, _Option]] = {
    TVL1: _TVL1_OPTIONS,
    DIS_ULTRAFAST: _DIS_OPTIONS,
    DIS_FAST: _DIS_OPTIONS,
    DIS_MEDIUM: _DIS_OPTIONS,
    FARNEBACK: _FARNEBACK_OPTIONS,
}

OptionValue = bool | int | float


def check_bound(bound: float) -> None:
    """Raises ValueError unless `bound` is a finite positive number (of pixels)."""
    if (
        isinstance(bound, bool)
        or not isinstance(bound, numbers.Real)
        or not math.isfinite(bound)
        or bound <= 0
    ):
        raise ValueError(f"`bound` must be a positive number of pixels. Received: {bound=!r}")


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """How to compute and quantise optical flow.

    Attributes:
        method: One of `METHODS`: ``"tvl1"``, ``"dis_ultrafast"``, ``"dis_fast"``,
            ``"dis_medium"``, ``"farneback"``.
        bound: Displacements are clipped to ``[-bound, bound]`` pixels (of the resized
            frames) before they are quantised to 8 bits; one code step is
            ``2 * bound / 255`` px. TSN uses 20 (step 0.157 px), others 15.
        short_side: Frames are resized so that ``min(height, width) == short_side`` before
            flow is computed (flow is then in pixels of the resized frames); ``None``
            computes flow at the frames' own size.
        options: OpenCV settings by name (see `METHOD_OPTIONS[method]` for the names and
            the module docstring for the naming rule). Given as a mapping; stored as a
            tuple of ``(name, value)`` pairs sorted by name, so that configs are hashable
            and compare equal whatever the order they were given in.
    """

    method: str = TVL1
    bound: float = DEFAULT_BOUND
    short_side: int | None = DEFAULT_SHORT_SIDE
    options: Mapping[str, OptionValue] | tuple[tuple[str, OptionValue], ...] = ()

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}. Received: method={self.method!r}")
        check_bound(self.bound)
        short_side = self.short_side
        if short_side is not None and (
            isinstance(short_side, bool)
            or not isinstance(short_side, numbers.Integral)
            or short_side < 1
        ):
            raise ValueError(
                f"`short_side` must be a positive int or None. Received: {short_side=!r}"
            )
        object.__setattr__(self, "options", self._checked_options(self.options))

    def _checked_options(self, options) -> tuple[tuple[str, OptionValue], ...]:
        if isinstance(options, Mapping):
            pairs = list(options.items())
        elif (
            isinstance(options, Sequence)
            and not isinstance(options, str)
            and all(isinstance(pair, tuple) and len(pair) == 2 for pair in options)
        ):
            pairs = list(options)
        else:
            raise ValueError(
                f"`options` must be a mapping of option names to values. Received: {options=!r}"
            )
        known = METHOD_OPTIONS[self.method]
        checked = []
        for name, value in pairs:
            if name not in known:
                raise ValueError(
                    f"Unknown option for method {self.method!r}: {name!r}. "
                    f"Known options: {sorted(known)}"
                )
            checked.append((name, known[name].check(name, value)))
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise ValueError(f"`options` names an option twice. Received: {options=!r}")
        return tuple(sorted(checked))

    @property
    def quantization_step(self) -> float:
        """Pixels per 8-bit code: ``2 * bound / 255``."""
        return 2.0 * self.bound / 255.0
