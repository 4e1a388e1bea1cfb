"""Region geometry: crop boxes, processing sizes, bounded feathering and exact paste-back."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from lib_enhance.geometry import regions

FAST = settings(max_examples=60, deadline=None)


def _rect_mask(width: int, height: int, box: regions.Box) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    regions.crop(mask, box)[...] = 255
    return mask


@st.composite
def image_and_box(draw: st.DrawFn, max_side: int = 400) -> tuple[int, int, regions.Box]:
    width = draw(st.integers(8, max_side), label="width")
    height = draw(st.integers(8, max_side), label="height")
    x0 = draw(st.integers(0, width - 1))
    y0 = draw(st.integers(0, height - 1))
    x1 = draw(st.integers(x0 + 1, width))
    y1 = draw(st.integers(y0 + 1, height))
    return width, height, (x0, y0, x1, y1)


# --------------------------------------------------------------------------------------------
# Boxes


def test_mask_bbox() -> None:
    assert regions.mask_bbox(np.zeros((10, 10), bool)) is None
    assert regions.mask_bbox(_rect_mask(50, 40, (3, 4, 20, 9))) == (3, 4, 20, 9)
    soft = np.zeros((5, 5), np.float32)
    soft[1, 2] = 0.2
    soft[3, 3] = 0.9
    assert regions.mask_bbox(soft) == (3, 3, 4, 4)
    with pytest.raises(ValueError, match="2-D"):
        regions.mask_bbox(np.zeros((4, 4, 3), bool))


@FAST
@given(image_and_box(), st.integers(0, 64), st.sampled_from([None, 0.5, 0.75, 1.0, 1.5, 2.0]))
def test_crop_box_contains_the_region_inside_the_image(
    case: tuple[int, int, regions.Box], padding: int, aspect: float | None
) -> None:
    width, height, bbox = case
    x0, y0, x1, y1 = regions.crop_box(bbox, (width, height), padding, aspect)
    assert 0 <= x0 <= bbox[0] and 0 <= y0 <= bbox[1]
    assert bbox[2] <= x1 <= width and bbox[3] <= y1 <= height
    w, h = x1 - x0, y1 - y0
    padded_w = bbox[2] - bbox[0] + 2 * padding
    padded_h = bbox[3] - bbox[1] + 2 * padding
    if aspect is None and padded_w <= width and padded_h <= height:
        assert (w, h) == (padded_w, padded_h), "fits, so it must be shifted, not shrunk"
    if aspect is not None and w < width and h < height:
        assert abs(w / h - aspect) <= 1.5 / min(w, h) * max(1, aspect), "aspect not kept"


def test_crop_box_shifts_inside_before_shrinking() -> None:
    assert regions.crop_box((0, 400, 100, 500), (1000, 1000), 50, 1.0) == (0, 350, 200, 550)
    assert regions.crop_box((950, 0, 1000, 30), (1000, 1000), 10) == (930, 0, 1000, 50)


def test_crop_box_shrinks_to_the_image_keeping_aspect_when_it_can() -> None:
    box = regions.crop_box((100, 50, 400, 450), (1000, 500), 60, 1.0)
    assert box == (0, 0, 500, 500)


def test_crop_box_gives_up_aspect_rather_than_the_region() -> None:
    box = regions.crop_box((0, 200, 1000, 260), (1000, 500), 20, 1.0)
    assert box[0] == 0 and box[2] == 1000 and box[1] <= 200 and box[3] >= 260


def test_crop_box_rejects_empty_and_bad_aspect() -> None:
    with pytest.raises(ValueError, match="empty"):
        regions.crop_box((10, 10, 10, 20), (100, 100))
    with pytest.raises(ValueError, match="aspect"):
        regions.crop_box((10, 10, 20, 20), (100, 100), aspect=0)


@pytest.mark.parametrize(
    ("box", "longest", "size"),
    [
        ((0, 0, 90, 90), 512, (512, 512)),
        ((0, 0, 100, 50), 512, (512, 256)),
        ((10, 10, 70, 130), 512, (256, 512)),
        ((0, 0, 2000, 1000), 1024, (1024, 512)),
        ((0, 0, 500, 3), 512, (512, 8)),
    ],
)
def test_processing_size(box: regions.Box, longest: int, size: tuple[int, int]) -> None:
    assert regions.processing_size(box, longest) == size


@FAST
@given(st.integers(1, 3000), st.integers(1, 3000), st.integers(32, 256).map(lambda n: n * 8))
def test_processing_size_is_multiple_of_8_and_keeps_aspect(w: int, h: int, longest: int) -> None:
    pw, ph = regions.processing_size((0, 0, w, h), longest)
    assert pw % 8 == 0 and ph % 8 == 0 and max(pw, ph) == longest
    for side, length in ((pw, w), (ph, h)):
        if side > 8:  # at least one multiple, even for a sliver
            assert abs(side / longest - length / max(w, h)) <= 4 / longest + 1e-9


# --------------------------------------------------------------------------------------------
# Feather


def _random_mask(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), bool)
    for _ in range(rng.integers(1, 4)):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        mask[y0 : y0 + rng.integers(1, 60), x0 : x0 + rng.integers(1, 60)] = True
    return mask


@FAST
@given(st.integers(8, 200), st.integers(8, 200), st.integers(0, 40), st.integers(0, 2**16))
def test_feather_never_spreads_beyond_blur(width: int, height: int, blur: int, seed: int) -> None:
    mask = _random_mask(width, height, seed)
    alpha = regions.feather(mask, blur)
    assert alpha.dtype == np.float32 and alpha.shape == mask.shape
    assert alpha.min() >= 0 and alpha.max() <= 1
    reach = ndimage.maximum_filter(mask, size=2 * blur + 1, mode="constant")
    assert np.all(alpha[~reach] == 0), "alpha leaks beyond blur"
    core = ~ndimage.maximum_filter(~mask, size=2 * blur + 1, mode="nearest")
    assert np.all(alpha[core] == 1), "alpha is not opaque deep inside the mask"


def test_feather_is_smooth_and_keeps_border_opaque() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[:, :50] = 255
    alpha = regions.feather(mask, 16)
    assert alpha[50, 0] == 1.0
    assert np.all(np.diff(alpha[50]) <= 0)
    assert np.abs(np.diff(alpha[50])).max() < 2 / 16
    assert 0.4 < alpha[50, 49] < 0.6


def test_feather_of_empty_mask_and_zero_blur() -> None:
    assert not regions.feather(np.zeros((8, 8), bool), 4).any()
    mask = _random_mask(50, 50, 3)
    assert np.array_equal(regions.feather(mask, 0), mask.astype(np.float32))


# --------------------------------------------------------------------------------------------
# Paste-back


@FAST
@given(image_and_box(120), st.integers(0, 12), st.integers(0, 2**16), st.booleans())
def test_paste_changes_nothing_where_alpha_is_zero(
    case: tuple[int, int, regions.Box], blur: int, seed: int, whole_image_alpha: bool
) -> None:
    width, height, box = case
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), bool)
    inner = regions.crop(mask, box)
    inner[...] = rng.random(inner.shape) < 0.2
    alpha = regions.feather(mask, blur)
    if not whole_image_alpha:
        alpha = regions.crop(alpha, box)
    patch = rng.integers(0, 256, (box[3] - box[1], box[2] - box[0], 3), dtype=np.uint8)
    out = regions.paste_back(base, patch, box, alpha)
    full = regions.feather(mask, blur)
    in_box = np.zeros((height, width), bool)
    regions.crop(in_box, box)[...] = True
    untouched = (full == 0) | ~in_box
    assert np.array_equal(out[untouched], base[untouched])
    opaque = regions.crop(full, box) == 1
    assert np.array_equal(regions.crop(out, box)[opaque], patch[opaque])


def test_paste_blends_in_between() -> None:
    base = np.zeros((10, 10, 3), np.uint8)
    patch = np.full((4, 4, 3), 200, np.uint8)
    alpha = np.full((4, 4), 0.25, np.float32)
    out = regions.paste_back(base, patch, (2, 2, 6, 6), alpha)
    assert np.all(regions.crop(out, (2, 2, 6, 6)) == 50)
    assert out.sum() == 50 * 16 * 3
    assert not base.any(), "paste_back must not modify its input"


def test_paste_rounds_to_nearest() -> None:
    base = np.zeros((2, 2, 3), np.uint8)
    patch = np.full((2, 2, 3), 202, np.uint8)
    out = regions.paste_back(base, patch, (0, 0, 2, 2), np.full((2, 2), 0.75, np.float32))
    assert np.all(out == 152)  # 151.5 rounds up; truncating would give 151


def test_paste_rejects_mismatched_shapes() -> None:
    base = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="patch"):
        regions.paste_back(base, np.zeros((3, 4, 3), np.uint8), (0, 0, 4, 4), np.ones((4, 4)))
    with pytest.raises(ValueError, match="alpha"):
        regions.paste_back(base, np.zeros((4, 4, 3), np.uint8), (0, 0, 4, 4), np.ones((5, 5)))
    with pytest.raises(ValueError, match="inside"):
        regions.paste_back(base, np.zeros((4, 4, 3), np.uint8), (8, 8, 12, 12), np.ones((4, 4)))
