"""YOLO detectors under each host's torch.load rules, with real ultralytics models (yolo venv).

A default install refuses YOLO files one of two ways, and the stand-ins reproduce both:
- A1111 replaces `torch.load` with its checker (`modules.safe`): ultralytics classes are
  forbidden and so are the zip entries recent torch writes; it prints "Error verifying pickled
  file from …" and returns None;
- torch ≥ 2.6 (Neo, Classic, reForge; this venv's real torch 2.14) loads with
  `weights_only=True` unless told otherwise. Recent ultralytics says `weights_only=False`
  itself; 8.x releases before that call plain `torch.load` (`OLD_ULTRALYTICS`).
The models: the tiny detector trained on ellipses (tests/fixtures), and randomly initialised
yolov8n / yolov8n-seg saved by ultralytics under the names of ADetailer's usual files — real
checkpoints with the real pickled classes and zip layout.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.yolo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = FIXTURES / "tiny_ellipses.pt"
sys.path.insert(0, str(FIXTURES))

from yolo_env import offline_ultralytics  # noqa: E402

USUAL = {"face_yolov8n.pt": "yolov8n.yaml", "hand_yolov8n.pt": "yolov8n.yaml",
         "person_yolov8n-seg.pt": "yolov8n-seg.yaml"}  # fmt: skip


@pytest.fixture(scope="module")
def ultralytics(tmp_path_factory):
    offline_ultralytics(tmp_path_factory.mktemp("yolo-config"))
    return pytest.importorskip("ultralytics")


@pytest.fixture(scope="module")
def model_files(ultralytics, tmp_path_factory) -> Path:
    """ADetailer's folder as users have it: the usual three files, plus the tiny detector."""
    folder = tmp_path_factory.mktemp("saved") / "adetailer"
    folder.mkdir()
    for name, yaml in USUAL.items():
        ultralytics.YOLO(yaml).save(str(folder / name))
    shutil.copyfile(TINY, folder / TINY.name)
    return folder


@pytest.fixture(params=["ultralytics passes weights_only=False", "OLD_ULTRALYTICS"])
def ultralytics_load(request, ultralytics, monkeypatch):
    """Recent ultralytics (8.4) passes weights_only=False; older 8.x called torch.load bare."""
    if request.param == "OLD_ULTRALYTICS":
        import torch
        from ultralytics.nn import tasks

        monkeypatch.setattr(tasks, "torch_load", lambda *a, **k: torch.load(*a, **k))
    return request.param


@pytest.fixture
def models(webui, model_files, monkeypatch) -> Path:
    """The host's models/adetailer holding the files; no HF cache of this machine counts."""
    monkeypatch.setenv("HF_HUB_CACHE", str(webui.root / "hf"))
    folder = Path(webui.root) / "models" / "adetailer"
    shutil.copytree(model_files, folder)
    return folder


def test_the_stand_ins_refuse_yolo_files_as_the_hosts_do(webui, models, ultralytics):
    """Without an allowance: A1111's checker returns None with its message; torch ≥ 2.6
    raises its weights-only error; Forge main's torch 2.3 loads anything."""
    import torch

    path = str(models / "face_yolov8n.pt")
    if webui.host.torch_load_checker:
        assert torch.load(path, weights_only=False) is None
        assert "Error verifying pickled file from" in webui.errors.REPORTS[-1]
    elif webui.host.torch_weights_only_default:
        with pytest.raises(Exception, match=r"[Ww]eights only load failed"):
            torch.load(path)
    else:
        assert isinstance(torch.load(path), dict)


def test_the_usual_files_load_on_every_host(webui, models, ultralytics_load, caplog):
    from lib_enhance.webui import host_adapter

    registry = host_adapter.detector_registry()
    caplog.set_level("WARNING", logger="enhance")
    tasks = {name: registry.get(name).task for name in USUAL}
    assert tasks == {"face_yolov8n.pt": "detect", "hand_yolov8n.pt": "detect",
                     "person_yolov8n-seg.pt": "segment"}  # fmt: skip
    assert webui.errors.REPORTS == []
    lines = [r.getMessage() for r in caplog.records if "is a pickle" in r.getMessage()]
    assert len(lines) == 3 and all(any(n in line for line in lines) for n in USUAL)
    _the_host_is_as_it_was(webui)


def test_a_detail_pass_finds_regions_with_a_listed_model(webui, models, ultralytics_load):
    """The whole path: img2img on the host, Enhance's detail pass, the tiny detector behind
    the host's torch.load rules finds the two red ellipses and both go to the sampler as one
    batched job."""
    from test_detect_yolo import ELLIPSES, ellipse_scene

    reds = [e for e in ELLIPSES if e[0] == "red"]
    config = {"detail": [{"model": TINY.name, "confidence": 0.5, "classes": "red",
                          "denoise": 0.4}]}  # fmt: skip
    webui.img2img([True, config], ellipse_scene(reds), denoising_strength=0.0)
    assert webui.errors.REPORTS == []
    assert [c["batch"] for c in webui.inner_calls()] == [len(reds)]


def test_a_file_naming_anything_else_is_refused_before_it_runs(webui, models, tmp_path):
    """A .pt in the detector folder that names os.system: refused on every host, never run."""
    import torch

    from lib_enhance.detect import ModelLoadError
    from lib_enhance.webui import host_adapter

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    torch.save({"model": Payload()}, models / "evil.pt")
    registry = host_adapter.detector_registry()
    registry.refresh()
    with pytest.raises(ModelLoadError, match=r"evil\.pt.*system"):
        registry.get("evil.pt")
    assert not marker.exists()
    _the_host_is_as_it_was(webui)


def test_a_name_not_in_the_list_is_never_opened(webui, models):
    from lib_enhance.detect import UnknownDetectorError
    from lib_enhance.webui import host_adapter

    with pytest.raises(UnknownDetectorError):
        host_adapter.detector_registry().get(str(models / "face_yolov8n.pt"))


def _the_host_is_as_it_was(webui) -> None:
    """torch.load is the host's again; A1111's checker still refuses an unlisted YOLO file."""
    import torch
    from modules import safe

    if webui.host.torch_load_checker:
        assert torch.load is safe.load and safe.global_extra_handler is None
        assert not safe.allowed_zip_names_re.match("archive/.format_version")
        assert torch.load(str(TINY), weights_only=False) is None
    else:
        assert torch.load is safe.unsafe_torch_load
