"""modules/masking.py: `fill(image, mask)` — the "fill" masked content of the inpaint tab.

The host spreads the colours around the mask into it with a ladder of blurs; the stand-in fills
the masked pixels with the mean colour of the unmasked ones (same contract: RGB out, the
unmasked pixels unchanged, the masked ones independent of what they were).
"""

import numpy as np
from PIL import Image


def fill(image, mask):
    rgb = np.asarray(image.convert("RGB"), np.float32)
    inside = np.asarray(mask.convert("L").resize(image.size)) > 127
    out = rgb.copy()
    if inside.any() and (~inside).any():
        out[inside] = rgb[~inside].mean(axis=0)
    return Image.fromarray(np.rint(out).astype(np.uint8), "RGB")
