"""Halo score: bright/dark rings beside strong edges, beyond what a normal sharpening gives.

Meaning of the number: the output is scaled back to the input's size (area averaging) and the
global grade removed (see `grade`). At the input's strong edges (slope ≥ `MIN_SLOPE`, local
contrast ≥ `MIN_CONTRAST` grey levels) each pixel may lie anywhere between the darkest and the
brightest of (a) the input in its 3×3 neighbourhood and (b) the input sharpened the way
ESRGAN-family upscalers sharpen (an unsharp mask of radius `ALLOW_SIGMA` input pixels, amount
`ALLOW_AMOUNT`). What the output goes beyond that (less `TOLERANCE` grey levels) is summed as a
percentage of those edges' contrast, in windows of 1/`WINDOW_DIV` of the image side, and the
score is the worst window's. 0 = no ring beyond a normal sharpening: a uniform sharpening of
radius 1 output pixel (amount up to 1.4) stays below ≈ 0.3, re-diffusion grain on top of it
below ≈ 1; a ring 2–3 output pixels wide (unsharp radius 2.5, amount 0.8) scores ≈ 5–15, a
glow (radius 5, amount 0.4) ≈ 2–10; a halo confined to one region scores as if it were
everywhere.

Why scale back: detail a pass legitimately adds (sharper edges, restored thin lines, texture) is
finer than an input pixel and averages away, but a halo is a wide plateau beyond the edge that
survives it, so it shows as a value outside the range the (sharpened) input has there.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._common import Box, luma, resize
from .grade import fit_grade, tone_and_chroma

MIN_SLOPE = 4.0
"""Least gradient of the input (grey levels per pixel) for a pixel to be on an edge."""
MIN_CONTRAST = 32.0
"""Edges with less 3×3 contrast (grey levels) are ignored: halos there are not visible."""
TOLERANCE = 2.0
"""Grey levels of overshoot ignored per pixel (rounding, resampling, faint texture)."""
ALLOW_SIGMA = 0.5
"""Radius (input pixels) of the sharpening every output may have."""
ALLOW_AMOUNT = 1.0
"""Amount of the sharpening every output may have."""
WINDOW_DIV = 4
"""Windows are 1/WINDOW_DIV of the image side (a quarter: a face, an object)."""
GRID = 32
"""The edge maps are summed on a GRID×GRID grid before the windows slide over it."""
MIN_SHARE = 0.25
"""A window counts only if it holds at least this share of an average window's edge contrast:
a window with two edge pixels would give a noisy ratio."""


def halo_score(
    before: np.ndarray, after: np.ndarray, after_back: np.ndarray | None = None
) -> tuple[float, Box | None]:
    """(score, where in output pixels) for uint8 RGB images — see the module docstring.
    `after_back` is `after` already scaled to `before`'s size, if the caller has it."""
    h, w = before.shape[:2]
    back = luma(resize(after, w, h) if after_back is None else after_back)
    ref = fit_grade(tone_and_chroma(before), back[:, :, None])[:, :, 0]
    kernel = np.ones((3, 3), np.uint8)
    lmax, lmin = cv2.dilate(ref, kernel), cv2.erode(ref, kernel)
    contrast = lmax - lmin
    allowed = ref + ALLOW_AMOUNT * (ref - cv2.GaussianBlur(ref, (0, 0), ALLOW_SIGMA))
    upper, lower = np.maximum(lmax, allowed), np.minimum(lmin, allowed)
    gx = cv2.Sobel(ref, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(ref, cv2.CV_32F, 0, 1, ksize=3)
    edges = (cv2.magnitude(gx, gy) / 8.0 >= MIN_SLOPE).astype(np.uint8)
    band = cv2.dilate(edges, kernel).astype(bool) & (contrast >= MIN_CONTRAST)
    if not band.any():
        return 0.0, None
    over = np.maximum(back - upper - TOLERANCE, 0.0) + np.maximum(lower - back - TOLERANCE, 0.0)
    over[~band] = 0.0
    contrast[~band] = 0.0
    return _worst_window(over, contrast, after.shape[1] / w)


def _worst_window(over: np.ndarray, contrast: np.ndarray, scale: float) -> tuple[float, Box]:
    """100 × overshoot / contrast in the worst window, and that window in output pixels."""
    h, w = over.shape
    gw, gh = min(GRID, w), min(GRID, h)
    o = cv2.resize(over, (gw, gh), interpolation=cv2.INTER_AREA)
    c = cv2.resize(contrast, (gw, gh), interpolation=cv2.INTER_AREA)
    win = (max(1, gw // WINDOW_DIV), max(1, gh // WINDOW_DIV))
    o = cv2.boxFilter(o, -1, win, normalize=False, borderType=cv2.BORDER_CONSTANT)
    c = cv2.boxFilter(c, -1, win, normalize=False, borderType=cv2.BORDER_CONSTANT)
    floor = MIN_SHARE * float(c.mean())
    ratio = np.where(c >= max(floor, 1e-6), o / np.maximum(c, 1e-6), 0.0)
    r, col = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    cell_w, cell_h = w / gw * scale, h / gh * scale
    x0, y0 = (col - win[0] // 2) * cell_w, (r - win[1] // 2) * cell_h
    box = (
        max(0, int(x0)),
        max(0, int(y0)),
        min(int(w * scale), int(x0 + win[0] * cell_w)),
        min(int(h * scale), int(y0 + win[1] * cell_h)),
    )
    return 100.0 * float(ratio[r, col]), box
