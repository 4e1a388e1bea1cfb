"""Upscaler choice on the hosts: "auto" never picks a model whose file is not downloaded yet
(A1111 lists DAT and R-ESRGAN before their files exist, and would download mid-generation)."""

from __future__ import annotations

import json

from PIL import Image


def test_auto_skips_listed_but_not_downloaded_upscalers(webui):
    from modules import infotext_utils

    from lib_enhance.webui_host import WebUIHost

    config = {"preset": "general", "hires": {"enabled": True, "upscaler": "auto"}}
    _p, processed = webui.img2img([True, config], Image.new("RGB", (40, 32), (10, 20, 30)))
    assert webui.errors.REPORTS == []
    record = json.loads(
        infotext_utils.parse_generation_parameters(processed.infotexts[0])["Enhance"]
    )
    assert "DAT x4" in WebUIHost().upscalers()  # listed, and an explicit choice is allowed
    assert "DAT x4" not in WebUIHost().upscalers(installed_only=True)
    assert record["ran"]["hires"]["upscaler"] in WebUIHost().upscalers(installed_only=True)
