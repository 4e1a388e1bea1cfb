"""From detections to the masks a detail pass inpaints: filter, order, move, grow, merge.

`shape_regions` applies the steps in this order, each a small function tested to the pixel:

1. confidence threshold;
2. min/max area ratio (box area over image area);
3. top-k by area or by confidence;
4. sort: left→right, centre-out, largest first, or by confidence (this is the order of the
   [SEP] prompts and of the per-region seeds);
5. the mask of each detection: its segmentation mask when the model has one, else its box;
6. x/y offset that **clips** at the image edge (ADetailer's `np.roll` wraps the mask around
   to the other side);
7. dilate (+) / erode (−) by n pixels that grows **symmetrically** for every n: the kernel is
   always (2n+1)² (ADetailer uses an n×n kernel, which for even n grows one side more);
8. merge: one region each, all merged, or merged and inverted.

Segmentation masks come from the model at its letterboxed input size; `from_letterbox` maps
them back by cutting the padding off exactly as it was added, then scaling (ADetailer
stretches the padded mask over the image: 12 px off at the edges of a 768×512 image).

Masks are 2-D bool numpy arrays of the whole image, H×W.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..spec.config import MERGE_MODES, SORT_ORDERS, TOP_K_BY
from .detection import Detection
from .regions import Box, mask_bbox


@dataclass(frozen=True, eq=False)
class Region:
    """One area a detail pass inpaints (after every shaping step)."""

    mask: np.ndarray
    """Bool H×W mask of the whole image; never empty."""
    box: Box
    """Tight box around `mask`."""
    score: float
    label: str


# ---- 1–4: choosing and ordering detections


def by_confidence(dets: Sequence[Detection], threshold: float) -> list[Detection]:
    """Detections with score ≥ threshold."""
    return [d for d in dets if d.score >= threshold]


def box_area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def by_area(
    dets: Sequence[Detection], image_size: tuple[int, int], min_ratio: float, max_ratio: float
) -> list[Detection]:
    """Detections whose box covers between min_ratio and max_ratio of the image (inclusive).

    The box, not the mask, so the numbers mean the same for detect and segment models.
    """
    total = image_size[0] * image_size[1]
    return [d for d in dets if min_ratio <= box_area(d.box) / total <= max_ratio]


def top_k(dets: Sequence[Detection], k: int, by: str = "area") -> list[Detection]:
    """The k largest (by="area") or most confident (by="confidence") detections; 0 = all.

    Ties keep the detector's order (a stable sort), so results are reproducible.
    """
    if by not in TOP_K_BY:
        raise ValueError(f"top_k_by must be one of {TOP_K_BY}, got {by!r}")
    if k <= 0 or k >= len(dets):
        return list(dets)
    key = (lambda d: box_area(d.box)) if by == "area" else (lambda d: d.score)
    return sorted(dets, key=key, reverse=True)[:k]


def sort_detections(
    dets: Sequence[Detection], order: str, image_size: tuple[int, int]
) -> list[Detection]:
    """Detections in the pass's order (the order of [SEP] prompts and region seeds).

    left-right: by left edge, then top edge; centre-out: by distance of the box centre from
    the image centre; largest: by box area, largest first; confidence: highest first.
    """
    if order == "left-right":
        return sorted(dets, key=lambda d: (d.box[0], d.box[1]))
    if order == "centre-out":
        cx, cy = image_size[0] / 2, image_size[1] / 2

        def distance(d: Detection) -> float:
            bx, by = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
            return (bx - cx) ** 2 + (by - cy) ** 2

        return sorted(dets, key=distance)
    if order == "largest":
        return sorted(dets, key=lambda d: box_area(d.box), reverse=True)
    if order == "confidence":
        return sorted(dets, key=lambda d: d.score, reverse=True)
    raise ValueError(f"sort must be one of {SORT_ORDERS}, got {order!r}")


# ---- 5–7: the mask of one region


def detection_mask(det: Detection, image_size: tuple[int, int]) -> np.ndarray:
    """The segmentation mask when the detection has one, else its filled box."""
    width, height = image_size
    if det.mask is not None:
        if det.mask.shape != (height, width):
            raise ValueError(f"mask shape {det.mask.shape} is not the image's {(height, width)}")
        return det.mask.astype(bool)
    mask = np.zeros((height, width), bool)
    x0, y0, x1, y1 = det.box
    mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
    return mask


def offset(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The mask moved right by dx and down by dy; what moves past the edge is dropped."""
    height, width = mask.shape
    out = np.zeros_like(mask)
    if abs(dx) >= width or abs(dy) >= height:
        return out
    src_y, dst_y = _shift_slices(dy, height)
    src_x, dst_x = _shift_slices(dx, width)
    out[dst_y, dst_x] = mask[src_y, src_x]
    return out


def _shift_slices(shift: int, length: int) -> tuple[slice, slice]:
    if shift >= 0:
        return slice(0, length - shift), slice(shift, length)
    return slice(-shift, length), slice(0, length + shift)


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow (pixels > 0) or shrink (< 0) the mask by |pixels| on every side.

    A pixel is in the grown mask when any mask pixel lies within |pixels| in x and y (a
    (2n+1)² square: rectangles stay rectangles, and growth is the same on all four sides).
    Shrinking treats the world outside the image as inside the mask, so a region that runs
    off the image edge is not eaten away from the edge.
    """
    mask = mask.astype(bool)
    if pixels == 0:
        return mask.copy()
    radius = abs(pixels)
    if pixels > 0:
        return _window_count(mask, radius, pad_value=False) > 0
    full = (2 * radius + 1) ** 2
    return _window_count(mask, radius, pad_value=True) == full


def _window_count(mask: np.ndarray, radius: int, pad_value: bool) -> np.ndarray:
    """Number of set pixels in the (2r+1)² window around each pixel (integral sums, exact)."""
    padded = np.pad(mask, radius, constant_values=pad_value).astype(np.int32)
    for axis in (0, 1):
        total = np.cumsum(padded, axis=axis, dtype=np.int32)
        zero = np.zeros_like(np.take(total, [0], axis=axis))
        total = np.concatenate([zero, total], axis=axis)
        size = 2 * radius + 1
        length = total.shape[axis]
        upper = np.take(total, np.arange(size, length), axis=axis)
        lower = np.take(total, np.arange(0, length - size), axis=axis)
        padded = upper - lower
    return padded


# ---- 8: merging


def merge(masks: Sequence[np.ndarray], mode: str) -> list[np.ndarray]:
    """none: the masks as they are; merge: their union; merge-invert: all but their union.

    With no masks every mode gives none: inverting "nothing found" would re-diffuse the whole
    image, which is never what a detail pass that found nothing should do.
    """
    if mode not in MERGE_MODES:
        raise ValueError(f"merge must be one of {MERGE_MODES}, got {mode!r}")
    if mode == "none" or not masks:
        return list(masks)
    union = np.logical_or.reduce(list(masks))
    return [~union if mode == "merge-invert" else union]


# ---- segmentation masks from a letterboxed model input


def letterbox_content(image_hw: tuple[int, int], input_hw: tuple[int, int]) -> Box:
    """Where the image sits inside a letterboxed model input: (x0, y0, x1, y1) in the input.

    The input is the image scaled by min(input/image) on both axes and padded evenly on two
    sides; odd padding puts the extra pixel at the bottom/right (rounded as YOLO rounds it).
    """
    h, w = image_hw
    ih, iw = input_hw
    gain = min(ih / h, iw / w)
    cw, ch = max(round(w * gain), 1), max(round(h * gain), 1)
    left, top = round((iw - cw) / 2 - 0.1), round((ih - ch) / 2 - 0.1)
    return left, top, left + cw, top + ch


def from_letterbox(mask: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """A model-input-sized mask mapped onto the image: padding cut off, then scaled.

    `mask` is bool, 0/1 or a probability (in at > 0.5); the result is bool H×W.
    """
    x0, y0, x1, y1 = letterbox_content(image_hw, mask.shape[:2])
    content = np.asarray(mask[y0:y1, x0:x1], dtype=np.float32)
    h, w = image_hw
    if content.shape == (h, w):
        return content > 0.5
    scaled = Image.fromarray(content).resize((w, h), Image.BILINEAR)
    return np.asarray(scaled) > 0.5


# ---- the whole chain


def shape_regions(
    dets: Sequence[Detection], image_size: tuple[int, int], cfg: Mapping[str, Any]
) -> list[Region]:
    """Steps 1–8 with a detail-pass config (see config.DETAIL for the keys)."""
    chosen = by_confidence(dets, cfg["confidence"])
    chosen = by_area(chosen, image_size, cfg["min_area"], cfg["max_area"])
    chosen = top_k(chosen, cfg["top_k"], cfg["top_k_by"])
    chosen = sort_detections(chosen, cfg["sort"], image_size)
    shaped: list[tuple[np.ndarray, Detection]] = []
    for det in chosen:
        mask = detection_mask(det, image_size)
        mask = dilate(offset(mask, cfg["x_offset"], cfg["y_offset"]), cfg["dilate"])
        if mask.any():
            shaped.append((mask, det))
    merged = merge([m for m, _ in shaped], cfg["merge"])
    if cfg["merge"] == "none":
        return [_region(m, [d]) for m, (_, d) in zip(merged, shaped, strict=True)]
    return [_region(m, [d for _, d in shaped]) for m in merged if m.any()]


def _region(mask: np.ndarray, dets: Sequence[Detection]) -> Region:
    box = mask_bbox(mask)
    if box is None:
        raise ValueError("empty region mask")
    labels = sorted({d.label for d in dets})
    return Region(mask, box, max(d.score for d in dets), "+".join(labels))
