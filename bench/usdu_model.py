"""A clean-room model of Ultimate SD Upscale's tiling, for comparing costs and seams on a test host.

Written from USDU's documented behaviour (see shared/ANCHORS.md and its README), not from its
code: the upscaled canvas is cut into a grid of `tile`-sized cells (ceil(W/T) × ceil(H/T), the
last ones may hang off the image); each cell is one img2img inpaint call through the host's
"only masked" crop — the cell's mask, blurred by `mask_blur`, its box grown by `padding`, made
square and diffused at ceil((T + padding) / 64)·64 pixels, then pasted back through the blurred
mask. Cells run one after another, each on the image the previous ones left, all with the same
seed. The "half-tile" seam fix redraws one T×T inpaint per seam segment (a mask that ramps
linearly from 0 at the segment's half-tile offset to 1 on the seam and back), with its own
padding and blur; "+ intersections" adds one T×T call per crossing of seams (a radial mask, no
padding, no blur). USDU's defaults: tile 512, padding 32, mask blur 8; seam fix denoise 0.35,
padding 16, mask blur 4.

Every call goes to the host as a batch of one, like USDU does, so the host's record gives its
calls and pixels exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from lib_enhance.geometry import regions
from lib_enhance.host import Img2ImgItem, PassSettings

SEAM_FIXES = ("none", "half-tile", "half-tile+intersections")


@dataclass(frozen=True)
class UsduSettings:
    tile: int = 512
    padding: int = 32
    mask_blur: int = 8
    denoise: float = 0.3
    seam_fix: str = "none"
    seam_denoise: float = 0.35
    seam_padding: int = 16
    seam_mask_blur: int = 4
    seed: int = 0
    prompt: str = ""


@dataclass
class UsduResult:
    image: Image.Image
    rows: int
    cols: int
    tile_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    calls: int = 0
    pixels: int = 0
    seam_calls: int = 0
    seam_pixels: int = 0


def run_usdu(
    host, image: Image.Image, width: int, height: int, settings: UsduSettings
) -> UsduResult:
    """Upscale `image` to width×height with Lanczos, redraw it USDU's way on `host`."""
    if settings.seam_fix not in SEAM_FIXES:
        raise ValueError(f"seam_fix must be one of {SEAM_FIXES}, got {settings.seam_fix!r}")
    canvas = np.array(host.upscale(image, "Lanczos", width, height).convert("RGB"))
    t = settings.tile
    rows, cols = math.ceil(height / t), math.ceil(width / t)
    result = UsduResult(image, rows, cols)
    side = math.ceil((t + settings.padding) / 64) * 64
    for yi in range(rows):
        for xi in range(cols):
            box = (xi * t, yi * t, min(width, xi * t + t), min(height, yi * t + t))
            result.tile_boxes.append(box)
            mask = np.zeros((height, width), np.float32)
            regions.crop(mask, box)[...] = 1.0
            blur, denoise = settings.mask_blur, settings.denoise
            _inpaint(host, canvas, mask, side, settings.padding, blur, denoise, settings, "usdu")
            result.calls += 1
            result.pixels += side * side
    if settings.seam_fix != "none":
        for mask, padding, blur in _seam_masks(width, height, rows, cols, settings):
            denoise = settings.seam_denoise
            _inpaint(host, canvas, mask, t, padding, blur, denoise, settings, "usdu seam fix")
            result.seam_calls += 1
            result.seam_pixels += t * t
    result.image = Image.fromarray(canvas)
    return result


def _seam_masks(width: int, height: int, rows: int, cols: int, s: UsduSettings):
    """(mask, padding, blur) of every seam-fix call, in USDU's order."""
    t = s.tile
    ramp = 1.0 - np.abs(np.arange(t, dtype=np.float32) + 0.5 - t / 2) / (t / 2)
    across_y, across_x = np.tile(ramp[:, None], (1, t)), np.tile(ramp[None, :], (t, 1))
    for yi in range(rows - 1):  # seams between rows: a ramp across y, peaking on the seam
        for xi in range(cols):
            mask = _placed(width, height, xi * t, yi * t + t // 2, across_y)
            yield mask, s.seam_padding, s.seam_mask_blur
    for yi in range(rows):  # seams between columns
        for xi in range(cols - 1):
            mask = _placed(width, height, xi * t + t // 2, yi * t, across_x)
            yield mask, s.seam_padding, s.seam_mask_blur
    if s.seam_fix == "half-tile+intersections":
        yy, xx = np.mgrid[:t, :t].astype(np.float32) + 0.5
        radial = np.clip(1.0 - np.hypot(xx - t / 2, yy - t / 2) / (t / 2), 0.0, 1.0)
        for yi in range(rows - 1):
            for xi in range(cols - 1):
                yield _placed(width, height, xi * t + t // 2, yi * t + t // 2, radial), 0, 0


def _placed(width: int, height: int, x: int, y: int, patch: np.ndarray) -> np.ndarray:
    """A full-canvas mask with `patch` at (x, y), clipped to the canvas."""
    mask = np.zeros((height, width), np.float32)
    h, w = patch.shape
    x1, y1 = min(width, x + w), min(height, y + h)
    mask[y:y1, x:x1] = patch[: y1 - y, : x1 - x]
    return mask


def _inpaint(
    host,
    canvas: np.ndarray,
    mask: np.ndarray,
    side: int,
    padding: int,
    blur: int,
    denoise: float,
    s: UsduSettings,
    label: str,
) -> None:
    """One "only masked" inpaint call, pasted into `canvas` in place (the host's behaviour:
    blur the mask, crop its box + padding at the processing aspect, diffuse at side×side,
    scale back, overlay through the blurred mask)."""
    if blur > 0:
        kernel = 2 * int(2.5 * blur + 0.5) + 1
        mask = cv2.GaussianBlur(mask, (kernel, kernel), blur)
    bbox = regions.mask_bbox(mask > 1e-3)
    if bbox is None:
        return
    height, width = mask.shape
    box = regions.crop_box(bbox, (width, height), padding, aspect=1.0)
    crop = Image.fromarray(regions.crop(canvas, box)).resize((side, side), Image.LANCZOS)
    alpha = regions.crop(mask, box)
    mask_image = Image.fromarray(np.rint(alpha * 255).astype(np.uint8)).resize((side, side))
    settings = PassSettings(side, side, denoise, label=label)
    (out,) = host.img2img(settings, [Img2ImgItem(crop, s.seed, s.prompt, mask=mask_image)])
    x0, y0, x1, y1 = box
    back = np.asarray(out.convert("RGB").resize((x1 - x0, y1 - y0), Image.LANCZOS))
    regions.paste_into(canvas, back, box, alpha)
