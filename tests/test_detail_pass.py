"""The detail pass on the recording test host: one batched call per pass, exact paste-back,
per-region prompts and seeds, skip/failure/interrupt behaviour, and what the record says."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lib_enhance.detect import BUILTIN_FACE, Detection, DetectorRegistry
from lib_enhance.geometry import regions
from lib_enhance.spec import config
from lib_enhance.stages.detail import common_aspect, region_denoise, size_for_aspect
from lib_enhance.stages.pipeline import ImageJob, build_stages, enhance, run_stage
from lib_enhance.testing import StaticRegistry, TestHost

FOUR = [(40, 40, 100, 110), (300, 60, 380, 150), (90, 300, 150, 360), (400, 380, 470, 470)]


class BoxDetector:
    """Returns fixed detections and remembers the images it was shown."""

    def __init__(self, name: str, dets: list[Detection]):
        self.name = name
        self.dets = dets
        self.seen: list[np.ndarray] = []

    def detect(self, image, confidence=0.0, classes=()):
        self.seen.append(np.asarray(image).copy())
        return [d for d in self.dets if d.score >= confidence]


def photo(size=(512, 512)) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize(size, Image.LANCZOS)


def boxes(*bs, score=0.9) -> list[Detection]:
    return [Detection(b, score, "face") for b in bs]


def pass_cfg(**kw) -> dict:
    kw.setdefault("model", "boxes")
    return kw


def run(detail, dets=None, image=None, host=None, job=None, registry=None):
    cfg = config.validate({"detail": detail if isinstance(detail, list) else [detail]})
    host = host or TestHost()
    image = image or photo()
    job = job or ImageJob(image, prompt="portrait", negative_prompt="blurry", seed=100)
    found = boxes(*FOUR) if dets is None else dets
    registry = registry or StaticRegistry({"boxes": BoxDetector("boxes", found)})
    stage = build_stages(cfg)[0]
    out, record = run_stage(host, stage, job, image, registry)
    return out, record, host


def support(dets: list[Detection], size, cfg) -> np.ndarray:
    """Where a pass may change pixels: the feathered masks' support (dilate + blur)."""
    from lib_enhance.geometry import masks

    union = np.zeros((size[1], size[0]), bool)
    for region in masks.shape_regions(dets, size, cfg):
        union |= regions.feather(region.mask, cfg["mask_blur"]) > 0
    return union


# ---- cost and exactness


def test_four_regions_make_one_host_call_and_nothing_outside_the_masks_changes():
    image = photo()
    out, record, host = run(pass_cfg(), image=image)
    assert record.status == "ok"
    assert len(host.calls) == 1 and host.calls[0].batch_size == 4
    assert host.calls[0].masks == 4  # one latent mask per item, all in the one call
    assert record.host_calls == 1 and record.batch_sizes == [4]
    before, after = np.asarray(image), np.asarray(out)
    cfg = config.validate({"detail": [pass_cfg()]})["detail"][0]
    may_change = support(boxes(*FOUR), image.size, cfg)
    assert np.array_equal(before[~may_change], after[~may_change])
    for x0, y0, x1, y1 in FOUR:  # every region was re-diffused
        assert (before[y0:y1, x0:x1] != after[y0:y1, x0:x1]).any()
    # QA's seam score looks where each paste fades out: the bounding box of what may change
    assert len(record.seams) == 4
    for sx0, sy0, sx1, sy1 in record.seams:
        assert may_change[sy0:sy1, sx0:sx1].any()
    ys, xs = np.nonzero(may_change)
    assert (
        min(s[0] for s in record.seams) == xs.min()
        and max(s[2] for s in record.seams) == xs.max() + 1
    )
    assert (
        min(s[1] for s in record.seams) == ys.min()
        and max(s[3] for s in record.seams) == ys.max() + 1
    )


def test_regions_of_different_shapes_share_one_size_and_one_call():
    dets = boxes((20, 20, 60, 140), (200, 50, 400, 110), (300, 300, 340, 340))
    _, record, host = run(pass_cfg(inpaint_size=512), dets=dets)
    assert len(host.calls) == 1 and host.calls[0].batch_size == 3
    width, height = host.calls[0].size
    assert max(width, height) == 512 and width % 8 == 0 and height % 8 == 0
    assert record.ran["size"] == [width, height]


def test_segmentation_masks_limit_the_change_to_the_mask_not_the_box():
    mask = np.zeros((512, 512), bool)
    yy, xx = np.mgrid[:512, :512]
    mask[(xx - 256) ** 2 + (yy - 256) ** 2 < 60**2] = True  # a disc inside box 196..316
    dets = [Detection((196, 196, 316, 316), 0.9, "person", mask)]
    image = photo()
    out, _, _ = run(pass_cfg(dilate=0, mask_blur=4), dets=dets, image=image)
    before, after = np.asarray(image), np.asarray(out)
    changed = (before != after).any(axis=2)
    assert changed[256, 256]
    assert not changed[198, 198]  # box corner, outside the disc and its feather
    assert not changed[~(regions.feather(mask, 4) > 0)].any()


# ---- prompts and seeds


def test_each_region_gets_its_prompt_and_seed_in_sort_order():
    template = "left top [SEP] [SKIP] [SEP] [PROMPT], lower left [SEP] right"
    out, record, host = run(pass_cfg(prompt=template, sort="left-right"))
    (call,) = host.calls
    # left→right: FOUR[0] (x 40), FOUR[2] (x 90), FOUR[1] (x 300), FOUR[3] (x 400)
    assert call.prompts == ["left top", "portrait, lower left", "right"]
    assert call.seeds == [100, 102, 103]  # region 1 skipped: seeds do not shift
    assert record.ran["skipped_regions"] == [1]
    before, after = np.asarray(photo()), np.asarray(out)
    x0, y0, x1, y1 = FOUR[2]  # the [SKIP]ped region (second from the left)
    assert np.array_equal(before[y0:y1, x0:x1], after[y0:y1, x0:x1])


def test_every_region_skipped_is_a_skipped_stage():
    image = photo()
    out, record, host = run(pass_cfg(prompt="[SKIP]"), image=image)
    assert record.status == "skipped" and "SKIP" in record.ran["skipped"]
    assert host.calls == [] and out is image


def test_empty_prompt_means_the_images_prompt():
    _, _, host = run(pass_cfg())
    assert set(host.calls[0].prompts) == {"portrait"}


# ---- nothing found, failures, interrupts


def test_no_regions_found_skips_the_stage_and_keeps_the_image():
    image = photo()
    out, record, host = run(pass_cfg(), dets=[], image=image)
    assert record.status == "skipped"
    assert "no regions" in record.ran["skipped"]
    assert out is image and host.calls == []


def test_regions_filtered_away_also_skip():
    image = photo()
    out, record, _ = run(pass_cfg(confidence=0.95), image=image)  # all scores are 0.9
    assert record.status == "skipped" and "confidence ≥ 0.95" in record.ran["skipped"]
    assert out is image
    out, record, _ = run(pass_cfg(max_area=0.001), image=image)  # all boxes are larger
    assert record.status == "skipped" and "4 detections, none left" in record.ran["skipped"]


def test_unknown_model_fails_the_stage_with_the_name_and_keeps_the_image():
    image = photo()
    reg = DetectorRegistry(hf_cache=False, downloads=())
    out, record, host = run(pass_cfg(model="nope.pt"), image=image, registry=reg)
    assert record.status == "failed"
    assert "nope.pt" in record.error and BUILTIN_FACE in record.error
    assert out is image and host.calls == []


def test_interrupt_discards_the_whole_pass():
    image = photo()
    host = TestHost(stop=True)
    out, record, _ = run(pass_cfg(), image=image, host=host)
    assert record.status == "interrupted" and out is image and host.calls == []


def test_interrupt_between_denoise_groups_pastes_nothing():
    dets = boxes((10, 10, 40, 40), (100, 100, 500, 500))  # very different sizes
    image = photo()
    host = TestHost(interrupt_after=1)
    out, record, _ = run(pass_cfg(dynamic_denoise=True), dets=dets, image=image, host=host)
    assert len(host.calls) == 1  # the second group's call was never made
    assert record.status == "interrupted" and out is image


# ---- dynamic denoise


def test_dynamic_denoise_gives_small_regions_more_and_groups_calls_by_level():
    dets = boxes((10, 10, 50, 50), (300, 300, 340, 340), (100, 100, 356, 356))
    cfg = pass_cfg(dynamic_denoise=True, denoise=0.4, padding=0, mask_blur=0, dilate=0,
                   inpaint_size=256)  # fmt: skip
    _, record, host = run(cfg, dets=dets)
    by_denoise = {c.denoise: c.batch_size for c in host.calls}
    assert len(host.calls) == 2 and by_denoise[0.4] == 1  # the 256 px region: scale 1
    small = max(by_denoise)
    assert small > 0.4 and by_denoise[small] == 2
    assert record.ran["denoise"] == [small, 0.4, small]  # left→right: 10, 100, 300


def test_dynamic_denoise_levels():
    cfg = {"denoise": 0.4, "dynamic_denoise": True, "inpaint_size": 512}
    assert region_denoise(cfg, (0, 0, 512, 300)) == 0.4
    assert region_denoise(cfg, (0, 0, 64, 64)) == 0.5  # scale 8, capped at 2 doublings: ×1.3
    assert region_denoise(cfg, (0, 0, 2048, 2048)) == 0.3  # scale 1/4: ×0.7
    assert region_denoise({**cfg, "dynamic_denoise": False}, (0, 0, 64, 64)) == 0.4


def test_fixed_denoise_is_recorded_once():
    _, record, host = run(pass_cfg(denoise=0.33))
    assert record.ran["denoise"] == 0.33 and host.calls[0].denoise == 0.33


# ---- the record, checkpoints, stacking


def test_record_says_what_ran():
    cfg = pass_cfg(steps=12, checkpoint="B [bbbb2222]")
    _, record, host = run(cfg)
    ran = record.ran
    assert ran["model"] == "boxes" and ran["detections"] == 4 and ran["regions"] == 4
    assert ran["steps"] == 12 and ran["checkpoint"] == "B [bbbb2222]"
    assert ran["seeds"] == [100, 101, 102, 103]
    assert len(ran["boxes"]) == 4 and "detect_ms" in ran
    assert host.calls[0].checkpoint == "B [bbbb2222]" and host.calls[0].steps == 12


def test_passes_stack_each_seeing_the_previous_output():
    first = BoxDetector("first", boxes(FOUR[0]))
    second = BoxDetector("second", boxes(FOUR[1]))
    image = photo()
    cfg = config.validate({"detail": [{"model": "first"}, {"model": "second"}],
                           "qa": {"enabled": False}})  # fmt: skip
    host = TestHost()
    result = enhance(
        host,
        cfg,
        ImageJob(image, prompt="p", seed=1),
        StaticRegistry({"first": first, "second": second}),
    )
    assert [r.status for r in result.records] == ["ok", "ok"]
    assert len(host.calls) == 2
    assert np.array_equal(first.seen[0], np.asarray(image))
    after_first = second.seen[0]
    x0, y0, x1, y1 = FOUR[0]
    assert not np.array_equal(after_first[y0:y1, x0:x1], np.asarray(image)[y0:y1, x0:x1])


def test_merge_sends_one_region():
    _, record, host = run(pass_cfg(merge="merge"))
    assert host.calls[0].batch_size == 1 and record.ran["regions"] == 1


# ---- with the real built-in face detector


def test_builtin_face_pass_on_the_astronaut_changes_only_around_the_face():
    image = photo()
    reg = DetectorRegistry(hf_cache=False, downloads=())
    out, record, host = run(pass_cfg(model=BUILTIN_FACE), image=image, registry=reg)
    assert record.status == "ok" and len(host.calls) == 1 and record.ran["regions"] == 1
    changed = np.argwhere((np.asarray(image) != np.asarray(out)).any(axis=2))
    y0, x0 = changed.min(axis=0)
    y1, x1 = changed.max(axis=0) + 1
    # the face is (178, 63, 267, 175); dilate 4 + blur 4 allow 8 px around it
    assert x0 >= 178 - 9 and y0 >= 63 - 9 and x1 <= 267 + 9 and y1 <= 175 + 9


# ---- geometry helpers


def common_size(boxes, inpaint_size):
    """The one processing size of a pass over `boxes` (what `run_detail` computes)."""
    return size_for_aspect(common_aspect(boxes), inpaint_size)


def test_common_aspect_and_size():
    assert common_aspect([(0, 0, 100, 50), (0, 0, 50, 100)]) == pytest.approx(1.0)
    assert common_aspect([(0, 0, 30, 60), (0, 0, 60, 60), (0, 0, 40, 80)]) == pytest.approx(0.5)
    assert common_size([(0, 0, 100, 50)], 512) == (512, 256)
    assert common_size([(0, 0, 30, 60)], 768) == (384, 768)
    w, h = common_size([(0, 0, 77, 91)], 512)
    assert h == 512 and w % 8 == 0 and abs(w / h - 77 / 91) < 0.02


# ---- detection preview


def test_preview_tints_exactly_the_regions_the_pass_would_use():
    from lib_enhance.webui import preview

    image = photo()
    cfg = config.validate({"detail": [pass_cfg(dilate=0)]})["detail"][0]
    drawn, shaped = preview.detection_preview(
        StaticRegistry({"boxes": BoxDetector("boxes", boxes(*FOUR))}), image, cfg
    )
    assert [r.box for r in shaped] == sorted(FOUR)
    before, after = np.asarray(image), np.asarray(drawn)
    changed = (before != after).any(axis=2)
    inside = np.zeros_like(changed)
    for x0, y0, x1, y1 in FOUR:
        inside[max(0, y0 - 12) : y1, x0 : x1 + 80] = True  # mask, outline, label text
    assert changed[50:100, 50:90].all()  # the tint covers the first region
    assert not changed[~inside].any()


def test_nothing_found_says_the_confidence_the_detector_really_used():
    """A YOLO model never runs below its floor: at confidence 0 the message says 0.01."""
    floored = BoxDetector("boxes", [])
    floored.min_confidence = 0.01
    registry = StaticRegistry({"boxes": floored})
    _out, record, _host = run(pass_cfg(confidence=0.0), registry=registry)
    assert record.status == "skipped"
    assert record.ran["skipped"] == "no regions found: nothing detected at confidence ≥ 0.01"
    assert record.ran["confidence"] == 0.01
    _out, record, _host = run(pass_cfg(confidence=0.5), dets=[])
    assert record.ran["skipped"].endswith("at confidence ≥ 0.5")


def test_yolo_detectors_declare_their_floor():
    from lib_enhance.detect import yolo

    assert yolo.YoloDetector.min_confidence == yolo.MIN_CONFIDENCE > 0


def test_masked_content_reaches_the_host_and_each_region_keeps_its_context():
    image = photo()
    _out, _record, host = run(pass_cfg(masked_content="latent nothing"), image=image)
    (call,) = host.calls
    assert call.inpaint_fill == "latent nothing" and call.masks == 4
