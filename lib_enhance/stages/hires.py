"""The hires pass: upscale the whole image, then re-diffuse it once at low denoise.

Optionally on another checkpoint (the runner swaps it around this function). The whole image
is one request; the images of a click share sampler calls (`lockstep`). A target that does not
fit in one sampler pass — over the VRAM budget up front, or out of memory at batch 1 — runs as
the tiled pass at the same target instead, with the hires settings, and says so: the image
still reaches its size, nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PIL import Image

from ..host import HostOutOfMemory, Img2ImgItem
from ..spec.config import TILES
from .context import CallLimits, StageContext, StageGen, target_size
from .tiled import run_tiled

TILED_FIELDS = ("upscaler", "denoise", "steps", "sampler", "scheduler", "cfg", "prompt",
                "negative_prompt", "checkpoint", "vae")  # fmt: skip
"""Hires settings the tiled fallback keeps (the rest are the tiled pass's own settings)."""


def run_hires(ctx: StageContext, image: Image.Image, config: Mapping[str, Any]) -> StageGen:
    section = config["hires"]
    width, height = target_size(image.size, section)
    if not ctx.limits.fits(width, height):
        why = f"{width}×{height} is over the VRAM budget for one sampler pass"
        return (yield from _tiled(ctx, image, config, (width, height), why, ctx.limits))
    upscaled = ctx.upscale_input(image, section, config["preset"])
    settings = ctx.settings(section, *upscaled.size)
    item = Img2ImgItem(
        upscaled,
        seed=ctx.job.seed,
        prompt=ctx.prompt(section["prompt"]),
        negative_prompt=ctx.negative(section["negative_prompt"]),
    )
    try:
        (result,) = yield from ctx.img2img(settings, [item])
    except HostOutOfMemory:
        why = f"{width}×{height} ran out of memory in one sampler pass"
        known = ctx.limits.max_pixels or width * height
        limits = CallLimits(min(known, width * height // 2))  # tiles of at most half of it
        return (yield from _tiled(ctx, upscaled, config, (width, height), why, limits))
    ctx.record.ran.update(denoise=settings.denoise, steps=settings.steps)
    return result


def _tiled(
    ctx: StageContext,
    image: Image.Image,
    config: Mapping[str, Any],
    target: tuple[int, int],
    why: str,
    limits: CallLimits,
) -> StageGen:
    """The hires target as a tiled pass (from `image`, upscaled or not) in tiles that fit
    `limits`, told to the user."""
    section = config["hires"]
    width, height = target
    tiles = dict(config["tiles"]) if config["tiles"]["enabled"] else TILES.defaults()
    tiles.update({k: section[k] for k in TILED_FIELDS}, enabled=True, width=width, height=height)
    tiles["tile_size"] = limits.tile_side(tiles["tile_size"], tiles["overlap"])
    tiles["seam_fix"] = "off"
    ctx.record.ran.clear()
    result = yield from run_tiled(ctx, image, {**config, "tiles": tiles})
    ctx.record.ran["via"] = "tiles"
    ctx.warn(f"hires: {why}; ran it as a tiled pass of {ctx.record.ran['tiles']} tiles")
    return result
