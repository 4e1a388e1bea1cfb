"""Detail gain: how much fine-scale energy the passes added over a plain upscale.

Meaning of the number: (E(output) − E(upscale)) / (E(upscale) + 0.25), where E is the mean
absolute difference between an image's luminance and its Gaussian blur (sigma 1 px) — the energy
of the finest detail. 0 = the passes added nothing over Lanczos; 1 = twice the fine detail;
negative = the output is softer than a plain upscale. It is not a quality judgement (noise counts
too); it shows that denoise 0.25 did little and 0.4 did more.
"""

from __future__ import annotations

import cv2
import numpy as np

SIGMA = 1.0
FLOOR = 0.25


def fine_energy(lum: np.ndarray) -> float:
    return float(np.mean(np.abs(lum - cv2.GaussianBlur(lum, (0, 0), SIGMA))))


def detail_gain(after_l: np.ndarray, up_l: np.ndarray) -> float:
    base = fine_energy(up_l)
    return (fine_energy(after_l) - base) / (base + FLOOR)
