"""The accordion in a real browser: Debian's chromium driven by Playwright, against the stand-in
page served by the host's own gradio (3.41.2 for A1111, 4.40.0 for Forge) on a free port.

One page, the way a user goes: saved defaults shown and used; tick Enhance, set a hires pass,
Generate — the script receives what the page shows; a preset change; paste an infotext back
(ticks and restores); reload; and no console errors from Enhance's components. The script's
view is read in-process (the server runs in this process), the page's from the DOM.

Run in the matching venv: `-m gradio3` or `-m gradio4`.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from lib_enhance.spec import config as cfgmod

gr = pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")
MAJOR = int(gr.__version__.split(".")[0])
FLAVOUR = "a1111" if MAJOR == 3 else "forge"
pytestmark = [pytest.mark.gradio3 if MAJOR == 3 else pytest.mark.gradio4, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
E = "#script_txt2img_enhance_"
SAVED = {
    "customscript/enhance.py/txt2img/Hires upscale by/value": 3.0,
    "customscript/enhance.py/txt2img/Hires upscaler/value": "Lanczos",
    "txt2img/Upscale by/value": 1.5,  # the host's own Hires.fix control
}
PASTED = {"preset": "anime",
          "hires": {"enabled": True, "upscaler": "Lanczos", "scale": 1.25, "denoise": 0.33},
          "detail": [{"enabled": False, "confidence": 0.45, "masked_content": "fill"}]}  # fmt: skip


class Seen:
    """What the script validated (enabled, config) and the infotexts Generate returned."""

    def __init__(self, configs: list, done: list):
        self.configs = configs
        self.done = done


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def page_server(start_webui, tmp_path, monkeypatch):
    """The stand-in host's page, with the user's saved defaults, served on a free port; every
    (enabled, config) Enhance's script validated is recorded."""
    from lib_enhance.webui import controller

    (tmp_path / "ui-config.json").write_text(json.dumps(SAVED))
    webui = start_webui(FLAVOUR)
    seen: list[Any] = []
    real = controller.check

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(real(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(controller, "check", spy)
    from modules import ui

    real_generate = ui._generate
    done: list[Any] = []

    def generate(*args: Any) -> Any:
        result = real_generate(*args)
        done.append(result[2])  # the infotext HTML the page will show
        return result

    monkeypatch.setattr(ui, "_generate", generate)
    port = _free_port()
    webui.demo.queue()
    webui.demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True
    )
    try:
        yield webui, f"http://127.0.0.1:{port}/", Seen(seen, done)
    finally:
        webui.demo.close()


@pytest.fixture
def page(tmp_path):
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1200, "height": 2400},
        )
        page = context.new_page()
        # nothing leaves this machine: the theme's web fonts are refused before any lookup
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("http://127.0.0.1")
                else route.abort()
            ),
        )
        page.console_errors = []
        page.on(
            "console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
        yield page
        context.close()


def _load(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(E + "enable-visible-checkbox", timeout=60_000)


def _number(page: Any, elem: str) -> float:
    return float(page.input_value(f"{elem} input[type=number]"))


def _set_number(page: Any, elem: str, value: float) -> None:
    box = page.locator(f"{elem} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    box.blur()


def _open(page: Any, elem: str) -> None:
    page.click(f"{elem} .label-wrap")


def _choose(page: Any, elem: str, option: str) -> None:
    page.click(f"{elem} input")
    page.locator(f"{elem} li", has_text=option).first.click()


def _info(page: Any) -> str:
    return page.evaluate(
        "() => (document.querySelector('#html_info_txt2img') || {innerText: ''}).innerText"
    )


def _generate(page: Any, seen: Seen) -> tuple[bool, dict]:
    """Press Generate; wait until the run finished and its infotext is on the page (gradio 4
    shows its timer, e.g. "0.4s", in the same element before the infotext arrives)."""
    runs = len(seen.done)
    page.click("#txt2img_generate")
    for _ in range(600):
        if len(seen.done) > runs:
            break
        page.wait_for_timeout(100)
    assert len(seen.done) > runs, "Generate did not finish"
    page.wait_for_function(
        "() => { const t = (document.querySelector('#html_info_txt2img') || {}).innerText || '';"
        " return t.includes('Steps: ') && !t.includes('processing'); }",
        timeout=30_000,
    )
    return seen.configs[-1]


def test_what_the_page_shows_is_what_runs(page_server, page):
    webui, url, seen = page_server
    _load(page, url)

    # saved defaults: Enhance's own keys, shown on load; the host's control keeps its own
    assert _number(page, E + "hires_scale") == 3.0
    assert _number(page, "#txt2img_hr_scale") == 1.5

    # tick Enhance (its header opens and ticks it, as on the hosts), then set a hires pass
    _open(page, E + "enable")
    assert page.is_checked(E + "enable-visible-checkbox")
    _open(page, E + "hires")
    page.check(E + "hires_enabled input")
    _set_number(page, E + "hires_denoise", 0.42)
    shown = (_number(page, E + "hires_scale"), _number(page, E + "hires_denoise"))
    on, config = _generate(page, seen)
    assert on is True
    hires = config["hires"]
    assert (hires["enabled"], hires["scale"], hires["denoise"]) == (True, *shown)
    assert hires["upscaler"] == "Lanczos"  # a saved default that was never touched
    assert "Enhance hires: Lanczos → 192×144" in _info(page)
    assert webui.inner_calls()[-1]["size"] == (192, 144)  # 64×48 × the 3.0 shown

    # a preset change reaches the run
    _choose(page, E + "preset", "realistic")
    on, config = _generate(page, seen)
    assert config["preset"] == "realistic" and config["hires"]["denoise"] == 0.42

    # paste an infotext back (the ↙ button reads the prompt box): ticks and restores
    _, processed = webui.txt2img([True, PASTED])
    page.reload()
    _load(page, url)
    assert not page.is_checked(E + "enable-visible-checkbox")
    page.fill("#txt2img_prompt textarea", processed.infotexts[0])
    page.click("#txt2img_paste")
    page.wait_for_function(
        f"() => document.querySelector('{E}hires_scale input[type=number]').value == '1.25'",
        timeout=30_000,
    )
    assert page.is_checked(E + "enable-visible-checkbox")
    assert page.input_value(E + "preset input") == "anime"
    on, config = _generate(page, seen)
    assert on is True and config == cfgmod.validate(PASTED)

    # reload: the page shows the defaults again, and that is what runs
    page.reload()
    _load(page, url)
    assert _number(page, E + "hires_scale") == 3.0
    assert not page.is_checked(E + "enable-visible-checkbox")
    on, config = _generate(page, seen)
    assert on is False and config["hires"]["scale"] == 3.0

    ours = [e for e in page.console_errors if "enhance" in e.lower()]
    assert ours == [], page.console_errors
