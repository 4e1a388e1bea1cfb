"""Tile plans, blending, colour matching and the seam fix: the promises users see as seams."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_enhance.geometry import tiles
from lib_enhance.geometry.regions import crop

FAST = settings(max_examples=60, deadline=None)


def _random_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _largest_step(image: np.ndarray) -> int:
    """The biggest difference between neighbouring pixels, in x or y, any channel."""
    values = image.astype(np.int16)
    dx = np.abs(np.diff(values, axis=1)).max(initial=0)
    dy = np.abs(np.diff(values, axis=0)).max(initial=0)
    return int(max(dx, dy))


# --------------------------------------------------------------------------------------------
# Plans


@pytest.mark.parametrize(
    ("side", "tile", "grid", "size"),
    [
        (576, 576, 1, 576),
        (1024, 576, 2, 576),
        (1536, 576, 3, 576),
        (2048, 576, 4, 576),
        (4096, 576, 7, 640),  # a fixed 576 needed 8×8
        (512, 256, 2, 288),  # 256² → 512²: 2×2 like USDU, where a fixed 256 needed 3×3
        (1024, 256, 4, 304),
        (2048, 256, 8, 312),
        (1024, 512, 2, 544),
        (2048, 512, 4, 560),
    ],
)
def test_promised_tile_counts(side: int, tile: int, grid: int, size: int) -> None:
    plan = tiles.plan_tiles(side, side, tile, 64)
    assert (plan.cols, plan.rows, len(plan.tiles)) == (grid, grid, grid * grid)
    assert (plan.tile_width, plan.tile_height) == (size, size)
    assert plan.pixels == grid * grid * size * size


def test_tiles_are_row_major_with_boxes() -> None:
    plan = tiles.plan_tiles(1024, 600, 576, 64)
    assert [t.index for t in plan.tiles] == list(range(len(plan.tiles)))
    assert plan.tiles[1].box == (plan.xs[1], 0, plan.xs[1] + 576, 600)  # one row, flexed
    assert plan.boxes == [t.box for t in plan.tiles]


def test_tile_bounds_flex_by_the_overlap_on_the_grid() -> None:
    assert tiles.tile_bounds(256, 64) == (256, 320)
    assert tiles.tile_bounds(576, 60) == (576, 632)
    assert tiles.tile_bounds(512, 0) == (512, 512)


def _covered(starts: tuple[int, ...], size: int, length: int) -> np.ndarray:
    count = np.zeros(length, int)
    for start in starts:
        count[start : start + size] += 1
    return count


def _fewest(length: int, tile_size: int, overlap: int) -> tuple[int, int]:
    """(count, size) by brute force: the fewest tiles of a size allowed by the bounds (on the
    grid, inside the image) that keep the overlap, then the smallest such size. When no size
    can keep the overlap (an axis barely longer than it), two tiles as large as fit."""
    low, high = tiles.tile_bounds(tile_size, overlap)
    floor = length // 8 * 8
    sizes = range(min(low, floor), min(high, floor) + 1, 8)
    for count in range(1, length + 2):
        for size in sizes:
            fits = size == length if count == 1 else count * size - (count - 1) * overlap >= length
            if fits:
                return count, size
    return 2, floor


sizes = st.integers(8, 3000)
tile_sizes = st.integers(8, 128).map(lambda n: n * 8)


@FAST
@given(sizes, sizes, tile_sizes, st.data())
def test_plan_covers_with_the_fewest_tiles_that_keep_the_overlap(
    width: int, height: int, tile_size: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, tile_size // 2), label="overlap")
    plan = tiles.plan_tiles(width, height, tile_size, overlap)
    low, high = tiles.tile_bounds(tile_size, overlap)
    assert len(plan.tiles) == plan.cols * plan.rows
    for tile in plan.tiles:
        x0, y0, x1, y1 = tile.box
        assert (x1 - x0, y1 - y0) == (plan.tile_width, plan.tile_height)
        assert x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height
    axes = ((plan.xs, plan.tile_width, width), (plan.ys, plan.tile_height, height))
    for starts, size, length in axes:
        assert size % 8 == 0, "off the latent grid"
        assert low <= size <= high or size == length // 8 * 8 < low, "outside the bounds"
        assert (_covered(starts, size, length) > 0).all(), "a gap"
        assert list(starts) == sorted(set(starts))
        assert (len(starts), size) == _fewest(length, tile_size, overlap)
        if len(starts) > 1 and size > overlap:
            least = min(a + size - b for a, b in itertools.pairwise(starts))
            assert least >= overlap, "overlap shorter than asked"


usdu_tiles = st.integers(4, 32).map(lambda n: n * 64)
targets = st.integers(1, 1024).map(lambda n: n * 8)


@FAST
@given(targets, targets, usdu_tiles, st.integers(0, 8).map(lambda n: n * 8))
def test_no_more_pixels_than_usdu_at_its_own_settings(
    width: int, height: int, tile_size: int, overlap: int
) -> None:
    """USDU (tile sizes in steps of 64, padding = overlap / 2 ≤ 32) diffuses ceil(W/T)·ceil(H/T)
    crops of ceil((T + padding) / 64)·64 pixels square; the flexed plan never needs more."""
    plan = tiles.plan_tiles(width, height, tile_size, overlap)
    crop = math.ceil((tile_size + overlap // 2) / 64) * 64
    usdu = math.ceil(width / tile_size) * math.ceil(height / tile_size) * crop * crop
    assert plan.pixels <= usdu


def test_plan_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        tiles.plan_tiles(1024, 1024, 500, 64)
    with pytest.raises(ValueError, match="overlap"):
        tiles.plan_tiles(1024, 1024, 512, 512)
    with pytest.raises(ValueError, match="smaller"):
        tiles.plan_tiles(4, 1024, 512, 64)


def test_small_image_gets_one_image_sized_tile() -> None:
    plan = tiles.plan_tiles(512, 320, 576, 64)
    assert (plan.cols, plan.rows, plan.tile_width, plan.tile_height) == (1, 1, 512, 320)


def test_tile_seeds_differ_and_wrap() -> None:
    assert [tiles.tile_seed(10, i) for i in range(3)] == [10, 11, 12]
    assert tiles.tile_seed(2**32 - 1, 1) == 0
    assert tiles.tile_seed(-1, 0) == 2**32 - 1


# --------------------------------------------------------------------------------------------
# Blending


@FAST
@given(
    st.integers(8, 300),
    st.integers(8, 300),
    st.sampled_from([16, 32, 64, 96]),
    st.integers(0, 15),
    st.integers(0, 2**16),
)
def test_blend_of_cut_tiles_is_bit_identical(
    width: int, height: int, tile_size: int, overlap: int, seed: int
) -> None:
    image = _random_image(width, height, seed)
    plan = tiles.plan_tiles(width, height, tile_size, overlap)
    assert np.array_equal(tiles.blend_tiles(plan, tiles.cut_tiles(image, plan)), image)


def test_blend_keeps_grey_and_extra_channels() -> None:
    image = _random_image(200, 120)[..., 0]
    plan = tiles.plan_tiles(200, 120, 64, 16)
    assert np.array_equal(tiles.blend_tiles(plan, tiles.cut_tiles(image, plan)), image)


def _offset_tiles(plan: tiles.TilePlan, base: np.ndarray, offset: int) -> list[np.ndarray]:
    """Tiles cut from `base`, every other one (checkerboard) brighter by `offset`."""
    out = []
    for tile, cut in zip(plan.tiles, tiles.cut_tiles(base, plan), strict=True):
        row, col = divmod(tile.index, plan.cols)
        out.append(cut + np.uint8(offset * ((row + col) % 2)))
    return out


@FAST
@given(st.integers(1, 80), st.sampled_from([16, 32, 64]), st.integers(200, 420))
def test_brightness_offset_becomes_a_gentle_ramp(offset: int, overlap: int, side: int) -> None:
    base = np.full((side, side + 40, 3), 100, np.uint8)
    plan = tiles.plan_tiles(side + 40, side, 128, overlap)
    blended = tiles.blend_tiles(plan, _offset_tiles(plan, base, offset))
    bound = 2 * offset / min(plan.min_overlap()) + 1
    assert _largest_step(blended) <= bound


def test_step_check_catches_a_hard_seam() -> None:
    """The measure above would fail a blend that just pastes tiles side by side."""
    base = np.full((256, 256, 3), 100, np.uint8)
    plan = tiles.plan_tiles(256, 256, 160, 64)
    pasted = base.copy()
    for tile, cut in zip(plan.tiles, _offset_tiles(plan, base, 40), strict=True):
        crop(pasted, tile.box)[...] = cut
    assert _largest_step(pasted) >= 40 > 2 * 40 / 64 + 1


def test_blend_rejects_wrong_tiles() -> None:
    plan = tiles.plan_tiles(200, 200, 128, 32)
    cuts = tiles.cut_tiles(_random_image(200, 200), plan)
    with pytest.raises(ValueError, match="tiles for a plan"):
        tiles.blend_tiles(plan, cuts[:-1])
    with pytest.raises(ValueError, match="shape"):
        tiles.blend_tiles(plan, [c[:-1] for c in cuts])


# --------------------------------------------------------------------------------------------
# Colour matching


def test_match_colors_is_identity_on_the_reference() -> None:
    image = _random_image(64, 48)
    assert np.array_equal(tiles.match_colors(image, image), image)


def test_match_colors_removes_a_shift() -> None:
    reference = np.random.default_rng(1).integers(40, 200, (64, 64, 3), dtype=np.uint8)
    shifted = reference + np.array([30, 5, 12], np.uint8)
    assert np.array_equal(tiles.match_colors(shifted, reference), reference)


def test_match_colors_contrast_is_bounded() -> None:
    reference = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    flat = np.full_like(reference, 128)
    flat[0, 0] = 130
    matched = tiles.match_colors(flat, reference, contrast=True).astype(float)
    spread = matched.reshape(-1, 3).std(axis=0)
    assert (spread <= 2 * flat.astype(float).reshape(-1, 3).std(axis=0) + 0.5).all()
    means = matched.reshape(-1, 3).mean(axis=0)
    assert np.allclose(means, reference.reshape(-1, 3).mean(axis=0), atol=0.6)


def test_matched_tiles_blend_back_to_the_source() -> None:
    """Tiles that drifted in brightness, colour-matched to the source, leave no steps."""
    source = np.full((300, 300, 3), 90, np.uint8)
    plan = tiles.plan_tiles(300, 300, 128, 32)
    drifted = _offset_tiles(plan, source, 50)
    matched = [
        tiles.match_colors(t, crop(source, tile.box))
        for t, tile in zip(drifted, plan.tiles, strict=True)
    ]
    assert np.array_equal(tiles.blend_tiles(plan, matched), source)


# --------------------------------------------------------------------------------------------
# Seam fix


def _overlaps(starts: tuple[int, ...], size: int) -> list[tuple[int, int]]:
    """[start, end) of every overlap between neighbours along one axis."""
    return [(b, a + size) for a, b in itertools.pairwise(starts)]


@FAST
@given(st.integers(130, 900), st.integers(130, 900), st.sampled_from([0, 16, 32, 64]))
def test_seam_bands_cover_every_overlap_and_fade_before_their_border(
    width: int, height: int, overlap: int
) -> None:
    plan = tiles.plan_tiles(width, height, 128, overlap)
    patches = tiles.plan_seam_fix(plan)
    rows, cols = plan.rows, plan.cols
    axes = [p.axis for p in patches]
    assert axes == ["x"] * rows * (cols - 1) + ["y"] * (rows - 1) * cols + ["xy"] * (
        (rows - 1) * (cols - 1)
    )
    across_x, across_y = tiles.seam_bands(plan)
    feather = max(tiles.MIN_BAND, overlap) // 2
    for patch in patches:
        x0, y0, x1, y1 = patch.box
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert (x1 - x0) % 8 == 0 and (y1 - y0) % 8 == 0, "off the latent grid"
        expected = {
            "x": (across_x, plan.tile_height),
            "y": (plan.tile_width, across_y),
            "xy": (across_x, across_y),
        }[patch.axis]
        assert (x1 - x0, y1 - y0) == expected, "one size per group, so the group batches"
        assert patch.weight.shape == (y1 - y0, x1 - x0) and patch.weight.dtype == np.float32
        assert patch.weight.min() >= 0 and patch.weight.max() <= 1
        if patch.axis != "y":  # across a seam between columns: fades before inner borders
            inner = [i for i, x in ((0, x0), (-1, x1)) if 0 < x < width]
            assert np.all(patch.weight[:, inner] < 0.01), "the band's own edge would show"
        if patch.axis != "x":
            inner = [i for i, y in ((0, y0), (-1, y1)) if 0 < y < height]
            assert np.all(patch.weight[inner, :] < 0.01), "the band's own edge would show"
    # the width the blend needs: the widest overlap (at least MIN_BAND) plus two feathers
    axes = (
        (plan.xs, plan.tile_width, width, across_x),
        (plan.ys, plan.tile_height, height, across_y),
    )
    for starts, size, length, across in axes:
        if len(starts) > 1:
            widest = max(tiles.MIN_BAND, *(e - s for s, e in _overlaps(starts, size)))
            assert min(widest + 2 * feather, length // 8 * 8) <= across
            assert across <= widest + 2 * feather + 7
    # every overlap is fully redrawn: final weight 1 from the seam fix, through all groups
    redrawn = np.zeros((height, width), np.float32)
    for patch in patches:
        region = crop(redrawn, patch.box)
        region += patch.weight * (1 - region)
    widest_x = max((e - s for s, e in _overlaps(plan.xs, plan.tile_width)), default=0)
    widest_y = max((e - s for s, e in _overlaps(plan.ys, plan.tile_height)), default=0)
    centred = all(
        abs((p.box[0] + p.box[2]) / 2 - p.seam_x) <= 1 for p in patches if p.axis == "x"
    ) and all(abs((p.box[1] + p.box[3]) / 2 - p.seam_y) <= 1 for p in patches if p.axis == "y")
    if centred and across_x >= widest_x + 2 * feather and across_y >= widest_y + 2 * feather:
        # (not when an axis is barely longer than a tile: the band is then pushed against
        # the image border, or is the whole axis)
        for start, end in _overlaps(plan.xs, plan.tile_width):
            assert np.allclose(redrawn[:, start:end], 1), "part of a column overlap kept the blend"
        for start, end in _overlaps(plan.ys, plan.tile_height):
            assert np.allclose(redrawn[start:end, :], 1), "part of a row overlap kept the blend"


def test_seam_band_geometry_at_256_overlap_64() -> None:
    """1024² at 256/64: tiles of 304 at 0/240/480/720; bands of 128 centred on the seams."""
    plan = tiles.plan_tiles(1024, 1024, 256, 64)
    patches = tiles.plan_seam_fix(plan)
    assert tiles.seam_bands(plan) == (128, 128)
    first = patches[0]
    assert (first.axis, first.seam_x, first.box) == ("x", 272.0, (208, 0, 336, 304))
    across = first.weight[152]  # a row inside tile row 0 that no row overlap touches
    assert np.all(across[240 - 208 : 304 - 208] == 1.0), "the whole overlap is replaced"
    assert across[0] < 0.01 and across[-1] < 0.01
    crossing = next(p for p in patches if p.axis == "xy")
    assert crossing.box == (208, 208, 336, 336)
    assert np.all(crossing.weight[32:96, 32:96] == 1.0)
    assert sum(p.pixels for p in patches) == 12 * 128 * 304 * 2 + 9 * 128 * 128


@FAST
@given(targets, targets, usdu_tiles, st.integers(4, 8).map(lambda n: n * 8))
def test_seam_fix_redraws_no_more_than_usdus_half_tile_fix(
    width: int, height: int, tile_size: int, overlap: int
) -> None:
    """USDU's half-tile + intersections redraws r(c−1) + (r−1)c + (r−1)(c−1) tiles of T²
    (r, c: its grid of T). At its own settings (T in steps of 64, padding 16–32 = overlap
    32–64) the bands redraw no more."""
    plan = tiles.plan_tiles(width, height, tile_size, overlap)
    across_x, across_y = tiles.seam_bands(plan)
    r, c = plan.rows, plan.cols
    ours = (
        r * (c - 1) * across_x * plan.tile_height
        + (r - 1) * c * plan.tile_width * across_y
        + (r - 1) * (c - 1) * across_x * across_y
    )
    ur, uc = math.ceil(height / tile_size), math.ceil(width / tile_size)
    usdu = (ur * (uc - 1) + (ur - 1) * uc + (ur - 1) * (uc - 1)) * tile_size**2
    assert ours <= usdu


def test_seam_bands_count_pixels_as_plan_seam_fix_does() -> None:
    plan = tiles.plan_tiles(1000, 760, 256, 48)
    patches = tiles.plan_seam_fix(plan)
    across_x, across_y = tiles.seam_bands(plan)
    assert {p.box[2] - p.box[0] for p in patches if p.axis == "x"} == {across_x}
    assert {p.box[3] - p.box[1] for p in patches if p.axis == "y"} == {across_y}


def _fix_with_offsets(plan: tiles.TilePlan, image: np.ndarray, offset: int, hard: bool = False):
    """Paste every seam patch as the image brightened or darkened by `offset` (alternating):
    redraws that disagree with each other and with the tiles, like re-diffusions do."""
    fixed = image.copy()
    for patch in tiles.plan_seam_fix(plan):
        sign = 1 if patch.index % 2 else -1
        processed = np.clip(crop(image, patch.box).astype(int) + sign * offset, 0, 255)
        weight = (patch.weight > 0).astype(np.float32) if hard else patch.weight
        crop(fixed, patch.box)[...] = np.rint(
            crop(fixed, patch.box) * (1 - weight[..., None]) + processed * weight[..., None]
        ).astype(np.uint8)
    return fixed


@pytest.mark.parametrize(("side", "tile"), [(512, 256), (1024, 256), (1024, 512)])
def test_seam_fix_with_disagreeing_redraws_leaves_no_step(side: int, tile: int) -> None:
    """Blend (checkerboard tile offsets), then bands that each disagree by ±offset: every
    change is spread over a feather of ≥ 32 px (smoothstep slope ≤ 1.5/32 per pixel, three
    groups of patches, each moving a pixel by at most 2·offset), so no neighbour step is big."""
    offset, feather = 30, 32
    base = np.full((side, side, 3), 120, np.uint8)
    plan = tiles.plan_tiles(side, side, tile, 64)
    blended = tiles.blend_tiles(plan, _offset_tiles(plan, base, offset))
    fixed = _fix_with_offsets(plan, blended, offset)
    bound = 2 * offset / min(plan.min_overlap()) + 1 + 3 * (1.5 / feather * 2 * offset + 1)
    assert _largest_step(fixed) <= bound
    hard = _fix_with_offsets(plan, blended, offset, hard=True)
    assert _largest_step(hard) > bound, "the measure would miss bands pasted without feather"


def test_no_seams_for_one_tile() -> None:
    plan = tiles.plan_tiles(512, 512, 576, 64)
    assert tiles.plan_seam_fix(plan) == [] and tiles.seam_bands(plan) == (0, 0)


def test_paste_patch_changes_only_its_weighted_band() -> None:
    plan = tiles.plan_tiles(400, 300, 128, 32)
    image = _random_image(400, 300)
    before = image.copy()
    touched = np.zeros((300, 400), bool)
    for patch in tiles.plan_seam_fix(plan):
        x0, y0, x1, y1 = patch.box
        processed = np.full((y1 - y0, x1 - x0, 3), 7, np.uint8)
        tiles.paste_patch(image, patch, processed)
        crop(touched, patch.box)[...] |= patch.weight > 0
    assert np.array_equal(image[~touched], before[~touched])
    assert not np.array_equal(image, before)
