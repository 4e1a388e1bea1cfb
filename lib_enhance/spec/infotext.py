"""The `Enhance` infotext key: what is written into every image, and how old forms paste back.

One key holds compact JSON ``{"v": 1, "config": {...}, "ran": {...}}``: the settings (only
what differs from the defaults) and what actually ran. `migrate` runs in the host's
`on_infotext_pasted(infotext, params)` before the paste fields are applied, so every control
(and the API's `infotext` field) sees the current form only.

Migrated forms:
- `Enhance: {...}` holding a bare config object (no `{"v": …, "config": …}` record);
- split keys written by early builds: `Enhance hires: {...}`, `Enhance tiles: {...}`,
  `Enhance detail: [...]`, `Enhance qa: {...}`, `Enhance preset: anime`;
- `Enhance hires denoise: 0.4`-style single values (any field of any section).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping
from typing import Any

from .config import DETAIL, HIRES, QA, TILES, ConfigError, Problem, defaults, validate

INFOTEXT_KEY = "Enhance"


def diff_from_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """Only what differs from the defaults: short infotext, and exact when validated back."""
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


def to_infotext(config: Mapping[str, Any], ran: Mapping[str, Any] | None = None) -> str:
    """The value of the `Enhance` infotext key: the settings, and what actually ran.

    Compact JSON: infotext values are quoted by the host when they hold commas, and JSON makes
    the round trip exact for every string a user can type.
    """
    record: dict[str, Any] = {"v": 1, "config": diff_from_defaults(config)}
    if ran:
        record["ran"] = dict(ran)
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def from_infotext(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse an `Enhance` infotext value back into (full config, ran record).

    Old or aliased keys are migrated by `validate`; raises ConfigError if it cannot be used.
    """
    try:
        record = json.loads(text)
    except (TypeError, ValueError) as exc:
        problem = Problem(INFOTEXT_KEY, text, "the JSON Enhance writes", str(exc))
        raise ConfigError([problem]) from None
    if not isinstance(record, Mapping):
        raise ConfigError([Problem(INFOTEXT_KEY, text, "a JSON object")])
    raw = record.get("config", record)
    return validate(raw), dict(record.get("ran") or {})


PREFIX = INFOTEXT_KEY + " "


def _decode(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def migrate(infotext: str, params: MutableMapping[str, Any]) -> None:
    """Rewrite old keys in `params` in place (the callback signature of the host)."""
    raw: dict[str, Any] = {}
    old = [k for k in params if isinstance(k, str) and k.startswith(PREFIX)]
    for key in old:
        words = key[len(PREFIX) :].split(" ", 1)
        value = _decode(params.pop(key))
        if words[0] == "preset":
            raw["preset"] = value
        elif len(words) == 1:
            raw[words[0]] = value
        else:
            raw.setdefault(words[0], {})[words[1].replace(" ", "_")] = value
    current = params.get(INFOTEXT_KEY)
    record = _decode(current) if current else None
    if isinstance(record, dict) and "config" not in record and "v" not in record:
        raw = {**record, **raw}
        record = None
    if raw and not record:
        params[INFOTEXT_KEY] = json.dumps({"v": 1, "config": raw}, ensure_ascii=False)
