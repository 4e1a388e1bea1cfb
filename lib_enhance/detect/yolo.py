"""YOLO detect and segment models through ultralytics (any `.pt` it can load).

ultralytics is imported only when a YOLO model is first used, so the extension and the
built-in face detector work on installs without it (and its torchvision requirement).

Segmentation masks come back from ultralytics at the letterboxed input size; they are mapped
to the image through the letterbox padding exactly by `masks.from_letterbox` (ADetailer
stretches them over the padding: 12 px off at the edges of a 768×512 image).

ultralytics sets torch's thread count for the whole process when it predicts on the CPU
(`select_device`: at most cores − 1, so 1 on a 2-core machine). Inside a WebUI that would slow
every later CPU generation and change its numbers; `_host_threads_kept` puts the count back.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..geometry import masks
from ..geometry.detection import Detection
from ..geometry.regions import Box
from ._types import (
    DetectorUnavailableError,
    ModelLoadError,
    UnknownClassError,
)

log = logging.getLogger("enhance")

MIN_CONFIDENCE = 0.01
"""Floor of the score threshold handed to the model: 0 would return thousands of boxes."""


def _import_yolo() -> Any:
    try:
        return importlib.import_module("ultralytics").YOLO
    except ImportError as exc:
        raise DetectorUnavailableError(
            f"YOLO detector models need the 'ultralytics' package, which is not installed ({exc})"
        ) from exc


class YoloDetector:
    """One loaded ultralytics model, kept for the session; safe to call from several threads."""

    min_confidence = MIN_CONFIDENCE

    def __init__(self, name: str, path: Path, device: str = "cpu"):
        self.name = name
        self.path = path
        self.device = device
        self._lock = threading.Lock()
        log.info("Enhance: loading detector %s on %s", name, device)
        yolo_class = _import_yolo()
        try:
            with _host_threads_kept():
                self._model = yolo_class(str(path))
        except Exception as exc:  # any load failure: a typed error naming the file
            raise ModelLoadError(f"could not load detector {name!r} from {path}: {exc}") from exc
        self.task = str(getattr(self._model, "task", "detect"))
        self.class_names = {int(k): str(v) for k, v in dict(self._model.names).items()}

    @property
    def classes(self) -> list[str]:
        return [self.class_names[k] for k in sorted(self.class_names)]

    def class_ids(self, classes: Sequence[str]) -> list[int] | None:
        """Ids of the named classes (None = all); unknown names raise `UnknownClassError`."""
        wanted = [c.strip() for c in classes if c.strip()]
        if not wanted:
            return None
        by_name = {v: k for k, v in self.class_names.items()}
        missing = [c for c in wanted if c not in by_name]
        if missing:
            raise UnknownClassError(self.name, missing, self.classes)
        return sorted(by_name[c] for c in wanted)

    def detect(
        self, image: Image.Image, confidence: float = 0.0, classes: Sequence[str] = ()
    ) -> list[Detection]:
        """Regions in `image`, best first as the model returns them."""
        ids = self.class_ids(classes)
        rgb = np.asarray(image.convert("RGB"))
        bgr = np.ascontiguousarray(rgb[..., ::-1])  # ultralytics reads arrays as OpenCV BGR
        with self._lock, _host_threads_kept():
            results = self._model.predict(
                bgr, conf=max(confidence, MIN_CONFIDENCE), classes=ids,
                device=ultralytics_device(self.device), verbose=False,
            )  # fmt: skip
        return _detections(results[0], self.class_names, confidence)


@contextlib.contextmanager
def _host_threads_kept() -> Iterator[None]:
    """torch's CPU thread count as it was before ultralytics ran (see the module doc)."""
    torch = importlib.import_module("torch")
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def ultralytics_device(device: str) -> str:
    """A device string every ultralytics version reads the same way.

    Older versions take a bare "cuda" as a CUDA_VISIBLE_DEVICES value; "cuda:0" means the
    first GPU in all of them.
    """
    return "cuda:0" if device == "cuda" else device


def _detections(result: Any, names: dict[int, str], confidence: float) -> list[Detection]:
    height, width = result.orig_shape[:2]
    boxes = result.boxes
    xyxy = boxes.xyxy.cpu().numpy() if len(boxes) else np.zeros((0, 4))
    scores = boxes.conf.cpu().numpy() if len(boxes) else np.zeros(0)
    labels = boxes.cls.cpu().numpy().astype(int) if len(boxes) else np.zeros(0, int)
    seg = None
    if result.masks is not None and len(boxes):
        seg = result.masks.data.cpu().numpy()
    found: list[Detection] = []
    for i in range(len(scores)):
        box = _pixel_box(xyxy[i], width, height)
        if box is None or float(scores[i]) < confidence:
            continue
        mask = None
        if seg is not None:
            mask = masks.from_letterbox(seg[i], (height, width))
        found.append(Detection(box, float(scores[i]), names.get(int(labels[i]), "?"), mask))
    return found


def _pixel_box(xyxy: np.ndarray, width: int, height: int) -> Box | None:
    """Float model box → int pixel box (x1/y1 exclusive) clipped to the image."""
    x0 = int(np.clip(np.floor(xyxy[0]), 0, width))
    y0 = int(np.clip(np.floor(xyxy[1]), 0, height))
    x1 = int(np.clip(np.ceil(xyxy[2]), 0, width))
    y1 = int(np.clip(np.ceil(xyxy[3]), 0, height))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1
