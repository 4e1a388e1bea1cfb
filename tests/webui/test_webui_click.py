"""A Generate click on the stand-in hosts, enhanced as a whole: Interrupt keeps every image
(saved), out of memory retries smaller with the same images, a hires target past the VRAM
budget runs tiled. The click of batch 2 × count 2 itself: test_webui_txt2img.py."""

from __future__ import annotations

HIRES = {"hires": {"enabled": True, "upscaler": "R-ESRGAN 4x+", "scale": 2.0, "denoise": 0.35,
                   "checkpoint": "other.safetensors"}}  # fmt: skip


def record(info: str) -> dict:
    from modules import infotext_utils

    from lib_enhance.spec import infotext

    return infotext.summary(infotext_utils.parse_generation_parameters(info))


def samples(webui) -> list[dict]:
    return [s for s in webui.images.SAVED if not s["grid"] and s["suffix"] == ""]


def interrupt_when(webui, monkeypatch, when) -> None:
    """The user presses Interrupt in the sampler step of the job `when(p)` picks."""
    soft = next(s for s in webui.scripts.scripts_txt2img.alwayson_scripts
                if s.title() == "SoftRec")  # fmt: skip
    state = webui.shared.state
    monkeypatch.setattr(type(soft), "process_before_every_sampling",
                        lambda self, p, *a, **k: when(p) and state.interrupt(),
                        raising=False)  # fmt: skip


def test_interrupt_in_enhance_keeps_every_image_saved(webui, monkeypatch):
    """Out of memory splits the hires pass into one image per call; Interrupt comes during
    the second image's: the first is saved enhanced, the second as the host made it."""
    webui.processing.OOM["batch"] = 1
    interrupt_when(webui, monkeypatch, lambda p: getattr(p, "_enhance_inner", False)
                   and p.seeds == [1001])  # fmt: skip
    _p, processed = webui.txt2img([True, HIRES], n_iter=2)
    assert webui.errors.REPORTS == []
    saved = samples(webui)
    assert [s["size"] for s in saved] == [(128, 96), (64, 48)]
    first, second = (record(s["info"]) for s in saved)
    assert first["stages"]["hires"].startswith("R-ESRGAN 4x+ → 128×96")
    assert "hires was interrupted" in second["warnings"] and "Seed: 1001," in saved[1]["info"]
    assert [im.size for im in processed.images[1:]] == [(128, 96), (64, 48)]
    assert webui.loaded_title() == webui.title("base.safetensors")
    from modules import devices

    assert devices.GC == ["torch_gc"]  # the cache given back after the out-of-memory error


def test_interrupt_in_the_hosts_loop_keeps_the_images_made_before_it(webui, monkeypatch):
    """Interrupt during the second batch: the first batch's images are saved as made (no stage
    starts, no checkpoint is loaded), the cut-short one is not (the host's rule)."""
    interrupt_when(webui, monkeypatch, lambda p: not getattr(p, "_enhance_inner", False)
                   and p.iteration == 1)  # fmt: skip
    _p, processed = webui.txt2img([True, HIRES], batch_size=2, n_iter=2)
    assert webui.errors.REPORTS == [] and webui.inner_calls() == []
    saved = samples(webui)
    assert [s["size"] for s in saved] == [(64, 48)] * 2
    assert ["Seed: 1000," in saved[0]["info"], "Seed: 1001," in saved[1]["info"]] == [True] * 2
    assert all("hires was interrupted" in record(s["info"])["warnings"] for s in saved)
    assert len(processed.images) == 5  # the grid, then all four as the host made them
    loads = webui.sd_models.LOADS
    assert loads == ([webui.title("base.safetensors")] if webui.forge else [])  # none by us


def test_out_of_memory_at_batch_4_finishes_at_batch_2_with_the_same_images(webui):
    _p, plain = webui.txt2img([True, HIRES], batch_size=2, n_iter=2)
    assert [c["batch"] for c in webui.inner_calls()] == [4]
    webui.processing.CALLS.clear()
    del webui.sd_models.LOADS[:]
    webui.processing.OOM["batch"] = 2
    _p, tight = webui.txt2img([True, HIRES], batch_size=2, n_iter=2)
    assert webui.errors.REPORTS == []
    assert [c["batch"] for c in webui.inner_calls()] == [2, 2]
    assert [im.tobytes() for im in tight.images] == [im.tobytes() for im in plain.images]
    assert tight.infotexts == plain.infotexts
    loads = webui.sd_models.LOADS
    assert loads == [webui.title("other.safetensors"), webui.title("base.safetensors")]


def test_a_hires_target_past_the_vram_budget_runs_tiled(webui):
    webui.shared.opts.data["enhance_vram_budget"] = 0.3  # GB: ≈ 105 k pixels per call
    _p, processed = webui.txt2img([True, HIRES], width=256, height=192)
    assert webui.errors.REPORTS == []
    assert processed.images[0].size == (512, 384)
    inner = webui.inner_calls()
    assert len(inner) > 1 and all(c["batch"] == 1 for c in inner)
    assert all(w * h <= 0.3 * 2**30 / 3072 for w, h in (c["size"] for c in inner))
    line = record(processed.infotexts[0])
    assert "via tiles" in line["stages"]["hires"] and "over the VRAM budget" in line["warnings"]
    assert "over the VRAM budget" in processed.comments


def test_skip_in_the_last_batch_skips_that_batch_only(webui, monkeypatch):
    """Skip during the last batch was for that batch: the images before it are enhanced and
    saved; the skipped one is kept in the gallery as made, unsaved (the host's rule)."""
    soft = next(s for s in webui.scripts.scripts_txt2img.alwayson_scripts
                if s.title() == "SoftRec")  # fmt: skip
    state = webui.shared.state
    monkeypatch.setattr(type(soft), "process_before_every_sampling",
                        lambda self, p, *a, **k: not getattr(p, "_enhance_inner", False)
                        and p.iteration == 1 and state.skip(), raising=False)  # fmt: skip
    _p, processed = webui.txt2img([True, HIRES], n_iter=2)
    assert [s["size"] for s in samples(webui)] == [(128, 96)]
    assert [im.size for im in processed.images[1:]] == [(128, 96), (64, 48)]
    assert "cut short by Interrupt or Skip" in record(processed.infotexts[2])["warnings"]


def test_the_regions_of_every_image_of_a_click_share_one_call(webui):
    """Batch count 2: both images' faces in one nested job, each with its own latent mask."""
    from test_webui_detail import TwoFaces

    from lib_enhance.spec import config as cfgmod
    from lib_enhance.testing import StaticRegistry

    script = webui.enhance_script()
    script.controller.detectors = lambda: StaticRegistry({cfgmod.BUILTIN_FACE: TwoFaces()})
    config = {"detail": [{"inpaint_size": 256, "mask_blur": 2, "padding": 8}]}
    _p, processed = webui.txt2img([True, config], n_iter=2, width=96, height=48)
    assert webui.errors.REPORTS == []
    (inner,) = webui.inner_calls()
    assert inner["batch"] == 4 and inner["latent_mask_rows"] == 4
    assert inner["seeds"] == [1000, 1001, 1001, 1002]  # each image's seed + region index
    assert all(" 2 regions" in record(t)["stages"]["detail 1"] for t in processed.infotexts[1:])
