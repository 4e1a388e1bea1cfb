"""Artifact QA: measure what the enhancement passes did, and flag images a person should see.

`assess(before, after, seams, thresholds)` returns the four scores, a verdict and the reasons:

- ``seam``: hard brightness steps along tile boundaries / region edges that the input does not
  explain, normalised by how busy the image is there (≈ grey levels in flat areas; see `seam`);
- ``halo``: rings beside strong edges beyond what an ESRGAN-like sharpening gives, % of the
  edges' contrast in the worst quarter of the image, measured with the output scaled back to the
  input's size (see `halo`);
- ``drift``: local composition and colour change at low resolution, 0..1, after the global
  colour/contrast grade is removed (a grade of the whole image is a look, not a fault; see
  `drift` and `grade`);
- ``detail_gain``: fine-scale energy added over a plain upscale, 0 = none (see `detail`);
- ``verdict``: "review" when any of seam/halo/drift is above its limit, else "ok";
- ``reasons``: one human line per exceeded limit, saying by how much it was passed;
- ``limits``: the thresholds in force: cfg["qa"]'s thresholds × its sensitivity's factor;
- ``where``: for each exceeded score, the box (output pixels) where it is worst, so the review
  page can zoom there.

The thresholds were chosen on realistic good enhancements and faults at the edge of visibility
made from packaged photos (`calibration`; bench/qa_calibration.py prints the rates and curves).
Pure numpy/OpenCV, no models: a 2048² pair takes a few hundred milliseconds on one CPU core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

from ._common import Box, make_pair
from .detail import detail_gain
from .drift import drift_score
from .halo import halo_score
from .seam import seam_score

__all__ = ["DEFAULT_THRESHOLDS", "SENSITIVITY", "Box", "assess", "limits", "verdict"]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "seam_threshold": 0.6,
    "halo_threshold": 1.05,
    "drift_threshold": 0.085,
}
"""Fallbacks when a caller passes no thresholds; keep equal to the QA Section defaults. Chosen
on the calibration photos by one rule — the geometric mean of the good pairs' 99th percentile
and the visible faults' 5th percentile — that bench/qa_calibration.py prints with the curves."""

SENSITIVITY: dict[str, float] = {"relaxed": 1.5, "normal": 1.0, "strict": 0.7}
"""Factor on every threshold per sensitivity setting: the thresholds move together. relaxed =
only clear faults; strict = faint ones too, at the cost of more false alarms (see the bench)."""

_WHAT = {
    "seam": "visible step along a tile boundary or region edge",
    "halo": "over-sharpening halos beside strong edges",
    "drift": "composition or colour changed from the input",
}


def limits(qa: Mapping[str, Any]) -> dict[str, float]:
    """The thresholds in force for a QA config (cfg["qa"]): each `*_threshold` × the factor of
    its `sensitivity` (missing keys take the defaults)."""
    level = str(qa.get("sensitivity", "normal"))
    if level not in SENSITIVITY:
        allowed = ", ".join(repr(k) for k in SENSITIVITY)
        raise ValueError(f"qa.sensitivity: got {level!r}; allowed: one of {allowed}")
    factor = SENSITIVITY[level]
    return {
        key: float(qa.get(key, default)) * factor for key, default in DEFAULT_THRESHOLDS.items()
    }


def verdict(scores: Mapping[str, float], thresholds: Mapping[str, Any]) -> tuple[str, list[str]]:
    """("ok" | "review", reasons) for scores against a QA config (cfg["qa"] keys: thresholds
    and sensitivity). Each reason says by how much its threshold was passed."""
    reasons = []
    level = str(thresholds.get("sensitivity", "normal"))
    for key, limit in limits(thresholds).items():
        name = key.removesuffix("_threshold")
        value = float(scores[name])
        if value > limit:
            over = f"{100 * (value / limit - 1):.0f} % over" if limit > 0 else "above 0"
            reasons.append(f"{name} {value:.3g} > {limit:.3g} ({over}, {level}): {_WHAT[name]}")
    return ("review" if reasons else "ok"), reasons


def assess(
    before: Image.Image,
    after: Image.Image,
    seams: Sequence[Box] | None = None,
    thresholds: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Scores, verdict and reasons for one before/after pair (see the module docstring).

    `seams` are the boxes whose edges are boundaries a pass introduced (tiles, detail regions),
    in output pixels. None = unknown: every row and column is checked. [] = there are none.
    """
    pair = make_pair(before, after)
    seam, seam_at = seam_score(pair.after_f, pair.up_f, pair.after_l, seams)
    halo, halo_at = halo_score(pair.before, pair.after, pair.after_back)
    drift, drift_at = drift_score(pair.before, pair.after, pair.after_back)
    scores = {
        "seam": round(seam, 4),
        "halo": round(halo, 4),
        "drift": round(drift, 4),
        "detail_gain": round(detail_gain(pair.after_l, pair.up_l), 4),
    }
    qa = thresholds or DEFAULT_THRESHOLDS
    result: dict[str, Any] = dict(scores)
    result["verdict"], result["reasons"] = verdict(scores, qa)
    result["limits"] = {k: round(v, 4) for k, v in limits(qa).items()}
    at = {"seam": seam_at, "halo": halo_at, "drift": drift_at}
    result["where"] = {
        key: list(at[key])
        for key in _WHAT
        if at[key] and any(r.startswith(key) for r in result["reasons"])
    }
    return result
