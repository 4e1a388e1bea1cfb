"""What a detector found: a box, a score, a label and maybe a mask — plain data.

It lives here, not in `detect/`, because the mask-shaping code (`geometry.masks`) consumes it
and the detectors (`detect/`) produce it: both import it from below, so neither imports the
other's package and no import circle forms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .regions import Box


@dataclass(frozen=True, eq=False)
class Detection:
    """One region a detector found, in the coordinates of the image it was given."""

    box: Box
    """(x0, y0, x1, y1) ints, x1/y1 exclusive, clipped to the image."""
    score: float
    """Confidence in [0, 1]."""
    label: str
    """Class name ("face", "person", …)."""
    mask: np.ndarray | None = None
    """Bool H×W mask of the whole image for segmentation models; None = use the box."""

    def as_json(self) -> dict[str, object]:
        """The JSON the command line prints (no mask: it is large; `has_mask` says if any)."""
        return {
            "box": list(self.box),
            "score": round(float(self.score), 4),
            "label": self.label,
            "has_mask": self.mask is not None,
        }
