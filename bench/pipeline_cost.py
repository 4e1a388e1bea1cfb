"""What the tiled pass costs: host calls, checkpoint changes, and our own CPU work per megapixel.

Runs the real pipeline on the deterministic test host (lib_enhance.testing), so the host's own
time (upscaling, "diffusion") is excluded and what remains is ours: planning, cutting tiles,
colour matching, blending. Prints one JSON object per job, next to the number of host calls
Ultimate SD Upscale makes for the same job (one per 512-px tile: rows × cols).

    .venv/core/bin/python bench/pipeline_cost.py
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")  # "on one core": keep numpy/opencv single-threaded

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from lib_enhance.spec import config as cfgmod  # noqa: E402
from lib_enhance.stages.pipeline import ImageJob, enhance  # noqa: E402
from lib_enhance.testing import TestHost  # noqa: E402

JOBS = ((1024, 2048), (2048, 4096))
TILE, OVERLAP, BATCH = 576, 64, 4
USDU_TILE = 512


def source_image(size: int) -> Image.Image:
    """A real photo (scikit-image's astronaut) at the job's input size."""
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((size, size), Image.LANCZOS)


def run_job(size_in: int, size_out: int, repeats: int = 3) -> dict:
    config = cfgmod.validate(
        {
            "tiles": {
                "enabled": True,
                "upscaler": "Lanczos",
                "width": size_out,
                "height": size_out,
                "tile_size": TILE,
                "overlap": OVERLAP,
                "batch_size": BATCH,
                "denoise": 0.3,
            },
            "qa": {"enabled": False},
        }
    )
    job = ImageJob(source_image(size_in), prompt="a photo", seed=1234)
    best = math.inf
    for _ in range(repeats):
        host = TestHost()
        started = time.process_time()
        result = enhance(host, config, job)
        cpu = time.process_time() - started
        record = result.records[0]
        assert record.status == "ok", record.error
        best = min(best, record.own_seconds)
    megapixels = size_out * size_out / 1e6
    usdu = math.ceil(size_out / USDU_TILE) ** 2
    return {
        "job": f"{size_in}x{size_in} -> {size_out}x{size_out}",
        "tile": TILE,
        "overlap": OVERLAP,
        "batch_size": BATCH,
        "host_calls": host.calls_by_label(),
        "batch_sizes": record.batch_sizes,
        "tile_size_used": record.ran["tile"],
        "megapixels_diffused": round(record.ran["pixels"] / 1e6, 2),
        "checkpoint_changes": host.loads,
        "our_cpu_ms_per_mp": round(best * 1000 / megapixels, 1),
        "total_cpu_s_incl_test_host": round(cpu, 2),
        "usdu_host_calls": usdu,
    }


def main() -> None:
    for size_in, size_out in JOBS:
        print(json.dumps(run_job(size_in, size_out)))


if __name__ == "__main__":
    main()
