"""What every stage function is handed: the image job, its record, and gated host access.

A stage (hires, tiled, detail) is a function of (context, image) → image. It reaches the host
only through `StageContext`, which checks Interrupt/Skip before every host call, counts the
calls and their batch sizes, and resolves "same"/0 settings from the job — so no stage can
forget any of it. The runner that builds contexts and calls stages is `stages.pipeline`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..host import Host, HostInterrupted, Img2ImgItem, PassSettings
from ..spec import presets, prompts
from ..spec.config import is_same

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

    @property
    def own_seconds(self) -> float:
        """Time spent in our own code (planning, blending, pasting), not in the host."""
        return max(0.0, self.seconds - self.host_seconds)


class StageContext:
    """Everything a stage function may use. All host access goes through here."""

    def __init__(self, host: Host, job: ImageJob, record: StageRecord, detectors: Any = None):
        self.host = host
        self.job = job
        self.record = record
        self.detectors = detectors

    def check_stop(self) -> None:
        if self.host.stop_requested():
            raise HostInterrupted(f"{self.record.name}: interrupted by the user")

    def img2img(self, settings: PassSettings, items: Sequence[Img2ImgItem]) -> list[Image.Image]:
        """One batched host call, counted; Interrupt/Skip is honoured before it."""
        self.check_stop()
        started = time.perf_counter()
        try:
            images = self.host.img2img(settings, items)
        finally:
            self.record.host_seconds += time.perf_counter() - started
        self.record.host_calls += 1
        self.record.batch_sizes.append(len(items))
        if len(images) != len(items):
            raise HostInterrupted(
                f"{self.record.name}: host returned {len(images)} of {len(items)} images"
            )
        return images

    def img2img_batched(
        self, settings: PassSettings, items: Sequence[Img2ImgItem], batch_size: int
    ) -> list[Image.Image]:
        """Items in host calls of at most `batch_size` (the VRAM knob), with progress."""
        out: list[Image.Image] = []
        step = max(1, batch_size)
        for start in range(0, len(items), step):
            out += self.img2img(settings, items[start : start + step])
            self.progress(len(out), len(items))
        return out

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

    def progress(self, done: int, total: int) -> None:
        self.host.progress(self.record.name, done, total)

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
