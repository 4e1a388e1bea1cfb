"""The review page: a static ``review.html`` in the batch's output folder.

It must work from disk with no server, years later: one self-contained HTML file with inline CSS
and a few lines of JS, images referenced by relative paths (outputs next to it, inputs through a
relative path to the input folder). Flagged images come first — that is the ~2 % a person has
to look at — each with before/after side by side; a click shows both at 100 % (the before scaled
to the same size), scrolled to where the worst score was measured.

Test hooks a browser can read: ``body[data-images|data-flagged|data-skipped]`` and, once every
image has loaded or failed, ``body[data-loaded|data-broken]``.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..qa import limits
from ..spec.infotext import diff_from_defaults
from .manifest import Manifest, is_flagged, write_bytes

REVIEW_NAME = "review.html"

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#111;color:#ddd}
header{padding:12px 20px;background:#1c1c1c;position:sticky;top:0;z-index:2}
h1{font-size:18px;margin:0 0 6px}
.summary span{margin-right:18px}.summary b{color:#fff}
main{padding:12px 20px}
.card{border:1px solid #333;border-radius:6px;margin:0 0 16px;padding:10px;background:#181818}
.card.flagged{border-color:#c80}
.card h2{font-size:15px;margin:0 0 6px}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;margin-left:8px}
.review{background:#c80;color:#000}.ok{background:#285;color:#fff}.failed{background:#a33}
.pair{display:flex;gap:8px;cursor:zoom-in;overflow:auto}
.pair figure{margin:0;flex:1;min-width:0}
.pair img{width:100%;height:auto;display:block;background:#222}
.pair.zoom{cursor:zoom-out;max-height:80vh}
.pair.zoom figure{flex:none}
.pair.zoom img{width:var(--w);max-width:none;image-rendering:auto}
figcaption{font-size:12px;color:#999}
table{border-collapse:collapse;margin:6px 0}td,th{padding:2px 10px 2px 0;text-align:left}
.over{color:#fb3;font-weight:bold}
ul.reasons{margin:4px 0;color:#fb3}
details{margin-top:6px}pre{white-space:pre-wrap;font-size:12px;color:#aaa}
"""

_JS = """
document.querySelectorAll('.pair').forEach(function (pair) {
  pair.addEventListener('click', function () {
    pair.classList.toggle('zoom');
    var f = (pair.dataset.focus || '').split(',').map(Number);
    if (pair.classList.contains('zoom') && f.length === 2) {
      pair.scrollLeft = Math.max(0, f[0] - pair.clientWidth / 4);
      pair.scrollTop = Math.max(0, f[1] - pair.clientHeight / 2);
    }
  });
});
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img'));
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.dataset.loaded = String(ok);
  document.body.dataset.broken = String(imgs.length - ok);
});
"""

_SCORES = (("seam", "seam_threshold"), ("halo", "halo_threshold"), ("drift", "drift_threshold"))


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _url(path: Path, base: Path) -> str:
    """Relative URL from the page to `path` (absolute file URL when no relative path exists,
    e.g. another drive on Windows)."""
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        return path.resolve().as_uri()
    return quote(rel.replace(os.sep, "/"))


def _order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flagged first (worst drift/seam/halo first), then the rest by name."""

    def key(r: dict[str, Any]) -> tuple:
        s = r.get("scores") or {}
        return (
            not is_flagged(r),
            r["status"] != "done",
            -len(s.get("reasons", [])),
            r["source"].lower(),
        )

    return sorted(records, key=key)


def _scores_table(scores: dict[str, Any] | None, qa: dict[str, Any]) -> str:
    if not scores:
        return "<p>No QA scores.</p>"
    rows = []
    in_force = scores.get("limits") or limits(qa)
    for key, limit_key in _SCORES:
        limit = float(in_force.get(limit_key, 0))
        over = float(scores[key]) > limit
        cls = ' class="over"' if over else ""
        rows.append(
            f"<tr><th>{key}</th><td{cls}>{scores[key]:.3g}</td><td>limit {limit:g}</td></tr>"
        )
    rows.append(f"<tr><th>detail gain</th><td>{scores['detail_gain']:.3g}</td><td></td></tr>")
    reasons = "".join(f"<li>{_e(r)}</li>" for r in scores.get("reasons", []))
    return f"<table>{''.join(rows)}</table>" + (
        f'<ul class="reasons">{reasons}</ul>' if reasons else ""
    )


def _stages(record: dict[str, Any], order: list[str]) -> str:
    items = []
    names = [n for n in order if n in record["stages"]]
    names += [n for n in record["stages"] if n not in names]
    for name in names:
        st = record["stages"][name]
        err = f" — {_e(st['error'])}" if st.get("error") else ""
        ran = _e(json.dumps(st.get("ran", {}), ensure_ascii=False))
        items.append(f"<li>{_e(name)}: {_e(st['status'])}{err} <code>{ran}</code></li>")
    return f"<ul>{''.join(items)}</ul>"


def _focus(scores: dict[str, Any] | None) -> str:
    where = (scores or {}).get("where") or {}
    for key in ("seam", "halo", "drift"):
        if key in where:
            x0, y0, x1, y1 = where[key]
            return f"{(x0 + x1) // 2},{(y0 + y1) // 2}"
    return ""


def _card(
    record: dict[str, Any], out_dir: Path, in_dir: Path, config: dict[str, Any], order: list[str]
) -> str:
    flagged = is_flagged(record)
    scores = record.get("scores")
    if record["status"] != "done":
        badge = f'<span class="badge failed">{_e(record["status"])}</span>'
    else:
        badge = (
            f'<span class="badge {"review" if flagged else "ok"}">'
            + ("review" if flagged else "ok")
            + "</span>"
        )
    width = (record.get("size") or [0])[0]
    pair = ""
    if record["status"] == "done":
        before = _url(in_dir / record["source"], out_dir)
        after = _url(out_dir / record["output"], out_dir)
        pair = (
            f'<div class="pair" title="click: 100% zoom" style="--w:{int(width)}px" '
            f'data-focus="{_focus(scores)}">'
            f'<figure><img src="{before}" alt="before" loading="eager">'
            f"<figcaption>before: {_e(record['source'])}</figcaption></figure>"
            f'<figure><img src="{after}" alt="after" loading="eager">'
            f"<figcaption>after: {_e(record['output'])}</figcaption></figure></div>"
        )
    error = f'<p class="over">{_e(record["error"])}</p>' if record.get("error") else ""
    return (
        f'<section class="card{" flagged" if flagged else ""}" data-name="{_e(record["source"])}" '
        f'data-flagged="{int(flagged)}" data-status="{_e(record["status"])}">'
        f"<h2>{_e(record['source'])}{badge}</h2>{error}{pair}"
        f"{_scores_table(scores, config['qa'])}<details><summary>stages that ran</summary>"
        f"{_stages(record, order)}</details></section>"
    )


def render(manifest: Manifest, input_dir: Path) -> str:
    """The whole page as a string."""
    out_dir = manifest.output_dir
    totals = manifest.totals()
    config = manifest.data["config"]
    records = list(manifest.images.values())
    shown = [r for r in records if r["status"] != "skipped"]
    skipped = [r for r in records if r["status"] == "skipped"]
    order = list(manifest.data.get("stages", []))
    cards = "".join(_card(r, out_dir, input_dir, config, order) for r in _order(shown))
    skip_list = "".join(f"<li>{_e(r['source'])}: {_e(r['reason'])}</li>" for r in skipped)
    settings = _e(json.dumps(diff_from_defaults(config), indent=1, ensure_ascii=False))
    summary = "".join(
        f'<span id="n-{key}">{label}: <b>{_e(totals[key])}</b></span>'
        for key, label in (
            ("images", "images"),
            ("flagged", "flagged"),
            ("skipped", "skipped"),
            ("failed_stages", "failed stages"),
            ("seconds", "time (s)"),
            ("checkpoint_loads", "checkpoint loads"),
        )
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Enhance review — {_e(out_dir.name)}</title><style>{_CSS}</style></head>"
        f'<body data-images="{totals["images"]}" data-flagged="{totals["flagged"]}" '
        f'data-skipped="{totals["skipped"]}"><header><h1>Enhance review</h1>'
        f'<div class="summary">{summary}</div></header><main>{cards}'
        + (f'<h2>Skipped</h2><ul id="skipped">{skip_list}</ul>' if skipped else "")
        + f"<details><summary>settings</summary><pre>{settings}</pre></details>"
        f"</main><script>{_JS}</script></body></html>"
    )


def write_review(manifest: Manifest, input_dir: Path) -> Path:
    """Write review.html into the output folder (atomically) and return its path."""
    path = manifest.output_dir / REVIEW_NAME
    write_bytes(path, render(manifest, input_dir).encode("utf-8"))
    return path
