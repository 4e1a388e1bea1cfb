"""Drift score: what changed between the input and the output, beyond a global grade.

Meaning of the number (0..1): at a small working size (longest side `WORK` px, where added fine
detail has vanished and only composition and colour remain), the global grade from input to
output is fitted and removed (see `grade`: a tone curve and a colour balance applied to the
whole image is a look, not a fault). Each pixel then gets max(structural change, colour
change) — structural = (1 − SSIM's structure term of lightness) / 2, colour = local mean ΔE
(CIELAB) / `DELTA_E_FULL` — and the local score is the mean of that over the worst window of
1/`WINDOW_DIV` of the image side. So 0.1 means: somewhere, a region about an eighth of the
image wide changed by 10 % of "entirely different" (≈ a ΔE 4 tint of that region, or an object
moved by about 1 % of the image side). The grade itself counts too, much more leniently: its
mean ΔE / `GLOBAL_DELTA_E_FULL`, so a washed-out or strongly recoloured image is still flagged
while a mild grade is not.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._common import Box, resize
from .grade import fit_grade

WORK = 192
"""Longest side of the working size."""
WINDOW_DIV = 8
"""The pooling window is 1/WINDOW_DIV of the working longest side."""
DELTA_E_FULL = 40.0
"""ΔE that counts as a local colour change of 1.0."""
GLOBAL_DELTA_E_FULL = 100.0
"""Mean ΔE of the global grade that counts as 1.0 (a grade of ΔE 15 scores 0.15)."""
SSIM_SIGMA = 1.5
COLOUR_SIGMA = 2.0
_C2 = 3.0**2
"""SSIM's contrast constant for lightness 0..100 (Wang et al.'s 0.03 of the range)."""


def _structure_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel contrast-structure term of SSIM (Wang et al. 2004), Gaussian windows.

    SSIM's luminance term is left out: brightness is judged by the colour ΔE, and that term
    explodes in near-black areas (a mean of 3 against 1 reads as "entirely different")."""

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), SSIM_SIGMA)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    return (2 * cov + _C2) / (var_a + var_b + _C2)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def drift_score(
    before: np.ndarray, after: np.ndarray, after_back: np.ndarray | None = None
) -> tuple[float, Box | None]:
    """(score, where in output pixels) — see the module docstring. Inputs are uint8 RGB;
    `after_back` is `after` already scaled to `before`'s size, if the caller has it."""
    h, w = before.shape[:2]
    f = min(1.0, WORK / max(h, w))
    ww, wh = max(8, round(w * f)), max(8, round(h * f))
    b = _lab(resize(before, ww, wh))
    a = _lab(resize(after if after_back is None else after_back, ww, wh))
    graded = fit_grade(b, a)
    structural = (1.0 - _structure_map(graded[:, :, 0], a[:, :, 0])) / 2.0
    diff = cv2.GaussianBlur(graded - a, (0, 0), COLOUR_SIGMA)
    colour = np.sqrt((diff * diff).sum(axis=2)) / DELTA_E_FULL
    change = np.clip(np.maximum(structural, colour), 0.0, 1.0)
    win = max(3, round(max(ww, wh) / WINDOW_DIV))
    pooled = cv2.boxFilter(change, -1, (win, win), borderType=cv2.BORDER_REFLECT)
    r, c = np.unravel_index(int(np.argmax(pooled)), pooled.shape)
    moved = graded - b
    global_part = float(np.sqrt((moved * moved).sum(axis=2)).mean()) / GLOBAL_DELTA_E_FULL
    if global_part > pooled[r, c]:
        return global_part, (0, 0, after.shape[1], after.shape[0])
    sx, sy = after.shape[1] / ww, after.shape[0] / wh
    half = win / 2
    where = (
        max(0, int((c - half) * sx)),
        max(0, int((r - half) * sy)),
        min(after.shape[1], int((c + half) * sx)),
        min(after.shape[0], int((r + half) * sy)),
    )
    return float(pooled[r, c]), where
