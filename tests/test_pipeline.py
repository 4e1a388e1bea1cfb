"""The stage runner on the recording test host: order, batching, swaps, failures, interrupts."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from lib_enhance.spec import config as c
from lib_enhance.stages.context import target_size
from lib_enhance.stages.pipeline import ImageJob, build_stages, enhance
from lib_enhance.testing import TestHost


def photo(size: int = 256) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((size, size), Image.LANCZOS)


def cfg(**sections) -> dict:
    sections.setdefault("qa", {"enabled": False})
    return c.validate(sections)


HIRES = {"enabled": True, "upscaler": "Lanczos", "scale": 2.0, "denoise": 0.35}
TILES = {"enabled": True, "upscaler": "Lanczos", "scale": 2.0, "tile_size": 576, "overlap": 64}


def test_stages_run_in_the_order_that_works():
    config = cfg(hires=HIRES, tiles=TILES, detail=[{"model": "x"}, {"enabled": False}, {}])
    assert [s.name for s in build_stages(config)] == ["hires", "tiles", "detail 1", "detail 3"]


def test_nothing_enabled_returns_the_image_untouched_with_no_host_call():
    host = TestHost()
    job = ImageJob(photo(), seed=1)
    result = enhance(host, cfg(), job)
    assert result.image is job.image
    assert host.calls == [] and host.loads == 0


def test_hires_upscales_then_rediffuses_once_with_the_job_settings():
    host = TestHost()
    job = ImageJob(photo(256), prompt="a knight", seed=7, steps=25, sampler="Euler a", cfg=6.0)
    result = enhance(host, cfg(hires={**HIRES, "prompt": "[PROMPT], sharp"}), job)
    assert result.image.size == (512, 512)
    (call,) = host.calls
    assert (call.label, call.batch_size, call.size) == ("hires", 1, (512, 512))
    assert call.prompts == ["a knight, sharp"] and call.seeds == [7] and call.steps == 25
    assert host.upscale_calls == [("Lanczos", (512, 512))]
    assert result.ran["hires"] == {
        "status": "ok",
        "upscaler": "Lanczos",
        "size": [512, 512],
        "denoise": 0.35,
        "steps": 25,
    }


@pytest.mark.parametrize(("size_in", "calls", "tiles"), [(1024, 1, 4), (2048, 4, 16)])
def test_tiled_pass_batches_tiles_into_few_host_calls(size_in, calls, tiles):
    host = TestHost()
    job = ImageJob(photo(256).resize((size_in // 2, size_in // 2)), seed=100)
    config = cfg(tiles={**TILES, "width": size_in, "height": size_in, "batch_size": 4})
    result = enhance(host, config, job)
    assert result.image.size == (size_in, size_in)
    assert host.calls_by_label() == {"tiles": calls}
    assert sum(call.batch_size for call in host.calls) == tiles
    seeds = [s for call in host.calls for s in call.seeds]
    assert seeds == [100 + i for i in range(tiles)]  # per-tile seeds, no repeating noise


@pytest.mark.parametrize("tile_size", [576, 256])
def test_tiled_pass_leaves_no_brightness_step_at_tile_seams(tile_size):
    host = TestHost(strength=60.0)  # tiles differ by up to ±30 grey levels before matching
    flat = Image.new("RGB", (512, 512), (120, 120, 120))
    config = cfg(tiles={**TILES, "width": 1024, "height": 1024, "tile_size": tile_size})
    out = np.asarray(enhance(host, config, ImageJob(flat, seed=3)).image, np.float32)
    steps = np.abs(np.diff(out.mean(axis=(0, 2))))  # column means: a seam would be a jump
    assert steps.max() < 2.0


def test_checkpoint_swaps_go_b_then_c_then_back_once():
    host = TestHost()
    config = cfg(
        hires={**HIRES, "checkpoint": "B [bbbb2222]"},
        tiles={**TILES, "checkpoint": "C [cccc3333]", "vae": "vae-ft-mse.safetensors"},
    )
    enhance(host, config, ImageJob(photo(), seed=1))
    assert [(call.label, call.checkpoint) for call in host.calls] == [
        ("hires", "B [bbbb2222]"),
        ("tiles", "C [cccc3333]"),
    ]
    assert host.calls[1].vae == "vae-ft-mse.safetensors"
    assert host.switcher.history == [
        ("B [bbbb2222]", ""),
        ("C [cccc3333]", "vae-ft-mse.safetensors"),
        ("", ""),
    ]
    assert host.active_checkpoint == "base [aaaa1111]"


def test_failed_checkpoint_load_keeps_the_image_and_the_users_checkpoint(caplog):
    host = TestHost(fail_checkpoints={"B [bbbb2222]"})
    job = ImageJob(photo(), seed=1, name="img-1")
    config = cfg(hires={**HIRES, "checkpoint": "B [bbbb2222]"}, tiles=TILES)
    with caplog.at_level(logging.ERROR, logger="enhance"):
        result = enhance(host, config, job)
    hires, tiles = result.records
    assert hires.status == "failed" and "B [bbbb2222]" in hires.error
    assert tiles.status == "ok"  # the next stage still runs, on the user's checkpoint
    assert host.active_checkpoint == "base [aaaa1111]"
    assert all(call.checkpoint == "base [aaaa1111]" for call in host.calls)
    assert "hires (img-1) failed" in caplog.text


def test_a_failing_stage_keeps_the_previous_stages_image(caplog):
    host = TestHost(fail_labels=["tiles"])
    job = ImageJob(photo(), seed=1)
    hires_only = enhance(TestHost(), cfg(hires=HIRES), job).image
    with caplog.at_level(logging.ERROR, logger="enhance"):
        result = enhance(host, cfg(hires=HIRES, tiles=TILES), job)
    assert [r.status for r in result.records] == ["ok", "failed"]
    assert np.array_equal(np.asarray(result.image), np.asarray(hires_only))
    assert "tiles failed" in caplog.text and "sampler crashed" in caplog.text


def test_interrupt_before_a_stage_makes_no_host_call():
    host = TestHost(stop=True)
    job = ImageJob(photo(), seed=1)
    result = enhance(host, cfg(hires=HIRES, tiles=TILES), job)
    assert host.calls == [] and host.upscale_calls == []
    assert result.image is job.image
    assert [r.status for r in result.records] == ["interrupted"]  # later stages never started


def test_interrupt_mid_stage_discards_the_half_done_stage():
    host = TestHost()
    job = ImageJob(photo(512), seed=1)
    config = cfg(hires=HIRES, tiles={**TILES, "scale": 4.0, "batch_size": 2})
    hires_only = enhance(TestHost(), cfg(hires=HIRES), job).image
    with host.stopped_after(2):  # hires call, then one tile batch, then Interrupt
        result = enhance(host, config, job)
    assert len(host.calls) == 2  # no call after the interrupt
    assert [r.status for r in result.records] == ["ok", "interrupted"]
    assert np.array_equal(np.asarray(result.image), np.asarray(hires_only))
    assert result.interrupted


def test_host_returning_no_images_counts_as_interrupted():
    host = TestHost(empty_after=0)
    job = ImageJob(photo(), seed=1)
    result = enhance(host, cfg(hires=HIRES), job)
    assert result.records[0].status == "interrupted"
    assert result.image is job.image


def test_unknown_upscaler_fails_the_stage_with_a_clear_error():
    result = enhance(TestHost(), cfg(hires={**HIRES, "upscaler": "4x-Nope"}), ImageJob(photo()))
    assert result.records[0].status == "failed"
    assert "4x-Nope" in result.records[0].error


def test_auto_upscaler_follows_the_preset():
    host = TestHost()
    enhance(host, cfg(preset="anime", hires={**HIRES, "upscaler": "auto"}), ImageJob(photo()))
    assert host.upscale_calls[0][0] == "R-ESRGAN 4x+ Anime6B"


@pytest.mark.parametrize(
    ("size", "section", "expected"),
    [
        ((512, 768), {"scale": 2.0}, (1024, 1536)),
        ((500, 300), {"scale": 1.5}, (752, 448)),
        ((512, 768), {"scale": 2.0, "width": 1000, "height": 0}, (1000, 1504)),
        ((512, 768), {"scale": 2.0, "width": 640, "height": 960}, (640, 960)),
    ],
)
def test_target_sizes_are_multiples_of_8(size, section, expected):
    assert target_size(size, section) == expected
    assert all(v % 8 == 0 for v in expected)


def test_seam_fix_redraws_bands_across_every_seam_in_batches_without_new_steps():
    host = TestHost(strength=60.0)
    flat = Image.new("RGB", (1024, 1024), (120, 120, 120))
    config = cfg(tiles={**TILES, "seam_fix": "half-tile", "batch_size": 4})
    result = enhance(host, config, ImageJob(flat, seed=3))
    seam_calls = [call for call in host.calls if call.denoise == 0.25]
    # 4×4 tiles of 576 (overlaps 85–86 px): 12 + 12 segments, 9 crossings, bands of 152
    sizes = [(call.size, call.batch_size) for call in seam_calls]
    assert sizes == [((152, 576), 4)] * 3 + [((576, 152), 4)] * 3 + [((152, 152), 4)] * 2 + [
        ((152, 152), 1)
    ]
    seeds = [s for call in seam_calls for s in call.seeds]
    assert seeds == [3 + 16 + i for i in range(33)]  # after the tiles' seeds, all distinct
    ran = result.ran["tiles"]
    assert ran["seam_patches"] == 33
    assert ran["seam_fix_pixels"] == 24 * 152 * 576 + 9 * 152 * 152
    assert ran["seam_fix_pixels"] < 33 * 512 * 512  # USDU half-tile + intersections at 512
    out = np.asarray(result.image, np.float32)
    assert np.abs(np.diff(out.mean(axis=(0, 2)))).max() < 2.0
    assert np.abs(np.diff(out.mean(axis=(1, 2)))).max() < 2.0


def test_tiled_pass_flexes_the_tile_to_save_a_row_and_a_column():
    """256² → 512² at tiles of 256, overlap 64: 2×2 tiles of 288 in one call (USDU: 4 calls
    of 320²), where a fixed 256 needed 3×3; the infotext says what ran."""
    host = TestHost()
    config = cfg(tiles={**TILES, "scale": 2.0, "tile_size": 256, "overlap": 64})
    result = enhance(host, config, ImageJob(photo(256), seed=5))
    (call,) = host.calls
    assert (call.size, call.batch_size) == ((288, 288), 4)
    ran = result.ran["tiles"]
    assert (ran["tiles"], ran["grid"], ran["tile"]) == (4, [2, 2], [288, 288])
    assert ran["pixels"] == 4 * 288 * 288 < 4 * 320 * 320
    assert ran["seam_fix"] == "off" and "seam_fix_pixels" not in ran
    assert result.seams == [(0, 0, 288, 288), (224, 0, 512, 288), (0, 224, 288, 512),
                            (224, 224, 512, 512)]  # fmt: skip


def test_auto_upscaler_never_picks_one_that_would_download():
    host = TestHost(not_downloaded=["DAT x4"])
    enhance(host, cfg(preset="general", hires={**HIRES, "upscaler": "auto"}), ImageJob(photo()))
    assert host.upscale_calls[0][0] not in ("DAT x4", "Lanczos")  # next general choice on disk
    assert enhance(TestHost(), cfg(hires={**HIRES, "upscaler": "DAT x4"}), ImageJob(photo()))


def test_a_bug_in_a_stage_keeps_the_image_and_logs_the_traceback(caplog):
    from lib_enhance.stages.pipeline import Stage, run_stage

    def broken(ctx, image):
        raise TypeError("unexpected")

    job = ImageJob(photo(), seed=1)
    with caplog.at_level(logging.ERROR, logger="enhance"):
        image, record = run_stage(TestHost(), Stage("tiles", "", "", broken), job, job.image)
    assert image is job.image
    assert record.status == "failed" and record.error == "TypeError: unexpected"
    assert "Traceback" in caplog.text and "tiles failed unexpectedly" in caplog.text


def test_no_qa_verdict_when_no_stage_changed_the_image():
    config = c.validate({"hires": {**HIRES, "upscaler": "4x-Nope"}, "qa": {"enabled": True}})
    result = enhance(TestHost(), config, ImageJob(photo()))
    assert result.records[0].status == "failed" and result.qa is None
    assert "qa" not in result.ran
    config = c.validate({"hires": HIRES, "qa": {"enabled": True}})
    assert enhance(TestHost(), config, ImageJob(photo())).qa["verdict"] in ("ok", "review")
