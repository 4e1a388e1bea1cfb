"""The Enhance accordion, built from the config spec (works on gradio 3.41 and 4.40).

Every control comes from a `config.Field`: its kind picks the widget, its label, help (as the
host's `tooltip=`), range and default come along. All controls write into ONE `gr.State` dict,
so the script's args are `[enabled, config_dict]` in the UI and in the API alike, and the dict
holds only what the user touched (the rest are the spec's defaults).

Nothing here imports `modules.*`: gradio, the host's `InputAccordion` and refresh-button helper
are handed in by the script. Building has no side effects, because the host calls the script's
`ui()` twice more per tab at start-up (for the API's defaults).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..spec import config as cfgmod
from ..spec import presets
from ..spec.config import SAME
from ..spec.infotext import INFOTEXT_KEY, diff_from_defaults, from_infotext

Path = tuple[Any, ...]
"""Where a control writes: ("preset",), ("hires", "denoise"), ("detail", 1, "model")."""

UI_DETAIL_ENABLED = False
"""Detail tabs start off in the UI (the spec's default, True, is for API passes sent on
purpose)."""


@dataclass
class HostLists:
    """Callables giving the host's names (called at build and by refresh buttons)."""

    upscalers: Callable[[], Sequence[str]] = lambda: []
    checkpoints: Callable[[], Sequence[str]] = lambda: []
    vaes: Callable[[], Sequence[str]] = lambda: []
    samplers: Callable[[], Sequence[str]] = lambda: []
    schedulers: Callable[[], Sequence[str]] = lambda: []
    detectors: Callable[[], Sequence[str]] = lambda: []
    rescan: Callable[[str], None] = lambda kind: None
    """Refresh button: make the host look for new files of `kind` before listing."""

    def choices(self, kind: str) -> list[str]:
        special = {"upscaler": [cfgmod.AUTO], "detector": []}.get(kind, [SAME])
        getter = {
            "upscaler": self.upscalers, "checkpoint": self.checkpoints, "vae": self.vaes,
            "sampler": self.samplers, "scheduler": self.schedulers, "detector": self.detectors,
        }[kind]  # fmt: skip
        try:
            found = list(getter())
        except Exception:  # a broken list must not break the whole tab
            found = []
        if kind == "detector" and cfgmod.BUILTIN_FACE not in found:
            found.insert(0, cfgmod.BUILTIN_FACE)
        return special + [n for n in found if n not in special]


@dataclass
class UiParts:
    enabled: Any
    state: Any
    controls: dict[Path, Any] = field(default_factory=dict)
    infotext_fields: list[tuple[Any, Any]] = field(default_factory=list)
    paste_field_names: list[str] = field(default_factory=list)

    @property
    def args(self) -> list[Any]:
        """What `ui()` returns: the script's args layout."""
        return [self.enabled, self.state]


def set_value(current: Mapping[str, Any] | None, path: Path, value: Any) -> dict[str, Any]:
    """A copy of the sparse UI dict with `path` set (detail passes padded as UI-off)."""
    out = json.loads(json.dumps(current or {}))
    if path[0] == "preset":
        out["preset"] = value
        return out
    if path[0] == "detail":
        passes = out.setdefault("detail", [])
        while len(passes) <= path[1]:
            passes.append({"enabled": UI_DETAIL_ENABLED})
        passes[path[1]][path[2]] = value
        return out
    out.setdefault(path[0], {})[path[1]] = value
    return out


def ui_default(path: Path) -> Any:
    if path[0] == "preset":
        return cfgmod.PRESET.default
    if path[0] == "detail":
        return UI_DETAIL_ENABLED if path[2] == "enabled" else cfgmod.DETAIL.field(path[2]).default
    return cfgmod.SECTION_BY_NAME[path[0]].field(path[1]).default


def value_at(config: Mapping[str, Any], path: Path) -> Any:
    """The value a full config holds at `path` (UI default past the last detail pass)."""
    if path[0] == "preset":
        return config["preset"]
    if path[0] == "detail":
        passes = config["detail"]
        return passes[path[1]][path[2]] if path[1] < len(passes) else ui_default(path)
    return config[path[0]][path[1]]


@functools.lru_cache(maxsize=8)
def _pasted(text: str) -> dict[str, Any] | None:
    try:
        return from_infotext(text)[0]
    except cfgmod.ConfigError:
        return None


def pasted_config(params: Mapping[str, Any]) -> dict[str, Any] | None:
    text = params.get(INFOTEXT_KEY)
    return _pasted(text) if isinstance(text, str) and text else None


def paste_value(path: Path) -> Callable[[Mapping[str, Any]], Any]:
    """Infotext paste callable: the pasted value, or None (leave the control) if no Enhance."""

    def read(params: Mapping[str, Any]) -> Any:
        config = pasted_config(params)
        return None if config is None else value_at(config, path)

    return read


def paste_state(params: Mapping[str, Any]) -> Any:
    config = pasted_config(params)
    return None if config is None else diff_from_defaults(config)


def paste_enabled(params: Mapping[str, Any]) -> Any:
    return True if pasted_config(params) is not None else None


def denoise_label(value: float) -> str:
    try:
        return f"Denoising strength · {presets.denoise_band(float(value)).label}"
    except (TypeError, ValueError):
        return "Denoising strength"


ENABLE_TOOLTIP = "Turn Enhance on: runs the enabled stages on every image this tab makes"


def build(
    gr: Any,
    *,
    InputAccordion: Any,
    elem_id: Callable[[str], str],
    lists: HostLists,
    detail_tabs: int = 2,
    refresh_button: Callable[..., Any] | None = None,
    is_img2img: bool = False,
    folder_batch: Any = None,
    notice: str = "",
) -> UiParts:
    """Build the accordion inside the current gradio context; return its parts.

    `folder_batch` (a `folder_batch.FolderBatchActions`) adds the img2img "Folder batch"
    section; its buttons are not script args, so the args layout stays `[enabled, state]`.
    `notice` (what is not installed and what still works) is shown at the top when given.
    """
    builder = _Builder(gr, elem_id, lists, refresh_button)
    # No `tooltip=` here: Forge hands every keyword to gr.Accordion, which (unlike components)
    # rejects it, and a raise in ui() stops Forge's API from starting. Set it afterwards.
    with InputAccordion(False, label="Enhance", elem_id=elem_id("enable")) as enabled:
        for part in (enabled, getattr(enabled, "accordion", None)):
            if part is not None:
                part.webui_tooltip = ENABLE_TOOLTIP
        if notice:
            gr.Markdown(notice, elem_id=elem_id("notice"))
        state = gr.State(value={})
        builder.state = state
        builder.control(("preset",), cfgmod.PRESET)
        for section in (cfgmod.HIRES, cfgmod.TILES):
            with gr.Accordion(section.label, open=False, elem_id=elem_id(section.name)):
                builder.section(section, (section.name,))
        with gr.Tabs(elem_id=elem_id("detail_tabs")):
            for i in range(max(1, int(detail_tabs))):
                with gr.Tab(f"Detail {i + 1}", elem_id=elem_id(f"detail_{i}_tab")):
                    builder.section(cfgmod.DETAIL, ("detail", i))
        with gr.Accordion(cfgmod.QA.label, open=False, elem_id=elem_id("qa")):
            builder.section(cfgmod.QA, ("qa",))
        if is_img2img and folder_batch is not None:
            _folder_batch_section(gr, elem_id, state, folder_batch)
    parts = UiParts(enabled, state, builder.controls)
    parts.infotext_fields = [
        (enabled, paste_enabled),
        (state, paste_state),
        *[(comp, paste_value(path)) for path, comp in builder.controls.items()],
    ]
    parts.paste_field_names = [INFOTEXT_KEY]
    return parts


def _folder_batch_section(gr: Any, elem_id: Callable[[str], str], state: Any, actions: Any) -> None:
    """Folders, the four buttons, and where their results show (gallery + status line)."""
    with gr.Accordion("Folder batch", open=False, elem_id=elem_id("folder_batch")):
        src = gr.Textbox(label="Input folder", elem_id=elem_id("batch_input"))
        dst = gr.Textbox(
            label="Output folder (not inside the input)", elem_id=elem_id("batch_output")
        )
        with gr.Row():
            one = gr.Button("Process one first", elem_id=elem_id("batch_one"))
            run = gr.Button("Run batch", elem_id=elem_id("batch_run"))
            resume = gr.Button("Resume", elem_id=elem_id("batch_resume"))
            status = gr.Button("Status", elem_id=elem_id("batch_status"))
        gallery = gr.Gallery(label="Before / after", elem_id=elem_id("batch_gallery"))
        text = gr.Textbox(label="Batch status", interactive=False, elem_id=elem_id("batch_text"))
        job = gr.State(value="")  # this browser session's batch job id
    outputs = [gallery, text]
    one.click(actions.process_one, [src, dst, state], outputs)
    run.click(actions.run, [src, dst, state, job], [*outputs, job])
    resume.click(actions.resume, [src, dst, job], [*outputs, job])
    status.click(actions.status, [job], outputs)


class _Builder:
    def __init__(self, gr: Any, elem_id: Callable[[str], str], lists: HostLists, refresh: Any):
        self.gr = gr
        self.elem_id = elem_id
        self.lists = lists
        self.refresh = refresh
        self.state: Any = None
        self.controls: dict[Path, Any] = {}

    def _choices(self, kind: str) -> dict[str, Any]:
        return {"choices": self.lists.choices(kind)}

    def section(self, section: cfgmod.Section, prefix: Path) -> None:
        fields = list(section.fields)
        for start in range(0, len(fields), 3):
            with self.gr.Row():
                for fld in fields[start : start + 3]:
                    self.control((*prefix, fld.name), fld)

    def control(self, path: Path, fld: cfgmod.Field) -> Any:
        gr = self.gr
        ident = self.elem_id("_".join(str(x) for x in path))
        value = ui_default(path)
        common = {"label": fld.label, "elem_id": ident, "tooltip": fld.help}
        if fld.kind is bool:
            comp = gr.Checkbox(value=value, **common)
        elif fld.choices:
            comp = gr.Dropdown(choices=list(fld.choices), value=value, **common)
        elif fld.names:
            choices = self.lists.choices(fld.names)
            if value not in choices:
                choices.insert(0, value)
            comp = gr.Dropdown(choices=choices, value=value, allow_custom_value=True, **common)
            if self.refresh is not None:
                rescan = functools.partial(self.lists.rescan, fld.names)
                choices = functools.partial(self._choices, fld.names)
                self.refresh(comp, rescan, choices, ident + "_refresh")
        elif fld.kind in (int, float) and fld.minimum is not None and fld.maximum is not None:
            if fld.name == "denoise":
                common["label"] = denoise_label(value)
            comp = gr.Slider(
                minimum=fld.minimum, maximum=fld.maximum, step=fld.step or 1, value=value, **common
            )
            if fld.name == "denoise":
                comp.change(fn=lambda v: gr.update(label=denoise_label(v)), inputs=[comp],
                            outputs=[comp], queue=False, show_progress="hidden")  # fmt: skip
        else:
            lines = 2 if "prompt" in fld.name else 1
            comp = gr.Textbox(value=value, lines=lines, **common)
        comp.change(
            fn=functools.partial(_store, path, fld.kind),
            inputs=[self.state, comp],
            outputs=[self.state],
            queue=False,
            show_progress="hidden",
        )
        self.controls[path] = comp
        return comp


def _store(path: Path, kind: type, current: Any, value: Any) -> dict[str, Any]:
    """Change handler: sliders may deliver floats for ints (gradio), cast per the spec."""
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return set_value(current if isinstance(current, Mapping) else {}, path, value)
