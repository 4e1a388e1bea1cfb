"""txt2img through the stand-in hosts: hires with a checkpoint swap, batches, the host's
own Hires.fix for latent upscalers, and what is left on the host afterwards."""

from __future__ import annotations

import pytest
from PIL import Image

HIRES = {"hires": {"enabled": True, "upscaler": "R-ESRGAN 4x+", "scale": 2.0, "denoise": 0.35,
                   "checkpoint": "other.safetensors"}}  # fmt: skip


def enhance_record(info: str) -> dict:
    """What Enhance wrote into an infotext: settings, one line per stage, warnings."""
    from modules import infotext_utils

    from lib_enhance.spec import infotext

    return infotext.summary(infotext_utils.parse_generation_parameters(info))


def status(line: str) -> str:
    from lib_enhance.spec import infotext

    return infotext.status_of(line)


def expected_hires(webui, seed: int, size: tuple[int, int], code: int) -> Image.Image:
    """What the stand-in gives for one image: first pass → R-ESRGAN ×2 → img2img on `code`."""
    from modules import processing, shared
    from modules.upscaler import FakeESRGAN

    first = Image.new("RGB", size, ((seed * 7) % 256, (seed * 13) % 256, 60))
    up = FakeESRGAN().upscale(first, 2.0, None)
    model = shared.sd_model
    saved = model.code
    model.code = code
    try:
        return processing.diffuse(up, seed, 0.35, up.size)
    finally:
        model.code = saved


def test_a_click_of_batch_2_by_count_2_with_a_hires_checkpoint(webui):
    """Done-when of issue 11: at most 2 loads, one hires sampler call for the click, 4 enhanced
    files each with its own infotext and seed, the grid of them, the user's checkpoint active."""
    from PIL import Image as PILImage

    p, processed = webui.txt2img([True, HIRES], batch_size=2, n_iter=2, styles=["sty"])
    base, other = webui.title("base.safetensors"), webui.title("other.safetensors")

    assert webui.errors.REPORTS == []
    assert len(processed.images) == 5 and processed.index_of_first_image == 1  # grid first
    images = processed.images[1:]
    seeds = [1000, 1001, 1002, 1003]
    assert p.all_seeds == seeds
    for image, seed in zip(images, seeds, strict=True):
        assert image.tobytes() == expected_hires(webui, seed, (64, 48), 120).tobytes()

    (inner,) = webui.inner_calls()  # the whole click's hires pass in one sampler call
    assert inner["seeds"] == seeds and inner["checkpoint"] == other
    assert inner["prompts"] == ["a cat, sty"] * 4  # styles applied exactly once
    assert inner["styles"] == [] and inner["do_not_save_samples"]
    assert inner["restore_faces"] is False and inner["fresh_cond_cache"]
    assert inner["override_settings"]["overlay_inpaint"] is True
    assert inner["scripts"] == ["SoftRec"]  # never Enhance, never OtherRec

    # two loads for the click (B, then the user's back), the user's checkpoint left active
    loads = webui.sd_models.LOADS
    assert loads == ([base] if webui.forge else []) + [other, base]
    assert webui.loaded_title() == base
    assert webui.shared.opts.data["sd_model_checkpoint"] == base

    # the host saved the enhanced images (not the base ones), each with its own infotext
    samples = [s for s in webui.images.SAVED if not s["grid"]]
    assert [s["suffix"] for s in samples] == [""] * 4
    for entry, image, seed in zip(samples, images, seeds, strict=True):
        on_disk = PILImage.open(entry["path"])
        assert on_disk.tobytes() == image.tobytes() and on_disk.size == (128, 96)
        assert on_disk.info["parameters"] == entry["info"]
        assert f"Seed: {seed}," in entry["info"] and "pending-" not in entry["info"]
        record = enhance_record(entry["info"])
        assert record["config"]["hires"]["checkpoint"] == "other.safetensors"
        hires = record["stages"]["hires"]
        assert status(hires) == "ok" and "other.safetensors [" in hires
        assert other.split("[")[1].rstrip("]") in hires  # the hash of what was loaded
        assert hires.startswith("R-ESRGAN 4x+ → ")
    assert processed.infotexts[1:] == [s["info"] for s in samples]
    assert images[0].info["parameters"] == samples[0]["info"]
    (grid,) = [s for s in webui.images.SAVED if s["grid"]]  # the grid shows them
    assert grid["size"] == (4 * 128, 96) and grid["info"] == samples[0]["info"]
    assert processed.images[0].size == (4 * 128, 96)
    assert "pending-" not in processed.js()

    # our own state is gone and p is as the user made it
    assert webui.enhance_script().controller.runs == {}
    assert "Enhance" not in p.extra_generation_params


def test_params_txt_keeps_the_users_job(webui):
    webui.txt2img([True, HIRES])
    text = (webui.root / "params.txt").read_text()
    assert text.startswith("a cat") and "Size: 64x48" in text


def test_progress_and_textinfo(webui):
    webui.txt2img([True, HIRES])
    state = webui.shared.state
    assert any(t.startswith("Enhance: upscaling with R-ESRGAN 4x+") for t in state.textinfo_log)
    assert any(t.startswith("Enhance: hires") for t in state.textinfo_log)


@pytest.mark.parametrize("extra", [{}, {"checkpoint": "other.safetensors"}])
def test_latent_upscaler_drives_the_hosts_hires_fix(webui, extra):
    config = {"hires": {"enabled": True, "upscaler": "Latent", "scale": 1.5, "denoise": 0.55,
                        **extra}}  # fmt: skip
    p, processed = webui.txt2img([True, config])
    assert webui.errors.REPORTS == []
    hires = [c for c in webui.processing.CALLS if c["kind"] == "hires"]
    assert len(hires) == 1 and webui.inner_calls() == []
    assert hires[0]["size"] == (96, 72) and hires[0]["steps"] == 18
    assert hires[0]["denoise"] == 0.55
    want = webui.title(extra.get("checkpoint", "base.safetensors"))
    assert hires[0]["checkpoint"] == want
    assert processed.images[0].size == (96, 72)
    # every p field we set is back to the user's
    assert p.enable_hr is False and p.hr_upscaler is None and p.hr_second_pass_steps == 0
    assert p.denoising_strength == 0.75 and p.hr_checkpoint_name is None
    if webui.forge:
        assert p.hr_additional_modules == []
    record = enhance_record(processed.infotexts[0])
    assert "via host Hires.fix" in record["stages"]["hires"]
    assert webui.loaded_title() == webui.title("base.safetensors")


def test_own_hires_fix_on_warns_instead_of_upscaling_twice(webui, caplog):
    _p, processed = webui.txt2img([True, HIRES], enable_hr=True, hr_upscaler="Lanczos",
                                 hr_scale=2.0, denoising_strength=0.3)  # fmt: skip
    assert webui.inner_calls() == []
    assert processed.images[0].size == (128, 96)  # the host's hires only
    record = enhance_record(processed.infotexts[0])
    assert "Hires.fix is on" in record["warnings"]
    assert status(record["stages"]["hires"]) == "skipped"
    assert "Hires.fix is on" in processed.comments  # shown under the result
    assert "Hires.fix is on" in caplog.text


def test_disabled_or_bare_dict_args(webui):
    _, processed = webui.txt2img([False, HIRES])
    assert webui.inner_calls() == [] and "Enhance" not in processed.infotexts[0]
    _p, processed = webui.txt2img([HIRES])  # bare [{...}]: enabled
    assert len(webui.inner_calls()) == 1


def test_invalid_args_in_the_ui_log_and_generate_without_enhance(webui, caplog):
    _p, processed = webui.txt2img([True, {"hires": {"enabled": True, "denoise": 7}}])
    assert webui.inner_calls() == []
    assert "hires.denoise" in caplog.text
    assert processed.images[0].size == (64, 48)


def test_interrupt_during_a_pass_keeps_the_image_before_it(webui, monkeypatch):
    from modules import shared

    soft = next(s for s in webui.scripts.scripts_txt2img.alwayson_scripts
                if s.title() == "SoftRec")  # fmt: skip
    monkeypatch.setattr(type(soft), "process_before_every_sampling", lambda self, p, *a, **k: (
        getattr(p, "_enhance_inner", False) and shared.state.interrupt()
    ), raising=False)  # fmt: skip
    _p, processed = webui.txt2img([True, HIRES])
    image = processed.images[0]
    assert image.size == (64, 48)  # the first pass, not a half-done hires
    record = enhance_record(processed.infotexts[0])
    assert status(record["stages"]["hires"]) == "interrupted"
    assert "hires was interrupted" in record["warnings"]
    assert webui.loaded_title() == webui.title("base.safetensors")


def test_failed_checkpoint_load_leaves_the_users_checkpoint(webui):
    config = {"hires": {**HIRES["hires"], "checkpoint": "broken.safetensors"}}
    _, processed = webui.txt2img([True, config])
    assert webui.errors.REPORTS == []
    record = enhance_record(processed.infotexts[0])
    assert status(record["stages"]["hires"]) == "failed"
    assert "hires failed" in record["warnings"] and "broken.safetensors" in record["warnings"]
    assert "Enhance: hires failed" in processed.comments
    assert "broken.safetensors" in processed.comments
    assert processed.images[0].size == (64, 48)
    assert webui.loaded_title() == webui.title("base.safetensors")
    # and the next generation works (Forge's stale forge_hash trap is cleared)
    _p, processed = webui.txt2img([False, {}])
    assert webui.errors.REPORTS == []
    assert processed.images[0].getpixel((0, 0))[2] == 60


def test_a_truncated_checkpoint_file_is_refused_before_any_load(webui, tmp_path):
    """Forge renames a file it fails to load to .corrupted; we never hand it a cut-off file."""
    import struct

    from modules import _checkpoints, sd_models

    head = b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}'
    path = tmp_path / "cut.safetensors"
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"\0" * 10)  # 6 bytes short
    _checkpoints.CheckpointInfo(str(path)).register(
        sd_models.checkpoints_list, sd_models.checkpoint_aliases
    )
    config = {"hires": {**HIRES["hires"], "checkpoint": "cut.safetensors"}}
    _, processed = webui.txt2img([True, config])
    hires = enhance_record(processed.infotexts[0])["stages"]["hires"]
    assert status(hires) == "failed" and "6 bytes of tensor data missing" in hires
    assert not any("cut.safetensors" in title for title in webui.sd_models.LOADS)
    assert webui.loaded_title() == webui.title("base.safetensors")
    assert path.exists()
