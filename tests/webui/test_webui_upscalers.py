"""Upscaler choice on the hosts: "auto" never picks a model whose file is not downloaded yet
(A1111 lists DAT and R-ESRGAN before their files exist, and would download mid-generation)."""

from __future__ import annotations

from PIL import Image

from lib_enhance.spec import infotext


def test_auto_skips_listed_but_not_downloaded_upscalers(webui):
    from modules import infotext_utils

    from lib_enhance.webui.host_adapter import WebUIHost

    config = {"preset": "general", "hires": {"enabled": True, "upscaler": "auto"}}
    _p, processed = webui.img2img([True, config], Image.new("RGB", (40, 32), (10, 20, 30)))
    assert webui.errors.REPORTS == []
    line = infotext.summary(infotext_utils.parse_generation_parameters(processed.infotexts[0]))
    used = line["stages"]["hires"].split(" → ")[0]
    assert "DAT x4" in WebUIHost().upscalers()  # listed, and an explicit choice is allowed
    assert "DAT x4" not in WebUIHost().upscalers(installed_only=True)
    assert used in WebUIHost().upscalers(installed_only=True)


def test_auto_picks_a_model_whose_file_is_on_disk(webui, tmp_path):
    from modules import infotext_utils, shared

    from lib_enhance.webui.host_adapter import WebUIHost

    model = tmp_path / "RealESRGAN_x4plus.pth"
    model.write_bytes(b"weights")
    esrgan = next(u for u in shared.sd_upscalers if u.name == "R-ESRGAN 4x+")
    esrgan.data_path = esrgan.local_data_path = str(model)
    assert WebUIHost().upscalers(installed_only=True) == [
        "None",
        "Lanczos",
        "Nearest",
        "R-ESRGAN 4x+",
    ]
    config = {"preset": "realistic", "hires": {"enabled": True, "upscaler": "auto"}}
    _p, processed = webui.img2img([True, config], Image.new("RGB", (40, 32), (10, 20, 30)))
    line = infotext.summary(infotext_utils.parse_generation_parameters(processed.infotexts[0]))
    assert line["stages"]["hires"].startswith("R-ESRGAN 4x+ → ")
