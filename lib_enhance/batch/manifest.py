"""The folder batch's manifest and atomic file writes.

The manifest (``enhance-manifest.json`` in the output folder) is the batch's memory: one record
per input file — its hash, the status of every stage, the intermediate it is at, the output
path, the QA scores, the error or skip reason — plus the settings and a log of runs. It is
rewritten atomically after every unit of work, so a run killed at any instant leaves either the
old or the new manifest, never a torn one; a restarted run continues exactly where the last
persisted state says, and a stage is "finished" only once its result is on disk.

Every write here goes to a temporary name in the same folder and is renamed over the target
(`os.replace`, atomic on POSIX and Windows). Disk-full and permission errors become a
`WriteError` that names the file and the cause, after the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

MANIFEST_NAME = "enhance-manifest.json"
WORK_DIR = "enhance-work"
VERSION = 1

FINISHED = ("ok", "skipped", "failed")
"""Stage statuses that are never redone ("interrupted" and missing ones are)."""


class WriteError(OSError):
    """A file of the batch could not be written; nothing half-written was left behind."""


_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
}


def _describe(exc: OSError) -> str:
    return _HINTS.get(exc.errno or 0, exc.strerror or str(exc))


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[io.BufferedWriter]:
    """Open a temporary file next to `path`; on success fsync and rename it over `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, WriteError):
            raise
        raise WriteError(exc.errno, f"could not write {path}: {_describe(exc)}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path) as handle:
        handle.write(data)


def save_png(
    image: Image.Image, path: Path, text: dict[str, str] | None = None, compress_level: int = 6
) -> None:
    """Save `image` as PNG with `text` chunks, atomically. Intermediates use level 1: they
    are read back once, and encoding at 6 costs more than the test host's whole stage."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=compress_level)
    write_bytes(path, buffer.getvalue())


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def new_record(source: str, sha256: str) -> dict[str, Any]:
    """A fresh per-image record (plain JSON types, so the manifest is the record)."""
    return {
        "source": source,
        "sha256": sha256,
        "status": "pending",
        "reason": "",
        "stages": {},
        "work": "",
        "output": "",
        "scores": None,
        "error": "",
        "seams": [],
    }


class Manifest:
    """The manifest file of one output folder."""

    def __init__(self, output_dir: Path, data: dict[str, Any]):
        self.output_dir = output_dir
        self.data = data

    @property
    def path(self) -> Path:
        return self.output_dir / MANIFEST_NAME

    @property
    def images(self) -> dict[str, dict[str, Any]]:
        return self.data["images"]

    @classmethod
    def load(cls, output_dir: Path) -> Manifest | None:
        path = output_dir / MANIFEST_NAME
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            raise ValueError(f"{path}: manifest version {data.get('version')!r} is not {VERSION}")
        return cls(output_dir, data)

    @classmethod
    def create(cls, output_dir: Path, input_dir: Path, config: dict[str, Any]) -> Manifest:
        data = {
            "version": VERSION,
            "input": str(input_dir),
            "config": config,
            "stages": [],
            "images": {},
            "runs": [],
        }
        return cls(output_dir, data)

    def save(self) -> None:
        text = json.dumps(self.data, indent=1, ensure_ascii=False, sort_keys=True)
        write_bytes(self.path, text.encode("utf-8"))

    def begin_run(self, clock: Callable[[], float] = time.time) -> dict[str, Any]:
        run = {"started": clock(), "seconds": 0.0, "checkpoint_loads": 0, "stopped": False}
        self.data["runs"].append(run)
        return run

    def totals(self) -> dict[str, Any]:
        """Summary over all runs and records, for the review page and the UI."""
        records = list(self.images.values())
        runs = self.data["runs"]
        return {
            "images": sum(r["status"] != "skipped" for r in records),
            "done": sum(r["status"] == "done" for r in records),
            "flagged": sum(_flagged(r) for r in records),
            "skipped": sum(r["status"] == "skipped" for r in records),
            "failed_stages": sum(
                s.get("status") == "failed" for r in records for s in r["stages"].values()
            ),
            "seconds": round(sum(run["seconds"] for run in runs), 1),
            "checkpoint_loads": sum(run["checkpoint_loads"] for run in runs),
            "runs": len(runs),
        }


def _flagged(record: dict[str, Any]) -> bool:
    scores = record.get("scores") or {}
    failed = any(s.get("status") == "failed" for s in record["stages"].values())
    return record["status"] == "done" and (scores.get("verdict") == "review" or failed)


def is_flagged(record: dict[str, Any]) -> bool:
    """Needs a person's look: QA said review, or a stage failed and the image fell back."""
    return _flagged(record)
