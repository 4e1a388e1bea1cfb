"""Fixtures that start a stand-in host with Enhance installed: A1111 1.10.1, Forge main, Forge
Neo, Forge Classic or reForge (tests/webui/hosts/README.md). Glue tests that take `webui` run on
all five; the gradio tests start the flavours of their venv's gradio (`gradio_flavours`)."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path
from typing import Any

import pytest

HOSTS = Path(__file__).parent / "hosts"
REPO = Path(__file__).resolve().parents[2]
FLAVOURS = ("a1111", "forge", "neo", "classic", "reforge")
GRADIO = {"a1111": 3, "classic": 3, "reforge": 3, "forge": 4, "neo": 4}
"""Which gradio each host runs: the gradio3 venv starts A1111, Classic (3.4x) and reForge, the
gradio4 venv Forge and Neo."""


def _gradio_major() -> int | None:
    try:
        return int(importlib.metadata.version("gradio").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        return None


VENV_FLAVOURS = tuple(f for f in FLAVOURS if GRADIO[f] == _gradio_major())
"""The flavours whose gradio this venv has (none without gradio)."""
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


HOST_BOUND = ("host_adapter", "capabilities")
"""Our modules that bind `modules.*` at import: re-imported with each stand-in."""


def _purge() -> None:
    ours = tuple(f"lib_enhance.webui.{name}" for name in HOST_BOUND)
    for name in list(sys.modules):
        if name in ("modules", "modules_forge", "launch") or name.startswith(
            ("modules.", "modules_forge.", *ours)
        ):
            del sys.modules[name]
    package = sys.modules.get("lib_enhance.webui")
    for name in HOST_BOUND:  # else `from lib_enhance.webui import host_adapter` is stale
        if package is not None and hasattr(package, name):
            delattr(package, name)


class WebUI:
    """A started stand-in host with Enhance loaded, and helpers that mirror the host's entries."""

    def __init__(self, flavour: str, root: Path):
        self.flavour = flavour
        self.root = root
        from modules import (
            _boot,
            _flavour,
            errors,
            images,
            img2img,
            processing,
            script_callbacks,
            scripts,
            sd_models,
            shared,
        )  # fmt: skip

        self.boot = _boot
        self.host = _flavour.HOST
        """What this flavour has (tests/webui/hosts/common/modules/_flavour.py)."""
        self.forge = self.host.forge_backend
        self.errors, self.images, self.img2img_mod = errors, images, img2img
        self.processing, self.scripts, self.sd_models = processing, scripts, sd_models
        self.shared, self.script_callbacks = shared, script_callbacks

    # ---- set-up

    def start(self, gradio_ui: bool = False) -> None:
        self.boot.boot(self.root)
        soft, other = _recorders(self.scripts)
        self.boot.load_extension_scripts(
            str(REPO), extra_classes=[(soft, "/ext/soft_inpainting.py"), (other, "/ext/other.py")]
        )
        self.blocks = []
        if gradio_ui:  # the host imports its gradio patches (tooltip=) at start-up
            name = "gradio_extensions" if self.forge else "gradio_extensons"  # sic, A1111
            __import__(f"modules.{name}")
            from modules import ui

            self.demo = ui.create_ui()
            self.blocks = list(self.demo.tab_interfaces)
        else:
            for runner in (self.scripts.scripts_txt2img, self.scripts.scripts_img2img):
                for script in runner.alwayson_scripts:
                    if getattr(script, "is_enhance", False):
                        script.ui = _stub_ui(script)
                runner.setup_ui()
        self.sd_models.LOADS.clear()

    def enhance_script(self, img2img: bool = False) -> Any:
        runner = self.scripts.scripts_img2img if img2img else self.scripts.scripts_txt2img
        return next(s for s in runner.alwayson_scripts if getattr(s, "is_enhance", False))

    def script_args(self, runner: Any, args: list[Any]) -> tuple[Any, ...]:
        values: list[Any] = [0] + [None] * (len(runner.inputs) - 1)
        script = next(s for s in runner.alwayson_scripts if getattr(s, "is_enhance", False))
        for i, value in enumerate(args[: script.args_to - script.args_from]):
            values[script.args_from + i] = value
        return tuple(values)

    # ---- the host's entries (txt2img.py / img2img.py), same order of assignments

    def txt2img(self, args: list[Any], **fields: Any) -> tuple[Any, Any]:
        runner = self.scripts.scripts_txt2img
        defaults = dict(prompt="a cat", negative_prompt="blurry", seed=1000, steps=20,
                        sampler_name="Euler a", scheduler="Automatic", cfg_scale=7.0,
                        width=64, height=48, outpath_samples=str(self.root / "txt2img"),
                        outpath_grids=str(self.root / "grids"))  # fmt: skip
        if self.forge:
            defaults["hr_additional_modules"] = []
        if self.host.hires_cfg_field == "hr_cfg_scale":  # Classic's UI sends the CFG
            defaults["hr_cfg_scale"] = defaults["cfg_scale"]
        p = self.processing.StableDiffusionProcessingTxt2Img(**{**defaults, **fields})
        p.scripts = runner
        p.script_args = self.script_args(runner, args)
        return p, self._run(p, runner)

    def img2img_p(self, args: list[Any], image: Any, **fields: Any) -> Any:
        runner = self.scripts.scripts_img2img
        defaults = dict(prompt="a dog", negative_prompt="", seed=2000, steps=20,
                        sampler_name="Euler a", scheduler="Automatic", cfg_scale=7.0,
                        width=image.width, height=image.height, denoising_strength=0.5,
                        init_images=[image], outpath_samples=str(self.root / "img2img"),
                        outpath_grids=str(self.root / "grids"))  # fmt: skip
        p = self.processing.StableDiffusionProcessingImg2Img(**{**defaults, **fields})
        p.scripts = runner
        p.script_args = self.script_args(runner, args)
        return p

    def img2img(self, args: list[Any], image: Any, **fields: Any) -> tuple[Any, Any]:
        p = self.img2img_p(args, image, **fields)
        return p, self._run(p, self.scripts.scripts_img2img)

    def _run(self, p: Any, runner: Any) -> Any:
        state = self.shared.state
        state.begin(job="test")
        try:
            return runner.run(p, *p.script_args) or self.processing.process_images(p)
        finally:
            state.end()

    # ---- what tests look at

    def loaded_title(self) -> str | None:
        model = self.sd_models.model_data.sd_model
        return getattr(getattr(model, "sd_checkpoint_info", None), "title", None)

    def title(self, name: str) -> str:
        return self.sd_models.get_closet_checkpoint_match(name).title

    def inner_calls(self) -> list[dict]:
        return [c for c in self.processing.CALLS if c["inner"]]


def _stub_ui(script: Any) -> Any:
    """The controls' defaults in `ui()`'s layout, without gradio."""
    from lib_enhance.webui import accordion

    paths = accordion.layout(2)

    def ui(is_img2img: bool) -> list[Any]:
        script.controller.paths = paths
        return [_Stub(False), _Stub(None), *[_Stub(accordion.ui_default(p)) for p in paths]]

    return ui


class _Stub:
    """A control as the API's default-args code sees it: only `.value`."""

    def __init__(self, value: Any):
        self.value = value


def _recorders(scripts: Any) -> tuple[type, type]:
    class SoftRec(scripts.Script):  # whitelisted by file stem: runs in nested jobs too
        def title(self):
            return "SoftRec"

        def show(self, is_img2img):
            return scripts.AlwaysVisible

        def setup(self, p, *args):
            pass

        def process(self, p, *args):
            pass

        def postprocess_image(self, p, pp, *args):
            pass

        def postprocess(self, p, processed, *args):
            pass

    class OtherRec(SoftRec):  # not whitelisted: must not run in nested jobs
        def title(self):
            return "OtherRec"

    return SoftRec, OtherRec


def _start(flavour: str, root: Path, gradio_ui: bool) -> WebUI:
    _purge()
    sys.path[:0] = [str(HOSTS / flavour), str(HOSTS / "common")]
    webui = WebUI(flavour, root)
    webui.start(gradio_ui=gradio_ui)
    return webui


def _stop() -> None:
    boot = sys.modules.get("modules._boot")
    if boot is not None:
        boot.stop()
    for entry in [*(str(HOSTS / f) for f in FLAVOURS), str(HOSTS / "common"), str(REPO)]:
        while entry in sys.path[:3]:
            sys.path.remove(entry)
    _purge()


@pytest.fixture(params=FLAVOURS)
def webui(request: Any, tmp_path: Path) -> Any:
    yield _start(request.param, tmp_path, gradio_ui=False)
    _stop()


@pytest.fixture(params=VENV_FLAVOURS)
def gradio_flavour(request: Any) -> str:
    """Each flavour that runs on this venv's gradio (the gradio UI and API tests)."""
    return request.param


@pytest.fixture
def start_webui(tmp_path: Path) -> Any:
    """Factory for tests that pick the flavour themselves (gradio/fastapi venvs)."""
    started = []

    def start(flavour: str, gradio_ui: bool = True) -> WebUI:
        started.append(flavour)
        return _start(flavour, tmp_path, gradio_ui)

    yield start
    if started:
        _stop()
