"""QA: realistic good enhancements pass, faults a person sees are flagged, the sensitivity
setting moves the thresholds, the reasons say by how much, the CLI contract.

The full calibration run (every photo, every strength, the curves) is bench/qa_calibration.py;
these tests use one photo and the strengths a person sees, so they stay fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib_enhance.qa import DEFAULT_THRESHOLDS, SENSITIVITY, assess, limits, verdict
from lib_enhance.qa import calibration as cal
from lib_enhance.spec import config

ROOT = Path(__file__).resolve().parents[1]
QA = config.QA.defaults()


@pytest.fixture(scope="module")
def astronaut():
    """(truth 512², input 256², an ESRGAN-like 2× upscale of the input)."""
    truth = cal.truths(cal.load_source("astronaut"))[0]
    before = cal.resize(truth, 256, 256)
    return truth, before, cal.esrgan_like(before, 512, 512, 1.0)


def _u8(img):
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def test_thresholds_default_to_the_config_section():
    assert {k: QA[k] for k in DEFAULT_THRESHOLDS} == DEFAULT_THRESHOLDS
    assert QA["sensitivity"] == "normal"
    assert config.QA.field("sensitivity").choices == tuple(SENSITIVITY)
    help_text = config.QA.field("sensitivity").help
    assert f"×{SENSITIVITY['relaxed']:g}" in help_text
    assert f"×{SENSITIVITY['strict']:g}" in help_text
    assert limits(QA) == pytest.approx(DEFAULT_THRESHOLDS)


def test_sensitivity_moves_every_threshold_together():
    relaxed = limits({**QA, "sensitivity": "relaxed"})
    strict = limits({**QA, "sensitivity": "strict"})
    for key, normal in DEFAULT_THRESHOLDS.items():
        assert strict[key] < normal < relaxed[key]
        assert relaxed[key] == pytest.approx(normal * SENSITIVITY["relaxed"])
        assert strict[key] == pytest.approx(normal * SENSITIVITY["strict"])


def test_a_score_between_two_limits_is_flagged_by_the_stricter_setting_only():
    normal = limits(QA)["halo_threshold"]
    scores = {"seam": 0.0, "drift": 0.0, "halo": normal * 1.2}
    assert verdict(scores, {**QA, "sensitivity": "normal"})[0] == "review"
    assert verdict(scores, {**QA, "sensitivity": "relaxed"})[0] == "ok"
    scores["halo"] = normal * 0.85
    assert verdict(scores, {**QA, "sensitivity": "normal"})[0] == "ok"
    assert verdict(scores, {**QA, "sensitivity": "strict"})[0] == "review"


def test_reasons_say_by_how_much_the_threshold_was_passed():
    limit = limits(QA)["drift_threshold"]
    status, reasons = verdict({"seam": 0.0, "halo": 0.0, "drift": limit * 1.5}, QA)
    assert status == "review"
    assert reasons == [
        f"drift {limit * 1.5:.3g} > {limit:.3g} (50 % over, normal): "
        "composition or colour changed from the input"
    ]


def test_a_wrong_sensitivity_is_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match=r"qa.sensitivity: got 'paranoid'.*'strict'"):
        limits({"sensitivity": "paranoid"})
    with pytest.raises(config.ConfigError) as error:
        config.validate({"qa": {"sensitivity": "paranoid"}})
    [problem] = error.value.problems
    assert problem.path == "qa.sensitivity" and "'relaxed'" in problem.allowed
    assert config.validate({"qa": {"sensitivity": "strict"}})["qa"]["sensitivity"] == "strict"


def test_realistic_good_upscales_and_grades_pass(astronaut):
    truth, before, esrgan = astronaut
    rng = np.random.default_rng(0)
    grid = cal.tile_grid(512, 512)
    goods = {
        "esrgan-like": esrgan,
        "esrgan-strong": cal.esrgan_like(before, 512, 512, 1.4),
        "detail+grain": cal.fine_texture(truth.astype(np.float32), 3.0, rng),
        "jpeg 75": cal.jpeg(truth, 75),
        "warm grade": cal.grade(esrgan, "warm"),
        "contrast grade": cal.grade(truth, "contrast+"),
    }
    for name, after in goods.items():
        result = assess(before, _u8(after), grid, QA)
        assert set(result) >= {"seam", "halo", "drift", "detail_gain", "verdict", "reasons"}
        assert result["verdict"] == "ok", (name, result)
        assert result["limits"] == pytest.approx(DEFAULT_THRESHOLDS)


def test_uniform_sharpening_is_not_a_halo_but_a_wide_ring_is(astronaut):
    _, before, esrgan = astronaut
    rng = np.random.default_rng(1)
    sharp = assess(before, _u8(cal.esrgan_like(before, 512, 512, 1.4)), [], QA)
    wide = assess(before, _u8(cal.plant_halo(esrgan, 0.8, "wide", rng)), [], QA)
    local = assess(before, _u8(cal.plant_halo(esrgan, 0.8, "local", rng)), [], QA)
    assert sharp["halo"] < 0.5 * QA["halo_threshold"] < QA["halo_threshold"] < wide["halo"]
    assert local["verdict"] == "review" and local["reasons"][0].startswith("halo")
    x0, y0, x1, y1 = local["where"]["halo"]
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512


def test_seam_of_three_grey_levels_is_flagged_where_it_is(astronaut):
    truth, before, esrgan = astronaut
    rng = np.random.default_rng(3)
    planted, boxes = cal.plant_seam(esrgan, truth, 3.0, "grey", rng)
    result = assess(before, _u8(planted), boxes, QA)
    assert result["verdict"] == "review"
    assert result["reasons"][0].startswith("seam")
    changed = np.nonzero(np.abs(_u8(planted).astype(int) - _u8(esrgan)).sum(axis=2))
    x0, y0, x1, y1 = result["where"]["seam"]
    ys, xs = changed
    assert xs.min() - 20 <= (x0 + x1) / 2 <= xs.max() + 20
    assert ys.min() - 60 <= (y0 + y1) / 2 <= ys.max() + 60
    # the same image without its tile boxes is not a seam there: []
    assert assess(before, _u8(planted), [], QA)["seam"] == 0.0


def test_a_global_tint_passes_where_the_same_tint_on_one_object_is_flagged(astronaut):
    truth, before, _ = astronaut
    rng = np.random.default_rng(4)
    tinted, change = cal.plant_cast(truth, 6.0, rng)
    lab = cal.to_lab(truth.astype(np.float32))
    lab[:, :, 2] += 6.0
    whole = assess(before, _u8(cal.from_lab(lab)), [], QA)
    local = assess(before, _u8(tinted), [], QA)
    assert change > 4.0
    assert whole["verdict"] == "ok", whole
    assert local["verdict"] == "review" and local["reasons"][0].startswith("drift")


@pytest.mark.parametrize("kind", ["shift", "replace"])
def test_moved_or_replaced_objects_are_flagged(astronaut, kind):
    truth, before, _ = astronaut
    rng = np.random.default_rng(5)
    if kind == "shift":
        planted = cal.plant_shift(truth, 0.02, rng)
    else:
        planted, _ = cal.plant_replace(truth, 0.12, rng)
    result = assess(before, _u8(planted), [], QA)
    assert result["drift"] > QA["drift_threshold"], result
    assert result["verdict"] == "review"


def test_an_unchanged_dark_photo_with_clipped_pixels_scores_nothing():
    """The grade fit must not swing on the few pixels at 0 and 255 (it did: halo 10)."""
    moon = cal.truths(cal.load_source("moon"))[0]
    before = cal.resize(moon, 256, 256)
    result = assess(before, moon, [], QA)
    assert result["halo"] == 0.0
    assert result["drift"] < 0.3 * QA["drift_threshold"]


def test_detail_gain_grows_with_the_detail_added(astronaut):
    truth, before, _ = astronaut
    up = cal.upscale(before, 512, 512)
    gains = [assess(before, _u8(up + a * (truth - up)), [])["detail_gain"] for a in (0.0, 0.5, 1.0)]
    assert abs(gains[0]) < 0.05
    assert gains[0] < gains[1] < gains[2]


def test_grey_and_rgba_inputs_and_arrays_are_accepted(astronaut):
    _, before, esrgan = astronaut
    grey = Image.fromarray(before).convert("L")
    rgba = Image.fromarray(_u8(esrgan)).convert("RGBA")
    result = assess(grey, rgba, None)
    assert result["verdict"] in ("ok", "review")
    assert assess(before, _u8(esrgan), None)["seam"] >= 0.0


def test_one_calibration_photo_meets_the_goals_at_normal():
    """Good changes ≤ 5 % flagged, visible faults ≥ 90 % flagged (all photos: the bench)."""
    scored = cal.score(cal.samples(("astronaut",), subtle=False))
    result = cal.evaluate(scored, QA)
    assert result["counts"]["good"] >= 25 and result["counts"]["faults"] >= 15
    assert result["good"]["overall"] <= 0.05, result["mistakes"]
    assert result["faults"]["overall"] >= 0.9, result["mistakes"]
    strict = cal.evaluate(scored, {**QA, "sensitivity": "strict"})
    relaxed = cal.evaluate(scored, {**QA, "sensitivity": "relaxed"})
    assert strict["faults"]["overall"] >= result["faults"]["overall"]
    assert relaxed["good"]["overall"] <= result["good"]["overall"]
    useless = {"seam_threshold": 100, "halo_threshold": 100, "drift_threshold": 1.0}
    assert cal.evaluate(scored, useless)["faults"]["overall"] == 0.0


def test_measure_curve_trades_recall_for_false_positives():
    scored = [
        cal.Scored("x", "good", "upscale", "m", 0.0, True, {"seam": 0.2, "halo": 0, "drift": 0}),
        cal.Scored("x", "good", "grade", "m", 0.0, True, {"seam": 0.6, "halo": 0, "drift": 0}),
        cal.Scored("x", "fault", "seam", "grey", 3.0, True, {"seam": 0.9, "halo": 0, "drift": 0}),
        cal.Scored("x", "fault", "seam", "grey", 2.0, False, {"seam": 0.1, "halo": 0, "drift": 0}),
    ]
    low, high = cal.measure_curve(scored, "seam", [0.5, 1.0])
    assert low == {"limit": 0.5, "recall": 1.0, "false_positive_rate": 0.5, "precision": 0.5}
    assert high == {"limit": 1.0, "recall": 0.0, "false_positive_rate": 0.0, "precision": 1.0}


def test_the_review_table_shows_the_limits_in_force():
    from lib_enhance.batch.report import _scores_table

    scores = {"seam": 0.1, "halo": 1.2, "drift": 0.01, "detail_gain": 0.3, "reasons": []}
    strict = _scores_table(scores, {**QA, "sensitivity": "strict"})
    assert f"limit {DEFAULT_THRESHOLDS['halo_threshold'] * 0.7:g}" in strict
    relaxed = _scores_table(scores, {**QA, "sensitivity": "relaxed"})
    assert f"limit {DEFAULT_THRESHOLDS['halo_threshold'] * 1.5:g}" in relaxed


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lib_enhance.qa", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_prints_json_and_exits_0_whatever_the_verdict(tmp_path, astronaut):
    _, before, esrgan = astronaut
    Image.fromarray(before).save(tmp_path / "b.png")
    Image.fromarray(_u8(cal.plant_halo(esrgan, 1.2, "wide", np.random.default_rng(0)))).save(
        tmp_path / "a.png"
    )
    tiles = json.dumps(cal.tile_grid(512, 512))
    done = _cli(str(tmp_path / "b.png"), str(tmp_path / "a.png"), "--tiles", tiles)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"seam", "halo", "drift", "detail_gain", "verdict", "limits"} <= set(result)
    assert result["verdict"] == "review"
    limit = DEFAULT_THRESHOLDS["halo_threshold"]
    relaxed = _cli(str(tmp_path / "b.png"), str(tmp_path / "a.png"), "--sensitivity", "relaxed")
    assert json.loads(relaxed.stdout)["limits"]["halo_threshold"] == pytest.approx(limit * 1.5)


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
