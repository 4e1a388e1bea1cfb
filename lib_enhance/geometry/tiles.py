"""Tile plans, per-tile seeds, colour matching, seamless blending and the half-tile seam fix.

Why one uniform tile size: every tile of a pass then has the same width and height, so the
host can run them as one sampler batch (peers send one call per tile). Tiles are spread evenly
and never hang off the image, so no tile is padded with made-up border pixels.

Why feathered blending with weights that sum to one: blending tiles cut from an image gives
the image back bit for bit, and where two re-diffused tiles disagree the difference becomes a
smooth ramp across the whole overlap instead of a step (the peers' visible seams).

Everything here is vectorised float32 numpy: the CPU work of a tiled pass (cut, colour match,
blend) has a budget of 100 ms per output megapixel on one core.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .regions import Box, crop, paste_into

GRID = 8
"""Tile sides are multiples of this: the host's VAE works on 8-pixel cells."""

SEED_MODULUS = 2**32


@dataclass(frozen=True)
class Tile:
    """One tile: its position in the plan's order (row-major) and its place in the image."""

    index: int
    x: int
    y: int
    width: int
    height: int

    @property
    def box(self) -> Box:
        return self.x, self.y, self.x + self.width, self.y + self.height


@dataclass(frozen=True)
class TilePlan:
    """Tiles of one size covering a width×height image, `cols`×`rows`, row-major.

    `xs` / `ys` are the tile starts along each axis; `overlap` is the overlap that was asked
    for (every pair of neighbours overlaps at least that much, see `min_overlap`).
    """

    width: int
    height: int
    tile_width: int
    tile_height: int
    cols: int
    rows: int
    tiles: tuple[Tile, ...]
    xs: tuple[int, ...]
    ys: tuple[int, ...]
    overlap: int

    @property
    def boxes(self) -> list[Box]:
        return [tile.box for tile in self.tiles]

    def min_overlap(self) -> tuple[int, int]:
        """Least overlap between neighbours along x and y (the tile size when there is one)."""
        return (
            _least_overlap(self.xs, self.tile_width),
            _least_overlap(self.ys, self.tile_height),
        )


def _least_overlap(starts: Sequence[int], size: int) -> int:
    return min((a + size - b for a, b in itertools.pairwise(starts)), default=size)


def plan_tiles(width: int, height: int, tile_size: int = 576, overlap: int = 64) -> TilePlan:
    """Plan the fewest tiles of one size that cover the image with at least `overlap`.

    `tile_size` must be a multiple of 8 and larger than `overlap`. Along an axis shorter than
    the tile, the tile takes the image's length, floored to a multiple of 8; so images whose
    sides are multiples of 8 (what the pipeline's targets are) get one tile on that axis, and
    other sizes get a second, heavily overlapping one. Starts are spread evenly; the last tile
    ends exactly at the image border. 1024² at 576/64 is 2×2 tiles, 2048² is 4×4.
    """
    if tile_size < GRID or tile_size % GRID:
        raise ValueError(f"tile_size must be a positive multiple of {GRID}, got {tile_size}")
    if not 0 <= overlap < tile_size:
        raise ValueError(f"overlap must be from 0 to tile_size - 1, got {overlap}")
    if width < GRID or height < GRID:
        raise ValueError(f"image {width}x{height} is smaller than {GRID} pixels on a side")
    tile_w = min(tile_size, width // GRID * GRID)
    tile_h = min(tile_size, height // GRID * GRID)
    xs = _axis_starts(width, tile_w, overlap)
    ys = _axis_starts(height, tile_h, overlap)
    tiles = tuple(
        Tile(row * len(xs) + col, x, y, tile_w, tile_h)
        for row, y in enumerate(ys)
        for col, x in enumerate(xs)
    )
    return TilePlan(width, height, tile_w, tile_h, len(xs), len(ys), tiles, xs, ys, overlap)


def _axis_starts(length: int, size: int, overlap: int) -> tuple[int, ...]:
    """Evenly spread starts of tiles of `size` over `length`, neighbours overlapping ≥ overlap.

    The ideal step (length - size) / (count - 1) is at most size - overlap; rounded starts step
    by its floor or ceiling, which is still at most that integer, so no overlap comes out short.
    A tile shrunk below the overlap (an axis shorter than the tile) gets just two tiles, which
    overlap as much as two can.
    """
    if size >= length:
        return (0,)
    step = size - overlap
    count = 1 + math.ceil((length - size) / step) if step > 0 else 2
    span = length - size
    return tuple(round(i * span / (count - 1)) for i in range(count))


def tile_seed(base_seed: int, index: int) -> int:
    """The seed of tile `index`: base + index, wrapped into 0..2**32-1.

    Distinct seeds per tile stop the same noise pattern from repeating in every tile.
    """
    return (int(base_seed) + int(index)) % SEED_MODULUS


def cut_tiles(image: np.ndarray, plan: TilePlan) -> list[np.ndarray]:
    """The tiles of `plan` cut from `image` (views; PIL or the host copy them as needed)."""
    if image.shape[:2] != (plan.height, plan.width):
        raise ValueError(
            f"image shape {image.shape[:2]} is not the plan's {plan.height}x{plan.width}"
        )
    return [crop(image, tile.box) for tile in plan.tiles]


# --------------------------------------------------------------------------------------------
# Blending


def _ramp(length: int) -> np.ndarray:
    """Smoothstep from near 0 to near 1 over `length` pixels, sampled at pixel centres.

    Symmetric (ramp[k] + ramp[-1-k] == 1), so two tiles meeting over an overlap sum to one,
    and never exactly 0 so a pixel's weights can always be normalised. Its steepest slope is
    1.5 / length: a brightness offset between tiles turns into steps of ≤ 1.5·offset/length.
    """
    t = (np.arange(length, dtype=np.float64) + 0.5) / length
    return t * t * (3.0 - 2.0 * t)


def _raw_profiles(starts: Sequence[int], size: int) -> list[np.ndarray]:
    """Per tile along one axis: 1, ramping down to ~0 across each overlap with a neighbour."""
    profiles = []
    for i, start in enumerate(starts):
        weight = np.ones(size, np.float64)
        if i > 0:
            shared = starts[i - 1] + size - start
            if shared > 0:
                weight[:shared] *= _ramp(shared)
        if i + 1 < len(starts):
            shared = start + size - starts[i + 1]
            if shared > 0:
                weight[size - shared :] *= _ramp(shared)[::-1]
        profiles.append(weight)
    return profiles


def _axis_weights(starts: Sequence[int], size: int, length: int) -> list[np.ndarray]:
    """1-D blend weights per tile along one axis, normalised to sum to one at every pixel.

    Normalising each axis makes the 2-D weights (their outer products) sum to one too, because
    the tiles covering a pixel are exactly (columns covering x) × (rows covering y).
    """
    raw = _raw_profiles(starts, size)
    total = np.zeros(length, np.float64)
    for start, weight in zip(starts, raw, strict=True):
        total[start : start + size] += weight
    return [(w / total[s : s + size]).astype(np.float32) for s, w in zip(starts, raw, strict=True)]


def blend_tiles(plan: TilePlan, tiles: Sequence[np.ndarray]) -> np.ndarray:
    """Blend the plan's tiles (uint8, tile-sized, in plan order) into one uint8 image.

    Weights are separable feathers that sum to one, so tiles cut from one image give it back
    exactly, and a brightness offset between neighbours becomes a smooth ramp across their
    whole overlap (steepest step 1.5·offset/overlap per pixel).

    Works in horizontal strips between row edges, accumulating each strip in one reused
    float32 buffer: a full-image float canvas is 4× the output's memory, and first-touching
    that much fresh memory costs more than the arithmetic.
    """
    images = [np.asarray(image) for image in tiles]
    if len(images) != len(plan.tiles):
        raise ValueError(f"got {len(images)} tiles for a plan of {len(plan.tiles)}")
    shape = (plan.tile_height, plan.tile_width, *images[0].shape[2:])
    for tile, image in zip(plan.tiles, images, strict=True):
        if image.shape != shape:
            raise ValueError(f"tile {tile.index} has shape {image.shape}, expected {shape}")
    wx = _axis_weights(plan.xs, plan.tile_width, plan.width)
    wy = _axis_weights(plan.ys, plan.tile_height, plan.height)
    out = np.empty((plan.height, plan.width, *shape[2:]), np.uint8)
    strip = np.empty((plan.tile_height, plan.width, *shape[2:]), np.float32)
    scratch = np.empty(shape, np.float32)
    edges = sorted({*plan.ys, *(y + plan.tile_height for y in plan.ys)})
    for top, bottom in itertools.pairwise(edges):
        acc = strip[: bottom - top]
        acc.fill(0.0)
        for row, y in enumerate(plan.ys):
            if y <= top and bottom <= y + plan.tile_height:
                rows = slice(top - y, bottom - y)
                row_images = images[row * plan.cols : (row + 1) * plan.cols]
                _add_row(acc, row_images, rows, wy[row][rows], wx, plan.xs, scratch)
        acc += 0.5  # weights are ≥ 0 and sum to one: truncating x + 0.5 rounds, in range
        np.copyto(out[top:bottom], acc, casting="unsafe")
    return out


def _add_row(
    acc: np.ndarray,
    images: Sequence[np.ndarray],
    rows: slice,
    weight_y: np.ndarray,
    wx: Sequence[np.ndarray],
    xs: Sequence[int],
    scratch: np.ndarray,
) -> None:
    """Add the slice `rows` of one row of tiles, weighted, into the strip accumulator `acc`."""
    part = scratch[: acc.shape[0]]
    for x, weight_x, image in zip(xs, wx, images, strict=True):
        weight = np.multiply.outer(weight_y, weight_x)
        if image.ndim == 3:
            weight = weight[..., None]
        np.copyto(part, image[rows])  # cast first: numpy 1.26's mixed-type multiply is slow
        part *= weight
        acc[:, x : x + part.shape[1]] += part


# --------------------------------------------------------------------------------------------
# Colour matching


def match_colors(tile: np.ndarray, reference: np.ndarray, contrast: bool = False) -> np.ndarray:
    """`tile` with each channel's mean moved to the mean of `reference` (same region, source).

    Re-diffused tiles drift in brightness and tint independently; pulling each back to the
    upscaled source's mean for its region removes the steps between neighbours. With
    `contrast`, the spread (std) is matched too, within a factor of two — off by default
    because re-diffusion adds detail (more spread) on purpose and matching would flatten it.
    Applied as one 256-entry lookup table per channel: cheap and exactly rounded.
    """
    tile = np.asarray(tile)
    reference = np.asarray(reference)
    if tile.shape != reference.shape:
        raise ValueError(f"tile shape {tile.shape} differs from reference {reference.shape}")
    if tile.dtype != np.uint8 or reference.dtype != np.uint8:
        raise ValueError("match_colors works on uint8 images")
    channels = 1 if tile.ndim == 2 else tile.shape[2]
    flat_tile = tile.reshape(-1, channels)
    flat_ref = reference.reshape(-1, channels)
    levels = np.arange(256, dtype=np.float64)
    tables = np.empty((channels, 256), np.uint8)
    for c in range(channels):
        mean_t, mean_r = _mean(flat_tile[:, c]), _mean(flat_ref[:, c])
        gain = _gain(flat_tile[:, c], flat_ref[:, c], mean_t, mean_r) if contrast else 1.0
        tables[c] = np.clip(np.rint((levels - mean_t) * gain + mean_r), 0, 255)
    if channels == 1 and tile.ndim == 2:
        return tables[0][tile]
    out = np.empty_like(tile)
    for c in range(channels):
        np.take(tables[c], tile[..., c], out=out[..., c])
    return out


def _mean(values: np.ndarray) -> float:
    """Mean of a uint8 channel via its histogram (exact, and faster than float conversion)."""
    hist = np.bincount(values, minlength=256)
    return float(hist @ np.arange(256)) / values.size


def _gain(tile: np.ndarray, ref: np.ndarray, mean_t: float, mean_r: float) -> float:
    levels = np.arange(256, dtype=np.float64)
    spread_t = math.sqrt(np.bincount(tile, minlength=256) @ (levels - mean_t) ** 2 / tile.size)
    spread_r = math.sqrt(np.bincount(ref, minlength=256) @ (levels - mean_r) ** 2 / ref.size)
    if spread_t < 1e-6:
        return 1.0
    return min(2.0, max(0.5, spread_r / spread_t))


# --------------------------------------------------------------------------------------------
# Half-tile seam fix


@dataclass(frozen=True, eq=False)
class SeamPatch:
    """A tile-sized box centred on one internal seam, with its paste weight.

    `axis` is "x" for a seam between two columns (a vertical line at `position`) and "y" for
    one between two rows. `weight` (float32, the box's size) is 1 across the band around the
    seam and falls smoothly to 0 before the box's border.
    """

    index: int
    box: Box
    axis: str
    position: float
    weight: np.ndarray = field(repr=False)


def plan_seam_fix(plan: TilePlan, band: int | None = None) -> list[SeamPatch]:
    """Patches over every internal seam: one per seam segment (per row for seams between
    columns, per column for seams between rows), all of the plan's tile size so they batch.

    `band` is the width of the strip around each seam that is fully replaced (weight 1); the
    weight then falls to 0 over another band/2 on each side, and always before the patch
    border. Default: the plan's overlap, at least 16 — the strip the blend ramped over.
    Along the seam the weight follows the tile rows (or columns), ramping where they overlap,
    so consecutive patches on one seam hand over smoothly.
    """
    band = max(16, plan.overlap) if band is None else band
    if band <= 0:
        raise ValueError(f"band must be positive, got {band}")
    along_x = [p.astype(np.float32) for p in _raw_profiles(plan.xs, plan.tile_width)]
    along_y = [p.astype(np.float32) for p in _raw_profiles(plan.ys, plan.tile_height)]
    patches: list[SeamPatch] = []
    for seam in _seams(plan.xs, plan.tile_width):
        x0 = _centre_start(seam, plan.tile_width, plan.width)
        across = _seam_profile(plan.tile_width, seam - x0, band)
        for row, y in enumerate(plan.ys):
            weight = np.multiply.outer(along_y[row], across)
            box = (x0, y, x0 + plan.tile_width, y + plan.tile_height)
            patches.append(SeamPatch(len(patches), box, "x", seam, weight))
    for seam in _seams(plan.ys, plan.tile_height):
        y0 = _centre_start(seam, plan.tile_height, plan.height)
        across = _seam_profile(plan.tile_height, seam - y0, band)
        for col, x in enumerate(plan.xs):
            weight = np.multiply.outer(across, along_x[col])
            box = (x, y0, x + plan.tile_width, y0 + plan.tile_height)
            patches.append(SeamPatch(len(patches), box, "y", seam, weight))
    return patches


def _seams(starts: Sequence[int], size: int) -> list[float]:
    """Seam lines along one axis: the middle of each overlap between neighbours."""
    return [(b + a + size) / 2 for a, b in itertools.pairwise(starts)]


def _centre_start(seam: float, size: int, length: int) -> int:
    return min(max(0, round(seam - size / 2)), length - size)


def _seam_profile(size: int, seam: float, band: float) -> np.ndarray:
    """1 within band/2 of the seam, smoothstep down to 0 at band from it and before the edges."""
    centres = np.arange(size, dtype=np.float64) + 0.5
    distance = np.abs(centres - seam)
    inner = band / 2
    outer = np.where(centres < seam, min(band, seam), min(band, size - seam))
    inner = np.minimum(inner, outer / 2)
    t = np.clip((outer - distance) / np.maximum(outer - inner, 1e-9), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def paste_patch(image: np.ndarray, patch: SeamPatch, processed: np.ndarray) -> None:
    """Blend a re-diffused seam patch into `image` in place, through its weight."""
    paste_into(image, processed, patch.box, patch.weight)
