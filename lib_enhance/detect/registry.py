"""The detector registry: model names → entries → loaded detectors, each loaded once.

The registry is the only place that turns a name into a file, and it does so by looking the
name up in what it listed, never by opening it. It holds loaded models for the session
(ADetailer-style rebuilds per call cost a model load per image). A listed `.pt` file is loaded
inside `pickles.trusted_pickle`: said on the console, and let through the torch.load rules of the
host (torch's weights-only default, a WebUI's checker via `allow_pickle`) for that file only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..spec.config import BUILTIN_FACE
from . import discovery, pickles
from ._types import Detector, DetectorError, UnknownDetectorError

log = logging.getLogger("enhance")

BUILTIN = "builtin"
YOLO = "yolo"


@dataclass(frozen=True)
class DetectorEntry:
    """One model a user can choose."""

    name: str
    """What the UI, the API and the infotext call it: the file name, or BUILTIN_FACE."""
    kind: str
    """BUILTIN (no file) or YOLO (an ultralytics .pt)."""
    path: Path | None
    """The file, found by listing a folder; None for the built-in and not-yet-downloaded."""
    source: str
    """Where it was found ("built-in", a folder, "hf-cache") or "download" (first use)."""

    @property
    def needs_download(self) -> bool:
        return self.kind == YOLO and self.path is None


Loader = Callable[[DetectorEntry, str], Detector]
"""(entry, device) → loaded detector."""


def pick_device(gpu_available: bool, low_vram: bool = False, cpu_only: bool = False) -> str:
    """The device detectors run on: the GPU when the host has one it lets us use, else CPU.

    The WebUI adapter passes `low_vram` for --lowvram/--medvram (a detector on the GPU would
    fight the model for memory) and `cpu_only` for --use-cpu; this module never reads them.
    """
    return "cuda" if gpu_available and not (low_vram or cpu_only) else "cpu"


def default_loader(entry: DetectorEntry, device: str) -> Detector:
    """Build the detector for an entry. Imports its backend only now."""
    if entry.kind == BUILTIN:
        from .builtin_face import BuiltinFaceDetector

        return BuiltinFaceDetector(entry.name)
    if entry.path is None:
        raise DetectorError(f"detector {entry.name!r} has no file yet")
    from .yolo import YoloDetector

    return YoloDetector(entry.name, entry.path, device)


class DetectorRegistry:
    """Lists the models found and loads them on demand, once.

    `folders` are searched in order (ours first, then ADetailer's); `hf_cache` is the hub cache
    whose Bingsu/adetailer snapshots also count (None = the usual location, False = skip).
    `downloads` are names listed before they exist and downloaded on first `get`.
    `allow_pickle` is how the host lets one listed pickle file through its own torch.load
    checker (handed in by the WebUI layer; None: the host has none).
    """

    def __init__(
        self,
        folders: Sequence[Path] = (),
        *,
        hf_cache: Path | bool | None = None,
        device: str = "cpu",
        downloads: Sequence[str] = discovery.KNOWN_DOWNLOADS,
        downloader: discovery.Downloader = discovery.hub_download,
        loader: Loader = default_loader,
        builtin: bool = True,
        allow_pickle: pickles.HostAllowance | None = None,
    ):
        self.folders = [Path(f) for f in folders]
        self.hf_cache = discovery.hf_cache_dir() if hf_cache is None else hf_cache
        self.device = device
        self.downloads = tuple(downloads)
        self.downloader = downloader
        self.loader = loader
        self.builtin = builtin
        self.allow_pickle = allow_pickle
        self._loaded: dict[str, Detector] = {}
        self._lock = threading.Lock()
        self._entries: dict[str, DetectorEntry] = {}
        self.refresh()

    # ---- listing

    def refresh(self) -> None:
        """Re-list the folders (after the user adds a model). Loaded models are kept."""
        entries: dict[str, DetectorEntry] = {}
        if self.builtin:
            entries[BUILTIN_FACE] = DetectorEntry(BUILTIN_FACE, BUILTIN, None, "built-in")
        for name, path in discovery.list_models(self._search_folders()):
            entries.setdefault(name, DetectorEntry(name, YOLO, path, self._source(path)))
        for name in self.downloads:
            entries.setdefault(name, DetectorEntry(name, YOLO, None, "download"))
        self._entries = entries

    def _search_folders(self) -> list[Path]:
        folders = list(self.folders)
        if isinstance(self.hf_cache, Path):
            folders += discovery.hf_snapshot_dirs(self.hf_cache)
        return folders

    def _source(self, path: Path) -> str:
        for folder in self.folders:
            if path.parent == folder:
                return str(folder)
        return "hf-cache"

    def entries(self) -> list[DetectorEntry]:
        return list(self._entries.values())

    def names(self) -> list[str]:
        """Every choosable name: built-in, found, then downloadable on first use."""
        return list(self._entries)

    def found_names(self) -> list[str]:
        """Only what works without a download: built-in and model files found."""
        return [e.name for e in self._entries.values() if not e.needs_download]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def entry(self, name: str) -> DetectorEntry:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownDetectorError(str(name), self.names()) from None

    # ---- loading

    def get(self, name: str) -> Detector:
        """The loaded detector for `name`: loaded (and downloaded) on first use, then kept."""
        entry = self.entry(name)
        with self._lock:
            detector = self._loaded.get(name)
            if detector is None:
                detector = self._load(self._materialise(entry))
                self._loaded[name] = detector
        return detector

    def _load(self, entry: DetectorEntry) -> Detector:
        if entry.kind != YOLO or entry.path is None:
            return self.loader(entry, self.device)
        with pickles.trusted_pickle(entry.path, self.allow_pickle):
            return self.loader(entry, self.device)

    def _materialise(self, entry: DetectorEntry) -> DetectorEntry:
        """The entry with a file: downloads a known model that is not on disk yet."""
        if not entry.needs_download:
            return entry
        folder = self.folders[0] if self.folders else Path("models/enhance")
        path = Path(self.downloader(entry.name, folder))
        fresh = DetectorEntry(entry.name, YOLO, path, "hf-cache")
        self._entries[entry.name] = fresh
        return fresh

    def loaded(self) -> Mapping[str, Detector]:
        return dict(self._loaded)

    def unload(self) -> None:
        """Drop every loaded model (frees GPU memory; the next `get` loads again)."""
        with self._lock:
            self._loaded.clear()


def default_folders(models_root: Path, enhance_dir: Path | None = None) -> list[Path]:
    """Ours (--enhance-models-dir, default <models>/enhance), then ADetailer's."""
    return [enhance_dir or models_root / "enhance", models_root / "adetailer"]
