"""The global grade between two images: what a colour/contrast grade of the whole image explains.

A pass may legitimately change the whole image's tone or colour a little (a VAE round trip, a
checkpoint with another palette, a user's grade); a person accepts that as a look, while the same
change in one region is a fault. The QA measures therefore first fit the global grade — each
output channel a smooth function of the input's (a cubic tone curve of lightness plus linear
terms in the chroma) — and measure what it does *not* explain. The fit is robust: pixels the
first fit explains worst (a local change) are left out of the second, so a local cast is not
absorbed into the grade.
"""

from __future__ import annotations

import cv2
import numpy as np

_TONE_AND_CHROMA = np.array(
    [[0.299, 0.587, 0.114], [1.0, -1.0, 0.0], [-0.5, -0.5, 1.0]], np.float32
) * np.float32(100 / 255)


def tone_and_chroma(rgb: np.ndarray) -> np.ndarray:
    """Luminance and two opponent chroma channels (R − G, B − (R + G)/2) of RGB 0..255, scaled
    0..100-ish: the `before` that `fit_grade` wants when the grade is fitted on RGB images (the
    chroma lets it explain a saturation change, which moves saturated colours' luminance). One
    OpenCV pass."""
    return cv2.transform(rgb.astype(np.float32, copy=False), _TONE_AND_CHROMA)


ROBUST_KEEP = 0.8
"""Share of pixels (those the first fit explains best) the second fit uses."""


KNOTS = (0.1, 0.25, 0.4, 0.6, 0.75, 0.9)
"""Knots of the piecewise-linear tone curve (lightness 0..1): enough for gamma, S-curves and
clipped highlights or shadows, too few to follow a local change."""


def _features(x: np.ndarray) -> np.ndarray:
    """Per pixel: 1, t, max(t − k, 0) for each knot, the chroma channels and chroma × t (t = the
    first channel scaled to 0..1): a tone curve and a colour balance that may vary with
    lightness (warm highlights, cool shadows)."""
    t = x[:, 0:1] / 100.0
    chroma = x[:, 1:] / 100.0
    hinges = [np.maximum(t - k, 0.0) for k in KNOTS]
    return np.concatenate([np.ones_like(t), t, *hinges, chroma, chroma * t], axis=1)


FIT_PIXELS = 8192
"""The fit uses about this many pixels (a regular subsample): a grade is smooth, and the fit
then costs the same at 2048² as at 256²."""


def fit_grade(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """`before` mapped through the global grade fitted from it to `after`: a float32 array of
    `after`'s shape.

    Both HxWxC float32 of the same height and width. `before`'s channel 0 is the lightness (L of
    CIELAB, or luminance 0..255 scaled to 0..100 by the caller), its others chroma on a similar
    scale (any number, may be none); `after` may have other channels (its luminance alone).
    """
    h, w = after.shape[:2]
    step = max(1, int((h * w / FIT_PIXELS) ** 0.5))
    b = before[::step, ::step].reshape(-1, before.shape[-1]).astype(np.float64)
    a = after[::step, ::step].reshape(-1, after.shape[-1]).astype(np.float64)
    feats = _features(b)
    coef = _solve(feats, a, _supported(b[:, 0]))
    err = np.abs(feats @ coef - a).sum(axis=1)
    keep = err <= np.quantile(err, ROBUST_KEEP)
    if keep.sum() >= feats.shape[1] * 4:
        coef = _solve(feats[keep], a[keep], _supported(b[keep, 0]))
    if step == 1:
        return (feats @ coef).reshape(after.shape).astype(np.float32)
    return _apply(before, coef.astype(np.float32))


def _apply(before: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """feats(before) @ coef without a full-size feature matrix: the tone curve (constant, line
    and bends) through a lookup table, then the chroma terms (c × (a + b·t)) one by one."""
    x = before.astype(np.float32, copy=False)
    t = x[:, :, 0] * np.float32(0.01)
    # the curve is piecewise linear with knots on this grid's points, so interpolating it
    # linearly between grid points is exact
    grid = np.linspace(-1.0, 2.0, 601, dtype=np.float32)
    pos = np.clip((t + np.float32(1.0)) * np.float32(200.0), 0, 599.999)
    cell = pos.astype(np.int32)
    frac = pos - cell
    n_tone = 2 + len(KNOTS)
    tone_feats = np.stack(
        [np.ones_like(grid), grid, *(np.maximum(grid - k, 0) for k in KNOTS)], axis=1
    )
    out = np.empty((*x.shape[:2], coef.shape[1]), np.float32)
    n_chroma = x.shape[2] - 1
    for j in range(coef.shape[1]):
        lut = (tone_feats @ coef[:n_tone, j]).astype(np.float32)
        acc = lut.take(cell)
        acc += frac * np.diff(lut).take(cell)
        for i in range(n_chroma):
            a, b = coef[n_tone + i, j], coef[n_tone + n_chroma + i, j]
            if a or b:
                acc += x[:, :, 1 + i] * np.float32(0.01) * (a + b * t)
        out[:, :, j] = acc
    return out


MIN_SUPPORT = 0.01
"""A bend of the tone curve is used only where at least this share of the fitted pixels lies on
each side of it; elsewhere the curve continues straight. A bend with a handful of pixels on one
side would swing to fit them (a bend below nearly every pixel is all but the same column as the
straight line, and the fit splits its weight between the two)."""


def _supported(lightness: np.ndarray) -> np.ndarray:
    """Which feature columns the fit may use: every one but the bends with too few pixels."""
    t = lightness / 100.0
    need = max(8, MIN_SUPPORT * len(t))
    bends = [min((t > k + 0.02).sum(), (t < k - 0.02).sum()) >= need for k in KNOTS]
    return np.array([True, True, *bends], dtype=bool)


def _solve(feats: np.ndarray, target: np.ndarray, supported: np.ndarray) -> np.ndarray:
    """Least squares by the normal equations (much faster than an SVD for these few columns)
    over the supported columns (the others get weight 0), lightly regularised: a constant
    feature, such as the chroma of a grey image, gets weight 0 instead of a singular matrix."""
    use = np.ones(feats.shape[1], dtype=bool)
    use[: len(supported)] = supported
    f = feats[:, use]
    gram = f.T @ f
    gram[np.diag_indices_from(gram)] += 1e-6 * len(f)
    coef = np.zeros((feats.shape[1], target.shape[1]))
    coef[use] = np.linalg.solve(gram, f.T @ target)
    return coef
