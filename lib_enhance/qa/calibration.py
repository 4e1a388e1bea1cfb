"""Planted-artifact sets for calibrating and testing the QA thresholds.

Every sample starts from a real photograph shipped inside scikit-image (no downloads): the photo
is the "truth" X at output size, the input is X downscaled 2×, and a *clean enhancement* is what a
good pass could produce from it — a Lanczos upscale with some of the true detail put back,
optionally plus faint synthetic texture, a mild sharpen, or a small global tone shift. Artifacts
are planted on top of a clean enhancement at a stated strength:

- ``seam``: one tile of the tiled pass's grid (or one detail region) brighter/darker by
  `strength` grey levels with a hard edge (per-channel when ``colour``);
- ``halo``: an unsharp mask of amount `strength` (radius 2 px) over the whole output;
- ``drift``: an object-sized region moved by `strength` × its size (``shift``), replaced by
  content from another photo (``replace``), or a global colour cast of `strength` ΔE (``cast``).

`evaluate` runs `assess` over a set and returns recall per artifact kind and the false-positive
rate on the clean ones. bench/qa_calibration.py prints it for the shipped thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ._common import Box, resize

CALIBRATION_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "clock")
"""Photos the thresholds were tuned on."""
HOLDOUT_SOURCES = (
    "immunohistochemistry",
    "hubble_deep_field",
    "coins",
    "moon",
    "motorcycle",
    "retina",
)
"""Photos never looked at while tuning: the honest numbers."""

NOTICEABLE = {"seam": 4.0, "halo": 0.6, "shift": 0.08, "replace": 1.0, "cast": 8.0}
"""Strength of each planted artifact that a person notices at 100% zoom (see README of bench)."""

INFORMATIONAL = ("seam_in_texture",)
"""Kinds reported but left out of the overall recall: a person cannot see them either."""

OUT_SIDE = 512
TILE, OVERLAP = 192, 48


@dataclass
class Sample:
    """One before/after pair with what was planted in it."""

    source: str
    kind: str
    """"clean", "seam", "halo" or "drift"."""
    variant: str
    strength: float
    before: np.ndarray
    after: np.ndarray
    seams: list[Box] = field(default_factory=list)


def load_source(name: str) -> np.ndarray:
    """A scikit-image photo as uint8 RGB (grey ones repeated to three channels)."""
    from skimage import data

    img = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


def truths(img: np.ndarray) -> list[np.ndarray]:
    """The image fitted to OUT_SIDE, plus two 512² crops of it when it is large enough."""
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


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def clean_enhancement(truth: np.ndarray, before: np.ndarray, recipe: str, rng) -> np.ndarray:
    """What a good pass could produce: Lanczos upscale + some true detail (+ recipe)."""
    h, w = truth.shape[:2]
    up = resize(before, w, h).astype(np.float32)
    alpha = {"lanczos": 0.0, "half": 0.5}.get(recipe, 1.0)
    out = up + alpha * (truth.astype(np.float32) - up)
    if recipe == "texture":
        noise = rng.normal(0.0, 1.0, (h, w, 1)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 0.7)[:, :, None]
        out += 3.0 * noise / max(float(noise.std()), 1e-6)
    elif recipe == "sharp":
        out = _usm(out, 1.0, 0.2)
    elif recipe == "tone":
        out = out * 1.02 + rng.uniform(-2.0, 2.0, 3).astype(np.float32)
    return _u8(out)


CLEAN_RECIPES = ("lanczos", "half", "full", "texture", "sharp", "tone")


def _usm(img: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    img = img.astype(np.float32)
    return img + amount * (img - cv2.GaussianBlur(img, (0, 0), sigma))


def flat_fraction(truth: np.ndarray, box: Box) -> float:
    """Share of a tile's interior boundary that runs through flat content (local std < 4).

    Independent of the seam metric: it says where a step *can* be seen at all. A step of a few
    grey levels along a boundary that lies wholly in grass or hair is invisible to a person too.
    """
    h, w = truth.shape[:2]
    lum = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY).astype(np.float32)
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
    img: np.ndarray, truth: np.ndarray, strength: float, rng, colour: bool, visible: bool
) -> tuple[np.ndarray, list[Box]]:
    """One tile of the grid offset by ±strength grey levels (hard edge). Returns image, seams.

    visible=True picks a tile whose boundary is at least a quarter flat (where a person can see
    a step); False one whose boundary is at most 5 % flat (in texture, invisible).
    """
    h, w = img.shape[:2]
    boxes = tile_grid(w, h)
    interior = [b for b in boxes if b[0] > 0 or b[1] > 0]
    flat = [flat_fraction(truth, b) for b in interior]
    ok = [b for b, f in zip(interior, flat, strict=True) if (f >= 0.25 if visible else f <= 0.05)]
    if not ok:
        return img, []
    x0, y0, x1, y1 = ok[int(rng.integers(len(ok)))]
    sign = rng.choice([-1.0, 1.0], 3) if colour else np.full(3, rng.choice([-1.0, 1.0]))
    out = img.astype(np.float32)
    out[y0:y1, x0:x1] += (sign * strength).astype(np.float32)
    return _u8(out), boxes


def plant_halo(img: np.ndarray, strength: float) -> np.ndarray:
    return _u8(_usm(img, 2.0, strength))


def _region(img: np.ndarray, rng, frac: float = 0.25, tries: int = 6) -> Box:
    """An object-sized box: of a few random boxes, the one with the most content (luma std).

    Moving or replacing a featureless patch of sky changes nothing a person could see, so the
    planted drift goes where there is something to move.
    """
    h, w = img.shape[:2]
    rw, rh = int(w * frac), int(h * frac)
    best, best_std = (0, 0, rw, rh), -1.0
    for _ in range(tries):
        x0 = int(rng.integers(w // 8, w - rw - w // 8))
        y0 = int(rng.integers(h // 8, h - rh - h // 8))
        std = float(img[y0 : y0 + rh, x0 : x0 + rw].std())
        if std > best_std:
            best, best_std = (x0, y0, x0 + rw, y0 + rh), std
    return best


def plant_shift(img: np.ndarray, strength: float, rng) -> np.ndarray:
    """Content of an object-sized region moved diagonally by strength × region size."""
    x0, y0, x1, y1 = _region(img, rng)
    dx = max(1, round(strength * (x1 - x0))) * int(rng.choice([-1, 1]))
    dy = max(1, round(strength * (y1 - y0))) * int(rng.choice([-1, 1]))
    out = img.copy()
    out[y0:y1, x0:x1] = img[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
    return out


def plant_replace(img: np.ndarray, other: np.ndarray, strength: float, rng) -> np.ndarray:
    """An object-sized region replaced (blend weight `strength`) by another photo's content."""
    x0, y0, x1, y1 = _region(img, rng)
    patch = resize(other, x1 - x0, y1 - y0).astype(np.float32)
    out = img.astype(np.float32)
    out[y0:y1, x0:x1] = (1 - strength) * out[y0:y1, x0:x1] + strength * patch
    return _u8(out)


def plant_cast(img: np.ndarray, strength: float, rng) -> np.ndarray:
    """A global colour cast of about `strength` ΔE (CIELAB) in a random a/b direction."""
    lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    angle = rng.uniform(0, 2 * math.pi)
    lab[:, :, 1] += strength * math.cos(angle)
    lab[:, :, 2] += strength * math.sin(angle)
    return _u8(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB) * 255.0)


def samples(
    sources: Sequence[str], strengths: Mapping[str, float] | None = None, seed: int = 0
) -> Iterator[Sample]:
    """Clean and planted pairs for every truth of every source (deterministic for a seed)."""
    s = {**NOTICEABLE, **(strengths or {})}
    photos = {name: load_source(name) for name in sources}
    names = list(photos)
    for si, name in enumerate(names):
        for ti, truth in enumerate(truths(photos[name])):
            rng = np.random.default_rng([seed, si, ti])
            h, w = truth.shape[:2]
            before = resize(truth, w // 2, h // 2)
            clean = {r: clean_enhancement(truth, before, r, rng) for r in CLEAN_RECIPES}
            for recipe, img in clean.items():
                yield Sample(name, "clean", recipe, 0.0, before, img, tile_grid(w, h))
            base = clean[CLEAN_RECIPES[int(rng.integers(len(CLEAN_RECIPES)))]]
            for colour, visible in ((False, True), (True, True), (False, False)):
                img, boxes = plant_seam(base, truth, s["seam"], rng, colour, visible)
                kind = "seam" if visible else "seam_in_texture"
                variant = "colour" if colour else "grey"
                if boxes:
                    yield Sample(name, kind, variant, s["seam"], before, img, boxes)
            yield Sample(name, "halo", "usm", s["halo"], before, plant_halo(base, s["halo"]))
            other = photos[names[(si + 1) % len(names)]] if len(names) > 1 else truth[::-1]
            drifted = {
                "shift": plant_shift(base, s["shift"], rng),
                "replace": plant_replace(base, other, s["replace"], rng),
                "cast": plant_cast(base, s["cast"], rng),
            }
            for variant, img in drifted.items():
                yield Sample(name, "drift", variant, s[variant], before, img, tile_grid(w, h))


def evaluate(
    pairs: Sequence[Sample], thresholds: Mapping[str, Any], use_seams: bool = True
) -> dict[str, Any]:
    """Recall per artifact kind (and overall) and false-positive rate on the clean pairs."""
    from . import assess

    flagged: dict[str, list[bool]] = {}
    misses: list[str] = []
    for sample in pairs:
        seams = sample.seams if use_seams else None
        result = assess(sample.before, sample.after, seams, thresholds)
        hit = result["verdict"] == "review"
        key = sample.kind
        flagged.setdefault(key, []).append(hit)
        if hit != (key != "clean"):
            why = result["reasons"] or _scores(result)
            misses.append(f"{key}/{sample.variant} {sample.source}: {why}")
    planted = [k for k in flagged if k != "clean"]
    recall = {k: _rate(flagged[k]) for k in planted}
    counted = [k for k in planted if k not in INFORMATIONAL]
    recall["overall"] = _rate([h for k in counted for h in flagged[k]])
    fpr = _rate(flagged.get("clean", []))
    return {
        "recall": recall,
        "false_positive_rate": {"clean": fpr, "overall": fpr},
        "counts": {k: len(v) for k, v in flagged.items()},
        "mistakes": misses,
    }


def _scores(result: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {result[k]:.3g}" for k in ("seam", "halo", "drift"))


def _rate(hits: Sequence[bool]) -> float:
    return round(sum(hits) / len(hits), 4) if hits else 0.0
