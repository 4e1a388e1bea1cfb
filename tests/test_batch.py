"""Folder batch: stage-by-stage swaps, resume after a kill at any point, bad files, write errors."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from lib_enhance.batch import manifest
from lib_enhance.batch import run as batch
from lib_enhance.qa import calibration as cal
from lib_enhance.spec import config, infotext
from lib_enhance.testing import StaticRegistry, TestHost

N = 6
CONFIG = {
    "hires": {"enabled": True, "scale": 2.0, "upscaler": "Lanczos", "checkpoint": "B [bbbb2222]"},
    "detail": [{"model": config.BUILTIN_FACE, "checkpoint": "C [cccc3333]", "inpaint_size": 256}],
}


class KilledHost(TestHost):
    """A host whose process "dies" (KeyboardInterrupt) when asked for call number `kill_at`."""

    __test__ = False

    def __init__(self, kill_at: int, **kw):
        super().__init__(**kw)
        self.kill_at = kill_at

    def img2img(self, settings, items):
        if len(self.calls) + 1 >= self.kill_at:
            raise KeyboardInterrupt("killed")
        return super().img2img(settings, items)


def _params(i: int) -> str:
    return (
        f"photo number {i}\nNegative prompt: blurry\n"
        f"Steps: 12, Sampler: Euler a, CFG scale: 6.5, Seed: {1000 + i}, Size: 64x64"
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    photo = cal.resize(cal.load_source("astronaut"), 64, 64)
    for i in range(N):
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", _params(i))
        Image.fromarray(np.roll(photo, 9 * i, axis=1)).save(src / f"img{i}.png", pnginfo=info)
    return src


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _run(host, src, out, cfg=CONFIG, **kw):
    return batch.run_batch(host, src, out, cfg, detectors=StaticRegistry(), **kw)


def _calls(*hosts: TestHost) -> Counter:
    """(stage label, image prompt) → completed host calls it was in, over all runs."""
    return Counter((c.label, prompt) for h in hosts for c in h.calls for prompt in c.prompts)


@pytest.fixture(autouse=True)
def groups_of_two(monkeypatch):
    """Images go through a stage two at a time here (3 groups of N = 6): a kill or an
    interrupt can land between groups, and every call holds two images."""
    monkeypatch.setattr(batch, "IMAGES_AT_ONCE", 2)


def _manifest(out: Path) -> dict:
    return json.loads((out / manifest.MANIFEST_NAME).read_text())


def test_each_checkpoint_loads_once_per_stage_and_outputs_keep_png_info(folder, tmp_path):
    before = _snapshot(folder)
    host = TestHost()
    result = _run(host, folder, tmp_path / "out")
    assert host.loads == 3 and result.checkpoint_loads == 3
    assert [c for c, _ in host.switcher.history] == ["B [bbbb2222]", "C [cccc3333]", ""]
    assert host.calls_by_label() == {"hires": N // 2, "detail 1": N // 2}
    assert [c.batch_size for c in host.calls] == [2] * N  # two images per call
    assert result.host_calls == {"hires": N // 2, "detail 1": N // 2}
    assert _snapshot(folder) == before  # nothing written into the input
    for i in range(N):
        out = Image.open(tmp_path / "out" / f"img{i}.png")
        assert out.size == (128, 128)
        params = out.info["parameters"]
        assert params.startswith(_params(i))
        record = infotext.summary(params)
        assert record["config"]["hires"]["checkpoint"] == "B [bbbb2222]"
        assert infotext.status_of(record["stages"]["hires"]) == "ok"
    data = _manifest(tmp_path / "out")
    assert all(r["status"] == "done" and r["scores"] for r in data["images"].values())
    assert not list((tmp_path / "out" / manifest.WORK_DIR).iterdir())  # intermediates cleaned
    assert result.review and result.review.exists()


def test_the_job_comes_from_the_png_info(folder, tmp_path):
    host = TestHost()
    _run(host, folder, tmp_path / "out")
    hires = [c for c in host.calls if c.label == "hires"]
    assert hires[0].prompts == ["photo number 0", "photo number 1"]
    assert hires[0].seeds == [1000, 1001] and hires[0].steps == 12


def test_a_group_shares_one_call_per_stage_with_the_same_results(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "IMAGES_AT_ONCE", 8)
    host = TestHost()
    _run(host, folder, tmp_path / "all")
    assert [(c.label, c.batch_size) for c in host.calls] == [("hires", N), ("detail 1", N)]
    monkeypatch.setattr(batch, "IMAGES_AT_ONCE", 1)
    _run(TestHost(), folder, tmp_path / "one")
    for i in range(N):
        together = np.asarray(Image.open(tmp_path / "all" / f"img{i}.png"))
        alone = np.asarray(Image.open(tmp_path / "one" / f"img{i}.png"))
        assert np.array_equal(together, alone)


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4, 5, 6])
def test_killed_at_any_host_call_then_resumed_does_every_image_exactly_once(
    folder, tmp_path, kill_at
):
    out = tmp_path / "out"
    first = KilledHost(kill_at)
    with pytest.raises(KeyboardInterrupt):
        _run(first, folder, out)
    second = TestHost()
    result = _run(second, folder, out, cfg=None)  # Resume: settings from the manifest
    calls = _calls(first, second)
    assert set(calls.values()) == {1}, calls
    assert len(calls) == 2 * N
    assert result.totals["done"] == N
    # the resumed run only loaded the checkpoints of the stages it still had to do
    assert second.loads <= 3


def test_killed_while_writing_files_then_resumed(folder, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_replace = os.replace
    count = {"n": 0}

    def dying_replace(a, b):
        count["n"] += 1
        if count["n"] == 9:
            raise KeyboardInterrupt("killed during a write")
        return real_replace(a, b)

    monkeypatch.setattr(manifest.os, "replace", dying_replace)
    first = TestHost()
    with pytest.raises(KeyboardInterrupt):
        _run(first, folder, out)
    monkeypatch.setattr(manifest.os, "replace", real_replace)
    persisted = {
        (stage, r["source"]) for r in _manifest(out)["images"].values() for stage in r["stages"]
    }
    second = TestHost()
    _run(second, folder, out, cfg=None)
    redone = {(c.label, f"img{c.prompts[0].split()[-1]}.png") for c in second.calls}
    assert not persisted & redone  # finished stages are never redone
    assert not list(out.rglob("*.tmp"))  # no half-written file left behind
    assert all(r["status"] == "done" for r in _manifest(out)["images"].values())
    for i in range(N):
        Image.open(out / f"img{i}.png").load()


def test_interrupt_stops_the_batch_and_resume_finishes_it(folder, tmp_path):
    out = tmp_path / "out"
    first = TestHost(interrupt_after=4)
    result = _run(first, folder, out)
    assert result.stopped and result.totals["done"] == 0
    second = TestHost()
    result = _run(second, folder, out, cfg=None)
    assert not result.stopped and result.totals["done"] == N
    assert set(_calls(first, second).values()) == {1}


def test_a_corrupt_file_and_a_text_file_are_skipped_with_a_reason(folder, tmp_path, caplog):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "notes.txt").write_text("not an image")
    caplog.set_level(logging.INFO, logger="enhance")
    result = _run(TestHost(), folder, tmp_path / "out")
    images = _manifest(tmp_path / "out")["images"]
    assert images["broken.png"]["status"] == "skipped"
    assert "unreadable image" in images["broken.png"]["reason"]
    assert images["notes.txt"]["reason"] == "not an image file (.txt)"
    assert result.totals == {**result.totals, "done": N, "skipped": 2, "images": N}
    assert "skipped broken.png" in caplog.text and "skipped notes.txt" in caplog.text


@pytest.mark.parametrize("inside", [".", "sub", "sub/deeper"])
def test_an_output_folder_inside_the_input_is_refused(folder, inside):
    out = folder / inside
    before = _snapshot(folder)
    with pytest.raises(batch.BatchError, match="inside the input folder"):
        _run(TestHost(), folder, out)
    assert _snapshot(folder) == before
    assert not (folder / "sub").exists()


@pytest.mark.parametrize(
    "code, words", [(errno.ENOSPC, "disk is full"), (errno.EACCES, "permission denied")]
)
def test_a_write_error_is_clear_and_leaves_nothing_half_written(
    folder, tmp_path, monkeypatch, code, words
):
    out = tmp_path / "out"
    real_fsync = os.fsync
    state = {"armed": False}

    def failing_fsync(fd):
        if state["armed"] and os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
            if name.startswith(".img") and manifest.WORK_DIR not in os.readlink(
                f"/proc/self/fd/{fd}"
            ):
                raise OSError(code, os.strerror(code))
        return real_fsync(fd)

    state["armed"] = True
    monkeypatch.setattr(manifest.os, "fsync", failing_fsync)
    with pytest.raises(manifest.WriteError) as info:
        _run(TestHost(), folder, out)
    assert words in str(info.value) and "img0.png" in str(info.value)
    assert not list(out.rglob("*.tmp"))
    assert not (out / "img0.png").exists()
    data = _manifest(out)  # still valid JSON, at its last consistent state
    assert data["images"]["img0.png"]["status"] == "running"
    monkeypatch.setattr(manifest.os, "fsync", real_fsync)
    host = TestHost()
    result = _run(host, folder, out, cfg=None)  # space freed: Resume finishes, no stage redone
    assert result.totals["done"] == N and host.calls == []


def test_changed_settings_are_refused_and_an_empty_folder_has_nothing_to_resume(folder, tmp_path):
    out = tmp_path / "out"
    _run(TestHost(), folder, out)
    other = {**CONFIG, "hires": {**CONFIG["hires"], "denoise": 0.5}}
    with pytest.raises(batch.BatchError, match="other settings"):
        _run(TestHost(), folder, out, cfg=other)
    with pytest.raises(batch.BatchError, match="nothing to resume"):
        _run(TestHost(), folder, tmp_path / "empty", cfg=None)


def test_a_failed_stage_keeps_the_previous_image_flags_it_and_is_not_retried(folder, tmp_path):
    out = tmp_path / "out"
    result = _run(TestHost(fail_labels=("detail",)), folder, out)
    assert result.totals["done"] == N and result.totals["flagged"] == N
    assert len(result.errors) == N and "sampler crashed" in result.errors[0]
    record = _manifest(out)["images"]["img0.png"]
    assert record["stages"]["detail 1"]["status"] == "failed"
    assert Image.open(out / "img0.png").size == (128, 128)  # the hires result
    again = TestHost()
    _run(again, folder, out, cfg=None)
    assert again.calls == []


def test_a_changed_input_file_is_done_again(folder, tmp_path):
    out = tmp_path / "out"
    _run(TestHost(), folder, out)
    Image.new("RGB", (64, 64), (200, 10, 10)).save(folder / "img2.png")
    host = TestHost()
    _run(host, folder, out, cfg=None)
    assert host.calls_by_label() == {"hires": 1, "detail 1": 1}


def test_progress_says_image_i_of_n_stage_and_eta(folder, tmp_path):
    seen: list[batch.BatchProgress] = []
    host = TestHost()
    _run(host, folder, tmp_path / "out", progress=seen.append)
    assert [(p.stage, p.index, p.total) for p in seen[:2]] == [("hires", 1, N), ("hires", 2, N)]
    assert seen[-1].stage == "detail 1" and seen[-1].index == N
    assert seen[0].eta_seconds is None and seen[-1].eta_seconds is not None
    assert "image 2/6 img1.png" in seen[1].text
    ours = [entry for entry in host.progress_log if entry[0].startswith("Enhance batch")]
    assert [done for _, done, _ in ours] == sorted(done for _, done, _ in ours)
    assert ours[-1][1:] == (3 * N, 3 * N)  # 2 stages + finishing, per image


def test_process_one_first_runs_the_whole_pipeline_on_one_image(folder, tmp_path):
    host = TestHost()
    one = batch.process_one(host, folder, tmp_path / "out", CONFIG, detectors=StaticRegistry())
    assert one.name == "img0.png" and one.after.exists()
    assert Image.open(one.after).size == (128, 128)
    assert one.qa and one.qa["verdict"] in ("ok", "review")
    assert [r["status"] for r in one.records] == ["ok", "ok"]
    assert not (tmp_path / "out" / manifest.MANIFEST_NAME).exists()  # the batch is untouched


def test_parse_parameters_reads_a1111_infotext():
    parsed = batch.parse_parameters(
        'a cat, "quoted"\nline two\nNegative prompt: ugly\n'
        "Steps: 30, Sampler: DPM++ 2M, CFG scale: 5, Seed: 42, "
        'Lora hashes: "a: 1, b: 2", Size: 512x768'
    )
    assert parsed["prompt"] == 'a cat, "quoted"\nline two'
    assert parsed["negative"] == "ugly"
    assert parsed["params"]["Seed"] == "42" and parsed["params"]["Lora hashes"] == "a: 1, b: 2"


def test_two_copies_of_one_image_are_two_images(folder, tmp_path):
    """Same content, two names: each keeps its own intermediates (finishing one never deletes
    the other's work file)."""
    (folder / "copy.png").write_bytes((folder / "img0.png").read_bytes())
    result = _run(TestHost(), folder, tmp_path / "out")
    assert result.totals["done"] == N + 1 and not result.errors
    out = tmp_path / "out"
    assert np.array_equal(np.asarray(Image.open(out / "copy.png")),
                          np.asarray(Image.open(out / "img0.png")))  # fmt: skip
