"""Checkpoint loads and host calls of the folder batch vs per-image processing (test host).

A 20-image folder, hires pass on checkpoint B, a face detail pass on checkpoint C. The folder
batch runs each stage across all images inside one checkpoint, so it pays B, C and one restore;
running the pipeline image by image pays B, C and a restore for every image.

    python bench/batch_cost.py

Prints JSON: checkpoint_loads (batch), per_image_checkpoint_loads, host_calls per stage for
both, and seconds. The face detector is a fixed centre box (the built-in detector needs its own
package; what is measured here is the swap and call count, which no detector changes).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

from lib_enhance.batch import run as batch
from lib_enhance.spec import config
from lib_enhance.stages.pipeline import ImageJob, enhance
from lib_enhance.testing import StaticRegistry, TestHost

IMAGES = 20
CONFIG = {
    "hires": {"enabled": True, "scale": 2.0, "upscaler": "Lanczos", "checkpoint": "B [bbbb2222]"},
    "detail": [{"model": config.BUILTIN_FACE, "checkpoint": "C [cccc3333]"}],
}


def make_folder(folder: Path) -> list[Path]:
    from skimage import data

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((160, 160)))
    paths = []
    for i in range(IMAGES):
        path = folder / f"img{i:02d}.png"
        Image.fromarray(np.roll(photo, 8 * i, axis=1)).save(path)
        paths.append(path)
    return paths


def per_image(paths: list[Path]) -> tuple[TestHost, float]:
    host = TestHost()
    cfg = config.validate(CONFIG)
    started = time.perf_counter()
    for path in paths:
        job = ImageJob(Image.open(path).convert("RGB"), seed=7, name=path.name)
        enhance(host, cfg, job, StaticRegistry())
    return host, time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        paths = make_folder(src)
        host = TestHost()
        started = time.perf_counter()
        result = batch.run_batch(host, src, Path(tmp) / "out", CONFIG, detectors=StaticRegistry())
        batch_seconds = time.perf_counter() - started
        single, single_seconds = per_image(paths)
    report = {
        "images": IMAGES,
        "checkpoint_loads": host.loads,
        "checkpoint_history": [c for c, _ in host.switcher.history],
        "per_image_checkpoint_loads": single.loads,
        "host_calls": host.calls_by_label(),
        "per_image_host_calls": single.calls_by_label(),
        "flagged": result.totals["flagged"],
        "seconds": round(batch_seconds, 2),
        "per_image_seconds": round(single_seconds, 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
