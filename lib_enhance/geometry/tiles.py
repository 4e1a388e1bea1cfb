"""Tile plans, per-tile seeds, colour matching, seamless blending and the seam-band fix.

Why one uniform tile size: every tile of a pass then has the same width and height, so the
host can run them as one sampler batch (peers send one call per tile). Tiles are spread evenly
and never hang off the image, so no tile is padded with made-up border pixels.

Why the tile size flexes: a fixed size rarely divides the image, and the remainder costs a whole
extra row and column of tiles (256² → 512² at 256/64 took 3×3 tiles where two of 288 fit). The
planner picks the fewest tiles within `tile_bounds` (never below the requested size, at most
the overlap above it, multiples of 8), then the smallest size that keeps the overlap.

Why the seam fix redraws bands, not tiles: a blended seam can only show inside the overlap the
blend ramped over, so that strip (plus a feather) is all that needs a second diffusion; the
half-tile fix of the peers redraws a whole tile per seam segment.

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

    @property
    def pixels(self) -> int:
        """Pixels the sampler diffuses for this plan (every tile, overlaps counted twice)."""
        return len(self.tiles) * self.tile_width * self.tile_height

    def min_overlap(self) -> tuple[int, int]:
        """Least overlap between neighbours along x and y (the tile size when there is one)."""
        return (
            _least_overlap(self.xs, self.tile_width),
            _least_overlap(self.ys, self.tile_height),
        )


def _least_overlap(starts: Sequence[int], size: int) -> int:
    return min((a + size - b for a, b in itertools.pairwise(starts)), default=size)


def tile_bounds(tile_size: int, overlap: int) -> tuple[int, int]:
    """The sizes a tile may take for a requested `tile_size` and `overlap`: [low, high].

    Never below the request (the sampler's context is what the user chose), and at most
    `overlap` above it, on the 8-pixel grid: a tile then never advances by more than the
    requested size (its stride is at most `tile_size`) and the overlap comes on top, the way
    Ultimate SD Upscale adds its padding around each tile. That flex is what saves a whole
    row or column of tiles: 512 px at 256/64 is two tiles of 288 instead of three of 256.
    """
    return tile_size, (tile_size + overlap) // GRID * GRID


def plan_tiles(width: int, height: int, tile_size: int = 576, overlap: int = 64) -> TilePlan:
    """Plan the fewest tiles of one size that cover the image with at least `overlap`.

    Per axis: the fewest tiles whose size stays within `tile_bounds` (and the image), then the
    smallest size on the 8-pixel grid that still keeps `overlap` with that count (fewer and
    smaller tiles: fewer pixels to diffuse). Width and height are planned apart, so a tile
    may be wider than tall. Along an axis shorter than the tile, the tile takes the image's
    length, floored to a multiple of 8; so images whose sides are multiples of 8 (what the
    pipeline's targets are) get one tile on that axis, and other sizes get a second, heavily
    overlapping one. Starts are spread evenly; the last tile ends exactly at the image
    border. 1024² at 256/64 is 4×4 tiles of 304, 2048² at 576/64 is 4×4 of 576.
    """
    if tile_size < GRID or tile_size % GRID:
        raise ValueError(f"tile_size must be a positive multiple of {GRID}, got {tile_size}")
    if not 0 <= overlap < tile_size:
        raise ValueError(f"overlap must be from 0 to tile_size - 1, got {overlap}")
    if width < GRID or height < GRID:
        raise ValueError(f"image {width}x{height} is smaller than {GRID} pixels on a side")
    tile_w, xs = _plan_axis(width, tile_size, overlap)
    tile_h, ys = _plan_axis(height, tile_size, overlap)
    tiles = tuple(
        Tile(row * len(xs) + col, x, y, tile_w, tile_h)
        for row, y in enumerate(ys)
        for col, x in enumerate(xs)
    )
    return TilePlan(width, height, tile_w, tile_h, len(xs), len(ys), tiles, xs, ys, overlap)


def _plan_axis(length: int, tile_size: int, overlap: int) -> tuple[int, tuple[int, ...]]:
    """(size, starts) of the tiles along one axis; see `plan_tiles`.

    `cap` is the largest size allowed here; the fewest tiles of at most `cap` that keep the
    overlap number ceil((length - overlap) / (cap - overlap)). A tile shrunk to the overlap or
    below (an axis shorter than the tile) gets just two tiles, which overlap as much as two can.
    """
    low, high = tile_bounds(tile_size, overlap)
    cap = min(high, length // GRID * GRID)
    if cap >= length:
        return length, (0,)
    if cap <= overlap:
        return cap, _spread(length, cap, 2)
    count = math.ceil((length - overlap) / (cap - overlap))
    needed = math.ceil((length + (count - 1) * overlap) / count / GRID) * GRID
    size = min(cap, max(low, needed))
    return size, _spread(length, size, count)


def _spread(length: int, size: int, count: int) -> tuple[int, ...]:
    """`count` evenly spread starts of tiles of `size`, the first at 0, the last at the end.

    With count·size − (count−1)·overlap ≥ length, the ideal step (length − size)/(count − 1)
    is at most size − overlap; rounded starts step by its floor or ceiling, which is still at
    most that integer, so no overlap comes out short.
    """
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
# Seam fix: bands across the seams


MIN_BAND = 32
"""Narrowest band core, and twice the narrowest feather: with overlap 0 the blend is a hard cut,
which a core of this width still covers; its patch (core + feathers) is then 64 px, about the
least a host takes."""


@dataclass(frozen=True, eq=False)
class SeamPatch:
    """A band across one seam segment, or a crossing of two seams, with its paste weight.

    `axis` is "x" for a segment of a seam between two columns (a vertical line at `seam_x`),
    "y" for one between two rows (a horizontal line at `seam_y`), and "xy" for the box where
    the two cross. `weight` (float32, the box's size) is 1 across the band's core — the
    overlap the blend ramped over — and falls smoothly to 0 before the box's border.
    """

    index: int
    box: Box
    axis: str
    weight: np.ndarray = field(repr=False)
    seam_x: float | None = None
    seam_y: float | None = None

    @property
    def pixels(self) -> int:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)


def plan_seam_fix(plan: TilePlan) -> list[SeamPatch]:
    """Patches that re-diffuse only the bands across the plan's seams, in three groups.

    Why bands: what a blended seam can show (a cross-fade of two diffusions that disagree)
    lives in the overlap the blend ramped over, so only that strip needs redrawing, plus a
    feather on each side so the redrawn strip itself leaves no edge. A band's core (weight 1)
    is its seam's whole overlap, at least `MIN_BAND`; the feather on each side is half the
    requested overlap (at least MIN_BAND/2). One patch size per axis (the widest band, on the
    8-pixel grid), so they batch. Along the seam a band is cut into tile-length segments (one
    per tile row or column: the aspect stays near the tile's), handing over through the
    tiles' own blend ramps. At overlap 64 a band is 128 px across.

    Order (= paste order): "x" segments (seams between columns, row by row), then "y"
    segments (seams between rows), whose cores cover the row overlaps where the "x" segments
    handed over, then "xy" crossings (core × core, feathered), which cover where two "y"
    segments handed over. A seam fix of rows×cols tiles has rows·(cols−1) + (rows−1)·cols
    segments and (rows−1)·(cols−1) crossings.
    """
    x_seams = _seam_lines(plan.xs, plan.tile_width)
    y_seams = _seam_lines(plan.ys, plan.tile_height)
    across_x, across_y = seam_bands(plan)
    along_x = [p.astype(np.float32) for p in _raw_profiles(plan.xs, plan.tile_width)]
    along_y = [p.astype(np.float32) for p in _raw_profiles(plan.ys, plan.tile_height)]
    x_bands = [_band(seam, core, across_x, plan.width) for seam, core in x_seams]
    y_bands = [_band(seam, core, across_y, plan.height) for seam, core in y_seams]
    patches: list[SeamPatch] = []

    def add(box: Box, axis: str, weight: np.ndarray, sx: float | None, sy: float | None) -> None:
        patches.append(SeamPatch(len(patches), box, axis, weight, sx, sy))

    for (seam, _), (x0, profile) in zip(x_seams, x_bands, strict=True):
        for row, y in enumerate(plan.ys):
            box = (x0, y, x0 + across_x, y + plan.tile_height)
            add(box, "x", np.multiply.outer(along_y[row], profile), seam, None)
    for (seam, _), (y0, profile) in zip(y_seams, y_bands, strict=True):
        for col, x in enumerate(plan.xs):
            box = (x, y0, x + plan.tile_width, y0 + across_y)
            add(box, "y", np.multiply.outer(profile, along_x[col]), None, seam)
    for (sy, _), (y0, profile_y) in zip(y_seams, y_bands, strict=True):
        for (sx, _), (x0, profile_x) in zip(x_seams, x_bands, strict=True):
            box = (x0, y0, x0 + across_x, y0 + across_y)
            add(box, "xy", np.multiply.outer(profile_y, profile_x), sx, sy)
    return patches


def seam_bands(plan: TilePlan) -> tuple[int, int]:
    """Patch widths across the seams between columns and between rows (0: no such seam).

    The same numbers `plan_seam_fix` uses, without building any weight: for cost estimates.
    """
    feather = max(MIN_BAND, plan.overlap) // 2
    return (
        _band_width(_seam_lines(plan.xs, plan.tile_width), feather, plan.width),
        _band_width(_seam_lines(plan.ys, plan.tile_height), feather, plan.height),
    )


def _seam_lines(starts: Sequence[int], size: int) -> list[tuple[float, int]]:
    """(seam line, band core) per seam along one axis: the middle of each overlap, and the
    overlap's width (at least MIN_BAND)."""
    return [
        ((b + a + size) / 2, max(MIN_BAND, a + size - b)) for a, b in itertools.pairwise(starts)
    ]


def _band_width(seams: Sequence[tuple[float, int]], feather: int, length: int) -> int:
    """Patch size across the bands of one axis: the widest core plus two feathers, on the grid
    (0 when the axis has no seam)."""
    if not seams:
        return 0
    widest = max(core for _, core in seams)
    return min(length // GRID * GRID, math.ceil((widest + 2 * feather) / GRID) * GRID)


def _band(seam: float, core: int, across: int, length: int) -> tuple[int, np.ndarray]:
    """(start, weight profile) of a band patch `across` wide, centred on `seam` if it can be."""
    start = min(max(0, round(seam - across / 2)), length - across)
    edges = (start == 0, start + across == length)
    return start, _band_profile(across, seam - start, core, edges)


def _band_profile(
    size: int, seam: float, core: float, at_edge: tuple[bool, bool] = (False, False)
) -> np.ndarray:
    """1 within core/2 of the seam, smoothstep down to 0 at the patch border on each side.

    A side whose border is the image's own stays 1 up to it (nothing beyond to blend with;
    a patch is only ever pushed off-centre against the image border). Where the patch is too
    narrow for core and feather (an axis barely longer than a tile), the flat part gives way
    so that a feather of MIN_BAND/2 (or half the room) remains.
    """
    centres = np.arange(size, dtype=np.float64) + 0.5
    distance = np.abs(centres - seam)
    left = centres < seam
    outer = np.where(left, seam, size - seam)
    inner = np.minimum(core / 2, outer - np.minimum(MIN_BAND / 2, outer / 2))
    t = np.clip((outer - distance) / np.maximum(outer - inner, 1e-9), 0.0, 1.0)
    weight = t * t * (3.0 - 2.0 * t)
    weight[(left & at_edge[0]) | (~left & at_edge[1])] = 1.0
    return weight.astype(np.float32)


def paste_patch(image: np.ndarray, patch: SeamPatch, processed: np.ndarray) -> None:
    """Blend a re-diffused seam patch into `image` in place, through its weight."""
    paste_into(image, processed, patch.box, patch.weight)
