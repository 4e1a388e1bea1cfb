"""The tiled pass: upscale to the target, re-diffuse in overlapping tiles, blend seamlessly.

Tiles share one size, so they go to the host in batches (`batch_size` tiles per call) instead
of one call per tile. Each tile gets its own seed (base + index) so the noise does not repeat
across the image, each is colour-matched to the same region of the upscaled source so adjacent
tiles cannot drift apart in brightness, and the blend ramps across every overlap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from ..geometry import regions, tiles
from ..host import Img2ImgItem
from .context import StageContext


def run_tiled(ctx: StageContext, image: Image.Image, config: Mapping[str, Any]) -> Image.Image:
    section = config["tiles"]
    source = np.asarray(ctx.upscale_input(image, section, config["preset"]))
    height, width = source.shape[:2]
    plan = tiles.plan_tiles(width, height, section["tile_size"], section["overlap"])
    outputs = _diffuse_tiles(ctx, source, plan, section)
    if section["color_match"]:
        outputs = [
            tiles.match_colors(out, regions.crop(source, tile.box))
            for out, tile in zip(outputs, plan.tiles, strict=True)
        ]
    result = tiles.blend_tiles(plan, outputs)
    if section["seam_fix"] == "half-tile" and len(plan.tiles) > 1:
        result = _fix_seams(ctx, result, plan, section)
    ctx.record.seams = [tile.box for tile in plan.tiles]
    ctx.record.ran.update(
        denoise=section["denoise"],
        tiles=len(plan.tiles),
        grid=[plan.cols, plan.rows],
        tile=[plan.tile_width, plan.tile_height],
        seam_fix=section["seam_fix"],
    )
    return Image.fromarray(result)


def _diffuse_tiles(
    ctx: StageContext, source: np.ndarray, plan: tiles.TilePlan, section: Mapping[str, Any]
) -> list[np.ndarray]:
    prompt, negative = ctx.prompt(section["prompt"]), ctx.negative(section["negative_prompt"])
    items = [
        Img2ImgItem(
            Image.fromarray(regions.crop(source, tile.box)),
            seed=tiles.tile_seed(ctx.job.seed, tile.index),
            prompt=prompt,
            negative_prompt=negative,
        )
        for tile in plan.tiles
    ]
    settings = ctx.settings(section, plan.tile_width, plan.tile_height)
    images = ctx.img2img_batched(settings, items, section["batch_size"])
    return [np.asarray(im.convert("RGB")) for im in images]


def _fix_seams(
    ctx: StageContext, image: np.ndarray, plan: tiles.TilePlan, section: Mapping[str, Any]
) -> np.ndarray:
    """Re-diffuse bands centred on the internal seams, pasted back through feathered weights."""
    patches = tiles.plan_seam_fix(plan, section["overlap"])
    if not patches:
        return image
    prompt, negative = ctx.prompt(section["prompt"]), ctx.negative(section["negative_prompt"])
    seed0 = tiles.tile_seed(ctx.job.seed, len(plan.tiles))
    items = [
        Img2ImgItem(
            Image.fromarray(regions.crop(image, patch.box)),
            seed=tiles.tile_seed(seed0, i),
            prompt=prompt,
            negative_prompt=negative,
        )
        for i, patch in enumerate(patches)
    ]
    x0, y0, x1, y1 = patches[0].box
    settings = ctx.settings(section, x1 - x0, y1 - y0, denoise=section["seam_denoise"])
    fixed = ctx.img2img_batched(settings, items, section["batch_size"])
    result = image.copy()
    for patch, out in zip(patches, fixed, strict=True):
        processed = np.asarray(out.convert("RGB"))
        if section["color_match"]:
            processed = tiles.match_colors(processed, regions.crop(image, patch.box))
        tiles.paste_patch(result, patch, processed)
    return result
