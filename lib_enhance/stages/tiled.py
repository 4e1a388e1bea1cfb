"""The tiled pass: upscale to the target, re-diffuse in overlapping tiles, blend seamlessly.

Tiles share one size, so they go to the host in batches (`batch_size` tiles per call, shared
with the other images of a click whose tiles have that size) instead of one call per tile; that
size flexes a little so the fewest tiles cover the target (see `geometry.tiles`). Each tile
gets its own seed (base + index) so the noise does not repeat across the image, each is
colour-matched to the same region of the upscaled source so adjacent tiles cannot drift apart
in brightness, and the blend ramps across every overlap. The optional
seam fix redraws only the bands across the seams (the overlaps plus a feather).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from ..geometry import regions, tiles
from ..host import Img2ImgItem
from .context import Request, StageContext, StageGen


def run_tiled(ctx: StageContext, image: Image.Image, config: Mapping[str, Any]) -> StageGen:
    section = config["tiles"]
    source = np.asarray(ctx.upscale_input(image, section, config["preset"]))
    height, width = source.shape[:2]
    plan = tiles.plan_tiles(width, height, section["tile_size"], section["overlap"])
    outputs = yield from _diffuse_tiles(ctx, source, plan, section)
    if section["color_match"]:
        outputs = [
            tiles.match_colors(out, regions.crop(source, tile.box))
            for out, tile in zip(outputs, plan.tiles, strict=True)
        ]
    result = tiles.blend_tiles(plan, outputs)
    ran = ctx.record.ran
    ran.update(
        denoise=section["denoise"],
        tiles=len(plan.tiles),
        grid=[plan.cols, plan.rows],
        tile=[plan.tile_width, plan.tile_height],
        pixels=plan.pixels,
        seam_fix=section["seam_fix"],
    )
    if section["seam_fix"] == "half-tile" and len(plan.tiles) > 1:
        result, patches = yield from _fix_seams(ctx, result, plan, section)
        ran.update(seam_patches=len(patches), seam_fix_pixels=sum(p.pixels for p in patches))
    ctx.record.seams = [tile.box for tile in plan.tiles]
    return Image.fromarray(result)


def _diffuse_tiles(
    ctx: StageContext, source: np.ndarray, plan: tiles.TilePlan, section: Mapping[str, Any]
) -> StageGen:
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
    images = yield from ctx.img2img(settings, items, section["batch_size"])
    return [np.asarray(im.convert("RGB")) for im in images]


def _fix_seams(
    ctx: StageContext, image: np.ndarray, plan: tiles.TilePlan, section: Mapping[str, Any]
) -> StageGen:
    """Re-diffuse the bands across the seams, pasted back through feathered weights; returns
    (image, patches).

    Patches come in groups of one size (segments across column seams, across row seams,
    crossings); the groups are requested together, each sent in batches. All are cut from the
    blended image before any is pasted, and pasted in plan order, so later groups cover where
    earlier segments handed over.
    """
    patches = tiles.plan_seam_fix(plan)
    prompt, negative = ctx.prompt(section["prompt"]), ctx.negative(section["negative_prompt"])
    seed0 = tiles.tile_seed(ctx.job.seed, len(plan.tiles))
    requests: list[Request] = []
    for (width, height), group in itertools.groupby(patches, key=_patch_size):
        items = [
            Img2ImgItem(
                Image.fromarray(regions.crop(image, patch.box)),
                seed=tiles.tile_seed(seed0, patch.index),
                prompt=prompt,
                negative_prompt=negative,
            )
            for patch in group
        ]
        settings = ctx.settings(section, width, height, denoise=section["seam_denoise"])
        requests.append(Request(settings, items, section["batch_size"]))
    answers = yield from ctx.img2img_many(requests)
    fixed = [out for answer in answers for out in answer]
    result = image.copy()
    for patch, out in zip(patches, fixed, strict=True):
        processed = np.asarray(out.convert("RGB"))
        if section["color_match"]:
            processed = tiles.match_colors(processed, regions.crop(image, patch.box))
        tiles.paste_patch(result, patch, processed)
    return result, patches


def _patch_size(patch: tiles.SeamPatch) -> tuple[int, int]:
    x0, y0, x1, y1 = patch.box
    return x1 - x0, y1 - y0
