"""Halo score: bright/dark overshoot rings beside strong edges that the input lacks.

Meaning of the number: the output is scaled back to the input's size (area averaging) and its
global tone matched to the input; then, at the input's strong edges (slope ≥ `MIN_SLOPE` and
local contrast ≥ `MIN_CONTRAST` grey levels), the amount by which it goes above the brightest or
below the darkest input pixel in the 3×3 neighbourhood (less `TOLERANCE` grey levels) is summed,
as a percentage of those edges' contrast. 0 = no overshoot; an unsharp mask of amount 0.6
(radius 2 px at the output) gives ≈ 0.5–3; clean enhancements stay below ≈ 0.15.

Why scale back: detail a pass legitimately adds (sharper edges, restored thin lines, texture) is
finer than an input pixel and averages away, but an over-sharpening ring is a wide plateau beyond
the edge that survives it, so it shows as a value outside the range the input has there.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._common import Box, luma, resize

MIN_SLOPE = 4.0
"""Least gradient of the input (grey levels per pixel) for a pixel to be on an edge."""
MIN_CONTRAST = 32.0
"""Edges with less 3×3 contrast (grey levels) are ignored: halos there are not visible."""
TOLERANCE = 2.0
"""Grey levels of overshoot ignored per pixel (rounding, resampling, faint texture)."""
BLOCK = 32
"""Block size (input pixels) for locating the worst halo for the review page."""


def _match_tone(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """`after` with a global gain/offset removed (least squares onto `before`).

    A global brightness or contrast change is drift, not a halo; without this a slightly
    brighter output would "overshoot" every bright edge.
    """
    bm, am = float(before.mean()), float(after.mean())
    centred = before - bm
    var = float((centred * centred).mean())
    gain = float((centred * (after - am)).mean()) / var if var > 1e-6 else 1.0
    gain = min(2.0, max(0.5, gain))
    return (after - am) / gain + bm


def halo_score(before: np.ndarray, after: np.ndarray) -> tuple[float, Box | None]:
    """(score, where in output pixels) for uint8 RGB images — see the module docstring."""
    h, w = before.shape[:2]
    ref = luma(before)
    back = _match_tone(luma(resize(after, w, h)), ref)
    kernel = np.ones((3, 3), np.uint8)
    lmax = cv2.dilate(ref, kernel)
    lmin = cv2.erode(ref, kernel)
    contrast = lmax - lmin
    gx = cv2.Sobel(ref, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(ref, cv2.CV_32F, 0, 1, ksize=3)
    edges = (cv2.magnitude(gx, gy) / 8.0 >= MIN_SLOPE).astype(np.uint8)
    band = cv2.dilate(edges, kernel).astype(bool) & (contrast >= MIN_CONTRAST)
    total = float(contrast[band].sum())
    if total <= 0.0:
        return 0.0, None
    over = np.maximum(back - lmax - TOLERANCE, 0.0) + np.maximum(lmin - back - TOLERANCE, 0.0)
    over[~band] = 0.0
    scale = after.shape[1] / w
    return 100.0 * float(over.sum()) / total, _worst_block(over, scale)


def _worst_block(over: np.ndarray, scale: float) -> Box:
    h, w = over.shape
    bh, bw = max(1, h // BLOCK), max(1, w // BLOCK)
    sums = cv2.resize(over, (bw, bh), interpolation=cv2.INTER_AREA)
    r, c = np.unravel_index(int(np.argmax(sums)), sums.shape)
    cell_w, cell_h = w / bw * scale, h / bh * scale
    return (int(c * cell_w), int(r * cell_h), int((c + 1) * cell_w), int((r + 1) * cell_h))
