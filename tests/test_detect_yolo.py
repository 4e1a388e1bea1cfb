"""YOLO through ultralytics, offline, with real models: the tiny detector we trained (ellipses at
known places), the COCO yolo11n-seg (letterbox mapping against its own polygons), and
randomly initialised detect/segment models. Runs in the yolo venv (`-m yolo`)."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytestmark = pytest.mark.yolo

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TINY = FIXTURES / "tiny_ellipses.pt"
sys.path.insert(0, str(FIXTURES))

from make_tiny_detector import draw_ellipse  # noqa: E402
from yolo_env import offline_ultralytics  # noqa: E402


@pytest.fixture(scope="module")
def ultralytics(tmp_path_factory):
    """ultralytics imported with the network shut out (before its first import)."""
    offline_ultralytics(tmp_path_factory.mktemp("yolo-config"))
    return pytest.importorskip("ultralytics")


@pytest.fixture(scope="module")
def models_root(tmp_path_factory, ultralytics):
    root = tmp_path_factory.mktemp("models")
    (root / "enhance").mkdir()
    shutil.copyfile(TINY, root / "enhance" / TINY.name)
    return root


@pytest.fixture(scope="module")
def registry(models_root):
    from lib_enhance.detect import DetectorRegistry, default_folders

    return DetectorRegistry(default_folders(models_root), hf_cache=False, downloads=())


@pytest.fixture(scope="module")
def seg_model(ultralytics):
    fetch = importlib.import_module("fetch_models")
    try:
        return fetch.fetch_yolo11n_seg()
    except Exception as exc:  # no network and no cache: skip, saying why
        pytest.skip(f"yolo11n-seg not available ({exc}); run tests/fixtures/fetch_models.py")


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


ELLIPSES = [("red", (30, 40, 110, 100)), ("blue", (200, 30, 250, 120)),
            ("red", (60, 200, 160, 300)), ("blue", (220, 210, 300, 270))]  # fmt: skip


def ellipse_scene(items=ELLIPSES, size=(320, 320)) -> Image.Image:
    rng = np.random.default_rng(1234)  # not a training seed
    pixels = np.clip(rng.normal(128, 12, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for label, box in items:
        draw_ellipse(draw, box, label, rng)
    return image


# ---- the tiny trained detector


def test_tiny_model_is_small_and_listed(registry):
    assert TINY.stat().st_size < 1_000_000
    assert TINY.name in registry.names()


def test_tiny_model_finds_the_ellipses_drawn_at_known_places(registry):
    found = registry.get(TINY.name).detect(ellipse_scene(), confidence=0.5)
    assert len(found) == len(ELLIPSES)
    for label, box in ELLIPSES:
        best = max(found, key=lambda d: iou(d.box, box))
        assert iou(best.box, box) >= 0.7, (box, best.box)
        assert best.label == label and best.mask is None


def test_detecting_on_the_cpu_keeps_the_host_torch_thread_count(models_root):
    """ultralytics sets torch's threads to cores − 1 (at most 8) when it predicts on the CPU;
    a WebUI's later generations must keep the count it had (found on a real A1111)."""
    import os

    import torch

    from lib_enhance.detect import DetectorRegistry, default_folders

    ultralytics_count = min(8, max(1, (os.cpu_count() or 1) - 1))
    host_count = ultralytics_count + 1
    before = torch.get_num_threads()
    torch.set_num_threads(host_count)
    try:
        reg = DetectorRegistry(default_folders(models_root), hf_cache=False, downloads=())
        reg.get(TINY.name).detect(ellipse_scene(), confidence=0.5)
        assert torch.get_num_threads() == host_count
    finally:
        torch.set_num_threads(before)


def test_class_filter_keeps_only_the_named_class(registry):
    from lib_enhance.detect import UnknownClassError

    detector = registry.get(TINY.name)
    blue = detector.detect(ellipse_scene(), confidence=0.5, classes=["blue"])
    assert len(blue) == 2 and {d.label for d in blue} == {"blue"}
    for _, box in (e for e in ELLIPSES if e[0] == "blue"):
        assert max(iou(d.box, box) for d in blue) >= 0.7
    with pytest.raises(UnknownClassError, match=r"'green'.*red, blue"):
        detector.detect(ellipse_scene(), classes=["green"])


def test_model_is_loaded_once_and_pickle_loading_is_logged(models_root, caplog):
    from lib_enhance.detect import DetectorRegistry, default_folders

    reg = DetectorRegistry(default_folders(models_root), hf_cache=False, downloads=())
    with caplog.at_level("INFO", logger="enhance"):
        first = reg.get(TINY.name)
        assert reg.get(TINY.name) is first
    loads = [r for r in caplog.records if "pickle" in r.getMessage()]
    assert len(loads) == 1 and TINY.name in loads[0].getMessage()


def test_detail_pass_with_the_tiny_model_makes_one_call_for_four_regions(registry):
    from lib_enhance.geometry import masks, regions
    from lib_enhance.spec import config
    from lib_enhance.stages.pipeline import ImageJob, build_stages, run_stage
    from lib_enhance.testing import TestHost

    image = ellipse_scene()
    cfg = config.validate({"detail": [{"model": TINY.name, "confidence": 0.5}]})
    host = TestHost()
    out, record = run_stage(host, build_stages(cfg)[0], ImageJob(image, seed=7), image, registry)
    assert record.status == "ok" and record.ran["regions"] == 4
    assert len(host.calls) == 1 and host.calls[0].batch_size == 4
    found = registry.get(TINY.name).detect(image, 0.5)
    may_change = np.zeros((320, 320), bool)
    for region in masks.shape_regions(found, image.size, cfg["detail"][0]):
        may_change |= regions.feather(region.mask, cfg["detail"][0]["mask_blur"]) > 0
    before, after = np.asarray(image), np.asarray(out)
    assert np.array_equal(before[~may_change], after[~may_change])
    assert (before[may_change] != after[may_change]).any()


def test_command_line_with_a_yolo_model(models_root, capsys):
    from lib_enhance.detect import __main__ as cli

    path = models_root / "scene.png"
    ellipse_scene().save(path)
    code = cli.main([str(path), "--models-root", str(models_root), "--model", TINY.name,
                     "--confidence", "0.5", "--classes", "red"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 2 and {d["label"] for d in out} == {"red"}
    assert all(len(d["box"]) == 4 and 0.5 <= d["score"] <= 1 for d in out)


# ---- randomly initialised models: both heads load and run


@pytest.mark.parametrize(("yaml", "task"), [("yolov8n.yaml", "detect"),
                                            ("yolov8n-seg.yaml", "segment")])  # fmt: skip
def test_random_detect_and_segment_models_load_and_run(ultralytics, tmp_path, yaml, task):
    from lib_enhance.detect import DetectorRegistry

    model = ultralytics.YOLO(yaml)
    model.save(str(tmp_path / f"random-{task}.pt"))
    reg = DetectorRegistry([tmp_path], hf_cache=False, downloads=())
    detector = reg.get(f"random-{task}.pt")
    assert detector.task == task and len(detector.classes) == 80  # COCO-sized head
    image = Image.new("RGB", (300, 200), (90, 120, 150))
    found = detector.detect(image, confidence=0.0)
    for det in found:
        assert 0 <= det.box[0] < det.box[2] <= 300 and 0 <= det.box[1] < det.box[3] <= 200
        if task == "segment":
            assert det.mask is None or det.mask.shape == (200, 300)
        else:
            assert det.mask is None


def test_a_corrupt_model_file_is_a_load_error(tmp_path, ultralytics):
    from lib_enhance.detect import DetectorRegistry, ModelLoadError

    (tmp_path / "broken.pt").write_bytes(b"\x80\x04 definitely not a model")
    reg = DetectorRegistry([tmp_path], hf_cache=False, downloads=())
    with pytest.raises(ModelLoadError, match=r"broken\.pt"):
        reg.get("broken.pt")


# ---- the real COCO segmentation model


def test_yolo11n_seg_finds_the_astronaut(seg_model, tmp_path):
    from skimage import data

    from lib_enhance.detect import DetectorRegistry

    shutil.copyfile(seg_model, tmp_path / "yolo11n-seg.pt")
    reg = DetectorRegistry([tmp_path], hf_cache=False, downloads=())
    found = reg.get("yolo11n-seg.pt").detect(Image.fromarray(data.astronaut()), 0.5, ["person"])
    assert len(found) >= 1
    person = max(found, key=lambda d: d.score)
    assert person.label == "person" and person.mask is not None
    assert person.mask.shape == (512, 512)
    assert person.mask[200:300, 200:300].mean() > 0.9  # her body
    x0, y0, x1, y1 = person.box
    assert not person.mask[:, :x0].any() and not person.mask[:y0].any()
    assert not person.mask[:, x1:].any() and not person.mask[y1:].any()


def _polygon_mask(polygons, size) -> np.ndarray:
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    for poly in polygons:
        if len(poly) >= 3:
            draw.polygon([tuple(p) for p in poly], fill=255)
    return np.asarray(canvas) > 127


@pytest.mark.parametrize(("asset", "crop"), [("zidane.jpg", None), ("bus.jpg", (0, 300, 810, 840))])
def test_segment_masks_follow_the_letterbox_exactly(ultralytics, seg_model, tmp_path, asset, crop):
    """Our mapped mask matches ultralytics' own image-space polygons on non-square images;
    stretching the padded mask over the image (ADetailer) does measurably worse."""
    from lib_enhance.detect import DetectorRegistry
    from lib_enhance.geometry import masks

    image = Image.open(Path(ultralytics.__file__).parent / "assets" / asset).convert("RGB")
    image = image.crop(crop) if crop else image  # 1280x720 and 810x540: padded inputs
    shutil.copyfile(seg_model, tmp_path / "seg.pt")
    detector = DetectorRegistry([tmp_path], hf_cache=False, downloads=()).get("seg.pt")
    found = detector.detect(image, 0.5, ["person"])
    raw = ultralytics.YOLO(str(seg_model)).predict(
        np.asarray(image)[..., ::-1].copy(), conf=0.5, classes=[0], device="cpu", verbose=False
    )[0]  # the CPU like the detector: a GPU run differs by a pixel or two
    assert len(found) == len(raw.boxes) >= 2
    data = raw.masks.data.cpu().numpy()
    ih, iw = data.shape[1:]
    _, y0, _, y1 = masks.letterbox_content(image.size[::-1], (ih, iw))
    assert y0 >= 10 and ih - y1 >= 10  # really padded: stretching would be off
    for i, det in enumerate(found):
        truth = _polygon_mask([raw.masks.xy[i]], image.size)
        ours = _iou_masks(det.mask, truth)
        stretched = np.asarray(Image.fromarray(data[i].astype(np.float32)).resize(image.size)) > 0.5
        assert ours >= 0.9, (asset, i, ours)
        assert ours > _iou_masks(stretched, truth)
        assert masks.from_letterbox(data[i], image.size[::-1]).sum() == det.mask.sum()


def _iou_masks(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


# ---- downloads: offline gives a clear error


def test_offline_download_is_a_clear_error(tmp_path, monkeypatch, ultralytics):
    pytest.importorskip("huggingface_hub")
    from lib_enhance.detect import DetectorRegistry, ModelDownloadError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reg = DetectorRegistry([tmp_path / "enhance"], hf_cache=tmp_path / "hub",
                           downloads=("face_yolov8s.pt",))  # fmt: skip
    with pytest.raises(ModelDownloadError) as err:
        reg.get("face_yolov8s.pt")
    text = str(err.value)
    assert "face_yolov8s.pt" in text and str(tmp_path / "enhance") in text
