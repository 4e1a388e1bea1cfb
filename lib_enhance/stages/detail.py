"""A detail pass: detect regions, inpaint each at its own resolution, paste back feathered.

Cost is the point. ADetailer makes one host call per mask at batch size 1; here every region
of a pass that shares settings goes to the host as ONE batched img2img call (4 faces → 1 call),
and the regions of all images of a click share it too (2 images × 2 faces → 1 call).

One sampler batch has one size, so all regions of a pass — of every image of the click — are
processed at one common size: the images agree on the pass's aspect (`context.Agree`, the median
over all their regions), each crop box is widened to that aspect (more context around the region,
which helps the inpaint anyway) and scaled so its longest side is the inpaint size — every
region still gets its own scale (a 60 px face and a 300 px face are both drawn at 512). The
alternative, grouping regions by their own rounded size, gives a different size for nearly
every region (408×512, 400×512, …) and so one call per region again.

Dynamic denoise gives smaller regions (scaled up more) a little more denoise. Its levels are
rounded to steps of 0.05 so regions still share calls: one call per distinct level.

Each region is sampled as the host's own "inpaint only masked" does it: the crop goes to the
sampler with its region's mask as a latent mask, which holds the context fixed at every step,
so only the region is redrawn and it is drawn to fit what surrounds it. Every item of the
batched call carries its own mask (the host adapter gives each batch item its own latent mask).
What the masked area starts from is the pass's "masked content" (original, fill, latent noise,
latent nothing), as in the host's inpaint tab.

Nothing is pasted until every call of the pass has returned, so an interrupted pass is
discarded whole. Pixels outside the feathered masks are never written (bit-identical).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..detect import DetectorError, UnknownDetectorError
from ..geometry import masks, regions
from ..geometry.detection import Detection
from ..geometry.masks import Region
from ..host import Img2ImgItem
from ..spec import prompts
from .context import Request, StageContext, StageGen

log = logging.getLogger("enhance")

DENOISE_STEP = 0.05
"""Dynamic denoise levels are rounded to this, so regions with close levels share one call."""
DYNAMIC_GAIN = 0.15
"""Relative denoise change per doubling of a region's scale (±2 doublings at most)."""


@dataclass
class RegionJob:
    """One region to inpaint: where it is cut from and what it is sent with."""

    index: int
    region: Region
    alpha: np.ndarray
    box: regions.Box
    prompt: str
    negative: str
    seed: int
    denoise: float


def run_detail(
    ctx: StageContext, image: Image.Image, pass_cfg: Mapping[str, Any], index: int
) -> StageGen:
    """Run detail pass number `index` (0-based) on `image`; return the new image.

    No regions (or every region [SKIP]ped) → the stage is "skipped" with the reason in the
    record, and the image is returned unchanged.
    """
    ctx.check_stop()
    rgb = image.convert("RGB")
    found = _detect(ctx, rgb, pass_cfg)
    shaped = masks.shape_regions(found, rgb.size, pass_cfg)
    ran = ctx.record.ran
    ran.update(model=pass_cfg["model"], detections=len(found), regions=len(shaped))
    ran["masked_content"] = pass_cfg["masked_content"]
    ran["boxes"] = [list(r.box) for r in shaped]
    ctx.record.regions = list(shaped)
    if not shaped:
        return _skip(ctx, image, _nothing_found(found, ran))
    jobs = _plan(ctx, rgb, shaped, pass_cfg)
    if not jobs:
        return _skip(ctx, image, "every region is [SKIP]")
    boxes = [j.box for j in jobs]
    aspect = yield from ctx.agree(f"detail {index} aspect", boxes, _pooled_aspect)
    for job in jobs:
        job.box = regions.crop_box(job.box, rgb.size, 0, aspect)
    size = size_for_aspect(aspect, pass_cfg["inpaint_size"])
    outputs = yield from _inpaint(ctx, rgb, jobs, size, pass_cfg)
    result = _paste(rgb, jobs, outputs)
    # Where each paste fades out: QA measures its seam score along these edges.
    ctx.record.seams = [regions.mask_bbox(job.alpha > 0) or job.box for job in jobs]
    return result


def _detect(ctx: StageContext, image: Image.Image, pass_cfg: Mapping[str, Any]) -> list[Detection]:
    if ctx.detectors is None:
        raise DetectorError("detail pass needs a detector registry; none was given")
    detector = _load(ctx.detectors, pass_cfg["model"])
    classes = [c.strip() for c in pass_cfg.get("classes", "").split(",") if c.strip()]
    # The score the detector really uses: YOLO never runs below its floor (0 = thousands).
    used = max(float(pass_cfg["confidence"]), float(getattr(detector, "min_confidence", 0.0)))
    ctx.record.ran["confidence"] = used
    started = time.perf_counter()
    found = detector.detect(image, pass_cfg["confidence"], classes)
    ctx.record.ran["detect_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return found


def _load(registry: Any, name: str) -> Any:
    """The loaded detector; a failure names the model file and the reason (UI, log, API)."""
    try:
        return registry.get(name)
    except UnknownDetectorError:
        raise
    except DetectorError as exc:
        path = getattr(_entry(registry, name), "path", None)
        if name in str(exc) and (path is None or str(path) in str(exc)):
            raise  # already names the model and its file
        where = f" ({path})" if path and str(path) not in str(exc) else ""
        raise DetectorError(f"detector {name!r}{where} could not be loaded: {exc}") from exc


def _entry(registry: Any, name: str) -> Any:
    try:
        return registry.entry(name)
    except Exception:  # a registry without entries (tests, other hosts): no file to name
        return None


def _nothing_found(found: Sequence[Detection], ran: Mapping[str, Any]) -> str:
    if not found:
        return f"no regions found: nothing detected at confidence ≥ {ran['confidence']:g}"
    return f"no regions found: {len(found)} detections, none left after the area/top-k/mask steps"


def _skip(ctx: StageContext, image: Image.Image, reason: str) -> Image.Image:
    ctx.record.status = "skipped"
    ctx.record.ran["skipped"] = reason
    log.info("Enhance: %s skipped: %s", ctx.record.name, reason)
    return image


def _plan(
    ctx: StageContext, image: Image.Image, shaped: Sequence[Region], cfg: Mapping[str, Any]
) -> list[RegionJob]:
    """A job per region not [SKIP]ped; seeds count skipped regions, so they never shift.
    Crop boxes are not yet widened to the pass's aspect (`run_detail` does, once agreed)."""
    count = len(shaped)
    positives = prompts.split_regions(cfg["prompt"], ctx.job.prompt, count)
    negatives = prompts.split_regions(cfg["negative_prompt"], ctx.job.negative_prompt, count)
    blur = cfg["mask_blur"]
    padding = max(cfg["padding"], blur)
    jobs: list[RegionJob] = []
    for i, region in enumerate(shaped):
        if positives[i] is None or negatives[i] is None:
            continue
        alpha = regions.feather(region.mask, blur)
        support = regions.mask_bbox(alpha > 0) or region.box
        box = regions.crop_box(support, image.size, padding)
        denoise = region_denoise(cfg, region.box)
        jobs.append(
            RegionJob(i, region, alpha, box, positives[i] or "", negatives[i] or "",
                      ctx.job.seed + i, denoise)
        )  # fmt: skip
    skipped = [i for i in range(count) if positives[i] is None or negatives[i] is None]
    if skipped:
        ctx.record.ran["skipped_regions"] = skipped
    return jobs


def _pooled_aspect(box_lists: list[list[regions.Box]]) -> float:
    """The aspect every image of the pass uses: the median over all their regions."""
    return common_aspect([box for boxes in box_lists for box in boxes])


def common_aspect(boxes: Sequence[regions.Box]) -> float:
    """Median width/height of the boxes, in log space (2:1 and 1:2 average to 1:1)."""
    logs = sorted(math.log(w / h) for w, h in (regions.box_size(b) for b in boxes))
    mid = len(logs) // 2
    median = logs[mid] if len(logs) % 2 else (logs[mid - 1] + logs[mid]) / 2
    return math.exp(median)


def size_for_aspect(aspect: float, inpaint_size: int) -> tuple[int, int]:
    """The processing size of an aspect: longest side the inpaint size, multiples of 8."""
    side = 1_000_000
    box = (0, 0, round(side * min(1.0, aspect)), round(side * min(1.0, 1 / aspect)))
    return regions.processing_size(box, inpaint_size)


def region_denoise(cfg: Mapping[str, Any], box: regions.Box) -> float:
    """The pass's denoise; with dynamic denoise, more for regions scaled up more."""
    base = float(cfg["denoise"])
    if not cfg.get("dynamic_denoise"):
        return base
    scale = cfg["inpaint_size"] / max(regions.box_size(box))
    doublings = max(-2.0, min(2.0, math.log2(scale)))
    value = base * (1 + DYNAMIC_GAIN * doublings)
    value = round(value / DENOISE_STEP) * DENOISE_STEP
    return round(min(1.0, max(DENOISE_STEP, value)), 4)


def _inpaint(
    ctx: StageContext,
    image: Image.Image,
    jobs: Sequence[RegionJob],
    size: tuple[int, int],
    cfg: Mapping[str, Any],
) -> StageGen:
    """One request per denoise level, all sent at once (shared with the other images'); the
    results by region index. Pastes nothing."""
    groups: dict[float, list[RegionJob]] = {}
    for job in jobs:
        groups.setdefault(job.denoise, []).append(job)
    levels = sorted(groups.items())
    fill = cfg["masked_content"]
    requests = [
        Request(
            ctx.settings(cfg, size[0], size[1], denoise=denoise, mask_blur=0, inpaint_fill=fill),
            [_item(image, job, size) for job in group],
        )
        for denoise, group in levels
    ]
    answers = yield from ctx.img2img_many(requests)
    outputs: dict[int, Image.Image] = {}
    for (_, group), results in zip(levels, answers, strict=True):
        for job, result in zip(group, results, strict=True):
            outputs[job.index] = result
    _record(ctx, jobs, size, requests[-1].settings)
    return outputs


def _item(image: Image.Image, job: RegionJob, size: tuple[int, int]) -> Img2ImgItem:
    """The crop at the processing size, with its region's feathered mask as the latent mask.

    The host rounds the mask at latent resolution (as its inpaint tab does), so the context
    held fixed is what lies outside the region; the feathered mask is also what is pasted
    back (ours, the same on every host), so pixels outside it stay untouched either way.
    """
    crop = image.crop(job.box).resize(size, Image.LANCZOS)
    x0, y0, x1, y1 = job.box
    alpha = job.alpha[y0:y1, x0:x1] if job.alpha.shape[:2] != (y1 - y0, x1 - x0) else job.alpha
    mask = Image.fromarray(np.rint(np.clip(alpha, 0, 1) * 255).astype(np.uint8), "L")
    return Img2ImgItem(crop, job.seed, job.prompt, job.negative, mask.resize(size, Image.BILINEAR))


def _record(ctx: StageContext, jobs: Sequence[RegionJob], size: tuple[int, int], settings: Any):
    ran = ctx.record.ran
    levels = sorted({j.denoise for j in jobs})
    ran["denoise"] = levels[0] if len(levels) == 1 else [j.denoise for j in jobs]
    ran.update(steps=settings.steps, size=list(size), seeds=[j.seed for j in jobs])
    if settings.checkpoint:
        ran["checkpoint"] = settings.checkpoint


def _paste(
    image: Image.Image, jobs: Sequence[RegionJob], outputs: Mapping[int, Image.Image]
) -> Image.Image:
    """Every region pasted back through its feathered mask, in order (later ones on top)."""
    canvas = np.array(image, dtype=np.uint8)
    for job in jobs:
        w, h = regions.box_size(job.box)
        patch = np.asarray(outputs[job.index].convert("RGB").resize((w, h), Image.LANCZOS))
        regions.paste_into(canvas, patch, job.box, job.alpha)
    return Image.fromarray(canvas)
