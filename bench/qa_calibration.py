"""Recall and false-positive rate of the QA verdict on planted artifacts (no downloads).

Runs `lib_enhance.qa.calibration` over real photos shipped in scikit-image: clean enhancements
(Lanczos upscale + part or all of the true detail, faint synthetic texture, a mild sharpen, or a
small tone shift) and the same with a planted artifact at the strength a person notices at 100%
zoom (see `NOTICEABLE` in the calibration module and the notes printed with the result). The
thresholds are the shipped config defaults. Numbers are given separately for the photos the
thresholds were tuned on and for held-out photos, plus recall at weaker and stronger strengths.

    python bench/qa_calibration.py            # full run (~1 min on 2 cores)
    python bench/qa_calibration.py --quick    # tuned photos only, noticeable strength only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_enhance.qa import calibration as cal
from lib_enhance.spec import config

SWEEP = {
    "seam": (2.0, 3.0, 4.0, 6.0),
    "halo": (0.4, 0.5, 0.6, 0.8),
    "shift": (0.04, 0.08, 0.12),
    "cast": (4.0, 6.0, 8.0),
}
NOTES = {
    "seam": "one tile of the tiled pass's grid offset by 4 grey levels (grey or per-channel "
    "colour), hard edge, on a tile whose boundary is at least 1/4 flat; 'seam_in_texture' (the "
    "boundary wholly in texture, invisible to a person too) is reported but not in the recall",
    "halo": "unsharp mask radius 2 px, amount 0.6 over the whole output (0.5 is borderline "
    "visible at 100%, 0.8 obvious)",
    "drift": "an object-sized region (1/4 of the side) moved diagonally by 8 % of its size, "
    "replaced by another photo, or a global colour cast of 8 ΔE",
    "clean": "Lanczos only; half or all of the true detail back; all detail + 3-level "
    "texture; all detail + unsharp mask 0.2 radius 1; all detail + 2 % gain and ±2 levels",
}


def run(sources, strengths=None, use_seams=True):
    return cal.evaluate(list(cal.samples(sources, strengths)), config.QA.defaults(), use_seams)


def sweep(sources) -> dict:
    """Recall per strength for each artifact kind (thresholds unchanged)."""
    out: dict = {}
    for key, values in SWEEP.items():
        kind = "drift" if key in ("shift", "cast") else key
        for value in values:
            pairs = [
                s
                for s in cal.samples(sources, {key: value})
                if s.kind == kind and (kind != "drift" or s.variant == key)
            ]
            result = cal.evaluate(pairs, config.QA.defaults())
            out.setdefault(key, {})[str(value)] = result["recall"]["overall"]
    return out


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
    args = parser.parse_args()
    started = time.perf_counter()
    tuned = run(cal.CALIBRATION_SOURCES)
    report: dict = {
        "thresholds": {k: v for k, v in config.QA.defaults().items() if k != "enabled"},
        "recall": tuned["recall"],
        "false_positive_rate": tuned["false_positive_rate"],
        "counts": tuned["counts"],
    }
    if not args.quick:
        held = run(cal.HOLDOUT_SOURCES)
        every = cal.CALIBRATION_SOURCES + cal.HOLDOUT_SOURCES
        scan = run(every, use_seams=False)
        report["holdout"] = {k: held[k] for k in ("recall", "false_positive_rate", "counts")}
        report["without_tile_boxes"] = {k: scan[k] for k in ("recall", "false_positive_rate")}
        report["recall_by_strength"] = sweep(every)
        report["mistakes"] = tuned["mistakes"] + held["mistakes"]
    report["assess_ms_2048"] = assess_ms_2048()
    report["planted"] = NOTES
    report["noticeable_strength"] = cal.NOTICEABLE
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
