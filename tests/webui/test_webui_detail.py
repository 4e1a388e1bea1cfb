"""Detail passes through the stand-in hosts: every region of a pass in ONE nested job, each
with its own latent mask (the context held at every step, as the host's "inpaint only
masked" holds it), masked content that has an effect, and failures told to the user."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lib_enhance.geometry.detection import Detection
from lib_enhance.spec import config as cfgmod
from lib_enhance.testing import StaticRegistry

BOXES = ((8, 8, 28, 30), (60, 10, 84, 34))


class TwoFaces:
    name = cfgmod.BUILTIN_FACE

    def detect(self, image, confidence=0.0, classes=()):
        return [Detection(box, 0.9, "face") for box in BOXES]


def _photo() -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 255, (48, 96, 3), dtype=np.uint8))


def _run(webui, monkeypatch, **pass_cfg):
    """img2img of a textured image with one detail pass over two regions; returns the
    processed result and, per nested call, (items sent, images the host returned)."""
    from lib_enhance.webui import host_adapter

    script = webui.enhance_script(img2img=True)
    script.controller.detectors = lambda: StaticRegistry({cfgmod.BUILTIN_FACE: TwoFaces()})
    seen = []
    real = host_adapter.WebUIHost._run

    def spy(self, settings, items):
        out = real(self, settings, items)
        seen.append((list(items), out))
        return out

    monkeypatch.setattr(host_adapter.WebUIHost, "_run", spy)
    config = {"detail": [{"inpaint_size": 256, "mask_blur": 2, "padding": 8, **pass_cfg}]}
    _p, processed = webui.img2img([True, config], _photo(), denoising_strength=0.0)
    return processed, seen


def test_all_regions_in_one_job_each_with_its_own_latent_mask(webui, monkeypatch):
    _processed, seen = _run(webui, monkeypatch)
    assert webui.errors.REPORTS == []
    (inner,) = webui.inner_calls()
    assert inner["batch"] == 2 and inner["masked"] and inner["latent_mask_rows"] == 2
    ((items, outputs),) = seen
    for item, out in zip(items, outputs, strict=True):
        redraw = np.asarray(item.mask) > 127  # the host rounds the latent mask at 0.5
        before, after = np.asarray(item.image), np.asarray(out)
        assert redraw.any() and (~redraw).any()
        # the context is held at every step: outside its own mask, nothing changed …
        assert np.array_equal(before[~redraw], after[~redraw])
        # … and inside, the region was redrawn
        assert (before[redraw] != after[redraw]).any()
    masks = [np.asarray(it.mask) for it in items]
    assert not np.array_equal(masks[0], masks[1])  # two masks, not one for the batch


@pytest.mark.parametrize("content", ["fill", "latent noise", "latent nothing"])
def test_masked_content_changes_only_what_the_region_starts_from(webui, monkeypatch, content):
    _, base = _run(webui, monkeypatch)
    webui.processing.CALLS.clear()
    processed, other = _run(webui, monkeypatch, masked_content=content)
    (items, original), (_, changed) = base[0], other[0]
    for item, a, b in zip(items, original, changed, strict=True):
        redraw = np.asarray(item.mask) > 127
        a, b = np.asarray(a), np.asarray(b)
        assert np.array_equal(a[~redraw], b[~redraw])  # context held either way
        assert (a[redraw] != b[redraw]).any()  # the region started from something else
    line = processed.infotexts[0]
    assert f"Enhance detail 1 masked content: {content}" in line


def test_a_detector_that_cannot_be_loaded_is_told_and_the_image_kept(webui, caplog):
    """A model file that does not load: the user keeps the image and is told where they look."""
    models = webui.root / "models" / "enhance"
    models.mkdir(parents=True, exist_ok=True)
    (models / "broken_face.pt").write_bytes(b"not a checkpoint")
    webui.shared.opts.data.pop("enhance_models_dir", None)
    from lib_enhance.webui import host_adapter

    host_adapter._REGISTRY = None  # list the folder again
    config = {"detail": [{"model": "broken_face.pt"}]}
    _p, processed = webui.txt2img([True, config])
    assert webui.inner_calls() == []
    first_pass = webui.processing.first_pass(1000, (64, 48))
    assert processed.images[0].convert("RGB").tobytes() == first_pass.tobytes()  # the image kept
    # under the result (the host's comments), in the infotext, and on the console
    assert "Enhance: detail 1 failed" in processed.comments
    assert "broken_face.pt" in processed.comments
    assert "broken_face.pt" in processed.infotexts[0].split("Enhance warnings: ")[1]
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("detail 1" in m and "broken_face.pt" in m for m in logged)
