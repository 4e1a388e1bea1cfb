"""How the QA verdict does on realistic good enhancements and on faults at the edge of visibility.

Builds the calibration set of `lib_enhance.qa.calibration` from photos that packages ship (no
downloads): good changes that must pass (upscales by several methods with ESRGAN-like sharpening,
the true detail back, re-diffusion-like grain, JPEG, light denoise, global grades) and faults
that must be flagged (halos, tile and region seams, composition shifts, replaced regions, local
colour casts) at several strengths. Every pair is scored once; then, for the shipped thresholds
at each sensitivity, it prints:

- ``rates``: per kind, the share of good pairs flagged (goal at "normal": ≤ 5 %) and of visible
  faults flagged (goal: ≥ 90 %), for the calibration photos and the held-out ones;
- ``by_strength``: the share flagged per fault kind and strength (the visible ones from
  `VISIBLE_FROM`);
- ``precision_recall``: per fault kind and per measure, precision and recall of the verdict;
- ``curves``: per measure alone, recall / false-positive rate / precision at limits around the
  shipped threshold — the curves the thresholds were chosen from (marked ``<- normal`` etc.);
- ``threshold_rule`` (calibration photos): the rule the "normal" thresholds come from — the
  geometric mean of the good pairs' 99th percentile and the visible faults' 5th percentile;
- ``without_tile_boxes``: the seam measure when the tile boxes are not known (the CLI without
  --tiles), calibration photos;
- ``assess_ms_2048``: one assessment of a 1024² → 2048² pair, best of 3.

    python bench/qa_calibration.py            # everything (a few minutes on 2 cores)
    python bench/qa_calibration.py --quick    # calibration photos, "normal" only
    .venv/yolo/bin/python bench/qa_calibration.py --only held_out   # + bus.jpg and zidane.jpg

The ultralytics photos (bus.jpg, zidane.jpg) join the held-out set when run with a Python that
has ultralytics installed (the yolo venv); the core venv runs without them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_enhance.qa import SENSITIVITY, limits
from lib_enhance.qa import calibration as cal
from lib_enhance.spec import config

CURVE_FACTORS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
"""Limits printed on each measure's curve, as factors of its "normal" threshold."""


def qa_config(sensitivity: str) -> dict[str, Any]:
    return {**config.QA.defaults(), "sensitivity": sensitivity}


def rates(scored: list[cal.Scored], sensitivity: str) -> dict[str, Any]:
    result = cal.evaluate(scored, qa_config(sensitivity))
    return {
        "good_flagged": result["good"],
        "faults_flagged": result["faults"],
        "subtle_flagged": result["subtle"],
        "by_strength": result["by_strength"],
        "counts": result["counts"],
        "precision_recall": precision_recall(scored, sensitivity),
        "mistakes": result["mistakes"],
    }


def precision_recall(scored: list[cal.Scored], sensitivity: str) -> dict[str, Any]:
    """Precision and recall of the verdict per fault kind and per measure: positives are the
    visible faults of that kind (or that a measure is meant for), negatives every good pair."""
    from lib_enhance.qa import verdict

    qa = qa_config(sensitivity)
    flagged = [(s, verdict(s.scores, qa)[0] == "review") for s in scored]
    false_pos = sum(hit for s, hit in flagged if s.side == "good")
    out: dict[str, Any] = {}
    groups = {kind: [kind] for kind in cal.FAULTS}
    for measure in ("seam", "halo", "drift"):
        groups[f"measure {measure}"] = [k for k, m in cal.MEASURE.items() if m == measure]
    for name, kinds in groups.items():
        hits = [hit for s, hit in flagged if s.side == "fault" and s.visible and s.kind in kinds]
        tp = sum(hits)
        out[name] = {
            "recall": round(tp / len(hits), 4) if hits else None,
            "precision": round(tp / (tp + false_pos), 4) if tp + false_pos else None,
        }
    return out


def curves(scored: list[cal.Scored]) -> dict[str, list[str]]:
    """Each measure alone: one line per limit."""
    normal = limits(qa_config("normal"))
    marks = {round(f, 4): name for name, f in SENSITIVITY.items()}
    out = {}
    for measure in ("seam", "halo", "drift"):
        base = normal[f"{measure}_threshold"]
        rows = cal.measure_curve(scored, measure, [base * f for f in CURVE_FACTORS])
        out[measure] = [
            f"limit {r['limit']:<7g} recall {r['recall']:.3f}  "
            f"false+ {r['false_positive_rate']:.3f}  precision {r['precision']:.3f}"
            + (f"  <- {marks[round(f, 4)]}" if round(f, 4) in marks else "")
            for f, r in zip(CURVE_FACTORS, rows, strict=True)
        ]
    return out


def rule(scored: list[cal.Scored]) -> dict[str, Any]:
    """The rule the shipped "normal" thresholds come from, on the calibration photos: for each
    measure, the geometric mean of the good pairs' 99th percentile and the visible faults' 5th
    percentile (the middle of the gap between the two, on a ratio scale), rounded to the UI
    step. Printed so a change of the set or of a measure shows what the threshold would be."""
    import numpy as np

    out = {}
    for measure in ("seam", "halo", "drift"):
        good = [s.scores[measure] for s in scored if s.side == "good"]
        bad = [
            s.scores[measure]
            for s in scored
            if s.side == "fault" and s.visible and cal.MEASURE[s.kind] == measure
        ]
        p99, p5 = float(np.percentile(good, 99)), float(np.percentile(bad, 5))
        step = config.QA.field(f"{measure}_threshold").step or 0.01
        out[measure] = {
            "good_p99": round(p99, 4),
            "visible_fault_p5": round(p5, 4),
            "threshold": round(round((p99 * p5) ** 0.5 / step) * step, 4),
        }
    return out


def without_boxes(sources: tuple[str, ...]) -> dict[str, Any]:
    """Seam flags when the boundaries are unknown (every row and column checked)."""
    pairs = [s for s in cal.samples(sources) if s.side == "good" or s.kind == "seam"]
    scored = cal.score(pairs, use_seams=False)
    result = cal.evaluate(scored, qa_config("normal"))
    good_seam = [s.scores["seam"] for s in scored if s.side == "good"]
    limit = limits(qa_config("normal"))["seam_threshold"]
    return {
        "good_flagged_by_seam": round(sum(v > limit for v in good_seam) / len(good_seam), 4),
        "seam_faults_flagged": result["faults"].get("seam"),
    }


def assess_ms_2048() -> float:
    """Best-of-3 wall time of one QA assessment of a 1024² → 2048² pair, with tile boxes."""
    from lib_enhance.qa import assess
    from lib_enhance.qa._common import resize

    after = resize(cal.load_source("astronaut"), 2048, 2048)
    before = resize(after, 1024, 1024)
    seams = cal.tile_grid(2048, 2048)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        assess(before, after, seams, config.QA.defaults())
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", choices=("calibration", "held_out"), help="one set of photos (no box-less scan)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    sets = {"calibration": cal.CALIBRATION_SOURCES}
    if not args.quick:
        sets["held_out"] = cal.HOLDOUT_SOURCES
    if args.only:
        sets = {args.only: sets.get(args.only, cal.HOLDOUT_SOURCES)}
    levels = ("normal",) if args.quick else tuple(SENSITIVITY)
    report: dict[str, Any] = {
        "thresholds_normal": limits(qa_config("normal")),
        "sensitivity_factors": SENSITIVITY,
        "visible_from": cal.VISIBLE_FROM,
        "photos": {name: cal.available(srcs) for name, srcs in sets.items()},
    }
    for name, sources in sets.items():
        scored = cal.score(cal.samples(sources))
        report[name] = {
            "rates": {level: rates(scored, level) for level in levels},
            "curves": curves(scored),
        }
        if name == "calibration":
            report[name]["threshold_rule"] = rule(scored)
    if not (args.quick or args.only):
        report["without_tile_boxes"] = without_boxes(cal.CALIBRATION_SOURCES)
    report["assess_ms_2048"] = assess_ms_2048()
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
