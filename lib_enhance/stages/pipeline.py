"""The stage runner: hires → tiles → detail passes → QA, over any `Host`.

Each stage is a function of (context, image) → image. The runner owns what every stage needs and
none should reimplement: the checkpoint swap around it, Interrupt/Skip before every host call, the
record of what ran (for the infotext and the benchmarks), and the rule that a failed or cancelled
stage is discarded whole — the user keeps the image from the stage before, plus a log line.

The folder batch reuses `build_stages` and `run_stage` to run one stage across many images inside
one `use_checkpoint`, which is how it pays one checkpoint load per stage instead of per image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from . import prompts
from .host import Host, HostError, HostInterrupted, Img2ImgItem, PassSettings, is_same

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
        from . import presets

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
            "sampler": _same_or(section.get("sampler", ""), job.sampler),
            "scheduler": _same_or(section.get("scheduler", ""), job.scheduler),
            "cfg": section.get("cfg") or job.cfg,
            "checkpoint": _same_or(section.get("checkpoint", ""), ""),
            "vae": _same_or(section.get("vae", ""), ""),
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


def _same_or(value: str, fallback: str) -> str:
    return fallback if is_same(value) else value


StageFn = Callable[[StageContext, Image.Image], Image.Image]


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline, with the checkpoint it runs on ("" = the user's)."""

    name: str
    checkpoint: str
    vae: str
    run: StageFn


def build_stages(config: Mapping[str, Any]) -> list[Stage]:
    """The enabled stages in the order that works: hires, tiles, then each detail pass."""
    from .detail_pass import run_detail
    from .hires_pass import run_hires
    from .tiled_pass import run_tiled

    stages: list[Stage] = []
    if config["hires"]["enabled"]:
        stages.append(_stage("hires", config["hires"], lambda c, im: run_hires(c, im, config)))
    if config["tiles"]["enabled"]:
        stages.append(_stage("tiles", config["tiles"], lambda c, im: run_tiled(c, im, config)))
    for index, pass_cfg in enumerate(config["detail"]):
        if pass_cfg["enabled"]:
            run = _detail_runner(run_detail, pass_cfg, index)
            stages.append(_stage(f"detail {index + 1}", pass_cfg, run))
    return stages


def _detail_runner(run_detail: Callable[..., Image.Image], pass_cfg: Any, index: int) -> StageFn:
    return lambda ctx, image: run_detail(ctx, image, pass_cfg, index)


def _stage(name: str, section: Mapping[str, Any], run: StageFn) -> Stage:
    return Stage(
        name, _same_or(section.get("checkpoint", ""), ""), _same_or(section.get("vae", ""), ""), run
    )


def run_stage(
    host: Host, stage: Stage, job: ImageJob, image: Image.Image, detectors: Any = None
) -> tuple[Image.Image, StageRecord]:
    """Run one stage on one image. Never raises for a stage failure.

    The stage runs inside `host.use_checkpoint`; a caller that already holds that checkpoint
    (the folder batch) makes this a no-op. A failed or interrupted stage returns the input image
    unchanged (never half-applied) and a record whose `status` and `error` say which stage and
    why; the same goes in the log.
    """
    record = StageRecord(stage.name)
    ctx = StageContext(host, job, record, detectors)
    started = time.perf_counter()
    try:
        with host.use_checkpoint(stage.checkpoint, stage.vae):
            result = stage.run(ctx, image)
        if stage.checkpoint:
            record.ran["checkpoint"] = stage.checkpoint
        record.status = record.status if record.status == "skipped" else "ok"
    except HostInterrupted as exc:
        record.status, record.error, result = "interrupted", str(exc), image
        log.warning("Enhance: %s%s interrupted, kept the previous image: %s", stage.name,
                    _for(job), exc)  # fmt: skip
    except (HostError, ValueError, OSError, RuntimeError) as exc:
        record.status, record.error, result = "failed", f"{type(exc).__name__}: {exc}", image
        log.error("Enhance: %s%s failed, kept the previous image: %s", stage.name, _for(job),
                  record.error)  # fmt: skip
    except Exception as exc:  # a bug: still keep the user's image, but show the traceback
        record.status, record.error, result = "failed", f"{type(exc).__name__}: {exc}", image
        log.exception("Enhance: %s%s failed unexpectedly, kept the previous image", stage.name,
                      _for(job))  # fmt: skip
    record.seconds = time.perf_counter() - started
    return result, record


def _for(job: ImageJob) -> str:
    return f" ({job.name})" if job.name else ""


@dataclass
class EnhanceResult:
    """The best image so far, and everything about how it was made."""

    image: Image.Image
    records: list[StageRecord]
    qa: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ran(self) -> dict[str, Any]:
        """Per stage: status and what actually ran (the `ran` part of the infotext)."""
        out: dict[str, Any] = {}
        for rec in self.records:
            entry = {"status": rec.status, **rec.ran}
            if rec.error:
                entry["error"] = rec.error
            out[rec.name] = entry
        if self.qa is not None:
            out["qa"] = {
                k: self.qa[k] for k in ("verdict", "seam", "halo", "drift") if k in self.qa
            }
        return out

    @property
    def interrupted(self) -> bool:
        return any(r.status == "interrupted" for r in self.records)

    @property
    def seams(self) -> list[Box]:
        """Tile and region edges of the stages that were applied (for the QA seam score)."""
        return [box for rec in self.records if rec.status == "ok" for box in rec.seams]


def enhance(
    host: Host, config: Mapping[str, Any], job: ImageJob, detectors: Any = None
) -> EnhanceResult:
    """Run every enabled stage on one image, each on its own checkpoint, then the QA.

    After an interrupt the remaining stages are not started: the user asked to stop. QA runs
    only when a stage changed the image (an "ok" verdict on an untouched image would mislead).
    Stages on B then C swap B → C directly; the user's checkpoint is restored once, at the end.
    """
    from . import presets

    result = EnhanceResult(job.image, [], warnings=presets.warnings(config))
    with host.checkpoint_scope():
        for stage in build_stages(config):
            result.image, record = run_stage(host, stage, job, result.image, detectors)
            result.records.append(record)
            if record.status == "interrupted":
                break
    applied = any(r.status == "ok" for r in result.records)
    if config["qa"]["enabled"] and applied and not result.interrupted:
        result.qa = assess_result(job.image, result, config)
    return result


def assess_result(
    before: Image.Image, result: EnhanceResult, config: Mapping[str, Any]
) -> dict[str, Any] | None:
    """QA scores of a finished image; a QA failure is logged, never fatal for the image."""
    from .qa import assess

    try:
        return assess(before, result.image, result.seams, config["qa"])
    except (ValueError, RuntimeError) as exc:
        log.error("Enhance: QA failed, image kept without scores: %s", exc)
        return None
