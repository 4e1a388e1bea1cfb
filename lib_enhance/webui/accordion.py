"""The Enhance accordion, built from the config spec (works on gradio 3.41 and 4.40).

Every control comes from a `config.Field`: its kind picks the widget, its label, help (as the
host's `tooltip=`), range and default come along. `ui()` returns the controls themselves, so
what a control shows is what the run gets, however the value got there: typed, pasted from an
infotext, or set by the host from the user's saved defaults (`ui-config.json` values are set
on the components after `ui()` returned, HOST_API.md §14 — a value computed inside `ui()` from
them would never see those). Being returned also gives every control its own `ui-config.json`
key (`customscript/enhance.py/txt2img/<label>/value`), and the labels are unique within the
accordion (`Hires steps`, `Detail 2 denoising strength`), since the host keys by label alone.

The args are `[enabled, api_settings, *controls]`: API clients send `[enabled, {settings}]`
(or the settings as JSON text), and the host fills the other positions with the controls'
defaults, which are ignored when settings were sent. The UI leaves `api_settings` None and the
controls speak (`layout` gives their order).

Nothing here imports `modules.*`: gradio, the host's `InputAccordion` and refresh-button helper
are handed in by the script. Building has no side effects, because the host calls the script's
`ui()` twice more per tab at start-up (for the API's defaults).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..spec import config as cfgmod
from ..spec import infotext
from ..spec.config import SAME

Path = tuple[Any, ...]
"""Which setting a control holds: ("preset",), ("hires", "denoise"), ("detail", 1, "model")."""

UI_DETAIL_ENABLED = False
"""Detail tabs start off in the UI (the spec's default, True, is for API passes sent on
purpose)."""

DETAIL_EVERYDAY = ("enabled", "model", "confidence", "denoise", "prompt", "negative_prompt")
"""What a Detail tab shows; the rest folds into its "Advanced" accordion."""

DENOISE_GUIDE = (
    "0.2–0.3 minimal change · 0.3–0.45 sweet spot (new detail, same picture) · "
    "0.45–0.6 re-interpretation · 0.6+ regenerates"
)
SECTION_NAMES = {"hires": "Hires", "tiles": "Tiles", "qa": "QA"}
ENABLE_LABELS = {"hires": "Enable hires pass", "tiles": "Enable tiled pass",
                 "qa": "Enable quality check"}  # fmt: skip


def layout(detail_tabs: int) -> list[Path]:
    """The settings behind the controls `ui()` returns, in that order (after enable + slot)."""
    paths: list[Path] = [("preset",)]
    for section in (cfgmod.HIRES, cfgmod.TILES):
        paths += [(section.name, f.name) for f in section.fields]
    for i in range(max(1, int(detail_tabs))):
        paths += [("detail", i, f.name) for f in cfgmod.DETAIL.fields]
    paths += [("qa", f.name) for f in cfgmod.QA.fields]
    return paths


def field_at(path: Path) -> cfgmod.Field:
    if path[0] == "preset":
        return cfgmod.PRESET
    if path[0] == "detail":
        return cfgmod.DETAIL.field(path[2])
    return cfgmod.SECTION_BY_NAME[path[0]].field(path[1])


def _lower_first(text: str) -> str:
    return text if len(text) > 1 and text[1].isupper() else text[:1].lower() + text[1:]


def ui_label(path: Path) -> str:
    """A label no other Enhance control of the tab has (the host keys saved defaults by it)."""
    fld = field_at(path)
    if path[0] == "preset":
        return fld.label
    if path[0] == "detail":
        name = f"Detail {path[1] + 1}"
        return (
            f"Enable {name.lower()}"
            if fld.name == "enabled"
            else f"{name} {_lower_first(fld.label)}"
        )
    if fld.name == "enabled":
        return ENABLE_LABELS[path[0]]
    return f"{SECTION_NAMES[path[0]]} {_lower_first(fld.label)}"


def ui_default(path: Path) -> Any:
    if path[0] == "detail" and path[2] == "enabled":
        return UI_DETAIL_ENABLED
    return field_at(path).default


def cast(kind: type, value: Any) -> Any:
    """What a control delivers, as the spec's type (sliders may give floats for ints)."""
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is str and value is None:
        return ""
    return value


def settings_from_values(paths: Sequence[Path], values: Sequence[Any]) -> dict[str, Any]:
    """The settings dict the controls' values make (every key; checked by `config.validate`).

    Detail tabs the user left off and untouched at the end are dropped, so the settings are
    the same whether they come from the UI, the API or a pasted infotext.
    """
    raw: dict[str, Any] = {"preset": cfgmod.PRESET.default, "hires": {}, "tiles": {}, "qa": {}}
    passes: dict[int, dict[str, Any]] = {}
    for path, value in zip(paths, values, strict=False):
        value = cast(field_at(path).kind, value)
        if path[0] == "preset":
            raw["preset"] = value
        elif path[0] == "detail":
            passes.setdefault(path[1], {})[path[2]] = value
        else:
            raw[path[0]][path[1]] = value
    detail = [passes[i] for i in sorted(passes)]
    base = {**cfgmod.DETAIL.defaults(), "enabled": UI_DETAIL_ENABLED}
    while detail and all(detail[-1].get(k, v) == v for k, v in base.items()):
        detail.pop()
    raw["detail"] = detail
    return raw


def value_at(config: Mapping[str, Any], path: Path) -> Any:
    """The value a full config holds at `path` (UI default past the last detail pass)."""
    if path[0] == "preset":
        return config["preset"]
    if path[0] == "detail":
        passes = config["detail"]
        return passes[path[1]][path[2]] if path[1] < len(passes) else ui_default(path)
    return config[path[0]][path[1]]


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
    api_settings: Any
    paths: list[Path]
    controls: dict[Path, Any] = field(default_factory=dict)
    infotext_fields: list[tuple[Any, Any]] = field(default_factory=list)
    paste_field_names: list[str] = field(default_factory=list)

    @property
    def args(self) -> list[Any]:
        """What `ui()` returns: the script's args layout."""
        return [self.enabled, self.api_settings, *(self.controls[p] for p in self.paths)]


def pasted_config(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The config an infotext holds (None: no Enhance fields, or fields that cannot be used)."""
    try:
        return infotext.config_from_params(params)
    except cfgmod.ConfigError:
        return None


def paste_value(path: Path) -> Callable[[Mapping[str, Any]], Any]:
    """Infotext paste callable: the pasted value, or None (leave the control) if no Enhance."""

    def read(params: Mapping[str, Any]) -> Any:
        config = pasted_config(params)
        return None if config is None else value_at(config, path)

    return read


def paste_enabled(params: Mapping[str, Any]) -> Any:
    return True if pasted_config(params) is not None else None


ENABLE_TOOLTIP = "Turn Enhance on: runs the enabled stages on every image this tab makes"
SLOT_NOTE = "API clients: [enabled, {settings}] — the settings dict (or JSON text) goes here"


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
    source: str | None = None,
    notice: str = "",
) -> UiParts:
    """Build the accordion inside the current gradio context; return its parts.

    `source` is the script's file name: the host gives the controls `ui()` returns their own
    `ui-config.json` keys with it; the accordion gives it to its other labelled components
    (folder-batch fields, refresh buttons) too. `folder_batch` (a
    `folder_batch.FolderBatchActions`) adds the img2img "Folder batch" section; its buttons
    are not script args. `notice` (what is not installed and what still works) is shown at the
    top when given.
    """
    paths = layout(detail_tabs)
    builder = _Builder(gr, elem_id, lists, refresh_button)
    # No `tooltip=` here: Forge hands every keyword to gr.Accordion, which (unlike components)
    # rejects it, and a raise in ui() stops Forge's API from starting. Set it afterwards.
    with InputAccordion(False, label="Enhance", elem_id=elem_id("enable")) as enabled:
        for part in (enabled, getattr(enabled, "accordion", None)):
            if part is not None:
                part.webui_tooltip = ENABLE_TOOLTIP
        if notice:
            gr.Markdown(notice, elem_id=elem_id("notice"))
        api_settings = gr.State(value=None)
        builder.control(("preset",))
        for section in (cfgmod.HIRES, cfgmod.TILES):
            with gr.Accordion(section.label, open=False, elem_id=elem_id(section.name)):
                builder.rows([(section.name, f.name) for f in section.fields])
        with gr.Tabs(elem_id=elem_id("detail_tabs")):
            for i in range(max(1, int(detail_tabs))):
                with gr.Tab(f"Detail {i + 1}", elem_id=elem_id(f"detail_{i}_tab")):
                    builder.detail_tab(i)
        with gr.Accordion(cfgmod.QA.label, open=False, elem_id=elem_id("qa")):
            builder.rows([("qa", f.name) for f in cfgmod.QA.fields])
        if is_img2img and folder_batch is not None:
            _folder_batch_section(gr, elem_id, paths, builder, folder_batch)
    parts = UiParts(enabled, api_settings, paths, builder.controls)
    parts.infotext_fields = [
        (enabled, paste_enabled),
        *[(builder.controls[path], paste_value(path)) for path in paths],
    ]
    parts.paste_field_names = [infotext.INFOTEXT_KEY] + [
        infotext.key(path[0], path[-1], path[1] if path[0] == "detail" else 0) for path in paths
    ]
    if source:
        returned = {id(c) for c in parts.args}
        for comp in builder.others:
            if id(comp) not in returned:
                comp.custom_script_source = source
    return parts


def _folder_batch_section(
    gr: Any, elem_id: Callable[[str], str], paths: list[Path], builder: _Builder, actions: Any
) -> None:
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
        local = gr.Checkbox(  # --enhance-queue servers only: bypass the queue
            label=actions.LOCAL_LABEL, visible=actions.queued(), elem_id=elem_id("batch_local")
        )
    builder.others += [src, dst, one, run, resume, status, gallery, text, local]
    controls = [builder.controls[p] for p in paths]
    outputs = [gallery, text]

    def settings(values: Sequence[Any]) -> dict[str, Any]:
        return settings_from_values(paths, values)

    one.click(lambda s, d, *v: actions.process_one(s, d, settings(v)), [src, dst, *controls],
              outputs)  # fmt: skip
    run.click(lambda s, d, j, loc, *v: actions.run(s, d, settings(v), j, loc),
              [src, dst, job, local, *controls], [*outputs, job])  # fmt: skip
    resume.click(actions.resume, [src, dst, job, local], [*outputs, job])
    status.click(actions.status, [job], outputs)


class _Builder:
    def __init__(self, gr: Any, elem_id: Callable[[str], str], lists: HostLists, refresh: Any):
        self.gr = gr
        self.elem_id = elem_id
        self.lists = lists
        self.refresh = refresh
        self.controls: dict[Path, Any] = {}
        self.others: list[Any] = []
        """Labelled components that are not controls (they still get Enhance's config keys)."""

    def rows(self, paths: Sequence[Path]) -> None:
        for start in range(0, len(paths), 3):
            with self.gr.Row():
                for path in paths[start : start + 3]:
                    self.control(path)

    def detail_tab(self, index: int) -> None:
        """Everyday controls first; mask geometry, sizes and sampling under "Advanced"."""
        fields = [f.name for f in cfgmod.DETAIL.fields]
        everyday = [("detail", index, n) for n in DETAIL_EVERYDAY]
        self.rows(everyday[:4])
        with self.gr.Row():
            for path in everyday[4:]:
                self.control(path)
        advanced = [("detail", index, n) for n in fields if n not in DETAIL_EVERYDAY]
        with self.gr.Accordion(
            "Advanced", open=False, elem_id=self.elem_id(f"detail_{index}_advanced")
        ):
            self.rows(advanced)

    def control(self, path: Path) -> Any:
        gr = self.gr
        fld = field_at(path)
        ident = self.elem_id("_".join(str(x) for x in path))
        value = ui_default(path)
        common = {"label": ui_label(path), "elem_id": ident, "tooltip": fld.help}
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
                listed = functools.partial(self._choices, fld.names)
                self.others.append(self.refresh(comp, rescan, listed, ident + "_refresh"))
        elif fld.kind in (int, float) and fld.minimum is not None and fld.maximum is not None:
            if fld.name == "denoise":
                common["info"] = DENOISE_GUIDE
            comp = gr.Slider(
                minimum=fld.minimum, maximum=fld.maximum, step=fld.step or 1, value=value, **common
            )
        else:
            lines = 2 if "prompt" in fld.name else 1
            comp = gr.Textbox(value=value, lines=lines, **common)
        self.controls[path] = comp
        return comp

    def _choices(self, kind: str) -> dict[str, Any]:
        return {"choices": self.lists.choices(kind)}
