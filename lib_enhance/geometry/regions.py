"""Region geometry for detail passes and seam fixes: crop boxes, feathered masks, exact paste-back.

A region is inpainted at its own resolution: we crop a box around its mask (with context
padding, at the aspect ratio it will be processed at), scale it so its longest side is the
inpaint size, and paste the result back through a feathered mask.

Two promises the peers break and we test:

* the feather never spreads farther than `blur` pixels from the mask, so nothing outside that
  margin can change (peers blur with an unbounded Gaussian and leak faint changes everywhere);
* `paste_back` leaves every pixel whose alpha is 0 bit-identical, so repeated passes never
  accumulate rounding drift in the untouched parts of the image.

Images are uint8 H×W×C numpy arrays; masks are 2-D. Boxes are ``(x0, y0, x1, y1)`` ints with
x1/y1 exclusive.
"""

from __future__ import annotations

import math

import numpy as np

Box = tuple[int, int, int, int]


def box_size(box: Box) -> tuple[int, int]:
    """(width, height) of a box."""
    return box[2] - box[0], box[3] - box[1]


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The part of `image` inside `box` (a view, not a copy)."""
    x0, y0, x1, y1 = box
    return image[y0:y1, x0:x1]


def binary(mask: np.ndarray) -> np.ndarray:
    """A mask as bool: bool as is; integer and float masks are "in" above half their range.

    Half range (>127 for uint8, >0.5 for floats) so an anti-aliased or resampled mask keeps
    its visible shape instead of growing by every faint edge pixel.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        return mask > 0.5
    if np.issubdtype(mask.dtype, np.integer):
        return mask > np.iinfo(mask.dtype).max // 2
    raise ValueError(f"mask dtype {mask.dtype} is not bool, integer or float")


def mask_bbox(mask: np.ndarray) -> Box | None:
    """The tight box around the mask's pixels (see `binary`), or None for an empty mask."""
    inside = binary(mask)
    rows = np.flatnonzero(inside.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(inside.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def crop_box(
    bbox: Box, image_size: tuple[int, int], padding: int = 0, aspect: float | None = None
) -> Box:
    """The box a region is cut out with: `bbox` plus `padding`, at `aspect`, inside the image.

    `aspect` is width / height of the processing size (None = keep the padded shape). The box
    only grows to reach the aspect; when it is larger than the image it shrinks, keeping the
    aspect, but never below `bbox` itself (then the aspect gives way). It is centred on `bbox`
    and shifted inside the image before anything is shrunk, so regions at an edge keep their
    context on the other side. The result always contains `bbox` (clipped to the image).

    Padding should be at least the mask blur of the pass, or the feathered edge is cut off
    at the box border.
    """
    width, height = image_size
    x0, y0, x1, y1 = _clip_box(bbox, width, height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {bbox} is empty inside a {width}x{height} image")
    need_w, need_h = x1 - x0, y1 - y0
    w, h = need_w + 2 * padding, need_h + 2 * padding
    if aspect is not None:
        if aspect <= 0 or not math.isfinite(aspect):
            raise ValueError(f"aspect must be a positive number, got {aspect!r}")
        w, h = max(w, h * aspect), max(h, w / aspect)
    shrink = min(1.0, width / w, height / h)
    w = min(width, max(need_w, round(w * shrink)))
    h = min(height, max(need_h, round(h * shrink)))
    bx = _place(x0, x1, w, width)
    by = _place(y0, y1, h, height)
    return bx, by, bx + w, by + h


def _clip_box(box: Box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = (int(v) for v in box)
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def _place(lo: int, hi: int, size: int, limit: int) -> int:
    """Start of a span of `size` centred on [lo, hi), shifted inside [0, limit)."""
    start = math.floor((lo + hi - size) / 2)
    return min(max(start, 0), limit - size)


def processing_size(box: Box, longest: int, multiple: int = 8) -> tuple[int, int]:
    """(width, height) a region is inpainted at: longest side `longest`, aspect kept.

    Both sides are rounded to `multiple` (the host's VAE works on 8-pixel cells), at least
    one multiple each. Small regions are scaled up, which is the point: a face that is 90 px
    in the image is re-drawn at 512 px and scaled back down.
    """
    w, h = box_size(box)
    if w <= 0 or h <= 0:
        raise ValueError(f"box {box} is empty")
    if longest < multiple:
        raise ValueError(f"longest side {longest} is smaller than the multiple {multiple}")
    scale = longest / max(w, h)
    return _round_to(w * scale, multiple), _round_to(h * scale, multiple)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def feather(mask: np.ndarray, blur: int) -> np.ndarray:
    """Float32 alpha in [0, 1] of the same shape: the mask, softened by `blur` pixels.

    Two box filters of radii adding up to `blur` (a quadratic B-spline, visually a Gaussian),
    computed in integers on the box around the mask. Its support is exact: a pixel more than
    `blur` pixels from every mask pixel in x or y (outside the mask grown by a
    (2·blur+1)² square) gets alpha exactly 0. The image border is extended, not treated as
    empty, so a mask that touches the border stays opaque there.
    """
    inside = binary(mask)
    alpha = np.zeros(inside.shape, np.float32)
    bbox = mask_bbox(inside)
    if bbox is None:
        return alpha
    if blur <= 0:
        alpha[inside] = 1.0
        return alpha
    height, width = inside.shape
    x0, y0, x1, y1 = bbox
    area = (max(0, x0 - blur), max(0, y0 - blur), min(width, x1 + blur), min(height, y1 + blur))
    counts = np.pad(crop(inside, area).astype(np.int64), blur, mode="edge")
    first = blur // 2
    second = blur - first
    for radius in (first, second):
        for axis in (0, 1):
            counts = _box_sum(counts, radius, axis)
    scale = np.float64((2 * first + 1) * (2 * second + 1)) ** 2
    crop(alpha, area)[...] = counts / scale
    return alpha


def _box_sum(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Sums over windows of 2·radius+1 along `axis` ("valid": the axis shrinks by 2·radius).

    Integer cumulative sums, so zeros stay exactly zero (float box filters leave 1e-17 dust).
    """
    if radius == 0:
        return values
    total = np.cumsum(values, axis=axis)
    zero_shape = list(values.shape)
    zero_shape[axis] = 1
    total = np.concatenate([np.zeros(zero_shape, values.dtype), total], axis=axis)
    size = 2 * radius + 1
    length = total.shape[axis]
    upper = np.take(total, np.arange(size, length), axis=axis)
    lower = np.take(total, np.arange(0, length - size), axis=axis)
    return upper - lower


def paste_into(base: np.ndarray, patch: np.ndarray, box: Box, alpha: np.ndarray) -> None:
    """Blend `patch` into `base` (both uint8) inside `box`, in place, through `alpha`.

    `patch` has the box's size (resize it first). `alpha` is float in [0, 1], either the
    box's size or the whole image's (then only the part inside the box counts). Pixels with
    alpha 0 are not written at all, so they stay bit-identical; alpha 1 gives the patch.
    """
    x0, y0, x1, y1 = box
    height, width = base.shape[:2]
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"box {box} is not inside the {width}x{height} image")
    size = (y1 - y0, x1 - x0)
    if patch.shape[:2] != size or patch.shape[2:] != base.shape[2:]:
        raise ValueError(f"patch shape {patch.shape} does not fit box {box} of {base.shape}")
    weight = _box_alpha(alpha, box, base.shape[:2])
    inner = _nonzero_box(weight)
    if inner is None:
        return
    weight, patch, target = crop(weight, inner), crop(patch, inner), crop(crop(base, box), inner)
    touched = weight > 0
    if base.ndim == 3:
        weight = weight[..., None]
        touched = np.broadcast_to(touched[..., None], target.shape)
    mixed = target.astype(np.float32)
    mixed += (patch.astype(np.float32) - mixed) * weight
    np.copyto(target, np.clip(np.rint(mixed), 0, 255).astype(base.dtype), where=touched)


def _nonzero_box(weight: np.ndarray) -> Box | None:
    """The box around weight > 0: a seam band or a feathered face is a small part of its box,
    and only that part needs the float work."""
    return mask_bbox(weight > 0)


def _box_alpha(alpha: np.ndarray, box: Box, image_shape: tuple[int, ...]) -> np.ndarray:
    alpha = np.asarray(alpha, dtype=np.float32)
    size = (box[3] - box[1], box[2] - box[0])
    if alpha.shape == tuple(image_shape):
        alpha = crop(alpha, box)
    elif alpha.shape != size:
        raise ValueError(f"alpha shape {alpha.shape} is neither the image's nor box {box}'s")
    return np.clip(alpha, 0.0, 1.0)


def paste_back(base: np.ndarray, patch: np.ndarray, box: Box, alpha: np.ndarray) -> np.ndarray:
    """A copy of `base` with `patch` blended in at `box` through `alpha` (see `paste_into`)."""
    out = base.copy()
    paste_into(out, patch, box, alpha)
    return out
