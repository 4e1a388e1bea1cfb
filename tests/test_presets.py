"""The seed guidance as data: denoise bands, upscaler choice and matching, warnings."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib_enhance.spec import config, presets

A1111_UPSCALERS = [
    "None", "Lanczos", "Nearest", "Latent", "Latent (antialiased)", "Latent (bicubic)",
    "DAT x2", "DAT x3", "DAT_x4", "ESRGAN_4x", "LDSR", "R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B",
    "ScuNET", "SwinIR 4x", "4x_UltraSharp",
]  # fmt: skip


@pytest.mark.parametrize(
    ("denoise", "name"),
    [
        (0.0, "subtle"),
        (0.19, "subtle"),
        (0.2, "minimal"),
        (0.29, "minimal"),
        (0.3, "sweet spot"),
        (0.35, "sweet spot"),
        (0.44999999, "re-interpretation"),
        (0.45, "re-interpretation"),
        (0.59, "re-interpretation"),
        (0.6, "regenerate"),
        (1.0, "regenerate"),
    ],
)
def test_denoise_bands(denoise: float, name: str) -> None:
    band = presets.denoise_band(denoise)
    assert band.name == name
    assert band.label.startswith(name + ": ") and len(band.label) > len(name) + 10


@given(st.floats(0.0, 1.0))
def test_every_denoise_has_exactly_one_band(denoise: float) -> None:
    band = presets.denoise_band(denoise)
    assert band.low <= round(denoise, 4) and (round(denoise, 4) < band.high or band.high == 1.0)


def test_bands_tile_zero_to_one() -> None:
    edges = [(b.low, b.high) for b in presets.BANDS]
    assert edges[0][0] == 0.0 and edges[-1][1] == 1.0
    assert all(a[1] == b[0] for a, b in itertools.pairwise(edges))


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan")])
def test_denoise_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match="denoise"):
        presets.denoise_band(bad)


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("anime", "R-ESRGAN 4x+ Anime6B"),
        ("realistic", "4x_UltraSharp"),
        ("general", "DAT_x4"),
        ("custom", "DAT_x4"),
    ],
)
def test_pick_upscaler_returns_the_hosts_spelling(preset: str, expected: str) -> None:
    assert presets.pick_upscaler(preset, A1111_UPSCALERS) == expected


def test_pick_upscaler_falls_back() -> None:
    assert presets.pick_upscaler("anime", ["None", "lanczos", "Nearest"]) == "lanczos"
    assert presets.pick_upscaler("realistic", ["R-ESRGAN 4x+", "Lanczos"]) == "R-ESRGAN 4x+"
    assert presets.pick_upscaler("anime", ["None", "Latent", "SwinIR 4x"]) == "SwinIR 4x"
    assert presets.pick_upscaler("anime", []) == "R-ESRGAN 4x+ Anime6B"


@pytest.mark.parametrize(
    ("typed", "host"),
    [
        ("4x-UltraSharp", "4x_UltraSharp"),
        ("4x ultrasharp", "4x_UltraSharp"),
        ("4x_UltraSharp.pth", "4x_UltraSharp"),
        ("DAT x4", "DAT_x4"),
        ("dat-x4", "DAT_x4"),
        ("r-esrgan 4x+ anime6b", "R-ESRGAN 4x+ Anime6B"),
        ("R-ESRGAN 4x+", "R-ESRGAN 4x+"),
        ("AUTO", "DAT_x4"),
    ],
)
def test_resolve_upscaler_is_tolerant(typed: str, host: str) -> None:
    assert presets.resolve_upscaler(typed, "general", A1111_UPSCALERS) == host


def test_resolve_upscaler_names_the_closest() -> None:
    with pytest.raises(ValueError, match=r"'4x-UltraSharpp'.*closest: '4x_UltraSharp'"):
        presets.resolve_upscaler("4x-UltraSharpp", "general", A1111_UPSCALERS)
    with pytest.raises(ValueError, match="'Nope'"):
        presets.resolve_upscaler("Nope", "general", A1111_UPSCALERS)
    assert presets.resolve_upscaler("Anything", "general", []) == "Anything"


def test_exact_name_wins_over_a_tolerant_twin() -> None:
    assert presets.find_name("DAT x4", ["DAT_x4", "DAT x4"]) == "DAT x4"


def test_latent_and_steps() -> None:
    assert presets.is_latent("Latent (bicubic antialiased)") and presets.is_latent("latent")
    assert not presets.is_latent("Lanczos")
    assert presets.suggested_steps("Latent") == 18
    assert 15 <= presets.suggested_steps("Latent (nearest-exact)") <= 20
    assert presets.suggested_steps("4x-UltraSharp") == 0


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("R-ESRGAN 4x+ Anime6B", "anime"),
        ("4x-AnimeSharp", "anime"),
        ("4x_UltraSharp", "realistic"),
        ("R-ESRGAN 4x+", "realistic"),
        ("DAT x4", "general"),
        ("4x_foolhardy_Remacri", "general"),
        ("SwinIR 4x", "general"),
        ("R-ESRGAN General 4xV3", "general"),
        ("Lanczos", None),
        ("Latent", None),
        ("None", None),
        ("my_model", None),
    ],
)
def test_upscaler_family(name: str, family: str | None) -> None:
    assert presets.upscaler_family(name) == family


def test_every_preferred_upscaler_is_in_its_own_family() -> None:
    for family, names in presets.PREFERRED_UPSCALERS.items():
        assert {presets.upscaler_family(n) for n in names} == {family}


def _config(**sections: dict) -> dict:
    raw = {"preset": sections.pop("preset", "general"), **sections}
    return config.validate(raw)


def test_defaults_give_no_warnings() -> None:
    assert presets.warnings(config.defaults()) == []
    assert presets.warnings(_config(hires={"enabled": True}, tiles={"enabled": True})) == []


def test_warnings_name_the_problem() -> None:
    found = presets.warnings(
        _config(
            preset="realistic",
            hires={"enabled": True, "upscaler": "R-ESRGAN 4x+ Anime6B", "denoise": 0.7},
            tiles={"enabled": True, "overlap": 16, "denoise": 0.65},
        )
    )
    text = "\n".join(found)
    assert len(found) == 4, text
    assert "hires" in text and "anime" in text and "realistic" in text
    assert "tiles: denoise 0.65" in text and "subjects repeat" in text
    assert "overlap 16" in text


def test_latent_upscaler_needs_denoise() -> None:
    found = presets.warnings(_config(hires={"enabled": True, "upscaler": "Latent"}))
    assert len(found) == 1 and "0.5" in found[0]


def test_disabled_stages_and_custom_preset_are_quiet() -> None:
    bad = {"upscaler": "4x-AnimeSharp", "denoise": 0.9}
    assert presets.warnings(_config(preset="realistic", hires={"enabled": False, **bad})) == []
    assert presets.warnings(_config(preset="custom", hires={"enabled": True, **bad})) == []
