"""The review page, loaded from disk in a real headless Chromium: what a person would see."""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lib_enhance.batch import report
from lib_enhance.batch import run as batch
from lib_enhance.batch.manifest import Manifest, new_record
from lib_enhance.spec import config
from lib_enhance.testing import TestHost

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--allow-file-access-from-files",
    "--virtual-time-budget=5000",
]


def chromium() -> str:
    """The browser binary. Missing is an error, not a skip: the CI runner installs it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "headless chromium is required for the review-page test (apt-get install -y chromium)"
    )


def dump_dom(page: Path, tmp_path: Path) -> str:
    profile = tmp_path / "chromium-profile"
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Cards(html.parser.HTMLParser):
    """Collects the body's data attributes, the cards in page order, and image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.cards: list[dict[str, str]] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        elif tag == "section" and "card" in a.get("class", ""):
            self.cards.append(a)
        elif tag == "img":
            self.images.append(a["src"])


def _image(path: Path, size: int, value: int) -> None:
    arr = np.full((size, size, 3), value, np.uint8)
    arr[size // 4 : size // 2, size // 4 : size // 2] = 255 - value
    Image.fromarray(arr).save(path)


def _scores(verdict: str) -> dict:
    reasons = ["seam 3.1 > 1: visible step"] if verdict == "review" else []
    return {
        "seam": 3.1 if reasons else 0.2,
        "halo": 0.05,
        "drift": 0.02,
        "detail_gain": 0.4,
        "verdict": verdict,
        "reasons": reasons,
        "where": {"seam": [40, 0, 56, 96]},
    }


@pytest.fixture
def page(tmp_path: Path) -> tuple[Path, Manifest]:
    """A finished batch of 5 (2 flagged, one a failed stage) and 1 skipped file, with a name
    that needs escaping and quoting."""
    src, out = tmp_path / "in put", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    man = Manifest.create(out, src, config.validate({"hires": {"enabled": True}}))
    man.data["stages"] = ["hires"]
    names = ["a.png", "b <&> c.png", "d.png", "e.png", "f.png"]
    flagged = {"d.png": "review", "f.png": "failed"}
    for i, name in enumerate(names):
        _image(src / name, 48, 40 * i)
        _image(out / (Path(name).stem + ".png"), 96, 40 * i)
        rec = new_record(name, f"{i:064d}")
        status = "failed" if flagged.get(name) == "failed" else "ok"
        rec.update(
            status="done",
            output=Path(name).stem + ".png",
            size=[96, 96],
            scores=_scores("review" if flagged.get(name) == "review" else "ok"),
            stages={
                "hires": {
                    "status": status,
                    "error": "boom" if status == "failed" else "",
                    "ran": {"denoise": 0.35},
                }
            },
        )
        man.images[name] = rec
    (src / "notes.txt").write_text("x")
    man.images["notes.txt"] = {
        **new_record("notes.txt", "0" * 64),
        "status": "skipped",
        "reason": "not an image file (.txt)",
    }
    man.data["runs"] = [{"seconds": 12.5, "checkpoint_loads": 2, "started": 0, "stopped": False}]
    return report.write_review(man, src), man


def test_review_page_in_chromium_shows_flagged_first_loads_images_and_counts(page, tmp_path):
    path, _ = page
    dom = Cards()
    dom.feed(dump_dom(path, tmp_path))
    order = [c["data-name"] for c in dom.cards]
    flags = [c["data-flagged"] for c in dom.cards]
    assert flags == ["1", "1", "0", "0", "0"]
    assert set(order[:2]) == {"d.png", "f.png"}
    assert order[2:] == ["a.png", "b <&> c.png", "e.png"]
    assert dom.body["data-images"] == "5"
    assert dom.body["data-flagged"] == "2"
    assert dom.body["data-skipped"] == "1"
    # the page's own script ran after load: every before/after image decoded, none broken
    assert dom.body.get("data-loaded") == "10", dom.body
    assert dom.body.get("data-broken") == "0"
    assert all(not src.startswith(("http", "/")) for src in dom.images)  # relative, from disk


def test_review_page_summary_and_settings_are_in_the_text(page):
    path, _ = page
    text = path.read_text()
    assert "checkpoint loads: <b>2</b>" in text and "time (s): <b>12.5</b>" in text
    assert "skipped: <b>1</b>" in text and "not an image file (.txt)" in text
    assert "b &lt;&amp;&gt; c.png" in text and "b <&> c" not in text
    assert "&quot;hires&quot;" in text and "boom" in text
    assert 'data-focus="48,48"' in text


def test_a_broken_image_link_is_visible_to_the_browser(page, tmp_path):
    """The browser check can fail: remove one output and the page reports it broken."""
    path, _ = page
    (path.parent / "a.png").unlink()
    dom = Cards()
    dom.feed(dump_dom(path, tmp_path))
    assert dom.body.get("data-broken") == "1"


def test_a_real_batch_writes_a_review_page_matching_its_manifest(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        _image(src / f"p{i}.png", 48, 60 * i + 20)
    (src / "junk.jpg").write_bytes(b"no")
    cfg = {"hires": {"enabled": True, "scale": 2.0, "upscaler": "Lanczos"}}
    result = batch.run_batch(TestHost(), src, tmp_path / "out", cfg)
    dom = Cards()
    dom.feed(result.review.read_text())
    totals = json.loads((tmp_path / "out" / "enhance-manifest.json").read_text())
    assert (
        len(dom.cards) == 3 == len([r for r in totals["images"].values() if r["status"] == "done"])
    )
    assert dom.body["data-skipped"] == "1"
    assert dom.body["data-flagged"] == str(result.totals["flagged"])
