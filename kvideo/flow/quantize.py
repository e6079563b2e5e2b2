"""Flow fields to 8-bit codes and back: the exchange format of two-stream datasets.

Layout: a flow field is ``(..., height, width, 2)``; channel 0 is the horizontal (x)
displacement, positive to the right (towards larger column indices), channel 1 the
vertical (y) displacement, positive downwards, both in pixels. Flow ``i`` of a video
goes from frame ``i`` to frame ``i + 1``: the pixel at ``(row, col)`` of frame ``i`` is
found at ``(row + y, col + x)`` of frame ``i + 1`` (OpenCV's convention).

Quantisation, for a bound ``b`` (`FlowConfig.bound`) and step ``s = 2 * b / 255``::

    q = rint((clip(v, -b, b) + b) * 255 / (2 * b))        # uint8 code, 0..255
    v' = q * s - b = (q - 127.5) * s                        # `dequantize`

``rint`` rounds half to even, like ``cvRound`` in TSN's dense_flow, whose ``CAST`` macro is
this formula, so codes match the flow images released with TSN-style datasets. (We
compute ``clip(v) * (255 / (2 b)) + 127.5`` in float32, dense_flow in double; on a
340x256 DIS field one code in 87,000 came out one apart, at a value within float32
rounding of a tie.) Hence
``-b -> 0``, ``+b -> 255``, and zero flow, which lies exactly between codes 127 and 128,
rounds to **128**. Inside the bound the round trip errs by at most ``s / 2`` (0.078 px at
``b = 20``); outside it the value comes back as ``±b``.

The common ``(q - 128)`` normalisation (mmaction2's flow mean of 128) is this
dequantisation shifted by half a step: ``(q - 128) * s == dequantize(q) - s / 2``. It maps
code 128, hence zero flow, to exactly 0 but every other value ``s / 2`` too low, and its
range is ``[-128 s, 127 s]``, not symmetric. Use either, but the same in training and
inference. (mmaction2's ``tools/misc/flow_extraction.py`` truncates instead of rounding,
so its zero is code 127; its released flow, made by ``denseflow``, rounds.)

Negation is exact in codes: ``dequantize(255 - q) == -dequantize(q)``, which is what a
horizontal flip needs (`flip_flow_horizontally`).
"""

from __future__ import annotations

import numpy as np

from kvideo.flow.config import check_bound

# The code of -bound and +bound; zero flow sits halfway between, at 127.5 before rounding.
MAX_CODE = 255
ZERO_FLOW_CODE = 128


def quantize(flow: np.ndarray, bound: float) -> np.ndarray:
    """Clips flow to ``[-bound, bound]`` px and maps it linearly to uint8 codes.

    Args:
        flow: Displacements in pixels, any float shape (usually ``(..., height, width, 2)``).
        bound: Positive clipping bound in pixels (`FlowConfig.bound`).

    Returns:
        uint8 codes of the same shape: ``rint(clip(v, -bound, bound) * (255 / (2 * bound))
        + 127.5)`` in float32, rounding half to even (zero flow -> 128). See the module
        docstring.
    """
    check_bound(bound)
    flow = np.asarray(flow)
    if not np.issubdtype(flow.dtype, np.floating):
        raise ValueError(f"`flow` must be floating point (pixels). Received: dtype={flow.dtype}")
    if not np.isfinite(flow).all():
        raise ValueError("`flow` contains NaN or infinite values.")
    # float32 in place: 4x faster than float64, which matters beside DIS (~1 ms a pair).
    codes = np.clip(flow, -bound, bound, dtype=np.float32)
    codes *= np.float32(MAX_CODE / (2 * bound))
    codes += np.float32(MAX_CODE / 2)
    return np.rint(codes, out=codes).astype(np.uint8)


def dequantize(codes: np.ndarray, bound: float) -> np.ndarray:
    """Maps uint8 codes back to signed displacements in pixels: ``(q - 127.5) * 2 b / 255``.

    Args:
        codes: uint8 codes from `quantize` (or decoded flow images), any shape.
        bound: The bound they were quantised with, in pixels.

    Returns:
        float32 displacements of the same shape, in ``[-bound, bound]``; code 0 -> -bound,
        255 -> +bound, 128 -> +bound / 255 (half a step above zero; see the module docstring
        for the ``(q - 128)`` convention).
    """
    check_bound(bound)
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise ValueError(f"`codes` must be uint8. Received: dtype={codes.dtype}")
    step = 2.0 * bound / MAX_CODE
    return ((codes.astype(np.float32) - MAX_CODE / 2) * step).astype(np.float32)


def flip_flow_horizontally(flow: np.ndarray) -> np.ndarray:
    """The flow of horizontally mirrored frames: the NumPy reference for flow augmentation.

    Mirroring the frames mirrors the flow field (columns reversed) and negates its x
    displacement; y is only mirrored. In codes, negation is ``255 - q`` (exact:
    ``dequantize(255 - q) == -dequantize(q)``); the y code is unchanged.

    Args:
        flow: ``(..., height, width, 2)``, either uint8 codes (x code then y code) or float
            displacements in pixels (x then y).

    Returns:
        The flipped flow, same shape and dtype: ``out[..., c, 0] = 255 - flow[..., W-1-c, 0]``
        for codes (``-flow[..., W-1-c, 0]`` for pixels), ``out[..., c, 1] =
        flow[..., W-1-c, 1]``.
    """
    flow = np.asarray(flow)
    if flow.ndim < 3 or flow.shape[-1] != 2:
        raise ValueError(
            f"`flow` must have shape (..., height, width, 2). Received: shape={flow.shape}"
        )
    if flow.dtype == np.uint8:
        negated_x = MAX_CODE - flow[..., 0]
    elif np.issubdtype(flow.dtype, np.floating):
        negated_x = -flow[..., 0]
    else:
        raise ValueError(
            f"`flow` must be uint8 codes or float pixels. Received: dtype={flow.dtype}"
        )
    flipped = np.stack([negated_x, flow[..., 1]], axis=-1)
    return flipped[..., ::-1, :].copy()
