"""Drift score: composition change between the input and the output scaled back to its size.

Meaning of the number (0..1): at a small working size (longest side `WORK` px, where added fine
detail has vanished and only composition and colour remain), each pixel gets
max(structural change, colour change) — structural = (1 − SSIM of luminance) / 2, colour = local
mean ΔE (CIELAB) / `DELTA_E_FULL` — and the score is the mean of that over the worst window of
1/`WINDOW_DIV` of the image side. So 0.2 means: somewhere, a region about a sixth of the image
wide changed by 20 % of "entirely different". Moving or replacing an object scores high even
when the rest of the image is untouched; a global colour cast scores by its ΔE.
"""

from __future__ import annotations

import cv2
import numpy as np

from ._common import Box, resize

WORK = 160
"""Longest side of the working size."""
WINDOW_DIV = 6
"""The pooling window is 1/WINDOW_DIV of the working longest side."""
DELTA_E_FULL = 40.0
"""ΔE that counts as a colour change of 1.0."""
SSIM_SIGMA = 1.5
COLOUR_SIGMA = 2.0
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM with Gaussian windows (Wang et al. 2004 constants)."""

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), SSIM_SIGMA)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + _C1) * (2 * cov + _C2)
    den = (mu_a * mu_a + mu_b * mu_b + _C1) * (var_a + var_b + _C2)
    return num / den


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def drift_score(before: np.ndarray, after: np.ndarray) -> tuple[float, Box | None]:
    """(score, where in output pixels) — see the module docstring. Inputs are uint8 RGB."""
    h, w = before.shape[:2]
    f = min(1.0, WORK / max(h, w))
    ww, wh = max(8, round(w * f)), max(8, round(h * f))
    b = resize(before, ww, wh)
    a = resize(after, ww, wh)
    bl = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float32)
    al = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32)
    structural = (1.0 - _ssim_map(bl, al)) / 2.0
    diff = cv2.GaussianBlur(_lab(b) - _lab(a), (0, 0), COLOUR_SIGMA)
    colour = np.sqrt((diff * diff).sum(axis=2)) / DELTA_E_FULL
    change = np.clip(np.maximum(structural, colour), 0.0, 1.0)
    win = max(3, round(max(ww, wh) / WINDOW_DIV))
    pooled = cv2.boxFilter(change, -1, (win, win), borderType=cv2.BORDER_REFLECT)
    r, c = np.unravel_index(int(np.argmax(pooled)), pooled.shape)
    sx, sy = after.shape[1] / ww, after.shape[0] / wh
    half = win / 2
    where = (
        max(0, int((c - half) * sx)),
        max(0, int((r - half) * sy)),
        min(after.shape[1], int((c + half) * sx)),
        min(after.shape[0], int((r + half) * sy)),
    )
    return float(pooled[r, c]), where
