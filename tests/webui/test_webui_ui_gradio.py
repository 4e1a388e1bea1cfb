"""The accordion built by the real gradio of each host: 3.41.2 (A1111, Classic, reForge),
4.40.0 (Forge, Neo).

Run in the matching venv: `-m gradio3` or `-m gradio4`; each test runs on every stand-in of that
venv's gradio (the `gradio_flavour` fixture).
"""

from __future__ import annotations

import pytest

from lib_enhance.spec import config as cfgmod
from lib_enhance.webui import accordion

gr = pytest.importorskip("gradio")
MAJOR = int(gr.__version__.split(".")[0])
pytestmark = [pytest.mark.gradio3 if MAJOR == 3 else pytest.mark.gradio4]


@pytest.fixture
def webui(start_webui, gradio_flavour):
    return start_webui(gradio_flavour, gradio_ui=True)


@pytest.mark.parametrize("img2img", [False, True])
def test_args_layout_is_enable_settings_slot_then_the_controls(webui, img2img):
    script = webui.enhance_script(img2img=img2img)
    runner = webui.scripts.scripts_img2img if img2img else webui.scripts.scripts_txt2img
    paths = accordion.layout(2)
    assert script.args_to - script.args_from == 2 + len(paths)
    enabled, slot, *controls = runner.inputs[script.args_from : script.args_to]
    assert isinstance(enabled, gr.Checkbox) and enabled.value is False
    assert isinstance(slot, gr.State) and slot.value is None
    tab = "img2img" if img2img else "txt2img"
    assert enabled.elem_id == f"script_{tab}_enhance_enable-checkbox"
    assert script.name == "enhance"
    # the elem_ids users' CSS relies on are unchanged
    ids = [c.elem_id for c in controls]
    assert ids == [f"script_{tab}_enhance_" + "_".join(str(x) for x in p) for p in paths]
    assert script.controller.paths == paths


def test_every_control_has_an_id_a_tooltip_and_its_own_saved_default_key(webui):
    script = webui.enhance_script()
    controls = [c for c, _ in script.infotext_fields[1:]]
    assert len(controls) == len(accordion.layout(2))
    ids = [c.elem_id for c in controls]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("script_txt2img_enhance_") for i in ids)
    # both hosts keep a component's tooltip= as webui_tooltip (what the page shows)
    assert all(getattr(c, "webui_tooltip", None) for c in controls)
    enabled = script.infotext_fields[0][0]
    assert enabled.webui_tooltip and enabled.accordion.webui_tooltip
    assert "script_txt2img_enhance_detail_1_model" in ids
    # ui-config.json: every control has a key of its own, under Enhance's prefix
    mapping = webui.demo.ui_loadsave.component_mapping
    keys = {id(c): k for k, c in mapping.items()}
    ours = [keys.get(id(c)) for c in controls]
    assert all(k and k.startswith("customscript/enhance.py/txt2img/") for k in ours), ours
    assert mapping["txt2img/Upscale by/value"].elem_id == "txt2img_hr_scale"  # the host's own


def test_ui_has_no_side_effects_when_called_again(webui):
    """The API builds ui() twice more per tab in a throw-away Blocks."""
    script = webui.enhance_script()
    before = list(webui.scripts.scripts_txt2img.inputs)
    with gr.Blocks():
        again = script.ui(False)
    assert len(again) == script.args_to - script.args_from
    assert again[0] is not before[script.args_from]
    assert webui.scripts.scripts_txt2img.inputs == before


def _blocks_under(block):
    for child in getattr(block, "children", []) or []:
        yield child
        yield from _blocks_under(child)


def test_detail_tab_shows_everyday_controls_and_folds_the_rest(webui):
    demo = webui.blocks[0]
    for i in range(2):
        advanced = next(
            b for b in demo.blocks.values()
            if getattr(b, "elem_id", None) == f"script_txt2img_enhance_detail_{i}_advanced"
        )  # fmt: skip
        assert isinstance(advanced, gr.Accordion) and advanced.open is False
        folded = {getattr(b, "elem_id", None) for b in _blocks_under(advanced)}
        prefix = f"script_txt2img_enhance_detail_{i}_"
        for name in accordion.DETAIL_EVERYDAY:
            assert prefix + name not in folded
        for name in ("dilate", "x_offset", "inpaint_size", "masked_content", "sampler", "steps",
                     "cfg", "checkpoint", "vae", "padding", "mask_blur"):  # fmt: skip
            assert prefix + name in folded, name


def _run_page(webui, tab="txt2img", change=None):
    """Press Generate with the values the page shows (the components' values), optionally
    after the user changed some; returns what Enhance ran with (enabled, config)."""
    from modules import ui

    from lib_enhance.webui import controller

    runner = webui.scripts.scripts_txt2img
    seen = []
    real = controller.check

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.append(result)
        return result

    controller.check = spy
    try:
        values = [getattr(c, "value", None) for c in runner.inputs]
        for comp, value in (change or {}).items():
            values[runner.inputs.index(comp)] = value
        values[0] = 0  # the Script dropdown (type="index"): None
        ui._generate(tab, runner, "a cat", "", 20, 0.7, False, 2.0, *values)
    finally:
        controller.check = real
    return seen[-1]


def test_saved_defaults_reach_the_run_and_never_touch_host_controls(
    start_webui, gradio_flavour, tmp_path
):
    import json

    from lib_enhance.webui import controller  # noqa: F401 - the script's module

    saved = {
        "customscript/enhance.py/txt2img/Enhance/value": True,
        "customscript/enhance.py/txt2img/Enable hires pass/value": True,
        "customscript/enhance.py/txt2img/Hires upscaler/value": "Lanczos",
        "customscript/enhance.py/txt2img/Hires upscale by/value": 3.0,
        "customscript/enhance.py/txt2img/Detail 1 confidence/value": 0.55,
        "txt2img/Upscale by/value": 1.5,  # the host's Hires.fix
    }
    (tmp_path / "ui-config.json").write_text(json.dumps(saved))
    webui = start_webui(gradio_flavour)
    script = webui.enhance_script()
    controls = dict(zip(script.controller.paths, webui.scripts.scripts_txt2img.inputs[
        script.args_from + 2 : script.args_to], strict=True))  # fmt: skip
    host_scale = webui.demo.ui_loadsave.component_mapping["txt2img/Upscale by/value"]
    assert controls[("hires", "scale")].value == 3.0 and host_scale.value == 1.5
    enabled = webui.scripts.scripts_txt2img.inputs[script.args_from]
    changes = {} if MAJOR == 3 else {enabled: True}  # Forge never saves the InputAccordion
    on, config = _run_page(webui, change=changes)
    assert on is True
    assert config["hires"]["enabled"] is True and config["hires"]["scale"] == 3.0
    assert config["hires"]["upscaler"] == "Lanczos"
    # tab 1: its saved confidence is what runs, and it stays off (not saved as on)
    assert [(p["enabled"], p["confidence"]) for p in config["detail"]] == [(False, 0.55)]
    assert webui.inner_calls()[0]["size"] == (192, 144)  # 64×48 × 3.0: the value shown ran

    # Settings → Defaults → Apply after changing Enhance's scale: only Enhance's key changes
    loadsave = webui.demo.ui_loadsave
    values = [c.value for c in loadsave.component_mapping.values()]
    keys = list(loadsave.component_mapping)
    values[keys.index("customscript/enhance.py/txt2img/Hires upscale by/value")] = 2.5
    loadsave.ui_apply(*values)
    written = json.loads((tmp_path / "ui-config.json").read_text())
    assert written["customscript/enhance.py/txt2img/Hires upscale by/value"] == 2.5
    assert written["txt2img/Upscale by/value"] == 1.5


def test_paste_restores_controls_and_the_run_uses_them(webui):
    from modules import infotext_utils

    config = {"hires": {"enabled": True, "upscaler": "Lanczos", "denoise": 0.4},
              "detail": [{"confidence": 0.45, "masked_content": "fill"}]}  # fmt: skip
    _, processed = webui.txt2img([True, config])
    params = infotext_utils.parse_generation_parameters(processed.infotexts[0])
    script = webui.enhance_script()
    updates = infotext_utils.paste_values(script.infotext_fields, params)
    by_id = {
        getattr(c, "elem_id", None): u
        for (c, _), u in zip(script.infotext_fields, updates, strict=True)
    }
    assert updates[0]["value"] is True
    assert by_id["script_txt2img_enhance_hires_denoise"]["value"] == 0.4
    assert by_id["script_txt2img_enhance_hires_upscaler"]["value"] == "Lanczos"
    pasted = {c: u["value"] for (c, _), u in zip(script.infotext_fields, updates, strict=True)}
    on, ran_with = _run_page(webui, change=pasted)
    assert on is True and ran_with == cfgmod.validate(config)


def test_folder_batch_section_is_in_img2img_only(webui):
    def labels(block):
        return {
            getattr(c, "value", None) for c in block.blocks.values() if isinstance(c, gr.Button)
        }

    txt2img, img2img = webui.blocks
    buttons = {"Process one first", "Run batch", "Resume", "Status"}
    assert buttons <= labels(img2img)
    assert not buttons & labels(txt2img)


def test_what_is_not_installed_is_said_in_the_accordion(webui):
    """These venvs have no ultralytics, as a host where install.py could not install it."""
    import importlib.util

    from lib_enhance.webui import capabilities

    txt2img, _ = webui.blocks
    notes = [
        b for b in txt2img.blocks.values()
        if getattr(b, "elem_id", None) == "script_txt2img_enhance_notice"
    ]  # fmt: skip
    assert importlib.util.find_spec("ultralytics") is None
    assert len(notes) == 1 and notes[0].value == capabilities.missing_notice()
    assert "`ultralytics`" in notes[0].value and "Everything else works" in notes[0].value
