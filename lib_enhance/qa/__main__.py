"""`python -m lib_enhance.qa BEFORE AFTER [--tiles JSON] [--sensitivity relaxed|normal|strict]`:
QA scores of any image pair as JSON.

Exit code 0 whatever the verdict (it is in the JSON), 2 when an image cannot be read or the tiles
are not valid JSON (the reason goes to stderr), so scripts can tell "flagged" from "broken".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from . import SENSITIVITY, assess


def _parse_tiles(text: str | None) -> list[tuple[int, int, int, int]] | None:
    """Boxes from a JSON list of [x0, y0, x1, y1] (inline or a file path); None if absent."""
    if text is None:
        return None
    inline = text.lstrip().startswith(("[", "{"))
    raw: Any = json.loads(text if inline else Path(text).read_text(encoding="utf-8"))
    if isinstance(raw, dict):
        raw = raw.get("tiles", raw.get("seams"))
    if not isinstance(raw, list) or not all(
        isinstance(b, (list, tuple)) and len(b) == 4 for b in raw
    ):
        raise ValueError("--tiles must be a JSON list of [x0, y0, x1, y1] boxes")
    return [tuple(int(v) for v in box) for box in raw]


def _load(path: str) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return img.convert("RGB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lib_enhance.qa",
        description="Seam, halo, drift and detail-gain scores of an enhanced image, as JSON.",
    )
    parser.add_argument("before", help="the image before enhancement")
    parser.add_argument("after", help="the enhanced image")
    parser.add_argument(
        "--tiles",
        help="JSON list of [x0,y0,x1,y1] tile/region boxes in AFTER pixels (or a file holding "
        "it); without it every row and column is checked, less sensitively",
    )
    parser.add_argument(
        "--sensitivity",
        choices=SENSITIVITY,
        default=None,
        help="how readily to flag: relaxed, normal (default) or strict; scales the thresholds",
    )
    for key in ("seam", "halo", "drift"):
        parser.add_argument(f"--{key}-threshold", type=float, default=None)
    args = parser.parse_args(argv)
    try:
        before, after = _load(args.before), _load(args.after)
        tiles = _parse_tiles(args.tiles)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        print(f"enhance qa: cannot use the input: {exc}", file=sys.stderr)
        return 2
    thresholds: dict[str, Any] = {
        f"{k}_threshold": getattr(args, f"{k}_threshold")
        for k in ("seam", "halo", "drift")
        if getattr(args, f"{k}_threshold") is not None
    }
    if args.sensitivity:
        thresholds["sensitivity"] = args.sensitivity
    from ..spec import config

    result = assess(before, after, tiles, {**config.QA.defaults(), **thresholds})
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
