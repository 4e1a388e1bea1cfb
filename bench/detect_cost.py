"""What detection costs, and how many host calls a detail pass makes. Prints JSON.

    python bench/detect_cost.py            # core venv: built-in face detector + host calls
    .venv/yolo/bin/python bench/detect_cost.py   # also a yolov8n-sized YOLO on CPU

- load_ms: first `registry.get` (import + model load), then first_detect_ms (warm-up);
- detect_ms: median of `--repeat` detections on a 1024×1024 photo (goal ≤ 150 ms on CPU);
- host calls per pass on the recording test host, for a pass that finds 4 regions
  (a per-mask detailer such as ADetailer makes 4).
The yolov8n-sized model is `yolov8n.yaml` randomly initialised: the same network and cost as
the real weights, no download.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

from lib_enhance.detect import BUILTIN_FACE, Detection, DetectorRegistry  # noqa: E402
from lib_enhance.spec import config  # noqa: E402
from lib_enhance.stages.pipeline import ImageJob, build_stages, run_stage  # noqa: E402
from lib_enhance.testing import TestHost  # noqa: E402


def photo(size: int = 1024) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((size, size), Image.LANCZOS)


def time_detector(registry: DetectorRegistry, name: str, image: Image.Image, repeat: int) -> dict:
    started = time.perf_counter()
    detector = registry.get(name)
    load_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    found = detector.detect(image, 0.3)
    first_ms = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        detector.detect(image, 0.3)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "load_ms": round(load_ms, 1),
        "first_detect_ms": round(first_ms, 1),
        "detect_ms": round(statistics.median(times), 1),
        "detect_ms_min": round(min(times), 1),
        "image": list(image.size),
        "regions": len(found),
    }


def yolo_registry(tmp: Path, device: str) -> tuple[DetectorRegistry | None, float]:
    """A registry holding a random-init yolov8n (.pt), or None without ultralytics; and the
    milliseconds the ultralytics import took."""
    started = time.perf_counter()
    try:
        from yolo_env import offline_ultralytics

        offline_ultralytics(tmp / "cfg")
        with contextlib.redirect_stdout(sys.stderr):  # its settings banner: keep stdout JSON
            from ultralytics import YOLO
    except ImportError:
        return None, 0.0
    import_ms = (time.perf_counter() - started) * 1000
    with contextlib.redirect_stdout(sys.stderr):
        YOLO("yolov8n.yaml").save(str(tmp / "yolov8n-random.pt"))
    return DetectorRegistry([tmp], hf_cache=False, downloads=(), device=device), import_ms


def device_parity(device: str) -> dict:
    """The same real models on `device` and on the CPU: largest box difference (px) and the
    smallest mask IoU, so a GPU run is known to find what the tested CPU path finds."""
    fixtures = ROOT / "tests" / "fixtures"
    models = [fixtures / "tiny_ellipses.pt", fixtures / "cache" / "yolo11n-seg.pt"]
    from skimage import data

    images = [Image.fromarray(data.astronaut()), photo(1024).resize((1280, 720))]
    out: dict = {}
    for model in (m for m in models if m.is_file()):
        runs = {}
        for dev in ("cpu", device):
            reg = DetectorRegistry([model.parent], hf_cache=False, downloads=(), device=dev)
            runs[dev] = [reg.get(model.name).detect(im, 0.3) for im in images]
        out[model.name] = _compare(runs["cpu"], runs[device])
    return out


def _compare(cpu: list, gpu: list) -> dict:
    box_diff, mask_iou, counts = 0, 1.0, []
    for a, b in zip(cpu, gpu, strict=True):
        counts.append([len(a), len(b)])
        for da, db in zip(a, b, strict=False):
            box_diff = max(box_diff, max(abs(p - q) for p, q in zip(da.box, db.box, strict=True)))
            if da.mask is not None and db.mask is not None:
                inter = (da.mask & db.mask).sum()
                mask_iou = min(mask_iou, float(inter / max(1, (da.mask | db.mask).sum())))
    return {"counts_cpu_vs_device": counts, "max_box_diff_px": box_diff, "min_mask_iou": mask_iou}


class FourBoxes:
    name = "four"

    def detect(self, image, confidence=0.0, classes=()):
        boxes = [(100, 100, 220, 240), (600, 120, 740, 260), (150, 650, 260, 790),
                 (700, 700, 860, 880)]  # fmt: skip
        return [Detection(b, 0.9, "face") for b in boxes]


class OneDetector:
    def __init__(self, detector):
        self.detector = detector

    def get(self, name):
        return self.detector


def host_calls_per_pass(image: Image.Image) -> dict:
    cfg = config.validate({"detail": [{"model": "four"}]})
    host = TestHost()
    started = time.perf_counter()
    _, record = run_stage(host, build_stages(cfg)[0], ImageJob(image, seed=1), image,
                          OneDetector(FourBoxes()))  # fmt: skip
    return {
        "regions": record.ran.get("regions"),
        "host_calls": len(host.calls),
        "batch_sizes": [c.batch_size for c in host.calls],
        "per_mask_detailer_calls": record.ran.get("regions"),
        "pass_ms_own_code": round(record.own_seconds * 1000, 1),
        "wall_ms": round((time.perf_counter() - started) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--device", default="cpu", help="device for the YOLO model (cpu, cuda)")
    args = parser.parse_args()
    image = photo(1024)
    out: dict = {"cpu_threads": _threads()}
    builtin = DetectorRegistry(hf_cache=False, downloads=())
    out["builtin_face"] = time_detector(builtin, BUILTIN_FACE, image, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        reg, import_ms = yolo_registry(Path(tmp), args.device)
        if reg is None:
            out["yolov8n"] = "ultralytics not installed (run in the yolo venv)"
        else:
            out["yolov8n"] = time_detector(reg, "yolov8n-random.pt", image, args.repeat)
            out["yolov8n"].update(device=reg.device, ultralytics_import_ms=round(import_ms, 1))
            if args.device != "cpu":
                out["device_parity"] = device_parity(args.device)
    out["detail_pass_4_regions"] = host_calls_per_pass(image)
    print(json.dumps(out, indent=1))
    return 0


def _threads() -> int:
    try:
        import torch

        return int(torch.get_num_threads())
    except ImportError:
        import os

        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
