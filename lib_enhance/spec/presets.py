"""The community's upscaling guidance as data: denoise bands, upscalers per content, warnings.

Users pass this advice around in forum posts; here it drives the UI's help label next to the
denoise slider, the choice behind upscaler "auto", and the warnings a run logs. Keeping it as
tables (not scattered ifs) means the UI, the pipeline and the tests read the same numbers.

Host upscaler names vary by install ("4x-UltraSharp" vs "4x_UltraSharp", "DAT x4" vs
"DAT_x4"), so names are compared by `name_key` (case, spacing and punctuation ignored) and the
host's own spelling is what we hand back.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

AUTO = "auto"
CUSTOM = "custom"
FALLBACK_UPSCALER = "Lanczos"
LATENT_STEPS = 18
"""Hires steps for latent upscalers: they need 15–20 to re-form detail from the latent."""
MIN_OVERLAP = 32
LATENT_MIN_DENOISE = 0.5


@dataclass(frozen=True)
class Band:
    """A range of denoising strength [low, high) and what it does to an image."""

    name: str
    low: float
    high: float
    advice: str

    @property
    def label(self) -> str:
        """The text the UI shows beside the denoise slider."""
        return f"{self.name}: {self.advice}"


BANDS: tuple[Band, ...] = (
    Band("subtle", 0.0, 0.2, "barely changes the image; little new detail"),
    Band("minimal", 0.2, 0.3, "minimal change; sharpens and cleans up"),
    Band("sweet spot", 0.3, 0.45, "adds detail and keeps the composition"),
    Band("re-interpretation", 0.45, 0.6, "re-draws details; faces and textures may change"),
    Band("regenerate", 0.6, 1.0, "regenerates the image; composition drifts, tiles repeat"),
)


def denoise_band(denoise: float) -> Band:
    """The band `denoise` falls in (0–1). Boundaries belong to the band above: 0.3 is the
    sweet spot. Rounded to 4 decimals first so slider values like 0.44999999 land right."""
    if not 0.0 <= denoise <= 1.0:
        raise ValueError(f"denoise must be from 0 to 1, got {denoise!r}")
    value = round(float(denoise), 4)
    return next(b for b in reversed(BANDS) if value >= b.low)


PREFERRED_UPSCALERS: Mapping[str, tuple[str, ...]] = {
    "anime": ("R-ESRGAN 4x+ Anime6B", "4x-AnimeSharp"),
    "realistic": ("4x-UltraSharp", "R-ESRGAN 4x+"),
    "general": ("DAT x4", "4x_foolhardy_Remacri"),
}
"""Best first. "custom" has no entry: "auto" then uses the general list."""

_FAMILY_HINTS: tuple[tuple[str, str], ...] = (
    ("anime", "anime"),
    ("waifu", "anime"),
    ("ultrasharp", "realistic"),
    ("resrgangeneral", "general"),
    ("resrgan", "realistic"),
    ("realesrgan", "realistic"),
    ("nmkd", "realistic"),
    ("siax", "realistic"),
    ("realistic", "realistic"),
    ("dat", "general"),
    ("remacri", "general"),
    ("swinir", "general"),
    ("scunet", "general"),
    ("hat", "general"),
    ("esrgan", "general"),
    ("ldsr", "general"),
)
"""Substrings of a name key and the content they suit, first hit wins (anime before the
R-ESRGAN family, whose Anime6B variant contains both)."""

_MODEL_SUFFIX = re.compile(r"\.(pth|pt|safetensors|ckpt|bin)$", re.IGNORECASE)


def name_key(name: str) -> str:
    """A name reduced for tolerant matching: no case, spacing, punctuation or file suffix."""
    return re.sub(r"[^0-9a-z]", "", _MODEL_SUFFIX.sub("", name.strip()).lower())


def find_name(wanted: str, available: Sequence[str]) -> str | None:
    """The host's spelling of `wanted`: an exact match first, else a tolerant one, else None."""
    if wanted in available:
        return wanted
    key = name_key(wanted)
    return next((name for name in available if name_key(name) == key), None) if key else None


def is_latent(upscaler: str) -> bool:
    """True for the host's latent upscalers ("Latent", "Latent (bicubic antialiased)" …)."""
    return name_key(upscaler).startswith("latent")


def suggested_steps(upscaler: str) -> int:
    """Hires steps to suggest: 0 (the image's own steps) for pixel upscalers, 18 for latent."""
    return LATENT_STEPS if is_latent(upscaler) else 0


def upscaler_family(upscaler: str) -> str | None:
    """The content an upscaler suits: "anime", "realistic" or "general".

    None when it has no preference (Lanczos, Nearest, latent, unknown models).
    """
    key = name_key(upscaler)
    if not key or is_latent(upscaler):
        return None
    return next((family for hint, family in _FAMILY_HINTS if hint in key), None)


def pick_upscaler(preset: str, available: Sequence[str]) -> str:
    """What "auto" means for `preset`: its first preferred upscaler the host has, in the host's
    spelling; else the other presets' choices; else Lanczos. With no list, the first choice."""
    order = [*PREFERRED_UPSCALERS.get(preset, ()), *PREFERRED_UPSCALERS["general"]]
    order += [name for names in PREFERRED_UPSCALERS.values() for name in names]
    if not available:
        return order[0]
    for wanted in (*order, FALLBACK_UPSCALER):
        found = find_name(wanted, available)
        if found:
            return found
    usable = [n for n in available if name_key(n) not in ("none", "") and not is_latent(n)]
    return usable[0] if usable else FALLBACK_UPSCALER


def resolve_upscaler(value: str, preset: str, available: Sequence[str]) -> str:
    """The host upscaler name to use for a config value.

    "auto" picks for the preset; any other name is matched tolerantly against `available`
    and returned in the host's spelling. An empty `available` (host list unknown) passes the
    value through. Raises ValueError naming the value and the closest host names.
    """
    if name_key(value) == AUTO:
        return pick_upscaler(preset, available)
    if not available:
        return value
    found = find_name(value, available)
    if found:
        return found
    keys = {name_key(name): name for name in available}
    close = difflib.get_close_matches(name_key(value), list(keys), n=3, cutoff=0.4)
    hint = f"; closest: {', '.join(repr(keys[k]) for k in close)}" if close else ""
    raise ValueError(f"upscaler {value!r} is not one the host has{hint}")


def warnings(config: Mapping[str, Any]) -> list[str]:
    """Plain-language warnings for settings that fight the guidance (preset "custom": none).

    `config` is the full dict from `config.validate`. Only enabled stages are checked.
    """
    preset = config.get("preset", "general")
    if preset == CUSTOM:
        return []
    found: list[str] = []
    for name in ("hires", "tiles"):
        section = config.get(name) or {}
        if section.get("enabled"):
            found += _stage_warnings(name, section, preset)
    tiles = config.get("tiles") or {}
    if tiles.get("enabled") and tiles.get("overlap", MIN_OVERLAP) < MIN_OVERLAP:
        found.append(
            f"tiles: overlap {tiles['overlap']} px is under {MIN_OVERLAP} px; seams may show"
        )
    return found


def _stage_warnings(stage: str, section: Mapping[str, Any], preset: str) -> list[str]:
    found = []
    denoise = section.get("denoise", 0.0)
    if denoise_band(denoise).name == "regenerate":
        what = "subjects repeat in tiles" if stage == "tiles" else "the composition drifts"
        found.append(f"{stage}: denoise {denoise:g} regenerates the image ({what}); try 0.3–0.45")
    upscaler = section.get("upscaler", AUTO)
    family = upscaler_family(upscaler)
    if family and {family, preset} == {"anime", "realistic"}:
        found.append(f"{stage}: {upscaler!r} is made for {family} images, the preset is {preset}")
    if is_latent(upscaler) and denoise < LATENT_MIN_DENOISE:
        found.append(
            f"{stage}: latent upscaler {upscaler!r} needs denoise ≥ {LATENT_MIN_DENOISE} "
            f"(got {denoise:g}) or the image turns blurry"
        )
    return found
