"""What a Generate click costs on the stand-in WebUIs: checkpoint loads, sampler calls, images
per call — batch size 2 × batch count 4, a hires pass on checkpoint B, two detail passes on C.

Runs the click through the stand-in hosts of tests/webui/hosts (A1111 1.10.1 and Forge main:
the host's own callback order, saving and model handling; "diffusion" is a deterministic
transform, so only the counts are measured). The Enhance code measured can be another checkout
(`--repo`, e.g. an export of the commit before), with this checkout's stand-ins as the fixed
instrument:

    .venv/core/bin/python bench/webui_job_cost.py                     # this checkout
    .venv/core/bin/python bench/webui_job_cost.py --repo /tmp/before  # another one

Prints one JSON object per host: loads (checkpoint loads the click caused; Forge's first load
of the user's model at the first generation is not counted), calls per stage and the images in
each call, files saved, and whether the user's checkpoint was active afterwards.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
BATCH_SIZE, BATCH_COUNT = 2, 4
B, C = "other.safetensors", "third.safetensors"
CONFIG = {
    "hires": {"enabled": True, "upscaler": "R-ESRGAN 4x+", "scale": 2.0, "denoise": 0.35,
              "checkpoint": B},
    "detail": [{"model": "face (built-in)", "checkpoint": C, "inpaint_size": 256},
               {"model": "face (built-in)", "checkpoint": C, "inpaint_size": 256,
                "denoise": 0.3}],
}  # fmt: skip


def _conftest(repo: Path):
    """tests/webui/conftest.py of this checkout, loading Enhance from `repo`."""
    sys.path.insert(0, str(repo))
    path = HERE / "tests" / "webui" / "conftest.py"
    spec = importlib.util.spec_from_file_location("webui_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.REPO = repo
    return module


class Centre:
    """One face-sized box in the upper middle of every image (the count, not the detector, is
    measured)."""

    name = "face (built-in)"

    def detect(self, image, confidence=0.0, classes=()):
        from lib_enhance.geometry.detection import Detection

        w, h = image.size
        return [Detection((w // 3, h // 5, 2 * w // 3, h // 2), 0.9, "face")]


def click(conftest, flavour: str, root: Path) -> dict:
    webui = conftest._start(flavour, root, gradio_ui=False)
    try:
        from modules import _checkpoints, sd_models

        from lib_enhance.testing import StaticRegistry

        _checkpoints.CheckpointInfo(f"/models/Stable-diffusion/{C}").register(
            sd_models.checkpoints_list, sd_models.checkpoint_aliases
        )
        script = webui.enhance_script()
        script.controller.detectors = lambda: StaticRegistry({Centre.name: Centre()})
        webui.txt2img([False, {}])  # Forge loads the user's model at the first generation
        for log in (sd_models.LOADS, webui.processing.CALLS, webui.images.SAVED):
            log.clear()
        _p, processed = webui.txt2img([True, CONFIG], batch_size=BATCH_SIZE, n_iter=BATCH_COUNT,
                                      width=128, height=96)  # fmt: skip
        b, c = webui.title(B), webui.title(C)
        inner = [call for call in webui.processing.CALLS if call["inner"]]
        calls = {"hires": [], "detail": [], "host": []}
        for call in webui.processing.CALLS:
            kind = "host" if not call["inner"] else "hires" if call["checkpoint"] == b else "detail"
            calls[kind].append(call["batch"])
        assert webui.errors.REPORTS == [], webui.errors.REPORTS
        assert calls["hires"] and calls["detail"], "Enhance did not run"
        return {
            "host": flavour,
            "click": f"batch size {BATCH_SIZE} x batch count {BATCH_COUNT}, hires on B, "
            "2 detail passes on C",
            "checkpoint_loads": len(sd_models.LOADS),
            "loads": [t.split(" [")[0] for t in sd_models.LOADS],
            "sampler_calls": {k: len(v) for k, v in calls.items()},
            "images_per_call": calls,
            "files_saved": len([s for s in webui.images.SAVED if not s["grid"]]),
            "images_in_gallery": len(processed.images) - processed.index_of_first_image,
            "users_checkpoint_active": webui.loaded_title() == webui.title("base.safetensors"),
            "detail_on_c": all(
                call["checkpoint"] == c for call in inner if call["checkpoint"] != b
            ),
        }
    finally:
        conftest._stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=HERE, help="Enhance checkout to measure")
    parser.add_argument("--hosts", nargs="*", default=["a1111", "forge"])
    args = parser.parse_args()
    conftest = _conftest(args.repo.resolve())
    for flavour in args.hosts:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(click(conftest, flavour, Path(tmp))))


if __name__ == "__main__":
    main()
