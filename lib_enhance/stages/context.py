"""What every stage function is handed: the image job, its record, and gated host access.

A stage (hires, tiled, detail) is a generator function of (context, image) that returns the new
image. It reaches the sampler only through `yield from ctx.img2img(...)`: the context checks
Interrupt/Skip, resolves "same"/0 settings from the job, and hands the request up to the driver
(`stages.lockstep`), which merges the requests of every image of a click into as few host calls
as fit and sends each image its own results back. So a stage is written for one image and still
shares sampler calls with the others, and no stage can forget any of it. The runner that builds
contexts and drives stages is `stages.pipeline`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PIL import Image

from ..host import Host, HostInterrupted, Img2ImgItem, PassSettings
from ..spec import presets, prompts
from ..spec.config import is_same

log = logging.getLogger("enhance")

Box = tuple[int, int, int, int]


@dataclass
class ImageJob:
    """The image to enhance and what it was made with (the defaults for "same")."""

    image: Image.Image
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 20
    sampler: str = ""
    scheduler: str = ""
    cfg: float = 7.0
    name: str = ""


@dataclass
class StageRecord:
    """What one stage did to one image: for the infotext, the QA and the benchmarks."""

    name: str
    status: str = "pending"
    host_calls: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    seconds: float = 0.0
    host_seconds: float = 0.0
    error: str = ""
    ran: dict[str, Any] = field(default_factory=dict)
    seams: list[Box] = field(default_factory=list)
    regions: list[Any] = field(default_factory=list)
    """Detail passes: the shaped regions (masks) they inpainted, for the detection preview."""
    warnings: list[str] = field(default_factory=list)
    """What the user should know about this stage of this image (infotext, UI comment)."""

    @property
    def own_seconds(self) -> float:
        """Time spent in our own code (planning, blending, pasting), not in the host."""
        return max(0.0, self.seconds - self.host_seconds)


@dataclass
class Request:
    """Items that share settings, for one or more host calls (what a stage yields)."""

    settings: PassSettings
    items: list[Img2ImgItem]
    batch_size: int = 0
    """Most items per host call this stage allows (the tiles' "Tiles per batch"); 0 = no cap
    of its own (the budget and `CallLimits.max_batch` still apply)."""


@dataclass
class Agree:
    """A value every image of the stage must share (the detail passes' processing aspect):
    the driver combines the values of all images waiting on the same key and sends each the
    result. One image alone gets `combine([value])`."""

    key: str
    value: Any
    combine: Callable[[list[Any]], Any]


StageGen = Generator[Any, Any, Image.Image]
"""A running stage: yields `list[Request]` (gets one image list per request back) or `Agree`
(gets the combined value), returns the stage's image."""

T = TypeVar("T")

BYTES_PER_PIXEL = 3072
"""Estimated device memory one output pixel of one batch item costs in a sampler call, beyond
the loaded model: UNet activations with the hosts' default attention and the VAE decode, which
dominates at large sizes (≈ 3 GB per megapixel for SD1.5/SDXL in fp16). An estimate for the
budget only: a call that still runs out of memory is retried smaller (see `stages.lockstep`)."""

DEFAULT_MAX_BATCH = 8
"""Most items per sampler call when the stage sets no cap of its own (hires, detail)."""


@dataclass(frozen=True)
class CallLimits:
    """How many pixels one sampler call may hold (from the VRAM budget) and how many items."""

    max_pixels: int | None = None
    """items × width × height per call; None = unknown (no budget: only an OOM limits)."""
    max_batch: int = DEFAULT_MAX_BATCH

    @classmethod
    def from_budget(cls, budget_bytes: int | None) -> CallLimits:
        if not budget_bytes or budget_bytes <= 0:
            return cls()
        return cls(max_pixels=max(1, int(budget_bytes // BYTES_PER_PIXEL)))

    def fits(self, width: int, height: int) -> bool:
        """Whether one item of this size fits in a call at all."""
        return self.max_pixels is None or width * height <= self.max_pixels

    def batch(self, width: int, height: int, cap: int = 0) -> int:
        """Items of this size per call: the stage's cap (or the default), within the budget."""
        count = cap if cap > 0 else self.max_batch
        if self.max_pixels is not None:
            count = min(count, self.max_pixels // max(1, width * height))
        return max(1, count)

    def tile_side(self, wanted: int, overlap: int) -> int:
        """The largest tile side ≤ `wanted` (multiple of 8) whose flexed tiles (up to `wanted`
        + overlap) fit one to a call; never below 64 or twice the overlap."""
        if self.max_pixels is None:
            return wanted
        side = math.isqrt(self.max_pixels) - overlap
        floor = max(64, 2 * overlap + 8)
        return max(floor, min(wanted, side // 8 * 8))


class StageContext:
    """Everything a stage function may use. All host access goes through here."""

    def __init__(
        self,
        host: Host,
        job: ImageJob,
        record: StageRecord,
        detectors: Any = None,
        limits: CallLimits | None = None,
    ):
        self.host = host
        self.job = job
        self.record = record
        self.detectors = detectors
        self.limits = limits or CallLimits()

    def check_stop(self) -> None:
        if self.host.stop_requested():
            raise HostInterrupted(f"{self.record.name}: interrupted by the user")

    def img2img(
        self, settings: PassSettings, items: Sequence[Img2ImgItem], batch_size: int = 0
    ) -> Generator[Any, Any, list[Image.Image]]:
        """`images = yield from ctx.img2img(...)`: one image per item, in order.

        The items go to the host in calls of at most `batch_size` (0: as many as the budget
        allows), merged with the same request of the other images of the stage.
        """
        (images,) = yield from self.img2img_many([Request(settings, list(items), batch_size)])
        return images

    def img2img_many(
        self, requests: Sequence[Request]
    ) -> Generator[Any, Any, list[list[Image.Image]]]:
        """Several requests at once (sizes or denoise levels of one pass): one list back per
        request. Sent together, they can share calls with other images' requests."""
        self.check_stop()
        results = yield list(requests)
        return results

    def agree(self, key: str, value: T, combine: Callable[[list[T]], Any]) -> Generator:
        """`shared = yield from ctx.agree(...)`: see `Agree`."""
        return (yield Agree(key, value, combine))

    def warn(self, text: str) -> None:
        """Tell the user (console now; infotext and UI comment with the image's result)."""
        log.warning("Enhance: %s%s", text, f" ({self.job.name})" if self.job.name else "")
        self.record.warnings.append(text)

    def upscale_input(
        self, image: Image.Image, section: Mapping[str, Any], preset: str
    ) -> Image.Image:
        """Upscale a stage's input to its target size with the resolved upscaler name.

        A latent upscaler has no pixel form: outside the host's own Hires.fix it becomes
        Lanczos, and the record says so.
        """
        width, height = target_size(image.size, section)
        auto = presets.name_key(section["upscaler"]) == presets.AUTO
        available = self.host.upscalers(installed_only=auto)
        name = presets.resolve_upscaler(section["upscaler"], preset, available)
        if presets.is_latent(name):
            self.record.ran["note"] = f"{name} is a latent upscaler; used Lanczos for pixels"
            name = "Lanczos"
        self.record.ran.update(upscaler=name, size=[width, height])
        if (width, height) == image.size:
            return image.convert("RGB")
        return self.upscale(image, name, width, height)

    def upscale(self, image: Image.Image, upscaler: str, width: int, height: int) -> Image.Image:
        self.check_stop()
        started = time.perf_counter()
        try:
            return self.host.upscale(image, upscaler, width, height)
        finally:
            self.record.host_seconds += time.perf_counter() - started

    def settings(
        self, section: Mapping[str, Any], width: int, height: int, **overrides: Any
    ) -> PassSettings:
        """Pass settings from a config section, with "same"/0 resolved from the job."""
        job = self.job
        values: dict[str, Any] = {
            "width": width,
            "height": height,
            "denoise": section["denoise"],
            "steps": section.get("steps") or job.steps,
            "sampler": same_or(section.get("sampler", ""), job.sampler),
            "scheduler": same_or(section.get("scheduler", ""), job.scheduler),
            "cfg": section.get("cfg") or job.cfg,
            "checkpoint": same_or(section.get("checkpoint", ""), ""),
            "vae": same_or(section.get("vae", ""), ""),
            "label": self.record.name,
        }
        values.update(overrides)
        return PassSettings(**values)

    def prompt(self, template: str) -> str:
        return prompts.resolve(template, self.job.prompt)

    def negative(self, template: str) -> str:
        return prompts.resolve(template, self.job.negative_prompt)


def target_size(size: tuple[int, int], section: Mapping[str, Any]) -> tuple[int, int]:
    """A stage's output size: explicit width/height, else the scale; multiples of 8.

    Multiples of 8 because the host's VAE works on 8-pixel cells; the host floors sizes anyway,
    so choosing them here keeps tiles and pastes exact.
    """
    width, height = section.get("width") or 0, section.get("height") or 0
    if width and height:
        return width, height
    scale = section["scale"]
    if width:
        scale = width / size[0]
    elif height:
        scale = height / size[1]
    return (max(8, round(size[0] * scale / 8) * 8), max(8, round(size[1] * scale / 8) * 8))


def same_or(value: str, fallback: str) -> str:
    return fallback if is_same(value) else value
