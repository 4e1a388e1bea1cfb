"""Detectors for detail passes: a small registry keyed by model name.

The public surface is this module: `DetectorRegistry` (names, get), `Detection`, and the typed
errors. The helpers behind it (discovery, the built-in face detector, the YOLO wrapper) import
their heavy backends only when a model is first used, so listing models costs nothing.
"""

from __future__ import annotations

from ..geometry.detection import Detection
from ..geometry.regions import Box
from ..spec.config import BUILTIN_FACE
from ._types import (
    Detector,
    DetectorError,
    DetectorUnavailableError,
    ModelDownloadError,
    ModelLoadError,
    UnknownClassError,
    UnknownDetectorError,
)
from .discovery import HF_REPO, KNOWN_DOWNLOADS
from .registry import DetectorEntry, DetectorRegistry, default_folders, pick_device

__all__ = [
    "BUILTIN_FACE",
    "HF_REPO",
    "KNOWN_DOWNLOADS",
    "Box",
    "Detection",
    "Detector",
    "DetectorEntry",
    "DetectorError",
    "DetectorRegistry",
    "DetectorUnavailableError",
    "ModelDownloadError",
    "ModelLoadError",
    "UnknownClassError",
    "UnknownDetectorError",
    "default_folders",
    "pick_device",
]
