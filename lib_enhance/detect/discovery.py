"""Where detector models are found, and how a known one is downloaded on first use.

Names come only from listing folders (and from the fixed list of downloadable names); a name
is never joined onto a path or opened. So an API caller who sends "../../secret.pt" gets
"unknown model", not a file read.

Search order (first wins for a name found twice): our models folder (`--enhance-models-dir`,
default models/enhance), ADetailer's models/adetailer, then the Hugging Face cache that
ADetailer filled from Bingsu/adetailer — users who have ADetailer download nothing twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ._types import ModelDownloadError

log = logging.getLogger("enhance")

HF_REPO = "Bingsu/adetailer"
"""The Hugging Face repo ADetailer downloads its YOLO models from."""

KNOWN_DOWNLOADS = (
    "face_yolov8n.pt",
    "face_yolov8s.pt",
    "hand_yolov8n.pt",
    "person_yolov8n-seg.pt",
    "person_yolov8s-seg.pt",
)
"""Models users know by name; listed even before they are downloaded."""

MODEL_SUFFIXES = (".pt",)

DOWNLOAD_TIMEOUT_S = 5.0
"""Seconds to wait for the hub to answer: an offline machine fails fast with a clear error."""

Downloader = Callable[[str, Path], Path]
"""(filename, folder to put it in) → path of the downloaded file."""


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, as huggingface_hub resolves it (without importing it)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HUGGINGFACE_HUB_CACHE"):
        return Path(os.environ["HUGGINGFACE_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "huggingface" / "hub"


def hf_snapshot_dirs(cache: Path, repo: str = HF_REPO) -> list[Path]:
    """Snapshot folders of `repo` in the hub cache, newest first (by modification time)."""
    root = cache / ("models--" + repo.replace("/", "--")) / "snapshots"
    if not root.is_dir():
        return []
    snaps = [p for p in root.iterdir() if p.is_dir()]
    return sorted(snaps, key=lambda p: p.stat().st_mtime, reverse=True)


def list_models(folders: Iterable[Path]) -> Iterator[tuple[str, Path]]:
    """(file name, path) of each model file directly inside each folder, in folder order.

    Only regular files (symlinks into the hub's blob store count) with a model suffix; no
    recursion, so the list is exactly what a user sees in those folders.
    """
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in MODEL_SUFFIXES and path.is_file():
                yield path.name, path


def hub_download(filename: str, folder: Path) -> Path:
    """Download a known model from Bingsu/adetailer into the hub cache; typed error offline.

    Into the hub cache rather than our folder, so ADetailer finds it too. `folder` is only
    named in the error, as the place to put the file by hand.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ModelDownloadError(filename, HF_REPO, folder, "huggingface_hub is missing") from exc
    log.info("Enhance: downloading detector model %s from %s", filename, HF_REPO)
    try:
        return Path(hf_hub_download(HF_REPO, filename, etag_timeout=DOWNLOAD_TIMEOUT_S))
    except Exception as exc:  # network, auth, offline: one typed error naming the file
        raise ModelDownloadError(filename, HF_REPO, folder, f"{type(exc).__name__}: {exc}") from exc
