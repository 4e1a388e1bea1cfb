"""Pasted infotext: migrate older Enhance keys into the one `Enhance` key.

Runs in the host's `on_infotext_pasted(infotext, params)` before the paste fields are applied,
so every control (and the API's `infotext` field) sees the current form only.

Migrated forms:
- `Enhance: {...}` holding a bare config object (no `{"v": …, "config": …}` record);
- split keys written by early builds: `Enhance hires: {...}`, `Enhance tiles: {...}`,
  `Enhance detail: [...]`, `Enhance qa: {...}`, `Enhance preset: anime`;
- `Enhance hires denoise: 0.4`-style single values (any field of any section).
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from . import config as cfgmod

PREFIX = cfgmod.INFOTEXT_KEY + " "


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
    current = params.get(cfgmod.INFOTEXT_KEY)
    record = _decode(current) if current else None
    if isinstance(record, dict) and "config" not in record and "v" not in record:
        raw = {**record, **raw}
        record = None
    if raw and not record:
        params[cfgmod.INFOTEXT_KEY] = json.dumps({"v": 1, "config": raw}, ensure_ascii=False)
