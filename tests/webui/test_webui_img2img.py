"""img2img through the stand-in hosts: plain, inpaint "only masked", and the Batch tab."""

from __future__ import annotations

import numpy as np
from PIL import Image

HIRES = {"hires": {"enabled": True, "upscaler": "Lanczos", "scale": 2.0, "denoise": 0.3}}


def record_of(info: str) -> dict:
    from modules import infotext_utils

    from lib_enhance.spec import infotext

    return infotext.summary(infotext_utils.parse_generation_parameters(info))


def source(w: int = 40, h: int = 32, colour=(10, 20, 30)) -> Image.Image:
    return Image.new("RGB", (w, h), colour)


def test_img2img_hires(webui):
    _p, processed = webui.img2img([True, HIRES], source())
    assert webui.errors.REPORTS == []
    outer, inner = webui.processing.CALLS
    assert outer["kind"] == "img2img" and not outer["inner"]
    assert inner["inner"] and inner["size"] == (80, 64) and inner["init_sizes"] == [(80, 64)]
    assert inner["seeds"] == [2000] and inner["prompts"] == ["a dog"]
    assert inner["denoise"] == 0.3 and inner["checkpoint"] == webui.title("base.safetensors")
    image = processed.images[0]
    assert image.size == (80, 64)
    # outer pass: red +50, green +2000%7; then ours: red +30, green +2000%7 again
    assert image.getpixel((5, 5)) == (10 + 50 + 30, 20 + 5 + 5, 60)
    assert "Enhance" in processed.infotexts[0]


def test_latent_upscaler_in_img2img_is_refused(webui, caplog):
    config = {"hires": {"enabled": True, "upscaler": "Latent"}}
    _p, _processed = webui.img2img([True, config], source())
    assert webui.inner_calls() == []
    assert "hires.upscaler" in caplog.text


def test_inpaint_only_masked_works_on_the_full_frame(webui):
    mask = Image.new("L", (40, 32), 0)
    mask.paste(255, (10, 8, 20, 16))
    p, processed = webui.img2img([True, HIRES], source(), mask=mask, inpaint_full_res=True,
                                 width=32, height=32)  # fmt: skip
    assert webui.errors.REPORTS == []
    outer, inner = webui.processing.CALLS
    assert outer["size"] == (32, 32) and outer["inpaint_full_res"] is True
    # Enhance saw the composited full frame (40×32), not the 32×32 crop
    assert inner["init_sizes"] == [(80, 64)] and inner["size"] == (80, 64)
    image = processed.images[0]
    assert image.size == (80, 64)
    # outside the mask: only Enhance changed it; inside: the host's inpaint and Enhance
    assert image.getpixel((2, 2)) == (10 + 30, 20 + 5, 60)
    assert image.getpixel((30, 20)) == (10 + 50 + 30, 20 + 5 + 5, 60)
    calls = [c for c in webui.scripts.CALLBACK_LOG if c[1] == "Enhance"]
    assert ("postprocess_image_after_composite", "Enhance", id(p)) in calls


def test_batch_tab_reuses_one_p_and_leaks_nothing(webui, tmp_path):
    from modules import img2img, scripts, shared

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for i, colour in enumerate([(10, 10, 10), (40, 40, 40), (70, 70, 70)]):
        source(colour=colour).save(folder / f"file{i}.png")
    configs = {"preset": "general", **HIRES}
    shared.opts.data["img2img_batch_use_original_name"] = True  # Forge: opt-in
    p = webui.img2img_p([True, configs], source())
    before = {
        k: getattr(p, k)
        for k in (
            "width",
            "height",
            "steps",
            "denoising_strength",
            "sampler_name",
            "cfg_scale",
            "prompt",
            "styles",
        )
    }
    egp_before = dict(p.extra_generation_params)
    shared.state.begin(job="batch")
    img2img.process_batch(p, str(folder), str(out), "", p.script_args)
    shared.state.end()

    assert webui.errors.REPORTS == []
    setups = [c for c in scripts.CALLBACK_LOG if c[0] == "setup" and c[1] == "Enhance"]
    assert len(setups) == 1  # the host called setup once for the whole folder
    saved = [s for s in webui.images.SAVED if s["suffix"] == ""]
    assert [s["path"].split("/")[-1] for s in saved] == ["file0.png", "file1.png", "file2.png"]
    for entry, grey in zip(saved, (10, 40, 70), strict=True):
        assert entry["size"] == (80, 64)
        assert entry["pixel"][0] == grey + 50 + 30
        assert "hires" in record_of(entry["info"])["stages"]
    inner = webui.inner_calls()
    assert len(inner) == 3 and all(c["batch"] == 1 for c in inner)
    assert {k: getattr(p, k) for k in before} == before
    assert p.extra_generation_params == {**egp_before, "Denoising strength": 0.5}
    assert webui.enhance_script(img2img=True).controller.runs == {}


def test_state_from_one_file_never_reaches_the_next(webui, tmp_path):
    """Each file gets its own run: a fresh record, and p clean after the folder."""
    from modules import img2img, shared

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        source(colour=(i * 50, 0, 0)).save(folder / f"f{i}.png")
    p = webui.img2img_p([True, HIRES], source())
    shared.state.begin(job="batch")
    img2img.process_batch(p, str(folder), str(tmp_path / "out"), "", p.script_args)
    shared.state.end()
    infos = [s["info"] for s in webui.images.SAVED if s["suffix"] == ""]
    from lib_enhance.spec import infotext

    lines = [record_of(i)["stages"]["hires"] for i in infos]
    assert len(lines) == 2 and all(infotext.status_of(r) == "ok" for r in lines)
    assert "Enhance" not in p.extra_generation_params


def test_save_before_image_setting(webui):
    webui.shared.opts.data["enhance_save_before"] = True
    _p, processed = webui.img2img([True, HIRES], source())
    before = [s for s in webui.images.SAVED if s["suffix"] == "-before-enhance"]
    assert len(before) == 1 and before[0]["size"] == (40, 32)
    assert np.array_equal(np.asarray(processed.images[0]).shape, (64, 80, 3))


def test_detection_preview_joins_the_gallery_and_is_saved(webui):
    """The built-in face detector on a real photo; the preview shows the region it inpainted."""
    from skimage import data

    webui.shared.opts.data["enhance_detection_preview"] = True
    photo = Image.fromarray(data.astronaut()).resize((256, 256))
    config = {"detail": [{"model": "face (built-in)", "inpaint_size": 256}]}
    _p, processed = webui.img2img([True, config], photo, width=256, height=256)
    assert webui.errors.REPORTS == []
    assert " 1 regions" in record_of(processed.infotexts[0])["stages"]["detail 1"]
    result, drawn = processed.images
    assert processed.infotexts[1] == "Enhance detection preview"
    # the preview is the result with the face region tinted: it differs only around the face
    diff = np.abs(np.asarray(drawn, np.int16) - np.asarray(result, np.int16)).sum(axis=2) > 0
    ys, xs = np.nonzero(diff)
    assert 60 < xs.mean() < 140 and 20 < ys.mean() < 100  # the astronaut's face, top middle
    saved = [s for s in webui.images.SAVED if s["suffix"] == "-enhance-preview"]
    assert len(saved) == 1 and saved[0]["size"] == (256, 256)


def test_no_preview_unless_the_setting_is_on(webui):
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((256, 256))
    config = {"detail": [{"model": "face (built-in)", "inpaint_size": 256}]}
    _p, processed = webui.img2img([True, config], photo, width=256, height=256)
    assert len(processed.images) == 1
    assert not [s for s in webui.images.SAVED if s["suffix"] == "-enhance-preview"]
