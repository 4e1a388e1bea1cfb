"""One Generate click's images, enhanced together once the host has made them all.

The host makes a click's images batch by batch (Batch count × Batch size) and, per image, runs
`postprocess_image_after_composite`, saves the file with its infotext and appends it to the
gallery; after the last batch it builds the grid and calls `postprocess`
(`processing.process_images_inner`, HOST_API §1.4). Enhancing inside that per-image loop makes
every image swap checkpoints and call the sampler on its own. So a click is deferred:

- per batch, the host's save decision (`p.save_samples()`) is noted and its samples are not
  saved by the host (`do_not_save_samples` for the loop only: its before-hires-fix copies still
  are); the grid is not built by the host;
- per image, the image the host would save is kept (a `Shot`), shown in the live preview, and
  its infotext gets a marker where Enhance's fields go (`marker`);
- in `postprocess`, all images go through `pipeline.enhance_many` (each stage's checkpoint once,
  sampler calls shared), then each image is saved as the host would have (its own seed,
  infotext with the marker replaced by its Enhance fields), the gallery shows the enhanced
  images, and the grid is made of them.

Images cut short by Interrupt or Skip are kept as the host made them (saved if the host would
have saved them); after an Interrupt, no stage starts, and every finished image is saved as it
is. No `modules.*` import: the host adapter saves.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..spec import infotext
from ..stages.context import ImageJob


@dataclass
class Shot:
    """One image of the click as the host made it."""

    image: Image.Image
    """What the host saves and appends to its gallery list (after its composite)."""
    index: int
    """In the whole job: `p.iteration * p.batch_size + p.batch_index`."""
    job: ImageJob
    save: bool
    """The host's `p.save_samples()` for this image's batch: whether it would save it."""
    complete: bool
    """Not cut short by Interrupt or Skip (an incomplete image is kept as it is)."""


@dataclass
class Click:
    """The shots of one `process_images` call, and what was decided for the whole click."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    shots: list[Shot] = field(default_factory=list)
    batch_saves: bool = True
    """`p.save_samples()` of the batch being made now."""
    user_no_samples: bool = False
    user_no_grid: bool = False
    """The job's own `do_not_save_samples` / `do_not_save_grid` (API: save_images false)."""

    def marker(self, index: int) -> str:
        """The placeholder value of the `Enhance` key in image `index`'s host infotext: no
        comma, colon or newline, so the host writes it unquoted."""
        return f"pending-{self.token}-{index}"

    def infotext(self, host_text: str, index: int, fields: dict[str, str]) -> str:
        """The host's infotext of image `index` with Enhance's fields where the marker is (the
        host's key order kept); appended to the parameters line if the marker is missing."""
        ours = infotext.join(fields)
        placeholder = f"{infotext.INFOTEXT_KEY}: {self.marker(index)}"
        if placeholder in host_text:
            return host_text.replace(placeholder, ours)
        return f"{host_text.rstrip()}, {ours}" if host_text.strip() else ours


def gallery_positions(shots: Sequence[Shot], gallery: Sequence[Any]) -> list[int] | None:
    """Where each shot is in the host's gallery list: by identity (the host appends the image
    it saved), else by order when the list holds just the shots; None when neither works."""
    where = {id(image): i for i, image in enumerate(gallery)}
    found = [where.get(id(shot.image)) for shot in shots]
    if all(i is not None for i in found):
        return [int(i) for i in found if i is not None]
    if len(gallery) == len(shots):
        return list(range(len(shots)))
    return None
