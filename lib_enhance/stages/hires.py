"""The hires pass: upscale the whole image, then re-diffuse it once at low denoise.

Optionally on another checkpoint (the runner swaps it around this function). The whole image
goes to the host as one request: for targets too large for one sampler pass, the tiled pass is
the tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PIL import Image

from ..host import Img2ImgItem
from .context import StageContext


def run_hires(ctx: StageContext, image: Image.Image, config: Mapping[str, Any]) -> Image.Image:
    section = config["hires"]
    upscaled = ctx.upscale_input(image, section, config["preset"])
    settings = ctx.settings(section, *upscaled.size)
    item = Img2ImgItem(
        upscaled,
        seed=ctx.job.seed,
        prompt=ctx.prompt(section["prompt"]),
        negative_prompt=ctx.negative(section["negative_prompt"]),
    )
    (result,) = ctx.img2img(settings, [item])
    ctx.record.ran.update(denoise=settings.denoise, steps=settings.steps)
    return result
