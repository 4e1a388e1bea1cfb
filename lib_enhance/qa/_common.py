"""Shared image plumbing for the QA metrics: conversions and the reference upscale.

Every metric compares the output with what a plain upscale of the input would look like, so the
score says what the *passes* did, not what the image already contained. All maths is float32
luminance or Lab in numpy/OpenCV: no models, no downloads, fast enough for 2048² in well under a
second.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]
"""(x0, y0, x1, y1), x1/y1 exclusive, in output-image pixels."""


def to_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    """uint8 HxWx3 RGB from a PIL image or an array (grey, RGBA, float 0..1 accepted)."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image, dtype=np.uint8)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        scale = 255.0 if arr.dtype.kind == "f" and float(arr.max(initial=0)) <= 1.0 else 1.0
        arr = np.clip(arr.astype(np.float32) * scale + 0.5, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Float32 luminance 0..255 (BT.601 weights), without uint8 rounding."""
    return cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lanczos when enlarging (the reference upscale), area averaging when shrinking."""
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    interp = cv2.INTER_LANCZOS4 if width * height > w * h else cv2.INTER_AREA
    return cv2.resize(img, (width, height), interpolation=interp)


@dataclass(frozen=True)
class Pair:
    """The before/after pair in the forms the metrics share (computed once per assess)."""

    before: np.ndarray
    """Input, uint8 RGB, its own size."""
    after: np.ndarray
    """Output, uint8 RGB."""
    after_f: np.ndarray
    """Output, float32 RGB."""
    up_f: np.ndarray
    """Input upscaled (Lanczos) to the output size, float32 RGB: what no pass at all gives."""
    after_l: np.ndarray
    """Output luminance, float32."""
    up_l: np.ndarray
    """Luminance of `up_f`."""
    after_back: np.ndarray
    """Output scaled back to the input's size (area averaging), uint8 RGB: what halo and drift
    compare with the input (computed once for both)."""

    @property
    def scale(self) -> float:
        return self.after.shape[1] / max(1, self.before.shape[1])


def make_pair(before: Image.Image | np.ndarray, after: Image.Image | np.ndarray) -> Pair:
    b = to_rgb(before)
    a = to_rgb(after)
    h, w = a.shape[:2]
    after_f = a.astype(np.float32)
    up_f = resize(b.astype(np.float32), w, h)
    back = resize(a, b.shape[1], b.shape[0])
    return Pair(b, a, after_f, up_f, _luma_f(after_f), _luma_f(up_f), back)


def _luma_f(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
