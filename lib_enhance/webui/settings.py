"""The "Enhance" section of the WebUI Settings, and how the script reads it.

Options are read with `opts.data.get(key, default)`: until the Settings page is built (and in
API-only start-ups before that), `opts.<key>` raises for keys the user never saved.
"""

from __future__ import annotations

from typing import Any

SECTION = ("enhance", "Enhance")
CATEGORY = "postprocessing"

DETAIL_TABS = "enhance_detail_tabs"
SAVE_BEFORE = "enhance_save_before"
PREVIEW = "enhance_detection_preview"
MODELS_DIR = "enhance_models_dir"
NESTED_SCRIPTS = "enhance_nested_scripts"
VRAM_BUDGET = "enhance_vram_budget"

NESTED_SCRIPTS_DEFAULT = (
    "soft_inpainting,hypertile_script,dynamic_thresholding,lora_block_weight,negpip,"
    "sd_forge_freeu,forge_freeu"
)
"""Always-on scripts (by file stem) that also run inside nested jobs. Others (ControlNet,
ADetailer, regional prompters …) hold per-image state sized for the user's image: a tile or a
face crop must not get them. The ADetailer pattern, with a setting to change it."""

DEFAULTS: dict[str, Any] = {
    DETAIL_TABS: 2,
    SAVE_BEFORE: False,
    PREVIEW: False,
    MODELS_DIR: "",
    NESTED_SCRIPTS: NESTED_SCRIPTS_DEFAULT,
    VRAM_BUDGET: 0.0,
}

GIB = 1024**3


def vram_budget(opts: Any) -> int | None:
    """The VRAM budget in bytes the user set (Settings → Enhance), or None for automatic (0,
    unset, or not a number)."""
    try:
        value = float(get(opts, VRAM_BUDGET) or 0)
    except (TypeError, ValueError):
        return None
    return int(value * GIB) if value > 0 else None


def get(opts: Any, key: str) -> Any:
    """An Enhance option, or its default when never saved (never raises)."""
    default = DEFAULTS.get(key)
    data = getattr(opts, "data", None) or {}
    return data.get(key, default)


def detail_tabs(opts: Any) -> int:
    try:
        return max(1, min(8, int(get(opts, DETAIL_TABS))))
    except (TypeError, ValueError):
        return DEFAULTS[DETAIL_TABS]


def register(shared: Any, gr: Any) -> None:
    """on_ui_settings: add the options (`shared` and `gradio` handed in by the script)."""
    info = shared.OptionInfo
    section = {"section": SECTION, "category_id": CATEGORY}
    options = {
        DETAIL_TABS: info(
            DEFAULTS[DETAIL_TABS], "Number of detail-pass tabs", gr.Slider,
            {"minimum": 1, "maximum": 8, "step": 1}, **section,
        ).needs_reload_ui(),
        SAVE_BEFORE: info(
            DEFAULTS[SAVE_BEFORE], "Also save each image as it was before Enhance", **section,
        ),
        PREVIEW: info(
            DEFAULTS[PREVIEW],
            "Show the detail passes' detection preview (numbered masks) in the gallery, "
            "and save it beside the image",
            **section,
        ),
        MODELS_DIR: info(
            DEFAULTS[MODELS_DIR],
            "Detector models folder (empty = models/enhance; --enhance-models-dir wins)",
            **section,
        ),
        NESTED_SCRIPTS: info(
            NESTED_SCRIPTS_DEFAULT,
            "Other always-on scripts (file names, comma-separated) that also run inside "
            "Enhance's own passes",
            **section,
        ),
        VRAM_BUDGET: info(
            DEFAULTS[VRAM_BUDGET],
            "VRAM budget for Enhance's sampler calls, GB (0 = automatic: the free VRAM when "
            "a stage starts). Decides how many images or tiles share a call, and runs a hires "
            "target that would not fit as tiles; an out-of-memory error is retried smaller "
            "either way",
            gr.Number, {"minimum": 0, "step": 0.5}, **section,
        ),
    }  # fmt: skip
    for key, option in options.items():
        shared.opts.add_option(key, option)
