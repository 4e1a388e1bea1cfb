"""The "Folder batch" buttons, on the test host: one first, run, status, resume, user errors."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from lib_enhance.batch.service import BatchService
from lib_enhance.testing import TestHost
from lib_enhance.webui.folder_batch import FolderBatchActions

SETTINGS = {"hires": {"enabled": True, "upscaler": "Lanczos", "scale": 2.0}}


def folder(tmp_path: Path, n: int = 2) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(n):
        Image.new("RGB", (64, 48), (40 * i, 80, 120)).save(src / f"img{i}.png")
    return src


def test_process_one_shows_before_after_and_scores(tmp_path):
    actions = FolderBatchActions(lambda: BatchService(host=TestHost))
    images, text = actions.process_one(str(folder(tmp_path)), str(tmp_path / "out"), SETTINGS)
    before, after = (Image.open(p) for p in images)
    assert before.size == (64, 48) and after.size == (128, 96)
    assert "verdict" in text


def test_run_then_status_reports_the_finished_batch(tmp_path):
    service = BatchService(host=TestHost)
    actions = FolderBatchActions(lambda: service)
    assert actions.status("")[1] == "No batch started from this page yet."
    _, text, job = actions.run(str(folder(tmp_path)), str(tmp_path / "out"), SETTINGS, "")
    assert "started" in text and job
    service.wait(job, timeout=60)
    _, text = actions.status(job)
    assert "finished: " in text and "review.html" in text and "ETA" not in text
    assert actions.status("")[1] == "No batch started from this page yet."  # another session
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


def test_user_errors_become_status_text_not_tracebacks(tmp_path):
    actions = FolderBatchActions(lambda: BatchService(host=TestHost))
    src = folder(tmp_path)
    _, text, job = actions.run(str(src), str(src / "out"), SETTINGS, "old")  # inside the input
    assert text.startswith("Not started:") and "inside" in text and job == "old"
    assert not (src / "out").exists()
    _, text, _ = actions.run(str(src), str(tmp_path / "o"), {"hires": {"denosie": 0.3}}, "")
    assert "hires.denosie" in text and "did you mean 'denoise'" in text
    images, text = actions.process_one(str(tmp_path / "missing"), str(tmp_path / "o2"), {})
    assert images == [] and text.startswith("Not run:")
