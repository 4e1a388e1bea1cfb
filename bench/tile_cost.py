"""Pixels and seams of the tiled pass: before (c05754b), after, and Ultimate SD Upscale.

For 512² → 1024² and 1024² → 2048² at tiles of 256 and 512 with overlap 64, prints per method:
tiles, host calls, megapixels diffused by the tiles, megapixels diffused by the seam fix, and the
QA seam score (lib_enhance.qa.assess, with the method's own tile boxes) on two hosts:

- ``test``: lib_enhance.testing.TestHost — its change depends on the seed only, so USDU's tiles
  (one seed for all) drift identically and cannot disagree: USDU's best case;
- ``drift``: the same host, but the seed is mixed with what the tile shows (as real diffusion:
  one seed on two different tiles drifts differently), so neighbouring tiles disagree;

and ``any line``: the seam score on the drift host with no boxes given (every row and column is
a candidate: the same test for every method, whatever its boundaries). The ``one pass`` row is
the floor: one call over the whole image (no tiles, no seams) scored on the Enhance plan's lines.

Methods at equal settings (denoise 0.3, seam-fix denoise 0.25, seed 1234):
- Enhance: tile T, overlap 64, batch 4, colour match on; "+ fix" = the seam fix;
- USDU (clean-room model, bench/usdu_model.py): tile T, padding 32 (64 px of shared context),
  mask blur 8; "+ fix" = half-tile + intersections, padding 16, mask blur 4.
"Before" is the code at c05754b, taken with `git archive` into a temporary folder and run in a
child process (skipped, with a note, where this clone does not have that commit).

    .venv/core/bin/python bench/tile_cost.py [--json]
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "c05754b"
CODE = os.environ.get("ENHANCE_BENCH_CODE") or str(ROOT)
sys.path.insert(0, CODE)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from lib_enhance.spec import config as cfgmod  # noqa: E402
from lib_enhance.stages.pipeline import ImageJob, enhance  # noqa: E402
from lib_enhance.testing import TestHost  # noqa: E402

JOBS = ((512, 1024), (1024, 2048))
TILES = (256, 512)
OVERLAP, BATCH, DENOISE, SEAM_DENOISE, SEED = 64, 4, 0.3, 0.25, 1234


class DriftHost(TestHost):
    """TestHost whose seeded change also depends on the image content (coarse 4×4 luminance)."""

    __test__ = False

    def _diffuse(self, settings, item):
        coarse = np.asarray(item.image.convert("L").resize((4, 4), Image.BOX)) // 32
        seed = zlib.crc32(coarse.tobytes(), item.seed % 2**32)
        return super()._diffuse(settings, dataclasses.replace(item, seed=seed))


HOSTS = {"test": TestHost, "drift": DriftHost}


def source_image(size: int) -> Image.Image:
    """A real photo (scikit-image's astronaut) at the job's input size."""
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((size, size), Image.LANCZOS)


def run_enhance(size_in: int, size_out: int, tile: int, seam_fix: bool, host_kind: str) -> dict:
    """One Enhance tiled pass with whatever lib_enhance is on the path (after or before)."""
    section = {
        "enabled": True,
        "upscaler": "Lanczos",
        "width": size_out,
        "height": size_out,
        "tile_size": tile,
        "overlap": OVERLAP,
        "batch_size": BATCH,
        "denoise": DENOISE,
        "seam_fix": "half-tile" if seam_fix else "off",
        "seam_denoise": SEAM_DENOISE,
    }
    config = cfgmod.validate({"tiles": section, "qa": {"enabled": False}})
    host = HOSTS[host_kind]()
    result = enhance(host, config, ImageJob(source_image(size_in), prompt="a photo", seed=SEED))
    record = result.records[0]
    assert record.status == "ok", record.error
    tile_calls = [c for c in host.calls if c.denoise == DENOISE]
    seam_calls = [c for c in host.calls if c.denoise == SEAM_DENOISE]
    return {
        "tiles": result.ran["tiles"]["tiles"],
        "tile": result.ran["tiles"]["tile"],
        "calls": len(tile_calls),
        "seam_calls": len(seam_calls),
        "pixels": sum(c.batch_size * c.size[0] * c.size[1] for c in tile_calls),
        "seam_pixels": sum(c.batch_size * c.size[0] * c.size[1] for c in seam_calls),
        "boxes": [list(b) for b in result.seams],
        "image": result.image,
    }


def run_usdu(size_in: int, size_out: int, tile: int, seam_fix: bool, host_kind: str) -> dict:
    import usdu_model

    settings = usdu_model.UsduSettings(
        tile=tile,
        padding=OVERLAP // 2,
        denoise=DENOISE,
        seam_fix="half-tile+intersections" if seam_fix else "none",
        seam_denoise=SEAM_DENOISE,
        seed=SEED,
        prompt="a photo",
    )
    host = HOSTS[host_kind]()
    out = usdu_model.run_usdu(host, source_image(size_in), size_out, size_out, settings)
    r, c = out.rows, out.cols
    assert out.calls == len([k for k in host.calls if k.label == "usdu"]) == r * c
    seams = r * (c - 1) + (r - 1) * c + (r - 1) * (c - 1) if seam_fix else 0
    assert out.seam_calls == seams, "documented: up to 3rc − r − c + 1 seam calls"
    return {
        "tiles": r * c,
        "tile": [tile, tile],
        "calls": out.calls,
        "seam_calls": out.seam_calls,
        "pixels": out.pixels,
        "seam_pixels": out.seam_pixels,
        "boxes": [list(b) for b in out.tile_boxes],
        "image": out.image,
    }


def run_one_pass(size_in: int, size_out: int, tile: int, seam_fix: bool, host_kind: str) -> dict:
    """The floor: one img2img call over the whole upscaled image (no tiles, so no seams),
    scored on the lines of the Enhance plan — what the seam measure reads on a seamless image."""
    from lib_enhance.geometry.tiles import plan_tiles
    from lib_enhance.host import Img2ImgItem, PassSettings

    host = HOSTS[host_kind]()
    upscaled = host.upscale(source_image(size_in), "Lanczos", size_out, size_out)
    settings = PassSettings(size_out, size_out, DENOISE, label="one pass")
    (image,) = host.img2img(settings, [Img2ImgItem(upscaled, SEED, "a photo")])
    boxes = plan_tiles(size_out, size_out, tile, OVERLAP).boxes
    return {
        "tiles": 1,
        "tile": [size_out, size_out],
        "calls": 1,
        "seam_calls": 0,
        "pixels": size_out * size_out,
        "seam_pixels": 0,
        "boxes": [list(b) for b in boxes],
        "image": image,
    }


def cases():
    for size_in, size_out in JOBS:
        for tile in TILES:
            for seam_fix in (False, True):
                yield size_in, size_out, tile, seam_fix


def measure(runner, folder: Path | None = None) -> list[dict]:
    """Every case on both hosts; images go to `folder` (child process) or stay in memory."""
    rows = []
    for size_in, size_out, tile, seam_fix in cases():
        row = {"job": [size_in, size_out], "tile": tile, "seam_fix": seam_fix}
        for kind in HOSTS:
            run = runner(size_in, size_out, tile, seam_fix, kind)
            image = run.pop("image")
            if folder is not None:
                path = folder / f"{size_in}-{tile}-{int(seam_fix)}-{kind}.png"
                image.save(path)
                image = str(path)
            row.update({k: v for k, v in run.items()})
            row[f"image_{kind}"] = image
        rows.append(row)
    return rows


def measure_before() -> list[dict] | str:
    """Run `measure(run_enhance)` on the code at BEFORE in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        code, out = Path(tmp, "code"), Path(tmp, "out")
        code.mkdir()
        out.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BEFORE, "lib_enhance"],
            capture_output=True,
        )
        if archive.returncode:
            return f"skipped: {archive.stderr.decode().strip() or 'git archive failed'}"
        subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True)
        env = {**os.environ, "ENHANCE_BENCH_CODE": str(code)}
        child = [sys.executable, __file__, "--child", str(out)]
        subprocess.run(child, env=env, check=True)
        rows = json.loads((out / "rows.json").read_text())
        for row in rows:
            for kind in HOSTS:
                with Image.open(row[f"image_{kind}"]) as im:
                    row[f"image_{kind}"] = im.convert("RGB")
        return rows


def score(rows: list[dict]) -> None:
    """QA seam scores (this checkout's QA for every method), images dropped afterwards."""
    from lib_enhance.qa import assess

    for row in rows:
        before = source_image(row["job"][0])
        boxes = [tuple(b) for b in row["boxes"]]
        for kind in HOSTS:
            image = row.pop(f"image_{kind}")
            row[f"seam_{kind}"] = assess(before, image, boxes)["seam"]
            if kind == "drift":
                row["seam_any_line"] = assess(before, image, None)["seam"]


def table(results: dict[str, list[dict] | str]) -> str:
    head = (
        f"{'job':<14}{'tile':>5} {'method':<16}{'tiles':>6}{'size':>10}{'calls':>7}"
        f"{'seam calls':>11}{'MP':>7}{'seam MP':>9}{'QA test':>9}{'QA drift':>9}{'any line':>9}"
    )
    lines = [head, "-" * len(head)]
    for i, (size_in, size_out, tile, seam_fix) in enumerate(cases()):
        for name, rows in results.items():
            if name == "one pass" and seam_fix:
                continue
            method = f"{name}{' + fix' if seam_fix else ''}"
            job = f"{size_in}²→{size_out}²"
            if isinstance(rows, str):
                lines.append(f"{job:<14}{tile:>5} {method:<16}{rows}")
                continue
            r = rows[i]
            size = "x".join(str(v) for v in r["tile"])
            lines.append(
                f"{job:<14}{tile:>5} {method:<16}{r['tiles']:>6}{size:>10}{r['calls']:>7}"
                f"{r['seam_calls']:>11}{r['pixels'] / 1e6:>7.2f}{r['seam_pixels'] / 1e6:>9.2f}"
                f"{r['seam_test']:>9.3f}{r['seam_drift']:>9.3f}{r['seam_any_line']:>9.3f}"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        folder = Path(argv[1])
        rows = measure(run_enhance, folder)
        (folder / "rows.json").write_text(json.dumps(rows))
        return
    results: dict[str, list[dict] | str] = {
        "before": measure_before(),
        "after": measure(run_enhance),
        "USDU": measure(run_usdu),
        "one pass": measure(run_one_pass),
    }
    for rows in results.values():
        if not isinstance(rows, str):
            score(rows)
    if "--json" in argv:
        print(json.dumps(results))
    else:
        print(table(results))


if __name__ == "__main__":
    main(sys.argv[1:])
