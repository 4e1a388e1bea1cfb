"""Mask shaping, each step to the pixel: filters, order, clipped offsets, symmetric dilation,
the letterbox mapping of segmentation masks, and merging."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib_enhance.detect import Detection
from lib_enhance.geometry import masks
from lib_enhance.spec import config

SIZE = (200, 100)  # width, height


def det(box, score=0.9, label="face", mask=None) -> Detection:
    return Detection(tuple(box), score, label, mask)


def rect(box, size=SIZE) -> np.ndarray:
    m = np.zeros((size[1], size[0]), bool)
    m[box[1] : box[3], box[0] : box[2]] = True
    return m


def pass_cfg(**overrides) -> dict:
    return config.validate({"detail": [overrides]})["detail"][0]


# ---- 1–4: filters and order


def test_confidence_threshold_is_inclusive():
    dets = [det((0, 0, 5, 5), s) for s in (0.29, 0.3, 0.31)]
    assert [d.score for d in masks.by_confidence(dets, 0.3)] == [0.3, 0.31]


def test_area_ratio_bounds_are_inclusive_and_use_the_box():
    # image 200x100 = 20000 px; boxes of 100, 200, 400 px = 0.5 %, 1 %, 2 %
    dets = [det((0, 0, 10, 10)), det((0, 0, 20, 10)), det((0, 0, 20, 20))]
    kept = masks.by_area(dets, SIZE, 0.01, 0.02)
    assert [masks.box_area(d.box) for d in kept] == [200, 400]
    assert masks.by_area(dets, SIZE, 0.0, 0.005) == [dets[0]]


def test_top_k_by_area_and_by_confidence():
    a = det((0, 0, 10, 10), 0.9)
    b = det((0, 0, 30, 30), 0.5)
    c = det((0, 0, 20, 20), 0.7)
    assert masks.top_k([a, b, c], 2, "area") == [b, c]
    assert masks.top_k([a, b, c], 2, "confidence") == [a, c]
    assert masks.top_k([a, b, c], 0, "area") == [a, b, c]
    with pytest.raises(ValueError, match="top_k_by"):
        masks.top_k([a, b], 1, "size")


def test_sort_orders():
    left = det((10, 40, 25, 55), 0.5)  # far left, 225 px
    centre = det((95, 45, 105, 55), 0.6)  # at the centre (100, 50), 100 px
    right = det((150, 10, 190, 90), 0.9)  # right, 3200 px
    dets = [right, centre, left]
    assert masks.sort_detections(dets, "left-right", SIZE) == [left, centre, right]
    assert masks.sort_detections(dets, "centre-out", SIZE) == [centre, right, left]
    assert masks.sort_detections(dets, "largest", SIZE) == [right, left, centre]
    assert masks.sort_detections(dets, "confidence", SIZE) == [right, centre, left]
    with pytest.raises(ValueError, match="sort"):
        masks.sort_detections(dets, "random", SIZE)


def test_sort_left_right_breaks_ties_by_top_edge():
    low = det((10, 60, 20, 70))
    high = det((10, 5, 20, 15))
    assert masks.sort_detections([low, high], "left-right", SIZE) == [high, low]


# ---- 5–7: one region's mask


def test_box_becomes_a_filled_rectangle_and_masks_are_used_as_given():
    assert np.array_equal(masks.detection_mask(det((3, 4, 9, 7)), SIZE), rect((3, 4, 9, 7)))
    seg = np.zeros((100, 200), bool)
    seg[10, 10] = True
    assert masks.detection_mask(det((0, 0, 50, 50), mask=seg), SIZE) is not seg
    assert np.array_equal(masks.detection_mask(det((0, 0, 50, 50), mask=seg), SIZE), seg)


@pytest.mark.parametrize(
    ("dx", "dy", "expected"),
    [
        (5, 0, (15, 20, 35, 40)),
        (-5, 3, (5, 23, 25, 43)),
        (180, 0, (190, 20, 200, 40)),  # runs off the right edge: clipped, not wrapped
        (-15, -25, (0, 0, 15, 15)),  # off the top-left corner
    ],
)
def test_offset_moves_and_clips(dx, dy, expected):
    moved = masks.offset(rect((10, 20, 30, 40)), dx, dy)
    assert np.array_equal(moved, rect(expected))


def test_offset_never_wraps_around():
    edge = rect((190, 0, 200, 100))
    moved = masks.offset(edge, 5, 0)
    assert moved[:, :10].sum() == 0  # ADetailer's np.roll would put 5 columns here
    assert np.array_equal(moved, rect((195, 0, 200, 100)))
    assert not masks.offset(edge, 300, 0).any()


@pytest.mark.parametrize("n", range(0, 13))
def test_dilation_grows_a_pixel_into_a_centred_square(n):
    m = np.zeros((41, 41), bool)
    m[20, 20] = True
    grown = masks.dilate(m, n)
    expected = np.zeros_like(m)
    expected[20 - n : 21 + n, 20 - n : 21 + n] = True
    assert np.array_equal(grown, expected)


@pytest.mark.parametrize("n", range(1, 9))
def test_dilation_and_erosion_are_symmetric_for_even_and_odd_sizes(n):
    box = (60, 30, 110, 70)
    grown = masks.dilate(rect(box), n)
    assert np.array_equal(grown, rect((60 - n, 30 - n, 110 + n, 70 + n)))
    shrunk = masks.dilate(rect(box), -n)
    assert np.array_equal(shrunk, rect((60 + n, 30 + n, 110 - n, 70 - n)))


def test_erosion_does_not_eat_a_region_from_the_image_edge():
    shrunk = masks.dilate(rect((0, 0, 50, 40)), -5)
    assert np.array_equal(shrunk, rect((0, 0, 45, 35)))


def test_dilation_clips_at_the_image_edge_and_erosion_can_remove_a_region():
    assert np.array_equal(masks.dilate(rect((0, 0, 5, 5)), 3), rect((0, 0, 8, 8)))
    assert not masks.dilate(rect((50, 50, 56, 56)), -3).any()


@settings(max_examples=40, deadline=None)
@given(
    x0=st.integers(0, 150), y0=st.integers(0, 60), w=st.integers(1, 40), h=st.integers(1, 30),
    n=st.integers(-12, 12),
)  # fmt: skip
def test_dilation_of_a_rectangle_is_the_clipped_grown_rectangle(x0, y0, w, h, n):
    box = (x0, y0, min(200, x0 + w), min(100, y0 + h))
    got = masks.dilate(rect(box), n)
    if n >= 0:
        want = rect((max(0, box[0] - n), max(0, box[1] - n), box[2] + n, box[3] + n))
    else:
        k = -n
        lo = [box[0] + (k if box[0] > 0 else 0), box[1] + (k if box[1] > 0 else 0)]
        hi = [box[2] - (k if box[2] < 200 else 0), box[3] - (k if box[3] < 100 else 0)]
        want = rect((*lo, *hi)) if lo[0] < hi[0] and lo[1] < hi[1] else np.zeros((100, 200), bool)
    assert np.array_equal(got, want)


# ---- 8: merge


def test_merge_modes():
    a, b = rect((0, 0, 10, 10)), rect((50, 50, 60, 60))
    assert [m.sum() for m in masks.merge([a, b], "none")] == [100, 100]
    (union,) = masks.merge([a, b], "merge")
    assert np.array_equal(union, a | b)
    (inverse,) = masks.merge([a, b], "merge-invert")
    assert np.array_equal(inverse, ~(a | b))
    assert masks.merge([], "merge-invert") == []
    with pytest.raises(ValueError, match="merge"):
        masks.merge([a], "union")


# ---- letterbox mapping of segmentation masks


def test_letterbox_content_matches_yolo_rect_inference():
    # 1280x720 at imgsz 640 → 640x360 content in a 640x384 input, 12 px top and bottom
    assert masks.letterbox_content((720, 1280), (384, 640)) == (0, 12, 640, 372)
    # 768x512 → 640x427 in 640x448: 10 px top, 11 bottom (the odd pixel goes to the bottom)
    assert masks.letterbox_content((512, 768), (448, 640)) == (0, 10, 640, 437)
    # square padding (auto=False): 768x512 in 640x640
    assert masks.letterbox_content((512, 768), (640, 640)) == (0, 106, 640, 533)
    # portrait: padding left and right
    assert masks.letterbox_content((1080, 810), (640, 480)) == (0, 0, 480, 640)
    assert masks.letterbox_content((1000, 500), (640, 352)) == (16, 0, 336, 640)


def test_letterboxed_mask_maps_back_exactly_at_scale_two():
    """1280x720 at gain 0.5: even-aligned rectangles come back to the pixel."""
    truth = rect((200, 100, 600, 300), (1280, 720))
    small = np.zeros((384, 640), np.uint8)
    small[12 + 50 : 12 + 150, 100:300] = 1
    back = masks.from_letterbox(small, (720, 1280))
    assert back.shape == (720, 1280)
    assert np.array_equal(back, truth)


def test_letterboxed_mask_error_is_at_most_one_pixel_at_any_scale():
    """768x512 in a 640x448 input; the stretched mapping ADetailer uses is ~12 px off."""
    h, w = 512, 768
    gain = 640 / 768
    x0, y0, x1, y1 = 120, 480, 600, 512  # a region touching the bottom edge
    small = np.zeros((448, 640), np.float32)
    top = 10
    small[top + round(y0 * gain) : top + round(y1 * gain), round(x0 * gain) : round(x1 * gain)] = 1
    back = masks.from_letterbox(small, (h, w))
    ys, xs = np.nonzero(back)
    assert abs(ys.min() - y0) <= 1 and abs(ys.max() + 1 - y1) <= 1
    assert abs(xs.min() - x0) <= 1 and abs(xs.max() + 1 - x1) <= 1
    stretched_top = round((top + round(y0 * gain)) * h / 448)
    assert abs(stretched_top - y0) >= 8  # what stretching the padded mask gets wrong


def test_letterbox_without_padding_is_a_plain_resize():
    small = np.zeros((320, 320), bool)
    small[80:160, 40:120] = True
    back = masks.from_letterbox(small, (640, 640))
    assert np.array_equal(back, rect((80, 160, 240, 320), (640, 640)))


# ---- the chain


def test_shape_regions_runs_the_steps_in_order():
    dets = [
        det((150, 40, 170, 60), 0.95),  # kept
        det((10, 10, 30, 30), 0.2),  # below confidence
        det((40, 40, 60, 60), 0.8),  # kept
        det((0, 0, 200, 100), 0.99),  # too large
    ]
    cfg = pass_cfg(confidence=0.3, max_area=0.5, sort="left-right", dilate=2, x_offset=5)
    regions = masks.shape_regions(dets, SIZE, cfg)
    assert [r.box for r in regions] == [(43, 38, 67, 62), (153, 38, 177, 62)]
    assert [r.score for r in regions] == [0.8, 0.95]
    assert regions[0].mask.sum() == 24 * 24


def test_shape_regions_merges_and_drops_emptied_regions():
    dets = [det((10, 10, 14, 14)), det((100, 50, 140, 90), label="hand")]
    eroded = masks.shape_regions(dets, SIZE, pass_cfg(dilate=-3))
    assert [r.box for r in eroded] == [(103, 53, 137, 87)]
    merged = masks.shape_regions(dets, SIZE, pass_cfg(merge="merge", dilate=0))
    assert len(merged) == 1 and merged[0].box == (10, 10, 140, 90)
    assert merged[0].label == "face+hand"
    assert masks.shape_regions([], SIZE, pass_cfg(merge="merge-invert")) == []
