"""The accordion built by the real gradio of each host: 3.41.2 (A1111, Classic, reForge),
4.40.0 (Forge, Neo).

Run in the matching venv: `-m gradio3` or `-m gradio4`; each test runs on every stand-in of that
venv's gradio (the `gradio_flavour` fixture).
"""

from __future__ import annotations

import pytest

from lib_enhance.spec import config as cfgmod

gr = pytest.importorskip("gradio")
MAJOR = int(gr.__version__.split(".")[0])
pytestmark = [pytest.mark.gradio3 if MAJOR == 3 else pytest.mark.gradio4]


@pytest.fixture
def webui(start_webui, gradio_flavour):
    return start_webui(gradio_flavour, gradio_ui=True)


@pytest.mark.parametrize("img2img", [False, True])
def test_args_layout_is_enable_then_one_dict(webui, img2img):
    script = webui.enhance_script(img2img=img2img)
    runner = webui.scripts.scripts_img2img if img2img else webui.scripts.scripts_txt2img
    assert script.args_to - script.args_from == 2
    enabled, state = runner.inputs[script.args_from : script.args_to]
    assert isinstance(enabled, gr.Checkbox) and enabled.value is False
    assert isinstance(state, gr.State) and state.value == {}
    tab = "img2img" if img2img else "txt2img"
    assert enabled.elem_id == f"script_{tab}_enhance_enable-checkbox"
    assert script.name == "enhance"


def test_every_control_has_an_id_and_a_tooltip(webui):
    script = webui.enhance_script()
    controls = [c for c, _ in script.infotext_fields[2:]]
    n_fields = 1 + sum(len(s.fields) for s in (cfgmod.HIRES, cfgmod.TILES, cfgmod.QA))
    assert len(controls) == n_fields + 2 * len(cfgmod.DETAIL.fields)  # 2 detail tabs
    ids = [c.elem_id for c in controls]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("script_txt2img_enhance_") for i in ids)
    # both hosts keep a component's tooltip= as webui_tooltip (what the page shows)
    assert all(getattr(c, "webui_tooltip", None) for c in controls)
    enabled = script.infotext_fields[0][0]
    assert enabled.webui_tooltip and enabled.accordion.webui_tooltip
    assert "script_txt2img_enhance_detail_1_model" in ids


def test_ui_has_no_side_effects_when_called_again(webui):
    """The API builds ui() twice more per tab in a throw-away Blocks."""
    script = webui.enhance_script()
    before = list(webui.scripts.scripts_txt2img.inputs)
    with gr.Blocks():
        again = script.ui(False)
    assert len(again) == 2 and again[0] is not before[script.args_from]
    assert webui.scripts.scripts_txt2img.inputs == before


def test_change_handlers_write_the_dict(webui):
    from lib_enhance.webui import accordion

    value = accordion._store(("hires", "steps"), int, {}, 12.0)  # sliders deliver floats
    assert value == {"hires": {"steps": 12}} and isinstance(value["hires"]["steps"], int)
    assert cfgmod.validate(value)["hires"]["steps"] == 12


def test_paste_restores_controls_and_ticks_enable(webui):
    from modules import infotext_utils

    config = {"hires": {"enabled": True, "upscaler": "Lanczos", "denoise": 0.4}}
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
    assert cfgmod.validate(updates[1]["value"])["hires"]["denoise"] == 0.4


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
