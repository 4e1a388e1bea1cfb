"""Detection preview: what a detail pass will inpaint, drawn over the image.

Shows the shaped regions (after the confidence/area/top-k/offset/dilate/merge steps), not the
raw detections, so a user sees exactly the masks the pass will use, numbered in the order of
the [SEP] prompts. The WebUI script can show it in the gallery and save it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..geometry import masks
from ..geometry.masks import Region

PALETTE = ((255, 64, 64), (64, 160, 255), (64, 220, 96), (255, 190, 40), (200, 90, 255))
MASK_OPACITY = 0.35


def draw(image: Image.Image, regions: Sequence[Region]) -> Image.Image:
    """A copy of `image` with each region's mask tinted, its box outlined and numbered."""
    canvas = np.asarray(image.convert("RGB"), dtype=np.float32).copy()
    for i, region in enumerate(regions):
        colour = np.array(PALETTE[i % len(PALETTE)], np.float32)
        canvas[region.mask] += (colour - canvas[region.mask]) * MASK_OPACITY
    out = Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(out)
    for i, region in enumerate(regions):
        colour = PALETTE[i % len(PALETTE)]
        x0, y0, x1, y1 = region.box
        pen.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=2)
        text = f"{i + 1} {region.label} {region.score:.2f}"
        pen.text((x0 + 3, max(0, y0 - 12)), text, fill=colour)
    return out


def detection_preview(
    detectors: Any, image: Image.Image, pass_cfg: Mapping[str, Any]
) -> tuple[Image.Image, list[Region]]:
    """Run a pass's detector and mask steps (no host call) and draw the result."""
    detector = detectors.get(pass_cfg["model"])
    classes = [c.strip() for c in pass_cfg.get("classes", "").split(",") if c.strip()]
    rgb = image.convert("RGB")
    found = detector.detect(rgb, pass_cfg["confidence"], classes)
    shaped = masks.shape_regions(found, rgb.size, pass_cfg)
    return draw(rgb, shaped), shaped
