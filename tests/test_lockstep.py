"""Many images through the stages together (the test host): shared sampler calls, results equal
to each image alone, out-of-memory retries and the tiled fallback, the VRAM budget, interrupts."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from lib_enhance.geometry.detection import Detection
from lib_enhance.geometry.tiles import plan_tiles
from lib_enhance.host import HostError, HostOutOfMemory, is_out_of_memory
from lib_enhance.spec import config as c
from lib_enhance.stages.context import BYTES_PER_PIXEL, CallLimits
from lib_enhance.stages.pipeline import ImageJob, enhance, enhance_many
from lib_enhance.testing import StaticRegistry, TestHost

HIRES = {"enabled": True, "upscaler": "Lanczos", "scale": 2.0, "denoise": 0.35}
TILES = {"enabled": True, "upscaler": "Lanczos", "scale": 2.0, "tile_size": 256, "overlap": 64}


def cfg(**sections) -> dict:
    sections.setdefault("qa", {"enabled": False})
    return c.validate(sections)


def jobs(count: int = 4, size: int = 128) -> list[ImageJob]:
    from skimage import data

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((size, size), Image.LANCZOS))
    return [
        ImageJob(Image.fromarray(np.roll(photo, 13 * i, axis=1)), prompt=f"p{i}", seed=10 + i)
        for i in range(count)
    ]


def alone(config: dict, batch: list[ImageJob], registry=None) -> list[np.ndarray]:
    return [np.asarray(enhance(TestHost(), config, job, registry).image) for job in batch]


def same(results, expected) -> bool:
    pairs = zip(results, expected, strict=True)
    return all(np.array_equal(np.asarray(r.image), e) for r, e in pairs)


def test_hires_of_four_images_is_one_call_and_gives_what_each_gives_alone():
    config, batch = cfg(hires={**HIRES, "checkpoint": "B [bbbb2222]"}), jobs()
    host = TestHost()
    results = enhance_many(host, config, batch)
    assert [(call.label, call.batch_size) for call in host.calls] == [("hires", 4)]
    assert host.calls[0].seeds == [10, 11, 12, 13] and host.calls[0].prompts[3] == "p3"
    assert host.loads == 2 and host.active_checkpoint == "base [aaaa1111]"
    assert same(results, alone(config, batch))
    assert all(r.records[0].host_calls == 1 and r.records[0].batch_sizes == [4] for r in results)


def tiles_of(size: int) -> int:
    return len(plan_tiles(size, size, TILES["tile_size"], TILES["overlap"]).tiles)


def test_tiles_of_equal_size_from_several_images_share_calls():
    config, batch = cfg(tiles={**TILES, "batch_size": 4}), jobs(3, size=256)
    host = TestHost()
    results = enhance_many(host, config, batch)
    n = tiles_of(512)
    assert results[0].records[0].ran["tiles"] == n == 4  # 512² in tiles of 256 (flexed)
    assert [call.batch_size for call in host.calls] == [4, 4, 4]  # 12 tiles, full calls
    assert same(results, alone(config, batch))


def test_the_regions_of_all_images_of_a_detail_pass_go_in_one_call():
    class Faces:
        name = "faces"

        def detect(self, image, confidence=0.0, classes=()):
            return [Detection((10, 10, 50, 60), 0.9, "face"),
                    Detection((80, 70, 120, 118), 0.9, "face")]  # fmt: skip

    registry = StaticRegistry({"faces": Faces()})
    config = cfg(detail=[{"model": "faces", "inpaint_size": 256}])
    host = TestHost()
    enhance_many(host, config, jobs(3), registry)
    (call,) = host.calls
    assert call.batch_size == 6 and call.masks == 6  # each region keeps its own latent mask
    assert call.seeds == [10, 11, 11, 12, 12, 13]


def test_out_of_memory_at_batch_4_finishes_at_batch_2_with_the_same_images(caplog):
    config, batch = cfg(hires=HIRES, tiles={**TILES, "batch_size": 4}), jobs()
    host = TestHost(oom_batch=2)
    with caplog.at_level(logging.WARNING, logger="enhance"):
        results = enhance_many(host, config, batch)
    assert [call.batch_size for call in host.oom_calls] == [4, 4]  # hires, then tiles once
    hires = [call.batch_size for call in host.calls if call.label == "hires"]
    tiles = [call.batch_size for call in host.calls if call.label == "tiles"]
    assert hires == [2, 2] and tiles == [2] * (4 * tiles_of(512) // 2)
    assert same(results, alone(cfg(hires=HIRES, tiles={**TILES, "batch_size": 4}), batch))
    assert all(r.records[0].status == "ok" and not r.warnings for r in results)
    assert "out of memory with 4 items of 256×256 per call, trying 2" in caplog.text


def test_a_hires_pass_that_does_not_fit_alone_runs_tiled_and_says_so():
    config = cfg(hires={**HIRES, "scale": 4.0})  # 512²
    host = TestHost(oom_pixels=400 * 400)
    (result,) = enhance_many(host, config, jobs(1))
    first = host.oom_calls[0]
    assert (first.label, first.batch_size, first.size) == ("hires", 1, (512, 512))
    assert result.image.size == (512, 512)
    record = result.records[0]
    assert record.status == "ok" and record.ran["via"] == "tiles" and record.ran["tiles"] > 1
    assert all(call.size[0] * call.size[1] <= 400 * 400 for call in host.calls)
    assert any("ran out of memory" in w and "tiled pass" in w for w in result.warnings)
    assert "via tiles" in c_infotext(config, result)


def c_infotext(config, result) -> str:
    from lib_enhance.spec import infotext

    return infotext.to_infotext(config, result.ran, result.warnings)


def test_a_hires_target_over_the_vram_budget_runs_tiled_up_front():
    budget = 300 * 300 * BYTES_PER_PIXEL  # a 512² pass does not fit; 300² tiles do
    host = TestHost(memory=budget)
    (result,) = enhance_many(host, cfg(hires={**HIRES, "scale": 4.0}), jobs(1))
    assert host.oom_calls == [] and result.image.size == (512, 512)
    assert result.records[0].ran["via"] == "tiles"
    assert all(call.size[0] * call.size[1] <= 300 * 300 for call in host.calls)
    assert all(call.batch_size == 1 for call in host.calls)  # one tile fills the budget
    assert any("over the VRAM budget" in w for w in result.warnings)


def test_the_budget_decides_how_many_images_share_a_call():
    host = TestHost(memory=2 * 256 * 256 * BYTES_PER_PIXEL)
    enhance_many(host, cfg(hires=HIRES), jobs(5))
    assert [call.batch_size for call in host.calls] == [2, 2, 1]
    assert CallLimits().batch(256, 256) == 8 and CallLimits(max_pixels=10).batch(256, 256) == 1


def test_a_tile_that_does_not_fit_alone_fails_that_stage_only():
    config = cfg(tiles=TILES, detail=[{"model": "faces", "inpaint_size": 256, "padding": 0}])
    batch = jobs(2)
    registry = StaticRegistry({"faces": _Centre()})
    host = TestHost(oom_pixels=40_000)  # a tile of 256² never fits; a 256×88 region does
    results = enhance_many(host, config, batch, registry)
    for result in results:
        tiles, detail = result.records
        assert tiles.status == "failed" and "out of memory" in tiles.error
        assert detail.status == "ok" and result.image.size == (128, 128)  # the run went on


class _Centre:
    name = "faces"

    def detect(self, image, confidence=0.0, classes=()):
        w, h = image.size
        return [Detection((w // 4, h // 3, 3 * w // 4, h // 2), 0.9, "face")]  # wide


def test_an_interrupt_keeps_the_images_whose_stage_finished():
    config, batch = cfg(hires=HIRES, tiles=TILES), jobs(4)
    host = TestHost(memory=2 * 256 * 256 * BYTES_PER_PIXEL, interrupt_after=1)
    results = enhance_many(host, config, batch)
    statuses = [[r.status for r in result.records] for result in results]
    assert statuses == [["ok"], ["ok"], ["interrupted"], ["interrupted"]]  # no tiles started
    assert [r.image.size for r in results] == [(256, 256)] * 2 + [(128, 128)] * 2
    assert host.active_checkpoint == "base [aaaa1111]"


def test_a_host_error_fails_only_the_images_of_that_call():
    class Flaky(TestHost):
        def img2img(self, settings, items):
            if any(item.seed == 12 for item in items):
                raise HostError("sampler crashed")
            return super().img2img(settings, items)

    host = Flaky(memory=2 * 256 * 256 * BYTES_PER_PIXEL)
    results = enhance_many(host, cfg(hires=HIRES), jobs(4))
    assert [r.records[0].status for r in results] == ["ok", "ok", "failed", "failed"]
    assert "sampler crashed" in results[2].records[0].error


@pytest.mark.parametrize(
    ("exc", "oom"),
    [
        (type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory. Tried …"), True),
        (RuntimeError("MPS backend out of memory (MPS allocated: 17 GB)"), True),
        (RuntimeError("Could not allocate tensor … not enough GPU video memory available"), True),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB"), True),
        (MemoryError(), True),
        (HostError("hires: the host failed: boom"), False),
        (RuntimeError("Expected all tensors to be on the same device"), False),
        (ValueError("out of memory"), False),
    ],
)
def test_out_of_memory_is_told_apart_from_other_failures(exc, oom):
    assert is_out_of_memory(exc) is oom
    try:
        try:
            raise exc
        except Exception as inner:
            raise HostError("the host failed") from inner
    except HostError as wrapped:
        assert is_out_of_memory(wrapped) is oom
    assert is_out_of_memory(HostOutOfMemory("x"))


@pytest.mark.yolo  # torch is in the yolo venv
def test_torch_out_of_memory_error_is_recognised():
    import torch

    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory."))
    assert not is_out_of_memory(RuntimeError("CUDA error: device-side assert triggered"))
