"""Tile plans, blending, colour matching and the seam fix: the promises users see as seams."""

from __future__ import annotations

import itertools

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


@pytest.mark.parametrize(("side", "grid"), [(576, 1), (1024, 2), (1536, 3), (2048, 4), (4096, 8)])
def test_promised_tile_counts(side: int, grid: int) -> None:
    plan = tiles.plan_tiles(side, side, 576, 64)
    assert (plan.cols, plan.rows, len(plan.tiles)) == (grid, grid, grid * grid)
    assert (plan.tile_width, plan.tile_height) == (576, 576)


def test_tiles_are_row_major_with_boxes() -> None:
    plan = tiles.plan_tiles(1024, 600, 576, 64)
    assert [t.index for t in plan.tiles] == list(range(len(plan.tiles)))
    assert plan.tiles[1].box == (plan.xs[1], 0, plan.xs[1] + 576, 576)
    assert plan.boxes == [t.box for t in plan.tiles]


def _covered(starts: tuple[int, ...], size: int, length: int) -> np.ndarray:
    count = np.zeros(length, int)
    for start in starts:
        count[start : start + size] += 1
    return count


sizes = st.integers(8, 3000)
tile_sizes = st.integers(8, 128).map(lambda n: n * 8)


@FAST
@given(sizes, sizes, tile_sizes, st.data())
def test_plan_covers_uniformly_with_the_overlap(
    width: int, height: int, tile_size: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, tile_size // 2), label="overlap")
    plan = tiles.plan_tiles(width, height, tile_size, overlap)
    assert plan.tile_width % 8 == 0 and plan.tile_height % 8 == 0
    assert plan.tile_width == min(tile_size, width // 8 * 8)
    assert plan.tile_height == min(tile_size, height // 8 * 8)
    for tile in plan.tiles:
        x0, y0, x1, y1 = tile.box
        assert (x1 - x0, y1 - y0) == (plan.tile_width, plan.tile_height)
        assert x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height
    assert len(plan.tiles) == plan.cols * plan.rows
    axes = ((plan.xs, plan.tile_width, width), (plan.ys, plan.tile_height, height))
    for starts, size, length in axes:
        assert (_covered(starts, size, length) > 0).all(), "a gap"
        assert list(starts) == sorted(set(starts))
        if len(starts) > 1 and size == tile_size:
            least = min(a + size - b for a, b in itertools.pairwise(starts))
            assert least >= overlap, "overlap shorter than asked"
            fewer = len(starts) - 1
            assert (fewer - 1) * (size - overlap) + size < length, "not the fewest tiles"


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


@FAST
@given(st.integers(130, 700), st.integers(130, 700), st.sampled_from([16, 32, 64]))
def test_seam_patches_are_uniform_and_cover_every_seam(width: int, height: int, band: int) -> None:
    plan = tiles.plan_tiles(width, height, 128, 32)
    patches = tiles.plan_seam_fix(plan, band)
    assert len(patches) == (plan.cols - 1) * plan.rows + (plan.rows - 1) * plan.cols
    best = np.zeros((height, width), np.float32)
    for patch in patches:
        x0, y0, x1, y1 = patch.box
        assert (x1 - x0, y1 - y0) == (plan.tile_width, plan.tile_height)
        assert x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height
        assert patch.weight.shape == (y1 - y0, x1 - x0)
        assert patch.weight.dtype == np.float32
        assert patch.weight.min() >= 0 and patch.weight.max() <= 1
        np.maximum(crop(best, patch.box), patch.weight, out=crop(best, patch.box))
    for a, b in zip(plan.xs, plan.xs[1:], strict=False):
        column = int((a + b + plan.tile_width) // 2)
        assert best[:, column].min() >= 0.5, "a seam between columns is not re-diffused"
    for a, b in zip(plan.ys, plan.ys[1:], strict=False):
        row = int((a + b + plan.tile_height) // 2)
        assert best[row, :].min() >= 0.5, "a seam between rows is not re-diffused"


def test_seam_weight_is_one_at_the_seam_and_fades_before_the_border() -> None:
    plan = tiles.plan_tiles(1024, 576, 576, 64)
    (patch,) = tiles.plan_seam_fix(plan, 64)
    x0, _, _x1, _ = patch.box
    seam = int(patch.position) - x0
    assert patch.axis == "x"
    assert np.all(patch.weight[:, seam] == 1.0)
    assert np.all(patch.weight[:, [0, -1]] < 0.01)
    assert np.all(patch.weight[:, : seam - 64] == 0)


@pytest.mark.parametrize("band", [8, 64, 200, 576, 2000])
def test_seam_weight_reaches_zero_inside_the_patch_for_any_band(band: int) -> None:
    plan = tiles.plan_tiles(1600, 576, 576, 64)
    for patch in tiles.plan_seam_fix(plan, band):
        x0, _, x1, _ = patch.box
        inner = [i for i, x in ((0, x0), (-1, x1)) if 0 < x < plan.width]
        assert np.all(patch.weight[:, inner] < 0.01), "the patch's own border would show"
        assert np.all(patch.weight[:, int(patch.position) - x0] == 1.0)


def test_no_seams_for_one_tile() -> None:
    assert tiles.plan_seam_fix(tiles.plan_tiles(512, 512, 576, 64)) == []


def test_paste_patch_changes_only_its_weighted_band() -> None:
    plan = tiles.plan_tiles(400, 300, 128, 32)
    image = _random_image(400, 300)
    before = image.copy()
    touched = np.zeros((300, 400), bool)
    for patch in tiles.plan_seam_fix(plan, 32):
        processed = np.full((plan.tile_height, plan.tile_width, 3), 7, np.uint8)
        tiles.paste_patch(image, patch, processed)
        crop(touched, patch.box)[...] |= patch.weight > 0
    assert np.array_equal(image[~touched], before[~touched])
    assert not np.array_equal(image, before)
