"""`python -m lib_enhance.detect IMAGE [--model NAME] [--confidence X]`: print what a model finds.

So a user can check a model (and a confidence) on one image before running a pass. Output is a
JSON list, one object per region: box [x0, y0, x1, y1] (x1/y1 exclusive), score, label.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from ..spec.config import BUILTIN_FACE
from ._types import DetectorError
from .registry import DetectorRegistry, default_folders


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib_enhance.detect", description=__doc__)
    parser.add_argument("image", type=Path, help="image file to run the detector on")
    parser.add_argument("--model", default=BUILTIN_FACE, help="model name (see --list)")
    parser.add_argument("--confidence", type=float, default=0.3, help="least score (0–1)")
    parser.add_argument("--classes", default="", help="comma-separated class names to keep")
    parser.add_argument(
        "--models-root",
        type=Path,
        default=Path("models"),
        help="the WebUI's models folder (holds enhance/ and adetailer/)",
    )
    parser.add_argument(
        "--enhance-models-dir",
        type=Path,
        default=None,
        help="our models folder (default: <models-root>/enhance)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--list", action="store_true", help="list the model names and exit")
    return parser  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    folders = default_folders(args.models_root, args.enhance_models_dir)
    registry = DetectorRegistry(folders, device=args.device)
    if args.list:
        print(json.dumps(registry.names(), indent=1))
        return 0
    try:
        detector = registry.get(args.model)
        classes = [c for c in args.classes.split(",") if c.strip()]
        with Image.open(args.image) as image:
            found = detector.detect(image, args.confidence, classes)
    except (DetectorError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(_json_lines([d.as_json() for d in found]))
    return 0


def _json_lines(items: list[dict[str, object]]) -> str:
    """A JSON list with one region per line: readable, and still one JSON document."""
    if not items:
        return "[]"
    return "[\n  " + ",\n  ".join(json.dumps(item) for item in items) + "\n]"


if __name__ == "__main__":
    raise SystemExit(main())
