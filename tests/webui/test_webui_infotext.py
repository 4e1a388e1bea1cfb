"""Infotext: written per image, parsed back by the host, restores every control, migrates."""

from __future__ import annotations

import json

from lib_enhance.spec import config as cfgmod
from lib_enhance.spec import infotext
from lib_enhance.webui import accordion

CONFIG = {
    "preset": "anime",
    "hires": {"enabled": True, "denoise": 0.4, "prompt": "a, b: c"},
    "detail": [{"enabled": False, "model": "hand_yolov8n.pt", "confidence": 0.5}],
}


def test_round_trip_through_the_hosts_parser(webui):
    from modules import infotext_utils

    _p, processed = webui.txt2img([True, CONFIG])
    params = infotext_utils.parse_generation_parameters(processed.infotexts[0])
    full = cfgmod.validate(CONFIG)
    assert accordion.paste_enabled(params) is True
    assert accordion.paste_value(("preset",))(params) == "anime"
    assert accordion.paste_value(("hires", "prompt"))(params) == "a, b: c"
    assert accordion.paste_value(("detail", 0, "model"))(params) == "hand_yolov8n.pt"
    assert accordion.paste_value(("detail", 1, "enabled"))(params) is False  # tab 2: UI default
    assert cfgmod.validate(accordion.paste_state(params)) == full
    for section in ("hires", "tiles", "qa"):
        for fld in cfgmod.SECTION_BY_NAME[section].fields:
            assert accordion.paste_value((section, fld.name))(params) == full[section][fld.name]


def test_no_enhance_key_leaves_controls_alone():
    params = {"Prompt": "x", "Steps": "20"}
    assert accordion.paste_enabled(params) is None and accordion.paste_state(params) is None
    assert accordion.paste_value(("hires", "denoise"))(params) is None


def test_old_split_keys_are_migrated():
    params = {"Enhance hires": json.dumps({"enabled": True, "denoise": 0.42}),
              "Enhance preset": "anime", "Enhance tiles tile size": "640"}  # fmt: skip
    infotext.migrate("", params)
    assert set(params) == {"Enhance"}
    # values typed as text by old builds come back through json: "640" -> 640
    config, _ = infotext.from_infotext(params["Enhance"])
    assert config["hires"]["denoise"] == 0.42 and config["preset"] == "anime"
    assert config["tiles"]["tile_size"] == 640


def test_bare_config_json_is_wrapped():
    params = {"Enhance": json.dumps({"hires": {"enabled": True}})}
    infotext.migrate("", params)
    assert json.loads(params["Enhance"])["v"] == 1


def test_ui_dict_is_sparse_and_detail_tabs_pad_as_off():
    state = accordion.set_value({}, ("detail", 1, "model"), "hand.pt")
    assert state == {"detail": [{"enabled": False}, {"enabled": False, "model": "hand.pt"}]}
    config = cfgmod.validate(state)
    assert not cfgmod.any_stage_enabled(config)
    state = accordion.set_value(state, ("detail", 1, "enabled"), True)
    assert [p["enabled"] for p in cfgmod.validate(state)["detail"]] == [False, True]
