"""Infotext: short fields written per image, parsed back by the host, every control restored;
old JSON images still paste."""

from __future__ import annotations

import json

from lib_enhance.spec import config as cfgmod
from lib_enhance.spec import infotext
from lib_enhance.webui import accordion

CONFIG = {
    "preset": "anime",
    "hires": {"enabled": True, "denoise": 0.4, "prompt": "a, b: c", "upscaler": "Lanczos"},
    "detail": [{"enabled": False, "model": "hand_yolov8n.pt", "confidence": 0.5,
                "masked_content": "latent noise", "negative_prompt": ' "quoted", 512x512 '}],
}  # fmt: skip


def test_round_trip_through_the_hosts_parser(webui):
    from modules import infotext_utils

    _p, processed = webui.txt2img([True, CONFIG])
    text = processed.infotexts[0]
    assert '{"' not in text  # readable fields, no JSON record
    assert "Enhance hires denoise: 0.4" in text and 'Enhance hires prompt: "a, b: c"' in text
    params = infotext_utils.parse_generation_parameters(text)
    full = cfgmod.validate(CONFIG)
    assert accordion.paste_enabled(params) is True
    assert accordion.paste_value(("preset",))(params) == "anime"
    assert accordion.paste_value(("hires", "prompt"))(params) == "a, b: c"
    assert accordion.paste_value(("detail", 0, "model"))(params) == "hand_yolov8n.pt"
    negative = accordion.paste_value(("detail", 0, "negative_prompt"))(params)
    assert negative == ' "quoted", 512x512 '
    assert accordion.paste_value(("detail", 1, "enabled"))(params) is False  # tab 2: UI default
    # every control of the layout gets exactly the value of the config
    paths = accordion.layout(2)
    values = [accordion.paste_value(path)(params) for path in paths]
    assert cfgmod.validate(accordion.settings_from_values(paths, values)) == full
    # what ran: one readable line per stage
    assert params["Enhance hires"].startswith("Lanczos → 128×96")


def test_no_enhance_key_leaves_controls_alone():
    params = {"Prompt": "x", "Steps": "20"}
    assert accordion.paste_enabled(params) is None
    assert accordion.paste_value(("hires", "denoise"))(params) is None


def test_old_json_record_still_pastes():
    old = {"v": 1, "config": {"preset": "anime", "hires": {"enabled": True, "denoise": 0.42},
                               "detail": [{"model": "hand_yolov8n.pt"}]},
           "ran": {"hires": {"status": "ok"}}}  # fmt: skip
    params = {"Enhance": json.dumps(old, separators=(",", ":")), "Steps": "20"}
    assert accordion.paste_enabled(params) is True
    assert accordion.paste_value(("hires", "denoise"))(params) == 0.42
    assert accordion.paste_value(("detail", 0, "model"))(params) == "hand_yolov8n.pt"
    infotext.migrate("", params)  # what the host's on_infotext_pasted callback does
    assert params["Enhance hires denoise"] == "0.4" + "2" and params["Enhance preset"] == "anime"


def test_old_split_keys_are_migrated():
    params = {"Enhance hires": json.dumps({"enabled": True, "denoise": 0.42}),
              "Enhance preset": "anime", "Enhance tiles tile size": "640"}  # fmt: skip
    config = infotext.config_from_params(params)
    assert config["hires"]["denoise"] == 0.42 and config["preset"] == "anime"
    assert config["tiles"]["tile_size"] == 640


def test_bare_config_json_is_read():
    params = {"Enhance": json.dumps({"hires": {"enabled": True}})}
    assert infotext.config_from_params(params)["hires"]["enabled"] is True


def test_ui_values_drop_untouched_trailing_tabs():
    paths = accordion.layout(2)
    values = [accordion.ui_default(p) for p in paths]
    assert accordion.settings_from_values(paths, values)["detail"] == []
    values[paths.index(("detail", 1, "model"))] = "hand.pt"
    detail = cfgmod.validate(accordion.settings_from_values(paths, values))["detail"]
    assert [(p["enabled"], p["model"]) for p in detail] == [
        (False, cfgmod.BUILTIN_FACE),
        (False, "hand.pt"),
    ]
