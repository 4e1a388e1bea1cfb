"""The stage runner: hires → tiles → detail passes → QA, over any `Host`.

Each stage is a function of (context, image) → image. The runner owns what every stage needs and
none should reimplement: the checkpoint swap around it, Interrupt/Skip before every host call, the
record of what ran (for the infotext and the benchmarks), and the rule that a failed or cancelled
stage is discarded whole — the user keeps the image from the stage before, plus a log line.
The stage functions (`hires`, `tiled`, `detail`) get a `context.StageContext` and never import
this module: the arrows go runner → stages → context.

The folder batch reuses `build_stages` and `run_stage` to run one stage across many images inside
one `use_checkpoint`, which is how it pays one checkpoint load per stage instead of per image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..host import Host, HostError, HostInterrupted
from ..qa import assess
from ..spec import presets
from .context import Box, ImageJob, StageContext, StageRecord, same_or
from .detail import run_detail
from .hires import run_hires
from .tiled import run_tiled

log = logging.getLogger("enhance")

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
    stages: list[Stage] = []
    if config["hires"]["enabled"]:
        stages.append(_stage("hires", config["hires"], lambda c, im: run_hires(c, im, config)))
    if config["tiles"]["enabled"]:
        stages.append(_stage("tiles", config["tiles"], lambda c, im: run_tiled(c, im, config)))
    for index, pass_cfg in enumerate(config["detail"]):
        if pass_cfg["enabled"]:
            run = _detail_runner(pass_cfg, index)
            stages.append(_stage(f"detail {index + 1}", pass_cfg, run))
    return stages


def _detail_runner(pass_cfg: Any, index: int) -> StageFn:
    return lambda ctx, image: run_detail(ctx, image, pass_cfg, index)


def _stage(name: str, section: Mapping[str, Any], run: StageFn) -> Stage:
    return Stage(
        name, same_or(section.get("checkpoint", ""), ""), same_or(section.get("vae", ""), ""), run
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
    result = EnhanceResult(job.image, [], warnings=presets.warnings(config))
    with host.checkpoint_scope():
        for stage in build_stages(config):
            result.image, record = run_stage(host, stage, job, result.image, detectors)
            result.records.append(record)
            if record.status in ("failed", "interrupted"):
                result.warnings.append(failure_warning(record))
            if record.status == "interrupted":
                break
    applied = any(r.status == "ok" for r in result.records)
    if config["qa"]["enabled"] and applied and not result.interrupted:
        result.qa = assess_result(job.image, result, config)
    return result


def failure_warning(record: StageRecord) -> str:
    """What the user is told about a stage that did not apply (UI comment, infotext, API)."""
    what = "was interrupted" if record.status == "interrupted" else "failed"
    return f"{record.name} {what}, kept the image from before it: {record.error}"


def assess_result(
    before: Image.Image, result: EnhanceResult, config: Mapping[str, Any]
) -> dict[str, Any] | None:
    """QA scores of a finished image; a QA failure is logged, never fatal for the image."""
    try:
        return assess(before, result.image, result.seams, config["qa"])
    except (ValueError, RuntimeError) as exc:
        log.error("Enhance: QA failed, image kept without scores: %s", exc)
        return None
