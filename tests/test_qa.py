"""QA metrics: planted artifacts are flagged, clean enhancements are not, the CLI contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib_enhance.qa import DEFAULT_THRESHOLDS, assess
from lib_enhance.qa import calibration as cal
from lib_enhance.spec import config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def astronaut():
    truth = cal.truths(cal.load_source("astronaut"))[0]
    before = cal.resize(truth, 256, 256)
    rng = np.random.default_rng(0)
    return truth, before, cal.clean_enhancement(truth, before, "full", rng)


def test_thresholds_default_to_the_config_section():
    qa = config.QA.defaults()
    assert {k: qa[k] for k in DEFAULT_THRESHOLDS} == DEFAULT_THRESHOLDS


def test_clean_enhancement_is_ok_and_has_every_key(astronaut):
    _, before, clean = astronaut
    result = assess(before, clean, cal.tile_grid(512, 512), config.QA.defaults())
    assert set(result) >= {"seam", "halo", "drift", "detail_gain", "verdict", "reasons"}
    assert result["verdict"] == "ok", result
    assert result["reasons"] == []


def test_seam_of_four_grey_levels_is_flagged_where_it_is(astronaut):
    truth, before, clean = astronaut
    rng = np.random.default_rng(3)
    planted, boxes = cal.plant_seam(clean, truth, 4.0, rng, colour=False, visible=True)
    result = assess(before, planted, boxes, config.QA.defaults())
    assert result["verdict"] == "review"
    assert result["reasons"][0].startswith("seam")
    changed = np.nonzero(np.abs(planted.astype(int) - clean).sum(axis=2))
    x0, y0, x1, y1 = result["where"]["seam"]
    ys, xs = changed
    assert xs.min() - 20 <= (x0 + x1) / 2 <= xs.max() + 20
    assert ys.min() - 60 <= (y0 + y1) / 2 <= ys.max() + 60
    # the same image without its tile boxes is not a seam there: []
    assert assess(before, planted, [], config.QA.defaults())["seam"] == 0.0


def test_halo_from_unsharp_mask_is_flagged_and_mild_sharpening_is_not(astronaut):
    _, before, clean = astronaut
    strong = assess(before, cal.plant_halo(clean, 0.6), [], config.QA.defaults())
    mild = assess(before, cal.plant_halo(clean, 0.15), [], config.QA.defaults())
    assert strong["verdict"] == "review" and strong["reasons"][0].startswith("halo")
    assert mild["halo"] < config.QA.defaults()["halo_threshold"] < strong["halo"]


@pytest.mark.parametrize("kind", ["shift", "replace", "cast"])
def test_drift_is_flagged(astronaut, kind):
    _, before, clean = astronaut
    rng = np.random.default_rng(5)
    other = cal.load_source("coffee")
    planted = {
        "shift": lambda: cal.plant_shift(clean, 0.08, rng),
        "replace": lambda: cal.plant_replace(clean, other, 1.0, rng),
        "cast": lambda: cal.plant_cast(clean, 8.0, rng),
    }[kind]()
    result = assess(before, planted, [], config.QA.defaults())
    assert result["drift"] > config.QA.defaults()["drift_threshold"], result
    assert result["verdict"] == "review"


def test_detail_gain_grows_with_the_detail_added(astronaut):
    truth, before, _ = astronaut
    rng = np.random.default_rng(0)
    gains = [
        assess(before, cal.clean_enhancement(truth, before, r, rng), [])["detail_gain"]
        for r in ("lanczos", "half", "full")
    ]
    assert abs(gains[0]) < 0.05
    assert gains[0] < gains[1] < gains[2]


def test_grey_and_rgba_inputs_and_arrays_are_accepted(astronaut):
    _, before, clean = astronaut
    grey = Image.fromarray(before).convert("L")
    rgba = Image.fromarray(clean).convert("RGBA")
    result = assess(grey, rgba, None)
    assert result["verdict"] in ("ok", "review")
    assert assess(before, clean, None)["seam"] >= 0.0


def test_calibration_subset_meets_the_recall_and_false_positive_targets():
    pairs = list(cal.samples(("astronaut", "coffee", "moon")))
    result = cal.evaluate(pairs, config.QA.defaults())
    assert result["recall"]["overall"] >= 0.9, result["mistakes"]
    assert result["false_positive_rate"]["overall"] <= 0.05, result["mistakes"]
    assert result["counts"]["clean"] >= 12


def test_calibration_fails_with_useless_thresholds():
    """The evaluation can fail: thresholds at their maxima detect nothing."""
    pairs = [s for s in cal.samples(("astronaut",)) if s.kind in ("clean", "halo")]
    result = cal.evaluate(
        pairs, {"seam_threshold": 100, "halo_threshold": 100, "drift_threshold": 1.0}
    )
    assert result["recall"]["overall"] == 0.0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lib_enhance.qa", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_prints_json_and_exits_0_whatever_the_verdict(tmp_path, astronaut):
    _, before, clean = astronaut
    Image.fromarray(before).save(tmp_path / "b.png")
    Image.fromarray(cal.plant_halo(clean, 1.0)).save(tmp_path / "a.png")
    tiles = json.dumps(cal.tile_grid(512, 512))
    done = _cli(str(tmp_path / "b.png"), str(tmp_path / "a.png"), "--tiles", tiles)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"seam", "halo", "drift", "detail_gain", "verdict"} <= set(result)
    assert result["verdict"] == "review"


def test_cli_exits_2_on_unreadable_input(tmp_path):
    (tmp_path / "x.png").write_bytes(b"not a png")
    Image.new("RGB", (32, 32)).save(tmp_path / "ok.png")
    for args in (
        (str(tmp_path / "x.png"), str(tmp_path / "ok.png")),
        (str(tmp_path / "ok.png"), str(tmp_path / "missing.png")),
        (str(tmp_path / "ok.png"), str(tmp_path / "ok.png"), "--tiles", "[1,2"),
    ):
        done = _cli(*args)
        assert done.returncode == 2
        assert "cannot use the input" in done.stderr
        assert done.stdout == ""
