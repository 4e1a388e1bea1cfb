"""The single declarative spec of every Enhance argument.

One `Field` per argument drives everything that a user can see or send: validation of the API
dict, the JSON schema, defaults, the infotext record and its paste-back, and the UI controls.
Peers keep these in five places that drift apart (positional API lists, infotext tables, UI
code); here a renamed key keeps working through `aliases`, and a wrong value gets an error that
names the field, the value and what is allowed.

The API dict has the shape ``{"preset": ..., "hires": {...}, "tiles": {...}, "detail": [{...},
...], "qa": {...}}``. Missing keys take their defaults; unknown keys are errors.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SAME = "same"
"""Sentinel for checkpoint / VAE / sampler fields: keep what the image was made with."""

AUTO = "auto"
"""Upscaler value meaning "the best one the host has for the preset" (see presets)."""

PRESETS = ("general", "anime", "realistic", "custom")


@dataclass(frozen=True)
class Field:
    """One argument. Everything about it that any consumer needs lives here."""

    name: str
    kind: type
    """bool, int, float or str. Values are checked against it strictly (no "true" strings)."""
    default: Any
    label: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    """UI slider step; for ints with a step, values must also be multiples of it."""
    choices: tuple[str, ...] = ()
    """Fixed allowed values (dropdown/radio)."""
    names: str = ""
    """Name of a host list the value must be in ("upscaler", "checkpoint", "vae", "sampler",
    "scheduler", "detector"). Checked only when the caller passes those lists."""
    aliases: tuple[str, ...] = ()
    """Older or alternative key names, accepted in API dicts and pasted infotext."""

    def allowed(self) -> str:
        """Human text of what this field accepts, for error messages and the schema."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind is bool:
            return "true or false"
        if self.kind in (int, float):
            noun = "an integer" if self.kind is int else "a number"
            if self.minimum is not None and self.maximum is not None:
                text = f"{noun} from {_num(self.minimum)} to {_num(self.maximum)}"
            elif self.minimum is not None:
                text = f"{noun} ≥ {_num(self.minimum)}"
            else:
                text = noun
            if self.kind is int and self.step and self.step > 1:
                text += f", a multiple of {_num(self.step)}"
            return text
        if self.names:
            return f"a {self.names} name the host has"
        return "a string"


@dataclass(frozen=True)
class Section:
    """A group of fields: one key of the API dict. `repeated` sections are lists (detail)."""

    name: str
    label: str
    fields: tuple[Field, ...]
    repeated: bool = False
    aliases: tuple[str, ...] = ()

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields}


def is_same(name: str | None) -> bool:
    """True for the values that mean "no swap": None, "", "same" (any case), "None"."""
    return name is None or name.strip().lower() in ("", SAME, "none", "use same checkpoint")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _enabled(default: bool, what: str) -> Field:
    return Field("enabled", bool, default, "Enable", f"Run the {what}.")


def _denoise(default: float, what: str, aliases: tuple[str, ...] = ()) -> Field:
    return Field(
        "denoise", float, default, "Denoising strength",
        f"How much the {what} may change. 0.2–0.3 minimal, 0.3–0.45 sweet spot, "
        "0.45–0.6 re-interpretation, 0.6+ regenerates.",
        0.0, 1.0, 0.01, aliases=("denoising_strength", "strength", *aliases),
    )  # fmt: skip


def _steps() -> Field:
    return Field("steps", int, 0, "Steps", "Sampling steps; 0 = the image's own steps.", 0, 150, 1)


def _upscaler() -> Field:
    return Field(
        "upscaler", str, AUTO, "Upscaler",
        "Host upscaler by name; 'auto' picks the best one the host has for the preset.",
        names="upscaler",
    )  # fmt: skip


def _scale() -> Field:
    return Field(
        "scale", float, 2.0, "Upscale by",
        "Scale factor of this stage's input; ignored when width and height are set.",
        1.0, 8.0, 0.05,
    )  # fmt: skip


def _target(axis: str) -> Field:
    return Field(
        axis, int, 0, f"Target {axis}",
        f"Exact output {axis} in pixels (multiple of 8); 0 = use the scale.", 0, 16384, 8,
    )  # fmt: skip


def _sampler_fields() -> tuple[Field, ...]:
    return (
        Field("sampler", str, SAME, "Sampler", "'same' = the image's sampler.", names="sampler"),
        Field("scheduler", str, SAME, "Scheduler", "'same' = the image's.", names="scheduler"),
        Field("cfg", float, 0.0, "CFG scale", "0 = the image's CFG scale.", 0.0, 30.0, 0.5),
    )


def _prompt_fields() -> tuple[Field, ...]:
    return (
        Field(
            "prompt", str, "", "Prompt",
            "Empty = the image's prompt; [PROMPT] stands for it inside your text.",
        ),
        Field(
            "negative_prompt", str, "", "Negative prompt",
            "Empty = the image's negative prompt; [PROMPT] stands for it.",
            aliases=("negative",),
        ),
    )  # fmt: skip


def _model_fields() -> tuple[Field, ...]:
    return (
        Field(
            "checkpoint", str, SAME, "Checkpoint",
            "Run this stage on another checkpoint; 'same' = no swap.",
            names="checkpoint", aliases=("ckpt", "sd_model_checkpoint"),
        ),
        Field("vae", str, SAME, "VAE", "'same' = no change.", names="vae"),
    )  # fmt: skip


HIRES = Section(
    "hires", "Hires pass",
    (
        _enabled(False, "hires pass: upscale, then re-diffuse the whole image"),
        _upscaler(), _scale(), _target("width"), _target("height"),
        _denoise(0.35, "hires pass", ("hr_denoise",)),
        _steps(), *_sampler_fields(), *_prompt_fields(), *_model_fields(),
    ),
    aliases=("hires_fix", "hr"),
)  # fmt: skip

SEAM_FIX_MODES = ("off", "half-tile")

TILES = Section(
    "tiles", "Tiled pass",
    (
        _enabled(False, "tiled pass: upscale, then re-diffuse in overlapping tiles"),
        _upscaler(), _scale(), _target("width"), _target("height"),
        Field("tile_size", int, 576, "Tile size",
              "Least tile width and height in pixels; a tile grows by up to the overlap when "
              "that saves a row or column of tiles.", 256, 2048, 8, aliases=("tile",)),
        Field("overlap", int, 64, "Overlap", "Least overlap between tiles, pixels.", 0, 512, 8,
              aliases=("padding", "tile_overlap")),
        Field("batch_size", int, 4, "Tiles per batch",
              "Tiles sent to the sampler at once; lower it if you run out of VRAM.", 1, 16, 1),
        _denoise(0.3, "tiled pass"),
        _steps(), *_sampler_fields(), *_prompt_fields(),
        Field("seam_fix", str, "off", "Seam fix",
              "Re-diffuse the bands across the tile seams (the overlap plus a feather) "
              "after the tiled pass.",
              choices=SEAM_FIX_MODES),
        Field("seam_denoise", float, 0.25, "Seam fix denoise",
              "Denoising strength of the seam-fix bands.", 0.0, 1.0, 0.01),
        Field("color_match", bool, True, "Match colours",
              "Match each tile's colours to the upscaled source (no brightness steps)."),
        *_model_fields(),
    ),
    aliases=("tiled", "tile"),
)  # fmt: skip

TOP_K_BY = ("area", "confidence")
SORT_ORDERS = ("left-right", "centre-out", "largest", "confidence")
MERGE_MODES = ("none", "merge", "merge-invert")
MASKED_CONTENT = ("original", "fill", "latent noise", "latent nothing")
"""What a region's masked area starts from, as in the host's inpaint tab."""
BUILTIN_FACE = "face (built-in)"

DETAIL = Section(
    "detail", "Detail pass",
    (
        _enabled(True, "detail pass"),
        Field("model", str, BUILTIN_FACE, "Detector",
              "Detector model by name, from the list of models found.", names="detector",
              aliases=("detector", "ad_model")),
        Field("classes", str, "", "Classes",
              "Comma-separated class names to keep (multi-class models); empty = all."),
        Field("confidence", float, 0.3, "Confidence", "Least detection score.", 0.0, 1.0, 0.01,
              aliases=("ad_confidence",)),
        Field("min_area", float, 0.0, "Min area ratio",
              "Drop regions smaller than this fraction of the image.", 0.0, 1.0, 0.001),
        Field("max_area", float, 1.0, "Max area ratio",
              "Drop regions larger than this fraction of the image.", 0.0, 1.0, 0.001),
        Field("top_k", int, 0, "Keep top k", "Keep the k best regions; 0 = all.", 0, 100, 1),
        Field("top_k_by", str, "area", "Top k by", "Rank regions by.", choices=TOP_K_BY),
        Field("sort", str, "left-right", "Order", "Order of regions (and of [SEP] prompts).",
              choices=SORT_ORDERS),
        Field("x_offset", int, 0, "Mask x offset", "Move masks right (+) or left (−), pixels.",
              -512, 512, 1),
        Field("y_offset", int, 0, "Mask y offset", "Move masks down (+) or up (−), pixels.",
              -512, 512, 1),
        Field("dilate", int, 4, "Dilate / erode", "Grow (+) or shrink (−) masks, pixels.",
              -128, 128, 1),
        Field("merge", str, "none", "Mask merge",
              "none = one inpaint per region; merge = all regions at once; merge-invert = "
              "everything but the regions.", choices=MERGE_MODES),
        Field("mask_blur", int, 4, "Mask blur", "Feather of the pasted edge, pixels.", 0, 64, 1),
        Field("padding", int, 32, "Padding", "Context around each region, pixels.", 0, 256, 1),
        Field("inpaint_size", int, 512, "Inpaint size",
              "Longest side each region is processed at (multiple of 8).", 256, 2048, 8),
        Field("masked_content", str, "original", "Masked content",
              "What the region starts from: original = the image (keeps its layout); fill = "
              "its surrounding colours; latent noise / latent nothing = redrawn from scratch "
              "(needs a high denoise). The context around the region is held fixed either way.",
              choices=MASKED_CONTENT, aliases=("inpainting_fill", "inpaint_fill")),
        Field("dynamic_denoise", bool, False, "Dynamic denoise",
              "Smaller regions get a little more denoise, larger ones a little less."),
        _denoise(0.4, "detail pass", ("ad_denoising_strength",)),
        _steps(), *_sampler_fields(), *_prompt_fields(), *_model_fields(),
    ),
    repeated=True,
    aliases=("detailer", "details", "detail_passes"),
)  # fmt: skip

QA_SENSITIVITIES = ("relaxed", "normal", "strict")
"""The factors live in qa.SENSITIVITY (a floor above); the help text below repeats them and
tests/test_qa.py checks that it does."""

QA = Section(
    "qa", "Quality check",
    (
        _enabled(True, "quality check (seams, halos, drift) and flag images for review"),
        Field("sensitivity", str, "normal", "Sensitivity",
              "How readily images are flagged: relaxed = clear faults only (thresholds ×1.5); "
              "normal; strict = faint faults too, with more false alarms (thresholds ×0.7).",
              choices=QA_SENSITIVITIES),
        Field("seam_threshold", float, 0.6, "Seam threshold",
              "Flag a step along a tile or region edge above this (≈ grey levels in flat "
              "areas, less in texture). Good results score below ≈ 0.4; a 3-level step along "
              "a flat stretch 1–2.5.", 0.0, 100.0, 0.05),
        Field("halo_threshold", float, 1.05, "Halo threshold",
              "Flag rings beside strong edges beyond a normal sharpening above this (% of edge "
              "contrast, worst quarter of the image). ESRGAN-like sharpening scores below "
              "0.3, with re-diffusion grain below 1; visible halos 2–20.", 0.0, 100.0, 0.05),
        Field("drift_threshold", float, 0.085, "Drift threshold",
              "Flag a local change above this (0–1, after removing any global colour/contrast "
              "grade): ≈ a ΔE 4 tint of an object, an object moved by 1 % of the image side; "
              "a global grade counts as its ΔE / 100. Good results score below ≈ 0.07.",
              0.0, 1.0, 0.005),
    ),
)  # fmt: skip

PRESET = Field(
    "preset", str, "general", "Preset",
    "Content type: picks upscalers and warns on settings that fight it. custom = no guidance.",
    choices=PRESETS,
)  # fmt: skip

SECTIONS: tuple[Section, ...] = (HIRES, TILES, DETAIL, QA)
SECTION_BY_NAME = {s.name: s for s in SECTIONS}


# --------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config: where, what was given, what is allowed."""

    path: str
    value: Any
    allowed: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: got {self.value!r}; allowed: {self.allowed}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(ValueError):
    """An API dict or pasted infotext that cannot be used. Lists every problem found."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    def as_dict(self) -> dict[str, Any]:
        """JSON body for an HTTP 422."""
        return {
            "error": "invalid Enhance arguments",
            "problems": [
                {"field": p.path, "value": _jsonable(p.value), "allowed": p.allowed, "hint": p.hint}
                for p in self.problems
            ],
        }


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class HostNames:
    """The names the host actually has, for checking name fields. Empty list = not checked."""

    lists: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def check(self, fld: Field, value: str) -> Problem | None:
        known = self.lists.get(fld.names)
        if not known or value in known or value in (SAME, AUTO):
            return None
        close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(repr(k) for k in list(known)[:20])
        return Problem("", value, f"one of {shown}", hint)


def _check_value(fld: Field, value: Any) -> tuple[Any, str | None]:
    """Return (normalised value, None) or (value, reason it is wrong)."""
    if fld.kind is bool:
        return (value, None) if isinstance(value, bool) else (value, "wrong type")
    if fld.kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value, "wrong type"
        if not math.isfinite(value):
            return value, "not finite"
        if fld.kind is int:
            if float(value) != int(value):
                return value, "not an integer"
            value = int(value)
        else:
            value = float(value)
        if fld.minimum is not None and value < fld.minimum:
            return value, "too small"
        if fld.maximum is not None and value > fld.maximum:
            return value, "too large"
        if fld.kind is int and fld.step and fld.step > 1 and value % fld.step and value != 0:
            return value, "not a multiple"
        return value, None
    if not isinstance(value, str):
        return value, "wrong type"
    if fld.choices and value not in fld.choices:
        return value, "not a choice"
    return value, None


def _resolve_key(key: str, names: dict[str, str], path: str, problems: list[Problem]) -> str:
    """Map an API key (or alias) to its canonical name; record a problem for unknown keys."""
    if key in names:
        return names[key]
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
    hint = f"did you mean {names[close[0]]!r}?" if close else ""
    allowed = "keys " + ", ".join(sorted(set(names.values())))
    problems.append(Problem(f"{path}{key}", key, allowed, hint or "unknown key"))
    return ""


def _key_names(items: Sequence[Field] | Sequence[Section]) -> dict[str, str]:
    names: dict[str, str] = {}
    for item in items:
        names[item.name] = item.name
        for alias in item.aliases:
            names[alias] = item.name
    return names


def _validate_section(
    section: Section, raw: Any, path: str, hosts: HostNames, problems: list[Problem]
) -> dict[str, Any]:
    out = section.defaults()
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, raw, f"an object with keys of '{section.name}'"))
        return out
    names = _key_names(section.fields)
    for key, value in raw.items():
        name = _resolve_key(str(key), names, path + ".", problems)
        if not name:
            continue
        fld = section.field(name)
        value, why = _check_value(fld, value)
        if why:
            problems.append(Problem(f"{path}.{name}", value, fld.allowed(), why))
            continue
        if fld.names and isinstance(value, str):
            bad = hosts.check(fld, value)
            if bad:
                problems.append(Problem(f"{path}.{name}", value, bad.allowed, bad.hint))
                continue
        out[name] = value
    return out


def validate(raw: Any, hosts: HostNames | None = None) -> dict[str, Any]:
    """Check an API dict and return the full config (every key present, aliases resolved).

    Raises ConfigError listing every problem. `hosts` adds checks of names against the host's
    lists (upscalers, checkpoints, detectors …) where the caller has them.
    """
    hosts = hosts or HostNames()
    problems: list[Problem] = []
    config = defaults()
    if raw is None:
        return config
    if not isinstance(raw, Mapping):
        raise ConfigError([Problem("(args)", raw, "an object with keys preset, hires, tiles, "
                                   "detail, qa")])  # fmt: skip
    top = {PRESET.name: PRESET.name, **_key_names(SECTIONS)}
    for key, value in raw.items():
        name = _resolve_key(str(key), top, "", problems)
        if name == PRESET.name:
            value, why = _check_value(PRESET, value)
            if why:
                problems.append(Problem("preset", value, PRESET.allowed(), why))
            else:
                config["preset"] = value
        elif name == DETAIL.name:
            config["detail"] = _validate_passes(value, hosts, problems)
        elif name:
            section = SECTION_BY_NAME[name]
            config[name] = _validate_section(section, value, name, hosts, problems)
    if problems:
        raise ConfigError(problems)
    return config


def _validate_passes(raw: Any, hosts: HostNames, problems: list[Problem]) -> list[dict[str, Any]]:
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        problems.append(Problem("detail", raw, "a list of detail-pass objects"))
        return []
    return [
        _validate_section(DETAIL, item, f"detail[{i}]", hosts, problems)
        for i, item in enumerate(raw)
    ]


def defaults() -> dict[str, Any]:
    """The config an empty API dict means: no stage enabled, no detail passes."""
    return {
        "preset": PRESET.default,
        "hires": HIRES.defaults(),
        "tiles": TILES.defaults(),
        "detail": [],
        "qa": QA.defaults(),
    }


def any_stage_enabled(config: Mapping[str, Any]) -> bool:
    return bool(
        config["hires"]["enabled"]
        or config["tiles"]["enabled"]
        or any(p["enabled"] for p in config["detail"])
    )


# --------------------------------------------------------------------------------------------
# JSON schema


def _field_schema(fld: Field) -> dict[str, Any]:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string"}
    schema: dict[str, Any] = {
        "type": kinds[fld.kind],
        "default": fld.default,
        "title": fld.label,
        "description": fld.help,
    }
    if fld.minimum is not None:
        schema["minimum"] = fld.minimum
    if fld.maximum is not None:
        schema["maximum"] = fld.maximum
    if fld.choices:
        schema["enum"] = list(fld.choices)
    if fld.kind is int and fld.step and fld.step > 1:
        schema["description"] += f" Multiple of {_num(fld.step)} (or 0)."
    if fld.names:
        schema["x-enhance-names"] = fld.names
    if fld.aliases:
        schema["x-enhance-aliases"] = list(fld.aliases)
    return schema


def _section_schema(section: Section) -> dict[str, Any]:
    obj = {
        "type": "object",
        "title": section.label,
        "additionalProperties": False,
        "properties": {f.name: _field_schema(f) for f in section.fields},
    }
    if section.aliases:
        obj["x-enhance-aliases"] = list(section.aliases)
    if section.repeated:
        return {"type": "array", "title": section.label + "es", "items": obj}
    return obj


def json_schema() -> dict[str, Any]:
    """JSON schema (draft 2020-12) of the API dict, published at /enhance/v1/schema."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Enhance arguments",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "preset": _field_schema(PRESET),
            **{s.name: _section_schema(s) for s in SECTIONS},
        },
    }
