"""The QA calibration set: realistic good enhancements and faults at the edge of visibility.

Every pair starts from a real photograph that a package ships (scikit-image's `skimage.data`
photos that load offline; ultralytics' bus.jpg and zidane.jpg where that package is installed).
The photo fitted to `OUT_SIDE` is the "truth" at output size and the input is the truth
downscaled 2× — the situation of a hires or tiled pass. Some pairs are same-size (the input is the
truth itself), as after a detail pass or a re-encode.

Two sides:

- **good** changes that must pass (`GOOD`): upscales by several methods, with the unsharp mask
  ESRGAN-family upscalers effectively apply; the true detail put back (a perfect re-diffusion);
  re-diffusion-like fine texture; JPEG re-encoding; light denoise; global colour/contrast grades;
- **faults** that must be flagged (`FAULTS`), planted on a good output at several strengths:
  halos (wide unsharp masks, over-sharpened regions, glow), tile and region seams (grey and
  colour steps), composition shifts (a smooth local warp), replaced regions (content from
  elsewhere, colour-matched, feathered), local colour casts (a feathered region tinted).

Each fault strength is marked visible or not (`VISIBLE_FROM`, chosen by looking at the pairs at
100 % zoom); the goal counts only the visible ones, the others are reported to show the margin.
`evaluate` runs `verdict` over scored pairs; bench/qa_calibration.py prints the curves.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ._common import Box, resize

CALIBRATION_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "clock", "brick")
"""Photos the thresholds were chosen on."""
HOLDOUT_SOURCES = (
    "motorcycle",
    "coins",
    "moon",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "grass",
    "ultralytics:bus.jpg",
    "ultralytics:zidane.jpg",
)
"""Photos never looked at while choosing thresholds: the honest numbers. The ultralytics ones are
used only where that package is installed (the yolo venv); `available` drops them elsewhere."""

OUT_SIDE = 512
TILE, OVERLAP = 192, 48

GOOD = ("upscale", "detail", "texture", "jpeg", "denoise", "grade")
"""Kinds of good change (each with several methods, see `good_changes`)."""
FAULTS = ("halo", "seam", "shift", "replace", "cast")
"""Kinds of fault; the measure that should catch each is in `MEASURE`."""
MEASURE = {"halo": "halo", "seam": "seam", "shift": "drift", "replace": "drift", "cast": "drift"}

STRENGTHS: dict[str, tuple[float, ...]] = {
    "halo": (0.5, 0.8, 1.2),
    "seam": (2.0, 3.0, 4.0, 6.0),
    "shift": (0.005, 0.01, 0.02, 0.03),
    "replace": (0.06, 0.1, 0.15),
    "cast": (3.0, 5.0, 8.0),
}
"""Strengths planted per kind: halo = unsharp amount (× the variant's base), seam = grey levels,
shift = warp displacement as a fraction of the image side, replace = region side as a fraction
of the image side, cast = ΔE (CIELAB) inside the region."""
VISIBLE_FROM = {"halo": 0.8, "seam": 3.0, "shift": 0.01, "replace": 0.1, "cast": 5.0}
"""The least strength of each kind a person sees at 100 % zoom comparing before and after."""


@dataclass
class Sample:
    """One before/after pair and what it is."""

    source: str
    side: str
    """"good" or "fault"."""
    kind: str
    method: str
    strength: float
    before: np.ndarray
    after: np.ndarray
    seams: list[Box] = field(default_factory=list)
    visible: bool = True
    """Faults: at or above VISIBLE_FROM. Good changes: always True (they must pass)."""


# --------------------------------------------------------------------------------------------
# Photos


def available(sources: Sequence[str]) -> list[str]:
    """The sources that can be loaded here (ultralytics photos only where it is installed)."""
    return [s for s in sources if not s.startswith("ultralytics:") or _ultralytics_assets()]


def _ultralytics_assets() -> Path | None:
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        return None
    assets = Path(next(iter(spec.submodule_search_locations))) / "assets"
    return assets if assets.is_dir() else None


def load_source(name: str) -> np.ndarray:
    """A packaged photo as uint8 RGB (grey ones repeated to three channels)."""
    if name.startswith("ultralytics:"):
        assets = _ultralytics_assets()
        if assets is None:
            raise FileNotFoundError(f"{name}: ultralytics is not installed")
        bgr = cv2.imread(str(assets / name.split(":", 1)[1]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"{name}: not in {assets}")
        return np.ascontiguousarray(bgr[:, :, ::-1])
    from skimage import data

    img = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


def truths(img: np.ndarray) -> list[np.ndarray]:
    """The image fitted to OUT_SIDE, plus two OUT_SIDE² crops of it when it is large enough."""
    h, w = img.shape[:2]
    f = OUT_SIDE / max(h, w)
    fitted = resize(img, max(64, round(w * f / 16) * 16), max(64, round(h * f / 16) * 16))
    out = [fitted]
    if min(h, w) >= OUT_SIDE + 128:
        out.append(np.ascontiguousarray(img[:OUT_SIDE, :OUT_SIDE]))
        out.append(np.ascontiguousarray(img[h - OUT_SIDE :, w - OUT_SIDE :]))
    return out


def tile_grid(width: int, height: int, tile: int = TILE, overlap: int = OVERLAP) -> list[Box]:
    """Tile boxes the way a tiled pass lays them out (last row/column flush with the edge)."""

    def starts(size: int) -> list[int]:
        if size <= tile:
            return [0]
        n = math.ceil((size - overlap) / (tile - overlap))
        return [round(i * (size - tile) / (n - 1)) for i in range(n)]

    return [
        (x, y, min(width, x + tile), min(height, y + tile))
        for y in starts(height)
        for x in starts(width)
    ]


# --------------------------------------------------------------------------------------------
# Image operations (float32 RGB 0..255 in, same out unless said)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def usm(img: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    """Unsharp mask: img + amount × (img − blur(img, sigma))."""
    img = img.astype(np.float32)
    return img + amount * (img - cv2.GaussianBlur(img, (0, 0), sigma))


def upscale(before: np.ndarray, width: int, height: int, method: str = "lanczos") -> np.ndarray:
    interp = {"lanczos": cv2.INTER_LANCZOS4, "bicubic": cv2.INTER_CUBIC}[method]
    return cv2.resize(before.astype(np.float32), (width, height), interpolation=interp)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", _u8(img)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32)


def fine_texture(img: np.ndarray, level: float, rng) -> np.ndarray:
    """Re-diffusion-like grain: fine noise, stronger where the image already has texture
    (diffusion redraws hair and foliage, barely touches flat sky)."""
    h, w = img.shape[:2]
    lum = cv2.cvtColor(_u8(img), cv2.COLOR_RGB2GRAY).astype(np.float32)
    activity = cv2.GaussianBlur(np.abs(lum - cv2.GaussianBlur(lum, (0, 0), 1.5)), (0, 0), 4)
    weight = 0.35 + np.clip(activity / 6.0, 0.0, 1.0)
    noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, (h, w)).astype(np.float32), (0, 0), 0.6)
    noise *= level / max(float(noise.std()), 1e-6) * weight
    chroma = rng.normal(0.0, 0.25, 3).astype(np.float32)
    return img + noise[:, :, None] * (1.0 + chroma)


def to_lab(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(img, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def from_lab(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) * 255.0


GRADES = (
    "contrast+",
    "contrast-",
    "brighter",
    "darker",
    "gamma",
    "saturate",
    "desaturate",
    "warm",
    "cool",
    "film",
)


def grade(img: np.ndarray, name: str) -> np.ndarray:
    """A global colour/contrast grade a person would accept (or choose) for the whole image."""
    x = img.astype(np.float32)
    if name in ("contrast+", "contrast-"):
        k = 1.1 if name == "contrast+" else 0.9
        return (x - 128.0) * k + 128.0
    if name in ("brighter", "darker"):
        return x + (8.0 if name == "brighter" else -8.0)
    if name == "gamma":
        return 255.0 * (np.clip(x, 0, 255) / 255.0) ** 0.88
    lab = to_lab(x)
    if name in ("saturate", "desaturate"):
        lab[:, :, 1:] *= 1.2 if name == "saturate" else 0.8
    elif name in ("warm", "cool"):
        sign = 1.0 if name == "warm" else -1.0
        lab[:, :, 1] += sign * 1.5
        lab[:, :, 2] += sign * 5.0
    elif name == "film":
        t = lab[:, :, 0] / 100.0
        lab[:, :, 0] = 100.0 * (t + 0.12 * t * (1 - t) * (2 * t - 1) * 2)
        lab[:, :, 2] += 3.0
    return from_lab(lab)


# --------------------------------------------------------------------------------------------
# Good changes


def esrgan_like(before: np.ndarray, width: int, height: int, amount: float = 1.0) -> np.ndarray:
    """What an ESRGAN-family upscaler's output looks like at the edges: crisp, a thin overshoot.
    Lanczos, then an unsharp mask of radius 1 output pixel."""
    return usm(upscale(before, width, height), 1.0, amount)


def good_changes(truth: np.ndarray, before: np.ndarray, rng) -> Iterator[tuple[str, str, Any]]:
    """(kind, method, after) for every good change of one truth; `before` is truth / 2.

    Same-size changes are marked by an `after` whose size is the truth's and a method ending in
    "@1x": their input is the truth itself.
    """
    h, w = truth.shape[:2]
    t = truth.astype(np.float32)
    lanczos = upscale(before, w, h)
    yield "upscale", "lanczos", lanczos
    yield "upscale", "bicubic", upscale(before, w, h, "bicubic")
    yield "upscale", "esrgan-soft", esrgan_like(before, w, h, 0.6)
    yield "upscale", "esrgan", esrgan_like(before, w, h, 1.0)
    yield "upscale", "esrgan-strong", esrgan_like(before, w, h, 1.4)
    yield "upscale", "lanczos+usm1.5", usm(lanczos, 1.5, 0.5)
    yield "detail", "half", lanczos + 0.5 * (t - lanczos)
    yield "detail", "full", t
    yield "detail", "full+sharp", usm(t, 1.0, 0.6)
    yield "texture", "grain2", fine_texture(t, 2.0, rng)
    yield "texture", "grain4+sharp", fine_texture(usm(t, 1.0, 0.5), 4.0, rng)
    yield "texture", "half+grain3", fine_texture(lanczos + 0.5 * (t - lanczos), 3.0, rng)
    yield "jpeg", "q90", jpeg(esrgan_like(before, w, h, 0.8), 90)
    yield "jpeg", "q75", jpeg(t, 75)
    yield "jpeg", "q80@1x", jpeg(t, 80)
    yield "denoise", "gauss0.7", cv2.GaussianBlur(t, (0, 0), 0.7)
    yield "denoise", "bilateral", cv2.bilateralFilter(t, 5, 12.0, 3.0)
    yield "denoise", "bilateral@1x", cv2.bilateralFilter(t, 5, 10.0, 3.0)
    bases = (t, esrgan_like(before, w, h, 0.8), fine_texture(t, 2.0, rng))
    for i, name in enumerate(GRADES):
        yield "grade", name, grade(bases[i % len(bases)], name)
    yield "grade", "warm@1x", grade(t, "warm")
    yield "grade", "contrast+@1x", grade(t, "contrast+")


# --------------------------------------------------------------------------------------------
# Faults


def _feathered_box(h: int, w: int, box: Box, feather: float) -> np.ndarray:
    mask = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 1.0
    if feather > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
    return mask


def _region(img: np.ndarray, rng, frac: float, tries: int = 6) -> Box:
    """An object-sized box: of a few random boxes, the one with the most content (luma std).

    Moving or replacing a featureless patch of sky changes nothing a person could see, so the
    planted faults go where there is something to see.
    """
    h, w = img.shape[:2]
    rw, rh = max(8, int(w * frac)), max(8, int(h * frac))
    best, best_std = (0, 0, rw, rh), -1.0
    for _ in range(tries):
        x0 = int(rng.integers(w // 10, max(w // 10 + 1, w - rw - w // 10)))
        y0 = int(rng.integers(h // 10, max(h // 10 + 1, h - rh - h // 10)))
        std = float(img[y0 : y0 + rh, x0 : x0 + rw].std())
        if std > best_std:
            best, best_std = (x0, y0, x0 + rw, y0 + rh), std
    return best


def _edge_region(img: np.ndarray, rng, frac: float) -> Box:
    """A box where the image has strong edges (halos show there)."""
    lum = cv2.cvtColor(_u8(img), cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = cv2.magnitude(cv2.Sobel(lum, cv2.CV_32F, 1, 0), cv2.Sobel(lum, cv2.CV_32F, 0, 1))
    h, w = lum.shape
    rw, rh = int(w * frac), int(h * frac)
    best, best_e = (0, 0, rw, rh), -1.0
    for _ in range(8):
        x0, y0 = int(rng.integers(0, w - rw)), int(rng.integers(0, h - rh))
        e = float(np.percentile(grad[y0 : y0 + rh, x0 : x0 + rw], 95))
        if e > best_e:
            best, best_e = (x0, y0, x0 + rw, y0 + rh), e
    return best


HALO_VARIANTS = {"wide": (2.5, 1.0), "local": (2.0, 1.6), "glow": (5.0, 0.5)}
"""Halo variant → (unsharp radius in output px, amount at strength 1). `local` is applied inside
one feathered region (an over-sharpened detail pass), the others over the whole image."""


def plant_halo(img: np.ndarray, strength: float, variant: str, rng) -> np.ndarray:
    sigma, amount = HALO_VARIANTS[variant]
    sharp = usm(img, sigma, amount * strength)
    if variant != "local":
        return sharp
    h, w = img.shape[:2]
    mask = _feathered_box(h, w, _edge_region(img, rng, 0.3), 6.0)[:, :, None]
    return img + mask * (sharp - img)


def flat_fraction(truth: np.ndarray, box: Box) -> float:
    """Share of a box's interior boundary that runs through flat content (local std < 4).

    Independent of the seam metric: it says where a step *can* be seen at all. A step of a few
    grey levels along a boundary that lies wholly in grass or hair is invisible to a person too.
    """
    h, w = truth.shape[:2]
    lum = cv2.cvtColor(_u8(truth), cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(lum, (7, 7))
    std = np.sqrt(np.maximum(cv2.blur(lum * lum, (7, 7)) - mean * mean, 0.0))
    x0, y0, x1, y1 = box
    edges = []
    for x in (x0, x1 - 1):
        if 0 < x < w - 1:
            edges.append(std[y0:y1, x])
    for y in (y0, y1 - 1):
        if 0 < y < h - 1:
            edges.append(std[y, x0:x1])
    line = np.concatenate(edges) if edges else np.zeros(1)
    return float((line < 4.0).mean())


def plant_seam(
    img: np.ndarray, truth: np.ndarray, strength: float, variant: str, rng
) -> tuple[np.ndarray, list[Box]]:
    """A step of ±strength grey levels along tile or region edges. Returns image, seam boxes.

    Variants: ``grey`` / ``colour`` (per-channel signs): one tile of the tiled pass's grid
    offset, hard edge, a tile whose boundary is at least a quarter flat (where a person can see
    a step); ``region``: a detail region (1/4 of the side) offset with a 1.5 px feather;
    ``texture``: a tile whose boundary is wholly in texture (invisible: never counted visible).
    Empty boxes when the photo has no suitable tile.
    """
    h, w = img.shape[:2]
    if variant == "region":
        candidates = [_region(truth, rng, 0.25, tries=1) for _ in range(8)]
        flat = [flat_fraction(truth, b) for b in candidates]
        box = candidates[int(np.argmax(flat))]
        boxes = [box] if max(flat) >= 0.25 else []
        feather = 1.5
    else:
        grid = tile_grid(w, h)
        interior = [b for b in grid if b[0] > 0 or b[1] > 0]
        if variant == "texture":
            ok = [b for b in interior if flat_fraction(truth, b) <= 0.05]
        else:
            ok = [b for b in interior if flat_fraction(truth, b) >= 0.25]
        boxes = grid if ok else []
        box = ok[int(rng.integers(len(ok)))] if ok else (0, 0, 0, 0)
        feather = 0.0
    if not boxes:
        return img, []
    colour = variant == "colour"
    sign = rng.choice([-1.0, 1.0], 3) if colour else np.full(3, rng.choice([-1.0, 1.0]))
    mask = _feathered_box(h, w, box, feather)[:, :, None]
    return img + mask * (sign * strength).astype(np.float32), boxes


def plant_shift(img: np.ndarray, strength: float, rng) -> np.ndarray:
    """A smooth local warp: an object-sized region's content displaced by strength × the image
    side at its centre, fading out around it (a re-diffusion that moved something)."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = _region(img, rng, 0.25)
    cx, cy, sigma = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2.5
    angle = rng.uniform(0, 2 * math.pi)
    d = strength * max(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma * sigma))
    map_x = xx - d * math.cos(angle) * bump
    map_y = yy - d * math.sin(angle) * bump
    return cv2.remap(img.astype(np.float32), map_x, map_y, cv2.INTER_CUBIC, cv2.BORDER_REFLECT)


def plant_replace(img: np.ndarray, strength: float, rng) -> tuple[np.ndarray, float]:
    """A region (side = strength × the image side) replaced by content from elsewhere in the
    image, colour-matched and feathered: an object redrawn as something else. Returns the image
    and the mean ΔE of the change in the region (low when both contents look alike)."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = _region(img, rng, strength)
    rw, rh = x1 - x0, y1 - y0
    for _ in range(20):
        sx, sy = int(rng.integers(0, w - rw)), int(rng.integers(0, h - rh))
        if abs(sx - x0) >= rw or abs(sy - y0) >= rh:
            break
    src = img[sy : sy + rh, sx : sx + rw].astype(np.float32)
    dst = img[y0:y1, x0:x1].astype(np.float32)
    src = (src - src.mean((0, 1))) / (src.std((0, 1)) + 1e-3) * dst.std((0, 1)) + dst.mean((0, 1))
    out = img.astype(np.float32).copy()
    patch = out.copy()
    patch[y0:y1, x0:x1] = src
    mask = _feathered_box(h, w, (x0, y0, x1, y1), max(1.0, rw / 24))[:, :, None]
    out = out + mask * (patch - out)
    return out, mean_delta_e(img, out, (x0, y0, x1, y1))


def plant_cast(img: np.ndarray, strength: float, rng) -> tuple[np.ndarray, float]:
    """A feathered region (1/4 of the side) tinted by `strength` ΔE in a random a/b direction:
    a detail pass that came back in another colour. Returns the image and the mean ΔE it
    really has in the region (less where the colours clip: a tint of black stays black)."""
    h, w = img.shape[:2]
    box = _region(img, rng, 0.25)
    mask = _feathered_box(h, w, box, (box[2] - box[0]) / 10)
    lab = to_lab(img)
    angle = rng.uniform(0, 2 * math.pi)
    lab[:, :, 1] += strength * math.cos(angle) * mask
    lab[:, :, 2] += strength * math.sin(angle) * mask
    out = from_lab(lab)
    return out, mean_delta_e(img, out, box)


def mean_delta_e(a: np.ndarray, b: np.ndarray, box: Box) -> float:
    """Mean ΔE (CIELAB) between two images inside a box, after rounding to 8 bits."""
    x0, y0, x1, y1 = box
    d = to_lab(_u8(a[y0:y1, x0:x1]).astype(np.float32)) - to_lab(
        _u8(b[y0:y1, x0:x1]).astype(np.float32)
    )
    return float(np.sqrt((d * d).sum(axis=2)).mean())


REPLACE_VISIBLE_DELTA_E = 8.0
"""A replaced region whose content changed by less than this mean ΔE looks like what was there
(dark on dark, texture for similar texture): not counted as visible."""


def faults(
    base: np.ndarray, truth: np.ndarray, rng, subtle: bool = True
) -> Iterator[tuple[str, str, float, Any, list[Box] | None, bool]]:
    """(kind, variant, strength, after, seams or None = the tile grid, visible) for one base;
    subtle=False leaves out the strengths below VISIBLE_FROM."""
    for kind, levels in STRENGTHS.items():
        for strength in levels:
            visible = strength >= VISIBLE_FROM[kind] - 1e-9
            if not (visible or subtle):
                continue
            if kind == "halo":
                for variant in HALO_VARIANTS:
                    img = plant_halo(base, strength, variant, rng)
                    yield kind, variant, strength, img, None, visible
            elif kind == "seam":
                for variant in ("grey", "colour", "region", "texture"):
                    img, boxes = plant_seam(base, truth, strength, variant, rng)
                    if boxes:
                        yield kind, variant, strength, img, boxes, visible and variant != "texture"
            elif kind == "shift":
                yield kind, "warp", strength, plant_shift(base, strength, rng), None, visible
            elif kind == "replace":
                img, change = plant_replace(base, strength, rng)
                seen = visible and change >= REPLACE_VISIBLE_DELTA_E
                yield kind, "elsewhere", strength, img, None, seen
            else:
                img, change = plant_cast(base, strength, rng)
                yield kind, "region", strength, img, None, change >= VISIBLE_FROM["cast"] * 0.8


FAULT_BASES = ("esrgan", "full", "grain4+sharp", "q90", "warm")
"""Good outputs the faults are planted on, in turn (one per truth)."""


def samples(sources: Sequence[str], seed: int = 0, subtle: bool = True) -> Iterator[Sample]:
    """Good and faulty pairs for every truth of every source (deterministic for a seed);
    subtle=False leaves out the fault strengths below VISIBLE_FROM."""
    for si, name in enumerate(available(sources)):
        for ti, truth in enumerate(truths(load_source(name))):
            rng = np.random.default_rng([seed, si, ti])
            h, w = truth.shape[:2]
            before = resize(truth, w // 2, h // 2)
            grid = tile_grid(w, h)
            goods = {}
            for kind, method, after in good_changes(truth, before, rng):
                same = method.endswith("@1x")
                goods[method] = after
                yield Sample(
                    name, "good", kind, method, 0.0, truth if same else before, _u8(after),
                    [] if same else grid,
                )  # fmt: skip
            base = goods[FAULT_BASES[(si + ti) % len(FAULT_BASES)]]
            for kind, variant, strength, after, seams, visible in faults(base, truth, rng, subtle):
                yield Sample(
                    name, "fault", kind, variant, strength, before, _u8(after),
                    grid if seams is None else seams, visible,
                )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class Scored:
    """A sample's identity and its QA scores (the images dropped: verdicts are cheap to redo)."""

    source: str
    side: str
    kind: str
    method: str
    strength: float
    visible: bool
    scores: dict[str, float]


def score(pairs: Sequence[Sample] | Iterator[Sample], use_seams: bool = True) -> list[Scored]:
    """Run `assess` once per pair and keep the scores."""
    from . import assess

    out = []
    for s in pairs:
        result = assess(s.before, s.after, s.seams if use_seams else None)
        scores = {k: float(result[k]) for k in ("seam", "halo", "drift")}
        out.append(Scored(s.source, s.side, s.kind, s.method, s.strength, s.visible, scores))
    return out


def evaluate(scored: Sequence[Scored], thresholds: Mapping[str, Any]) -> dict[str, Any]:
    """Flag rates for a set of thresholds (cfg["qa"] keys, sensitivity included).

    ``good``: share flagged per kind of good change and overall (the false-positive rate, goal
    ≤ 5 %); ``faults``: share flagged per fault kind among the visible ones and overall (the
    recall, goal ≥ 90 %); ``subtle``: the same for faults below VISIBLE_FROM (not in the goal);
    ``by_strength``: per fault kind and strength; ``mistakes``: what was wrongly (not) flagged.
    """
    from . import verdict

    good: dict[str, list[bool]] = {}
    bad: dict[str, list[bool]] = {}
    subtle: dict[str, list[bool]] = {}
    strength: dict[str, dict[str, list[bool]]] = {}
    mistakes = []
    for s in scored:
        hit = verdict(s.scores, thresholds)[0] == "review"
        if s.side == "good":
            good.setdefault(s.kind, []).append(hit)
            if hit:
                mistakes.append(f"good {s.kind}/{s.method} {s.source}: {_fmt(s.scores)}")
            continue
        if s.method != "texture":
            strength.setdefault(s.kind, {}).setdefault(f"{s.strength:g}", []).append(hit)
        (bad if s.visible else subtle).setdefault(s.kind, []).append(hit)
        if s.visible and not hit:
            mistakes.append(
                f"missed {s.kind}/{s.method} {s.strength:g} {s.source}: {_fmt(s.scores)}"
            )
    return {
        "good": {**{k: _rate(v) for k, v in good.items()}, "overall": _rate(_all(good))},
        "faults": {**{k: _rate(v) for k, v in bad.items()}, "overall": _rate(_all(bad))},
        "subtle": {k: _rate(v) for k, v in subtle.items()},
        "by_strength": {k: {s: _rate(v) for s, v in d.items()} for k, d in strength.items()},
        "counts": {
            "good": sum(len(v) for v in good.values()),
            "faults": sum(len(v) for v in bad.values()),
            "subtle": sum(len(v) for v in subtle.values()),
        },
        "mistakes": mistakes,
    }


def measure_curve(
    scored: Sequence[Scored], measure: str, limits: Sequence[float]
) -> list[dict[str, float]]:
    """Precision/recall of one measure alone at each limit: recall over the visible faults that
    measure is meant to catch, false-positive rate and precision against all good pairs."""
    good = [s.scores[measure] for s in scored if s.side == "good"]
    mine = [
        s.scores[measure]
        for s in scored
        if s.side == "fault" and s.visible and MEASURE[s.kind] == measure
    ]
    rows = []
    for limit in limits:
        tp = sum(v > limit for v in mine)
        fp = sum(v > limit for v in good)
        rows.append(
            {
                "limit": round(float(limit), 4),
                "recall": _ratio(tp, len(mine)),
                "false_positive_rate": _ratio(fp, len(good)),
                "precision": _ratio(tp, tp + fp) if tp + fp else 1.0,
            }
        )
    return rows


def _all(d: Mapping[str, list[bool]]) -> list[bool]:
    return [h for v in d.values() for h in v]


def _fmt(scores: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.3g}" for k, v in scores.items())


def _rate(hits: Sequence[bool]) -> float:
    return _ratio(sum(hits), len(hits))


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0
