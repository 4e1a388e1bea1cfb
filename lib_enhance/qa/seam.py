"""Seam score: hard steps along tile boundaries (or region edges) that the input does not explain.

Meaning of the number: the largest consistent step across a boundary line, in grey levels (0–255,
worst colour channel), divided by how busy the image is right beside that line
(`TAU` + `MASKING` × the mean luminance gradient beside the line + the step the plain upscale of
the input already has there). In a flat area (sky, skin, a wall) the score is about the step in
grey levels; in texture the same step scores lower, because a person cannot see it there. Clean
enhancements score below 1.

How: the step is measured on the residual (output − Lanczos upscale of the input, with the
global grade from one to the other removed: see `grade`; a colour grade changes the two sides of
every colour edge differently, which is not a seam), per RGB
channel, averaged over half-overlapping line segments of `SEGMENT` pixels, so the image's own
edges cancel and pixel noise averages out. The step counts only as far as it also holds between
bands a few pixels off the line (a tile offset does; detail a pass restored right along the line
does not). Everything linear is summed per segment first, so the
cost is a few passes over the image. With known boundaries (tile boxes, region boxes) only those
lines (± `SLACK` px) count; with none given every row and column is a candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ._common import Box
from .grade import fit_grade, tone_and_chroma

K = 4
"""Pixels averaged on each side of a candidate line."""
SEGMENT = 64
"""Length of the line segments a step must be consistent over (half-overlapping)."""
BAND = 8
"""Activity (texture masking) is measured 2..BAND px beside the line."""
TAU = 1.0
"""Grey levels added to the activity: the floor of visibility in a perfectly flat area."""
MASKING = 0.25
"""Weight of the neighbouring gradient (grey levels per pixel) in the denominator."""
SLACK = 2
NEIGHBOUR = 3.0
"""Weight of the RMS step of parallel lines NEAR..FAR px away (the image's own steps)."""
UP_WEIGHT = 1.0
"""Weight of the step the plain upscale already has at the line (real edges)."""
WIDE_GAP, WIDE = 4, 12
"""The step must hold between bands WIDE px wide, WIDE_GAP px off the line (see _persistent)."""
NEAR, FAR = 4, 16
"""Known boundaries may be off by this many pixels (feathering, rounding)."""


def _segment_means(a: np.ndarray, along: int) -> np.ndarray:
    """Means over half-overlapping segments of SEGMENT pixels along axis `along` (0 = down the
    rows, for vertical lines; 1 = along the columns, for horizontal lines), returned as
    (nseg, positions across, ...) either way.

    Block means by OpenCV's area resize with an exact integer factor: one fast pass, and no
    transposed copy of the full-size image.
    """
    half = SEGMENT // 2
    n = a.shape[along] // half
    if n < 2:
        return np.zeros((0, a.shape[1 - along], *a.shape[2:]), dtype=np.float32)
    if along == 0:
        cut = a[: n * half]
        means = cv2.resize(cut, (a.shape[1], n), interpolation=cv2.INTER_AREA)
    else:
        cut = a[:, : n * half]
        means = cv2.resize(cut, (n, a.shape[0]), interpolation=cv2.INTER_AREA).swapaxes(0, 1)
    return (means[:-1] + means[1:]) * 0.5


def _cumsum0(a: np.ndarray) -> np.ndarray:
    """Cumulative sum along axis 1 with a leading zero column."""
    out = np.zeros((a.shape[0], a.shape[1] + 1, *a.shape[2:]), dtype=np.float64)
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def _box_step(c: np.ndarray, first: int, n: int, gap: int = 0, width: int = K) -> np.ndarray:
    """mean(v[x+gap : x+gap+width]) − mean(v[x−gap−width : x−gap]) for x = first..first+n−1,
    from cumulative sums `c`."""
    a, b = first + gap, first - gap
    right = c[:, a + width : a + width + n] - c[:, a : a + n]
    left = c[:, b : b + n] - c[:, b - width : b - width + n]
    return (right - left) / width


def _persistent(near: np.ndarray, wide: np.ndarray) -> np.ndarray:
    """The step that holds both right at the line and WIDE_GAP..WIDE_GAP+WIDE px away: the
    smaller of the two where they agree in sign, else 0. A seam offsets the whole tile, so it
    holds far from the line too; a thin line or a sharpened edge the pass restored along the
    line gives a residual only right beside it."""
    same = np.sign(near) == np.sign(wide)
    return np.where(same, np.minimum(np.abs(near), np.abs(wide)), 0.0)


def line_scores(
    after_f: np.ndarray, up_f: np.ndarray, after_l: np.ndarray, along: int
) -> tuple[np.ndarray, int]:
    """Scores of every boundary line: array (segments, positions) and the first position.

    along=0: vertical lines, position x is the boundary between columns x−1 and x;
    along=1: horizontal lines, position y between rows y−1 and y. Position j of the result is
    first + j. Inputs: output and upscaled input as float32 HxWx3, output luminance HxW.
    """
    length, across = after_l.shape if along == 0 else after_l.shape[::-1]
    first = max(K, BAND + 1, WIDE_GAP + WIDE)
    n = across - first - first + 1
    if n <= 0 or length < SEGMENT:
        return np.zeros((0, 0), dtype=np.float32), first
    after_means = _segment_means(after_f, along)
    up_means = fit_grade(tone_and_chroma(_segment_means(up_f, along)), after_means)
    res = _cumsum0(after_means - up_means)  # means are linear: no full-size difference
    up = _cumsum0(up_means)
    near = _box_step(res, first, n)
    step = _persistent(near, _box_step(res, first, n, WIDE_GAP, WIDE))
    up_step = np.abs(_box_step(up, first, n))
    diff = np.abs(np.diff(after_l, axis=1 - along))
    grad = _cumsum0(_segment_means(diff, along))
    # boundaries x-BAND..x-2 and x+2..x+BAND (the gradient at boundary b is grad column b-1)
    left = grad[:, first - 2 : first - 2 + n] - grad[:, first - 1 - BAND : first - 1 - BAND + n]
    right = grad[:, first + BAND : first + BAND + n] - grad[:, first + 1 : first + 1 + n]
    activity = (left + right) / (2 * (BAND - 1))
    denom = TAU + MASKING * activity[:, :, None] + UP_WEIGHT * up_step
    if NEIGHBOUR:
        denom = denom + NEIGHBOUR * _neighbour_rms(np.abs(near))
    score = step / denom
    return score.max(axis=2).astype(np.float32), first


def _neighbour_rms(step: np.ndarray) -> np.ndarray:
    """RMS of the steps at positions NEAR..FAR away on both sides (same segment, channel)."""
    c = _cumsum0(step * step)
    n = step.shape[1]
    idx = np.arange(n)
    total = np.zeros_like(step)
    count = np.zeros((1, n, 1))
    for lo, hi in ((idx - FAR, idx - NEAR + 1), (idx + NEAR, idx + FAR + 1)):
        lo, hi = np.clip(lo, 0, n), np.clip(hi, 0, n)
        total += c[:, hi] - c[:, lo]
        count += (hi - lo)[None, :, None]
    return np.sqrt(total / np.maximum(count, 1))


def _lines(boxes: Sequence[Box], width: int, height: int) -> tuple[list, list]:
    """Interior box edges as (position, start, end) for vertical and horizontal lines."""
    vertical, horizontal = set(), set()
    for x0, y0, x1, y1 in boxes:
        for x in (x0, x1):
            if K < x < width - K:
                vertical.add((int(x), max(0, int(y0)), min(height, int(y1))))
        for y in (y0, y1):
            if K < y < height - K:
                horizontal.add((int(y), max(0, int(x0)), min(width, int(x1))))
    return sorted(vertical), sorted(horizontal)


def _centres(nseg: int) -> np.ndarray:
    half = SEGMENT // 2
    return np.arange(nseg) * half + half


def _best_on_lines(scores: np.ndarray, first: int, lines: list) -> tuple[float, Box | None]:
    """Max score over the given lines (± SLACK columns, segments centred inside the line)."""
    best, where = 0.0, None
    if scores.size == 0:
        return best, where
    centres = _centres(scores.shape[0])
    for pos, start, end in lines:
        rows = np.nonzero((centres >= start) & (centres < end))[0]
        lo, hi = max(0, pos - SLACK - first), min(scores.shape[1], pos + SLACK - first + 1)
        if rows.size == 0 or hi <= lo:
            continue
        block = scores[rows[0] : rows[-1] + 1, lo:hi]
        r, c = np.unravel_index(int(np.argmax(block)), block.shape)
        if block[r, c] > best:
            best = float(block[r, c])
            where = _segment_box(first + lo + int(c), int(centres[rows[0] + r]))
    return best, where


def _segment_box(x: int, centre: int) -> Box:
    half = SEGMENT // 2
    return (x - 8, centre - half, x + 8, centre + half)


def _best_anywhere(scores: np.ndarray, first: int) -> tuple[float, Box | None]:
    """Max over every line position, of the weaker of two adjacent segments: a tile seam runs
    the whole tile, while the image's own straight structures rarely line up with a pixel row
    or column for that long."""
    if scores.shape[0] > 2:
        scores = np.minimum(scores[:-2], scores[2:])
    if scores.size == 0:
        return 0.0, None
    r, c = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return float(scores[r, c]), _segment_box(first + int(c), int(_centres(scores.shape[0])[r]))


def _transpose(box: Box | None) -> Box | None:
    return None if box is None else (box[1], box[0], box[3], box[2])


def seam_score(
    after_f: np.ndarray, up_f: np.ndarray, after_l: np.ndarray, seams: Sequence[Box] | None
) -> tuple[float, Box | None]:
    """(score, where) — see the module docstring. `seams=[]` means no boundaries: 0."""
    h, w = after_l.shape
    if seams is not None and len(seams) == 0:
        return 0.0, None
    v_scores, v_first = line_scores(after_f, up_f, after_l, 0)
    h_scores, h_first = line_scores(after_f, up_f, after_l, 1)
    if seams is None:
        v = _best_anywhere(v_scores, v_first)
        hz = _best_anywhere(h_scores, h_first)
    else:
        vertical, horizontal = _lines(seams, w, h)
        v = _best_on_lines(v_scores, v_first, vertical)
        hz = _best_on_lines(h_scores, h_first, horizontal)
    hz = (hz[0], _transpose(hz[1]))
    return max(v, hz, key=lambda t: t[0])
