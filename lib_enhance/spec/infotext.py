"""Enhance's infotext fields: short `Enhance …: value` pairs people can read, and their paste-back.

Written the way A1111 writes "Hires upscaler: …" and ADetailer "ADetailer model: …": one key per
setting that differs from its default, one line per stage saying what really ran, and the
warnings. For example::

    Enhance: hires + detail 1, Enhance hires upscaler: R-ESRGAN 4x+, Enhance hires denoise: 0.4,
    Enhance detail 1 model: face_yolov8n.pt, Enhance hires: R-ESRGAN 4x+ → 1024×1536 · denoise
    0.4 · 20 steps · other [1a2b3c4d], Enhance detail 1: face_yolov8n.pt · 2 regions (of 3
    detections) · confidence ≥ 0.3 · denoise 0.4

Paste-back reads only the setting keys (`config_from_params`) and restores them exactly: values
are written so that the host's own quoting and parsing (`infotext_utils.quote`,
`parse_generation_parameters`: commas, colons, newlines, quotes, `512x512`-looking text) give
back the same value, which `encode_value` checks by running that round trip itself.

Older forms still paste: `migrate` runs in the host's `on_infotext_pasted(infotext, params)`
before the paste fields are read and rewrites them into the keys above:
- `Enhance: {"v": 1, "config": {...}, "ran": {...}}` (JSON, every image before this format);
- `Enhance: {...}` holding a bare config object;
- split keys of early builds: `Enhance hires: {...}`, `Enhance detail: [...]`,
  `Enhance preset: anime`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from .config import (
    DETAIL,
    HIRES,
    PRESET,
    QA,
    SECTION_BY_NAME,
    TILES,
    ConfigError,
    Field,
    Problem,
    defaults,
    validate,
)

INFOTEXT_KEY = "Enhance"
PREFIX = INFOTEXT_KEY + " "
WARNINGS_KEY = "Enhance warnings"
SECTION_WORDS = {"hires": "hires", "tiles": "tiles", "qa": "QA"}
"""How each section is named in keys (detail passes are "detail 1", "detail 2", …)."""
STAGE_KEYS = {"hires": "Enhance hires", "tiles": "Enhance tiles", "qa": "Enhance QA"}
SEP = " · "


def key(section: str, field: str, index: int = 0) -> str:
    """The infotext key of one setting: `Enhance hires denoise`, `Enhance detail 2 model`."""
    words = field.replace("_", " ")
    if section == PRESET.name:
        return f"{PREFIX}preset"
    if section == DETAIL.name:
        return f"{PREFIX}detail {index + 1} {words}"
    return f"{PREFIX}{SECTION_WORDS[section]} {words}"


def stage_key(stage: str) -> str:
    """The key of a stage's "what ran" line: `Enhance hires`, `Enhance detail 1`, `Enhance QA`."""
    return STAGE_KEYS.get(stage, PREFIX + stage)


# ---------------------------------------------------------------------------------- values
# The host's own rules (A1111/Forge infotext_utils), so the round trip can be checked here.

_IMAGE_SIZE = re.compile(r"^(\d+)x(\d+)$")
PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def host_quote(text: str) -> str:
    """`infotext_utils.quote`: JSON-quote a value holding a comma, a newline or a colon."""
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def host_unquote(text: str) -> str:
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _through_host(written: str) -> str | None:
    """What the host's parser hands back for a value written as `written` (None: lost)."""
    found = PARAM.findall(f"key: {host_quote(written)}")
    if len(found) != 1:
        return None
    raw = found[0][1]
    value = host_unquote(raw) if raw[:1] == '"' and raw[-1:] == '"' else raw
    value = value.strip() if value is raw else value
    return None if _IMAGE_SIZE.match(value) else value


def decode_str(value: str) -> str:
    """A string value as `encode_value` wrote it: JSON-quoted when it needed protection."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, str):
            return decoded
    return value


def encode_value(fld: Field, value: Any) -> str:
    """Text for `value` that the host's write → parse → `decode_value` turns back into it."""
    if fld.kind is bool:
        return "True" if value else "False"
    if fld.kind is int:
        return str(int(value))
    if fld.kind is float:
        text = repr(float(value))
        return text[:-2] if text.endswith(".0") else text
    text = str(value)
    for _ in range(4):  # 0: as it is; 1: JSON-quoted; more for quotes inside quotes
        back = _through_host(text)
        if back is not None and decode_str(back) == value:
            return text
        text = json.dumps(text, ensure_ascii=False)
    return text


def decode_value(fld: Field, text: Any) -> Any:
    """The typed value of an infotext text for `fld` (raises ValueError when it is not one)."""
    if not isinstance(text, str):
        return text  # an API client may send params already typed
    if fld.kind is bool:
        if text.strip().lower() in ("true", "false"):
            return text.strip().lower() == "true"
        raise ValueError(f"not true/false: {text!r}")
    if fld.kind is int:
        number = float(text)
        if not number.is_integer():
            raise ValueError(f"not an integer: {text!r}")
        return int(number)
    if fld.kind is float:
        return float(text)
    return decode_str(text)


# ---------------------------------------------------------------------------------- writing


def diff_from_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """Only what differs from the defaults (the review page and the old JSON form use it)."""
    base = defaults()
    out: dict[str, Any] = {}
    if config["preset"] != base["preset"]:
        out["preset"] = config["preset"]
    for section in (HIRES, TILES, QA):
        changed = {k: v for k, v in config[section.name].items() if v != base[section.name][k]}
        if changed:
            out[section.name] = changed
    if config["detail"]:
        dflt = DETAIL.defaults()
        out["detail"] = [{k: v for k, v in p.items() if v != dflt[k]} for p in config["detail"]]
    return out


def enabled_stages(config: Mapping[str, Any]) -> list[str]:
    names = [s for s in ("hires", "tiles") if config[s]["enabled"]]
    names += [f"detail {i + 1}" for i, p in enumerate(config["detail"]) if p["enabled"]]
    return names


def setting_fields(config: Mapping[str, Any]) -> dict[str, str]:
    """The settings that differ from the defaults; every detail pass names its detector (so a
    pass with default settings still exists after the paste)."""
    out: dict[str, str] = {}
    if config["preset"] != PRESET.default:
        out[key("preset", "preset")] = encode_value(PRESET, config["preset"])
    for section in (HIRES, TILES, QA):
        for fld in section.fields:
            value = config[section.name][fld.name]
            if value != fld.default:
                out[key(section.name, fld.name)] = encode_value(fld, value)
    for i, pass_cfg in enumerate(config["detail"]):
        for fld in DETAIL.fields:
            value = pass_cfg[fld.name]
            if value != fld.default or fld.name == "model":
                out[key(DETAIL.name, fld.name, i)] = encode_value(fld, value)
    return out


def fields(
    config: Mapping[str, Any],
    ran: Mapping[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> dict[str, str]:
    """Every Enhance infotext field of one image, in the order they are written."""
    out = {INFOTEXT_KEY: " + ".join(enabled_stages(config)) or "on"}
    out.update(setting_fields(config))
    for stage, entry in (ran or {}).items():
        if isinstance(entry, Mapping):
            out[stage_key(stage)] = describe(stage, entry)
    if warnings:
        out[WARNINGS_KEY] = "; ".join(dict.fromkeys(str(w) for w in warnings))
    return out


def to_infotext(
    config: Mapping[str, Any], ran: Mapping[str, Any] | None = None, warnings: Sequence[str] = ()
) -> str:
    """The fields as one infotext line, quoted as the host quotes them."""
    return join(fields(config, ran, warnings))


def join(values: Mapping[str, str]) -> str:
    return ", ".join(f"{k}: {host_quote(str(v))}" for k, v in values.items())


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _size(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]}×{value[1]}"  # not "WxH": the host would split that key in two
    return str(value)


def describe(stage: str, entry: Mapping[str, Any]) -> str:
    """One readable line of what a stage really did (not pasted back)."""
    status = entry.get("status", "ok")
    if stage == "qa":
        scores = [f"{k} {_num(entry[k])}" for k in ("seam", "halo", "drift") if k in entry]
        return SEP.join([str(entry.get("verdict", status)), *scores])
    if status in ("failed", "interrupted"):
        return SEP.join([status, str(entry.get("error") or "")]).rstrip(SEP)
    parts: list[str] = []
    if entry.get("model"):
        parts.append(str(entry["model"]))
    if "regions" in entry:
        found = f"{entry['regions']} regions"
        if entry.get("detections", entry["regions"]) != entry["regions"]:
            found += f" (of {entry['detections']} detections)"
        parts.append(found)
    if "confidence" in entry:
        parts.append(f"confidence ≥ {_num(entry['confidence'])}")
    if entry.get("upscaler"):
        target = f" → {_size(entry['size'])}" if entry.get("size") else ""
        parts.append(f"{entry['upscaler']}{target}")
    if entry.get("via"):
        parts.append(f"via {entry['via']}")
    if "tiles" in entry:
        parts.append(f"{entry['tiles']} tiles")
    denoise = entry.get("denoise")
    if isinstance(denoise, list):
        parts.append("denoise " + "/".join(_num(d) for d in denoise))
    elif denoise is not None:
        parts.append(f"denoise {_num(denoise)}")
    if entry.get("steps"):
        parts.append(f"{entry['steps']} steps")
    if entry.get("checkpoint"):
        model = str(entry["checkpoint"])
        if entry.get("checkpoint_hash") and entry["checkpoint_hash"] not in model:
            model += f" [{entry['checkpoint_hash']}]"
        parts.append(model)
    if status == "skipped":
        parts.insert(
            0, f"skipped ({entry.get('skipped') or entry.get('reason') or 'nothing to do'})"
        )
    return SEP.join(parts) or status


# ---------------------------------------------------------------------------------- reading


def _setting_keys() -> dict[str, tuple[str, str]]:
    """Key (without prefix) → (section, field) for every non-detail setting, aliases too."""
    table: dict[str, tuple[str, str]] = {"preset": ("preset", "preset")}
    for section in (HIRES, TILES, QA):
        for fld in section.fields:
            for name in (fld.name, *fld.aliases):
                table[f"{SECTION_WORDS[section.name]} {name.replace('_', ' ')}"] = (
                    section.name,
                    fld.name,
                )
                table[f"{section.name} {name.replace('_', ' ')}"] = (section.name, fld.name)
    return table


_SETTINGS = _setting_keys()
_DETAIL_FIELDS = {
    name.replace("_", " "): fld.name for fld in DETAIL.fields for name in (fld.name, *fld.aliases)
}
_DETAIL_KEY = re.compile(r"^detail (\d+) (.+)$")


def _locate(name: str) -> tuple[str, int, str] | None:
    """(section, pass index, field) that a key names; None for stage lines and unknown keys."""
    if name in _SETTINGS:
        section, fld = _SETTINGS[name]
        return section, 0, fld
    match = _DETAIL_KEY.match(name)
    if match and match.group(2) in _DETAIL_FIELDS:
        return DETAIL.name, int(match.group(1)) - 1, _DETAIL_FIELDS[match.group(2)]
    return None


def has_enhance(params: Mapping[str, Any]) -> bool:
    return bool(params.get(INFOTEXT_KEY)) or any(
        isinstance(k, str) and k.startswith(PREFIX) and _locate(k[len(PREFIX) :]) is not None
        for k in params
    )


def config_from_params(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The full config an image's parsed infotext holds, or None if it has no Enhance fields.

    Old forms are migrated on a copy first. Raises ConfigError naming the key and value that
    cannot be used.
    """
    params = dict(params)
    migrate("", params)
    if not has_enhance(params):
        return None
    raw: dict[str, Any] = {}
    passes: dict[int, dict[str, Any]] = {}
    problems: list[Problem] = []
    for name, text in params.items():
        if not isinstance(name, str) or not name.startswith(PREFIX):
            continue
        found = _locate(name[len(PREFIX) :])
        if found is None:
            continue
        section, index, fld_name = found
        fld = PRESET if section == "preset" else SECTION_BY_NAME[section].field(fld_name)
        try:
            value = decode_value(fld, text)
        except (TypeError, ValueError) as exc:
            problems.append(Problem(name, text, fld.allowed(), str(exc)))
            continue
        if section == "preset":
            raw["preset"] = value
        elif section == DETAIL.name:
            passes.setdefault(index, {})[fld_name] = value
        else:
            raw.setdefault(section, {})[fld_name] = value
    if problems:
        raise ConfigError(problems)
    if passes:
        raw["detail"] = [passes.get(i, {}) for i in range(max(passes) + 1)]
    return validate(raw)


def parse_line(text: str) -> dict[str, str]:
    """`Key: value, …` pairs of one infotext line, read as the host reads them."""
    out: dict[str, str] = {}
    for name, value in PARAM.findall(text):
        out[name.strip()] = host_unquote(value) if value[:1] == '"' else value
    return out


def from_infotext(text: str) -> dict[str, Any]:
    """The config of an infotext line (or of an old JSON `Enhance` value); ConfigError if none."""
    stripped = text.strip()
    params = {INFOTEXT_KEY: stripped} if stripped.startswith("{") else parse_line(stripped)
    try:
        config = config_from_params(params)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError([Problem(INFOTEXT_KEY, text, "Enhance infotext", str(exc))]) from None
    if config is None:
        raise ConfigError([Problem(INFOTEXT_KEY, text, "Enhance infotext fields")])
    return config


def status_of(line: str) -> str:
    """ok | skipped | failed | interrupted, from a stage line `describe` wrote."""
    head = line.split(SEP, 1)[0].split(" (", 1)[0]
    return head if head in ("skipped", "failed", "interrupted") else "ok"


def summary(text_or_params: str | Mapping[str, Any]) -> dict[str, Any]:
    """Everything Enhance wrote into one infotext: settings, one line per stage, warnings."""
    params = (
        parse_line(text_or_params.strip().split("\n")[-1])
        if isinstance(text_or_params, str)
        else dict(text_or_params)
    )
    stages = {}
    for name, value in params.items():
        stage = name[len(PREFIX) :]
        if name.startswith(PREFIX) and name != WARNINGS_KEY and _locate(stage) is None:
            stages["qa" if stage == "QA" else stage] = value
    return {
        "config": config_from_params(params),
        "stages": stages,
        "warnings": params.get(WARNINGS_KEY, ""),
    }


# ---------------------------------------------------------------------------------- migration


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _flatten(raw: Mapping[str, Any], params: MutableMapping[str, Any]) -> None:
    """An old config dict → current keys in `params` (validated: aliases and defaults resolved)."""
    config = validate(raw)
    params[INFOTEXT_KEY] = " + ".join(enabled_stages(config)) or "on"
    params.update(setting_fields(config))


def migrate(infotext: str, params: MutableMapping[str, Any]) -> None:
    """Rewrite old forms in `params` in place (the host's on_infotext_pasted signature).

    Unreadable old values are left as they are: pasting then reports them rather than guessing.
    """
    raw: dict[str, Any] = {}
    for name in [k for k in params if isinstance(k, str) and k.startswith(PREFIX)]:
        words = name[len(PREFIX) :]
        value = _decode(params[name])
        if words in ("hires", "tiles", "qa", "detail") and isinstance(value, (dict, list)):
            raw[words] = value  # early split keys holding JSON
            del params[name]
    current = params.get(INFOTEXT_KEY)
    record = _decode(current) if isinstance(current, str) and current.startswith("{") else None
    if isinstance(record, dict):
        config = record.get("config", record) if ("v" in record or "config" in record) else record
        if isinstance(config, Mapping):
            raw = {**config, **raw}
    if not raw:
        return
    if "preset" not in raw and PREFIX + "preset" in params:
        raw["preset"] = params.pop(PREFIX + "preset")
    try:
        _flatten(raw, params)
    except ConfigError:
        return
